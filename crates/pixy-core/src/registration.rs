//! How Pixy becomes a client of an authorization server it was never registered with: a client
//! id the person gives, a Client ID Metadata Document (its URL is the client id), or RFC 7591
//! Dynamic Client Registration.
//!
//! A registration is kept per authorization server ([`crate::registrations`]) and reused for the
//! next resource there. Its client id and the exact redirect URI it was registered with are not
//! secret; a client secret and an RFC 7592 registration access token are, and live in the
//! keyring under [`store_key`].
//!
//! Both MCP SDKs' authorization servers match redirect URIs exactly, port included (RFC 8252
//! §7.3 asks them to accept any loopback port, they do not): so a dynamic registration names the
//! exact URI of the listener, and its port is bound first on later links.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::discovery::Metadata;
use crate::error::{redact_url, Error, ErrorKind, Result};
use crate::http::{check_endpoint, network_error, read_capped};
use crate::secret::{ClientSecret, RegistrationToken};

/// How the client was registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// A client id the person gave (`--client-id`).
    Given,
    /// A Client ID Metadata Document: the client id is the document's URL.
    MetadataDocument,
    /// RFC 7591 Dynamic Client Registration.
    Dynamic,
}

impl Method {
    /// The method in words, for `pixy status` and the window.
    pub fn words(self) -> &'static str {
        match self {
            Method::Given => "client id given by you",
            Method::MetadataDocument => "Client ID Metadata Document",
            Method::Dynamic => "dynamic client registration",
        }
    }
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// A public client: its id only.
    #[default]
    None,
    /// HTTP Basic with id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// Id and secret in the request body.
    ClientSecretPost,
}

impl ClientAuth {
    /// Whether this is a public client (kept out of stored records).
    pub fn is_none(&self) -> bool {
        *self == ClientAuth::None
    }

    fn named(name: &str) -> Option<ClientAuth> {
        match name {
            "none" => Some(ClientAuth::None),
            "client_secret_basic" => Some(ClientAuth::ClientSecretBasic),
            "client_secret_post" => Some(ClientAuth::ClientSecretPost),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            ClientAuth::None => "none",
            ClientAuth::ClientSecretBasic => "client_secret_basic",
            ClientAuth::ClientSecretPost => "client_secret_post",
        }
    }
}

/// A registration with one authorization server: what the index keeps (no secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The authorization server's issuer.
    pub issuer: String,
    /// The client id.
    pub client_id: String,
    /// How it was registered.
    pub method: Method,
    /// How the client authenticates at the token endpoint.
    #[serde(default, skip_serializing_if = "ClientAuth::is_none")]
    pub client_auth: ClientAuth,
    /// The exact redirect URI registered (dynamic registrations): its port is bound first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    /// RFC 7592: where the registration can be read back, to tell whether it still exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_client_uri: Option<String>,
    /// When it was made (Unix seconds).
    pub registered_at: u64,
}

impl Registration {
    /// The port its redirect URI names, if it names one.
    pub fn redirect_port(&self) -> Option<u16> {
        url::Url::parse(self.redirect_uri.as_deref()?).ok()?.port()
    }
}

/// A registration with the secrets that go with it.
#[derive(Debug)]
pub struct Registered {
    /// What the index keeps.
    pub registration: Registration,
    /// The client secret of a confidential client.
    pub client_secret: Option<ClientSecret>,
    /// The RFC 7592 registration access token, if the server gave one.
    pub registration_token: Option<RegistrationToken>,
}

