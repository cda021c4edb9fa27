//! Token revocation (RFC 7009): the refresh token first (which, at most providers, ends the whole
//! grant), then the access token. A revocation the provider does not confirm is reported, not
//! fatal: the caller still forgets the tokens.

use crate::error::redact_url;
use crate::provider::Provider;

/// Revokes one token; true when the provider answered 200.
pub async fn revoke(http: &reqwest::Client, provider: &Provider, token: &str, hint: &str) -> bool {
    let Some(endpoint) = &provider.revocation_endpoint else {
        return false;
    };
    let form = [("token", token), ("token_type_hint", hint), ("client_id", provider.client_id.as_str())];
    match http.post(endpoint).form(&form).send().await {
        Ok(resp) => {
            let ok = resp.status().is_success();
            tracing::debug!(status = resp.status().as_u16(), hint, "revocation answered");
            ok
        }
        Err(e) => {
            tracing::info!(endpoint = %redact_url(endpoint), error = %e.without_url(), "revocation failed");
            false
        }
    }
}
