//! Linking a protected resource (an MCP server) by its URL: the discovery chain
//! ([`crate::resource_link`]), Pixy's client at its authorization server (a given client id, a
//! Client ID Metadata Document, a kept registration or a new dynamic one), the flow with the
//! RFC 8707 resource, and the account named for the resource.
//!
//! Every step that can fail on what a server said fails before any browser opens and before
//! anything stored is touched. A registration is kept per authorization server; a kept one the
//! server no longer knows is replaced once. A looping client cannot open tab after tab: a fourth
//! authorization for the same account and scopes within ten minutes is refused.

use tokio::sync::mpsc;

use super::Daemon;
use crate::account::ResourceLink;
use crate::error::{redact_url, Error, ErrorKind, Result};
use crate::flow::LinkOptions;
use crate::ipc::protocol::{Event, LinkRequest, ProviderSelector, SecretText};
use crate::loopback::{LoopbackOptions, RedirectHost};
use crate::provider::Provider;
use crate::registration::{self, ClientAuth, Method, Registered, Registration};
use crate::resource_link::{Chain, Step};
use crate::secret::{ClientSecret, RegistrationToken};
use crate::store::{blocking, Field};

/// How many authorizations of one account and scope set are started within [`RETRY_WINDOW`].
const MAX_AUTHORIZATIONS: usize = 3;
/// The window of [`MAX_AUTHORIZATIONS`], in seconds.
const RETRY_WINDOW: u64 = 600;

/// Pixy's client at a resource's authorization server for one link.
struct Client {
    registration: Registration,
    secret: Option<ClientSecret>,
    /// The RFC 7592 token of a registration just made, kept with it.
    registration_token: Option<RegistrationToken>,
    /// Kept from an earlier link (so the server may have forgotten it).
    kept: bool,
    /// Already in the registration index (kept, or a dynamic registration just made).
    stored: bool,
}

/// What a resource link is for: the resource's URL, the account's name, the scopes it holds
/// (kept by a step-up), and whether the server takes the `resource` parameter.
struct Target {
    url: String,
    name: String,
    held: Vec<String>,
    no_resource: bool,
}