/// The keyring key of an authorization server's registration secrets (no account id has a `:`).
pub fn store_key(issuer: &str) -> String {
    let digest = Sha256::digest(issuer.trim_end_matches('/').as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("registration:{hex}")
}

/// How a client that holds a secret authenticates: Basic unless the server lists only the body
/// form (RFC 6749 §2.3.1 makes Basic the one every server must take).
pub fn secret_auth(meta: &Metadata) -> ClientAuth {
    let listed = &meta.token_endpoint_auth_methods_supported;
    if listed.iter().any(|m| m == "client_secret_post") && !listed.iter().any(|m| m == "client_secret_basic") {
        ClientAuth::ClientSecretPost
    } else {
        ClientAuth::ClientSecretBasic
    }
}

/// The method a dynamic registration asks for: `none` (a native app keeps no secret worth the
/// name) unless the server lists methods without it.
fn wanted_auth(meta: &Metadata) -> ClientAuth {
    let listed = &meta.token_endpoint_auth_methods_supported;
    if listed.is_empty() || listed.iter().any(|m| m == "none") {
        ClientAuth::None
    } else {
        secret_auth(meta)
    }
}

#[derive(Deserialize)]
struct RawRegistration {
    client_id: Option<String>,
    client_secret: Option<String>,
    token_endpoint_auth_method: Option<String>,
    registration_client_uri: Option<String>,
    registration_access_token: Option<String>,
}

#[derive(Deserialize)]
struct RawError {
    error: String,
    error_description: Option<String>,
}

/// What to say when a server takes no dynamic registration.
pub const NO_REGISTRATION: &str = "this server does not allow automatic registration: ask its administrator for a \
     client id and give it with --client-id";

/// Registers Pixy as a native client with the redirect URI the listener has (RFC 7591).
pub async fn register(
    http: &reqwest::Client,
    meta: &Metadata,
    redirect_uri: &str,
    scopes: &[String],
    now: u64,
) -> Result<Registered> {
    let Some(endpoint) = meta.registration_endpoint.as_deref() else {
        return Err(Error::new(ErrorKind::ProviderConfig, NO_REGISTRATION));
    };
    check_endpoint("registration endpoint", endpoint)?;
    let wanted = wanted_auth(meta);
    let mut body = serde_json::json!({
        "client_name": "Pixy",
        "application_type": "native",
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": wanted.name(),
    });
    if !scopes.is_empty() {
        body["scope"] = scopes.join(" ").into();
    }
    let resp = http
        .post(endpoint)
        .header("accept", "application/json")
        .json(&body)
        .send()
        .await
        .map_err(|e| network_error("the registration request", endpoint, &e))?;
    let status = resp.status();
    if status.is_redirection() {
        return Err(Error::new(
            ErrorKind::ProviderConfig,
            format!(
                "the registration endpoint {} answered with a redirect, which Pixy does not follow",
                redact_url(endpoint)
            ),
        ));
    }
    let raw = read_capped("registration endpoint", endpoint, resp)
        .await
        .map_err(|e| Error::new(ErrorKind::ProviderConfig, e.message))?;
    if matches!(status.as_u16(), 401 | 403 | 404 | 405) {
        return Err(Error::new(ErrorKind::ProviderConfig, NO_REGISTRATION));
    }
    if !status.is_success() {
        let why = match serde_json::from_slice::<RawError>(&raw) {
            Ok(e) => {
                let code = crate::text::printable(&e.error, 64);
                match e.error_description {
                    Some(d) => format!("{code}: {}", crate::text::printable(&d, 200)),
                    None => code,
                }
            }
            Err(_) => format!("it answered {status}"),
        };
        return Err(Error::new(ErrorKind::ProviderConfig, format!("the server refused to register Pixy ({why})")));
    }
    let answer: RawRegistration = serde_json::from_slice(&raw).map_err(|_| {
        Error::new(ErrorKind::ProviderConfig, "the registration endpoint's answer is not a JSON registration")
    })?;
    let client_id = answer
        .client_id
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| Error::new(ErrorKind::ProviderConfig, "the registration endpoint's answer has no client_id"))?;
    let client_secret = answer.client_secret.filter(|s| !s.is_empty()).map(ClientSecret::new);
    // The server's word on the method wins; without one, what was asked for, given a secret.
    let client_auth = match answer.token_endpoint_auth_method.as_deref() {
        Some(name) => ClientAuth::named(name).ok_or_else(|| {
            Error::new(
                ErrorKind::ProviderConfig,
                format!(
                    "the server registered Pixy for token endpoint authentication by {}, which Pixy does not do",
                    crate::text::printable(name, 40)
                ),
            )
        })?,
        None if wanted == ClientAuth::None => ClientAuth::None,
        None => wanted,
    };
    if client_auth != ClientAuth::None && client_secret.is_none() {
        return Err(Error::new(
            ErrorKind::ProviderConfig,
            "the server registered Pixy as a confidential client but sent no client secret",
        ));
    }
    if let Some(uri) = &answer.registration_client_uri {
        check_endpoint("registration client URI", uri)?;
    }
    Ok(Registered {
        registration: Registration {
            issuer: meta.issuer.clone(),
            client_id,
            method: Method::Dynamic,
            client_auth,
            redirect_uri: Some(redirect_uri.to_string()),
            registration_client_uri: answer.registration_client_uri,
            registered_at: now,
        },
        client_secret: if client_auth == ClientAuth::None { None } else { client_secret },
        registration_token: answer.registration_access_token.map(RegistrationToken::new),
    })
}

/// RFC 7592: whether the server still knows a registration. `Some(false)` when it says the
/// registration or its token is gone (401, 403, 404), `None` when it cannot tell.
pub async fn still_registered(
    http: &reqwest::Client,
    registration: &Registration,
    token: &RegistrationToken,
) -> Option<bool> {
    let uri = registration.registration_client_uri.as_deref()?;
    check_endpoint("registration client URI", uri).ok()?;
    let resp = http.get(uri).bearer_auth(token.expose()).header("accept", "application/json").send().await.ok()?;
    match resp.status().as_u16() {
        200 => Some(true),
        401 | 403 | 404 => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(methods: &[&str]) -> Metadata {
        Metadata {
            issuer: "https://as.example".into(),
            token_endpoint_auth_methods_supported: methods.iter().map(|m| m.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_native_client_registers_without_a_secret_unless_the_server_insists() {
        assert_eq!(wanted_auth(&meta(&[])), ClientAuth::None);
        assert_eq!(wanted_auth(&meta(&["client_secret_basic", "none"])), ClientAuth::None);
        assert_eq!(wanted_auth(&meta(&["client_secret_basic"])), ClientAuth::ClientSecretBasic);
        assert_eq!(wanted_auth(&meta(&["client_secret_post"])), ClientAuth::ClientSecretPost);
        assert_eq!(secret_auth(&meta(&["client_secret_post", "client_secret_basic"])), ClientAuth::ClientSecretBasic);
    }

    #[test]
    fn registrations_are_keyed_per_issuer_and_remember_their_port() {
        assert_eq!(store_key("https://as.example/"), store_key("https://as.example"));
        assert_ne!(store_key("https://as.example"), store_key("https://other.example"));
        assert!(store_key("https://as.example").starts_with("registration:"));
        let r = Registration {
            issuer: "https://as.example".into(),
            client_id: "c".into(),
            method: Method::Dynamic,
            client_auth: ClientAuth::None,
            redirect_uri: Some("http://127.0.0.1:41234/callback".into()),
            registration_client_uri: None,
            registered_at: 0,
        };
        assert_eq!(r.redirect_port(), Some(41234));
    }
}
