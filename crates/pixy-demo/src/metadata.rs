//! Discovery: the same document at `/.well-known/openid-configuration` (OpenID Connect Discovery) and
//! `/.well-known/oauth-authorization-server` (RFC 8414), so clients of either flavour find the endpoints.
//!
//! Invariant: it advertises only what the server does — code flow, PKCE S256, public clients, and the RFC 9207
//! `iss` parameter, which every authorization response carries.

use hyper::StatusCode;
use serde_json::json;

use crate::reply::{self, Reply};
use crate::token::SCOPES_SUPPORTED;

/// The metadata document for `issuer`.
pub(crate) fn document(issuer: &str) -> serde_json::Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "introspection_endpoint_auth_methods_supported": ["none"],
        "scopes_supported": SCOPES_SUPPORTED,
        "subject_types_supported": ["public"],
        // The demo's ID token is unsigned: it proves nothing and exists so clients can read the claims' shape.
        "id_token_signing_alg_values_supported": ["none"],
        "claims_supported": ["iss", "sub", "aud", "iat", "exp", "nonce", "email", "name"],
        "authorization_response_iss_parameter_supported": true,
    })
}

/// `GET /.well-known/...`
pub(crate) fn serve(issuer: &str) -> Reply {
    reply::json(StatusCode::OK, &document(issuer))
}
