//! Providers: who Pixy can link with, and the endpoints and client id it uses there.
//!
//! A provider comes from the embedded demo, from `providers.toml` in Pixy's config directory, or
//! from an issuer given on the command line. It is built from explicit endpoints or by
//! [`crate::discovery`]. Every endpoint is checked by [`crate::http::check_endpoint`] before use.

use std::path::Path;

use serde::Deserialize;

use crate::discovery::Metadata;
use crate::error::{Error, ErrorKind, Result};
use crate::http::check_endpoint;
use crate::loopback::{LoopbackOptions, RedirectHost};

/// A provider ready to link with.
#[derive(Debug, Clone, PartialEq)]
pub struct Provider {
    /// Stable id, used in account ids and on the command line.
    pub id: String,
    /// Name to show.
    pub label: String,
    /// The issuer (the authorization server's identifier).
    pub issuer: String,
    /// The public client id registered with the provider.
    pub client_id: String,
    /// Authorization endpoint.
    pub authorization_endpoint: String,
    /// Token endpoint.
    pub token_endpoint: String,
    /// RFC 7009 revocation endpoint, if any.
    pub revocation_endpoint: Option<String>,
    /// OIDC userinfo endpoint, if any.
    pub userinfo_endpoint: Option<String>,
    /// Scopes asked for when a link request names none.
    pub default_scopes: Vec<String>,
    /// Extra authorization parameters always sent.
    pub auth_params: Vec<(String, String)>,
    /// RFC 9207: the provider sends `iss` in the authorization response.
    pub iss_parameter_supported: bool,
    /// The embedded demo provider: a fixture, never a real account.
    pub demo: bool,
    /// The registered redirect: host, fixed ports (or any) and path.
    pub loopback: LoopbackOptions,
}

impl Provider {
    /// A provider from discovered metadata.
    pub fn from_metadata(id: &str, label: &str, client_id: &str, meta: &Metadata) -> Result<Provider> {
        let provider = Provider {
            id: id.to_string(),
            label: label.to_string(),
            issuer: meta.issuer.clone(),
            client_id: client_id.to_string(),
            authorization_endpoint: required(&meta.authorization_endpoint, "authorization_endpoint")?,
            token_endpoint: required(&meta.token_endpoint, "token_endpoint")?,
            revocation_endpoint: meta.revocation_endpoint.clone(),
            userinfo_endpoint: meta.userinfo_endpoint.clone(),
            default_scopes: default_scopes(meta),
            auth_params: Vec::new(),
            iss_parameter_supported: meta.authorization_response_iss_parameter_supported,
            demo: false,
            loopback: LoopbackOptions::default(),
        };
        provider.check()?;
        Ok(provider)
    }

    /// Checks every endpoint and the client id.
    pub fn check(&self) -> Result<()> {
        if self.client_id.trim().is_empty() {
            return Err(Error::new(ErrorKind::ProviderConfig, format!("provider {:?} has no client_id", self.id)));
        }
        check_endpoint("authorization endpoint", &self.authorization_endpoint)?;
        check_endpoint("token endpoint", &self.token_endpoint)?;
        for (what, url) in
            [("revocation endpoint", &self.revocation_endpoint), ("userinfo endpoint", &self.userinfo_endpoint)]
        {
            if let Some(url) = url {
                check_endpoint(what, url)?;
            }
        }
        Ok(())
    }
}

fn required(value: &Option<String>, field: &str) -> Result<String> {
    value.clone().ok_or_else(|| Error::new(ErrorKind::Discovery, format!("the provider's metadata has no {field}")))
}

/// `openid` when the provider speaks OIDC, nothing otherwise (the provider's own default).
fn default_scopes(meta: &Metadata) -> Vec<String> {
    let oidc = meta.userinfo_endpoint.is_some() || meta.scopes_supported.iter().any(|s| s == "openid");
    if oidc {
        vec!["openid".to_string()]
    } else {
        Vec::new()
    }
}

