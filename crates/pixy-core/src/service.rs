//! The owner behind the socket: the one place that links, refreshes, hands out and revokes.
//!
//! Invariants: only this service reads or writes tokens; refreshes of one account are
//! single-flight (a per-account lock, and the token is re-read from the keyring under it, so a
//! refresh another process already did is used rather than repeated); a rotated refresh token is
//! stored before the new access token is handed out; the keyring is probed before a browser
//! opens; re-linking an account revokes the refresh token it replaced unless that would end the
//! new sign-in too; unlink revokes (refresh token first) and then deletes, even when revocation
//! fails.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch, Notify};

use crate::account::{AccountIndex, AccountRecord, Endpoints};
use crate::catalog::{Catalog, ProvidersFile};
use crate::discovery::discover;
use crate::error::{Error, ErrorKind, Result};
use crate::exchange::{now, TokenSet};
use crate::flow::{LinkHandle, LinkOptions, Progress};
use crate::ipc::protocol::{
    AccountStatus, AccountSummary, Event, LinkRequest, ProviderSelector, ProviderSummary, Request,
};
use crate::provider::{Provider, ProviderConfig};
use crate::refresh::refresh;
use crate::revoke::{revoke, still_accepted, Revocation};
use crate::store::{blocking, Field, TokenStore};

/// Where the service keeps things and what it offers.
pub struct ServiceConfig {
    /// The account index file.
    pub index_path: PathBuf,
    /// providers.toml.
    pub providers_path: PathBuf,
    /// The embedded demo provider's issuer, when it runs.
    pub demo_issuer: Option<String>,
    /// The demo provider's client id.
    pub demo_client_id: String,
    /// How long one request to a provider may take.
    pub http_timeout: Duration,
}

/// Why an access token is asked for, which decides when and how hard to refresh.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Refresh {
    /// A caller waiting on `pixy token`: refresh when due, with quick retries.
    WhenDue,
    /// The daemon's own schedule: one attempt when due; it backs off between its attempts.
    Scheduled,
    /// Now, due or not, once: to find out whether the provider still honours the refresh token.
    Now,
}

/// A link waiting for the person: its number, the switch that stops it, and what tells that it
/// has ended.
type RunningLink = (u64, oneshot::Sender<()>, oneshot::Receiver<()>);

/// A provider built from a definition, with the catalog it came from (`None` for the demo).
type Built = (Option<Arc<Catalog>>, Provider);

/// The daemon's state.
pub struct Service {
    http: reqwest::Client,
    store: Arc<dyn TokenStore>,
    index: AccountIndex,
    accounts: tokio::sync::Mutex<Vec<AccountRecord>>,
    /// What was lost when the index was read, said with every status until the daemon restarts.
    index_problem: Option<String>,
    /// Links the last daemon left pending, for [`Service::reconcile`].
    pending_at_start: Mutex<Vec<String>>,
    config: ServiceConfig,
    providers_file: Arc<ProvidersFile>,
    /// Providers built (discovered) so far, by id: an entry is built again once the file changed.
    providers: tokio::sync::Mutex<HashMap<String, Built>>,
    account_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Links waiting for the person, by provider id, with the switch that stops each.
    running: Mutex<HashMap<String, RunningLink>>,
    flow_numbers: std::sync::atomic::AtomicU64,
    summaries: watch::Sender<Vec<AccountSummary>>,
    quit: Arc<Notify>,
}

impl Service {
    /// Loads the account index and builds the service.
    pub fn new(config: ServiceConfig, store: Arc<dyn TokenStore>, quit: Arc<Notify>) -> Result<Service> {
        let index = AccountIndex::new(&config.index_path);
        let loaded = index.load()?;
        let mut accounts = loaded.accounts;
        let accounts_pending = accounts.iter().filter(|a| a.pending).map(|a| a.id.clone()).collect();
        for a in accounts.iter_mut().filter(|a| a.status == AccountStatus::Refreshing) {
            // A refresh the last daemon did not finish: the scheduler tries again.
            a.status = AccountStatus::Connected;
        }
        let (summaries, _) = watch::channel(summaries_of(&accounts));
        Ok(Service {
            http: crate::http::client(config.http_timeout),
            store,
            index,
            accounts: tokio::sync::Mutex::new(accounts),
            index_problem: loaded.problem,
            pending_at_start: Mutex::new(accounts_pending),
            providers_file: Arc::new(ProvidersFile::new(&config.providers_path)),
            config,
            providers: tokio::sync::Mutex::new(HashMap::new()),
            account_locks: Mutex::new(HashMap::new()),
            running: Mutex::new(HashMap::new()),
            flow_numbers: Default::default(),
            summaries,
            quit,
        })
    }

