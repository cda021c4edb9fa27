//! Authorization server metadata: OIDC Discovery with RFC 8414 as fallback and merge.
//!
//! Pixy asks `{issuer}/.well-known/openid-configuration` first. When that fails or lacks any
//! field Pixy uses (an endpoint, the revocation endpoint, the PKCE methods), it asks RFC 8414's
//! `/.well-known/oauth-authorization-server{path}` and fills the gaps (OIDC values win): some
//! providers publish revocation only there. The `issuer` in the document must equal the one asked for, or the
//! metadata is refused (a mix-up defence).

use serde::Deserialize;

use crate::error::{redact_url, Error, ErrorKind, Result};
use crate::http::{check_endpoint, get_document};

/// The metadata fields Pixy uses.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Metadata {
    /// The issuer identifier.
    pub issuer: String,
    /// Authorization endpoint.
    pub authorization_endpoint: Option<String>,
    /// Token endpoint.
    pub token_endpoint: Option<String>,
    /// RFC 7009 revocation endpoint.
    pub revocation_endpoint: Option<String>,
    /// OIDC userinfo endpoint.
    pub userinfo_endpoint: Option<String>,
    /// RFC 8628 device authorization endpoint.
    pub device_authorization_endpoint: Option<String>,
    /// Scopes the provider lists.
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    /// PKCE methods the provider lists.
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    /// RFC 9207.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    /// RFC 7591 dynamic client registration endpoint.
    pub registration_endpoint: Option<String>,
    /// How clients may authenticate at the token endpoint.
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// Whether a client id may be the URL of a Client ID Metadata Document.
    #[serde(default)]
    pub client_id_metadata_document_supported: bool,
}

impl Metadata {
    fn is_complete(&self) -> bool {
        self.authorization_endpoint.is_some() && self.token_endpoint.is_some()
    }

    /// Whether a field Pixy uses is missing, so the other document may have it.
    fn has_gaps(&self) -> bool {
        !self.is_complete() || self.revocation_endpoint.is_none() || self.code_challenge_methods_supported.is_empty()
    }

    /// Fills what `self` lacks from `other`.
    fn merge(mut self, other: Metadata) -> Metadata {
        fn fill(a: &mut Option<String>, b: Option<String>) {
            if a.is_none() {
                *a = b;
            }
        }
        fill(&mut self.authorization_endpoint, other.authorization_endpoint);
        fill(&mut self.token_endpoint, other.token_endpoint);
        fill(&mut self.device_authorization_endpoint, other.device_authorization_endpoint);
        fill(&mut self.revocation_endpoint, other.revocation_endpoint);
        fill(&mut self.userinfo_endpoint, other.userinfo_endpoint);
        fill(&mut self.registration_endpoint, other.registration_endpoint);
        if self.token_endpoint_auth_methods_supported.is_empty() {
            self.token_endpoint_auth_methods_supported = other.token_endpoint_auth_methods_supported;
        }
        self.client_id_metadata_document_supported |= other.client_id_metadata_document_supported;
        if self.scopes_supported.is_empty() {
            self.scopes_supported = other.scopes_supported;
        }
        if self.code_challenge_methods_supported.is_empty() {
            self.code_challenge_methods_supported = other.code_challenge_methods_supported;
        }
        self.authorization_response_iss_parameter_supported |= other.authorization_response_iss_parameter_supported;
        self
    }
}

