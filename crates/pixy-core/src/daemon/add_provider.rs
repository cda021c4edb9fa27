//! Adding a provider from its issuer (the window's Add provider): discovery first, to show the
//! person what the issuer offers, then the checked entry appended to providers.toml (see
//! [`crate::new_provider`]). The catalog reads the file again on its next use, so the provider is
//! listed at once, with no restart.

use super::Daemon;
use crate::discovery::discover;
use crate::error::{ErrorKind, Result};
use crate::ipc::protocol::Event;
use crate::new_provider::{problems, FieldProblem, Found, NewProvider};

impl Daemon {
    /// What the issuer's metadata offers. A failure is an error of kind `discovery` or
    /// `provider_config` (an address Pixy would not send a secret to).
    pub(super) async fn discover_provider(&self, issuer: &str) -> Result<Event> {
        let issuer = issuer.trim();
        crate::http::check_endpoint("issuer", issuer)?;
        let meta = discover(&self.http, issuer).await?;
        let catalog = self.providers_file.current().await;
        let found = Found::of(&meta, |id| catalog.get(id).is_some());
        Ok(Event::Discovered { found })
    }

    /// Checks `new` field by field, then at its issuer, and appends it to providers.toml.
    /// Answered with [`Event::ProviderInvalid`] (nothing written) or [`Event::ProviderAdded`].
    pub(super) async fn add_provider(&self, new: NewProvider) -> Result<Event> {
        // The issuer is asked first, outside the lock: a slow one holds up no other add.
        let mut found = Vec::new();
        if crate::http::check_endpoint("issuer", new.issuer.trim()).is_ok() {
            match discover(&self.http, new.issuer.trim()).await {
                Ok(meta) => {
                    if let Some(problem) = Found::of(&meta, |_| false).problem {
                        found.push(FieldProblem {
                            field: "issuer".into(),
                            message: format!("Pixy cannot sign in there: {problem}."),
                        });
                    }
                }
                Err(e) => found.push(FieldProblem {
                    field: "issuer".into(),
                    message: match e.kind {
                        ErrorKind::Network => "Could not reach this address.".to_string(),
                        _ => format!("No sign-in metadata here: {}.", e.message.trim_end_matches('.')),
                    },
                }),
            }
        }
        // One writer at a time: two adds must not both read the file before either wrote it.
        let _writing = self.providers_write.lock().await;
        let catalog = self.providers_file.current().await;
        if let Some(problem) = &catalog.problem {
            // Ids in a file that cannot be read cannot be checked: it is fixed first.
            return Err(crate::error::Error::new(
                ErrorKind::ProviderConfig,
                format!("{problem}; fix providers.toml before adding to it"),
            ));
        }
        let mut checked = problems(&new, &catalog);
        if checked.iter().all(|p| p.field != "issuer") {
            checked.extend(found);
        }
        if !checked.is_empty() {
            return Ok(Event::ProviderInvalid { problems: checked });
        }
        let path = self.providers_file.path().to_path_buf();
        let entry = new.clone();
        tokio::task::spawn_blocking(move || crate::new_provider::add(&path, &entry)).await.map_err(|e| {
            crate::error::Error::new(ErrorKind::Internal, format!("saving the provider stopped: {e}"))
        })??;
        tracing::info!(provider = %new.id.trim(), "provider added to providers.toml");
        let listed = self.provider_list().await.into_iter().find(|p| p.id == new.id.trim());
        listed
            .map(|provider| Event::ProviderAdded { provider })
            .ok_or_else(|| crate::error::Error::new(ErrorKind::Internal, "the provider was saved but is not listed"))
    }
}
