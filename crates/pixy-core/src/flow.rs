//! One link flow: PKCE, the loopback listener, the browser, the callback and the code exchange.
//!
//! Three shapes, chosen by the provider and the options:
//! - loopback (the default): the listener waits for the redirect, and a pasted redirect URL or
//!   code is taken too; the first valid answer wins;
//! - paste only: the provider's registered redirect is a page that shows the code
//!   ([`Provider::paste_redirect_uri`]): no listener, the person pastes;
//! - device ([`LinkOptions::device`], RFC 8628, see [`crate::device`]): no browser here at all.
//!
//! Options in, handle out: [`LinkHandle::start`] takes a provider and [`LinkOptions`] and returns
//! a handle with progress events, `cancel()` and the awaitable result. Dropping the handle cancels
//! the flow and releases the port. The verifier never leaves this task but to the token endpoint.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::authorize::authorization_url;
use crate::callback::Expected;
use crate::error::{redact_url, Error, ErrorKind, Result};
use crate::exchange::{exchange_code, TokenSet};
use crate::identity::{identify, Identity};
use crate::ipc::protocol::SecretText;
use crate::loopback::{LoopbackOptions, Receiver};
use crate::paste::{judge_paste, Pasted};
use crate::pkce::PkcePair;
use crate::provider::Provider;
use crate::secret::{ApiKey, AuthCode, PkceVerifier, State};

/// The default time a person has to finish in the browser, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 300;
/// The longest time a link may wait for the person, in seconds.
pub const MAX_TIMEOUT_SECS: u64 = 3600;
/// The default time a person has to finish in the browser.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(DEFAULT_TIMEOUT_SECS);

/// The wait a client asked for, within 1 s and [`MAX_TIMEOUT_SECS`]; the default when it did not ask.
pub fn timeout_from(seconds: Option<u64>) -> Duration {
    Duration::from_secs(seconds.unwrap_or(DEFAULT_TIMEOUT_SECS).clamp(1, MAX_TIMEOUT_SECS))
}

/// How a flow runs.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    /// Scopes; empty means the provider's defaults.
    pub scopes: Vec<String>,
    /// Extra authorization parameters.
    pub auth_params: Vec<(String, String)>,
    /// Open the browser (otherwise the person opens the URL).
    pub open_browser: bool,
    /// A `$BROWSER` command to use instead of the platform opener.
    pub browser: Option<String>,
    /// How long to wait for the callback.
    pub timeout: Duration,
    /// Where to listen.
    pub loopback: LoopbackOptions,
    /// Link with a device code (RFC 8628) instead of a redirect.
    pub device: bool,
    /// The developer API key a Grantex provider's calls carry.
    pub api_key: Option<ApiKey>,
}

impl Default for LinkOptions {
    fn default() -> Self {
        LinkOptions {
            scopes: Vec::new(),
            auth_params: Vec::new(),
            open_browser: true,
            browser: None,
            timeout: DEFAULT_TIMEOUT,
            loopback: LoopbackOptions::default(),
            device: false,
            api_key: None,
        }
    }
}

/// Progress of a flow.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// The authorization URL is ready.
    Authorize {
        /// The URL (holds the state and challenge, never the verifier).
        url: String,
        /// Nothing listens for the redirect: the person pastes the code the provider shows.
        paste_only: bool,
    },
    /// A device code is ready for the person to enter elsewhere (RFC 8628).
    Device {
        /// The code the person enters.
        user_code: String,
        /// Where they enter it.
        verification_uri: String,
        /// The same with the code filled in, if the provider gave one.
        verification_uri_complete: Option<String>,
        /// Seconds until the code expires.
        expires_in: u64,
    },
    /// Waiting for the person in the browser.
    Waiting {
        /// Seconds left.
        seconds_left: u64,
    },
    /// No browser could be started: the person opens the link themselves (the flow waits on).
    BrowserFailed,
    /// Exchanging the code.
    Exchanging,
}

