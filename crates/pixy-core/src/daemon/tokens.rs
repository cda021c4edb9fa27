//! Handing out and refreshing tokens: a usable access token per account, refreshed when due,
//! single-flight per account, with a rotated refresh token stored before the new access token is
//! handed out. A token that is not due is handed out from memory (zeroed on drop), as last read
//! from or written to the keyring: the keyring is read again only when a refresh may be needed,
//! and every write or deletion of an account's secrets drops the held copy.

use std::time::Duration;

use super::Daemon;
use crate::account::AccountRecord;
use crate::error::{Error, ErrorKind, Result};
use crate::exchange::TokenSet;
use crate::ipc::protocol::TokenText;
use crate::ipc::protocol::{AccountStatus, Event};
use crate::provider::Provider;
use crate::refresh::refresh;
use crate::secret::{AccessToken, RefreshToken};
use crate::store::{blocking, Field};

/// Why an access token is asked for, which decides when and how hard to refresh.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Refresh {
    /// A caller waiting on `pixy token`: refresh when due, with quick retries.
    WhenDue,
    /// As [`Refresh::WhenDue`], and also when the token has fewer than these seconds left
    /// (`pixy token --min-valid`); a token that cannot last that long is not handed out.
    WithAtLeast(u64),
    /// The daemon's own schedule: one attempt when due; it backs off between its attempts.
    Scheduled,
    /// Now, due or not, once: to find out whether the provider still honours the refresh token.
    Now,
}

impl Daemon {
    /// Writes a token set: the refresh token first, so a crash between writes never leaves a new
    /// access token whose refresh token was lost. A new link's set is written whole: a secret it
    /// lacks is deleted, never left over from the sign-in it replaced.
    pub(super) async fn write_tokens(&self, id: &str, tokens: &TokenSet, new_link: bool) -> Result<()> {
        // Whatever becomes of the write, the held token is no longer the keyring's.
        self.forget_access_token(id);
        let id = id.to_string();
        let tokens = tokens.clone();
        blocking(&self.store, move |s| {
            match &tokens.refresh_token {
                Some(rt) => s.put_secret(&id, rt)?,
                None if new_link => s.delete(&id, Field::RefreshToken)?,
                // A refresh always carries one (the rotated one or the one it used).
                None => {}
            }
            s.put_secret(&id, &tokens.access_token)?;
            match &tokens.id_token {
                Some(it) => s.put_secret(&id, it),
                // A refresh may leave the ID token out (OIDC Core §12.2): keep the one we have.
                None if new_link => s.delete(&id, Field::IdToken),
                None => Ok(()),
            }
        })
        .await
        .map_err(|e| Error::new(e.kind, format!("the new tokens could not be stored: {}", e.message)))
    }

    pub(super) async fn token(&self, name: &str, min_valid: Option<u64>) -> Result<Event> {
        let record = self.find(name).await?;
        let why = min_valid.map_or(Refresh::WhenDue, Refresh::WithAtLeast);
        let (access_token, expires_at) = self.fresh_access_token(&record.id, why).await?;
        Ok(Event::Token { account: record.id, access_token: TokenText::from(access_token), expires_at })
    }

    /// Refreshes the named account now, due or not; the token stays in the daemon.
    pub(super) async fn refresh_now(&self, name: &str) -> Result<Event> {
        let record = self.find(name).await?;
        self.fresh_access_token(&record.id, Refresh::Now).await?;
        Ok(Event::Refreshed { account: self.find(&record.id).await?.summary() })
    }

