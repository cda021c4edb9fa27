//! Protected resources (RFC 9728), such as MCP servers: probing one, reading its metadata and
//! checking that the metadata speaks for it.
//!
//! The probe is what the resource's protocol expects: for an MCP server, a POST of `initialize`.
//! A 401 names the metadata (`resource_metadata`) and the scopes; without one, the well-known
//! document is read, the path form first and then the root.
//!
//! Security: every URL read here came from a server, so each gets the endpoint rules
//! ([`crate::http::check_endpoint`]: https or a loopback host), no redirect is followed, and
//! bodies are capped. Metadata whose `resource` is not the URL asked for is refused before any
//! authorization request is made: it may be another server's metadata, and a token for that
//! server would be asked for in this one's name.

use serde::Deserialize;

use crate::challenge::{self, Challenge};
use crate::error::{redact_url, Error, ErrorKind, Result};
use crate::http::{check_endpoint, get_document, network_error};

/// The protocol version an MCP probe announces.
pub const MCP_PROTOCOL_VERSION: &str = "2025-11-25";

/// The fields of RFC 9728 resource metadata Pixy uses.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct ResourceMetadata {
    /// The resource's identifier: its URL.
    pub resource: String,
    /// The authorization servers that issue tokens for it.
    #[serde(default)]
    pub authorization_servers: Vec<String>,
    /// The scopes it knows.
    #[serde(default)]
    pub scopes_supported: Vec<String>,
}

/// What the probe of a resource found.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// The Bearer challenge of its 401, if it sent one.
    pub challenge: Option<Challenge>,
    /// The HTTP status it answered.
    pub status: u16,
}

/// Where the metadata came from and what it says.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// The metadata document's URL.
    pub url: String,
    /// `None` when the resource has no metadata at all (an MCP server of the 2025-03-26
    /// specification, whose own origin is its authorization server).
    pub metadata: Option<ResourceMetadata>,
}

/// Whether a link target is a resource's URL rather than a provider or account name.
pub fn is_resource_url(target: &str) -> bool {
    let lower = target.trim_start().get(..8).unwrap_or(target).to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

/// POSTs an MCP `initialize` without a token and reads the answer's challenge.
pub async fn probe(http: &reqwest::Client, url: &str) -> Result<Probe> {
    let parsed = check_endpoint("resource", url).map_err(|e| Error::new(ErrorKind::InvalidRequest, e.message))?;
    if parsed.fragment().is_some() {
        // RFC 8707: a resource identifier has no fragment.
        return Err(Error::new(ErrorKind::InvalidRequest, "a server's address cannot have a #fragment"));
    }
    let initialize = serde_json::json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": MCP_PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": { "name": "pixy", "version": env!("CARGO_PKG_VERSION") },
        },
    });
    let resp = http
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .json(&initialize)
        .send()
        .await
        .map_err(|e| network_error("the request to the server", url, &e))?;
    let status = resp.status().as_u16();
    let challenge = resp
        .headers()
        .get_all(reqwest::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(challenge::parse);
    Ok(Probe { challenge, status })
}

/// The RFC 9728 well-known URLs of a resource: the path form (when it has a path), then the root.
pub fn well_known_urls(resource: &str) -> Result<Vec<String>> {
    let url = url::Url::parse(resource)
        .map_err(|_| Error::new(ErrorKind::InvalidRequest, "the resource is not a valid URL"))?;
    let root = format!("{}/.well-known/oauth-protected-resource", url.origin().ascii_serialization());
    let path = url.path().trim_end_matches('/');
    Ok(if path.is_empty() { vec![root] } else { vec![format!("{root}{path}"), root] })
}

/// Finds the metadata of `resource`: at the URL its challenge names, else at the well-known URLs.
/// `None` as metadata when no document exists and the server named none.
pub async fn find_metadata(http: &reqwest::Client, resource: &str, challenge: Option<&Challenge>) -> Result<Found> {
    if let Some(named) = challenge.and_then(|c| c.resource_metadata.as_deref()) {
        let metadata = fetch(http, named).await?.ok_or_else(|| {
            Error::new(
                ErrorKind::Discovery,
                format!("the server named its resource metadata at {}, but nothing is there", redact_url(named)),
            )
        })?;
        return Ok(Found { url: named.to_string(), metadata: Some(metadata) });
    }
    let urls = well_known_urls(resource)?;
    for url in &urls {
        if let Some(metadata) = fetch(http, url).await? {
            return Ok(Found { url: url.clone(), metadata: Some(metadata) });
        }
    }
    Ok(Found { url: urls[0].clone(), metadata: None })
}