/// A finished flow.
#[derive(Debug)]
pub struct Linked {
    /// The tokens.
    pub tokens: TokenSet,
    /// Who they belong to.
    pub identity: Identity,
}

/// A paste handed to a running flow, with where its verdict goes: `None` when it was used (the
/// flow ends with it), or why it was not.
type PasteOffer = (SecretText, oneshot::Sender<Option<&'static str>>);

/// A running flow.
#[derive(Debug)]
pub struct LinkHandle {
    progress: mpsc::Receiver<Progress>,
    pastes: mpsc::Sender<PasteOffer>,
    task: tokio::task::JoinHandle<Result<Linked>>,
}

impl LinkHandle {
    /// Starts a flow on the current runtime.
    pub fn start(http: reqwest::Client, provider: Provider, options: LinkOptions) -> LinkHandle {
        let (tx, rx) = mpsc::channel(8);
        let (pastes, paste_rx) = mpsc::channel(4);
        let task = tokio::spawn(run(http, provider, options, tx, paste_rx));
        LinkHandle { progress: rx, pastes, task }
    }

    /// Offers what the person pasted while the flow waits (the listener keeps listening: the
    /// first valid answer wins). `None` when the paste was used; otherwise why it was not, in
    /// words that quote nothing of it.
    pub async fn paste(&self, text: SecretText) -> Option<&'static str> {
        const ENDED: &str = "the sign-in is no longer waiting for a code";
        let (verdict, answer) = oneshot::channel();
        if self.pastes.send((text, verdict)).await.is_err() {
            return Some(ENDED);
        }
        answer.await.unwrap_or(Some(ENDED))
    }

    /// The next progress event; `None` once the flow has ended.
    pub async fn progress(&mut self) -> Option<Progress> {
        self.progress.recv().await
    }

    /// Stops the flow and releases the port.
    pub fn cancel(&self) {
        self.task.abort();
    }

    /// Waits for the flow's end.
    pub async fn result(mut self) -> Result<Linked> {
        match (&mut self.task).await {
            Ok(result) => result,
            Err(e) if e.is_cancelled() => Err(Error::new(ErrorKind::Cancelled, "the sign-in was cancelled")),
            Err(_) => Err(Error::new(ErrorKind::Internal, "the sign-in failed unexpectedly")),
        }
    }
}

impl Drop for LinkHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    http: reqwest::Client,
    provider: Provider,
    options: LinkOptions,
    progress: mpsc::Sender<Progress>,
    pastes: mpsc::Receiver<PasteOffer>,
) -> Result<Linked> {
    let tokens = if options.device {
        run_device(&http, &provider, &options, &progress).await?
    } else {
        run_redirect(&http, &provider, &options, &progress, pastes).await?
    };
    let identity = identify(&http, &provider, &tokens).await;
    tracing::info!(provider = %provider.id, has_refresh_token = tokens.refresh_token.is_some(), "link exchanged");
    Ok(Linked { tokens, identity })
}

