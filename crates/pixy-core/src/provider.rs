//! Providers: who Pixy can link with, and the endpoints and client id it uses there.
//!
//! A provider comes from the embedded demo, from a built-in preset ([`crate::presets`]), from
//! `providers.toml` in Pixy's config directory, or from an issuer given on the command line. It is
//! built from explicit endpoints or by [`crate::discovery`]. Every endpoint is checked by
//! [`crate::http::check_endpoint`] before use.

use serde::{Deserialize, Deserializer};

use crate::discovery::Metadata;
use crate::error::{Error, ErrorKind, Result};
use crate::http::check_endpoint;
use crate::loopback::{LoopbackOptions, RedirectHost};
use crate::registration::ClientAuth;
use crate::secret::ClientSecret;

/// How a token request's parameters are sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenBody {
    /// `application/x-www-form-urlencoded` (RFC 6749).
    #[default]
    Form,
    /// A JSON object with the same fields (Claude's token endpoint).
    Json,
}

impl TokenBody {
    /// Whether this is the default shape (kept out of stored records).
    pub fn is_form(&self) -> bool {
        *self == TokenBody::Form
    }
}

/// The protocol a provider speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// OAuth 2.0 / OpenID Connect.
    #[default]
    OAuth2,
    /// Grantex: delegation to an AI agent (see [`crate::grantex`]).
    Grantex,
}

/// Where and as whom a Grantex provider is asked. Not secrets: the developer API key that goes
/// with them lives in the keyring.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct GrantexSettings {
    /// The auth service, e.g. `https://api.grantex.dev`.
    pub base_url: String,
    /// The agent the grant is for.
    pub agent_id: String,
    /// Who grants it: the person, as the developer's app knows them.
    pub principal_id: String,
}

/// Grantex's public auth service.
pub const GRANTEX_BASE_URL: &str = "https://api.grantex.dev";

/// A provider ready to link with.
#[derive(Debug, Clone, Default)]
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
    /// The registered redirect is this web page, which shows the code for the person to paste:
    /// no listener is started.
    pub paste_redirect_uri: Option<String>,
    /// The token request's body.
    pub token_body: TokenBody,
    /// Send `state` in the code exchange too (Claude's token endpoint requires it).
    pub token_request_state: bool,
    /// RFC 8628 device authorization endpoint, if any.
    pub device_authorization_endpoint: Option<String>,
    /// A Grantex provider: its service and agent; `None` for OAuth 2.0.
    pub grantex: Option<GrantexSettings>,
    /// How the client authenticates at the token and revocation endpoints.
    pub client_auth: ClientAuth,
    /// The secret of a confidential client ([`ClientAuth::ClientSecretBasic`] or `Post`).
    pub client_secret: Option<ClientSecret>,
    /// RFC 8707: the protected resource the tokens are for, sent with the authorization, token
    /// and refresh requests (an MCP server's URL).
    pub resource: Option<String>,
}