/// Reads one metadata document: `None` when there is none.
async fn fetch(http: &reqwest::Client, url: &str) -> Result<Option<ResourceMetadata>> {
    let Some(body) = get_document(http, "resource metadata", url).await? else { return Ok(None) };
    let metadata = serde_json::from_slice(&body).map_err(|_| {
        Error::new(
            ErrorKind::Discovery,
            format!("the resource metadata at {} is not valid JSON resource metadata", redact_url(url)),
        )
    })?;
    Ok(Some(metadata))
}

/// Whether metadata naming `named` speaks for the URL `asked`: the same origin, and the same
/// path or a parent of it at a `/` boundary (a server's metadata may name its root). A trailing
/// slash is no difference.
pub fn speaks_for(named: &str, asked: &str) -> bool {
    // The URL parser drops tabs and newlines: a value holding any is not the one it would check.
    if named.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return false;
    }
    let (Ok(named), Ok(asked)) = (url::Url::parse(named), url::Url::parse(asked)) else {
        return false;
    };
    if named.origin() != asked.origin() || named.query().is_some() || named.fragment().is_some() {
        return false;
    }
    let named_path = named.path().trim_end_matches('/');
    let asked_path = asked.path().trim_end_matches('/');
    asked_path == named_path || asked_path.strip_prefix(named_path).is_some_and(|rest| rest.starts_with('/'))
}

/// Refuses metadata that does not speak for the resource asked for.
pub fn check_speaks_for(metadata: &ResourceMetadata, asked: &str) -> Result<()> {
    if speaks_for(&metadata.resource, asked) {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Discovery,
        format!(
            "the server's metadata is for another resource ({}, not {}); Pixy stopped before asking for any sign-in",
            crate::text::printable(&redact_url(&metadata.resource), 200),
            redact_url(asked)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resource_url_is_told_from_a_name_whatever_its_case() {
        assert!(is_resource_url("https://h.example/mcp") && is_resource_url("HTTP://h.example"));
        assert!(!is_resource_url("demo") && !is_resource_url("https") && !is_resource_url("h.example/mcp"));
    }

    #[test]
    fn well_known_urls_try_the_path_form_first_then_the_root() {
        assert_eq!(
            well_known_urls("https://mcp.example.com/tools/mcp").unwrap(),
            [
                "https://mcp.example.com/.well-known/oauth-protected-resource/tools/mcp",
                "https://mcp.example.com/.well-known/oauth-protected-resource"
            ]
        );
        assert_eq!(
            well_known_urls("https://mcp.example.com/").unwrap(),
            ["https://mcp.example.com/.well-known/oauth-protected-resource"]
        );
    }

    #[test]
    fn metadata_speaks_for_its_own_url_or_a_path_below_it() {
        assert!(speaks_for("https://h.example/mcp", "https://h.example/mcp"));
        assert!(speaks_for("https://h.example/mcp/", "https://h.example/mcp"));
        assert!(speaks_for("https://h.example/", "https://h.example/mcp"), "a server's root speaks for its paths");
        assert!(!speaks_for("https://h.example/mc", "https://h.example/mcp"), "only at a / boundary");
        assert!(!speaks_for("https://h.example/mcp/a", "https://h.example/mcp"), "not a path below");
        assert!(!speaks_for("https://evil.example/mcp", "https://h.example/mcp"));
        assert!(!speaks_for("http://h.example/mcp", "https://h.example/mcp"), "the scheme counts");
        assert!(!speaks_for("https://h.example:8443/mcp", "https://h.example/mcp"), "the port counts");
        assert!(!speaks_for("not a url", "https://h.example/mcp"));
        assert!(!speaks_for("https://h.example/m\tcp", "https://h.example/mcp"), "what the parser drops counts");
    }

    #[test]
    fn a_mismatch_is_refused_in_words_that_name_both() {
        let meta = ResourceMetadata { resource: "https://other.example/mcp".into(), ..Default::default() };
        let err = check_speaks_for(&meta, "https://h.example/mcp").unwrap_err();
        assert_eq!(err.kind, ErrorKind::Discovery);
        assert!(err.message.contains("other.example") && err.message.contains("h.example"), "{}", err.message);
    }
}
