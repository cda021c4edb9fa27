//! The UserInfo endpoint, `GET /userinfo` (OpenID Connect Core §5.3): the demo user's claims for a live access
//! token.
//!
//! Invariant: only an access token that is known, unexpired and unrevoked is accepted, from the `Authorization:
//! Bearer` header only (RFC 6750 §2.1); anything else is a 401 with a `WWW-Authenticate` challenge. A refresh
//! token is not an access token and is refused.

use hyper::body::Incoming;
use hyper::header::AUTHORIZATION;
use hyper::{Request, StatusCode};
use serde_json::json;

use crate::reply::{self, Reply};
use crate::store::{Now, TokenKind};
use crate::{Provider, DEMO_USER_EMAIL, DEMO_USER_NAME, DEMO_USER_SUB};

/// `GET /userinfo`
pub(crate) fn serve(provider: &Provider, req: &Request<Incoming>) -> Reply {
    let Some(token) = bearer(req) else {
        return reply::bearer_refused(false);
    };
    let live = provider.store().inspect(token, Now::current()).is_some_and(|info| info.kind == TokenKind::Access);
    tracing::debug!(live, "userinfo");
    if !live {
        return reply::bearer_refused(true);
    }
    reply::json(StatusCode::OK, &json!({ "sub": DEMO_USER_SUB, "email": DEMO_USER_EMAIL, "name": DEMO_USER_NAME }))
}

/// The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive (RFC 7235 §2.1).
fn bearer(req: &Request<Incoming>) -> Option<&str> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