    /// A usable access token for an account, refreshed first when due (see [`Refresh`]).
    /// Single-flight per account: callers queue on the account's lock and find the token their
    /// predecessor refreshed.
    pub(super) async fn fresh_access_token(&self, id: &str, why: Refresh) -> Result<(AccessToken, Option<u64>)> {
        let lock = self.account_lock(id);
        let _guard = lock.lock().await;
        let record = self.find(id).await?;
        if !self.is_due(&record, why) {
            // Not due: the token held since the keyring was last read or written is still it.
            if let Some(held) = self.access_tokens.lock().expect("access tokens lock").get(&record.id) {
                return Ok((held.clone(), record.expires_at));
            }
        }
        let key = record.id.clone();
        // Read under the lock, from the keyring: another caller, or another Pixy sharing this
        // keyring, may have refreshed while we waited.
        let (access, refresh_token) = blocking(&self.store, move |s| {
            Ok((s.get_secret::<AccessToken>(&key)?, s.get_secret::<RefreshToken>(&key)?))
        })
        .await?;
        if access.is_none() && refresh_token.is_none() {
            return Err(self.lost(&record, "its tokens are missing from the keyring").await);
        }
        let expired = record.expires_at.is_some_and(|exp| self.now() >= exp);
        if expired && record.expiry_is_final {
            // A refresh would only bring back a token with the same, passed expiry.
            let reason = "its grant ended at its expiry; link it again";
            self.set_status(&record, AccountStatus::NeedsRelink, Some(reason.into()), Some(ErrorKind::NeedsRelink))
                .await;
            return Err(Error::new(ErrorKind::NeedsRelink, format!("{}: {reason}", record.id)));
        }
        let too_short = self.too_short(&record, why);
        // Checked under the lock: a caller that queued behind a refresh finds it done.
        if let (Some(access), false) = (&access, self.is_due(&record, why)) {
            self.access_tokens.lock().expect("access tokens lock").insert(record.id.clone(), access.clone());
            return Ok((access.clone(), record.expires_at));
        }
        // What may still be handed out if a refresh cannot be had; a lost one never is.
        let still_valid = access.filter(|_| !expired);
        let Some(refresh_token) = refresh_token else {
            if let (Some(access), false) = (&still_valid, too_short) {
                return Ok((access.clone(), record.expires_at));
            }
            if let (Some(_), Refresh::WithAtLeast(seconds)) = (&still_valid, why) {
                return Err(Error::new(
                    ErrorKind::NeedsRelink,
                    format!(
                        "the access token of {} expires in less than {seconds} s and there is no refresh token to \
                         renew it; link it again",
                        record.id
                    ),
                ));
            }
            if record.has_refresh_token {
                return Err(self.lost(&record, "its refresh token is missing from the keyring").await);
            }
            self.set_status(
                &record,
                AccountStatus::Expired,
                Some("The access token expired and the provider gave no refresh token; link it again".into()),
                None,
            )
            .await;
            return Err(Error::new(
                ErrorKind::NeedsRelink,
                format!("the access token of {} has expired and there is no refresh token; link it again", record.id),
            ));
        };
        let fingerprint = AccountRecord::fingerprint(refresh_token.expose());
        let changed_elsewhere = record.refresh_fingerprint.as_ref().is_some_and(|known| *known != fingerprint);
        if let (true, Some(access)) = (changed_elsewhere, &still_valid) {
            // Another Pixy refreshed through the shared keyring: use its tokens, do not spend its
            // refresh token a second time. Its expiry is unknown here, so check again soon.
            let mut adopted = record.clone();
            adopted.refresh_fingerprint = Some(fingerprint);
            adopted.obtained_at = self.now();
            adopted.expires_at = Some(self.now() + 300);
            adopted.status = AccountStatus::Connected;
            adopted.last_error = None;
            adopted.reason = None;
            self.upsert(adopted.clone()).await?;
            tracing::info!(account = %record.id, "tokens refreshed elsewhere were adopted");
            return Ok((access.clone(), adopted.expires_at));
        }
        let provider = self.provider_of(&record).await?;
        self.set_status(&record, AccountStatus::Refreshing, None, record.last_error).await;
        let tokens = match self.refresh_with_retries(&provider, &refresh_token, why).await {
            Ok(tokens) => tokens,
            Err(e) if e.kind == ErrorKind::NeedsRelink => {
                self.set_status(&record, AccountStatus::NeedsRelink, Some(e.message.clone()), Some(e.kind)).await;
                return Err(e);
            }
            Err(e) => match still_valid.filter(|_| !too_short) {
                Some(access) => {
                    // Stale but linked: the current token still works; the scheduler retries.
                    self.set_status(&record, AccountStatus::Connected, None, Some(e.kind)).await;
                    tracing::info!(account = %record.id, kind = ?e.kind, "refresh failed; the current token is still valid");
                    return Ok((access, record.expires_at));
                }
                None => {
                    self.set_status(&record, AccountStatus::Error, Some(e.message.clone()), Some(e.kind)).await;
                    return Err(e);
                }
            },
        };
        // The rotated refresh token is stored before the new access token is handed out; if the
        // keyring refuses, the old tokens stay as they were and the error says so.
        if let Err(e) = self.write_tokens(&record.id, &tokens, false).await {
            self.set_status(&record, AccountStatus::Error, Some(e.message.clone()), Some(e.kind)).await;
            return Err(e);
        }
        let now = self.now();
        let mut updated = record.clone();
        updated.obtained_at = now;
        updated.expires_at = tokens.expiry(now);
        // The token carries its own expiry and the refresh did not move it (a Grantex grant
        // token keeps its grant's exp): refreshing ahead of it again would loop.
        updated.expiry_is_final = tokens.expires_at.is_some() && updated.expires_at <= record.expires_at;
        if updated.expiry_is_final {
            tracing::info!(account = %record.id, "the refresh kept the same expiry; it is not refreshed again");
        }
        updated.status = AccountStatus::Connected;
        updated.reason = None;
        updated.last_error = None;
        updated.has_refresh_token = tokens.refresh_token.is_some();
        updated.refresh_fingerprint = tokens.refresh_token.as_ref().map(|r| AccountRecord::fingerprint(r.expose()));
        if let Some(scopes) = &tokens.scopes {
            updated.scopes = scopes.clone();
        }
        let updated_expiry = updated.expires_at;
        self.upsert(updated).await?;
        tracing::info!(account = %record.id, "refreshed");
        Ok((tokens.access_token, updated_expiry))
    }

