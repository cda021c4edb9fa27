//! Resolving providers: the demo, an entry of providers.toml as the file is now (see
//! [`crate::catalog`]), an issuer given on the command line, or an account's own endpoints when its
//! definition is broken or gone. Built providers are kept until the file changes.

use std::sync::Arc;

use super::Daemon;
use crate::account::AccountRecord;
use crate::discovery::discover;
use crate::error::{Error, ErrorKind, Result};
use crate::ipc::protocol::ProviderSummary;
use crate::provider::{Protocol, Provider, ProviderConfig};
use crate::secret::ApiKey;
use crate::store::{blocking, provider_key};

impl Daemon {
    /// The demo, then every entry of providers.toml, the broken ones with their problem.
    pub(super) async fn provider_list(&self) -> Vec<ProviderSummary> {
        let mut list = Vec::new();
        if let Some(issuer) = &self.config.demo_issuer {
            list.push(ProviderSummary {
                id: "demo".into(),
                label: "Demo".into(),
                issuer: issuer.clone(),
                demo: true,
                preset: false,
                paste_only: false,
                device: false,
                needs_api_key: false,
                problem: None,
            });
        }
        let catalog = self.providers_file.current().await;
        if let Some(problem) = &catalog.problem {
            let file = self.providers_file.path().file_name().map(|n| n.to_string_lossy().into_owned());
            list.push(broken(file.unwrap_or_else(|| "providers.toml".into()), problem));
        }
        let built = self.providers.lock().await.clone();
        for entry in &catalog.entries {
            list.push(match &entry.definition {
                Ok(p) => ProviderSummary {
                    id: p.id.clone(),
                    label: p.label.clone().unwrap_or_else(|| p.id.clone()),
                    issuer: p.issuer.clone(),
                    demo: false,
                    preset: entry.preset,
                    paste_only: p.paste_redirect_uri.is_some(),
                    // Without discovery, known from the definition or from the last build.
                    device: p.device_authorization_endpoint.is_some()
                        || built.get(&p.id).is_some_and(|(_, b)| b.device_authorization_endpoint.is_some()),
                    // Asked for once the agent and principal are named: the setup says what it
                    // lacks first.
                    needs_api_key: p.protocol == Protocol::Grantex
                        && p.agent_id.is_some()
                        && p.principal_id.is_some()
                        && self.api_key(&p.id).await.is_none(),
                    problem: None,
                },
                Err(problem) => broken(entry.id.clone(), problem),
            });
        }
        list
    }

    /// The provider with this id: the demo, or the entry of providers.toml as the file is now.
    pub(super) async fn provider(&self, id: &str) -> Result<Provider> {
        if id == "demo" {
            if let Some((_, p)) = self.providers.lock().await.get(id) {
                return Ok(p.clone());
            }
            let issuer = self.config.demo_issuer.clone().ok_or_else(|| {
                Error::new(ErrorKind::InvalidRequest, "the demo provider is not running in this daemon")
            })?;
            let provider =
                self.build(ProviderConfig::adhoc("demo", "Demo", &issuer, &self.config.demo_client_id), true).await?;
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
    /// when that can be used and still names the account's issuer and client, so a fix in
    /// providers.toml takes effect; otherwise the endpoints the account was linked with, so one
    /// broken or changed definition does not strand its accounts.
    pub(super) async fn provider_of(&self, record: &AccountRecord) -> Result<Provider> {
        if record.resource.is_some() {
            // A resource's account has no definition: its own endpoints, and its client's secret.
            let mut linked = record.linked_provider().ok_or_else(|| {
                Error::new(
                    ErrorKind::ProviderConfig,
                    format!("the endpoints {} was linked with are missing", record.id),
                )
            })?;
            if linked.client_auth != crate::registration::ClientAuth::None {
                linked.client_secret =
                    Some(self.registration_secret(&record.id, &record.issuer, &record.client_id).await?);
            }
            return Ok(linked);
        }
        let current = match self.provider(&record.provider).await {
            // Tokens go only to the issuer and client they were issued by and to.
            Ok(provider) if record.provider == "demo" || record.linked_with(&provider) => return Ok(provider),
            Ok(_) => Error::new(
                ErrorKind::ProviderConfig,
                format!(
                    "provider {:?} now names another issuer or client than this account was linked with",
                    record.provider
                ),
            ),
            // Linked by issuer, not from the file: its own endpoints, else discovery again.
            Err(e) if e.kind == ErrorKind::InvalidRequest && record.provider != "demo" => {
                match record.linked_provider() {
                    Some(linked) => return Ok(linked),
                    None => {
                        let config = ProviderConfig::adhoc(
                            &record.provider,
                            &record.provider,
                            &record.issuer,
                            &record.client_id,
                        );
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

    /// The developer API key kept for a provider, if any (an unreadable keyring reads as none:
    /// the link that needs it then says what is wrong).
    pub(super) async fn api_key(&self, provider: &str) -> Option<ApiKey> {
        let key = provider_key(provider);
        blocking(&self.store, move |s| s.get_secret::<ApiKey>(&key)).await.ok().flatten()
    }

    /// Keeps a provider's developer API key for its links, refreshes and unlinks.
    pub(super) async fn keep_api_key(&self, provider: &str, api_key: &ApiKey) -> Result<()> {
        let key = provider_key(provider);
        let api_key = api_key.clone();
        blocking(&self.store, move |s| s.put_secret(&key, &api_key)).await
    }

    /// The API key a Grantex provider's call needs, or an error that says how to give it.
    pub(super) async fn required_api_key(&self, provider: &Provider) -> Result<ApiKey> {
        self.api_key(&provider.id).await.ok_or_else(|| {
            Error::new(
                ErrorKind::ProviderConfig,
                format!(
                    "{} needs your developer API key: give it with `pixy link {} --api-key-stdin` (or in the window)",
                    provider.label, provider.id
                ),
            )
        })
    }

    pub(super) async fn build(&self, config: ProviderConfig, demo: bool) -> Result<Provider> {
        let meta = if config.is_explicit() { None } else { Some(discover(&self.http, &config.issuer).await?) };
        let mut provider = config.into_provider(meta.as_ref())?;
        provider.demo = demo;
        Ok(provider)
    }
}

/// A definition that cannot be used, listed under its id with why.
fn broken(id: String, problem: &str) -> ProviderSummary {
    ProviderSummary {
        label: id.clone(),
        id,
        issuer: String::new(),
        demo: false,
        preset: false,
        paste_only: false,
        device: false,
        needs_api_key: false,
        problem: Some(problem.to_string()),
    }
}

/// An id for a provider given only by its issuer: its host and port, e.g. `id.example.com`.
pub(super) fn provider_id_for_issuer(issuer: &str) -> Result<String> {
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
