//! Token revocation (RFC 7009): the refresh token first (which, at most providers, ends the whole
//! grant), then the access token. A revocation the provider does not confirm is reported, not
//! fatal: the caller still forgets the tokens. And the check that a revocation left other tokens
//! alive, since a provider may end "related tokens and the underlying grant" with it (§2).

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

/// Whether the provider still accepts an access token, asked at its userinfo endpoint: `Some(false)`
/// only on a clear refusal (401), `None` when it has no userinfo endpoint or could not say.
pub async fn still_accepted(http: &reqwest::Client, provider: &Provider, access_token: &str) -> Option<bool> {
    let endpoint = provider.userinfo_endpoint.as_ref()?;
    match http.get(endpoint).bearer_auth(access_token).send().await {
        Ok(resp) if resp.status().is_success() => Some(true),
        Ok(resp) if resp.status() == reqwest::StatusCode::UNAUTHORIZED => Some(false),
        Ok(resp) => {
            tracing::info!(status = resp.status().as_u16(), "userinfo could not say whether the token is accepted");
            None
        }
        Err(e) => {
            tracing::info!(endpoint = %redact_url(endpoint), error = %e.without_url(), "userinfo unreachable");
            None
        }
    }
}