impl Daemon {
    /// Links the resource a [`ProviderSelector::Resource`] names, or steps up an account linked
    /// to one.
    pub(super) async fn link_resource(
        &self,
        request: LinkRequest,
        out: &mpsc::Sender<Event>,
        mut pastes: Option<mpsc::Receiver<SecretText>>,
    ) -> Result<Event> {
        let ProviderSelector::Resource {
            target,
            account,
            client_id,
            client_metadata_url,
            www_authenticate,
            no_resource,
        } = request.provider
        else {
            unreachable!("only resource links come here");
        };
        let client_secret = request.client_secret.map(|s| s.expose().trim().to_string()).filter(|s| !s.is_empty());
        if client_secret.is_some() && client_id.is_none() {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                "a client secret goes with the client id it belongs to (--client-id)",
            ));
        }
        let target = self.target(target, account, no_resource).await?;
        let mut steps = Vec::new();
        let chain = crate::resource_link::discover(&self.http, &target.url, www_authenticate.as_deref(), &mut |s| {
            steps.push(s)
        })
        .await;
        for step in steps {
            let _ = out.send(Event::Step(step)).await;
        }
        let chain = chain?;
        self.check_replaceable(&target, &chain).await?;
        // Found before a registration is made that could not be kept, and before any browser.
        blocking(&self.store, |s| s.probe()).await?;
        // Scopes a person names replace what the server suggests (a step-up keeps those held).
        let (scopes, source) = if request.scopes.is_empty() {
            (chain.scopes(&target.held), chain.scopes_source())
        } else {
            let mut asked = target.held.clone();
            asked.extend(request.scopes.iter().filter(|s| !target.held.contains(s)).cloned());
            (asked, "as you asked")
        };
        let scope_words = if scopes.is_empty() { "none".to_string() } else { scopes.join(" ") };
        say(out, "scopes", true, format!("{scope_words} ({source})")).await;
        let given = client_id.map(|id| (id, client_secret.map(ClientSecret::new)));
        let mut client =
            self.client_for(&chain, given.clone(), client_metadata_url.as_deref(), &scopes, false, out).await?;
        let options = |provider: &Provider| LinkOptions {
            scopes: scopes.clone(),
            auth_params: request.auth_params.clone(),
            open_browser: request.open_browser,
            browser: request.browser.clone(),
            timeout: crate::flow::timeout_from(request.timeout_secs),
            loopback: provider.loopback.clone(),
            device: false,
            api_key: None,
        };
        self.count_authorization(&target.name, &scopes)?;
        let mut provider = provider_for(&target, &chain, &client, &scopes)?;
        let mut linked = self.run_flow(&provider, options(&provider), out, &mut pastes).await;
        if client.kept && linked.as_ref().is_err_and(is_unknown_client) {
            let why = "the server no longer knows the kept registration; registering again";
            say(out, "registration", false, why.into()).await;
            self.forget_registration(&chain.authorization_server.issuer).await;
            client = self.client_for(&chain, given, client_metadata_url.as_deref(), &scopes, true, out).await?;
            self.count_authorization(&target.name, &scopes)?;
            provider = provider_for(&target, &chain, &client, &scopes)?;
            linked = self.run_flow(&provider, options(&provider), out, &mut pastes).await;
        }
        let mut linked = linked.map_err(|e| resource_refused(e, target.no_resource))?;
        if !client.stored {
            self.keep_registration(&client).await?;
        }
        if linked.tokens.scopes.is_none() {
            // The server did not say which it granted: those asked for.
            linked.tokens.scopes = Some(scopes.clone());
        }
        if linked.identity.is_anonymous() {
            linked.identity.label = crate::text::printable(&resource_label(&target.url), 200);
        }
        let link = ResourceLink {
            url: target.url.clone(),
            resource: provider.resource.clone(),
            metadata_url: chain.metadata_url.clone(),
            authorization_server: chain.authorization_server.issuer.clone(),
            registration: client.registration.method,
        };
        self.store_linked(&provider, linked, target.name, Some(link)).await
    }

    /// What a link target names: a resource's URL (and the account to link it as), or an account
    /// linked to one, whose scopes a step-up keeps and whose refusal of the `resource`
    /// parameter is remembered.
    async fn target(&self, target: String, account: Option<String>, no_resource: bool) -> Result<Target> {
        if crate::resource::is_resource_url(&target) {
            let name = match account {
                Some(name) => checked_name(name)?,
                None => self.name_for(&target).await?,
            };
            return Ok(Target { url: target.trim().to_string(), name, held: Vec::new(), no_resource });
        }
        let record = self.find(&target).await?;
        let Some(link) = record.resource else {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                format!("{} was not linked by a resource's URL; link a resource with `pixy link https://…`", record.id),
            ));
        };
        let no_resource = no_resource || link.resource.is_none();
        Ok(Target { url: link.url, name: record.id, held: record.scopes, no_resource })
    }

    /// Refuses to replace an account of another resource or authorization server: re-linking
    /// replaces an account's tokens and revokes the ones it had, which must go only to the
    /// server that issued them.
    async fn check_replaceable(&self, target: &Target, chain: &Chain) -> Result<()> {
        let accounts = self.accounts.lock().await;
        let Some(existing) = accounts.iter().find(|a| a.id == target.name) else { return Ok(()) };
        let same = existing.resource.as_ref().is_some_and(|r| r.url == target.url)
            && crate::discovery::same_issuer(&existing.issuer, &chain.authorization_server.issuer);
        if same {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::InvalidRequest,
            format!(
                "the account {} is linked to another server or authorization server; name this one with \
                 --account, or unlink {} first",
                existing.id, existing.id
            ),
        ))
    }

    /// The client to link with: a client id the person gave, else a Client ID Metadata Document
    /// where the server takes one, else the registration kept for this server (unless `fresh`),
    /// else a new dynamic registration, kept at once. Says which in a `registration` step.
    async fn client_for(
        &self,
        chain: &Chain,
        given: Option<(String, Option<ClientSecret>)>,
        metadata_document: Option<&str>,
        scopes: &[String],
        fresh: bool,
        out: &mpsc::Sender<Event>,
    ) -> Result<Client> {
        let meta = &chain.authorization_server;
        let now = self.now();
        let made = |client_id: String, method, client_auth, secret| Client {
            registration: Registration {
                issuer: meta.issuer.clone(),
                client_id,
                method,
                client_auth,
                redirect_uri: None,
                registration_client_uri: None,
                registered_at: now,
            },
            secret,
            registration_token: None,
            kept: false,
            stored: false,
        };
        if let Some((client_id, secret)) = given {
            let client_auth = if secret.is_some() { registration::secret_auth(meta) } else { ClientAuth::None };
            let confidential = if secret.is_some() { " (confidential client)" } else { "" };
            say(out, "registration", true, format!("{}{confidential}", Method::Given.words())).await;
            return Ok(made(client_id, Method::Given, client_auth, secret));
        }
        if let Some(document) = metadata_document.filter(|_| meta.client_id_metadata_document_supported) {
            let url = url::Url::parse(document).ok().filter(|u| u.scheme() == "https" && u.path() != "/");
            if url.is_none() {
                let e = Error::new(
                    ErrorKind::InvalidRequest,
                    "a Client ID Metadata Document's URL must be https and have a path (--client-metadata-url)",
                );
                say(out, "registration", false, e.message.clone()).await;
                return Err(e);
            }
            say(out, "registration", true, format!("{} at {}", Method::MetadataDocument.words(), redact_url(document)))
                .await;
            return Ok(made(document.to_string(), Method::MetadataDocument, ClientAuth::None, None));
        }
        if !fresh {
            if let Some(client) = self.kept_client(meta).await? {
                let how = format!("{}, kept from an earlier link with this server", client.registration.method.words());
                say(out, "registration", true, how).await;
                return Ok(client);
            }
        }
        let registered = async {
            let port = free_port()?;
            let redirect_uri = format!("http://{}:{port}{CALLBACK_PATH}", RedirectHost::Ipv4.name());
            registration::register(&self.http, meta, &redirect_uri, scopes, now).await
        };
        match registered.await {
            Ok(Registered { registration, client_secret, registration_token }) => {
                say(out, "registration", true, format!("{}: a new client id", Method::Dynamic.words())).await;
                let client =
                    Client { registration, secret: client_secret, registration_token, kept: false, stored: false };
                // Kept at once: the server holds it now, whatever becomes of this link.
                self.keep_registration(&client).await?;
                Ok(Client { stored: true, ..client })
            }
            Err(e) => {
                say(out, "registration", false, e.message.clone()).await;
                Err(e)
            }
        }
    }

    /// The registration kept for this server, if it can still be used: the server still knows it
    /// (where it can tell, RFC 7592), its secret is in the keyring, and its port is free.
    async fn kept_client(&self, meta: &crate::discovery::Metadata) -> Result<Option<Client>> {
        let Some(registration) = self.registration_of(&meta.issuer).await else { return Ok(None) };
        let key = registration::store_key(&meta.issuer);
        let read = key.clone();
        let token = blocking(&self.store, move |s| s.get_secret::<RegistrationToken>(&read)).await?;
        if let Some(token) = &token {
            if registration::still_registered(&self.http, &registration, token).await == Some(false) {
                tracing::info!(issuer = %redact_url(&meta.issuer), "the server no longer knows the kept registration");
                self.forget_registration(&meta.issuer).await;
                return Ok(None);
            }
        }
        if let Some(port) = registration.redirect_port() {
            if !port_is_free(port) {
                tracing::info!(port, "the kept registration's port is taken; registering again");
                return Ok(None);
            }
        }
        let secret = match registration.client_auth {
            ClientAuth::None => None,
            _ => match blocking(&self.store, move |s| s.get_secret::<ClientSecret>(&key)).await? {
                Some(secret) => Some(secret),
                // Its secret is gone from the keyring: of no use, a new registration replaces it.
                None => return Ok(None),
            },
        };
        Ok(Some(Client { registration, secret, registration_token: None, kept: true, stored: true }))
    }

    async fn registration_of(&self, issuer: &str) -> Option<Registration> {
        let registrations = self.registrations.lock().await;
        registrations.iter().find(|r| crate::discovery::same_issuer(&r.issuer, issuer)).cloned()
    }

    /// Keeps a client as this server's registration, replacing the one before: its secrets in
    /// the keyring (those it lacks deleted, so none of the old one's stays beside it), then the
    /// index, all under the index's lock so two links cannot pair one's id with the other's secret.
    async fn keep_registration(&self, client: &Client) -> Result<()> {
        if let Some(why) = &self.registrations_refused {
            return Err(why.clone());
        }
        let mut registrations = self.registrations.lock().await;
        let key = registration::store_key(&client.registration.issuer);
        let (secret, token) = (client.secret.clone(), client.registration_token.clone());
        blocking(&self.store, move |s| {
            match &secret {
                Some(secret) => s.put_secret(&key, secret)?,
                None => s.delete(&key, Field::ClientSecret)?,
            }
            match &token {
                Some(token) => s.put_secret(&key, token),
                None => s.delete(&key, Field::RegistrationToken),
            }
        })
        .await?;
        let mut next: Vec<Registration> = registrations
            .iter()
            .filter(|r| !crate::discovery::same_issuer(&r.issuer, &client.registration.issuer))
            .cloned()
            .collect();
        next.push(client.registration.clone());
        self.registration_index.save(&next)?;
        *registrations = next;
        Ok(())
    }

    /// Forgets the registration kept for a server, with its secrets.
    async fn forget_registration(&self, issuer: &str) {
        if self.registrations_refused.is_some() {
            return;
        }
        let mut registrations = self.registrations.lock().await;
        let key = registration::store_key(issuer);
        let deleted = blocking(&self.store, move |s| {
            s.delete(&key, Field::ClientSecret)?;
            s.delete(&key, Field::RegistrationToken)
        })
        .await;
        let next: Vec<Registration> =
            registrations.iter().filter(|r| !crate::discovery::same_issuer(&r.issuer, issuer)).cloned().collect();
        let saved = self.registration_index.save(&next);
        if saved.is_ok() {
            *registrations = next;
        }
        tracing::info!(secrets_deleted = deleted.is_ok(), saved = saved.is_ok(), "a kept registration was forgotten");
    }

    /// The client secret of a confidential client an account was linked with, from the keyring:
    /// an error that says what to do when it is gone (another registration replaced it).
    pub(super) async fn registration_secret(
        &self,
        account: &str,
        issuer: &str,
        client_id: &str,
    ) -> Result<ClientSecret> {
        let missing = || {
            Error::new(
                ErrorKind::NeedsRelink,
                format!("the client secret {account} was linked with is no longer kept; link it again"),
            )
        };
        let registration = self.registration_of(issuer).await.ok_or_else(missing)?;
        if registration.client_id != client_id {
            return Err(missing());
        }
        let key = registration::store_key(issuer);
        blocking(&self.store, move |s| s.get_secret::<ClientSecret>(&key)).await?.ok_or_else(missing)
    }

    /// Counts an authorization of this account and scope set, refusing one more than
    /// [`MAX_AUTHORIZATIONS`] within [`RETRY_WINDOW`].
    fn count_authorization(&self, account: &str, scopes: &[String]) -> Result<()> {
        let mut sorted = scopes.to_vec();
        sorted.sort();
        let key = format!("{account}\0{}", sorted.join(" "));
        let now = self.now();
        let mut counts = self.authorizations.lock().expect("authorizations lock");
        counts.retain(|_, times| {
            times.retain(|t| now.saturating_sub(*t) < RETRY_WINDOW);
            !times.is_empty()
        });
        let times = counts.entry(key).or_default();
        if times.len() >= MAX_AUTHORIZATIONS {
            let wait = RETRY_WINDOW - now.saturating_sub(times[0]);
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                format!(
                    "Pixy already asked {MAX_AUTHORIZATIONS} times within 10 minutes to authorize {account} for these \
                     scopes, and will not open another sign-in for {} min: a client that keeps asking is likely \
                     looping on a server that never grants them",
                    wait.div_ceil(60)
                ),
            ));
        }
        times.push(now);
        Ok(())
    }

    /// An account name for a resource: its host (and port), with a number added when an account
    /// of that name is linked to another resource.
    async fn name_for(&self, url: &str) -> Result<String> {
        let base = super::providers::provider_id_for_issuer(url)?;
        let accounts = self.accounts.lock().await;
        for n in 1.. {
            let name = if n == 1 { base.clone() } else { format!("{base}-{n}") };
            match accounts.iter().find(|a| a.id == name) {
                None => return Ok(name),
                Some(a) if a.resource.as_ref().is_some_and(|r| r.url == url) => return Ok(name),
                Some(_) => continue,
            }
        }
        unreachable!("some name is free")
    }
}

