//! Unlinking: revoke at the provider (refresh token first), then delete, even when revocation
//! fails, and say exactly what became of the revocation.

use super::Daemon;
use crate::error::Result;
use crate::ipc::protocol::Event;
use crate::revoke::{revoke, Revocation};
use crate::store::{blocking, Field};

impl Daemon {
    pub(super) async fn unlink(&self, name: &str) -> Result<Event> {
        let record = self.find(name).await?;
        let lock = self.account_lock(&record.id);
        let _guard = lock.lock().await;
        let id = record.id.clone();
        let (refresh_token, access) =
            blocking(&self.store, move |s| Ok((s.get(&id, Field::RefreshToken)?, s.get(&id, Field::AccessToken)?)))
                .await?;
        let mut revocation = Revocation::Revoked;
        match self.provider_of(&record).await {
            Ok(provider) => {
                if let Some(rt) = &refresh_token {
                    revocation = revocation.and(revoke(&self.http, &provider, rt, "refresh_token").await);
                }
                if let Some(at) = &access {
                    revocation = revocation.and(revoke(&self.http, &provider, at, "access_token").await);
                }
            }
            Err(e) => {
                tracing::info!(error = %e, "provider unavailable; forgetting the tokens without revoking");
                revocation = Revocation::NotAsked;
            }
        }
        let id = record.id.clone();
        blocking(&self.store, move |s| Field::ALL.iter().try_for_each(|f| s.delete(&id, *f))).await?;
        self.remove(&record.id).await?;
        tracing::info!(account = %record.id, ?revocation, "account unlinked");
        Ok(Event::Unlinked { account: record.id, revoked: revocation == Revocation::Revoked, revocation })
    }
}
