//! Responses, with the headers each kind must carry.
//!
//! Invariants: every HTML page and every redirect is `no-store`, `no-referrer`, unframeable and under a CSP that
//! runs no script and loads nothing; every JSON reply is `no-store` (RFC 6749 §5.1), because both can carry codes
//! or tokens. The form-action source list names the loopback origins because Chromium checks the 303 that follows
//! the approve/deny post against form-action.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE, LOCATION, PRAGMA, WWW_AUTHENTICATE};
use hyper::{Response, StatusCode};
use url::Url;

/// Every response this server sends.
pub(crate) type Reply = Response<Full<Bytes>>;

const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; \
    form-action 'self' http://127.0.0.1:* http://localhost:* http://[::1]:*; frame-ancestors 'none'";

fn build(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    let mut reply = Response::new(Full::new(body.into()));
    *reply.status_mut() = status;
    let headers = reply.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    reply
}

fn harden_page(reply: &mut Reply) {
    let headers = reply.headers_mut();
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    headers.insert("content-security-policy", HeaderValue::from_static(CSP));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
}

/// An HTML page.
pub(crate) fn html(status: StatusCode, page: String) -> Reply {
    let mut reply = build(status, "text/html; charset=utf-8", page);
    harden_page(&mut reply);
    reply
}

/// A JSON document.
pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Reply {
    build(status, "application/json", value.to_string())
}

/// An RFC 6749 §5.2 error. `description` is fixed text, never an echoed value.
pub(crate) fn oauth_error(status: StatusCode, error: &'static str, description: &'static str) -> Reply {
    json(status, &serde_json::json!({ "error": error, "error_description": description }))
}

/// RFC 6750 §3: a refused bearer token. A request without one gets a bare challenge: there is no error to name.
pub(crate) fn bearer_refused(token_sent: bool) -> Reply {
    let (mut reply, challenge) = if token_sent {
        let reply =
            oauth_error(StatusCode::UNAUTHORIZED, "invalid_token", "the access token is unknown, revoked or expired");
        (reply, r#"Bearer error="invalid_token""#)
    } else {
        (plain(StatusCode::UNAUTHORIZED, "a bearer token is required\n"), "Bearer")
    };
    reply.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    reply
}

/// A 303 to the client's validated redirect URI: the browser follows it with a GET.
pub(crate) fn redirect(to: &Url) -> Reply {
    let mut reply = build(StatusCode::SEE_OTHER, "text/plain; charset=utf-8", Bytes::new());
    harden_page(&mut reply);
    match HeaderValue::from_str(to.as_str()) {
        Ok(location) => {
            reply.headers_mut().insert(LOCATION, location);
            reply
        }
        // A parsed Url serializes to visible ASCII, so this cannot happen; refuse rather than panic.
        Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "could not build the redirect\n"),
    }
}

/// A reply with no body, such as a 204.
pub(crate) fn empty(status: StatusCode) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::new()));
    *reply.status_mut() = status;
    reply.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    reply
}

/// A short plain-text reply for requests that are not part of any flow.
pub(crate) fn plain(status: StatusCode, text: &'static str) -> Reply {
    build(status, "text/plain; charset=utf-8", text)
}

/// 405, naming the method the path does answer.
pub(crate) fn method_not_allowed(allow: &'static str) -> Reply {
    let mut reply = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    reply.headers_mut().insert(ALLOW, HeaderValue::from_static(allow));
    reply
}
