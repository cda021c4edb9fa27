//! Running links: one flow per provider at a time (a newer one replaces it), the new account
//! stored in an order a crash cannot tear apart, and the refresh token a re-link replaced revoked
//! unless that would end the new sign-in too.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::providers::provider_id_for_issuer;
use super::tokens::Refresh;
use super::Daemon;
use crate::account::{AccountRecord, Endpoints, ResourceLink};
use crate::error::{Error, ErrorKind, Result};
use crate::exchange::TokenSet;
use crate::flow::{LinkHandle, LinkOptions, Linked, Progress};
use crate::ipc::protocol::{AccountStatus, Event, LinkRequest, ProviderSelector, SecretText};
use crate::provider::Provider;
use crate::revoke::{revoke, still_accepted, Revocation};
use crate::secret::{ApiKey, RefreshToken};
use crate::store::blocking;

/// The next paste of a link's client; never, for a client that cannot paste.
async fn next_paste(pastes: &mut Option<mpsc::Receiver<SecretText>>) -> Option<SecretText> {
    match pastes {
        Some(pastes) => pastes.recv().await,
        None => std::future::pending().await,
    }
}

/// Signing an account in again asks for what it asked for and was granted. OpenID Connect grants
/// `offline_access` (the refresh token) only after a consent prompt (OpenID Connect Core,
/// section 11), which a definition may not say and a link by issuer did not keep.
fn reconnect_options(request: &mut LinkRequest, record: &AccountRecord, provider: &Provider) {
    if request.scopes.is_empty() {
        // What the definition asks for, and what was granted: a provider may leave a scope it
        // honoured (offline_access) out of the scopes it reports.
        request.scopes = provider.default_scopes.clone();
        for scope in &record.scopes {
            if !request.scopes.contains(scope) {
                request.scopes.push(scope.clone());
            }
        }
    }
    let offline = request.scopes.iter().any(|s| s == "offline_access");
    let prompt_given = request.auth_params.iter().chain(&provider.auth_params).any(|(k, _)| k == "prompt");
    if offline && !prompt_given {
        request.auth_params.push(("prompt".into(), "consent".into()));
    }
}

/// A link waiting for the person.
pub(super) struct RunningLink {
    /// Which flow it is (a newer one with the same provider has a higher number).
    number: u64,
    /// Stops it.
    pub(super) stop: oneshot::Sender<()>,
    /// Tells that it has ended (and its port is free).
    pub(super) ended: oneshot::Receiver<()>,
    /// The loopback port it listens on for the redirect, once known (`pixy doctor` lists it).
    pub(super) port: Option<u16>,
}

/// The loopback port an authorization URL's `redirect_uri` names.
fn redirect_port(authorization_url: &str) -> Option<u16> {
    let url = url::Url::parse(authorization_url).ok()?;
    let redirect = url.query_pairs().find(|(k, _)| k == "redirect_uri")?.1.into_owned();
    url::Url::parse(&redirect).ok()?.port()
}

impl Daemon {
    /// Whether a link is waiting for the person. A link whose client hung up was dropped where
    /// it stood and left its entry behind; its stop switch has no receiver any more, so it is
    /// forgotten here.
    pub(super) fn links_waiting(&self) -> bool {
        let mut running = self.running.lock().expect("running lock");
        running.retain(|_, link| !link.stop.is_closed());
        !running.is_empty()
    }

