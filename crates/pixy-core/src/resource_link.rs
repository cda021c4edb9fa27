//! The chain that turns a protected resource's URL into an authorization server to link with:
//! the resource's challenge, its metadata (checked to speak for the URL), the authorization
//! server's metadata (S256 required), and the scopes to ask for. Each step's result is kept as a
//! [`Step`], so a person can see where a link fails (`pixy link URL --explain`).
//!
//! An MCP server of the 2025-03-26 specification publishes no resource metadata: its own origin
//! is its authorization server, whose metadata is at the origin's RFC 8414 address (its `issuer`
//! may name a path under the origin, as that specification's examples do) or, without any, at
//! the default paths `/authorize`, `/token` and `/register`.

use serde::{Deserialize, Serialize};

use crate::challenge::{self, Challenge};
use crate::discovery::{discover_authorization_server, Metadata};
use crate::error::{redact_url, Error, ErrorKind, Result};
use crate::resource::{check_speaks_for, find_metadata, probe};

/// One step of the chain and how it went, in words that hold no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Which step: `resource`, `resource metadata`, `authorization server`, `registration`, `scopes`.
    pub step: String,
    /// Whether it went through.
    pub ok: bool,
    /// What it found, or why it failed.
    pub detail: String,
}

/// Where a resource's tokens come from.
#[derive(Debug, Clone)]
pub struct Chain {
    /// The resource identifier the tokens are asked for (RFC 8707): the metadata's `resource`,
    /// or the URL itself for a server without metadata.
    pub resource: String,
    /// Where the resource metadata was, if there is any.
    pub metadata_url: Option<String>,
    /// The authorization server's metadata (for a server without any, its default endpoints).
    pub authorization_server: Metadata,
    /// The scopes the resource's challenge asks for.
    pub challenge_scopes: Option<Vec<String>>,
    /// The scopes the resource metadata lists.
    pub resource_scopes: Vec<String>,
}

impl Chain {
    /// The scopes to ask for: the challenge's, else the resource metadata's, else none; with
    /// those already held (a step-up keeps them); `offline_access` added when the authorization
    /// server lists it, and only then.
    pub fn scopes(&self, held: &[String]) -> Vec<String> {
        let asked = match &self.challenge_scopes {
            Some(scopes) if !scopes.is_empty() => scopes.clone(),
            _ => self.resource_scopes.clone(),
        };
        let offline = self.authorization_server.scopes_supported.iter().any(|s| s == OFFLINE_ACCESS);
        let mut scopes: Vec<String> = Vec::new();
        for scope in held.iter().chain(&asked) {
            if !scopes.contains(scope) && (scope != OFFLINE_ACCESS || offline) {
                scopes.push(scope.clone());
            }
        }
        if offline && !scopes.iter().any(|s| s == OFFLINE_ACCESS) {
            scopes.push(OFFLINE_ACCESS.to_string());
        }
        scopes
    }

    /// Where [`Chain::scopes`] took them from, for the explanation.
    pub fn scopes_source(&self) -> &'static str {
        match &self.challenge_scopes {
            Some(scopes) if !scopes.is_empty() => "from the server's challenge",
            _ if !self.resource_scopes.is_empty() => "from the resource metadata",
            _ => "the server names none",
        }
    }
}

const OFFLINE_ACCESS: &str = "offline_access";

