//! The Grantex API: an OAuth-like protocol in which a developer's app asks a person (the principal) to delegate a
//! grant to an AI agent, reproduced in the shape of Grantex's auth-service and its SDKs so Pixy's Grantex support
//! can be tested end to end. The browser side (the consent page) is in grantex_consent.rs, the grant tokens and
//! the JWKS in grantex_jwt.rs, the state in grantex_store.rs.
//!
//! - `POST /v1/authorize` `{agentId, principalId, scopes, redirectUri, state, codeChallenge,
//!   codeChallengeMethod}` → 201 `{authRequestId, consentUrl, expiresAt}`; a sandbox developer's answer also
//!   carries `sandbox: true` and an already approved `code`.
//! - `POST /v1/token` `{code, agentId, codeVerifier, redirectUri?}` → 201 `{grantToken, expiresAt, scopes,
//!   refreshToken, grantId}`.
//! - `POST /v1/token/refresh` `{refreshToken, agentId}` with an `Idempotency-Key` header → 201, the same shape.
//! - `DELETE /v1/grants/{grantId}` → 204.
//!
//! Invariants:
//! - Every call carries `Authorization: Bearer <developer API key>`, checked first and in constant time: only
//!   [`GRANTEX_API_KEY`] and [`GRANTEX_SANDBOX_API_KEY`] are known. Bodies are JSON objects with camelCase keys,
//!   capped like every body here (form.rs).
//! - Every error is `{message, code, requestId}` with the request id also in `x-request-id`; messages are fixed
//!   text and never hold a value the caller sent (no code, token, verifier, state or key).
//! - PKCE S256 is required; `state` must be 32 to 1024 characters; the production-like developer may send the
//!   browser back only to its registered page, the demo's Grantex code page (standing in for the registered https
//!   page a real deployment needs, since the demo serves plain http on 127.0.0.1), and a loopback redirect is
//!   refused for it as it is in production; the sandbox developer may also use any loopback redirect with a port.
//! - The server does not check `state` at the token endpoint, as in Grantex: the client must.
//!
//! Logs carry booleans and which developer called, never a value from a body or a header.

use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION};
use hyper::{Request, StatusCode};
use serde_json::{json, Map, Value};
use subtle::ConstantTimeEq;

use crate::authorize::is_s256_challenge;
use crate::clients::loopback_redirect;
use crate::form::{self, FormError};
use crate::grantex_jwt::{self, GrantClaims, Signing};
use crate::grantex_store::{AuthRequest, Developer, Exchange, Issued};
use crate::reply::{self, Reply};
use crate::store::{Key, Now};
use crate::Provider;

/// The production-like developer's API key: redirects only to the registered code page
/// ([`crate::DemoServer::grantex_code_page_uri`]), consent in the browser.
pub const GRANTEX_API_KEY: &str = "demo-grantex-key";

/// The sandbox developer's API key: loopback redirects too, and requests approved at once (the answer carries the
/// code, as Grantex's sandbox does).
pub const GRANTEX_SANDBOX_API_KEY: &str = "demo-grantex-sandbox-key";

/// The one agent the demo knows, registered for both developers.
pub const GRANTEX_AGENT_ID: &str = "ag_demo_agent";

/// The DID of [`GRANTEX_AGENT_ID`], the grant tokens' agent claim.
pub const GRANTEX_AGENT_DID: &str = "did:grantex:ag_demo_agent";

/// The Grantex code page's path: the registered redirect URI of the production-like developer.
pub(crate) const CODE_PAGE_PATH: &str = "/grantex/code";

/// The consent page's path: `GET` shows it, `POST` answers it.
pub(crate) const CONSENT_PATH: &str = "/grantex/consent";

/// The JWKS that verifies grant tokens.
pub(crate) const JWKS_PATH: &str = "/.well-known/jwks.json";

/// The grants' path, followed by a grant id.
pub(crate) const GRANTS_PREFIX: &str = "/v1/grants/";

/// The shortest `state` accepted: 32 characters, as Grantex asks.
const MIN_STATE: usize = 32;
/// The longest `state` accepted.
const MAX_STATE: usize = 1024;
/// The longest principal id, scope or redirect URI, and the most scopes, accepted: bounds on what is kept.
const MAX_FIELD: usize = 2048;
const MAX_SCOPES: usize = 64;

