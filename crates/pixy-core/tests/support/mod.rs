//! What the daemon's tests and the access-token bench share: a daemon over the in-memory store
//! with its files in a fresh folder, a link request, and requests driven as the socket drives them.

#![allow(dead_code)] // Each test binary uses a part of it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use pixy_core::clock::{Clock, SystemClock};
use pixy_core::daemon::{Daemon, DaemonConfig};
use pixy_core::ipc::{Event, LinkRequest, ProviderSelector, Request};
use pixy_core::store::memory::MemoryStore;
use pixy_core::store::TokenStore;
use tokio::sync::{mpsc, Notify};

/// An empty folder of this test process, named after `name`.
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pixy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A daemon keeping accounts.json and providers.toml in `dir` and tokens in memory; it offers the
/// demo provider when `demo_issuer` is given.
pub fn service(dir: &Path, demo_issuer: Option<&str>, http_timeout: Duration) -> (Arc<Daemon>, Arc<MemoryStore>) {
    service_with_clock(dir, demo_issuer, http_timeout, Arc::new(SystemClock))
}

/// As [`service`], reading the time from `clock`.
pub fn service_with_clock(
    dir: &Path,
    demo_issuer: Option<&str>,
    http_timeout: Duration,
    clock: Arc<dyn Clock>,
) -> (Arc<Daemon>, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    (service_over(dir, demo_issuer, http_timeout, store.clone(), clock), store)
}

/// A daemon over an existing store: a daemon started again over the same keyring and files.
pub fn service_over(
    dir: &Path,
    demo_issuer: Option<&str>,
    http_timeout: Duration,
    store: Arc<MemoryStore>,
    clock: Arc<dyn Clock>,
) -> Arc<Daemon> {
    let config = DaemonConfig {
        index_path: dir.join("accounts.json"),
        providers_path: dir.join("providers.toml"),
        demo_issuer: demo_issuer.map(str::to_string),
        demo_client_id: pixy_demo::DEMO_CLIENT_ID.to_string(),
        http_timeout,
        clock,
        audit_path: None,
        consent_timeout: Duration::from_secs(60),
        desktop: false,
    };
    Arc::new(Daemon::new(config, store as Arc<dyn TokenStore>, Arc::new(Notify::new())))
}

/// A link with a provider of providers.toml (or the demo), with no browser opened.
pub fn link_request(provider: &str) -> Request {
    Request::Link(Box::new(LinkRequest {
        provider: ProviderSelector::Named { id: provider.into() },
        scopes: vec![],
        auth_params: vec![],
        open_browser: false,
        browser: None,
        timeout_secs: Some(30),
        device: false,
        api_key: None,
        client_secret: None,
    }))
}

/// Every event of one request, up to its terminal one.
pub async fn run(service: &Arc<Daemon>, request: Request) -> Vec<Event> {
    let (tx, mut rx) = mpsc::channel(16);
    let s = service.clone();
    tokio::spawn(async move { s.handle(request, tx).await });
    let mut events = Vec::new();
    while let Some(e) = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.expect("answered") {
        let end = e.is_terminal();
        events.push(e);
        if end {
            break;
        }
    }
    events
}

/// Links with `provider`, the person approving at the demo's page; returns the last event.
pub async fn link_and_approve(service: &Arc<Daemon>, provider: &str) -> Event {
    let (tx, mut rx) = mpsc::channel(16);
    let s = service.clone();
    let link = link_request(provider);
    tokio::spawn(async move { s.handle(link, tx).await });
    let Some(Event::Authorize { url, .. }) = rx.recv().await else { panic!("authorize first") };
    pixy_demo::person::answer(&url, pixy_demo::person::Decision::Approve).await;
    let mut last = None;
    while let Some(e) = rx.recv().await {
        last = Some(e);
    }
    last.expect("the link answers")
}