/// Runs the chain for `url`, with the challenge a client already received (`WWW-Authenticate`)
/// or, without one, the resource's own answer to a probe. Steps go to `step` as they finish.
pub async fn discover(
    http: &reqwest::Client,
    url: &str,
    www_authenticate: Option<&str>,
    step: &mut (dyn FnMut(Step) + Send),
) -> Result<Chain> {
    let mut say = |name: &str, result: std::result::Result<String, &Error>| {
        let (ok, detail) = match result {
            Ok(detail) => (true, detail),
            Err(e) => (false, e.message.clone()),
        };
        step(Step { step: name.to_string(), ok, detail });
    };
    let given = www_authenticate.map(|h| challenge::parse(h).unwrap_or_default());
    let (challenge, protected) = match given {
        Some(challenge) => {
            say("resource", Ok("the challenge your client received was used".into()));
            (Some(challenge), true)
        }
        None => match probe(http, url).await {
            Ok(p) => {
                let detail = match (p.status, &p.challenge) {
                    (401, Some(_)) => "it asks for sign-in (401 with a Bearer challenge)".to_string(),
                    (401, None) => "it asks for sign-in (401, without a challenge)".to_string(),
                    (status, _) => format!("it answered {status} without asking for sign-in"),
                };
                say("resource", Ok(detail));
                (p.challenge, p.status == 401)
            }
            Err(e) => {
                say("resource", Err(&e));
                return Err(e);
            }
        },
    };
    let found = match find_metadata(http, url, challenge.as_ref()).await {
        Ok(found) => found,
        Err(e) => {
            say("resource metadata", Err(&e));
            return Err(e);
        }
    };
    let challenge_scopes = challenge.as_ref().and_then(|c: &Challenge| c.scopes.clone());
    let Some(metadata) = found.metadata else {
        if !protected {
            let e = Error::new(
                ErrorKind::Discovery,
                format!(
                    "{} does not ask for sign-in and publishes no resource metadata: there is nothing to link",
                    redact_url(url)
                ),
            );
            say("resource metadata", Err(&e));
            return Err(e);
        }
        say(
            "resource metadata",
            Ok("none: a server of the 2025-03-26 MCP specification, whose origin is its authorization server".into()),
        );
        let authorization_server = match legacy_authorization_server(http, url).await {
            Ok((meta, how)) => {
                say("authorization server", Ok(how));
                meta
            }
            Err(e) => {
                say("authorization server", Err(&e));
                return Err(e);
            }
        };
        return Ok(Chain {
            resource: url.to_string(),
            metadata_url: None,
            authorization_server,
            challenge_scopes,
            resource_scopes: Vec::new(),
        });
    };
    if let Err(e) = check_speaks_for(&metadata, url) {
        say("resource metadata", Err(&e));
        return Err(e);
    }
    let Some(issuer) = metadata.authorization_servers.first().cloned() else {
        let e = Error::new(
            ErrorKind::Discovery,
            format!("the resource metadata at {} names no authorization server", redact_url(&found.url)),
        );
        say("resource metadata", Err(&e));
        return Err(e);
    };
    say(
        "resource metadata",
        Ok(format!(
            "at {}: resource {}, authorization server {}",
            redact_url(&found.url),
            crate::text::printable(&metadata.resource, 200),
            crate::text::printable(&redact_url(&issuer), 200)
        )),
    );
    let authorization_server = match authorization_server(http, &issuer).await {
        Ok(meta) => meta,
        Err(e) => {
            say("authorization server", Err(&e));
            return Err(e);
        }
    };
    say("authorization server", Ok(describe(&authorization_server)));
    Ok(Chain {
        resource: metadata.resource,
        metadata_url: Some(found.url),
        authorization_server,
        challenge_scopes,
        resource_scopes: metadata.scopes_supported,
    })
}

/// The metadata of the authorization server a resource named, which must list PKCE S256.
async fn authorization_server(http: &reqwest::Client, issuer: &str) -> Result<Metadata> {
    let meta = discover_authorization_server(http, issuer).await?.ok_or_else(|| {
        Error::new(
            ErrorKind::Discovery,
            format!("the authorization server {} publishes no metadata", redact_url(issuer)),
        )
    })?;
    if meta.authorization_endpoint.is_none() || meta.token_endpoint.is_none() {
        return Err(Error::new(
            ErrorKind::Discovery,
            format!("the metadata of {} has no authorization or token endpoint", redact_url(issuer)),
        ));
    }
    if !meta.code_challenge_methods_supported.iter().any(|m| m == crate::pkce::CHALLENGE_METHOD) {
        return Err(Error::new(
            ErrorKind::Discovery,
            format!(
                "the authorization server {} does not list PKCE S256 in its metadata; Pixy does not link without it",
                redact_url(issuer)
            ),
        ));
    }
    Ok(meta)
}

