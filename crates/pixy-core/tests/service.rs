//! The daemon's service driven as its socket does, against the embedded demo provider, with the
//! in-memory store standing in for the keyring (the real keyring is exercised end to end).

use std::sync::Arc;
use std::time::Duration;

use pixy_core::daemon::Daemon;
use pixy_core::ipc::{Event, Request};
use pixy_core::store::memory::MemoryStore;
use pixy_core::store::{Field, TokenStore};
use pixy_core::ErrorKind;
use tokio::sync::mpsc;

mod support;

struct Fixture {
    service: Arc<Daemon>,
    store: Arc<MemoryStore>,
    demo: pixy_demo::DemoServer,
    /// Where accounts.json and providers.toml are.
    dir: std::path::PathBuf,
}

async fn fixture(name: &str) -> Fixture {
    let demo = pixy_demo::DemoServer::start(0).await.unwrap();
    let dir = support::fresh_dir(&format!("service-{name}"));
    let (service, store) = support::service(&dir, Some(demo.issuer()), Duration::from_secs(10));
    Fixture { service, store, demo, dir }
}

fn link_demo() -> Request {
    support::link_request("demo")
}

/// Starts a request; returns the receiving end of its events.
fn start(service: &Arc<Daemon>, request: Request) -> mpsc::Receiver<Event> {
    let (tx, rx) = mpsc::channel(16);
    let service = service.clone();
    tokio::spawn(async move { service.handle(request, tx).await });
    rx
}

async fn terminal(rx: &mut mpsc::Receiver<Event>) -> Event {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("answered in time")
            .expect("an event");
        if event.is_terminal() {
            return event;
        }
    }
}

async fn authorize_url(rx: &mut mpsc::Receiver<Event>) -> String {
    match rx.recv().await {
        Some(Event::Authorize { url, .. }) => url,
        other => panic!("the first event of a link is authorize, got {other:?}"),
    }
}

async fn approve(url: &str) {
    pixy_demo::person::answer(url, pixy_demo::person::Decision::Approve).await;
}

#[tokio::test]
async fn link_token_and_unlink_through_the_service() {
    let f = fixture("lifecycle").await;
    let mut link = start(&f.service, link_demo());
    let url = authorize_url(&mut link).await;
    approve(&url).await;
    let Event::Linked { account } = terminal(&mut link).await else { panic!("the link should succeed") };
    assert_eq!(account.provider, "demo");
    assert_eq!(f.store.len(), 3, "access, refresh and id token are stored as separate entries");

    let Event::Token { access_token, .. } =
        terminal(&mut start(&f.service, Request::Token { account: "demo".into(), min_valid: None, can_prompt: false }))
            .await
    else {
        panic!("a token for the only demo account")
    };
    assert!(!access_token.expose().is_empty());

    let Event::Unlinked { revoked, .. } =
        terminal(&mut start(&f.service, Request::Unlink { account: account.id.clone() })).await
    else {
        panic!("unlink answers unlinked")
    };
    assert!(revoked, "the demo provider confirms revocation");
    assert!(f.store.is_empty(), "no secret is left after unlink");
    let Event::Status { accounts, .. } = terminal(&mut start(&f.service, Request::Status)).await else { panic!() };
    assert!(accounts.is_empty());
}

/// Links the demo account (approved at once); returns its id.
async fn link_and_approve(f: &Fixture) -> String {
    match support::link_and_approve(&f.service, "demo").await {
        Event::Linked { account } => account.id,
        other => panic!("the link should succeed, got {other:?}"),
    }
}

/// Whether the demo provider's introspection calls the token active.
async fn active(f: &Fixture, token: &str) -> bool {
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/introspect", f.demo.issuer()))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["active"] == true
}

