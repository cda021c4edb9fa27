//! Resetting: forgetting everything Pixy keeps, revoking first, and saying item by item how it
//! went.
//!
//! In order: links waiting for the person are cancelled; each account is revoked at its provider
//! as unlink does (refresh token first; a provider that fails is reported and the reset goes on)
//! and its secrets deleted; then every entry under Pixy's keyring service, including those no
//! account names (orphans, registrations' secrets, providers' API keys); then the account index,
//! the client registrations, the program grants and the audit log, each with the copies Pixy
//! kept of it (a migration's backup, a damaged file set aside). providers.toml (the person's own
//! configuration) and the daemon's log (diagnostics, never a secret) are kept, and said to be.
//!
//! Invariants: every account's lock is held from its revocation to the end, so no refresh
//! writes a token back behind the reset; nothing here names a secret.

use std::path::Path;

use tokio::sync::mpsc;

use super::Daemon;
use crate::error::Result;
use crate::ipc::protocol::{Event, ResetStep};
use crate::revoke::Revocation;
use crate::store::{blocking, SERVICE};

/// How long a cancelled link may take to end (one exchanging its code finishes first).
const LINK_END: std::time::Duration = std::time::Duration::from_secs(40);

impl Daemon {
    /// Resets Pixy, or with `dry_run` says what a reset would do.
    pub(super) async fn reset(&self, dry_run: bool, out: &mpsc::Sender<Event>) -> Result<Event> {
        let kept = self.reset_keeps();
        if dry_run {
            return Ok(Event::ResetPlan { delete: self.reset_plan().await, keep: kept });
        }
        tracing::info!("resetting: every account, secret, registration, grant and the audit log go");
        let mut steps = Vec::new();
        let links: Vec<_> = self.running.lock().expect("running lock").drain().collect();
        for (provider, link) in links.into_iter().filter(|(_, link)| !link.stop.is_closed()) {
            let _ = link.stop.send(());
            // A link already exchanging its code finishes and stores its account: wait for it, so
            // that account is revoked below rather than left behind (or its tokens deleted unrevoked).
            let ended = tokio::time::timeout(LINK_END, link.ended).await.is_ok();
            let outcome = if ended { "cancelled" } else { "cancelled, but it had not ended yet" };
            report(
                out,
                &mut steps,
                ResetStep { item: format!("link with {provider}"), outcome: outcome.into(), ok: ended },
            )
            .await;
        }
        let accounts = self.accounts.lock().await.clone();
        let mut held = Vec::new();
        for record in &accounts {
            let lock = self.account_lock(&record.id);
            held.push(lock.lock_owned().await);
            report(out, &mut steps, self.revoke_for_reset(record).await).await;
        }
        report(out, &mut steps, self.clear_keyring().await).await;
        {
            let mut accounts = self.accounts.lock().await;
            accounts.clear();
            self.summaries.send_replace(Vec::new());
            self.access_tokens.lock().expect("access tokens lock").clear();
            self.authorizations.lock().expect("authorizations lock").clear();
            report(out, &mut steps, delete_with_copies(self.index.path(), "the account index")).await;
        }
        self.registrations.lock().await.clear();
        report(out, &mut steps, delete_with_copies(self.registration_index.path(), "the client registrations")).await;
        let grants = self.forget_every_grant();
        report(out, &mut steps, delete_with_copies(self.consent_path(), &format!("the program grants ({grants})")))
            .await;
        if let Some(audit) = &self.audit {
            report(out, &mut steps, delete_with_copies(audit.path(), "the audit log")).await;
        }
        for record in &accounts {
            self.notices.recovered(&record.id);
        }
        drop(held);
        let failed = steps.iter().filter(|s| !s.ok).count();
        tracing::info!(items = steps.len(), failed, "reset done");
        Ok(Event::Reset { steps, kept })
    }

    /// What a reset deletes, one item a line.
    async fn reset_plan(&self) -> Vec<String> {
        let mut plan = Vec::new();
        let links: Vec<String> = match self.links_waiting() {
            true => self.running.lock().expect("running lock").keys().cloned().collect(),
            false => Vec::new(),
        };
        if !links.is_empty() {
            plan.push(format!("the links waiting for you ({}), cancelled", links.join(", ")));
        }
        let accounts: Vec<String> = self.accounts.lock().await.iter().map(|a| a.id.clone()).collect();
        plan.push(match accounts.as_slice() {
            [] => "no linked accounts".to_string(),
            ids => format!("{} linked account(s), each revoked at its provider first: {}", ids.len(), ids.join(", ")),
        });
        plan.push(format!(
            "every secret Pixy keeps in the keyring (service {SERVICE}): tokens, client secrets, API keys"
        ));
        plan.push(format!("the account index, {}", self.index.path().display()));
        let registrations = self.registrations.lock().await.len();
        plan.push(format!("the client registrations ({registrations}), {}", self.registration_index.path().display()));
        plan.push(format!("the program grants ({}), {}", self.grant_count(), self.consent_path().display()));
        if let Some(audit) = &self.audit {
            plan.push(format!("the audit log of token handouts, {}", audit.path().display()));
        }
        plan
    }