    /// Account summaries, updated on every change (the tray watches this).
    pub fn summaries(&self) -> watch::Receiver<Vec<AccountSummary>> {
        self.summaries.subscribe()
    }

    /// Serves one request, sending its events to `out`; the last one sent is terminal.
    pub async fn handle(&self, request: Request, out: mpsc::Sender<Event>) {
        let result = match request {
            Request::Ping => Ok(Event::Pong { version: env!("CARGO_PKG_VERSION").into(), pid: std::process::id() }),
            Request::Providers => Ok(Event::Providers { providers: self.provider_list().await }),
            Request::Status => Ok(Event::Status {
                accounts: summaries_of(&self.accounts.lock().await),
                problem: self.index_problem.clone(),
            }),
            Request::Link(link) => self.link(link, &out).await,
            Request::Token { account } => self.token(&account).await,
            Request::Unlink { account } => self.unlink(&account).await,
            Request::Shutdown => {
                self.quit.notify_waiters();
                self.quit.notify_one();
                Ok(Event::ShuttingDown)
            }
        };
        let event = result.unwrap_or_else(|e| Event::Error { kind: e.kind, message: e.message });
        let _ = out.send(event).await;
    }

    /// The demo, then every entry of providers.toml, the broken ones with their problem.
    async fn provider_list(&self) -> Vec<ProviderSummary> {
        let mut list = Vec::new();
        if let Some(issuer) = &self.config.demo_issuer {
            list.push(ProviderSummary {
                id: "demo".into(),
                label: "Demo".into(),
                issuer: issuer.clone(),
                demo: true,
                problem: None,
            });
        }
        let catalog = self.providers_file.current().await;
        if let Some(problem) = &catalog.problem {
            let file = self.providers_file.path().file_name().map(|n| n.to_string_lossy().into_owned());
            let file = file.unwrap_or_else(|| "providers.toml".into());
            list.push(ProviderSummary {
                id: file.clone(),
                label: file,
                issuer: String::new(),
                demo: false,
                problem: Some(problem.clone()),
            });
        }
        for entry in &catalog.entries {
            list.push(match &entry.definition {
                Ok(p) => ProviderSummary {
                    id: p.id.clone(),
                    label: p.label.clone().unwrap_or_else(|| p.id.clone()),
                    issuer: p.issuer.clone(),
                    demo: false,
                    problem: None,
                },
                Err(problem) => ProviderSummary {
                    id: entry.id.clone(),
                    label: entry.id.clone(),
                    issuer: String::new(),
                    demo: false,
                    problem: Some(problem.clone()),
                },
            });
        }
        list
    }

