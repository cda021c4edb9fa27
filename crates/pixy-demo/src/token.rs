//! The token endpoint, `POST /token`: the `authorization_code` and `refresh_token` grants for the public clients
//! the demo knows (clients.rs). The same endpoint answers at `/oauth/token` and `/v1/oauth/token`, the paths
//! providers Pixy has presets for use, so a test can keep a preset's path.
//!
//! Invariants:
//! - The body is a form or a JSON object, as `Content-Type` says, and must be the one its client sends: a client
//!   shaped like Claude's sends JSON, the others forms. The other encoding is `invalid_request`.
//! - A code is exchanged only with the redirect URI it was issued for, byte for byte (RFC 6749 §4.1.3), by the
//!   client it was issued to, and with the verifier whose S256 digest is its challenge, compared in constant time
//!   (RFC 7636 §4.6). A client whose shape binds `state` must also repeat the authorization request's state,
//!   compared as a digest in constant time; a missing or wrong one is `invalid_request`. A code is spent by the
//!   first attempt, right or wrong, and lives 60 s.
//! - Refresh rotates: every refresh returns a new refresh token and retires the old one (RFC 9700 §4.14.2).
//! - Errors are RFC 6749 §5.2 JSON with fixed descriptions; replies are `no-store`. Nothing here logs a value.
//!
//! The ID token is JWT-shaped but unsigned (`alg: none`): the demo has no keys, and clients must not trust it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::clients::{self, Client};
use crate::form::{Encoding, Params};
use crate::reply::{self, Reply};
use crate::store::{Issued, Now};
use crate::{Provider, DEMO_CLIENT_ID, DEMO_USER_EMAIL, DEMO_USER_NAME, DEMO_USER_SUB};

/// The scopes the demo grants.
pub(crate) const SCOPES_SUPPORTED: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// `POST /token`, `/oauth/token`, `/v1/oauth/token`
pub(crate) async fn serve(provider: &Provider, req: Request<Incoming>) -> Reply {
    let (params, encoding) = match Params::from_form_or_json(req).await {
        Ok(read) => read,
        Err(error) => return invalid_request(error.description()),
    };
    match params.get("grant_type") {
        Some("authorization_code") => exchange_code(provider, &params, encoding),
        Some("refresh_token") => refresh(provider, &params, encoding),
        Some(_) => error("unsupported_grant_type", "only authorization_code and refresh_token are supported"),
        None => invalid_request("grant_type is missing"),
    }
}

fn exchange_code(provider: &Provider, params: &Params, encoding: Encoding) -> Reply {
    let (Some(code), Some(redirect_uri), Some(client_id), Some(verifier)) =
        (params.get("code"), params.get("redirect_uri"), params.get("client_id"), params.get("code_verifier"))
    else {
        return invalid_request("code, redirect_uri, client_id and code_verifier are required");
    };
    let Some(client) = clients::find(client_id) else {
        return error("invalid_client", "unknown client_id");
    };
    if let Some(refused) = wrong_encoding(client, encoding) {
        return refused;
    }
    let state = params.get("state");
    if client.state_bound && state.is_none() {
        return invalid_request("state is required for this client_id: repeat the authorization request's state");
    }
    if !is_verifier(verifier) {
        return invalid_request("code_verifier must be 43 to 128 unreserved characters");
    }
    let now = Now::current();
    let mut store = provider.store();
    let Some(grant) = store.take_code(code, now) else {
        tracing::debug!(code_known = false, "token: authorization_code refused");
        return error("invalid_grant", "the code is unknown, expired or already used");
    };
    // Checked after the code is taken, so a wrong state spends it like any other wrong attempt.
    if client.state_bound && !state.is_some_and(|state| grant.state_matches(state)) {
        tracing::debug!(state_matches = false, "token: authorization_code refused");
        return invalid_request("state does not match the authorization request's state");
    }
    let redirect_matches = grant.redirect_uri == redirect_uri;
    let client_matches = grant.client_id == client_id;
    let verifier_matches = verifier_matches(verifier, &grant.code_challenge);
    if !(redirect_matches && client_matches && verifier_matches) {
        tracing::debug!(redirect_matches, client_matches, verifier_matches, "token: authorization_code refused");
        return error("invalid_grant", "the code was issued for another redirect_uri, client or code_verifier");
    }
    let issued = store.open_grant(grant, provider.access_token_ttl, now);
    drop(store);
    tracing::debug!(id_token = has_openid(&issued.scope), "token: authorization_code granted");
    tokens(provider, &issued, now)
}

