//! Reconciling at start: the index and the keyring put back in step after a crash or a fault
//! between their writes.

use super::Daemon;
use crate::account::AccountRecord;
use crate::provider::Provider;
use crate::revoke::Revocation;
use crate::store::{blocking, Field};

impl Daemon {
    /// Puts the index and the keyring back in step at start, after a crash or a fault between
    /// their writes: sweeps the index's unfinished temporary files; finishes a pending link whose
    /// secrets were all written and rolls back one whose were not; revokes (where its provider
    /// can be found) and deletes every secret that no account names. Runs beside the first
    /// requests: a link in progress records its account before it writes a secret, so its
    /// secrets are never taken for orphans.
    pub async fn reconcile(&self) {
        if self.refusal.is_some() {
            // With no index to go by, every secret would look like an orphan.
            return;
        }
        let swept = self.index.sweep_temp_files();
        if swept > 0 {
            tracing::info!(swept, "unfinished index writes were swept");
        }
        let pending = std::mem::take(&mut *self.pending_at_start.lock().expect("pending lock"));
        for id in pending {
            self.finish_or_roll_back(&id).await;
        }
        if self.index_problem.is_some() {
            // Accounts the damaged index lost are in the copy kept aside: their secrets may yet
            // be claimed, so nothing is taken for an orphan.
            tracing::info!("the account index was damaged; secrets it does not name are left alone");
            return;
        }
        let listed = match blocking(&self.store, |s| s.list()).await {
            Ok(listed) => listed,
            Err(e) => {
                tracing::info!(error = %e, "the keyring cannot be listed; orphaned secrets are not swept");
                return;
            }
        };
        let known: std::collections::HashSet<String> =
            self.accounts.lock().await.iter().map(|a| a.id.clone()).collect();
        let mut orphans: std::collections::BTreeMap<String, Vec<Field>> = Default::default();
        for (account, field) in listed.into_iter().filter(|(account, _)| !known.contains(account)) {
            orphans.entry(account).or_default().push(field);
        }
        for (account, fields) in orphans {
            self.sweep_orphan(&account, &fields).await;
        }
    }

    async fn finish_or_roll_back(&self, id: &str) {
        let lock = self.account_lock(id);
        let _guard = lock.lock().await;
        let Some(record) = self.accounts.lock().await.iter().find(|a| a.id == id && a.pending).cloned() else {
            return;
        };
        let key = id.to_string();
        // Only whether each is there matters here.
        let secrets = blocking(&self.store, move |s| {
            Ok((s.get(&key, Field::AccessToken)?.is_some(), s.get(&key, Field::RefreshToken)?.is_some()))
        });
        let (has_access, has_refresh_token) = match secrets.await {
            Ok(secrets) => secrets,
            Err(e) => {
                tracing::info!(account = %id, error = %e, "a pending link cannot be checked; it is left for the next start");
                return;
            }
        };
        if has_access && (has_refresh_token || !record.has_refresh_token) {
            let finished = AccountRecord { pending: false, ..record };
            let saved = self.upsert(finished).await;
            tracing::info!(account = %id, saved = saved.is_ok(), "a pending link whose secrets were all written was finished");
            return;
        }
        let grant = record.grant_id.clone();
        let revocation = self.revoke_where_possible(&record.provider, id, record.linked_provider(), grant).await;
        let deleted = self.delete_secrets(id).await;
        let removed = self.remove(id).await;
        tracing::info!(account = %id, ?revocation, deleted = deleted.is_ok(), removed = removed.is_ok(), "a pending link that was not written whole was rolled back");
    }

    /// Revokes and deletes the secrets of an account the index does not name.
    async fn sweep_orphan(&self, account: &str, fields: &[Field]) {
        // Account ids are PROVIDER-HASH: the provider, if it is still defined, can revoke them.
        let provider_id = account.rsplit_once('-').map_or(account, |(provider, _)| provider);
        let revocation = self.revoke_where_possible(provider_id, account, None, None).await;
        let key = account.to_string();
        let fields = fields.to_vec();
        let deleted = blocking(&self.store, move |s| fields.iter().try_for_each(|f| s.delete(&key, *f))).await;
        tracing::info!(account, ?revocation, deleted = deleted.is_ok(), "secrets that no account names were swept");
    }

    /// Revokes what the store holds for `account` at `provider_id`, or at the endpoints given
    /// when that provider cannot be found; a Grantex account's grant is ended instead.
    async fn revoke_where_possible(
        &self,
        provider_id: &str,
        account: &str,
        linked: Option<Provider>,
        grant_id: Option<String>,
    ) -> Revocation {
        let provider = match (self.provider(provider_id).await, linked) {
            (Ok(provider), _) | (Err(_), Some(provider)) => provider,
            (Err(_), None) => return Revocation::NotAsked,
        };
        if provider.grantex.is_some() {
            return self.end_grant(&provider, grant_id.as_deref(), None).await;
        }
        self.revoke_stored(&provider, account).await.unwrap_or(Revocation::NotAsked)
    }
}
