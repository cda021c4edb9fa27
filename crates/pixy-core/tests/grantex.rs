//! Grantex links through the daemon against the demo's Grantex contract: sandbox auto-approval,
//! consent by paste where loopback redirects are refused, a denied consent, a forged grant token,
//! Grantex's error shapes, refreshes that keep the grant's expiry, and unlinking that ends the
//! grant. The keyring is the in-memory store.

mod support;

use std::sync::Arc;
use std::time::Duration;

use pixy_core::clock::ManualClock;
use pixy_core::ipc::protocol::SecretText;
use pixy_core::ipc::{Event, LinkRequest, Request};
use pixy_core::revoke::Revocation;
use pixy_core::store::{provider_key, Field, TokenStore};
use pixy_core::ErrorKind;
use pixy_demo::person::{code_page, grantex_consent, Decision};
use pixy_demo::{DemoConfig, DemoServer, GrantexConfig, GRANTEX_AGENT_ID, GRANTEX_API_KEY, GRANTEX_SANDBOX_API_KEY};
use support::{fresh_dir, service_over};
use tokio::sync::mpsc;

/// A demo with Grantex, a daemon whose providers.toml points the Grantex preset at it (by paste
/// when `paste`), and the daemon's clock.
struct Setup {
    demo: DemoServer,
    daemon: Arc<pixy_core::daemon::Daemon>,
    store: Arc<pixy_core::store::memory::MemoryStore>,
    clock: Arc<ManualClock>,
}

async fn setup(name: &str, grantex: GrantexConfig, paste: bool) -> Setup {
    let demo = DemoServer::start_with_grantex(DemoConfig::default(), grantex).await.unwrap();
    let dir = fresh_dir(name);
    let paste_page =
        if paste { format!("paste_redirect_uri = \"{}\"\n", demo.grantex_code_page_uri()) } else { String::new() };
    std::fs::write(
        dir.join("providers.toml"),
        format!(
            "[[provider]]\nid = \"grantex\"\nissuer = \"{issuer}\"\nbase_url = \"{issuer}\"\n\
             agent_id = \"{GRANTEX_AGENT_ID}\"\nprincipal_id = \"alice\"\nscopes = [\"files:read\", \"mail:send\"]\n\
             {paste_page}",
            issuer = demo.issuer()
        ),
    )
    .unwrap();
    let store = Arc::new(pixy_core::store::memory::MemoryStore::new());
    let clock = Arc::new(ManualClock::at_system_time());
    let daemon = service_over(&dir, None, Duration::from_secs(5), store.clone(), clock.clone());
    Setup { demo, daemon, store, clock }
}

async fn accounts(s: &Setup) -> Vec<pixy_core::ipc::AccountSummary> {
    match support::run(&s.daemon, Request::Status).await.pop() {
        Some(Event::Status { accounts, .. }) => accounts,
        other => panic!("{other:?}"),
    }
}

/// The developer API key the keyring keeps for the Grantex provider.
fn kept_api_key(s: &Setup) -> Option<String> {
    let store: &dyn TokenStore = s.store.as_ref();
    store.get(&provider_key("grantex"), Field::ApiKey).unwrap().map(|key| key.to_string())
}

/// The shared link request for the Grantex provider, with `api_key` given along.
fn link_request(api_key: Option<&str>) -> Request {
    let Request::Link(request) = support::link_request("grantex") else { unreachable!("a link request") };
    Request::Link(Box::new(LinkRequest { api_key: api_key.map(SecretText::new), ..*request }))
}

/// A running link: its events, and where the person's pastes go.
struct Link {
    events: mpsc::Receiver<Event>,
    pastes: mpsc::Sender<SecretText>,
}

fn start(s: &Setup, api_key: Option<&str>) -> Link {
    let (tx, events) = mpsc::channel(16);
    let (pastes, paste_rx) = mpsc::channel(4);
    let daemon = s.daemon.clone();
    let request = link_request(api_key);
    tokio::spawn(async move {
        daemon
            .handle_from(None, request, tx, pixy_core::daemon::FollowUps { pastes: Some(paste_rx), answers: None })
            .await
    });
    Link { events, pastes }
}

impl Link {
    async fn next(&mut self) -> Event {
        tokio::time::timeout(Duration::from_secs(30), self.events.recv()).await.expect("answered").expect("an event")
    }

    /// The events up to the terminal one; returns it.
    async fn end(&mut self) -> Event {
        loop {
            let event = self.next().await;
            if event.is_terminal() {
                return event;
            }
        }
    }
}

