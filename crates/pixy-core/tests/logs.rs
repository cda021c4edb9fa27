//! A whole link, token and unlink at trace level: the log holds no verifier, code, state or token.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pixy_core::ipc::{Event, Request};
use tokio::sync::mpsc;

mod support;
use support::run;

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
    let (service, _) = support::service(&support::fresh_dir("logs"), Some(demo.issuer()), Duration::from_secs(10));

    let (tx, mut rx) = mpsc::channel(16);
    let s = service.clone();
    let mut link = support::link_request("demo");
    if let Request::Link(l) = &mut link {
        l.scopes = vec!["openid".into(), "offline_access".into()];
    }
    tokio::spawn(async move { s.handle(link, tx).await });
    let Some(Event::Authorize { url, .. }) = rx.recv().await else { panic!("authorize first") };
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

    for e in run(&service, Request::Token { account: account.id.clone(), min_valid: None, can_prompt: false }).await {
        if let Event::Token { access_token, .. } = e {
            secrets.push(access_token.expose().to_string());
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