/// The redirect path of a resource's links.
const CALLBACK_PATH: &str = "/callback";

/// The provider a resource's link uses.
fn provider_for(target: &Target, chain: &Chain, client: &Client, scopes: &[String]) -> Result<Provider> {
    let meta = &chain.authorization_server;
    let name = &target.name;
    let mut provider = Provider::from_metadata(name, name, &client.registration.client_id, meta)?;
    provider.default_scopes = scopes.to_vec();
    provider.client_auth = client.registration.client_auth;
    provider.client_secret = client.secret.clone();
    provider.resource = (!target.no_resource).then(|| chain.resource.clone());
    // The tokens are the resource's (RFC 8707), not for the server's userinfo: asking it who
    // they belong to or whether they still work would only be refused.
    provider.userinfo_endpoint = None;
    provider.loopback = LoopbackOptions {
        host: RedirectHost::Ipv4,
        // A dynamic registration names its exact redirect URI: its port, and only it.
        ports: client.registration.redirect_port().into_iter().collect(),
        path: CALLBACK_PATH.to_string(),
    };
    Ok(provider)
}

/// Whether the token endpoint refused the client itself (`invalid_client`, the error code, not
/// words of its description): a kept registration the server has forgotten.
fn is_unknown_client(e: &Error) -> bool {
    e.kind == ErrorKind::TokenEndpoint && e.message.starts_with(&format!("{}: invalid_client", REFUSED_CODE))
}