#[tokio::test]
async fn a_sandbox_grant_links_without_a_browser_and_the_account_shows_who_the_agent_and_the_scopes() {
    let s = setup("grantex-sandbox", GrantexConfig::default(), false).await;
    let mut link = start(&s, Some(GRANTEX_SANDBOX_API_KEY));
    let Event::Linked { account } = link.end().await else { panic!("linked") };
    assert_eq!(account.provider, "grantex");
    assert_eq!(account.label, "alice for did:grantex:ag_demo_agent");
    assert_eq!(account.scopes, ["files:read", "mail:send"]);
    assert_eq!(s.demo.stats().grantex_token, 1);
    assert_eq!(kept_api_key(&s).as_deref(), Some(GRANTEX_SANDBOX_API_KEY), "the API key is kept for later");

    // The next link needs no key: the kept one is used; the grant it replaces is ended.
    let mut again = start(&s, None);
    assert!(matches!(again.end().await, Event::Linked { .. }));
    assert_eq!(accounts(&s).await.len(), 1, "the same person and agent: one account");
    assert_eq!(s.demo.stats().grantex_revoked, 1, "the replaced grant was ended");
    // A mistyped key is refused and does not replace the kept one.
    assert!(matches!(start(&s, Some("mistyped")).end().await, Event::Error { .. }));
    assert_eq!(kept_api_key(&s).as_deref(), Some(GRANTEX_SANDBOX_API_KEY));
}

#[tokio::test]
async fn a_refused_loopback_redirect_says_to_link_by_paste_and_stores_nothing() {
    let s = setup("grantex-loopback-refused", GrantexConfig::default(), false).await;
    let mut link = start(&s, Some(GRANTEX_API_KEY));
    let Event::Error { kind, message } = link.end().await else { panic!("refused") };
    assert_eq!(kind, ErrorKind::ProviderConfig);
    assert!(message.contains("refused the redirect") && message.contains("paste_redirect_uri"), "{message}");
    assert!(accounts(&s).await.is_empty());
}

/// The next event that is not Waiting.
async fn after_waiting(link: &mut Link) -> Event {
    loop {
        match link.next().await {
            Event::Waiting { .. } => {}
            other => return other,
        }
    }
}

#[tokio::test]
async fn consent_by_paste_links_and_a_code_without_its_state_is_not_tried() {
    let s = setup("grantex-paste", GrantexConfig::default(), true).await;
    let mut link = start(&s, Some(GRANTEX_API_KEY));
    let Event::Authorize { url, paste_only } = link.next().await else { panic!("authorize first") };
    assert!(paste_only, "the registered page shows the code");
    let shown = code_page(&grantex_consent(&url, Decision::Approve).await).await;
    // Grantex does not bind the redirect at its exchange: without the state, a code is not tried.
    let (code, _) = shown.split_once('#').unwrap();
    link.pastes.send(SecretText::new(code)).await.unwrap();
    let Event::PasteRejected { reason } = after_waiting(&mut link).await else { panic!("rejected") };
    assert!(reason.contains("with its state"), "{reason}");
    assert_eq!(s.demo.stats().grantex_token, 0, "nothing was sent to Grantex");
    link.pastes.send(SecretText::new(shown)).await.unwrap();
    let Event::Linked { account } = link.end().await else { panic!("linked") };
    assert_eq!(account.label, "alice for did:grantex:ag_demo_agent");
}

#[tokio::test]
async fn a_code_grantex_refuses_ends_the_link_in_its_words_and_keeps_nothing() {
    let s = setup("grantex-400", GrantexConfig::default(), true).await;
    let mut link = start(&s, Some(GRANTEX_API_KEY));
    let Event::Authorize { url, .. } = link.next().await else { panic!("authorize first") };
    let shown = code_page(&grantex_consent(&url, Decision::Approve).await).await;
    let (_, state) = shown.split_once('#').unwrap();
    link.pastes.send(SecretText::new(format!("another-code#{state}"))).await.unwrap();
    let Event::Error { kind, message } = link.end().await else { panic!("refused") };
    assert_eq!(kind, ErrorKind::TokenEndpoint);
    assert!(message.contains("Grantex refused the code: Invalid code (request "), "{message}");
    assert!(accounts(&s).await.is_empty());
    assert_eq!(kept_api_key(&s), None, "a link that failed keeps no key");
}

#[tokio::test]
async fn a_denied_consent_ends_the_link_as_access_denied() {
    let s = setup("grantex-denied", GrantexConfig::default(), true).await;
    let mut link = start(&s, Some(GRANTEX_API_KEY));
    let Event::Authorize { url, .. } = link.next().await else { panic!("authorize first") };
    let address = grantex_consent(&url, Decision::Deny).await;
    link.pastes.send(SecretText::new(address)).await.unwrap();
    let Event::Error { kind, .. } = link.end().await else { panic!("denied") };
    assert_eq!(kind, ErrorKind::AccessDenied);
    assert!(accounts(&s).await.is_empty());
}