/// One `[[provider]]` table of providers.toml, as written by a person.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Stable id (letters, digits, `-` and `_`).
    pub id: String,
    /// Name to show; defaults to the id.
    pub label: Option<String>,
    /// The issuer; endpoints not given are discovered from it.
    pub issuer: String,
    /// The public client id.
    pub client_id: String,
    /// Default scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Extra authorization parameters.
    #[serde(default)]
    pub auth_params: std::collections::BTreeMap<String, String>,
    /// Explicit authorization endpoint (skips discovery together with `token_endpoint`).
    pub authorization_endpoint: Option<String>,
    /// Explicit token endpoint.
    pub token_endpoint: Option<String>,
    /// Explicit revocation endpoint.
    pub revocation_endpoint: Option<String>,
    /// Explicit userinfo endpoint.
    pub userinfo_endpoint: Option<String>,
    /// The redirect host registered with the provider: `127.0.0.1` (default), `localhost` or `[::1]`.
    pub redirect_host: Option<String>,
    /// Fixed redirect ports registered with the provider, tried in order (default: any free port).
    #[serde(default)]
    pub redirect_ports: Vec<u16>,
    /// The registered redirect path (default `/callback`).
    pub redirect_path: Option<String>,
}

impl ProviderConfig {
    /// Whether the endpoints are given, so no discovery is needed.
    pub fn is_explicit(&self) -> bool {
        self.authorization_endpoint.is_some() && self.token_endpoint.is_some()
    }

    /// Builds the provider, from explicit endpoints or from discovered metadata.
    pub fn into_provider(self, discovered: Option<&Metadata>) -> Result<Provider> {
        let label = self.label.clone().unwrap_or_else(|| self.id.clone());
        let mut provider = match discovered {
            Some(meta) => Provider::from_metadata(&self.id, &label, &self.client_id, meta)?,
            None => Provider {
                id: self.id.clone(),
                label,
                issuer: self.issuer.clone(),
                client_id: self.client_id.clone(),
                authorization_endpoint: self.authorization_endpoint.clone().unwrap_or_default(),
                token_endpoint: self.token_endpoint.clone().unwrap_or_default(),
                revocation_endpoint: None,
                userinfo_endpoint: None,
                default_scopes: Vec::new(),
                auth_params: Vec::new(),
                iss_parameter_supported: false,
                demo: false,
                loopback: LoopbackOptions::default(),
            },
        };
        // Explicit settings win over discovered ones.
        if let Some(url) = self.authorization_endpoint {
            provider.authorization_endpoint = url;
        }
        if let Some(url) = self.token_endpoint {
            provider.token_endpoint = url;
        }
        if self.revocation_endpoint.is_some() {
            provider.revocation_endpoint = self.revocation_endpoint;
        }
        if self.userinfo_endpoint.is_some() {
            provider.userinfo_endpoint = self.userinfo_endpoint;
        }
        if !self.scopes.is_empty() {
            provider.default_scopes = self.scopes;
        }
        provider.auth_params = self.auth_params.into_iter().collect();
        provider.loopback = LoopbackOptions {
            host: match self.redirect_host.as_deref() {
                None | Some("127.0.0.1") => RedirectHost::Ipv4,
                Some("localhost") => RedirectHost::Localhost,
                Some("[::1]") | Some("::1") => RedirectHost::Ipv6,
                Some(other) => {
                    return Err(Error::new(
                        ErrorKind::ProviderConfig,
                        format!(
                            "provider {:?}: redirect_host {other:?} must be 127.0.0.1, localhost or [::1]",
                            provider.id
                        ),
                    ))
                }
            },
            ports: self.redirect_ports,
            path: self.redirect_path.unwrap_or_else(|| "/callback".to_string()),
        };
        if !provider.loopback.path.starts_with('/') {
            return Err(Error::new(
                ErrorKind::ProviderConfig,
                format!("provider {:?}: redirect_path must start with /", provider.id),
            ));
        }
        provider.check()?;
        Ok(provider)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProvidersFile {
    #[serde(default)]
    provider: Vec<ProviderConfig>,
}

/// Reads providers.toml. A missing file means no providers; a malformed one is a clear
/// [`ErrorKind::ProviderConfig`] error naming the file and the line, and is left untouched.
pub fn load_config(path: &Path) -> Result<Vec<ProviderConfig>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::new(ErrorKind::ProviderConfig, format!("cannot read {}: {e}", path.display()))),
    };
    parse_config(&text).map_err(|e| Error::new(ErrorKind::ProviderConfig, format!("{}: {}", path.display(), e.message)))
}