    /// Links an account: the provider resolved, the keyring probed, the flow run (replacing one
    /// still waiting with the same provider), and the result stored whole.
    pub(super) async fn link(
        &self,
        request: LinkRequest,
        out: &mpsc::Sender<Event>,
        mut pastes: Option<mpsc::Receiver<SecretText>>,
    ) -> Result<Event> {
        let mut request = request;
        let provider = match &request.provider {
            ProviderSelector::Named { id } => self.provider(id).await?,
            ProviderSelector::Account { id } => {
                let record = self.accounts.lock().await.iter().find(|a| &a.id == id && !a.pending).cloned();
                let record =
                    record.ok_or_else(|| Error::new(ErrorKind::InvalidRequest, format!("no linked account {id:?}")))?;
                if record.resource.is_some() {
                    let target = record.id.clone();
                    request.provider = ProviderSelector::Resource {
                        target,
                        account: None,
                        client_id: None,
                        client_metadata_url: None,
                        www_authenticate: None,
                        no_resource: false,
                    };
                    return self.link_resource(request, out, pastes).await;
                }
                let provider = self.provider_of(&record).await?;
                reconnect_options(&mut request, &record, &provider);
                provider
            }
            ProviderSelector::Issuer { issuer, client_id } => {
                let id = provider_id_for_issuer(issuer)?;
                self.build(crate::provider::ProviderConfig::adhoc(&id, &id, issuer, client_id), false).await?
            }
            ProviderSelector::Resource { .. } => return self.link_resource(request, out, pastes).await,
        };
        if provider.grantex.is_some() {
            // What the setup lacks is said before the keyring or a key is asked for.
            crate::grantex::settings(&provider)?;
        }
        // Found before the browser opens, not after the person has consented.
        blocking(&self.store, |s| s.probe()).await?;
        // A key given with the request is kept only once it has worked: a mistyped one never
        // replaces a good one.
        let given_key = request.api_key.filter(|_| provider.grantex.is_some()).map(|k| ApiKey::new(k.expose().trim()));
        let api_key = match (&provider.grantex, &given_key) {
            (None, _) => None,
            (Some(_), Some(given)) => Some(given.clone()),
            (Some(_), None) => Some(self.required_api_key(&provider).await?),
        };
        let options = LinkOptions {
            scopes: request.scopes,
            auth_params: request.auth_params,
            open_browser: request.open_browser,
            browser: request.browser,
            timeout: crate::flow::timeout_from(request.timeout_secs),
            loopback: provider.loopback.clone(),
            device: request.device,
            api_key,
        };
        let linked = self.run_flow(&provider, options, out, &mut pastes).await?;
        if let Some(api_key) = &given_key {
            if let Err(e) = self.keep_api_key(&provider.id, api_key).await {
                let revocation = self.end_grant(&provider, linked.tokens.grant_id.as_deref(), Some(api_key)).await;
                tracing::warn!(?revocation, "the API key could not be kept; the new grant was ended");
                return Err(Error::new(e.kind, format!("the API key could not be kept: {}", e.message)));
            }
        }
        let id = AccountRecord::id_for(&provider.id, &provider.issuer, &linked.identity.subject);
        self.store_linked(&provider, linked, id, None).await
    }

    /// Stores a finished link as the account `id` (replacing its tokens when it exists) and
    /// revokes what a re-link replaced.
    pub(super) async fn store_linked(
        &self,
        provider: &Provider,
        linked: Linked,
        id: String,
        resource: Option<ResourceLink>,
    ) -> Result<Event> {
        let mut record = AccountRecord {
            id: id.clone(),
            provider: provider.id.clone(),
            subject: linked.identity.subject,
            label: linked.identity.label,
            scopes: linked.tokens.scopes.clone().unwrap_or_default(),
            obtained_at: self.now(),
            linked_at: Some(self.now()),
            expires_at: linked.tokens.expiry(self.now()),
            status: AccountStatus::Connected,
            issuer: provider.issuer.clone(),
            client_id: provider.client_id.clone(),
            endpoints: Some(Endpoints::of(provider)),
            has_refresh_token: linked.tokens.refresh_token.is_some(),
            refresh_fingerprint: linked.tokens.refresh_token.as_ref().map(|r| AccountRecord::fingerprint(r.expose())),
            reason: None,
            last_error: None,
            revocation_ends_grant: false,
            pending: false,
            grant_id: linked.tokens.grant_id.clone(),
            resource,
            expiry_is_final: false,
        };
        let (replaced_refresh_token, replaced_grant) = {
            let lock = self.account_lock(&id);
            let _guard = lock.lock().await;
            // Re-linking the same account replaces its tokens.
            let replaced = self.accounts.lock().await.iter().find(|a| a.id == id).cloned();
            let mut replaced_refresh_token = None;
            if let Some(replaced) = &replaced {
                record.revocation_ends_grant = replaced.revocation_ends_grant;
                let key = id.clone();
                match blocking(&self.store, move |s| s.get_secret::<RefreshToken>(&key)).await {
                    Ok(token) => replaced_refresh_token = token,
                    Err(e) => {
                        tracing::info!(account = %id, error = %e, "the replaced refresh token cannot be read; it is not revoked")
                    }
                }
            }
            let relink = replaced.is_some();
            self.store_link(provider, &record, &linked.tokens, relink, replaced_refresh_token.as_ref()).await?;
            tracing::info!(account = %id, provider = %provider.id, relinked = relink, "account linked");
            (replaced_refresh_token, replaced.and_then(|r| r.grant_id))
        };
        if provider.grantex.is_some() {
            // The replaced grant ends with its own id; the new one is a grant of its own.
            if replaced_grant.is_some() && replaced_grant != record.grant_id {
                let revocation = self.end_grant(provider, replaced_grant.as_deref(), None).await;
                tracing::info!(account = %record.id, ?revocation, "the replaced grant was ended");
            }
        } else if let Some(replaced) = replaced_refresh_token {
            self.revoke_replaced(provider, &record, &replaced, &linked.tokens).await?;
        }
        Ok(Event::Linked { account: record.summary() })
    }