/// Whether two issuer identifiers name the same issuer (a trailing slash is not a difference).
pub fn same_issuer(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// The OIDC Discovery URL of an issuer.
pub fn oidc_url(issuer: &str) -> String {
    format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'))
}

/// The RFC 8414 URL of an issuer: the well-known segment goes between host and path.
pub fn rfc8414_url(issuer: &str) -> Result<String> {
    let url =
        url::Url::parse(issuer).map_err(|_| Error::new(ErrorKind::ProviderConfig, "the issuer is not a valid URL"))?;
    let path = url.path().trim_end_matches('/');
    let mut origin = url.origin().ascii_serialization();
    origin.push_str("/.well-known/oauth-authorization-server");
    origin.push_str(path);
    Ok(origin)
}

/// Fetches and checks the metadata of `issuer`.
pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Metadata> {
    check_endpoint("issuer", issuer)?;
    let oidc = fetch(http, &oidc_url(issuer), issuer).await;
    let meta = match oidc {
        Ok(meta) if !meta.has_gaps() => meta,
        Ok(partial) => match fetch(http, &rfc8414_url(issuer)?, issuer).await {
            Ok(other) => partial.merge(other),
            Err(_) => partial,
        },
        Err(oidc_err) => match fetch(http, &rfc8414_url(issuer)?, issuer).await {
            Ok(meta) => meta,
            Err(_) => return Err(oidc_err),
        },
    };
    if !meta.is_complete() {
        return Err(Error::new(
            ErrorKind::Discovery,
            format!("the metadata of {} has no authorization or token endpoint", redact_url(issuer)),
        ));
    }
    Ok(meta)
}

/// The metadata URLs of an authorization server, in the order the MCP specification asks for
/// them: RFC 8414 first (path-aware), then OpenID discovery, with the well-known segment inserted
/// before the path and then appended after it.
pub fn authorization_server_urls(issuer: &str) -> Result<Vec<String>> {
    let url = url::Url::parse(issuer)
        .map_err(|_| Error::new(ErrorKind::Discovery, "the authorization server is not a valid URL"))?;
    let path = url.path().trim_end_matches('/');
    let origin = url.origin().ascii_serialization();
    let mut urls = vec![rfc8414_url(issuer)?, format!("{origin}/.well-known/openid-configuration{path}")];
    if !path.is_empty() {
        urls.push(oidc_url(issuer));
    }
    Ok(urls)
}

/// Fetches the metadata of an authorization server a resource named, trying
/// [`authorization_server_urls`] in order: the first document that exists is used, and a server
/// that answers with a redirect or something that is not its metadata is refused in words.
/// `None` when no document exists at all.
pub async fn discover_authorization_server(http: &reqwest::Client, issuer: &str) -> Result<Option<Metadata>> {
    check_endpoint("authorization server", issuer).map_err(|e| Error::new(ErrorKind::Discovery, e.message))?;
    for url in authorization_server_urls(issuer)? {
        if let Some(meta) = fetch_if_any(http, &url, issuer).await? {
            return Ok(Some(meta));
        }
    }
    Ok(None)
}

async fn fetch(http: &reqwest::Client, url: &str, issuer: &str) -> Result<Metadata> {
    fetch_if_any(http, url, issuer)
        .await?
        .ok_or_else(|| Error::new(ErrorKind::Discovery, format!("{} has no metadata document", redact_url(url))))
}

/// One metadata document: `None` when there is none.
async fn fetch_if_any(http: &reqwest::Client, url: &str, issuer: &str) -> Result<Option<Metadata>> {
    let Some(body) = get_document(http, "metadata", url).await? else { return Ok(None) };
    let meta: Metadata = serde_json::from_slice(&body)
        .map_err(|e| Error::new(ErrorKind::Discovery, format!("{} is not valid metadata: {e}", redact_url(url))))?;
    if !same_issuer(&meta.issuer, issuer) {
        return Err(Error::new(
            ErrorKind::Discovery,
            format!(
                "the metadata at {} names another issuer ({}), refusing it",
                redact_url(url),
                redact_url(&meta.issuer)
            ),
        ));
    }
    Ok(Some(meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8414_url_puts_well_known_before_the_path() {
        assert_eq!(
            rfc8414_url("https://id.example.com/tenant/1").unwrap(),
            "https://id.example.com/.well-known/oauth-authorization-server/tenant/1"
        );
        assert_eq!(
            rfc8414_url("https://id.example.com/").unwrap(),
            "https://id.example.com/.well-known/oauth-authorization-server"
        );
    }

    #[test]
    fn oidc_url_appends_well_known() {
        assert_eq!(
            oidc_url("https://id.example.com/tenant/"),
            "https://id.example.com/tenant/.well-known/openid-configuration"
        );
    }

    #[test]
    fn merge_fills_only_the_gaps() {
        let a = Metadata {
            issuer: "https://i".into(),
            authorization_endpoint: Some("https://i/a".into()),
            ..Default::default()
        };
        let b = Metadata {
            issuer: "https://i".into(),
            authorization_endpoint: Some("https://i/other".into()),
            token_endpoint: Some("https://i/t".into()),
            authorization_response_iss_parameter_supported: true,
            ..Default::default()
        };
        let m = a.merge(b);
        assert_eq!(m.authorization_endpoint.as_deref(), Some("https://i/a"), "OIDC value wins");
        assert_eq!(m.token_endpoint.as_deref(), Some("https://i/t"), "gap filled from RFC 8414");
        assert!(m.authorization_response_iss_parameter_supported);
    }

    #[tokio::test]
    async fn discovery_of_the_demo_provider_finds_its_endpoints() {
        let demo = pixy_demo::DemoServer::start(0).await.unwrap();
        let http = crate::http::client(std::time::Duration::from_secs(5));
        let meta = discover(&http, demo.issuer()).await.unwrap();
        assert_eq!(meta.issuer, demo.issuer());
        assert!(meta.token_endpoint.unwrap().starts_with(demo.issuer()));
        assert!(meta.authorization_response_iss_parameter_supported);
    }

    #[tokio::test]
    async fn an_unreachable_issuer_is_a_network_error() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let http = crate::http::client(std::time::Duration::from_secs(5));
        let err = discover(&http, &format!("http://127.0.0.1:{port}")).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Network, "{}", err.message);
    }
}
