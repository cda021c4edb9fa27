//! Built-in presets: providers Pixy knows out of the box, kept as TOML data files in `presets/`
//! so an endpoint that moves is a one-line change. Each file is one provider table with the keys
//! of providers.toml.
//!
//! A providers.toml entry whose `id` is a preset's overrides just the keys it names (see
//! [`crate::catalog`]): that is how a person follows an endpoint that moved, and how a test points
//! a preset at a local server. The files are checked by tests, so a bad one fails the build's
//! tests rather than a person's session.

use std::sync::OnceLock;

/// The preset files, in the order they are listed.
const FILES: [(&str, &str); 3] = [
    ("claude.toml", include_str!("../presets/claude.toml")),
    ("chatgpt.toml", include_str!("../presets/chatgpt.toml")),
    ("grantex.toml", include_str!("../presets/grantex.toml")),
];

/// One built-in preset.
#[derive(Debug, Clone)]
pub struct Preset {
    /// Its file, named in problems.
    pub file: &'static str,
    /// Its id.
    pub id: String,
    /// Its keys.
    pub table: toml::Table,
}

/// Every preset.
pub fn presets() -> &'static [Preset] {
    static PRESETS: OnceLock<Vec<Preset>> = OnceLock::new();
    PRESETS.get_or_init(|| {
        FILES
            .iter()
            .filter_map(|(file, text)| match text.parse::<toml::Table>() {
                Ok(table) => {
                    let id = table.get("id").and_then(|v| v.as_str()).unwrap_or(file).to_string();
                    Some(Preset { file, id, table })
                }
                Err(e) => {
                    tracing::error!(file, error = %e, "a built-in preset is not TOML; it is left out");
                    None
                }
            })
            .collect()
    })
}

/// The preset with this id.
pub fn preset(id: &str) -> Option<&'static Preset> {
    presets().iter().find(|p| p.id == id)
}

/// `base` with every key of `over` put in its place: a key's whole value (an `auth_params` table
/// is replaced, not merged, so a parameter can be taken away).
pub fn overlay(base: &toml::Table, over: toml::Table) -> toml::Table {
    let mut merged = base.clone();
    merged.extend(over);
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::ProviderConfig;
    use serde::Deserialize;

    fn provider(id: &str) -> crate::provider::Provider {
        let table = preset(id).unwrap_or_else(|| panic!("no preset {id}")).table.clone();
        ProviderConfig::deserialize(toml::Value::Table(table)).unwrap().into_provider(None).unwrap()
    }

    /// The redirect a preset's link sends: its paste page, or its first registered loopback port.
    fn redirect_uri(p: &crate::provider::Provider) -> String {
        p.paste_redirect_uri.clone().unwrap_or_else(|| {
            let host = match p.loopback.host {
                crate::loopback::RedirectHost::Localhost => "localhost",
                crate::loopback::RedirectHost::Ipv4 => "127.0.0.1",
                crate::loopback::RedirectHost::Ipv6 => "[::1]",
            };
            format!("http://{host}:{}{}", p.loopback.ports[0], p.loopback.path)
        })
    }

    /// Pins each preset's authorization URL, parameter order and encoding included: a change to
    /// a preset file or to the URL builder shows up here as a diff to review.
    #[test]
    fn each_preset_builds_the_authorization_url_its_provider_expects() {
        let state = crate::secret::State::new("STATE");
        let challenge = "CHALLENGE";
        let url = |id: &str| {
            let p = provider(id);
            crate::authorize::authorization_url(&p, &redirect_uri(&p), &state, challenge, &[], &[]).unwrap()
        };
        assert_eq!(
            url("claude"),
            "https://claude.ai/oauth/authorize?response_type=code\
             &client_id=9d1c250a-e61b-44d9-88ed-5944d1962f5e\
             &redirect_uri=https%3A%2F%2Fplatform.claude.com%2Foauth%2Fcode%2Fcallback\
             &state=STATE&code_challenge=CHALLENGE&code_challenge_method=S256\
             &scope=org%3Acreate_api_key+user%3Aprofile+user%3Ainference\
             &code=true"
        );
        assert_eq!(
            url("chatgpt"),
            "https://auth.openai.com/oauth/authorize?response_type=code\
             &client_id=app_EMoamEEZ73f0CkXaXp7hrann\
             &redirect_uri=http%3A%2F%2Flocalhost%3A1455%2Fauth%2Fcallback\
             &state=STATE&code_challenge=CHALLENGE&code_challenge_method=S256\
             &scope=openid+profile+email+offline_access\
             &id_token_add_organizations=true&codex_cli_simplified_flow=true"
        );
    }

    #[test]
    fn each_preset_has_the_shape_its_provider_needs() {
        let claude = provider("claude");
        assert!(claude.paste_redirect_uri.is_some(), "Claude shows the code on its page");
        assert_eq!(claude.token_body, crate::provider::TokenBody::Json);
        assert!(claude.token_request_state, "Claude's token endpoint requires the state");
        let chatgpt = provider("chatgpt");
        assert_eq!(chatgpt.paste_redirect_uri, None);
        assert_eq!(chatgpt.loopback.ports, [1455, 1457], "1457 when 1455 is taken");
        assert_eq!(chatgpt.loopback.host, crate::loopback::RedirectHost::Localhost);
        assert_eq!(chatgpt.token_body, crate::provider::TokenBody::Form);
        let grantex = provider("grantex").grantex.expect("a Grantex provider");
        assert_eq!(grantex.base_url, "https://api.grantex.dev");
        assert_eq!(presets().len(), FILES.len(), "every preset file parses");
    }
}