#[tokio::test]
async fn a_forged_grant_token_is_refused_and_nothing_is_kept() {
    let forged = GrantexConfig { forge_signature: true, ..GrantexConfig::default() };
    let s = setup("grantex-forged", forged, false).await;
    let mut link = start(&s, Some(GRANTEX_SANDBOX_API_KEY));
    let Event::Error { kind, message } = link.end().await else { panic!("refused") };
    assert_eq!(kind, ErrorKind::TokenEndpoint);
    assert!(message.contains("does not verify"), "{message}");
    assert!(accounts(&s).await.is_empty());
    assert_eq!(s.demo.stats().grantex_revoked, 1, "the grant it came with was ended, not left live");
}

#[tokio::test]
async fn newer_claim_names_read_as_the_legacy_ones() {
    let newer = GrantexConfig { new_claim_names: true, ..GrantexConfig::default() };
    let s = setup("grantex-newer-claims", newer, false).await;
    let Event::Linked { account } = start(&s, Some(GRANTEX_SANDBOX_API_KEY)).end().await else { panic!("linked") };
    assert_eq!(account.label, "alice for did:grantex:ag_demo_agent");
    assert_eq!(account.scopes, ["files:read", "mail:send"]);
}

#[tokio::test]
async fn a_wrong_api_key_and_a_missing_one_are_said_in_words() {
    let s = setup("grantex-api-key", GrantexConfig::default(), false).await;
    let Event::Error { kind, message } = start(&s, None).end().await else { panic!("no key") };
    assert_eq!(kind, ErrorKind::ProviderConfig);
    assert!(message.contains("API key") && message.contains("--api-key-stdin"), "{message}");
    let Event::Error { kind, message } = start(&s, Some("wrong-key")).end().await else { panic!("refused") };
    assert_eq!(kind, ErrorKind::ProviderConfig);
    assert!(message.contains("refused the developer API key") && message.contains("request "), "{message}");
    assert!(!message.contains("wrong-key"), "the key is never quoted: {message}");
    assert_eq!(kept_api_key(&s), None, "a key that did not work is not kept");
}

#[tokio::test]
async fn a_refresh_that_keeps_the_grants_expiry_is_not_repeated_and_the_grant_then_needs_relinking() {
    let s = setup("grantex-refresh", GrantexConfig::default(), false).await;
    let Event::Linked { account } = start(&s, Some(GRANTEX_SANDBOX_API_KEY)).end().await else { panic!() };
    let token = |s: &Setup| {
        let daemon = s.daemon.clone();
        let id = account.id.clone();
        async move {
            support::run(&daemon, Request::Token { account: id, min_valid: None, can_prompt: false })
                .await
                .pop()
                .unwrap()
        }
    };
    // At 85% of the hour the token is due: one refresh, which keeps the grant's exp.
    s.clock.advance(3060);
    assert!(matches!(token(&s).await, Event::Token { .. }));
    assert_eq!(s.demo.stats().grantex_refresh, 1);
    // Still before the exp: no refresh again (it would bring the same exp back, in a loop).
    s.clock.advance(300);
    for _ in 0..3 {
        assert!(matches!(token(&s).await, Event::Token { .. }));
    }
    assert_eq!(s.demo.stats().grantex_refresh, 1, "an unchanged exp is not refreshed again");
    // Past the exp the grant is over.
    s.clock.advance(600);
    let Event::Error { kind, message } = token(&s).await else { panic!("over") };
    assert_eq!(kind, ErrorKind::NeedsRelink);
    assert!(message.contains("ended at its expiry"), "{message}");
    assert_eq!(s.demo.stats().grantex_refresh, 1);
}

#[tokio::test]
async fn unlinking_ends_the_grant_at_grantex() {
    let s = setup("grantex-unlink", GrantexConfig::default(), false).await;
    let Event::Linked { account } = start(&s, Some(GRANTEX_SANDBOX_API_KEY)).end().await else { panic!() };
    let events = support::run(&s.daemon, Request::Unlink { account: account.id.clone() }).await;
    let Some(Event::Unlinked { revocation, .. }) = events.last() else { panic!("{events:?}") };
    assert_eq!(*revocation, Revocation::Revoked);
    assert_eq!(s.demo.stats().grantex_revoked, 1);
    assert!(kept_api_key(&s).is_some(), "the provider's API key stays for its other links");
}