/// How [`crate::exchange`] words a refused code exchange, before the error code.
const REFUSED_CODE: &str = "the provider refused the code";

/// A refusal of the RFC 8707 `resource` parameter, said in words with the way around it.
fn resource_refused(e: Error, no_resource: bool) -> Error {
    let refused = e.message.contains("AADSTS9010010") || e.message.contains("invalid_target");
    if no_resource || !refused || !matches!(e.kind, ErrorKind::TokenEndpoint | ErrorKind::AuthorizationFailed) {
        return e;
    }
    Error::new(
        ErrorKind::ResourceRefused,
        format!(
            "{}. The server does not accept the resource parameter (RFC 8707) that binds a token to one server; \
             link again with --no-resource to leave it out",
            e.message
        ),
    )
}

/// A label for an account whose server does not say who signed in: the resource's address.
fn resource_label(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!("{}{}", u.host_str().unwrap_or(""), u.path().trim_end_matches('/')),
        Err(_) => url.to_string(),
    }
}

/// An account name a person gave: letters, digits, `.`, `-` and `_`, as account ids are.
fn checked_name(name: String) -> Result<String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        && !name.starts_with(['.', '-']);
    if ok {
        Ok(name)
    } else {
        Err(Error::new(
            ErrorKind::InvalidRequest,
            "an account name has up to 64 letters, digits, '.', '-' and '_', and starts with a letter or digit",
        ))
    }
}

