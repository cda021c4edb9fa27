//! Token revocation (RFC 7009): the refresh token first (which, at most providers, ends the whole
//! grant), then the access token. A revocation the provider does not confirm is reported, not
//! fatal: the caller still forgets the tokens. And the check that a revocation left other tokens
//! alive, since a provider may end "related tokens and the underlying grant" with it (§2).

use serde::{Deserialize, Serialize};

use crate::error::redact_url;
use crate::provider::Provider;
use crate::secret::{AccessToken, RefreshToken};

/// What became of a revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Revocation {
    /// The provider confirmed it (RFC 7009: 200).
    Revoked,
    /// The provider was asked and did not confirm (an error status, or it could not be reached).
    NotConfirmed,
    /// The provider publishes no revocation endpoint, in either metadata document: nothing could
    /// be asked, and its tokens stay valid there until they expire.
    NoEndpoint,
    /// The provider's definition could not be found or used, so it was not asked.
    NotAsked,
}

impl Revocation {
    /// The outcome of two revocations of one account: the worse one.
    pub fn and(self, other: Revocation) -> Revocation {
        if self == Revocation::Revoked {
            other
        } else {
            self
        }
    }
}

/// A token a provider can revoke (RFC 7009), with the `token_type_hint` that names its kind.
pub trait Revocable {
    /// `refresh_token` or `access_token`.
    const HINT: &'static str;
    /// The token, for the revocation request only.
    fn token(&self) -> &str;
}

impl Revocable for RefreshToken {
    const HINT: &'static str = "refresh_token";
    fn token(&self) -> &str {
        self.expose()
    }
}

impl Revocable for AccessToken {
    const HINT: &'static str = "access_token";
    fn token(&self) -> &str {
        self.expose()
    }
}

/// Revokes one token.
pub async fn revoke<T: Revocable>(http: &reqwest::Client, provider: &Provider, token: &T) -> Revocation {
    let (token, hint) = (token.token(), T::HINT);
    let Some(endpoint) = &provider.revocation_endpoint else {
        return Revocation::NoEndpoint;
    };
    let form = vec![("token", token), ("token_type_hint", hint), ("client_id", provider.client_id.as_str())];
    let (request, form) = crate::exchange::authenticated(http.post(endpoint), provider, form);
    match request.form(&form).send().await {
        Ok(resp) => {
            tracing::debug!(status = resp.status().as_u16(), hint, "revocation answered");
            if resp.status().is_success() {
                Revocation::Revoked
            } else {
                Revocation::NotConfirmed
            }
        }
        Err(e) => {
            tracing::info!(endpoint = %redact_url(endpoint), error = %e.without_url(), "revocation failed");
            Revocation::NotConfirmed
        }
    }
}

/// Whether the provider still accepts an access token, asked at its userinfo endpoint: `Some(false)`
/// only on a clear refusal (401), `None` when it has no userinfo endpoint or could not say.
pub async fn still_accepted(http: &reqwest::Client, provider: &Provider, access_token: &AccessToken) -> Option<bool> {
    let endpoint = provider.userinfo_endpoint.as_ref()?;
    match http.get(endpoint).bearer_auth(access_token.expose()).send().await {
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