fn refresh(provider: &Provider, params: &Params, encoding: Encoding) -> Reply {
    let Some(refresh_token) = params.get("refresh_token") else {
        return invalid_request("refresh_token is required");
    };
    // A public client may name itself; an absent client_id means Pixy's own, the one the demo is for.
    let Some(client) = clients::find(params.get("client_id").unwrap_or(DEMO_CLIENT_ID)) else {
        return error("invalid_client", "unknown client_id");
    };
    if let Some(refused) = wrong_encoding(client, encoding) {
        return refused;
    }
    let now = Now::current();
    let refreshed = provider.store().refresh(refresh_token, client.id, provider.access_token_ttl, now);
    tracing::debug!(refreshed = refreshed.is_some(), "token: refresh_token");
    match refreshed {
        Some(issued) => tokens(provider, &issued, now),
        None => error("invalid_grant", "the refresh token is unknown, revoked or already used"),
    }
}

/// The RFC 6749 §5.1 reply. Refreshes return an ID token too (OpenID Connect Core §12.2 allows it).
fn tokens(provider: &Provider, issued: &Issued, now: Now) -> Reply {
    let ttl = provider.access_token_ttl;
    // Round up, so a sub-second test lifetime is not announced as already expired.
    let expires_in = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    let mut body = json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "refresh_token": issued.refresh_token,
        "scope": issued.scope,
    });
    if has_openid(&issued.scope) {
        body["id_token"] = id_token(&provider.issuer, issued, now, expires_in).into();
    }
    if clients::find(&issued.client_id).is_some_and(|c| c.account_in_token_response) {
        body["account"] = json!({ "uuid": DEMO_USER_SUB, "email_address": DEMO_USER_EMAIL });
    }
    reply::json(StatusCode::OK, &body)
}

/// `base64url(header).base64url(claims).` with an empty signature: the JWS compact form of `alg: none`.
fn id_token(issuer: &str, issued: &Issued, now: Now, expires_in: u64) -> String {
    let header = json!({ "alg": "none", "typ": "JWT" });
    let mut claims = json!({
        "iss": issuer,
        "sub": DEMO_USER_SUB,
        "aud": issued.client_id,
        "email": DEMO_USER_EMAIL,
        "name": DEMO_USER_NAME,
        "iat": now.unix,
        "exp": now.unix + expires_in,
    });
    if let Some(nonce) = &issued.nonce {
        claims["nonce"] = nonce.as_str().into();
    }
    let encode = |value: &serde_json::Value| URL_SAFE_NO_PAD.encode(value.to_string());
    format!("{}.{}.", encode(&header), encode(&claims))
}

/// The refusal of a body in the encoding `client` does not send, if it is one.
fn wrong_encoding(client: &Client, encoding: Encoding) -> Option<Reply> {
    if client.token_body == encoding {
        return None;
    }
    tracing::debug!(?encoding, "token: body in the wrong encoding for its client");
    Some(invalid_request(match client.token_body {
        Encoding::Form => "this client_id's token requests must be application/x-www-form-urlencoded",
        Encoding::Json => "this client_id's token requests must be application/json",
    }))
}

fn has_openid(scope: &str) -> bool {
    scope.split(' ').any(|s| s == "openid")
}

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`.
pub(crate) fn is_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~'))
}

/// RFC 7636 §4.6, compared in constant time so response timing says nothing about how close a guess was.
pub(crate) fn verifier_matches(verifier: &str, challenge: &str) -> bool {
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    computed.as_bytes().ct_eq(challenge.as_bytes()).into()
}

fn error(code: &'static str, description: &'static str) -> Reply {
    reply::oauth_error(StatusCode::BAD_REQUEST, code, description)
}

fn invalid_request(description: &'static str) -> Reply {
    error("invalid_request", description)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_7636_example_verifier_matches_its_challenge() {
        assert!(
            verifier_matches(
                "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
            ),
            "RFC 7636 appendix B: this verifier's S256 challenge is this value"
        );
        assert!(
            !verifier_matches(
                "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
            ),
            "one changed character must not match"
        );
    }

    #[test]
    fn verifiers_outside_rfc_7636_are_refused() {
        assert!(is_verifier(&"a".repeat(43)) && is_verifier(&"~".repeat(128)), "43 and 128 characters are the bounds");
        assert!(!is_verifier(&"a".repeat(42)), "42 characters is too short");
        assert!(!is_verifier(&"a".repeat(129)), "129 characters is too long");
        assert!(!is_verifier(&format!("{}+", "a".repeat(42))), "'+' is not an unreserved character");
    }
}