/// The authorization code flow, its code caught by the listener or pasted.
async fn run_redirect(
    http: &reqwest::Client,
    provider: &Provider,
    options: &LinkOptions,
    progress: &mpsc::Sender<Progress>,
    pastes: mpsc::Receiver<PasteOffer>,
) -> Result<TokenSet> {
    let pkce = PkcePair::generate();
    let state = State::generate();
    let issuer = provider.iss_parameter_supported.then(|| provider.issuer.clone());
    let expected = Expected { state: State::new(state.expose()), issuer: issuer.clone() };
    let (receiver, redirect_uri) = match &provider.paste_redirect_uri {
        Some(page) => (None, page.clone()),
        None => {
            let receiver =
                Receiver::bind(&options.loopback, Expected { state: State::new(state.expose()), issuer }).await?;
            let redirect_uri = receiver.redirect_uri().to_string();
            (Some(receiver), redirect_uri)
        }
    };
    let (url, approved) = match &provider.grantex {
        None => {
            let url = authorization_url(
                provider,
                &redirect_uri,
                &state,
                &pkce.challenge,
                &options.scopes,
                &options.auth_params,
            )?;
            (url, None)
        }
        Some(_) => {
            let api_key = grantex_key(provider, options)?;
            let asked = crate::grantex::authorize(
                http,
                provider,
                api_key,
                &redirect_uri,
                &state,
                &pkce.challenge,
                &options.scopes,
            )
            .await?;
            (asked.consent_url, asked.approved_code)
        }
    };
    if let Some(code) = approved {
        // A sandbox service approved at once: the code came over the authenticated API call
        // itself, not through a browser, so there is no redirect to bind.
        tracing::info!(provider = %provider.id, "the service approved the grant without a browser");
        let _ = progress.send(Progress::Exchanging).await;
        return exchange(http, provider, options, code, &pkce.verifier, &redirect_uri, &state).await;
    }
    let paste_only = receiver.is_none();
    tracing::info!(provider = %provider.id, authorize = %redact_url(&url), open_browser = options.open_browser, paste_only, "link started");
    let _ = progress.send(Progress::Authorize { url: url.clone(), paste_only }).await;
    if options.open_browser {
        // The person can still open the link the client shows; the flow waits on either way.
        match crate::browser::open(&url, options.browser.as_deref()) {
            Err(e) => {
                tracing::warn!(error = %e, "the browser could not be opened");
                let _ = progress.send(Progress::BrowserFailed).await;
            }
            Ok(all_failed) => {
                // A weak sender: a browser that runs on (one that was not open yet, a terminal
                // browser) must not keep the progress stream, and so the link, from ending.
                let progress = progress.downgrade();
                tokio::spawn(async move {
                    if all_failed.await.is_ok() {
                        if let Some(progress) = progress.upgrade() {
                            let _ = progress.send(Progress::BrowserFailed).await;
                        }
                    }
                });
            }
        }
    }
    let _ = progress.send(Progress::Waiting { seconds_left: options.timeout.as_secs() }).await;
    let deadline = tokio::time::Instant::now() + options.timeout;
    let (mut receiver, mut pastes) = (receiver, pastes);
    // Grantex does not bind the redirect at its exchange: the state is the only binding, so a
    // code pasted there must come with its state.
    let need_state = provider.grantex.is_some();
    loop {
        let answering = first_answer(receiver.as_mut(), &mut pastes, &expected, need_state);
        let answer = tokio::time::timeout_at(deadline, answering).await;
        let Ok(answer) = answer else {
            return Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "nobody finished signing in within {} s; run the link again when ready",
                    options.timeout.as_secs()
                ),
            ));
        };
        let (code, unchecked) = answer?;
        let Some(verdict) = unchecked else {
            // The code is the flow's own: the port is released before the exchange.
            drop(receiver);
            let _ = progress.send(Progress::Exchanging).await;
            return exchange(http, provider, options, code, &pkce.verifier, &redirect_uri, &state).await;
        };
        // Only the provider can tell whether a code without a state is right. Its client waits
        // on the verdict meanwhile, so the trial is not announced as the exchange it may not be.
        match exchange(http, provider, options, code, &pkce.verifier, &redirect_uri, &state).await {
            Err(e) if e.kind == ErrorKind::TokenEndpoint => {
                tracing::info!(error = %e, "the provider refused a pasted code; still waiting");
                let _ = verdict.send(Some(REFUSED_CODE));
            }
            result => {
                // Seen before the verdict, so the link counts as exchanged before anything else.
                let _ = progress.send(Progress::Exchanging).await;
                let _ = verdict.send(None);
                return result;
            }
        }
    }
}

/// The developer API key of a Grantex provider's link.
fn grantex_key<'a>(provider: &Provider, options: &'a LinkOptions) -> Result<&'a ApiKey> {
    options.api_key.as_ref().ok_or_else(|| {
        Error::new(
            ErrorKind::ProviderConfig,
            format!(
                "{} needs the developer API key: give it with `pixy link {} --api-key-stdin`",
                provider.label, provider.id
            ),
        )
    })
}

