//! Token revocation, `POST /revoke` (RFC 7009).
//!
//! Invariants: revoking a refresh token ends its grant, so the access tokens issued with it die too; revoking an
//! access token ends only that token. The reply is 200 for any well-formed request, also for unknown or already
//! revoked tokens (RFC 7009 §2.2), so a client's unlink always completes and nobody learns which tokens exist.
//! `token_type_hint` is accepted and not needed: both kinds are looked up.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use crate::clients;
use crate::form::Params;
use crate::reply::{self, Reply};
use crate::Provider;

/// `POST /revoke`
pub(crate) async fn serve(provider: &Provider, req: Request<Incoming>) -> Reply {
    let params = match Params::from_body(req).await {
        Ok(params) => params,
        Err(error) => return reply::oauth_error(StatusCode::BAD_REQUEST, "invalid_request", error.description()),
    };
    let Some(token) = params.get("token") else {
        return reply::oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "token is required");
    };
    if params.get("client_id").is_some_and(|id| clients::find(id).is_none()) {
        return reply::oauth_error(StatusCode::BAD_REQUEST, "invalid_client", "unknown client_id");
    }
    let mut store = provider.store();
    store.revoke(token);
    store.stats.revoked += 1;
    drop(store);
    tracing::debug!(has_hint = params.get("token_type_hint").is_some(), "revoke: done");
    reply::plain(StatusCode::OK, "")
}