    /// Runs a flow with `provider`, replacing one still waiting with the same provider, and
    /// passes its progress and the client's pastes along.
    pub(super) async fn run_flow(
        &self,
        provider: &Provider,
        options: LinkOptions,
        out: &mpsc::Sender<Event>,
        pastes: &mut Option<mpsc::Receiver<SecretText>>,
    ) -> Result<Linked> {
        // A new link with a provider replaces one still waiting: that frees its fixed port, and
        // this request came through the peer-checked socket, so the stop is authenticated.
        let (stop_tx, mut stop_rx) = oneshot::channel();
        let (_ended_tx, ended_rx) = oneshot::channel::<()>();
        let number = self.flow_numbers.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let earlier = self
            .running
            .lock()
            .expect("running lock")
            .insert(provider.id.clone(), RunningLink { number, stop: stop_tx, ended: ended_rx, port: None });
        if let Some(RunningLink { stop, ended, .. }) = earlier {
            let _ = stop.send(());
            // Its port must be free before this flow binds (a provider's fixed port).
            let _ = tokio::time::timeout(Duration::from_secs(3), ended).await;
            tracing::info!(provider = %provider.id, "an earlier link with this provider was replaced");
        }
        let mut handle = LinkHandle::start(self.http.clone(), provider.clone(), options);
        // Once the code is being exchanged it has been spent: the flow is no longer stopped, or
        // the tokens it brings would be lost at the provider's side, live and unrevoked.
        let mut exchanging = false;
        loop {
            let progress = tokio::select! {
                // Progress first: an Exchanging already sent is seen before any stop.
                biased;
                p = handle.progress() => p,
                Some(text) = next_paste(pastes), if !exchanging => {
                    if let Some(why) = handle.paste(text).await {
                        let _ = out.send(Event::PasteRejected { reason: why.to_string() }).await;
                    }
                    continue;
                }
                _ = &mut stop_rx, if !exchanging => {
                    handle.cancel();
                    let _ = handle.result().await;
                    return Err(Error::new(ErrorKind::Cancelled, "a newer link with this provider replaced this one"));
                }
            };
            let Some(progress) = progress else { break };
            let event = match progress {
                Progress::Authorize { url, paste_only } => {
                    if !paste_only {
                        if let Some(link) = self.running.lock().expect("running lock").get_mut(&provider.id) {
                            if link.number == number {
                                link.port = redirect_port(&url);
                            }
                        }
                    }
                    Event::Authorize { url, paste_only }
                }
                Progress::Device { user_code, verification_uri, verification_uri_complete, expires_in } => {
                    Event::Device { user_code, verification_uri, verification_uri_complete, expires_in }
                }
                // Waiting again: a pasted code the provider refused was not spent.
                Progress::Waiting { seconds_left } => {
                    exchanging = false;
                    Event::Waiting { seconds_left }
                }
                Progress::BrowserFailed => Event::BrowserFailed,
                Progress::Exchanging => {
                    exchanging = true;
                    Event::Exchanging
                }
            };
            let _ = out.send(event).await;
        }
        let linked = handle.result().await;
        {
            let mut running = self.running.lock().expect("running lock");
            if running.get(&provider.id).is_some_and(|link| link.number == number) {
                running.remove(&provider.id);
            }
        }
        linked
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
        replaced: &RefreshToken,
        new: &TokenSet,
    ) -> Result<()> {
        if new.refresh_token.as_ref().is_some_and(|t| t.expose() == replaced.expose()) {
            return Ok(());
        }
        if record.revocation_ends_grant {
            tracing::info!(account = %record.id, "the replaced refresh token is left to expire: revoking it would end this sign-in too");
            return Ok(());
        }
        if revoke(&self.http, provider, replaced).await != Revocation::Revoked {
            tracing::info!(account = %record.id, "the provider did not confirm the revocation of the replaced refresh token");
            return Ok(());
        }
        let survived = match still_accepted(&self.http, provider, &new.access_token).await {
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
        let lock = self.account_lock(&record.id);
        let _guard = lock.lock().await;
        let mut ended = self.find(&record.id).await?;
        ended.revocation_ends_grant = true;
        let reason = "the provider ended this sign-in together with the one it replaced; link it again \
                      (its replaced tokens will be left to expire from now on)";
        self.set_status(&ended, AccountStatus::NeedsRelink, Some(reason.into()), Some(ErrorKind::NeedsRelink)).await;
        Err(Error::new(ErrorKind::NeedsRelink, format!("{}: {reason}", record.id)))
    }

    /// Stores a link's tokens and record in an order a crash cannot tear apart: a new account is
    /// recorded as pending, then its secrets are written, then it is marked complete (see
    /// [`Daemon::reconcile`] for what a crash in between leaves). When a step fails, the new
    /// tokens are revoked and deleted rather than left live with nothing naming them.
    async fn store_link(
        &self,
        provider: &Provider,
        record: &AccountRecord,
        tokens: &TokenSet,
        relink: bool,
        replaced: Option<&RefreshToken>,
    ) -> Result<()> {
        if relink {
            // The record exists and names the entries whose values are replaced in place.
            let stored = async {
                self.write_tokens(&record.id, tokens, true).await?;
                self.upsert(record.clone()).await
            };
            if let Err(e) = stored.await {
                self.undo_relink(provider, &record.id, tokens, replaced).await;
                return Err(Error::new(
                    e.kind,
                    format!("{}; the new sign-in was revoked and the account keeps its earlier one", e.message),
                ));
            }
            return Ok(());
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

    /// Undoes a re-link that could not be stored whole: revokes the new tokens and puts the
    /// replaced refresh token back (the access token goes, so the next use refreshes rather than
    /// handing out a revoked one). The account's record is left as it was.
    async fn undo_relink(&self, provider: &Provider, id: &str, tokens: &TokenSet, replaced: Option<&RefreshToken>) {
        let revocation = self.revoke_set(provider, tokens).await;
        self.forget_access_token(id);
        let key = id.to_string();
        let replaced = replaced.cloned();
        let restored = blocking(&self.store, move |s| {
            s.delete_all(&key)?;
            match &replaced {
                Some(refresh_token) => s.put_secret(&key, refresh_token),
                None => Ok(()),
            }
        })
        .await;
        tracing::warn!(account = %id, ?revocation, restored = restored.is_ok(), "a re-link that could not be stored was undone");
    }

    /// Revokes a new token set (refresh token first).
    async fn revoke_set(&self, provider: &Provider, tokens: &TokenSet) -> Revocation {
        if provider.grantex.is_some() {
            return self.end_grant(provider, tokens.grant_id.as_deref(), None).await;
        }
        let mut revocation = Revocation::Revoked;
        if let Some(rt) = &tokens.refresh_token {
            revocation = revocation.and(revoke(&self.http, provider, rt).await);
        }
        revocation.and(revoke(&self.http, provider, &tokens.access_token).await)
    }

    /// Undoes a link that could not be stored whole: revokes its tokens and deletes its secrets
    /// and its record, each as far as it goes.
    async fn abandon(&self, provider: &Provider, id: &str, tokens: &TokenSet) {
        let revocation = self.revoke_set(provider, tokens).await;
        let deleted = self.delete_secrets(id).await;
        if self.remove(id).await.is_err() {
            // The index cannot be written: at least no client or schedule sees the record.
            self.accounts.lock().await.retain(|a| a.id != id);
        }
        tracing::warn!(account = %id, ?revocation, secrets_deleted = deleted.is_ok(), "a link that could not be stored was undone");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(scopes: &[&str]) -> AccountRecord {
        serde_json::from_value(serde_json::json!({
            "id": "idp-1", "provider": "127.0.0.1-4000", "subject": "alice", "label": "alice",
            "scopes": scopes, "obtained_at": 0, "expires_at": null, "status": "needs_relink",
            "issuer": "http://127.0.0.1:4000", "client_id": "pixy-test", "has_refresh_token": true,
        }))
        .expect("a record")
    }

    fn request() -> LinkRequest {
        serde_json::from_value(serde_json::json!({ "provider": { "type": "account", "id": "idp-1" } })).unwrap()
    }

    #[test]
    fn reconnect_asks_for_the_granted_scopes_and_for_consent_when_they_hold_offline_access() {
        let mut asked = request();
        reconnect_options(&mut asked, &record(&["openid", "offline_access"]), &Provider::default());
        assert_eq!(asked.scopes, ["openid", "offline_access"]);
        assert_eq!(asked.auth_params, [("prompt".to_string(), "consent".to_string())]);

        let mut plain = request();
        reconnect_options(&mut plain, &record(&["openid"]), &Provider::default());
        assert!(plain.auth_params.is_empty(), "no refresh token was granted, so no consent prompt is forced");

        let defined = Provider {
            auth_params: vec![("prompt".into(), "login consent".into())],
            default_scopes: vec!["openid".into(), "offline_access".into()],
            ..Provider::default()
        };
        let mut own_prompt = request();
        reconnect_options(&mut own_prompt, &record(&["openid", "email"]), &defined);
        assert_eq!(own_prompt.scopes, ["openid", "offline_access", "email"], "asked for, and granted");
        assert!(own_prompt.auth_params.is_empty(), "the definition's own prompt is kept, not doubled");
    }
}
