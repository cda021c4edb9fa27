//! Unlinking: revoke at the provider (refresh token first), then delete, even when revocation
//! fails, and say exactly what became of the revocation.

use super::Daemon;
use crate::error::Result;
use crate::ipc::protocol::Event;
use crate::provider::Provider;
use crate::revoke::{revoke, Revocation};
use crate::secret::{AccessToken, ApiKey, RefreshToken};
use crate::store::blocking;

impl Daemon {
    /// Revokes and forgets the account a person named.
    pub(super) async fn unlink(&self, name: &str) -> Result<Event> {
        let record = self.find(name).await?;
        let lock = self.account_lock(&record.id);
        let _guard = lock.lock().await;
        let revocation = match self.provider_of(&record).await {
            Ok(provider) if provider.grantex.is_some() => {
                self.end_grant(&provider, record.grant_id.as_deref(), None).await
            }
            Ok(provider) => self.revoke_stored(&provider, &record.id).await?,
            Err(e) => {
                tracing::info!(error = %e, "provider unavailable; forgetting the tokens without revoking");
                Revocation::NotAsked
            }
        };
        self.delete_secrets(&record.id).await?;
        self.remove(&record.id).await?;
        self.forget_grants(&record.id);
        tracing::info!(account = %record.id, ?revocation, "account unlinked");
        Ok(Event::Unlinked { account: record.id, revoked: revocation == Revocation::Revoked, revocation })
    }

    /// Ends a Grantex grant, which ends its tokens with it: with `api_key`, else the kept key.
    pub(super) async fn end_grant(
        &self,
        provider: &Provider,
        grant_id: Option<&str>,
        api_key: Option<&ApiKey>,
    ) -> Revocation {
        let Some(grant_id) = grant_id else { return Revocation::NotAsked };
        let api_key = match api_key {
            Some(given) => Ok(given.clone()),
            None => self.required_api_key(provider).await,
        };
        match api_key {
            Ok(api_key) => crate::grantex::revoke_grant(&self.http, provider, &api_key, grant_id).await,
            Err(e) => {
                tracing::info!(error = %e, "the grant cannot be ended without the API key");
                Revocation::NotAsked
            }
        }
    }

    /// Revokes what the store holds for `account` at `provider`: the refresh token first, which
    /// at most providers ends the whole grant, then the access token.
    pub(super) async fn revoke_stored(&self, provider: &Provider, account: &str) -> Result<Revocation> {
        let key = account.to_string();
        let (refresh_token, access) = blocking(&self.store, move |s| {
            Ok((s.get_secret::<RefreshToken>(&key)?, s.get_secret::<AccessToken>(&key)?))
        })
        .await?;
        let mut revocation = Revocation::Revoked;
        if let Some(refresh_token) = &refresh_token {
            revocation = revocation.and(revoke(&self.http, provider, refresh_token).await);
        }
        if let Some(access) = &access {
            revocation = revocation.and(revoke(&self.http, provider, access).await);
        }
        Ok(revocation)
    }
}
