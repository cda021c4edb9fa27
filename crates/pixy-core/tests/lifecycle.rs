//! Keeping an account linked: single-flight refresh, and what each token-endpoint fault does.
//!
//! The faults come from a scripted stand-in token endpoint — the one place a stand-in is right,
//! since no real server returns garbage or hangs on demand. Sign-in itself uses the real demo
//! provider's pages. The in-memory store shows exactly what is (and stays) stored.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pixy_core::clock::ManualClock;
use pixy_core::daemon::Daemon;
use pixy_core::ipc::{AccountStatus, Event, Request};
use pixy_core::store::memory::MemoryStore;
use pixy_core::store::{Field, TokenStore};
use pixy_core::ErrorKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod support;
use support::run;

/// One scripted answer of the stand-in token endpoint.
struct Reply {
    status: u16,
    body: Vec<u8>,
    delay: Duration,
}

fn reply(status: u16, body: &str) -> Reply {
    Reply { status, body: body.as_bytes().to_vec(), delay: Duration::ZERO }
}

fn tokens(access: &str, refresh: &str, expires_in: u64) -> Reply {
    reply(
        200,
        &format!(
            r#"{{"access_token":"{access}","token_type":"Bearer","expires_in":{expires_in},"refresh_token":"{refresh}"}}"#
        ),
    )
}

/// A token response for alice at `issuer`, with an ID token that names her: linking with it
/// twice re-links one account.
fn signed_in(issuer: &str, access: &str, refresh: &str, expires_in: u64) -> Reply {
    use base64::Engine;
    let claims = format!(r#"{{"iss":"{issuer}","aud":"{}","sub":"alice"}}"#, pixy_demo::DEMO_CLIENT_ID);
    let id_token = format!("e30.{}.", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims));
    reply(
        200,
        &format!(
            r#"{{"access_token":"{access}","token_type":"Bearer","expires_in":{expires_in},"refresh_token":"{refresh}","id_token":"{id_token}"}}"#
        ),
    )
}

/// A stand-in provider endpoint (token and revocation alike) that answers from a script and counts requests.
struct StandIn {
    url: String,
    script: Arc<Mutex<VecDeque<Reply>>>,
    requests: Arc<AtomicUsize>,
}

impl StandIn {
    async fn start() -> StandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        let script: Arc<Mutex<VecDeque<Reply>>> = Arc::default();
        let requests = Arc::new(AtomicUsize::new(0));
        let (s, r) = (script.clone(), requests.clone());
        tokio::spawn(async move {
            loop {
                let (mut conn, _) = listener.accept().await.unwrap();
                let (s, r) = (s.clone(), r.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    // Read the head, then the body its content-length announces.
                    loop {
                        let n = conn.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buf).to_string();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let len = text[..end]
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                                })
                                .unwrap_or(0);
                            if buf.len() >= end + 4 + len {
                                break;
                            }
                        }
                    }
                    r.fetch_add(1, Ordering::SeqCst);
                    let next = s.lock().unwrap().pop_front().unwrap_or_else(|| reply(500, "{}"));
                    tokio::time::sleep(next.delay).await;
                    let head = format!(
                        "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        next.status,
                        next.body.len()
                    );
                    let _ = conn.write_all(head.as_bytes()).await;
                    let _ = conn.write_all(&next.body).await;
                });
            }
        });
        StandIn { url, script, requests }
    }

    fn then(&self, reply: Reply) {
        self.script.lock().unwrap().push_back(reply);
    }
}

struct Linked {
    service: Arc<Daemon>,
    clock: Arc<ManualClock>,
    store: Arc<MemoryStore>,
    stand_in: StandIn,
    account: String,
    demo: pixy_demo::DemoServer,
    dir: std::path::PathBuf,
}

/// Links an account whose token endpoint is the stand-in; the first tokens live 2 s.
async fn linked(name: &str, http_timeout: Duration) -> Linked {
    linked_for(name, http_timeout, 2).await
}