impl Provider {
    /// A provider from discovered metadata. One whose metadata lists PKCE methods without S256
    /// is refused here, before any browser opens: Pixy sends S256 and nothing else.
    pub fn from_metadata(id: &str, label: &str, client_id: &str, meta: &Metadata) -> Result<Provider> {
        let methods = &meta.code_challenge_methods_supported;
        if !methods.is_empty() && !methods.iter().any(|m| m == crate::pkce::CHALLENGE_METHOD) {
            let listed = methods.iter().map(|m| crate::text::printable(m, 20)).collect::<Vec<_>>().join(", ");
            return Err(Error::new(
                ErrorKind::ProviderConfig,
                format!(
                    "provider {id:?} does not support PKCE with S256 (its metadata lists only {listed}); \
                     Pixy links only with S256"
                ),
            ));
        }
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
            iss_parameter_supported: meta.authorization_response_iss_parameter_supported,
            device_authorization_endpoint: meta.device_authorization_endpoint.clone(),
            ..Provider::default()
        };
        provider.check()?;
        Ok(provider)
    }

    /// Checks every endpoint and the client id.
    pub fn check(&self) -> Result<()> {
        if self.client_id.trim().is_empty() && self.grantex.is_none() {
            return Err(Error::new(ErrorKind::ProviderConfig, format!("provider {:?} has no client_id", self.id)));
        }
        check_endpoint("authorization endpoint", &self.authorization_endpoint)?;
        check_endpoint("token endpoint", &self.token_endpoint)?;
        for (what, url) in [
            ("revocation endpoint", &self.revocation_endpoint),
            ("userinfo endpoint", &self.userinfo_endpoint),
            ("device authorization endpoint", &self.device_authorization_endpoint),
            ("paste redirect page", &self.paste_redirect_uri),
        ] {
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

/// One `[[provider]]` table of providers.toml (or a built-in preset), as written by a person.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Stable id (letters, digits, `-` and `_`).
    pub id: String,
    /// Name to show; defaults to the id.
    pub label: Option<String>,
    /// The issuer; endpoints not given are discovered from it.
    pub issuer: String,
    /// The public client id (for Grantex, the agent id stands for it).
    #[serde(default)]
    pub client_id: String,
    /// Default scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Extra authorization parameters, sent in the order written.
    #[serde(default, deserialize_with = "string_pairs")]
    pub auth_params: Vec<(String, String)>,
    /// Explicit authorization endpoint (skips discovery together with `token_endpoint`).
    pub authorization_endpoint: Option<String>,
    /// Explicit token endpoint.
    pub token_endpoint: Option<String>,
    /// Explicit revocation endpoint.
    pub revocation_endpoint: Option<String>,
    /// Explicit userinfo endpoint.
    pub userinfo_endpoint: Option<String>,
    /// Explicit RFC 8628 device authorization endpoint.
    pub device_authorization_endpoint: Option<String>,
    /// The redirect host registered with the provider: `127.0.0.1` (default), `localhost` or `[::1]`.
    pub redirect_host: Option<String>,
    /// Fixed redirect ports registered with the provider, tried in order (default: any free port).
    #[serde(default)]
    pub redirect_ports: Vec<u16>,
    /// The registered redirect path (default `/callback`).
    pub redirect_path: Option<String>,
    /// The registered redirect is this page, which shows the code to paste: links always by paste.
    pub paste_redirect_uri: Option<String>,
    /// `form` (default) or `json`.
    #[serde(default)]
    pub token_request: TokenBody,
    /// Send `state` in the code exchange.
    #[serde(default)]
    pub token_request_state: bool,
    /// `oauth2` (default) or `grantex`.
    #[serde(default)]
    pub protocol: Protocol,
    /// Grantex: the auth service (default [`GRANTEX_BASE_URL`]).
    pub base_url: Option<String>,
    /// Grantex: the agent the grant is for.
    pub agent_id: Option<String>,
    /// Grantex: who grants it.
    pub principal_id: Option<String>,
}

/// A TOML table of strings, as ordered pairs.
fn string_pairs<'de, D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Vec<(String, String)>, D::Error> {
    let table = toml::Table::deserialize(deserializer)?;
    table
        .into_iter()
        .map(|(k, v)| match v {
            toml::Value::String(v) => Ok((k, v)),
            other => Err(serde::de::Error::custom(format!(
                "auth_params.{k} must be a string (write it in quotes), not a {}",
                other.type_str()
            ))),
        })
        .collect()
}

impl ProviderConfig {
    /// A definition with just these, the rest left to discovery and defaults.
    pub fn adhoc(id: &str, label: &str, issuer: &str, client_id: &str) -> ProviderConfig {
        ProviderConfig {
            id: id.to_string(),
            label: Some(label.to_string()),
            issuer: issuer.to_string(),
            client_id: client_id.to_string(),
            scopes: Vec::new(),
            auth_params: Vec::new(),
            authorization_endpoint: None,
            token_endpoint: None,
            revocation_endpoint: None,
            userinfo_endpoint: None,
            device_authorization_endpoint: None,
            redirect_host: None,
            redirect_ports: Vec::new(),
            redirect_path: None,
            paste_redirect_uri: None,
            token_request: TokenBody::Form,
            token_request_state: false,
            protocol: Protocol::OAuth2,
            base_url: None,
            agent_id: None,
            principal_id: None,
        }
    }

