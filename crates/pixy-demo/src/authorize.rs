//! The authorization endpoint: `GET /authorize` (also at `/oauth/authorize`, the path some providers use) shows
//! the approve/deny page, `POST /authorize/decision` answers it.
//!
//! Invariants:
//! - The browser is never sent to a redirect URI that was not validated: an unknown client or a redirect URI its
//!   client may not use (clients.rs) gets a 400 page (RFC 6749 §4.1.2.1). Every other problem, including a
//!   parameter the client's shape requires, goes back to the app as an error redirect.
//! - PKCE S256 is required, with a 43-character base64url challenge (RFC 7636 §4.2, RFC 9700 §2.1.1).
//! - Every authorization response, success or error, carries `iss` (RFC 9207) and echoes `state`.
//! - A pending request is answered once: its id is a 256-bit secret shown only on its own page, which also makes
//!   a forged cross-site decision post useless.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use url::Url;

use crate::clients;
use crate::form::Params;
use crate::pages::{self, Consent};
use crate::reply::{self, Reply};
use crate::store::{Now, Pending};
use crate::Provider;

/// The scope granted when a request names none (RFC 6749 §3.3 lets the server choose a default).
const DEFAULT_SCOPE: &str = "openid profile email";

/// `GET /authorize`
pub(crate) fn ask(provider: &Provider, query: Option<&str>) -> Reply {
    let params = match Params::from_query(query) {
        Ok(params) => params,
        Err(error) => return bad_request("This sign-in link is not valid", error.description()),
    };
    let Some(client) = params.get("client_id").and_then(clients::find) else {
        tracing::debug!(has_client_id = params.get("client_id").is_some(), "authorize: unknown client");
        return bad_request(
            "Unknown app",
            &format!(
                "The Pixy demo provider only knows the apps {}, and this request names another.",
                clients::known_ids()
            ),
        );
    };
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return bad_request("This sign-in link is not valid", "It does not say where to send you back (redirect_uri).");
    };
    let Some(redirect) = client.redirect(redirect_uri, &provider.issuer) else {
        tracing::debug!("authorize: redirect_uri is not one this client may use");
        return bad_request(
            "This sign-in link is not valid",
            &format!(
                "The Pixy demo provider sends this app's sign-in back only to {}, not to {redirect_uri}.",
                client.redirect_rule(&provider.issuer)
            ),
        );
    };

    // From here on the redirect URI is trusted, so problems are reported to the app.
    let state = params.get("state");
    let back =
        |error: &'static str, description: &str| error_redirect(&redirect, &provider.issuer, error, description, state);
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
    if scopes.is_empty() || !scopes.iter().all(|s| client.scopes.contains(s)) {
        let description = format!("scope may hold only {}", client.scopes.join(", "));
        return back("invalid_scope", &description);
    }
    if let Some(missing) = client.missing_parameter(&params) {
        tracing::debug!("authorize: a parameter this client's shape requires is missing or wrong");
        return back("invalid_request", &format!("this client's authorization requests must carry {missing}"));
    }
    if client.state_bound && state.is_none() {
        // Its token request must repeat the state, so a request without one could never be exchanged.
        return back("invalid_request", "this client's authorization requests must carry state");
    }

    let pending = Pending {
        client_id: client.id.to_string(),
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

/// RFC 7636 §4.2: BASE64URL(SHA-256(verifier)) is 43 characters of the base64url alphabet.
pub(crate) fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43 && challenge.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

fn error_redirect(redirect: &Url, issuer: &str, error: &'static str, description: &str, state: Option<&str>) -> Reply {
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
    fn an_s256_challenge_is_43_base64url_characters() {
        assert!(is_s256_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"), "RFC 7636 appendix B's challenge");
        assert!(!is_s256_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c"), "42 characters is too short");
        assert!(!is_s256_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"), "'+' is not base64url");
    }
}