    /// The provider with this id: the demo, or the entry of providers.toml as the file is now.
    async fn provider(&self, id: &str) -> Result<Provider> {
        if id == "demo" {
            if let Some((_, p)) = self.providers.lock().await.get(id) {
                return Ok(p.clone());
            }
            let issuer = self.config.demo_issuer.clone().ok_or_else(|| {
                Error::new(ErrorKind::InvalidRequest, "the demo provider is not running in this daemon")
            })?;
            let provider = self.build(adhoc_config("demo", "Demo", &issuer, &self.config.demo_client_id), true).await?;
            self.providers.lock().await.insert(id.to_string(), (None, provider.clone()));
            return Ok(provider);
        }
        let catalog = self.providers_file.current().await;
        let Some(entry) = catalog.get(id) else {
            let problem = catalog.problem.as_deref().map(|p| format!(" ({p})")).unwrap_or_default();
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                format!("no provider {id:?}{problem}; `pixy providers` lists them, and providers.toml adds more"),
            ));
        };
        let config = entry.definition.clone().map_err(|problem| Error::new(ErrorKind::ProviderConfig, problem))?;
        if let Some((Some(built_from), p)) = self.providers.lock().await.get(id) {
            if Arc::ptr_eq(built_from, &catalog) {
                return Ok(p.clone());
            }
        }
        let provider = self.build(config, false).await?;
        self.providers.lock().await.insert(id.to_string(), (Some(catalog), provider.clone()));
        Ok(provider)
    }

    /// The provider to refresh, check or revoke an account's tokens with: its current definition
    /// when that can be used, so a fix in providers.toml takes effect; otherwise the endpoints the
    /// account was linked with, so one broken definition does not strand its accounts.
    async fn provider_of(&self, record: &AccountRecord) -> Result<Provider> {
        let current = match self.provider(&record.provider).await {
            Ok(provider) => return Ok(provider),
            // Linked by issuer, not from the file: its own endpoints, else discovery again.
            Err(e) if e.kind == ErrorKind::InvalidRequest && record.provider != "demo" => {
                match record.linked_provider() {
                    Some(linked) => return Ok(linked),
                    None => {
                        let config =
                            adhoc_config(&record.provider, &record.provider, &record.issuer, &record.client_id);
                        return self.build(config, false).await;
                    }
                }
            }
            Err(e) => e,
        };
        match record.linked_provider() {
            Some(linked) if record.provider != "demo" => {
                tracing::info!(account = %record.id, error = %current, "using the endpoints the account was linked with");
                Ok(linked)
            }
            _ => Err(current),
        }
    }

    async fn build(&self, config: ProviderConfig, demo: bool) -> Result<Provider> {
        let meta = if config.is_explicit() { None } else { Some(discover(&self.http, &config.issuer).await?) };
        let mut provider = config.into_provider(meta.as_ref())?;
        provider.demo = demo;
        Ok(provider)
    }

    async fn link(&self, request: LinkRequest, out: &mpsc::Sender<Event>) -> Result<Event> {
        let provider = match &request.provider {
            ProviderSelector::Named { id } => self.provider(id).await?,
            ProviderSelector::Issuer { issuer, client_id } => {
                let id = provider_id_for_issuer(issuer)?;
                self.build(adhoc_config(&id, &id, issuer, client_id), false).await?
            }
        };
        // Found before the browser opens, not after the person has consented.
        blocking(&self.store, |s| s.probe()).await?;
        let options = LinkOptions {
            scopes: request.scopes,
            auth_params: request.auth_params,
            open_browser: request.open_browser,
            browser: request.browser,
            timeout: Duration::from_secs(request.timeout_secs.unwrap_or(300).clamp(1, 3600)),
            loopback: provider.loopback.clone(),
        };
        // A new link with a provider replaces one still waiting: that frees its fixed port, and
        // this request came through the peer-checked socket, so the stop is authenticated.
        let (stop_tx, mut stop_rx) = oneshot::channel();
        let (_ended_tx, ended_rx) = oneshot::channel::<()>();
        let number = self.flow_numbers.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let earlier =
            self.running.lock().expect("running lock").insert(provider.id.clone(), (number, stop_tx, ended_rx));
        if let Some((_, stop, ended)) = earlier {
            let _ = stop.send(());
            // Its port must be free before this flow binds (a provider's fixed port).
            let _ = tokio::time::timeout(Duration::from_secs(3), ended).await;
            tracing::info!(provider = %provider.id, "an earlier link with this provider was replaced");
        }
        let mut handle = LinkHandle::start(self.http.clone(), provider.clone(), options);
        loop {
            let progress = tokio::select! {
                p = handle.progress() => p,
                _ = &mut stop_rx => {
                    handle.cancel();
                    let _ = handle.result().await;
                    return Err(Error::new(ErrorKind::Cancelled, "a newer link with this provider replaced this one"));
                }
            };
            let Some(progress) = progress else { break };
            let event = match progress {
                Progress::Authorize { url } => Event::Authorize { url },
                Progress::Waiting { seconds_left } => Event::Waiting { seconds_left },
                Progress::Exchanging => Event::Exchanging,
            };
            let _ = out.send(event).await;
        }
        let linked = handle.result().await;
        {
            let mut running = self.running.lock().expect("running lock");
            if running.get(&provider.id).is_some_and(|(n, _, _)| *n == number) {
                running.remove(&provider.id);
            }
        }
        let linked = linked?;
        let id = AccountRecord::id_for(&provider.id, &provider.issuer, &linked.identity.subject);
        let mut record = AccountRecord {
            id: id.clone(),
            provider: provider.id.clone(),
            subject: linked.identity.subject,
            label: linked.identity.label,
            scopes: linked.tokens.scopes.clone().unwrap_or_default(),
            obtained_at: now(),
            expires_at: linked.tokens.expires_at,
            status: AccountStatus::Connected,
            issuer: provider.issuer.clone(),
            client_id: provider.client_id.clone(),
            endpoints: Some(Endpoints::of(&provider)),
            has_refresh_token: linked.tokens.refresh_token.is_some(),
            refresh_fingerprint: linked.tokens.refresh_token.as_ref().map(|r| AccountRecord::fingerprint(r.expose())),
            reason: None,
            last_error: None,
            revocation_ends_grant: false,
            pending: false,
        };
        let replaced_refresh_token = {
            let lock = self.account_lock(&id);
            let _guard = lock.lock().await;
            // Re-linking the same account replaces its tokens.
            let replaced = self.accounts.lock().await.iter().find(|a| a.id == id).cloned();
            let mut replaced_refresh_token = None;
            if let Some(replaced) = &replaced {
                record.revocation_ends_grant = replaced.revocation_ends_grant;
                let key = id.clone();
                match blocking(&self.store, move |s| s.get(&key, Field::RefreshToken)).await {
                    Ok(token) => replaced_refresh_token = token,
                    Err(e) => {
                        tracing::info!(account = %id, error = %e, "the replaced refresh token cannot be read; it is not revoked")
                    }
                }
            }
            self.store_link(&provider, &record, &linked.tokens, replaced.is_some()).await?;
            tracing::info!(account = %id, provider = %provider.id, relinked = replaced.is_some(), "account linked");
            replaced_refresh_token
        };
        if let Some(replaced) = replaced_refresh_token {
            self.revoke_replaced(&provider, &record, &replaced, &linked.tokens).await?;
        }
        Ok(Event::Linked { account: record.summary() })
    }

    /// Re-linking revokes the refresh token it replaced, so no copy of the old sign-in stays
    /// usable. A provider that issued the new sign-in on the same grant (oidc-provider in the
    /// same browser session, Google) ends the whole grant with it (RFC 7009 §2), so the new
    /// tokens are checked afterwards; if they died too, the account says so and its replaced
    /// tokens are left to expire from then on.
    async fn revoke_replaced(
        &self,
        provider: &Provider,
        record: &AccountRecord,
        replaced: &str,
        new: &TokenSet,
    ) -> Result<()> {
        if new.refresh_token.as_ref().is_some_and(|t| t.expose() == replaced) {
            return Ok(());
        }
        if record.revocation_ends_grant {
            tracing::info!(account = %record.id, "the replaced refresh token is left to expire: revoking it would end this sign-in too");
            return Ok(());
        }
        if revoke(&self.http, provider, replaced, "refresh_token").await != Revocation::Revoked {
            tracing::info!(account = %record.id, "the provider did not confirm the revocation of the replaced refresh token");
            return Ok(());
        }
        let survived = match still_accepted(&self.http, provider, new.access_token.expose()).await {
            Some(accepted) => accepted,
            // Without userinfo, a refresh tells: it is what keeps the account linked.
            None if new.refresh_token.is_some() => match self.fresh_access_token(&record.id, Refresh::Now).await {
                Err(e) => e.kind != ErrorKind::NeedsRelink,
                Ok(_) => true,
            },
            None => true,
        };
        tracing::info!(account = %record.id, survived, "the replaced refresh token was revoked");
        if survived {
            return Ok(());
        }
        let mut ended = self.find(&record.id).await?;
        ended.revocation_ends_grant = true;
        let reason = "the provider ended this sign-in together with the one it replaced; link it again \
                      (its replaced tokens will be left to expire from now on)";
        self.set_status(&ended, AccountStatus::NeedsRelink, Some(reason.into()), Some(ErrorKind::NeedsRelink)).await;
        Err(Error::new(ErrorKind::NeedsRelink, format!("{}: {reason}", record.id)))
    }

    /// Stores a link's tokens and record in an order a crash cannot tear apart: a new account is
    /// recorded as pending, then its secrets are written, then it is marked complete (see
    /// [`Service::reconcile`] for what a crash in between leaves). When a step fails, the new
    /// tokens are revoked and deleted rather than left live with nothing naming them.
    async fn store_link(
        &self,
        provider: &Provider,
        record: &AccountRecord,
        tokens: &TokenSet,
        relink: bool,
    ) -> Result<()> {
        if relink {
            // The record exists and names the entries whose values are replaced in place.
            self.write_tokens(&record.id, tokens, true).await?;
            return self.upsert(record.clone()).await;
        }
        let stored = async {
            self.upsert(AccountRecord { pending: true, ..record.clone() }).await?;
            self.write_tokens(&record.id, tokens, true).await?;
            self.upsert(record.clone()).await
        };
        if let Err(e) = stored.await {
            self.abandon(provider, &record.id, tokens).await;
            return Err(Error::new(
                e.kind,
                format!("{}; the new sign-in was revoked so that it is not left live", e.message),
            ));
        }
        Ok(())
    }

    /// Undoes a link that could not be stored whole: revokes its tokens and deletes its secrets
    /// and its record, each as far as it goes.
    async fn abandon(&self, provider: &Provider, id: &str, tokens: &TokenSet) {
        let mut revocation = Revocation::Revoked;
        if let Some(rt) = &tokens.refresh_token {
            revocation = revocation.and(revoke(&self.http, provider, rt.expose(), "refresh_token").await);
        }
        revocation = revocation.and(revoke(&self.http, provider, tokens.access_token.expose(), "access_token").await);
        let key = id.to_string();
        let deleted = blocking(&self.store, move |s| Field::ALL.iter().try_for_each(|f| s.delete(&key, *f))).await;
        if self.remove(id).await.is_err() {
            // The index cannot be written: at least no client or schedule sees the record.
            self.accounts.lock().await.retain(|a| a.id != id);
        }
        tracing::warn!(account = %id, ?revocation, secrets_deleted = deleted.is_ok(), "a link that could not be stored was undone");
    }

    /// Puts the index and the keyring back in step at start, after a crash or a fault between
    /// their writes: sweeps the index's unfinished temporary files; finishes a pending link whose
    /// secrets were all written and rolls back one whose were not; revokes (where its provider
    /// can be found) and deletes every secret that no account names. Runs beside the first
    /// requests: a link in progress records its account before it writes a secret, so its
    /// secrets are never taken for orphans.
    pub async fn reconcile(&self) {
        let swept = self.index.sweep_temp_files();
        if swept > 0 {
            tracing::info!(swept, "unfinished index writes were swept");
        }
        let pending = std::mem::take(&mut *self.pending_at_start.lock().expect("pending lock"));
        for id in pending {
            self.finish_or_roll_back(&id).await;
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
        let secrets =
            blocking(&self.store, move |s| Ok((s.get(&key, Field::AccessToken)?, s.get(&key, Field::RefreshToken)?)));
        let (access, refresh_token) = match secrets.await {
            Ok(secrets) => secrets,
            Err(e) => {
                tracing::info!(account = %id, error = %e, "a pending link cannot be checked; it is left for the next start");
                return;
            }
        };
        if access.is_some() && (refresh_token.is_some() || !record.has_refresh_token) {
            let finished = AccountRecord { pending: false, ..record };
            let saved = self.upsert(finished).await;
            tracing::info!(account = %id, saved = saved.is_ok(), "a pending link whose secrets were all written was finished");
            return;
        }
        let revocation = self.revoke_stored(&record.provider, id, record.linked_provider()).await;
        let key = id.to_string();
        let deleted = blocking(&self.store, move |s| Field::ALL.iter().try_for_each(|f| s.delete(&key, *f))).await;
        let removed = self.remove(id).await;
        tracing::info!(account = %id, ?revocation, deleted = deleted.is_ok(), removed = removed.is_ok(), "a pending link that was not written whole was rolled back");
    }

    /// Revokes and deletes the secrets of an account the index does not name.
    async fn sweep_orphan(&self, account: &str, fields: &[Field]) {
        // Account ids are PROVIDER-HASH: the provider, if it is still defined, can revoke them.
        let provider_id = account.rsplit_once('-').map_or(account, |(provider, _)| provider);
        let revocation = self.revoke_stored(provider_id, account, None).await;
        let key = account.to_string();
        let fields = fields.to_vec();
        let deleted = blocking(&self.store, move |s| fields.iter().try_for_each(|f| s.delete(&key, *f))).await;
        tracing::info!(account, ?revocation, deleted = deleted.is_ok(), "secrets that no account names were swept");
    }

    /// Revokes what the store holds for `account` (refresh token first) at `provider_id`, or at
    /// the endpoints given when that provider cannot be found.
    async fn revoke_stored(&self, provider_id: &str, account: &str, linked: Option<Provider>) -> Revocation {
        let provider = match self.provider(provider_id).await {
            Ok(provider) => provider,
            Err(_) => match linked {
                Some(provider) => provider,
                None => return Revocation::NotAsked,
            },
        };
        let key = account.to_string();
        let secrets =
            blocking(&self.store, move |s| Ok((s.get(&key, Field::RefreshToken)?, s.get(&key, Field::AccessToken)?)));
        let Ok((refresh_token, access)) = secrets.await else { return Revocation::NotAsked };
        let mut revocation = Revocation::Revoked;
        for (token, hint) in [(refresh_token, "refresh_token"), (access, "access_token")] {
            if let Some(token) = token {
                revocation = revocation.and(revoke(&self.http, &provider, &token, hint).await);
            }
        }
        revocation
    }

    /// Writes a token set: the refresh token first, so a crash between writes never leaves a new
    /// access token whose refresh token was lost. A new link's set is written whole: a secret it
    /// lacks is deleted, never left over from the sign-in it replaced.
    async fn write_tokens(&self, id: &str, tokens: &TokenSet, new_link: bool) -> Result<()> {
        let id = id.to_string();
        let tokens = tokens.clone();
        blocking(&self.store, move |s| {
            match &tokens.refresh_token {
                Some(rt) => s.put(&id, Field::RefreshToken, rt.expose())?,
                None if new_link => s.delete(&id, Field::RefreshToken)?,
                // A refresh always carries one (the rotated one or the one it used).
                None => {}
            }
            s.put(&id, Field::AccessToken, tokens.access_token.expose())?;
            match &tokens.id_token {
                Some(it) => s.put(&id, Field::IdToken, it.expose()),
                // A refresh may leave the ID token out (OIDC Core §12.2): keep the one we have.
                None if new_link => s.delete(&id, Field::IdToken),
                None => Ok(()),
            }
        })
        .await
        .map_err(|e| Error::new(e.kind, format!("the new tokens could not be stored: {}", e.message)))
    }

    async fn upsert(&self, record: AccountRecord) -> Result<()> {
        let mut accounts = self.accounts.lock().await;
        let mut next = accounts.clone();
        match next.iter_mut().find(|a| a.id == record.id) {
            Some(existing) => *existing = record,
            None => next.push(record),
        }
        self.index.save(&next)?;
        *accounts = next;
        self.summaries.send_replace(summaries_of(&accounts));
        Ok(())
    }

    async fn remove(&self, id: &str) -> Result<()> {
        let mut accounts = self.accounts.lock().await;
        let next: Vec<_> = accounts.iter().filter(|a| a.id != id).cloned().collect();
        self.index.save(&next)?;
        *accounts = next;
        self.summaries.send_replace(summaries_of(&accounts));
        Ok(())
    }

    fn account_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.account_locks.lock().expect("account locks").entry(id.to_string()).or_default().clone()
    }

    /// The account a person named: its id, or a provider id with exactly one account.
    async fn find(&self, name: &str) -> Result<AccountRecord> {
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

    async fn token(&self, name: &str) -> Result<Event> {
        let record = self.find(name).await?;
        let (access_token, expires_at) = self.fresh_access_token(&record.id, Refresh::WhenDue).await?;
        Ok(Event::Token { account: record.id, access_token: crate::ipc::protocol::TokenText(access_token), expires_at })
    }

    /// A usable access token for an account, refreshed first when due (see [`Refresh`]).
    /// Single-flight per account: callers queue on the account's lock and find the token their
    /// predecessor refreshed.
    async fn fresh_access_token(&self, id: &str, why: Refresh) -> Result<(String, Option<u64>)> {
        let lock = self.account_lock(id);
        let _guard = lock.lock().await;
        let record = self.find(id).await?;
        let key = record.id.clone();
        // Read under the lock, from the keyring: another caller, or another Pixy sharing this
        // keyring, may have refreshed while we waited.
        let (access, refresh_token) =
            blocking(&self.store, move |s| Ok((s.get(&key, Field::AccessToken)?, s.get(&key, Field::RefreshToken)?)))
                .await?;
        if access.is_none() && refresh_token.is_none() {
            return Err(self.lost(&record, "its tokens are missing from the keyring").await);
        }
        let expired = record.expires_at.is_some_and(|exp| now() >= exp);
        let due = why == Refresh::Now || expired || record.refresh_due().is_some_and(|due| now() >= due);
        // Checked under the lock: a caller that queued behind a refresh finds it done.
        if let (Some(access), false) = (&access, due) {
            return Ok((access.to_string(), record.expires_at));
        }
        let still_valid = access.is_some() && !expired;
        let access = access.unwrap_or_default();
        let Some(refresh_token) = refresh_token else {
            if still_valid {
                return Ok((access.to_string(), record.expires_at));
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
        let fingerprint = AccountRecord::fingerprint(&refresh_token);
        let changed_elsewhere = record.refresh_fingerprint.as_ref().is_some_and(|known| *known != fingerprint);
        if changed_elsewhere && still_valid {
            // Another Pixy refreshed through the shared keyring: use its tokens, do not spend its
            // refresh token a second time. Its expiry is unknown here, so check again soon.
            let mut adopted = record.clone();
            adopted.refresh_fingerprint = Some(fingerprint);
            adopted.obtained_at = now();
            adopted.expires_at = Some(now() + 300);
            adopted.status = AccountStatus::Connected;
            adopted.last_error = None;
            adopted.reason = None;
            self.upsert(adopted.clone()).await?;
            tracing::info!(account = %record.id, "tokens refreshed elsewhere were adopted");
            return Ok((access.to_string(), adopted.expires_at));
        }
        let provider = self.provider_of(&record).await?;
        self.set_status(&record, AccountStatus::Refreshing, None, record.last_error).await;
        let tokens = match self.refresh_with_retries(&provider, &refresh_token, why).await {
            Ok(tokens) => tokens,
            Err(e) if e.kind == ErrorKind::NeedsRelink => {
                self.set_status(&record, AccountStatus::NeedsRelink, Some(e.message.clone()), Some(e.kind)).await;
                return Err(e);
            }
            Err(e) if still_valid => {
                // Stale but linked: the current token still works; the scheduler retries.
                self.set_status(&record, AccountStatus::Connected, None, Some(e.kind)).await;
                tracing::info!(account = %record.id, kind = ?e.kind, "refresh failed; the current token is still valid");
                return Ok((access.to_string(), record.expires_at));
            }
            Err(e) => {
                self.set_status(&record, AccountStatus::Error, Some(e.message.clone()), Some(e.kind)).await;
                return Err(e);
            }
        };
        // The rotated refresh token is stored before the new access token is handed out; if the
        // keyring refuses, the old tokens stay as they were and the error says so.
        if let Err(e) = self.write_tokens(&record.id, &tokens, false).await {
            self.set_status(&record, AccountStatus::Error, Some(e.message.clone()), Some(e.kind)).await;
            return Err(e);
        }
        let mut updated = record.clone();
        updated.obtained_at = now();
        updated.expires_at = tokens.expires_at;
        updated.status = AccountStatus::Connected;
        updated.reason = None;
        updated.last_error = None;
        updated.has_refresh_token = tokens.refresh_token.is_some();
        updated.refresh_fingerprint = tokens.refresh_token.as_ref().map(|r| AccountRecord::fingerprint(r.expose()));
        if let Some(scopes) = &tokens.scopes {
            updated.scopes = scopes.clone();
        }
        self.upsert(updated).await?;
        tracing::info!(account = %record.id, "refreshed");
        Ok((tokens.access_token.expose().to_string(), tokens.expires_at))
    }

    /// One refresh; a caller waiting on `pixy token` gets two quick retries on network errors
    /// and 5xx.
    async fn refresh_with_retries(&self, provider: &Provider, refresh_token: &str, why: Refresh) -> Result<TokenSet> {
        let token = crate::secret::RefreshToken::new(refresh_token);
        let mut delay = Duration::from_millis(250);
        let attempts = if why == Refresh::WhenDue { 3 } else { 1 };
        for attempt in 1..=attempts {
            match refresh(&self.http, provider, &token).await {
                Err(e) if e.kind == ErrorKind::Network && attempt < attempts => {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                other => return other,
            }
        }
        unreachable!("the last attempt returns")
    }

    /// The keyring lost a secret of this account: it must be linked again.
    async fn lost(&self, record: &AccountRecord, what: &str) -> Error {
        // The reason is shown beside the account, so it does not repeat the account's id.
        let reason = format!("{what}; link it again");
        self.set_status(record, AccountStatus::NeedsRelink, Some(reason.clone()), Some(ErrorKind::NeedsRelink)).await;
        Error::new(ErrorKind::NeedsRelink, format!("{}: {reason}", record.id))
    }

    /// Keeps every account fresh: refreshes each one ahead of expiry (see
    /// [`AccountRecord::refresh_due`]), backing off exponentially (30 s doubling, capped at
    /// 30 min) after failures. Runs until the daemon stops.
    pub async fn keep_fresh(self: Arc<Self>) {
        let mut changes = self.summaries.subscribe();
        let mut backoff: HashMap<String, (u32, u64)> = HashMap::new();
        loop {
            let accounts = self.accounts.lock().await.clone();
            let mut next_wake = now() + 3600;
            for record in accounts
                .iter()
                .filter(|a| a.has_refresh_token && !a.pending)
                .filter(|a| matches!(a.status, AccountStatus::Connected | AccountStatus::Error))
            {
                let Some(due) = record.refresh_due() else { continue };
                let due = backoff.get(&record.id).map_or(due, |(_, retry_at)| due.max(*retry_at));
                if due > now() {
                    next_wake = next_wake.min(due);
                    continue;
                }
                match self.fresh_access_token(&record.id, Refresh::Scheduled).await {
                    Ok(_) if self.find(&record.id).await.is_ok_and(|r| r.last_error.is_none()) => {
                        backoff.remove(&record.id);
                    }
                    _ => {
                        let (failures, _) = backoff.get(&record.id).copied().unwrap_or((0, 0));
                        let wait = (30u64 << failures.min(6)).min(1800);
                        backoff.insert(record.id.clone(), (failures + 1, now() + wait));
                        next_wake = next_wake.min(now() + wait);
                    }
                }
            }
            let sleep = Duration::from_secs(next_wake.saturating_sub(now()).max(1));
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                changed = changes.changed() => if changed.is_err() { return },
            }
        }
    }

    async fn set_status(
        &self,
        record: &AccountRecord,
        status: AccountStatus,
        reason: Option<String>,
        last_error: Option<ErrorKind>,
    ) {
        let mut updated = record.clone();
        updated.status = status;
        // Shown as a sentence beside the account (error messages start in lower case).
        updated.reason = reason.map(|r| {
            let mut chars = r.chars();
            chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
        });
        updated.last_error = last_error;
        if let Err(e) = self.upsert(updated).await {
            tracing::warn!(error = %e, "cannot save the account's status");
        }
    }

    async fn unlink(&self, name: &str) -> Result<Event> {
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

/// What clients see of the accounts: every one but a link still being stored.
fn summaries_of(accounts: &[AccountRecord]) -> Vec<AccountSummary> {
    accounts.iter().filter(|a| !a.pending).map(AccountRecord::summary).collect()
}

fn adhoc_config(id: &str, label: &str, issuer: &str, client_id: &str) -> ProviderConfig {
    ProviderConfig {
        id: id.to_string(),
        label: Some(label.to_string()),
        issuer: issuer.to_string(),
        client_id: client_id.to_string(),
        scopes: Vec::new(),
        auth_params: Default::default(),
        authorization_endpoint: None,
        token_endpoint: None,
        revocation_endpoint: None,
        userinfo_endpoint: None,
        redirect_host: None,
        redirect_ports: Vec::new(),
        redirect_path: None,
    }
}

/// An id for a provider given only by its issuer: its host and port, e.g. `id.example.com`.
fn provider_id_for_issuer(issuer: &str) -> Result<String> {
    let url =
        url::Url::parse(issuer).map_err(|_| Error::new(ErrorKind::InvalidRequest, "the issuer is not a valid URL"))?;
    let host = url.host_str().ok_or_else(|| Error::new(ErrorKind::InvalidRequest, "the issuer has no host"))?;
    let mut id: String =
        host.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '-' }).collect();
    if let Some(port) = url.port() {
        id.push_str(&format!("-{port}"));
    }
    Ok(id.trim_matches('-').to_string())
}