/// As [`linked`], with first tokens that live `lifetime` seconds.
async fn linked_for(name: &str, http_timeout: Duration, lifetime: u64) -> Linked {
    let demo = pixy_demo::DemoServer::start(0).await.unwrap();
    let stand_in = StandIn::start().await;
    stand_in.then(signed_in(demo.issuer(), "a1", "r1", lifetime));
    let dir = support::fresh_dir(&format!("lifecycle-{name}"));
    std::fs::write(
        dir.join("providers.toml"),
        format!(
            "[[provider]]\nid = \"faulty\"\nissuer = \"{issuer}\"\nclient_id = \"{client}\"\n\
             authorization_endpoint = \"{issuer}/authorize\"\ntoken_endpoint = \"{endpoint}\"\n\
             revocation_endpoint = \"{endpoint}\"\n",
            issuer = demo.issuer(),
            client = pixy_demo::DEMO_CLIENT_ID,
            endpoint = stand_in.url
        ),
    )
    .unwrap();
    let clock = Arc::new(ManualClock::at_system_time());
    let (service, store) = support::service_with_clock(&dir, None, http_timeout, clock.clone());
    let account = match link(&service).await {
        Event::Linked { account } => account.id,
        other => panic!("link failed: {other:?}"),
    };
    Linked { service, clock, store, stand_in, account, demo, dir }
}

/// Links with the `faulty` provider, approving at the demo's page; returns the last event.
async fn link(service: &Arc<Daemon>) -> Event {
    support::link_and_approve(service, "faulty").await
}

impl Linked {
    fn stored(&self, field: Field) -> Option<String> {
        self.store.get(&self.account, field).unwrap().map(|s| s.to_string())
    }

    async fn token(&self) -> Event {
        run(&self.service, Request::Token { account: self.account.clone(), min_valid: None, can_prompt: false })
            .await
            .pop()
            .unwrap()
    }

    async fn status(&self) -> (AccountStatus, Option<ErrorKind>) {
        let a = self.summary().await;
        (a.status, a.last_error)
    }

    async fn summary(&self) -> pixy_core::ipc::AccountSummary {
        let Some(Event::Status { accounts, .. }) = run(&self.service, Request::Status).await.pop() else { panic!() };
        accounts.into_iter().find(|a| a.id == self.account).unwrap()
    }

    fn index_path(&self) -> std::path::PathBuf {
        self.dir.join("accounts.json")
    }

    fn requests(&self) -> usize {
        self.stand_in.requests.load(Ordering::SeqCst)
    }

    /// The first tokens are kept exactly as they were.
    fn nothing_lost(&self) {
        assert_eq!(self.stored(Field::AccessToken).as_deref(), Some("a1"), "the access token must survive the fault");
        assert_eq!(self.stored(Field::RefreshToken).as_deref(), Some("r1"), "the refresh token must survive the fault");
    }
}

impl Linked {
    /// Moves the daemon's clock past the first tokens' expiry (they live 2 s).
    fn expire(&self) {
        self.clock.advance(3);
    }
}

