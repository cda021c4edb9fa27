//! The window's commands: each one request to the daemon, its answer mapped to a view.
//!
//! The window runs at most one link flow at a time. Its cancel handle lives in [`FlowSlot`]:
//! `cancel` (or a new `connect`) drops it, `connect` then drops its connection to the daemon, and
//! closing a link connection is how the protocol cancels a flow. The slot also holds the way to
//! the flow's connection for what the person pastes (`paste`).

use std::sync::Mutex;

use pixy_core::consent::Choice;
use pixy_core::ipc::client::{self, ask, unexpected};
use pixy_core::ipc::framing::write_message;
use pixy_core::ipc::protocol::SecretText;
use pixy_core::ipc::{Event, LinkRequest, ProviderSelector, Request};
use pixy_core::{Error, ErrorKind};
use tauri::ipc::Channel;
use tauri::State;
use tokio::sync::{mpsc, oneshot};
use zeroize::Zeroizing;

use crate::events::{self, FlowEvent};
use crate::views::{
    AccountView, AccountsView, AddedView, DiagnosticsView, FoundView, GrantView, LaunchView, ProviderView,
    QuestionView, UseView,
};

/// The link flow in progress, if any: its number, the sender whose drop cancels it, and where
/// its pastes go.
#[derive(Default)]
pub struct FlowSlot(Mutex<Slot>);

#[derive(Default)]
struct Slot {
    number: u64,
    cancel: Option<oneshot::Sender<()>>,
    pastes: Option<mpsc::Sender<SecretText>>,
    /// The authorization URL, for Copy link. It holds the state and the PKCE challenge, so it
    /// never crosses into the web view: the Rust side puts it on the clipboard itself.
    link: Option<Zeroizing<String>>,
}

/// What a running flow listens to: its cancel switch and the person's pastes.
struct FlowInputs {
    cancelled: oneshot::Receiver<()>,
    pastes: mpsc::Receiver<SecretText>,
}