#[tokio::test]
async fn relinking_an_account_replaces_its_tokens_and_revokes_the_refresh_token_it_replaced() {
    let f = fixture("relink").await;
    let first = link_and_approve(&f).await;
    let replaced = f.store.get(&first, Field::RefreshToken).unwrap().expect("a refresh token").to_string();
    let second = link_and_approve(&f).await;
    assert_eq!(first, second, "the same person at the same provider is the same account");
    let Event::Status { accounts, .. } = terminal(&mut start(&f.service, Request::Status)).await else { panic!() };
    assert_eq!(accounts.len(), 1, "re-linking does not add an account");
    let current = f.store.get(&second, Field::RefreshToken).unwrap().expect("a refresh token").to_string();
    assert_ne!(current, replaced, "the new sign-in's refresh token is stored");
    assert!(!active(&f, &replaced).await, "the replaced refresh token is revoked");
    assert!(active(&f, &current).await, "the new refresh token lives on");
    let access = f.store.get(&second, Field::AccessToken).unwrap().expect("an access token").to_string();
    assert!(active(&f, &access).await, "the new access token lives on");
}

#[tokio::test]
async fn a_second_client_is_served_while_a_link_waits() {
    let f = fixture("concurrent").await;
    let mut link = start(&f.service, link_demo());
    authorize_url(&mut link).await;
    let status = tokio::time::timeout(Duration::from_secs(2), terminal(&mut start(&f.service, Request::Status))).await;
    assert!(matches!(status, Ok(Event::Status { .. })), "status must not wait for the running link");
}

#[tokio::test]
async fn a_new_link_with_the_same_provider_replaces_the_waiting_one() {
    let f = fixture("replace").await;
    let mut first = start(&f.service, link_demo());
    authorize_url(&mut first).await;
    let mut second = start(&f.service, link_demo());
    let url = authorize_url(&mut second).await;
    match terminal(&mut first).await {
        Event::Error { kind, .. } => assert_eq!(kind, ErrorKind::Cancelled),
        other => panic!("the first link should be cancelled, got {other:?}"),
    }
    approve(&url).await;
    assert!(matches!(terminal(&mut second).await, Event::Linked { .. }), "the newer link completes");
}

#[tokio::test]
async fn a_new_link_takes_over_the_fixed_port_of_the_one_it_replaces() {
    let f = fixture("fixed-port").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let Some(Event::Providers { providers }) = start(&f.service, Request::Providers).recv().await else { panic!() };
    let issuer = &providers[0].issuer;
    std::fs::write(
        f.dir.join("providers.toml"),
        format!("[[provider]]\nid = \"fixed\"\nissuer = \"{issuer}\"\nclient_id = \"pixy-demo\"\nredirect_ports = [{port}]\n"),
    )
    .unwrap();
    let link = || support::link_request("fixed");
    let mut first = start(&f.service, link());
    let url = authorize_url(&mut first).await;
    assert!(url.contains(&format!("127.0.0.1%3A{port}")), "the registered port is used");
    let mut second = start(&f.service, link());
    let url = authorize_url(&mut second).await;
    assert!(url.contains(&format!("127.0.0.1%3A{port}")), "the replacing link gets the same port");
    approve(&url).await;
    assert!(matches!(terminal(&mut second).await, Event::Linked { .. }), "the newer link completes");
}

#[tokio::test]
async fn a_locked_keyring_is_reported_before_any_browser_opens() {
    let f = fixture("locked").await;
    f.store.set_locked(true);
    let mut link = start(&f.service, link_demo());
    match link.recv().await {
        Some(Event::Error { kind, .. }) => assert_eq!(kind, ErrorKind::KeyringLocked),
        other => panic!("the first and only event must be the keyring error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unknown_account_is_a_clear_error() {
    let f = fixture("unknown").await;
    match terminal(&mut start(
        &f.service,
        Request::Token { account: "nobody".into(), min_valid: None, can_prompt: false },
    ))
    .await
    {
        Event::Error { kind, message } => {
            assert_eq!(kind, ErrorKind::InvalidRequest);
            assert!(message.contains("pixy status"), "the message says where to look: {message}");
        }
        other => panic!("{other:?}"),
    }
}

/// Every secret the store holds for `account`.
fn secrets_of(f: &Fixture, account: &str) -> Vec<String> {
    Field::ALL.iter().filter_map(|field| f.store.get(account, *field).unwrap().map(|s| s.to_string())).collect()
}

fn index_json(f: &Fixture) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(f.dir.join("accounts.json")).unwrap()).unwrap()
}

