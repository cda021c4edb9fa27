//! The refresh schedule: every account refreshed ahead of expiry, with backoff after failures. An
//! account found to need relinking is told to the person once (see [`super::notices`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::tokens::Refresh;
use super::Daemon;
use crate::error::ErrorKind;
use crate::ipc::protocol::AccountStatus;

impl Daemon {
    /// Keeps every account fresh: refreshes each one ahead of expiry (see
    /// [`AccountRecord::refresh_due`]), backing off exponentially (30 s doubling, capped at
    /// 30 min) after failures. Runs until the daemon stops.
    pub async fn keep_fresh(self: Arc<Self>) {
        if self.refusal.is_some() {
            return;
        }
        let mut changes = self.summaries.subscribe();
        let mut backoff: HashMap<String, (u32, u64)> = HashMap::new();
        loop {
            let accounts = self.accounts.lock().await.clone();
            let mut next_wake = self.now() + 3600;
            for record in accounts
                .iter()
                .filter(|a| a.has_refresh_token && !a.pending)
                .filter(|a| matches!(a.status, AccountStatus::Connected | AccountStatus::Error))
            {
                let Some(due) = record.refresh_due() else { continue };
                let due = backoff.get(&record.id).map_or(due, |(_, retry_at)| due.max(*retry_at));
                if due > self.now() {
                    next_wake = next_wake.min(due);
                    continue;
                }
                let refreshed = self.fresh_access_token(&record.id, Refresh::Scheduled).await;
                if refreshed.as_ref().is_err_and(|e| e.kind == ErrorKind::NeedsRelink) {
                    // Found in the background: the person hears it once, from the desktop.
                    self.tell_relink(&record.id, None).await;
                }
                match refreshed {
                    Ok(_) if self.find(&record.id).await.is_ok_and(|r| r.last_error.is_none()) => {
                        backoff.remove(&record.id);
                    }
                    _ => {
                        let (failures, _) = backoff.get(&record.id).copied().unwrap_or((0, 0));
                        let wait = (30u64 << failures.min(6)).min(1800);
                        backoff.insert(record.id.clone(), (failures + 1, self.now() + wait));
                        next_wake = next_wake.min(self.now() + wait);
                    }
                }
            }
            let sleep = Duration::from_secs(next_wake.saturating_sub(self.now()).max(1));
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                changed = changes.changed() => if changed.is_err() { return },
            }
        }
    }
}
