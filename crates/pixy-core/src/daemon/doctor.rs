//! The daemon's part of `pixy doctor` ([`crate::doctor`]): the checks that need the person's
//! session, run where the session is.
//!
//! Each provider is asked concurrently, each with its own time limit, alongside the keyring and
//! tray checks, so the report takes about [`crate::doctor::CHECK_TIMEOUT`] at worst. A fixed
//! redirect port is probed by binding it for an instant, unless a link of Pixy's holds it.
//!
//! Security: the report carries statuses, times, redacted URLs and ids. The accounts' tokens are
//! not read at all.

use super::Daemon;
use crate::doctor::{
    self, AccountCheck, DaemonState, PortKind, PortUse, ProviderCheck, ProviderProbe, ProviderSource, Report,
};
use crate::provider::{Protocol, ProviderConfig, GRANTEX_BASE_URL};

impl Daemon {
    /// The report, with the findings left for the client to work out ([`Report::finish`]).
    pub(super) async fn doctor(&self) -> Report {
        let daemon = DaemonState::Running {
            version: crate::VERSION.into(),
            pid: std::process::id(),
            uptime_secs: self.started.elapsed().as_secs(),
        };
        let mut report = Report::local(self.now(), daemon);
        let accounts: Vec<_> = self.accounts.lock().await.iter().filter(|a| !a.pending).cloned().collect();
        let catalog = self.providers_file.current().await;

        let mut probes = Vec::new();
        if let Some(issuer) = self.config.demo_issuer.clone() {
            let http = self.http.clone();
            let probe = tokio::spawn(async move { doctor::probe_metadata(&http, &issuer).await });
            probes.push(("demo".to_string(), ProviderSource::Demo, Ok(probe)));
        }
        for entry in &catalog.entries {
            let source = if entry.preset { ProviderSource::Preset } else { ProviderSource::File };
            let probe = entry.definition.clone().map(|definition| {
                let http = self.http.clone();
                tokio::spawn(async move { probe(&http, &definition).await })
            });
            probes.push((entry.id.clone(), source, probe));
        }
        let (keyring, tray) = tokio::join!(doctor::keyring(), doctor::tray());
        let mut providers = Vec::new();
        for (id, source, probe) in probes {
            let mut check = match probe {
                Ok(task) => task.await.unwrap_or_else(|_| unusable("the check stopped unexpectedly".into())),
                Err(problem) => unusable(problem),
            };
            check.accounts = accounts.iter().filter(|a| a.provider == id).count();
            check.id = id;
            check.source = source;
            providers.push(check);
        }

        report.keyring = Some(keyring);
        report.tray = tray;
        report.providers = Some(providers);
        report.accounts = Some(
            accounts
                .iter()
                .map(|a| AccountCheck {
                    id: a.id.clone(),
                    provider: a.provider.clone(),
                    status: a.status,
                    reason: a.reason.as_deref().map(|r| crate::text::printable(r, 300)),
                    expires_at: a.expires_at,
                    refreshed_at: a.obtained_at,
                    has_refresh_token: a.has_refresh_token,
                })
                .collect(),
        );
        report.ports = Some(self.ports(&catalog));
        report.known_problems = [
            catalog.problem.clone(),
            self.index_problem.clone(),
            self.refusal.as_ref().map(|r| format!("every request is refused: {}", r.error.message)),
            self.registrations_refused.as_ref().map(|e| e.message.clone()),
        ]
        .into_iter()
        .flatten()
        .collect();
        report
    }

    /// The demo's port, the ports of links waiting now, and the fixed redirect ports providers
    /// are configured with (free or taken, when no link of Pixy's holds them).
    fn ports(&self, catalog: &crate::catalog::Catalog) -> Vec<PortUse> {
        let mut ports = Vec::new();
        let demo_port = self.config.demo_issuer.as_deref().and_then(|i| url::Url::parse(i).ok()).and_then(|u| u.port());
        if let Some(port) = demo_port {
            ports.push(PortUse { port, kind: PortKind::Demo, provider: None, free: None });
        }
        let waiting: Vec<(String, u16)> = {
            let running = self.running.lock().expect("running lock");
            running.iter().filter_map(|(id, link)| Some((id.clone(), link.port?))).collect()
        };
        for (provider, port) in &waiting {
            ports.push(PortUse { port: *port, kind: PortKind::Waiting, provider: Some(provider.clone()), free: None });
        }
        for entry in &catalog.entries {
            let Ok(definition) = &entry.definition else { continue };
            for &port in &definition.redirect_ports {
                let ours = waiting.iter().any(|(_, p)| *p == port);
                let free = (!ours).then(|| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
                ports.push(PortUse { port, kind: PortKind::Fixed, provider: Some(entry.id.clone()), free });
            }
        }
        ports
    }
}

/// Asks a provider whether it answers: its metadata when it is discovered, else its
/// authorization endpoint's host (for Grantex, its API's).
async fn probe(http: &reqwest::Client, definition: &ProviderConfig) -> ProviderCheck {
    if definition.protocol == Protocol::Grantex {
        let base = definition.base_url.clone().unwrap_or_else(|| GRANTEX_BASE_URL.to_string());
        return doctor::probe_host(&base).await;
    }
    match &definition.authorization_endpoint {
        Some(endpoint) if definition.is_explicit() => doctor::probe_host(endpoint).await,
        _ => doctor::probe_metadata(http, &definition.issuer).await,
    }
}

fn unusable(problem: String) -> ProviderCheck {
    ProviderCheck {
        id: String::new(),
        source: ProviderSource::File,
        accounts: 0,
        probe: ProviderProbe::None,
        target: None,
        answered: false,
        status: None,
        millis: None,
        error: Some(problem),
    }
}