fn error_kind(event: &Event) -> ErrorKind {
    match event {
        Event::Error { kind, .. } => *kind,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_500_then_a_200_refreshes_and_stores_the_rotated_tokens() {
    let l = linked("retry", Duration::from_secs(5)).await;
    l.expire();
    l.stand_in.then(reply(500, "{}"));
    l.stand_in.then(tokens("a2", "r2", 3600));
    let Event::Token { access_token, .. } = l.token().await else { panic!("the retry should succeed") };
    assert_eq!(access_token.expose(), "a2");
    assert_eq!(l.stored(Field::RefreshToken).as_deref(), Some("r2"), "the rotated refresh token is stored");
    assert_eq!(l.status().await, (AccountStatus::Connected, None));
}

#[tokio::test]
async fn a_garbage_response_is_an_error_and_loses_nothing() {
    let l = linked("garbage", Duration::from_secs(5)).await;
    l.expire();
    l.stand_in.then(reply(200, "<html>not a token response</html>"));
    assert_eq!(error_kind(&l.token().await), ErrorKind::TokenEndpoint);
    l.nothing_lost();
    assert_eq!(l.status().await, (AccountStatus::Error, Some(ErrorKind::TokenEndpoint)));
}

#[tokio::test]
async fn an_oversized_response_is_refused_and_loses_nothing() {
    let l = linked("oversized", Duration::from_secs(5)).await;
    l.expire();
    let huge = format!(r#"{{"access_token":"{}","token_type":"Bearer"}}"#, "x".repeat(400 * 1024));
    l.stand_in.then(reply(200, &huge));
    assert_eq!(error_kind(&l.token().await), ErrorKind::TokenEndpoint);
    l.nothing_lost();
}

#[tokio::test]
async fn a_token_endpoint_that_hangs_times_out_and_loses_nothing() {
    let l = linked("hang", Duration::from_millis(500)).await;
    l.expire();
    for _ in 0..3 {
        l.stand_in.then(Reply { delay: Duration::from_secs(3), ..reply(200, "{}") });
    }
    assert_eq!(error_kind(&l.token().await), ErrorKind::Network);
    l.nothing_lost();
    assert_eq!(l.status().await, (AccountStatus::Error, Some(ErrorKind::Network)));
}

#[tokio::test]
async fn invalid_grant_means_relink_without_losing_the_tokens() {
    let l = linked("invalid-grant", Duration::from_secs(5)).await;
    l.expire();
    l.stand_in.then(reply(400, r#"{"error":"invalid_grant","error_description":"refresh token already used"}"#));
    assert_eq!(error_kind(&l.token().await), ErrorKind::NeedsRelink);
    l.nothing_lost();
    assert_eq!(l.status().await.0, AccountStatus::NeedsRelink);
    assert_eq!(
        l.stand_in.requests.load(Ordering::SeqCst),
        2,
        "one exchange and one refresh; no retry of a refused grant"
    );
}

#[tokio::test]
async fn a_network_error_before_expiry_hands_out_the_current_token() {
    // The token lives 4 s: after 2 s it is due (at half its life) and still valid.
    let l = linked_for("stale", Duration::from_secs(5), 4).await;
    l.clock.advance(2);
    for _ in 0..3 {
        l.stand_in.then(reply(503, "{}"));
    }
    let Event::Token { access_token, .. } = l.token().await else { panic!("stale but linked") };
    assert_eq!(access_token.expose(), "a1", "the still-valid token is handed out");
    assert_eq!(
        l.status().await,
        (AccountStatus::Connected, Some(ErrorKind::Network)),
        "linked, with the failure noted"
    );
}

#[tokio::test]
async fn a_hundred_concurrent_callers_on_an_expired_token_cause_one_refresh() {
    let l = linked("single-flight", Duration::from_secs(5)).await;
    l.expire();
    l.stand_in.then(tokens("a2", "r2", 3600));
    let calls: Vec<_> = (0..100)
        .map(|_| {
            let service = l.service.clone();
            let account = l.account.clone();
            tokio::spawn(async move {
                run(&service, Request::Token { account, min_valid: None, can_prompt: false }).await.pop().unwrap()
            })
        })
        .collect();
    for call in calls {
        let Event::Token { access_token, .. } = call.await.unwrap() else { panic!("every caller gets a token") };
        assert_eq!(access_token.expose(), "a2", "every caller gets the one refreshed token");
    }
    assert_eq!(l.stand_in.requests.load(Ordering::SeqCst), 2, "one code exchange and exactly one refresh");
}

#[tokio::test]
async fn relinking_where_revoking_the_replaced_token_ends_the_new_sign_in_says_so_once() {
    let l = linked_for("grant-ends", Duration::from_secs(5), 3600).await;
    let issuer = l.demo.issuer().to_string();
    // A provider with one grant per person: revoking r1 ends r2 too, as the check finds.
    l.stand_in.then(signed_in(&issuer, "a2", "r2", 3600));
    l.stand_in.then(reply(200, ""));
    l.stand_in.then(reply(400, r#"{"error":"invalid_grant"}"#));
    let Event::Error { kind, message } = link(&l.service).await else { panic!("the ended sign-in must be reported") };
    assert_eq!(kind, ErrorKind::NeedsRelink);
    assert!(message.contains("ended this sign-in"), "the message says what happened: {message}");
    assert_eq!(l.requests(), 4, "exchange, exchange, revocation of the replaced token, the check");
    let summary = l.summary().await;
    assert_eq!(summary.status, AccountStatus::NeedsRelink);
    assert!(summary.reason.is_some_and(|r| r.contains("link it again")), "the account says what to do");

    // Linked again, the replaced tokens are left alone: no revocation, no check.
    l.stand_in.then(signed_in(&issuer, "a3", "r3", 3600));
    let Event::Linked { account } = link(&l.service).await else { panic!("the next link succeeds") };
    assert_eq!(account.id, l.account, "the same account");
    assert_eq!(l.requests(), 5, "only the code exchange reached the provider");
    assert_eq!(l.status().await, (AccountStatus::Connected, None));
    assert_eq!(l.stored(Field::RefreshToken).as_deref(), Some("r3"));
}

#[tokio::test]
async fn relinking_revokes_the_replaced_refresh_token_and_checks_the_new_one_still_works() {
    let l = linked_for("relink", Duration::from_secs(5), 3600).await;
    l.stand_in.then(signed_in(l.demo.issuer(), "a2", "r2", 3600));
    l.stand_in.then(reply(200, ""));
    l.stand_in.then(tokens("a3", "r3", 3600));
    let Event::Linked { account } = link(&l.service).await else { panic!("the re-link succeeds") };
    assert_eq!(account.id, l.account, "the same account");
    assert_eq!(l.requests(), 4, "exchange, exchange, revocation, the check's refresh");
    assert_eq!(l.stored(Field::RefreshToken).as_deref(), Some("r3"), "the check's rotated token is kept");
    assert_eq!(l.status().await, (AccountStatus::Connected, None));
}

/// Starts a link with the `faulty` provider; returns its events.
fn start_link(service: &Arc<Daemon>) -> tokio::sync::mpsc::Receiver<Event> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let service = service.clone();
    tokio::spawn(async move { service.handle(support::link_request("faulty"), tx).await });
    rx
}

#[tokio::test]
async fn a_link_whose_code_is_being_exchanged_is_not_stopped_by_a_newer_link() {
    let l = linked_for("exchanging", Duration::from_secs(5), 3600).await;
    // The provider takes its time over the exchange; meanwhile the person starts another link.
    l.stand_in.then(Reply { delay: Duration::from_millis(800), ..signed_in(l.demo.issuer(), "a2", "r2", 3600) });
    l.stand_in.then(reply(200, ""));
    l.stand_in.then(tokens("a3", "r3", 3600));
    let mut first = start_link(&l.service);
    let Some(Event::Authorize { url, .. }) = first.recv().await else { panic!("authorize first") };
    pixy_demo::person::answer(&url, pixy_demo::person::Decision::Approve).await;
    while !matches!(first.recv().await, Some(Event::Exchanging)) {}
    let mut second = start_link(&l.service);
    assert!(matches!(second.recv().await, Some(Event::Authorize { .. })), "the newer link starts");
    let mut last = None;
    while let Some(event) = first.recv().await {
        last = Some(event);
    }
    assert!(matches!(last, Some(Event::Linked { .. })), "a spent code's tokens are stored, not dropped: {last:?}");
    assert_eq!(l.stored(Field::RefreshToken).as_deref(), Some("r3"), "the new sign-in's tokens are kept");
}

#[tokio::test]
async fn a_relink_that_cannot_be_recorded_revokes_the_new_tokens_and_keeps_the_earlier_sign_in() {
    let l = linked_for("relink-unrecordable", Duration::from_secs(5), 3600).await;
    let index = l.index_path();
    std::fs::remove_file(&index).unwrap();
    std::fs::create_dir_all(index.join("in-the-way")).unwrap();
    l.stand_in.then(signed_in(l.demo.issuer(), "a2", "r2", 3600));
    let before = l.requests();
    let Event::Error { message, .. } = link(&l.service).await else { panic!("the re-link cannot be recorded") };
    assert!(message.contains("keeps its earlier one"), "the person is told: {message}");
    assert_eq!(l.requests(), before + 3, "the exchange, then both new tokens revoked");
    assert_eq!(l.stored(Field::RefreshToken).as_deref(), Some("r1"), "the earlier refresh token is back");
    assert_eq!(l.stored(Field::AccessToken), None, "no revoked access token is left to hand out");
}