/// The code exchange of the provider's protocol.
async fn exchange(
    http: &reqwest::Client,
    provider: &Provider,
    options: &LinkOptions,
    code: AuthCode,
    verifier: &PkceVerifier,
    redirect_uri: &str,
    state: &State,
) -> Result<TokenSet> {
    match &provider.grantex {
        None => exchange_code(http, provider, code, verifier, redirect_uri, state).await,
        Some(_) => {
            let now = crate::clock::Clock::now(&crate::clock::SystemClock);
            crate::grantex::exchange(http, provider, grantex_key(provider, options)?, code, verifier, redirect_uri, now)
                .await
        }
    }
}

/// Why a code without its state is not tried where the state is the only binding.
const STATE_NEEDED: &str =
    "this provider needs the code with its state: copy the whole code#state the page shows, or the address";

/// Why a pasted code without a state was not used.
const REFUSED_CODE: &str =
    "the provider did not accept that code: copy the newest code whole, or the address the browser ended on";

/// The device authorization grant: a code for the person, then polling until they approve.
async fn run_device(
    http: &reqwest::Client,
    provider: &Provider,
    options: &LinkOptions,
    progress: &mpsc::Sender<Progress>,
) -> Result<TokenSet> {
    let authorization = crate::device::authorize(http, provider, &options.scopes).await?;
    tracing::info!(provider = %provider.id, expires_in = authorization.expires_in, interval_secs = authorization.interval.as_secs(), "device link started");
    let _ = progress
        .send(Progress::Device {
            user_code: authorization.user_code.clone(),
            verification_uri: authorization.verification_uri.clone(),
            verification_uri_complete: authorization.verification_uri_complete.clone(),
            expires_in: authorization.expires_in,
        })
        .await;
    let tokens = crate::device::poll(http, provider, authorization).await?;
    let _ = progress.send(Progress::Exchanging).await;
    Ok(tokens)
}

/// Where the verdict on a paste goes once the provider has judged its code.
type Verdict = oneshot::Sender<Option<&'static str>>;

