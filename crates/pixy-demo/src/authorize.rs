//! The authorization endpoint: `GET /authorize` shows the approve/deny page, `POST /authorize/decision` answers it.
//!
//! Invariants:
//! - The browser is never sent to a redirect URI that was not validated: an unknown client or a redirect URI that
//!   is not `http` on a loopback host (127.0.0.1, localhost, [::1]) with a port gets a 400 page (RFC 6749
//!   §4.1.2.1). Every other problem goes back to the app as an error redirect.
//! - PKCE S256 is required, with a 43-character base64url challenge (RFC 7636 §4.2, RFC 9700 §2.1.1).
//! - Every authorization response, success or error, carries `iss` (RFC 9207) and echoes `state`.
//! - A pending request is answered once: its id is a 256-bit secret shown only on its own page, which also makes
//!   a forged cross-site decision post useless.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use url::{Host, Url};

use crate::form::Params;
use crate::pages::{self, Consent};
use crate::reply::{self, Reply};
use crate::store::{Now, Pending};
use crate::token::SCOPES_SUPPORTED;
use crate::{Provider, DEMO_CLIENT_ID};

/// The scope granted when a request names none (RFC 6749 §3.3 lets the server choose a default).
const DEFAULT_SCOPE: &str = "openid profile email";

/// `GET /authorize`
pub(crate) fn ask(provider: &Provider, query: Option<&str>) -> Reply {
    let params = match Params::from_query(query) {
        Ok(params) => params,
        Err(error) => return bad_request("This sign-in link is not valid", error.description()),
    };
    if params.get("client_id") != Some(DEMO_CLIENT_ID) {
        tracing::debug!(has_client_id = params.get("client_id").is_some(), "authorize: unknown client");
        return bad_request(
            "Unknown app",
            &format!("The Pixy demo provider only knows the app \"{DEMO_CLIENT_ID}\", and this request names another."),
        );
    }
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return bad_request("This sign-in link is not valid", "It does not say where to send you back (redirect_uri).");
    };
    let Some(redirect) = loopback_redirect(redirect_uri) else {
        tracing::debug!("authorize: redirect_uri is not a loopback http URI with a port");
        return bad_request(
            "This sign-in link is not valid",
            &format!(
                "The Pixy demo provider sends you back only to an app on this computer \
                 (http://127.0.0.1, http://localhost or http://[::1] with a port), not to {redirect_uri}."
            ),
        );
    };

    // From here on the redirect URI is trusted, so problems are reported to the app.
    let state = params.get("state");
    let back = |error: &'static str, description: &'static str| {
        error_redirect(&redirect, &provider.issuer, error, description, state)
    };
    if params.get("response_type") != Some("code") {
        return back("unsupported_response_type", "only response_type=code is supported");
    }
    if params.get("code_challenge_method") != Some("S256") {
        return back("invalid_request", "PKCE is required with code_challenge_method=S256");
    }
    let Some(code_challenge) = params.get("code_challenge").filter(|c| is_s256_challenge(c)) else {
        return back("invalid_request", "code_challenge must be 43 characters of base64url");
    };
    let scope = params.get("scope").unwrap_or(DEFAULT_SCOPE);
    let scopes: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
    if scopes.is_empty() || !scopes.iter().all(|s| SCOPES_SUPPORTED.contains(s)) {
        return back("invalid_scope", "scope may hold only openid, profile, email and offline_access");
    }

    let pending = Pending {
        client_id: DEMO_CLIENT_ID.to_string(),
        redirect_uri: redirect_uri.to_string(),
        redirect: redirect.clone(),
        state: state.map(str::to_string),
        nonce: params.get("nonce").map(str::to_string),
        code_challenge: code_challenge.to_string(),
        scope: scopes.join(" "),
    };
    let Some(request_id) = provider.store().add_pending(pending, Now::current()) else {
        return reply::html(
            StatusCode::SERVICE_UNAVAILABLE,
            pages::error("Too many open sign-in pages", "Answer or close some, then try again."),
        );
    };
    tracing::debug!(has_state = state.is_some(), "authorize: showing the approve/deny page");
    reply::html(StatusCode::OK, pages::consent(&Consent { request_id: &request_id, scopes, redirect_uri }))
}

