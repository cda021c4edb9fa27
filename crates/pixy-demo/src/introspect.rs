//! Token introspection, `POST /introspect` (RFC 7662), without client authentication: a demo convenience so
//! tests can ask whether a token is still alive.
//!
//! Invariant: an unknown, expired, revoked or rotated-out token is `{"active": false}` and nothing more (RFC 7662
//! §2.2), so introspection never tells a dead token's story.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;

use crate::form::Params;
use crate::reply::{self, Reply};
use crate::store::{Now, TokenKind};
use crate::{Provider, DEMO_USER_SUB};

/// `POST /introspect`
pub(crate) async fn serve(provider: &Provider, req: Request<Incoming>) -> Reply {
    let params = match Params::from_body(req).await {
        Ok(params) => params,
        Err(error) => return reply::oauth_error(StatusCode::BAD_REQUEST, "invalid_request", error.description()),
    };
    let Some(token) = params.get("token") else {
        return reply::oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "token is required");
    };
    let info = provider.store().inspect(token, Now::current());
    tracing::debug!(active = info.is_some(), "introspect");
    let Some(info) = info else {
        return reply::json(StatusCode::OK, &json!({ "active": false }));
    };
    let mut body = json!({
        "active": true,
        "scope": info.scope,
        "client_id": info.client_id,
        "sub": DEMO_USER_SUB,
        "aud": info.client_id,
        "iss": provider.issuer,
        "iat": info.issued_at,
    });
    if info.kind == TokenKind::Access {
        body["token_type"] = "Bearer".into();
    }
    // Refresh tokens do not expire here, so they carry no `exp`.
    if let Some(exp) = info.expires_at {
        body["exp"] = exp.into();
    }
    reply::json(StatusCode::OK, &body)
}