/// The Grantex code page's address for a server at `issuer`.
pub(crate) fn code_page_uri(issuer: &str) -> String {
    format!("{issuer}{CODE_PAGE_PATH}")
}

/// An error answer. Its message is fixed text.
#[derive(Debug)]
struct Failure {
    status: StatusCode,
    code: &'static str,
    message: &'static str,
}

impl Failure {
    fn bad_request(message: &'static str) -> Failure {
        Failure { status: StatusCode::BAD_REQUEST, code: "BAD_REQUEST", message }
    }

    fn of_body(error: FormError) -> Failure {
        let (status, code) = match error {
            FormError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
            FormError::NotJson => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE"),
            _ => (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
        };
        Failure { status, code, message: error.description() }
    }
}

/// `POST /v1/authorize`
pub(crate) async fn authorize(provider: &Provider, req: Request<Incoming>) -> Reply {
    answer(authorize_call(provider, req).await)
}

/// `POST /v1/token`
pub(crate) async fn token(provider: &Provider, req: Request<Incoming>) -> Reply {
    answer(token_call(provider, req).await)
}

/// `POST /v1/token/refresh`
pub(crate) async fn refresh(provider: &Provider, req: Request<Incoming>) -> Reply {
    answer(refresh_call(provider, req).await)
}

/// `DELETE /v1/grants/{grantId}`
pub(crate) fn revoke(provider: &Provider, req: &Request<Incoming>, grant_id: &str) -> Reply {
    answer(revoke_call(provider, req, grant_id))
}

/// The reply, with a fresh request id in `x-request-id` and, for an error, in the body.
fn answer(result: Result<Reply, Failure>) -> Reply {
    let request_id = crate::grantex_store::new_id("req");
    let mut reply = match result {
        Ok(reply) => reply,
        Err(failure) => {
            tracing::debug!(status = failure.status.as_u16(), code = failure.code, "grantex: refused");
            let body = json!({ "message": failure.message, "code": failure.code, "requestId": request_id });
            reply::json(failure.status, &body)
        }
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        reply.headers_mut().insert("x-request-id", value);
    }
    reply
}

async fn authorize_call(provider: &Provider, req: Request<Incoming>) -> Result<Reply, Failure> {
    let developer = developer(&req)?;
    let body = form::json_object(req).await.map_err(Failure::of_body)?;
    let agent_id = string(&body, "agentId").ok_or(Failure::bad_request("agentId is required"))?;
    if agent_id != GRANTEX_AGENT_ID {
        return Err(Failure::bad_request("agentId is not an agent of this developer"));
    }
    let principal_id = string(&body, "principalId")
        .filter(|p| p.len() <= MAX_FIELD)
        .ok_or(Failure::bad_request("principalId is required"))?;
    let scopes = scopes(&body).ok_or(Failure::bad_request("scopes must be a non-empty array of strings"))?;
    if string(&body, "codeChallengeMethod") != Some("S256") {
        return Err(Failure::bad_request("codeChallengeMethod must be S256"));
    }
    let code_challenge = string(&body, "codeChallenge")
        .filter(|c| is_s256_challenge(c))
        .ok_or(Failure::bad_request("codeChallenge must be 43 characters of base64url"))?;
    let state = string(&body, "state").unwrap_or("");
    let state_length = state.chars().count();
    if state_length < MIN_STATE {
        let message = "state must be at least 32 characters";
        return Err(Failure { status: StatusCode::BAD_REQUEST, code: "STATE_REQUIRED", message });
    }
    if state_length > MAX_STATE {
        return Err(Failure::bad_request("state must be at most 1024 characters"));
    }
    let redirect_uri = string(&body, "redirectUri").ok_or(Failure::bad_request("redirectUri is required"))?;
    let code_page = code_page_uri(&provider.issuer);
    let loopback = loopback_redirect(redirect_uri);
    let redirect = if redirect_uri == code_page {
        url::Url::parse(redirect_uri).ok()
    } else if developer == Developer::Sandbox {
        loopback
    } else if loopback.is_some() {
        let message = "redirectUri must be a registered https URL; loopback redirects are refused in production";
        return Err(Failure { status: StatusCode::BAD_REQUEST, code: "INVALID_REDIRECT_URI", message });
    } else {
        None
    };
    let Some(redirect) = redirect else {
        let message = "redirectUri is not registered for this developer";
        return Err(Failure { status: StatusCode::BAD_REQUEST, code: "INVALID_REDIRECT_URI", message });
    };

    let request = AuthRequest {
        developer,
        agent_id: agent_id.to_string(),
        principal_id: principal_id.to_string(),
        scopes,
        redirect_uri: redirect_uri.to_string(),
        redirect,
        state: state.to_string(),
        code_challenge: code_challenge.to_string(),
    };
    let Some(opened) = provider.grantex_store().open(request, Now::current()) else {
        let message = "too many open authorization requests; try again later";
        return Err(Failure { status: StatusCode::TOO_MANY_REQUESTS, code: "TOO_MANY_REQUESTS", message });
    };
    tracing::debug!(?developer, has_code = opened.code.is_some(), "grantex: authorization request opened");
    // The id is `areq_` and base64url: nothing in it needs escaping in a query.
    let consent_url = format!("{}{CONSENT_PATH}?req={}", provider.issuer, opened.id);
    let mut body = json!({
        "authRequestId": opened.id,
        "consentUrl": consent_url,
        "expiresAt": iso8601(opened.expires_at),
    });
    if let Some(code) = opened.code {
        body["sandbox"] = true.into();
        body["code"] = code.into();
    }
    Ok(reply::json(StatusCode::CREATED, &body))
}

async fn token_call(provider: &Provider, req: Request<Incoming>) -> Result<Reply, Failure> {
    let developer = developer(&req)?;
    let body = form::json_object(req).await.map_err(Failure::of_body)?;
    let (Some(code), Some(agent_id)) = (string(&body, "code"), string(&body, "agentId")) else {
        return Err(Failure::bad_request("code and agentId are required"));
    };
    let verifier =
        optional_string(&body, "codeVerifier").ok_or(Failure::bad_request("codeVerifier must be a string"))?;
    let redirect_uri =
        optional_string(&body, "redirectUri").ok_or(Failure::bad_request("redirectUri must be a non-empty string"))?;
    let call = Exchange { code, agent_id, developer, redirect_uri, verifier };
    let (code_ttl, grant_ttl) = (provider.grantex.code_ttl, provider.grantex.grant_ttl);
    let exchanged = provider.grantex_store().exchange(&call, code_ttl, grant_ttl, Now::current());
    tracing::debug!(?developer, granted = exchanged.is_ok(), "grantex: code exchange");
    let issued = exchanged.map_err(|error| Failure {
        status: StatusCode::BAD_REQUEST,
        code: error.code(),
        message: error.message(),
    })?;
    Ok(tokens(provider, &issued))
}

async fn refresh_call(provider: &Provider, req: Request<Incoming>) -> Result<Reply, Failure> {
    let developer = developer(&req)?;
    let Some(key) = req.headers().get("idempotency-key") else {
        return Err(Failure::bad_request("Idempotency-Key header is required"));
    };
    let key = key.to_str().ok().filter(|k| (16..=256).contains(&k.len()));
    let key = key.ok_or(Failure::bad_request("Idempotency-Key must contain 16 to 256 characters"))?.to_string();
    let body = form::json_object(req).await.map_err(Failure::of_body)?;
    let (Some(refresh_token), Some(agent_id)) = (string(&body, "refreshToken"), string(&body, "agentId")) else {
        return Err(Failure::bad_request("refreshToken and agentId are required"));
    };
    let refreshed = provider.grantex_store().refresh(refresh_token, agent_id, developer, &key, Now::current());
    tracing::debug!(?developer, refreshed = refreshed.is_ok(), "grantex: refresh");
    let issued = refreshed.map_err(|error| Failure::bad_request(error.message()))?;
    Ok(tokens(provider, &issued))
}

fn revoke_call(provider: &Provider, req: &Request<Incoming>, grant_id: &str) -> Result<Reply, Failure> {
    let developer = developer(req)?;
    let revoked = provider.grantex_store().revoke(grant_id, developer);
    tracing::debug!(?developer, revoked, "grantex: grant revocation");
    if !revoked {
        return Err(Failure { status: StatusCode::NOT_FOUND, code: "NOT_FOUND", message: "Grant not found" });
    }
    Ok(reply::empty(StatusCode::NO_CONTENT))
}

/// The 201 of a code exchange or a refresh. Signed outside the store's lock: RSA takes a while in a debug build.
fn tokens(provider: &Provider, issued: &Issued) -> Reply {
    let claims = GrantClaims {
        issuer: &provider.issuer,
        principal_id: &issued.principal_id,
        agent_did: GRANTEX_AGENT_DID,
        developer_id: issued.developer.id(),
        scopes: &issued.scopes,
        grant_id: &issued.grant_id,
        jti: &issued.jti,
        iat: issued.iat,
        exp: issued.exp,
    };
    debug_assert_eq!(issued.agent_id, GRANTEX_AGENT_ID, "the demo knows one agent");
    let signing =
        Signing { new_claim_names: provider.grantex.new_claim_names, forge: provider.grantex.forge_signature };
    let body = json!({
        "grantToken": grantex_jwt::sign(provider.grantex_keys, &claims, signing),
        "expiresAt": iso8601(issued.exp),
        "scopes": issued.scopes,
        "refreshToken": issued.refresh_token,
        "grantId": issued.grant_id,
    });
    reply::json(StatusCode::CREATED, &body)
}

/// The developer whose API key the request carries, compared as digests in constant time.
fn developer(req: &Request<Incoming>) -> Result<Developer, Failure> {
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| Key::of(key.trim()));
    let known = [(GRANTEX_API_KEY, Developer::Production), (GRANTEX_SANDBOX_API_KEY, Developer::Sandbox)];
    let found = presented.and_then(|presented| {
        known
            .into_iter()
            .find(|(key, _)| bool::from(Key::of(key).0.ct_eq(&presented.0)))
            .map(|(_, developer)| developer)
    });
    tracing::debug!(has_key = presented.is_some(), known = found.is_some(), "grantex: API key");
    found.ok_or(Failure { status: StatusCode::UNAUTHORIZED, code: "UNAUTHORIZED", message: "Invalid API key" })
}