fn write_index(f: &Fixture, index: &serde_json::Value) {
    std::fs::write(f.dir.join("accounts.json"), serde_json::to_vec(index).unwrap()).unwrap();
}

#[tokio::test]
async fn a_link_whose_account_cannot_be_recorded_revokes_its_new_tokens_and_keeps_nothing() {
    let f = fixture("unrecordable").await;
    // The index cannot be written: its path is taken by a directory (a full or read-only disk
    // fails the same way, and root ignores permissions).
    std::fs::create_dir_all(f.dir.join("accounts.json").join("in-the-way")).unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let service = f.service.clone();
    tokio::spawn(async move { service.handle(link_demo(), tx).await });
    let url = authorize_url(&mut rx).await;
    approve(&url).await;
    let Event::Error { kind, message } = terminal(&mut rx).await else { panic!("the link must fail") };
    assert_eq!(kind, ErrorKind::Internal, "{message}");
    assert!(message.contains("revoked"), "the person is told the sign-in was undone: {message}");
    assert!(f.store.is_empty(), "no secret is left in the keyring");
    assert_eq!(f.demo.stats().revoked, 2, "both new tokens were revoked at the provider");
    let Event::Status { accounts, .. } = terminal(&mut start(&f.service, Request::Status)).await else { panic!() };
    assert!(accounts.is_empty(), "no account is shown: {accounts:?}");
}

#[tokio::test]
async fn reconciling_at_start_sweeps_orphans_finishes_whole_links_and_rolls_back_torn_ones() {
    let f = fixture("reconcile").await;
    // A crash between the keyring and the index: secrets under an account the index never got.
    // (The demo has one person, so the orphan's secrets are moved to an account id of their own.)
    let first = link_and_approve(&f).await;
    let orphan = "demo-feedface";
    for field in Field::ALL {
        let value = f.store.get(&first, field).unwrap().unwrap();
        f.store.put(orphan, field, &value).unwrap();
        f.store.delete(&first, field).unwrap();
    }
    let orphan_refresh = f.store.get(orphan, Field::RefreshToken).unwrap().unwrap().to_string();
    assert!(active(&f, &orphan_refresh).await, "the orphan's refresh token is live before reconciling");
    // An account whose link was recorded as pending and then written whole, and another
    // (invented) whose pending link never got all its secrets.
    let whole = link_and_approve(&f).await;
    let mut index = index_json(&f);
    let mut torn = index["accounts"][0].clone();
    index["accounts"][0]["pending"] = true.into();
    torn["id"] = "demo-0badc0de".into();
    torn["pending"] = true.into();
    index["accounts"].as_array_mut().unwrap().push(torn);
    write_index(&f, &index);
    f.store.put("demo-0badc0de", Field::AccessToken, "a-torn-write").unwrap();
    std::fs::write(f.dir.join("accounts.json.tmp-99999"), b"{ half").unwrap();

    let clock = Arc::new(pixy_core::clock::SystemClock);
    let restarted =
        support::service_over(&f.dir, Some(f.demo.issuer()), Duration::from_secs(10), f.store.clone(), clock);
    restarted.reconcile().await;

    assert!(secrets_of(&f, orphan).is_empty(), "secrets no account names are deleted");
    assert!(!active(&f, &orphan_refresh).await, "and revoked at their provider");
    assert_eq!(secrets_of(&f, &whole).len(), 3, "a pending link written whole keeps its secrets");
    assert!(secrets_of(&f, "demo-0badc0de").is_empty(), "a torn link's secrets are deleted");
    let Event::Status { accounts, .. } = terminal(&mut start(&restarted, Request::Status)).await else { panic!() };
    let ids: Vec<_> = accounts.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, [whole.as_str()], "the whole link is finished, the torn one rolled back");
    let saved = index_json(&f);
    assert_eq!(saved["accounts"].as_array().unwrap().len(), 1);
    assert!(saved["accounts"][0].get("pending").is_none(), "the finished link is saved as complete");
    assert!(!f.dir.join("accounts.json.tmp-99999").exists(), "unfinished index writes are swept");
}