    /// What a reset keeps, and why.
    fn reset_keeps(&self) -> Vec<String> {
        vec![
            format!("{} (your provider definitions)", self.config.providers_path.display()),
            format!("{} (the daemon's log: diagnostics, never a secret)", crate::ipc::paths::log_path().display()),
        ]
    }

    /// Revokes one account's tokens at its provider, as unlink does, and deletes its secrets.
    async fn revoke_for_reset(&self, record: &crate::account::AccountRecord) -> ResetStep {
        let revocation = match self.provider_of(record).await {
            Ok(provider) if provider.grantex.is_some() => {
                Ok(self.end_grant(&provider, record.grant_id.as_deref(), None).await)
            }
            Ok(provider) => self.revoke_stored(&provider, &record.id).await,
            Err(e) => {
                tracing::info!(account = %record.id, error = %e, "provider unavailable; not revoked");
                Ok(Revocation::NotAsked)
            }
        };
        let deleted = self.delete_secrets(&record.id).await;
        let (mut outcome, mut ok) = match revocation {
            Ok(Revocation::Revoked) => ("revoked at its provider".to_string(), true),
            Ok(Revocation::NoEndpoint) => {
                ("its provider offers no revocation; its tokens lapse there when they expire".to_string(), true)
            }
            Ok(Revocation::NotConfirmed) => ("its provider did not confirm the revocation".to_string(), false),
            Ok(Revocation::NotAsked) => {
                ("its provider could not be asked to revoke (its definition could not be used)".to_string(), false)
            }
            Err(e) => (format!("not revoked: {}", e.message), false),
        };
        if let Err(e) = deleted {
            outcome.push_str(&format!("; its secrets could not be deleted: {}", e.message));
            ok = false;
        }
        tracing::info!(account = %record.id, ok, "reset: account revoked and forgotten");
        ResetStep { item: format!("account {}", record.id), outcome, ok }
    }

    /// Deletes every entry under Pixy's keyring service, and checks that none is left.
    async fn clear_keyring(&self) -> ResetStep {
        let item = format!("the keyring (service {SERVICE})");
        let cleared = blocking(&self.store, |s| {
            let names = s.entries()?;
            names.iter().try_for_each(|name| s.delete_entry(name))?;
            Ok((names.len(), s.entries()?.len()))
        })
        .await;
        match cleared {
            Ok((deleted, 0)) => ResetStep { item, outcome: format!("{deleted} secret(s) deleted"), ok: true },
            Ok((deleted, left)) => ResetStep {
                item,
                outcome: format!("{deleted} secret(s) deleted, but {left} are still there"),
                ok: false,
            },
            Err(e) => ResetStep { item, outcome: format!("could not be cleared: {}", e.message), ok: false },
        }
    }
}

/// Deletes `path` and the files Pixy keeps beside it under its name (`NAME.v1`, `NAME.corrupt-…`,
/// an unfinished `NAME.tmp-…`): one step.
fn delete_with_copies(path: &Path, what: &str) -> ResetStep {
    let item = format!("{what}, {}", path.display());
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return ResetStep { item, outcome: "not a file".into(), ok: false };
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let copies: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    let mut failed = Vec::new();
    let outcome = match std::fs::remove_file(path) {
        Ok(()) => "deleted",
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "was not there",
        Err(e) => {
            failed.push(e.to_string());
            "could not be deleted"
        }
    };
    let mut removed = 0;
    for copy in copies {
        match std::fs::remove_file(&copy) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => failed.push(format!("{}: {e}", copy.display())),
        }
    }
    let mut outcome = outcome.to_string();
    if removed > 0 {
        outcome.push_str(&format!(", with {removed} kept cop{}", if removed == 1 { "y" } else { "ies" }));
    }
    if failed.is_empty() {
        return ResetStep { item, outcome, ok: true };
    }
    ResetStep { item, outcome: format!("{outcome}; not deleted: {}", failed.join("; ")), ok: false }
}

/// Says one step to the client as it is done, and keeps it for the summary.
async fn report(out: &mpsc::Sender<Event>, steps: &mut Vec<ResetStep>, step: ResetStep) {
    let _ = out.send(Event::ResetStep { step: step.clone() }).await;
    steps.push(step);
}
