//! The account list: the records in memory and in the index, saved on every change, with a lock
//! per account (so refreshes of one account are single-flight) and the summaries clients see.

use std::sync::Arc;

use super::Daemon;
use crate::account::AccountRecord;
use crate::error::{Error, ErrorKind, Result};
use crate::ipc::protocol::{AccountStatus, AccountSummary};

impl Daemon {
    /// Saves a record, adding it when it is new.
    pub(super) async fn upsert(&self, record: AccountRecord) -> Result<()> {
        self.save_record(record, true).await
    }

    /// Saves a record, adding it when it is new only if `add` says so: a status change must not
    /// bring back an account that was unlinked meanwhile.
    async fn save_record(&self, record: AccountRecord, add: bool) -> Result<()> {
        if record.status == AccountStatus::Connected {
            self.notices.recovered(&record.id);
        }
        let mut accounts = self.accounts.lock().await;
        let mut next = accounts.clone();
        match next.iter_mut().find(|a| a.id == record.id) {
            Some(existing) => *existing = record,
            None if add => next.push(record),
            None => return Ok(()),
        }
        self.index.save(&next)?;
        *accounts = next;
        self.summaries.send_replace(summaries_of(&accounts));
        Ok(())
    }

    pub(super) async fn remove(&self, id: &str) -> Result<()> {
        let mut accounts = self.accounts.lock().await;
        let next: Vec<_> = accounts.iter().filter(|a| a.id != id).cloned().collect();
        self.index.save(&next)?;
        *accounts = next;
        self.summaries.send_replace(summaries_of(&accounts));
        Ok(())
    }

    pub(super) fn account_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.account_locks.lock().expect("account locks").entry(id.to_string()).or_default().clone()
    }

    /// The account a person named: its id, or a provider id with exactly one account.
    pub(super) async fn find(&self, name: &str) -> Result<AccountRecord> {
        let accounts = self.accounts.lock().await;
        // A link still being stored is nobody's to use yet.
        let visible = || accounts.iter().filter(|a| !a.pending);
        if let Some(a) = visible().find(|a| a.id == name) {
            return Ok(a.clone());
        }
        let of_provider: Vec<_> = visible().filter(|a| a.provider == name).collect();
        match of_provider.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::new(
                ErrorKind::InvalidRequest,
                format!("no linked account {name:?}; `pixy status` lists them"),
            )),
            many => Err(Error::new(
                ErrorKind::InvalidRequest,
                format!(
                    "{name:?} has {} accounts; name one: {}",
                    many.len(),
                    many.iter().map(|a| a.id.as_str()).collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }

    pub(super) async fn set_status(
        &self,
        record: &AccountRecord,
        status: AccountStatus,
        reason: Option<String>,
        last_error: Option<ErrorKind>,
    ) {
        if let Err(e) = self.save_record(record.with_status(status, reason, last_error), false).await {
            tracing::warn!(error = %e, "cannot save the account's status");
        }
    }
}

/// What clients see of the accounts: every one but a link still being stored.
pub(super) fn summaries_of(accounts: &[AccountRecord]) -> Vec<AccountSummary> {
    accounts.iter().filter(|a| !a.pending).map(AccountRecord::summary).collect()
}