/// The flow's next answer: the listener's callback (when there is a listener) or a usable paste,
/// whichever comes first. A pasted code without a state comes with its verdict still to give.
async fn first_answer(
    receiver: Option<&mut Receiver>,
    pastes: &mut mpsc::Receiver<PasteOffer>,
    expected: &Expected,
    need_state: bool,
) -> Result<(AuthCode, Option<Verdict>)> {
    let callback = async {
        match receiver {
            Some(receiver) => receiver.wait().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(callback);
    loop {
        tokio::select! {
            result = &mut callback => return result.map(|code| (code, None)),
            Some((text, verdict)) = pastes.recv() => match judge_paste(text.expose(), expected) {
                Pasted::Rejected(why) => {
                    tracing::info!(why, "a paste was rejected; still waiting");
                    let _ = verdict.send(Some(why));
                }
                Pasted::Finished(result) => {
                    let _ = verdict.send(None);
                    return result.map(|code| (code, None));
                }
                Pasted::Unchecked(_) if need_state => {
                    let _ = verdict.send(Some(STATE_NEEDED));
                }
                Pasted::Unchecked(code) => return Ok((code, Some(verdict))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn demo_provider(demo: &pixy_demo::DemoServer) -> Provider {
        let http = crate::http::client(Duration::from_secs(5));
        let meta = crate::discovery::discover(&http, demo.issuer()).await.unwrap();
        Provider::from_metadata("demo", "Demo", pixy_demo::DEMO_CLIENT_ID, &meta).unwrap()
    }

    #[tokio::test]
    async fn a_whole_flow_against_the_demo_provider_yields_tokens_and_an_identity() {
        let demo = pixy_demo::DemoServer::start(0).await.unwrap();
        let provider = demo_provider(&demo).await;
        let options = LinkOptions { open_browser: false, ..Default::default() };
        let mut handle = LinkHandle::start(crate::http::client(Duration::from_secs(5)), provider, options);
        let Some(Progress::Authorize { url, .. }) = handle.progress().await else { panic!("authorize comes first") };
        assert!(url.contains("code_challenge_method=S256"));
        pixy_demo::person::answer(&url, pixy_demo::person::Decision::Approve).await;
        let linked = handle.result().await.unwrap();
        assert!(!linked.tokens.access_token.expose().is_empty());
        assert!(linked.tokens.refresh_token.is_some(), "the demo issues refresh tokens");
        assert_eq!(linked.identity.subject, "demo-user");
        assert_eq!(demo.stats().authorization_code, 1, "exactly one code exchange");
    }

    #[tokio::test]
    async fn a_pasted_redirect_url_finishes_the_flow_after_junk_and_a_foreign_state_are_turned_away() {
        let demo = pixy_demo::DemoServer::start(0).await.unwrap();
        let provider = demo_provider(&demo).await;
        let options = LinkOptions { open_browser: false, ..Default::default() };
        let mut handle = LinkHandle::start(crate::http::client(Duration::from_secs(5)), provider, options);
        let Some(Progress::Authorize { url, .. }) = handle.progress().await else { panic!("authorize comes first") };
        // The browser is elsewhere: the person copies the address it ended on.
        let callback = pixy_demo::person::decide(&url, pixy_demo::person::Decision::Approve).await;
        let state =
            url::Url::parse(&callback).unwrap().query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
        let foreign = callback.replace(&state, "another-sign-in");
        for junk in ["", "not a code at all", foreign.as_str()] {
            assert!(handle.paste(SecretText::new(junk)).await.is_some(), "{junk:?} must be turned away");
        }
        assert_eq!(handle.paste(SecretText::new(format!("  '{callback}'\n"))).await, None, "the real address is used");
        let linked = handle.result().await.unwrap();
        assert_eq!(linked.identity.subject, "demo-user");
        assert_eq!(demo.stats().authorization_code, 1, "exactly one code exchange");
    }

    /// A preset pointed at the demo: its issuer and endpoints overridden (and its paste page, for
    /// one that has one), its client id, parameters, redirect and body shape kept.
    fn preset_at(id: &str, demo: &pixy_demo::DemoServer) -> Provider {
        use serde::Deserialize;
        let preset = crate::presets::preset(id).unwrap();
        let mut over = toml::Table::new();
        over.insert("issuer".into(), demo.issuer().into());
        over.insert("authorization_endpoint".into(), format!("{}/oauth/authorize", demo.issuer()).into());
        over.insert("token_endpoint".into(), format!("{}/v1/oauth/token", demo.issuer()).into());
        if preset.table.contains_key("paste_redirect_uri") {
            over.insert("paste_redirect_uri".into(), demo.code_page_uri().into());
        }
        let table = crate::presets::overlay(&preset.table, over);
        crate::provider::ProviderConfig::deserialize(toml::Value::Table(table)).unwrap().into_provider(None).unwrap()
    }

    #[tokio::test]
    async fn the_claude_preset_links_by_pasting_code_and_state_with_a_json_exchange_that_sends_the_state() {
        let demo = pixy_demo::DemoServer::start(0).await.unwrap();
        let provider = preset_at("claude", &demo);
        let options = LinkOptions { open_browser: false, ..Default::default() };
        let mut handle = LinkHandle::start(crate::http::client(Duration::from_secs(5)), provider, options);
        let Some(Progress::Authorize { url, paste_only }) = handle.progress().await else { panic!("authorize first") };
        assert!(paste_only, "no listener: the person pastes");
        let page = pixy_demo::person::decide(&url, pixy_demo::person::Decision::Approve).await;
        let shown = pixy_demo::person::code_page(&page).await;
        let (code, state) = shown.split_once('#').expect("the page shows code#state");
        let foreign = format!("{code}#another-state");
        // The last is code-shaped but not the code: only the provider can refuse it.
        for junk in ["", "what?", foreign.as_str(), "not-the-code"] {
            assert!(handle.paste(SecretText::new(junk)).await.is_some(), "{junk:?} must be turned away");
        }
        assert_eq!(handle.paste(SecretText::new(format!("{code}#{state}\n"))).await, None);
        let linked = handle.result().await.unwrap();
        assert_eq!(linked.identity.subject, "demo-user", "the token response names the account");
        assert_eq!(linked.identity.label, "demo@pixy.invalid");
        assert_eq!(demo.stats().authorization_code, 1, "one code exchanged, JSON with the state");
    }

    #[tokio::test]
    async fn the_chatgpt_preset_listens_on_1455_and_on_1457_when_1455_is_taken() {
        let demo = pixy_demo::DemoServer::start(0).await.unwrap();
        let redirect_port = |url: &str| {
            let pairs: Vec<_> = url::Url::parse(url).unwrap().query_pairs().into_owned().collect();
            let redirect = &pairs.iter().find(|(k, _)| k == "redirect_uri").unwrap().1;
            url::Url::parse(redirect).unwrap().port().unwrap()
        };
        for taken in [false, true] {
            let held = taken.then(|| std::net::TcpListener::bind("127.0.0.1:1455").unwrap());
            let provider = preset_at("chatgpt", &demo);
            let options =
                LinkOptions { open_browser: false, loopback: provider.loopback.clone(), ..Default::default() };
            let mut handle = LinkHandle::start(crate::http::client(Duration::from_secs(5)), provider, options);
            let Some(Progress::Authorize { url, paste_only }) = handle.progress().await else { panic!() };
            assert!(!paste_only);
            assert_eq!(redirect_port(&url), if held.is_some() { 1457 } else { 1455 });
            pixy_demo::person::answer(&url, pixy_demo::person::Decision::Approve).await;
            let linked = handle.result().await.unwrap();
            assert_eq!(linked.identity.subject, "demo-user", "the ID token names the account");
            assert!(linked.tokens.refresh_token.is_some());
        }
        assert_eq!(demo.stats().authorization_code, 2);
    }

    #[tokio::test]
    async fn declining_at_the_provider_ends_the_flow_as_access_denied() {
        let demo = pixy_demo::DemoServer::start(0).await.unwrap();
        let provider = demo_provider(&demo).await;
        let options = LinkOptions { open_browser: false, ..Default::default() };
        let mut handle = LinkHandle::start(crate::http::client(Duration::from_secs(5)), provider, options);
        let Some(Progress::Authorize { url, .. }) = handle.progress().await else { panic!() };
        pixy_demo::person::answer(&url, pixy_demo::person::Decision::Deny).await;
        assert_eq!(handle.result().await.unwrap_err().kind, ErrorKind::AccessDenied);
    }

    #[tokio::test]
    async fn a_flow_nobody_finishes_times_out() {
        let demo = pixy_demo::DemoServer::start(0).await.unwrap();
        let provider = demo_provider(&demo).await;
        let options = LinkOptions { open_browser: false, timeout: Duration::from_millis(200), ..Default::default() };
        let handle = LinkHandle::start(crate::http::client(Duration::from_secs(5)), provider, options);
        assert_eq!(handle.result().await.unwrap_err().kind, ErrorKind::Timeout);
    }

    #[tokio::test]
    async fn cancel_ends_the_flow_and_releases_the_port() {
        let demo = pixy_demo::DemoServer::start(0).await.unwrap();
        let provider = demo_provider(&demo).await;
        let options = LinkOptions { open_browser: false, ..Default::default() };
        let mut handle = LinkHandle::start(crate::http::client(Duration::from_secs(5)), provider, options);
        let Some(Progress::Authorize { url, .. }) = handle.progress().await else { panic!("authorize comes first") };
        let redirect =
            url::Url::parse(&url).unwrap().query_pairs().find(|(k, _)| k == "redirect_uri").unwrap().1.into_owned();
        let port = url::Url::parse(&redirect).unwrap().port().unwrap();
        assert!(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok(), "listening before cancel");
        handle.cancel();
        assert_eq!(handle.result().await.unwrap_err().kind, ErrorKind::Cancelled);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err(), "the port is released");
    }
}
