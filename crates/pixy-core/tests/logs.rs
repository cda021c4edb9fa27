//! A whole link, token and unlink at trace level: the log holds no verifier, code, state or token.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pixy_core::ipc::{Event, LinkRequest, ProviderSelector, Request};
use pixy_core::service::{Service, ServiceConfig};
use pixy_core::store::memory::MemoryStore;
use pixy_core::store::TokenStore;
use tokio::sync::{mpsc, Notify};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn run(service: &Arc<Service>, request: Request) -> Vec<Event> {
    let (tx, mut rx) = mpsc::channel(16);
    let s = service.clone();
    tokio::spawn(async move { s.handle(request, tx).await });
    let mut events = Vec::new();
    while let Some(e) = tokio::time::timeout(Duration::from_secs(20), rx.recv()).await.unwrap() {
        let end = e.is_terminal();
        events.push(e);
        if end {
            break;
        }
    }
    events
}

fn query_value(url: &str, key: &str) -> String {
    url::Url::parse(url).unwrap().query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_flow_at_trace_level_logs_no_secret() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let demo = pixy_demo::DemoServer::start(0).await.unwrap();
    let dir = std::env::temp_dir().join(format!("pixy-logs-{}", std::process::id()));
    let config = ServiceConfig {
        index_path: dir.join("accounts.json"),
        providers_path: dir.join("providers.toml"),
        demo_issuer: Some(demo.issuer().to_string()),
        demo_client_id: pixy_demo::DEMO_CLIENT_ID.to_string(),
        http_timeout: Duration::from_secs(10),
    };
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let service = Arc::new(Service::new(config, store, Arc::new(Notify::new())).unwrap());

    let (tx, mut rx) = mpsc::channel(16);
    let s = service.clone();
    let link = Request::Link(LinkRequest {
        provider: ProviderSelector::Named { id: "demo".into() },
        scopes: vec!["openid".into(), "offline_access".into()],
        auth_params: vec![],
        open_browser: false,
        browser: None,
        timeout_secs: Some(30),
    });
    tokio::spawn(async move { s.handle(link, tx).await });
    let Some(Event::Authorize { url }) = rx.recv().await else { panic!("authorize first") };
    let mut secrets = vec![query_value(&url, "state")];

    // The person approves; the redirect carries the code.
    let callback = pixy_demo::person::answer(&url, pixy_demo::person::Decision::Approve).await;
    secrets.push(query_value(&callback, "code"));
    let mut linked = None;
    while let Some(e) = rx.recv().await {
        if let Event::Linked { account } = e {
            linked = Some(account);
        }
    }
    let account = linked.expect("linked");

    for e in run(&service, Request::Token { account: account.id.clone() }).await {
        if let Event::Token { access_token, .. } = e {
            secrets.push(access_token.0);
        }
    }
    run(&service, Request::Unlink { account: account.id.clone() }).await;

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("account linked"), "the capture works and saw the flow:\n{log}");
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "a secret value appears in the trace log");
    }
    // The verifier never leaves the flow; no 40+ character base64url run appears at all.
    let longest_run =
        log.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')).map(str::len).max().unwrap_or(0);
    assert!(longest_run < 40, "a token-shaped string of {longest_run} characters is in the log");
}