/// A member that is a non-empty string.
fn string<'a>(body: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    body.get(name).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// A member that may be absent (or null), and is otherwise a non-empty string: `None` when it is something else.
fn optional_string<'a>(body: &'a Map<String, Value>, name: &str) -> Option<Option<&'a str>> {
    match body.get(name) {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) if !s.is_empty() => Some(Some(s)),
        Some(_) => None,
    }
}

/// `scopes`: a non-empty array of non-empty strings, bounded in count and length.
fn scopes(body: &Map<String, Value>) -> Option<Vec<String>> {
    let list = body.get("scopes")?.as_array()?;
    if list.is_empty() || list.len() > MAX_SCOPES {
        return None;
    }
    list.iter()
        .map(|scope| scope.as_str().filter(|s| !s.is_empty() && s.len() <= MAX_FIELD).map(str::to_string))
        .collect()
}

/// Unix time as JavaScript's `toISOString` writes it, e.g. `2023-11-14T22:13:20.000Z` (UTC).
pub(crate) fn iso8601(unix: u64) -> String {
    // Howard Hinnant's days-to-civil algorithm, for days since 1970-01-01.
    let (days, seconds) = ((unix / 86_400) as i64, unix % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let (hour, minute, second) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.000Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_writes_utc_like_javascript() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z", "the epoch");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00.000Z", "a leap day in a century leap year");
        assert_eq!(iso8601(1_700_000_000), "2023-11-14T22:13:20.000Z", "a known instant");
        assert_eq!(iso8601(4_102_444_799), "2099-12-31T23:59:59.000Z", "the last second of a century");
    }

    #[test]
    fn scopes_must_be_a_non_empty_array_of_non_empty_strings() {
        let body = |value: Value| json!({ "scopes": value }).as_object().unwrap().clone();
        assert_eq!(scopes(&body(json!(["a", "b"]))), Some(vec!["a".to_string(), "b".to_string()]));
        for bad in [json!([]), json!("a b"), json!(["a", 1]), json!([""]), json!(null)] {
            assert_eq!(scopes(&body(bad.clone())), None, "{bad} is not a list of scopes");
        }
    }

    #[test]
    fn an_optional_string_is_absent_null_or_a_non_empty_string() {
        let body = json!({ "a": null, "b": "x", "c": "", "d": 5 }).as_object().unwrap().clone();
        assert_eq!(optional_string(&body, "missing"), Some(None), "absent is allowed");
        assert_eq!(optional_string(&body, "a"), Some(None), "null is absent");
        assert_eq!(optional_string(&body, "b"), Some(Some("x")), "a string is read");
        assert_eq!(optional_string(&body, "c"), None, "an empty string is refused");
        assert_eq!(optional_string(&body, "d"), None, "a number is refused");
    }
}
