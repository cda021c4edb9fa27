//! The refresh grant (RFC 6749 §6). Providers that rotate send a new refresh token; when one is
//! not sent, the old one stays valid and is kept.

use crate::error::Result;
use crate::exchange::{token_request, TokenSet};
use crate::provider::Provider;
use crate::secret::RefreshToken;

/// Trades a refresh token for a new token set. The result always carries a refresh token (the
/// rotated one, or the one that was used) and an expiry (see [`TokenSet::assume_short_lifetime_if_unknown`]).
pub async fn refresh(http: &reqwest::Client, provider: &Provider, refresh_token: &RefreshToken) -> Result<TokenSet> {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.expose()),
        ("client_id", &provider.client_id),
    ];
    let mut tokens = token_request(http, provider, &form, "refresh").await?;
    if tokens.refresh_token.is_none() {
        tokens.refresh_token = Some(refresh_token.clone());
    }
    tokens.assume_short_lifetime_if_unknown();
    Ok(tokens)
}