/// A free port on 127.0.0.1 for a new registration's redirect URI.
fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| Error::new(ErrorKind::Listener, format!("cannot find a free port for the redirect: {e}")))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| Error::new(ErrorKind::Listener, e.to_string()))
}

/// Whether a kept registration's port can be bound now, on both loopback addresses.
fn port_is_free(port: u16) -> bool {
    let v4 = std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
    v4 && (std::net::TcpListener::bind(("::1", port)).is_ok() || std::net::TcpListener::bind(("::1", 0)).is_err())
}

/// Sends a step of the link's explanation.
async fn say(out: &mpsc::Sender<Event>, step: &str, ok: bool, detail: String) {
    let _ = out.send(Event::Step(Step { step: step.to_string(), ok, detail })).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names_are_checked_like_account_ids() {
        assert_eq!(checked_name("work-mcp_1.b".into()).unwrap(), "work-mcp_1.b");
        for bad in ["", "-x", ".x", "a:b", "a b", &"x".repeat(65)] {
            assert!(checked_name(bad.to_string()).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn only_a_refusal_of_the_resource_parameter_is_reworded() {
        let entra =
            Error::new(ErrorKind::TokenEndpoint, "the provider refused the code: invalid_target (AADSTS9010010: x)");
        assert_eq!(resource_refused(entra.clone(), false).kind, ErrorKind::ResourceRefused);
        assert!(resource_refused(entra.clone(), false).message.contains("--no-resource"));
        assert_eq!(resource_refused(entra, true).kind, ErrorKind::TokenEndpoint, "not offered again without it");
        let other = Error::new(ErrorKind::TokenEndpoint, "the provider refused the code: invalid_grant");
        assert_eq!(resource_refused(other, false).kind, ErrorKind::TokenEndpoint);
    }

    #[test]
    fn an_unknown_client_is_told_from_other_refusals() {
        let refused = |words: &str| Error::new(ErrorKind::TokenEndpoint, format!("{REFUSED_CODE}: {words}"));
        assert!(is_unknown_client(&refused("invalid_client (client authentication failed)")));
        assert!(!is_unknown_client(&refused("invalid_grant (the code says invalid_client)")), "the code, not words");
        assert!(!is_unknown_client(&Error::new(ErrorKind::Network, "invalid_client")));
    }

    #[test]
    fn a_resource_without_a_named_account_is_labelled_by_its_address() {
        assert_eq!(resource_label("https://mcp.example.com/v1/mcp/"), "mcp.example.com/v1/mcp");
    }
}