/// A 2025-03-26 server's authorization server: its origin's RFC 8414 metadata, else the default
/// endpoints there.
async fn legacy_authorization_server(http: &reqwest::Client, url: &str) -> Result<(Metadata, String)> {
    let origin = url::Url::parse(url)
        .map_err(|_| Error::new(ErrorKind::InvalidRequest, "the resource is not a valid URL"))?
        .origin()
        .ascii_serialization();
    let metadata_url = format!("{origin}/.well-known/oauth-authorization-server");
    let Some(body) = crate::http::get_document(http, "authorization server metadata", &metadata_url).await? else {
        let meta = Metadata {
            issuer: origin.clone(),
            authorization_endpoint: Some(format!("{origin}/authorize")),
            token_endpoint: Some(format!("{origin}/token")),
            registration_endpoint: Some(format!("{origin}/register")),
            ..Metadata::default()
        };
        return Ok((meta, format!("no metadata at {origin}: its default endpoints there")));
    };
    let meta: Metadata = serde_json::from_slice(&body).map_err(|_| {
        Error::new(ErrorKind::Discovery, format!("{} is not valid metadata", redact_url(&metadata_url)))
    })?;
    // Its issuer may name a path under the origin (the specification's examples do), but nothing
    // in it may speak for another server: registrations and their secrets are kept by issuer.
    let here = |url: &str| url::Url::parse(url).is_ok_and(|u| u.origin().ascii_serialization() == origin);
    let endpoints =
        [&meta.authorization_endpoint, &meta.token_endpoint, &meta.registration_endpoint, &meta.revocation_endpoint];
    if !here(&meta.issuer) || !endpoints.into_iter().flatten().all(|endpoint| here(endpoint)) {
        return Err(Error::new(
            ErrorKind::Discovery,
            format!("the metadata at {} names another server, refusing it", redact_url(&metadata_url)),
        ));
    }
    if meta.authorization_endpoint.is_none() || meta.token_endpoint.is_none() {
        return Err(Error::new(
            ErrorKind::Discovery,
            format!("the metadata at {} has no authorization or token endpoint", redact_url(&metadata_url)),
        ));
    }
    let methods = &meta.code_challenge_methods_supported;
    if !methods.is_empty() && !methods.iter().any(|m| m == crate::pkce::CHALLENGE_METHOD) {
        return Err(Error::new(
            ErrorKind::Discovery,
            format!("the authorization server at {origin} does not support PKCE S256; Pixy does not link without it"),
        ));
    }
    let how = format!("{} (metadata at {})", describe(&meta), redact_url(&metadata_url));
    Ok((meta, how))
}

/// What an authorization server's metadata offers, in words.
fn describe(meta: &Metadata) -> String {
    let yes = |b: bool| if b { "yes" } else { "no" };
    format!(
        "{}: PKCE S256 yes, iss in responses (RFC 9207) {}, dynamic registration {}, client metadata documents {}",
        crate::text::printable(&redact_url(&meta.issuer), 200),
        yes(meta.authorization_response_iss_parameter_supported),
        yes(meta.registration_endpoint.is_some()),
        yes(meta.client_id_metadata_document_supported),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(challenge: Option<&[&str]>, resource: &[&str], server: &[&str]) -> Chain {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Chain {
            resource: "https://h/mcp".into(),
            metadata_url: None,
            authorization_server: Metadata { scopes_supported: strings(server), ..Default::default() },
            challenge_scopes: challenge.map(strings),
            resource_scopes: strings(resource),
        }
    }

    #[test]
    fn scopes_come_from_the_challenge_then_the_metadata_then_nowhere() {
        assert_eq!(chain(Some(&["a"]), &["b", "c"], &[]).scopes(&[]), ["a"]);
        assert_eq!(chain(None, &["b", "c"], &[]).scopes(&[]), ["b", "c"]);
        assert_eq!(chain(Some(&[]), &["b"], &[]).scopes(&[]), ["b"], "an empty challenge scope says nothing");
        assert!(chain(None, &[], &[]).scopes(&[]).is_empty(), "no scope is sent when none is named");
    }

    #[test]
    fn offline_access_is_asked_for_only_where_the_server_lists_it() {
        assert_eq!(chain(None, &["mcp"], &["mcp", "offline_access"]).scopes(&[]), ["mcp", "offline_access"]);
        assert_eq!(chain(None, &["mcp", "offline_access"], &["mcp"]).scopes(&[]), ["mcp"]);
    }

    #[test]
    fn a_step_up_keeps_the_scopes_already_held() {
        let held = ["mcp:basic".to_string()];
        assert_eq!(chain(Some(&["mcp:basic", "mcp:write"]), &[], &[]).scopes(&held), ["mcp:basic", "mcp:write"]);
        assert_eq!(chain(Some(&["mcp:write"]), &[], &[]).scopes(&held), ["mcp:basic", "mcp:write"]);
    }
}