/// `POST /authorize/decision`
pub(crate) async fn decide(provider: &Provider, req: Request<Incoming>) -> Reply {
    let params = match Params::from_body(req).await {
        Ok(params) => params,
        Err(error) => return bad_request("This answer could not be read", error.description()),
    };
    let approve = match params.get("decision") {
        Some("approve") => true,
        Some("deny") => false,
        _ => return bad_request("This answer could not be read", "Choose Approve or Deny."),
    };
    let now = Now::current();
    let mut store = provider.store();
    let Some(pending) = params.get("request").and_then(|id| store.take_pending(id, now)) else {
        tracing::debug!(approve, "authorize: decision for an unknown, answered or expired request");
        return bad_request(
            "This page has expired",
            "It was already answered, or it is too old. Start linking again from Pixy.",
        );
    };
    tracing::debug!(approve, has_state = pending.state.is_some(), "authorize: decision");
    if !approve {
        return error_redirect(
            &pending.redirect,
            &provider.issuer,
            "access_denied",
            "the user denied the request",
            pending.state.as_deref(),
        );
    }
    let mut to = pending.redirect.clone();
    let state = pending.state.clone();
    let code = store.issue_code(pending, now);
    drop(store);
    {
        let mut query = to.query_pairs_mut();
        query.append_pair("code", &code);
        if let Some(state) = &state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", &provider.issuer);
    }
    reply::redirect(&to)
}

/// The parsed redirect URI if it is one the demo may send a browser to: `http`, a loopback host, an explicit port,
/// no credentials and no fragment (RFC 6749 §3.1.2, RFC 8252 §7.3).
pub(crate) fn loopback_redirect(redirect_uri: &str) -> Option<Url> {
    let url = Url::parse(redirect_uri).ok()?;
    let loopback = match url.host()? {
        Host::Ipv4(ip) => ip == std::net::Ipv4Addr::LOCALHOST,
        Host::Ipv6(ip) => ip == std::net::Ipv6Addr::LOCALHOST,
        Host::Domain(name) => name == "localhost",
    };
    let plain = url.username().is_empty() && url.password().is_none() && url.fragment().is_none();
    (url.scheme() == "http" && loopback && url.port().is_some() && plain).then_some(url)
}

/// RFC 7636 §4.2: BASE64URL(SHA-256(verifier)) is 43 characters of the base64url alphabet.
fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43 && challenge.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

fn error_redirect(
    redirect: &Url,
    issuer: &str,
    error: &'static str,
    description: &'static str,
    state: Option<&str>,
) -> Reply {
    tracing::debug!(error, has_state = state.is_some(), "authorize: error response to the app");
    let mut to = redirect.clone();
    {
        let mut query = to.query_pairs_mut();
        query.append_pair("error", error).append_pair("error_description", description);
        if let Some(state) = state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", issuer);
    }
    reply::redirect(&to)
}

fn bad_request(title: &str, message: &str) -> Reply {
    reply::html(StatusCode::BAD_REQUEST, pages::error(title, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirects_with_a_port_are_accepted() {
        for uri in ["http://127.0.0.1:8080/callback", "http://localhost:1/", "http://[::1]:65535/cb?x=1"] {
            assert!(loopback_redirect(uri).is_some(), "{uri} is a loopback redirect RFC 8252 §7.3 allows");
        }
    }

    #[test]
    fn other_redirects_are_refused() {
        for uri in [
            "https://127.0.0.1:8080/callback",  // loopback redirects are plain http
            "http://127.0.0.1/callback",        // a native app's listener always has a port
            "http://example.com:8080/callback", // not this machine
            "http://127.0.0.2:8080/callback",   // not the loopback address RFC 8252 names
            "http://localhost.example:8080/",   // a lookalike name
            "http://user@127.0.0.1:8080/",      // credentials in a redirect are never legitimate
            "http://127.0.0.1:8080/cb#frag",    // RFC 6749 §3.1.2: no fragment
            "com.example.app:/callback",        // private-use schemes are not the demo's business
            "not a url",
        ] {
            assert!(loopback_redirect(uri).is_none(), "{uri} must not be accepted as a redirect");
        }
    }

    #[test]
    fn an_s256_challenge_is_43_base64url_characters() {
        assert!(is_s256_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"), "RFC 7636 appendix B's challenge");
        assert!(!is_s256_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c"), "42 characters is too short");
        assert!(!is_s256_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"), "'+' is not base64url");
    }
}