/// Parses the text of providers.toml.
pub fn parse_config(text: &str) -> Result<Vec<ProviderConfig>> {
    let file: ProvidersFile =
        toml::from_str(text).map_err(|e| Error::new(ErrorKind::ProviderConfig, e.to_string().trim().to_string()))?;
    let mut seen = std::collections::HashSet::new();
    for p in &file.provider {
        let valid_id = !p.id.is_empty() && p.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_id {
            return Err(Error::new(
                ErrorKind::ProviderConfig,
                format!("provider id {:?} must be letters, digits, '-' or '_'", p.id),
            ));
        }
        if p.id == "demo" {
            return Err(Error::new(ErrorKind::ProviderConfig, "provider id \"demo\" is reserved"));
        }
        if !seen.insert(p.id.clone()) {
            return Err(Error::new(ErrorKind::ProviderConfig, format!("provider id {:?} appears twice", p.id)));
        }
    }
    Ok(file.provider)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[provider]]
id = "work"
label = "Work SSO"
issuer = "https://id.example.com"
client_id = "abc"
scopes = ["openid", "email"]
auth_params = { prompt = "consent" }
authorization_endpoint = "https://id.example.com/authorize"
token_endpoint = "https://id.example.com/token"
redirect_host = "localhost"
redirect_ports = [1455, 1457]
"#;

    #[test]
    fn explicit_endpoints_build_a_provider_without_discovery() {
        let configs = parse_config(GOOD).unwrap();
        assert!(configs[0].is_explicit());
        let p = configs[0].clone().into_provider(None).unwrap();
        assert_eq!(p.label, "Work SSO");
        assert_eq!(p.token_endpoint, "https://id.example.com/token");
        assert_eq!(p.auth_params, vec![("prompt".to_string(), "consent".to_string())]);
        assert_eq!(p.loopback.host, RedirectHost::Localhost);
        assert_eq!(p.loopback.ports, vec![1455, 1457], "registered ports are tried in order");
        assert_eq!(p.loopback.path, "/callback");
    }

    #[test]
    fn an_unknown_redirect_host_is_refused() {
        let bad = GOOD.replace("redirect_host = \"localhost\"", "redirect_host = \"0.0.0.0\"");
        let err = parse_config(&bad).unwrap()[0].clone().into_provider(None).unwrap_err();
        assert_eq!(err.kind, ErrorKind::ProviderConfig);
        assert!(err.message.contains("0.0.0.0"), "{}", err.message);
    }

    #[test]
    fn malformed_config_names_the_problem() {
        let err = parse_config("[[provider]]\nid = \"x\"\n").unwrap_err();
        assert_eq!(err.kind, ErrorKind::ProviderConfig);
        assert!(err.message.contains("issuer"), "the missing field is named: {}", err.message);

        let err = parse_config("[[provider]\n").unwrap_err();
        assert_eq!(err.kind, ErrorKind::ProviderConfig);

        let err = parse_config(&GOOD.replace("client_id", "clientid")).unwrap_err();
        assert!(err.message.contains("clientid"), "unknown keys are named: {}", err.message);
    }

    #[test]
    fn duplicate_and_reserved_ids_are_refused() {
        let twice = format!("{GOOD}\n{GOOD}");
        assert!(parse_config(&twice).unwrap_err().message.contains("twice"));
        let demo = GOOD.replace("id = \"work\"", "id = \"demo\"");
        assert!(parse_config(&demo).unwrap_err().message.contains("reserved"));
    }

    #[test]
    fn insecure_endpoints_are_refused_at_build_time() {
        let insecure = GOOD.replace("https://id.example.com/token", "http://id.example.com/token");
        let err = parse_config(&insecure).unwrap()[0].clone().into_provider(None).unwrap_err();
        assert_eq!(err.kind, ErrorKind::ProviderConfig);
    }

    #[test]
    fn a_missing_file_means_no_providers() {
        let dir = std::env::temp_dir().join(format!("pixy-none-{}", std::process::id()));
        assert_eq!(load_config(&dir.join("providers.toml")).unwrap(), Vec::new());
    }
}