// ------------------------------------------------------------------------------------------------
// Reset, a newer index, and quiet for an upgrade

fn refresh_token_of(f: &Fixture, account: &str) -> String {
    f.store.get(account, Field::RefreshToken).unwrap().expect("a refresh token").to_string()
}

#[tokio::test]
async fn a_reset_revokes_every_account_deletes_every_secret_and_file_and_keeps_providers_toml() {
    let f = fixture("reset").await;
    let providers =
        b"# the person's own\n[[provider]]\nid = \"work\"\nissuer = \"https://id.example.com\"\nclient_id = \"x\"\n";
    std::fs::write(f.dir.join("providers.toml"), providers).unwrap();
    let account = link_and_approve(&f).await;
    let refresh_token = refresh_token_of(&f, &account);
    let allow = Request::Allow { program: "any".into(), account: account.clone() };
    assert!(matches!(terminal(&mut start(&f.service, allow)).await, Event::Granted { .. }), "a grant to reset");
    // Secrets no account names: an orphan and a registration's, which only a reset removes.
    f.store.put("orphan-1", Field::AccessToken, "left over").unwrap();
    f.store.put("registration:0123abcd", Field::ClientSecret, "a client secret").unwrap();
    std::fs::write(f.dir.join("accounts.json.v1"), b"{\"version\":1,\"accounts\":[]}").unwrap();

    let Event::ResetPlan { delete, keep } = terminal(&mut start(&f.service, Request::Reset { dry_run: true })).await
    else {
        panic!("a dry run answers with the plan")
    };
    assert!(delete.iter().any(|d| d.contains(&account)), "the plan names the account: {delete:?}");
    assert!(keep.iter().any(|k| k.contains("providers.toml")), "and says providers.toml is kept: {keep:?}");
    assert_eq!(f.store.len(), 5, "a dry run deletes nothing");
    assert!(active(&f, &refresh_token).await, "nor revokes anything");

    let mut events = start(&f.service, Request::Reset { dry_run: false });
    let mut progress = Vec::new();
    let (steps, kept) = loop {
        match tokio::time::timeout(Duration::from_secs(20), events.recv()).await.unwrap().unwrap() {
            Event::ResetStep { step } => progress.push(step),
            Event::Reset { steps, kept } => break (steps, kept),
            other => panic!("a reset answers with steps, then the summary: {other:?}"),
        }
    };
    assert_eq!(progress, steps, "each step was said as it was done");
    assert!(steps.iter().all(|s| s.ok), "every item went as it should: {steps:?}");
    let revoked = steps.iter().find(|s| s.item == format!("account {account}")).expect("the account is a step");
    assert_eq!(revoked.outcome, "revoked at its provider");
    assert!(!active(&f, &refresh_token).await, "the provider revoked the refresh token");
    assert!(f.store.is_empty(), "no secret is left, orphans and registrations' included");
    let index = steps.iter().find(|s| s.item.starts_with("the account index")).unwrap();
    assert_eq!(index.outcome, "deleted, with 1 kept copy", "the migration's backup went too");
    for gone in ["accounts.json", "accounts.json.v1", "grants.json"] {
        assert!(!f.dir.join(gone).exists(), "{gone} is deleted");
    }
    assert_eq!(std::fs::read(f.dir.join("providers.toml")).unwrap(), providers, "providers.toml is untouched");
    assert!(kept.iter().any(|k| k.contains("providers.toml")) && kept.iter().any(|k| k.contains("daemon.log")));
    let Event::Status { accounts, .. } = terminal(&mut start(&f.service, Request::Status)).await else { panic!() };
    assert!(accounts.is_empty(), "no account is left");
    let Event::Grants { grants } = terminal(&mut start(&f.service, Request::Grants)).await else { panic!() };
    assert!(grants.is_empty(), "no grant is left");

    let again = link_and_approve(&f).await;
    assert!(!again.is_empty(), "Pixy works on after a reset");
}