    /// Whether the endpoints are given (or, for Grantex, fixed by the protocol), so no discovery
    /// is needed.
    pub fn is_explicit(&self) -> bool {
        self.protocol == Protocol::Grantex || (self.authorization_endpoint.is_some() && self.token_endpoint.is_some())
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
                ..Provider::default()
            },
        };
        // Explicit settings win over discovered ones.
        if let Some(url) = self.authorization_endpoint {
            provider.authorization_endpoint = url;
        }
        if let Some(url) = self.token_endpoint {
            provider.token_endpoint = url;
        }
        for (explicit, into) in [
            (self.revocation_endpoint, &mut provider.revocation_endpoint),
            (self.userinfo_endpoint, &mut provider.userinfo_endpoint),
            (self.device_authorization_endpoint, &mut provider.device_authorization_endpoint),
        ] {
            if explicit.is_some() {
                *into = explicit;
            }
        }
        if !self.scopes.is_empty() {
            provider.default_scopes = self.scopes;
        }
        if self.protocol == Protocol::Grantex {
            let base_url =
                self.base_url.unwrap_or_else(|| GRANTEX_BASE_URL.to_string()).trim_end_matches('/').to_string();
            provider.authorization_endpoint = format!("{base_url}/v1/authorize");
            provider.token_endpoint = format!("{base_url}/v1/token");
            let agent_id = self.agent_id.unwrap_or_default();
            // The agent is who the grant is for, as a client is in OAuth.
            provider.client_id = agent_id.clone();
            provider.grantex =
                Some(GrantexSettings { base_url, agent_id, principal_id: self.principal_id.unwrap_or_default() });
        } else if let Some(key) =
            [("base_url", &self.base_url), ("agent_id", &self.agent_id), ("principal_id", &self.principal_id)]
                .into_iter()
                .find_map(|(key, value)| value.as_ref().map(|_| key))
        {
            return Err(Error::new(
                ErrorKind::ProviderConfig,
                format!("provider {:?}: {key} is a Grantex key; add protocol = \"grantex\" or remove it", provider.id),
            ));
        }
        provider.auth_params = self.auth_params;
        provider.paste_redirect_uri = self.paste_redirect_uri;
        provider.token_body = self.token_request;
        provider.token_request_state = self.token_request_state;
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

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "work"
label = "Work SSO"
issuer = "https://id.example.com"
client_id = "abc"
scopes = ["openid", "email"]
auth_params = { prompt = "consent", access_type = "offline" }
authorization_endpoint = "https://id.example.com/authorize"
token_endpoint = "https://id.example.com/token"
redirect_host = "localhost"
redirect_ports = [1455, 1457]
"#;

    fn config(text: &str) -> ProviderConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn explicit_endpoints_build_a_provider_without_discovery() {
        assert!(config(GOOD).is_explicit());
        let p = config(GOOD).into_provider(None).unwrap();
        assert_eq!(p.label, "Work SSO");
        assert_eq!(p.token_endpoint, "https://id.example.com/token");
        assert_eq!(
            p.auth_params,
            [("prompt", "consent"), ("access_type", "offline")].map(|(k, v)| (k.to_string(), v.to_string())),
            "parameters keep the order they are written in"
        );
        assert_eq!(p.loopback.host, RedirectHost::Localhost);
        assert_eq!(p.loopback.ports, vec![1455, 1457], "registered ports are tried in order");
        assert_eq!(p.loopback.path, "/callback");
    }

    #[test]
    fn an_unknown_redirect_host_is_refused() {
        let bad = GOOD.replace("redirect_host = \"localhost\"", "redirect_host = \"0.0.0.0\"");
        let err = config(&bad).into_provider(None).unwrap_err();
        assert_eq!(err.kind, ErrorKind::ProviderConfig);
        assert!(err.message.contains("0.0.0.0"), "{}", err.message);
    }

    #[test]
    fn insecure_endpoints_are_refused_at_build_time() {
        let insecure = GOOD.replace("https://id.example.com/token", "http://id.example.com/token");
        let err = config(&insecure).into_provider(None).unwrap_err();
        assert_eq!(err.kind, ErrorKind::ProviderConfig);
    }

    #[test]
    fn metadata_that_lists_pkce_methods_without_s256_is_refused() {
        let meta = |methods: &[&str]| Metadata {
            issuer: "https://id.example.com".into(),
            authorization_endpoint: Some("https://id.example.com/a".into()),
            token_endpoint: Some("https://id.example.com/t".into()),
            code_challenge_methods_supported: methods.iter().map(|m| m.to_string()).collect(),
            ..Default::default()
        };
        let err = Provider::from_metadata("p", "P", "c", &meta(&["plain"])).unwrap_err();
        assert_eq!(err.kind, ErrorKind::ProviderConfig);
        assert!(err.message.contains("S256") && err.message.contains("plain"), "{}", err.message);
        assert!(Provider::from_metadata("p", "P", "c", &meta(&["plain", "S256"])).is_ok());
        assert!(Provider::from_metadata("p", "P", "c", &meta(&[])).is_ok(), "a provider that lists none is tried");
    }
}