    /// One refresh; a caller waiting on `pixy token` gets two quick retries on network errors
    /// and 5xx.
    async fn refresh_with_retries(&self, provider: &Provider, token: &RefreshToken, why: Refresh) -> Result<TokenSet> {
        let mut delay = Duration::from_millis(250);
        let attempts = if matches!(why, Refresh::WhenDue | Refresh::WithAtLeast(_)) { 3 } else { 1 };
        // One key for the refresh and its retries (Grantex: a retry is not a second refresh).
        let idempotency_key = crate::grantex::idempotency_key();
        for attempt in 1..=attempts {
            match self.refresh_once(provider, token, &idempotency_key).await {
                Err(e) if e.kind == ErrorKind::Network && attempt < attempts => {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                other => return other,
            }
        }
        unreachable!("the last attempt returns")
    }

    /// One refresh in the provider's protocol.
    async fn refresh_once(&self, provider: &Provider, token: &RefreshToken, idempotency_key: &str) -> Result<TokenSet> {
        match &provider.grantex {
            None => refresh(&self.http, provider, token).await,
            Some(_) => {
                let api_key = self.required_api_key(provider).await?;
                let now = crate::clock::Clock::now(&crate::clock::SystemClock);
                crate::grantex::refresh(&self.http, provider, &api_key, token, idempotency_key, now).await
            }
        }
    }

    /// Whether the account's token must be refreshed before it is handed out for `why`.
    fn is_due(&self, record: &AccountRecord, why: Refresh) -> bool {
        let expired = record.expires_at.is_some_and(|exp| self.now() >= exp);
        why == Refresh::Now
            || expired
            || self.too_short(record, why)
            || record.refresh_due().is_some_and(|due| self.now() >= due)
    }

    /// Whether the token would expire sooner than a caller asked it to last.
    fn too_short(&self, record: &AccountRecord, why: Refresh) -> bool {
        match why {
            Refresh::WithAtLeast(seconds) => {
                record.expires_at.is_some_and(|exp| exp < self.now().saturating_add(seconds))
            }
            _ => false,
        }
    }

    /// Drops the access token held for an account: its secrets changed or are gone.
    pub(super) fn forget_access_token(&self, id: &str) {
        self.access_tokens.lock().expect("access tokens lock").remove(id);
    }

    /// Deletes every secret of an account, and the token held for it.
    pub(super) async fn delete_secrets(&self, id: &str) -> Result<()> {
        self.forget_access_token(id);
        let key = id.to_string();
        blocking(&self.store, move |s| s.delete_all(&key)).await
    }

    /// The keyring lost a secret of this account: it must be linked again.
    async fn lost(&self, record: &AccountRecord, what: &str) -> Error {
        self.forget_access_token(&record.id);
        // The reason is shown beside the account, so it does not repeat the account's id.
        let reason = format!("{what}; link it again");
        self.set_status(record, AccountStatus::NeedsRelink, Some(reason.clone()), Some(ErrorKind::NeedsRelink)).await;
        Error::new(ErrorKind::NeedsRelink, format!("{}: {reason}", record.id))
    }
}