#[tokio::test]
async fn a_reset_cancels_a_waiting_link() {
    let f = fixture("reset-link").await;
    let mut link = start(&f.service, link_demo());
    let _url = authorize_url(&mut link).await;
    let Event::Reset { steps, .. } = terminal(&mut start(&f.service, Request::Reset { dry_run: false })).await else {
        panic!("the reset answers")
    };
    assert_eq!(steps[0].item, "link with demo", "{steps:?}");
    let Event::Error { kind, .. } = terminal(&mut link).await else { panic!("the link ends") };
    assert_eq!(kind, ErrorKind::Cancelled);
}

#[tokio::test]
async fn a_daemon_over_a_newer_index_refuses_every_request_with_why_and_touches_nothing() {
    let dir = support::fresh_dir("service-newer-index");
    let newer = br#"{"version":99,"written_by":"9.9.9","accounts":[{"id":"work-1"}]}"#;
    std::fs::write(dir.join("accounts.json"), newer).unwrap();
    let store = Arc::new(MemoryStore::new());
    store.put("work-1", Field::RefreshToken, "the newer Pixy's").unwrap();
    let service = support::service_over(
        &dir,
        None,
        Duration::from_secs(5),
        store.clone(),
        Arc::new(pixy_core::clock::SystemClock),
    );
    service.reconcile().await;
    assert_eq!(store.len(), 1, "the keyring is not swept by a daemon that cannot read the index");

    for request in [
        Request::Status,
        Request::Token { account: "work-1".into(), min_valid: None, can_prompt: false },
        Request::Reset { dry_run: false },
    ] {
        let Event::Error { message, .. } = terminal(&mut start(&service, request)).await else {
            panic!("every request is refused")
        };
        assert!(message.contains("was written by Pixy 9.9.9 (schema 99), newer than this Pixy"), "{message}");
        assert!(message.contains("upgrade Pixy"), "{message}");
    }
    let pong = terminal(&mut start(&service, Request::Ping)).await;
    assert!(matches!(pong, Event::Pong { ref version, .. } if version == pixy_core::VERSION), "ping works: {pong:?}");
    assert_eq!(std::fs::read(dir.join("accounts.json")).unwrap(), newer, "the index is byte-identical");
    assert_eq!(store.len(), 1, "and the keyring untouched");
}

#[tokio::test]
async fn a_daemon_is_quiet_only_with_no_link_waiting_and_holds_every_account_while_quiet() {
    let f = fixture("quiet").await;
    let account = link_and_approve(&f).await;
    assert!(f.service.quiet().is_some(), "nothing under way: quiet");

    let mut link = start(&f.service, link_demo());
    let url = authorize_url(&mut link).await;
    assert!(f.service.quiet().is_none(), "a link waiting for the person keeps the daemon from restarting");
    pixy_demo::person::answer(&url, pixy_demo::person::Decision::Deny).await;
    assert!(matches!(terminal(&mut link).await, Event::Error { .. }), "the person declined");
    let quiet = f.service.quiet().expect("quiet once the link ended");

    let mut refresh = start(&f.service, Request::Refresh { account: account.clone() });
    let held = tokio::time::timeout(Duration::from_millis(500), refresh.recv()).await;
    assert!(held.is_err(), "no refresh starts while the daemon is held quiet for its restart");
    assert!(f.service.quiet().is_none(), "nor is it quiet twice");
    drop(quiet);
    assert!(matches!(terminal(&mut refresh).await, Event::Refreshed { .. }), "the refresh runs once released");
}