impl FlowSlot {
    fn slot(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes the slot for a new flow, cancelling the one before it; returns the new flow's number
    /// and what it listens to.
    fn begin(&self) -> (u64, FlowInputs) {
        let (cancel, cancelled) = oneshot::channel();
        let (pastes, paste_rx) = mpsc::channel(4);
        let mut slot = self.slot();
        slot.number += 1;
        slot.cancel = Some(cancel);
        slot.pastes = Some(pastes);
        slot.link = None;
        (slot.number, FlowInputs { cancelled, pastes: paste_rx })
    }

    /// Frees the slot if flow `number` still holds it (a newer flow may have taken it).
    fn end(&self, number: u64) {
        let mut slot = self.slot();
        if slot.number == number {
            slot.cancel = None;
            slot.pastes = None;
            slot.link = None;
        }
    }

    fn cancel(&self) {
        let mut slot = self.slot();
        slot.cancel = None;
        slot.pastes = None;
        slot.link = None;
    }

    fn set_link(&self, number: u64, url: &str) {
        let mut slot = self.slot();
        if slot.number == number {
            slot.link = Some(Zeroizing::new(url.to_string()));
        }
    }

    fn pastes(&self) -> Option<mpsc::Sender<SecretText>> {
        self.slot().pastes.clone()
    }
}

/// The providers one can link, as the daemon lists them (the demo first).
#[tauri::command]
pub async fn providers() -> Result<Vec<ProviderView>, Error> {
    match ask(Request::Providers).await? {
        Event::Providers { providers } => Ok(providers.into_iter().map(ProviderView::from).collect()),
        other => Err(unexpected(&other)),
    }
}

/// How many of an account's latest handouts the window shows.
const RECENT_USE_SHOWN: usize = 3;

/// The linked accounts and their status, each with its recent use, and what was lost reading
/// them, if anything.
#[tauri::command]
pub async fn accounts() -> Result<AccountsView, Error> {
    let (accounts, problem) = match ask(Request::Status).await? {
        Event::Status { accounts, problem } => (accounts, problem),
        other => return Err(unexpected(&other)),
    };
    // The recent use is a help, not the list: an audit log that cannot be read leaves it empty.
    let entries = match ask(Request::Activity { account: None, limit: 200 }).await {
        Ok(Event::Activity { entries }) => entries,
        _ => Vec::new(),
    };
    let accounts = accounts
        .into_iter()
        .map(|summary| {
            let mut view = AccountView::from(summary);
            view.recent_use = entries
                .iter()
                .filter(|e| e.account == view.id)
                .take(RECENT_USE_SHOWN)
                .cloned()
                .map(UseView::from)
                .collect();
            view
        })
        .collect();
    Ok(AccountsView { accounts, problem })
}

/// The consent questions waiting for the person. Asking also tells the daemon the window is
/// open, so it does not open another one for a new question.
#[tauri::command]
pub async fn questions() -> Result<Vec<QuestionView>, Error> {
    match ask(Request::Questions).await? {
        Event::Questions { questions } => Ok(questions.into_iter().map(QuestionView::from).collect()),
        other => Err(unexpected(&other)),
    }
}

/// The person's answer to a question: `once`, `always` or `deny`.
#[tauri::command]
pub async fn answer(question: u64, choice: Choice) -> Result<(), Error> {
    match ask(Request::Answer { question, choice }).await? {
        Event::Answered { .. } => Ok(()),
        other => Err(unexpected(&other)),
    }
}

/// The programs allowed to have accounts' tokens without asking.
#[tauri::command]
pub async fn grants() -> Result<Vec<GrantView>, Error> {
    match ask(Request::Grants).await? {
        Event::Grants { grants } => Ok(grants.into_iter().map(GrantView::from).collect()),
        other => Err(unexpected(&other)),
    }
}

/// Ends a program's grant for an account: it is asked again next time.
#[tauri::command]
pub async fn revoke_grant(program: String, account: String) -> Result<(), Error> {
    match ask(Request::RevokeGrant { program, account }).await? {
        Event::GrantRevoked { .. } => Ok(()),
        other => Err(unexpected(&other)),
    }
}

/// Where the window was asked to open: by its own arguments, or by a later launch's, which the
/// running window takes over (see lib.rs).
#[derive(Default)]
pub struct Launch(pub Mutex<LaunchView>);

/// Where the window was asked to open (the daemon starts it on a question or an account).
#[tauri::command]
pub fn launch_view(launch: State<'_, Launch>) -> LaunchView {
    launch.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
}

/// What the issuer's metadata offers, for the Add provider form.
#[tauri::command]
pub async fn discover_provider(issuer: String) -> Result<FoundView, Error> {
    match ask(Request::DiscoverProvider { issuer }).await? {
        Event::Discovered { found } => Ok(found.into()),
        other => Err(unexpected(&other)),
    }
}

/// Adds a provider to providers.toml; a wrong field comes back as its problem, not an error.
#[tauri::command]
pub async fn add_provider(provider: pixy_core::new_provider::NewProvider) -> Result<AddedView, Error> {
    match ask(Request::AddProvider { provider }).await? {
        Event::ProviderAdded { provider } => Ok(AddedView { provider: Some(provider.into()), problems: Vec::new() }),
        Event::ProviderInvalid { problems } => Ok(AddedView { provider: None, problems }),
        other => Err(unexpected(&other)),
    }
}

/// Links an account with `provider_id` in the system browser, or with a device code when
/// `device`; `api_key` is a developer API key the provider needs (Grantex), kept in the keyring
/// from then on. `on_event` hears the progress.
#[tauri::command]
pub async fn connect(
    provider_id: String,
    device: Option<bool>,
    api_key: Option<String>,
    on_event: Channel<FlowEvent>,
    flow: State<'_, FlowSlot>,
) -> Result<AccountView, Error> {
    let (number, inputs) = flow.begin();
    let api_key = api_key.filter(|k| !k.trim().is_empty()).map(SecretText::new);
    let provider = ProviderSelector::Named { id: provider_id };
    let result = link(provider, device.unwrap_or(false), api_key, on_event, inputs, (&flow, number)).await;
    flow.end(number);
    result
}

/// Signs the account `account_id` in again (Reconnect), with its provider and granted scopes, in
/// the system browser. `on_event` hears the progress.
#[tauri::command]
pub async fn reconnect(
    account_id: String,
    on_event: Channel<FlowEvent>,
    flow: State<'_, FlowSlot>,
) -> Result<AccountView, Error> {
    let (number, inputs) = flow.begin();
    let provider = ProviderSelector::Account { id: account_id };
    let result = link(provider, false, None, on_event, inputs, (&flow, number)).await;
    flow.end(number);
    result
}

/// Links the MCP server (or other protected resource) whose URL `target` is, or signs in again
/// to the resource of the account `target` names (keeping its scopes): the daemon finds its
/// authorization server and registers Pixy there. `on_event` hears the steps of that chain, then
/// the flow's progress.
#[tauri::command]
pub async fn connect_resource(
    target: String,
    account: Option<String>,
    on_event: Channel<FlowEvent>,
    flow: State<'_, FlowSlot>,
) -> Result<AccountView, Error> {
    let (number, inputs) = flow.begin();
    let provider = ProviderSelector::Resource {
        target: target.trim().to_string(),
        account: account.filter(|a| !a.trim().is_empty()),
        client_id: None,
        client_metadata_url: None,
        www_authenticate: None,
        no_resource: false,
    };
    let result = link(provider, false, None, on_event, inputs, (&flow, number)).await;
    flow.end(number);
    result
}

/// Hands what the person pasted (a code, `code#state` or the redirect address) to the flow in
/// progress. Whether it was used comes back as that flow's progress: a `pasteRejected` event, or
/// its end.
#[tauri::command]
pub async fn paste(text: String, flow: State<'_, FlowSlot>) -> Result<(), Error> {
    let pastes =
        flow.pastes().ok_or_else(|| Error::new(ErrorKind::InvalidRequest, "No sign-in is waiting for a code."))?;
    pastes
        .send(SecretText::new(text))
        .await
        .map_err(|_| Error::new(ErrorKind::InvalidRequest, "The sign-in is no longer waiting for a code."))
}

async fn link(
    provider: ProviderSelector,
    device: bool,
    api_key: Option<SecretText>,
    on_event: Channel<FlowEvent>,
    inputs: FlowInputs,
    (flow, number): (&FlowSlot, u64),
) -> Result<AccountView, Error> {
    let FlowInputs { mut cancelled, mut pastes } = inputs;
    let request = Request::Link(Box::new(LinkRequest {
        provider,
        scopes: Vec::new(),
        auth_params: Vec::new(),
        open_browser: true,
        // The person's browser choice is the window's environment, which a running daemon may
        // not share.
        browser: client::browser_from_env(),
        timeout_secs: None,
        device,
        api_key,
        client_secret: None,
    }));
    let mut answer = client::request(&request).await?;
    // The connection's sending half carries the pastes; holding it keeps the link alive.
    let mut sender = answer.take_sender();
    loop {
        let next = tokio::select! {
            // Returning drops `answer`, which closes the connection and so ends the daemon's flow.
            _ = &mut cancelled => return Err(Error::new(ErrorKind::Cancelled, "The sign-in was cancelled.")),
            Some(text) = pastes.recv() => {
                if let Some(to_daemon) = sender.as_mut() {
                    if write_message(to_daemon, &Request::Paste { text }).await.is_err() {
                        sender = None;
                    }
                }
                continue;
            }
            next = answer.next() => next?,
        };
        match next {
            Some(Event::Linked { account }) => return Ok(account.into()),
            Some(Event::Error { kind, message }) => return Err(Error::new(kind, message)),
            Some(event) => match events::progress(&event) {
                Some(shown) => {
                    if let Event::Authorize { url, .. } = &event {
                        flow.set_link(number, url);
                    }
                    // A window that went away mid-flow cannot hear progress; the flow still finishes.
                    let _ = on_event.send(shown);
                }
                None if event.is_terminal() => return Err(unexpected(&event)),
                None => {}
            },
            None => return Err(Error::new(ErrorKind::DaemonUnavailable, "The daemon closed the connection mid-flow.")),
        }
    }
}

/// Puts the authorization link of the flow in progress on the clipboard, for a browser the
/// window could not open or one on another screen. The link is not returned: it holds the state.
#[tauri::command]
pub fn copy_link(flow: State<'_, FlowSlot>, clipboard: State<'_, Clipboard>) -> Result<(), Error> {
    let link = flow.slot().link.clone();
    let link = link.ok_or_else(|| Error::new(ErrorKind::InvalidRequest, "No sign-in link is waiting."))?;
    clipboard.put(link.as_str())
}

/// Puts the diagnostics report (`pixy doctor`'s text, which holds no secret) on the clipboard,
/// and says how many problems it found. When the daemon cannot be reached, the report says why
/// and holds what the window can tell by itself.
#[tauri::command]
pub async fn copy_diagnostics(clipboard: State<'_, Clipboard>) -> Result<DiagnosticsView, Error> {
    let report = pixy_core::doctor::collect(env!("CARGO_PKG_VERSION")).await;
    clipboard.put(&pixy_core::doctor::render(&report))?;
    Ok(DiagnosticsView::of(&report))
}

/// The system clipboard, kept open while the window runs: on X11 what was copied is served by
/// its owner, so it must outlive the copy.
#[derive(Default)]
pub struct Clipboard(Mutex<Option<arboard::Clipboard>>);

impl Clipboard {
    /// Replaces the clipboard's text; an error names only the clipboard's own failure.
    fn put(&self, text: &str) -> Result<(), Error> {
        let mut held = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let unusable =
            |e: arboard::Error| Error::new(ErrorKind::Internal, format!("The clipboard could not be used: {e}"));
        if held.is_none() {
            *held = Some(arboard::Clipboard::new().map_err(unusable)?);
        }
        held.as_mut().expect("just set").set_text(text).map_err(unusable)
    }
}

/// Cancels the link flow in progress; its `connect` then fails with `cancelled`.
#[tauri::command]
pub fn cancel(flow: State<'_, FlowSlot>) {
    flow.cancel();
}

/// Refreshes an account's tokens now; the account as it is afterwards (no token crosses).
#[tauri::command]
pub async fn refresh(account_id: String) -> Result<AccountView, Error> {
    match ask(Request::Refresh { account: account_id }).await? {
        Event::Refreshed { account } => Ok(account.into()),
        other => Err(unexpected(&other)),
    }
}

/// Revokes and forgets an account.
#[tauri::command]
pub async fn unlink(account_id: String) -> Result<(), Error> {
    match ask(Request::Unlink { account: account_id }).await? {
        Event::Unlinked { .. } => Ok(()),
        other => Err(unexpected(&other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oneshot::error::TryRecvError::{Closed, Empty};

    #[test]
    fn a_new_flow_cancels_the_one_before_it() {
        let slot = FlowSlot::default();
        let (_, mut first) = slot.begin();
        let (_, mut second) = slot.begin();
        assert_eq!(first.cancelled.try_recv(), Err(Closed), "the first flow must be told to stop");
        assert_eq!(second.cancelled.try_recv(), Err(Empty), "the new flow must keep running");
        assert!(first.pastes.try_recv().is_err() && slot.pastes().is_some(), "pastes go to the new flow only");
    }

    #[test]
    fn an_old_flow_ending_late_does_not_free_the_new_one() {
        let slot = FlowSlot::default();
        let (first, _rx1) = slot.begin();
        let (_, mut second) = slot.begin();
        slot.end(first);
        assert_eq!(second.cancelled.try_recv(), Err(Empty), "cancel must still reach the running flow");
        assert!(slot.pastes().is_some(), "pastes still reach the running flow");
        slot.cancel();
        assert_eq!(second.cancelled.try_recv(), Err(Closed), "cancel must stop the running flow");
        assert!(slot.pastes().is_none(), "no flow, no pastes");
    }
}
