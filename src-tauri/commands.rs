//! The window's commands: each one request to the daemon, its answer mapped to a view.
//!
//! The window runs at most one link flow at a time. Its cancel handle lives in [`FlowSlot`]:
//! `cancel` (or a new `connect`) drops it, `connect` then drops its connection to the daemon, and
//! closing a link connection is how the protocol cancels a flow.

use std::sync::Mutex;

use pixy_core::ipc::client::{self, ask, unexpected};
use pixy_core::ipc::{Event, LinkRequest, ProviderSelector, Request};
use pixy_core::{Error, ErrorKind};
use tauri::ipc::Channel;
use tauri::State;
use tokio::sync::oneshot;

use crate::events::{self, FlowEvent};
use crate::views::{AccountView, AccountsView, ProviderView};

/// The link flow in progress, if any: its number and the sender whose drop cancels it.
#[derive(Default)]
pub struct FlowSlot(Mutex<(u64, Option<oneshot::Sender<()>>)>);

impl FlowSlot {
    /// Takes the slot for a new flow, cancelling the one before it; returns the new flow's number
    /// and the receiver that fires when it is cancelled.
    fn begin(&self) -> (u64, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        let mut slot = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        slot.0 += 1;
        slot.1 = Some(tx);
        (slot.0, rx)
    }

    /// Frees the slot if flow `number` still holds it (a newer flow may have taken it).
    fn end(&self, number: u64) {
        let mut slot = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if slot.0 == number {
            slot.1 = None;
        }
    }

    fn cancel(&self) {
        let mut slot = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        slot.1 = None;
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

/// The linked accounts and their status, and what was lost reading them, if anything.
#[tauri::command]
pub async fn accounts() -> Result<AccountsView, Error> {
    match ask(Request::Status).await? {
        Event::Status { accounts, problem } => {
            Ok(AccountsView { accounts: accounts.into_iter().map(AccountView::from).collect(), problem })
        }
        other => Err(unexpected(&other)),
    }
}

/// Links an account with `provider_id` in the system browser; `on_event` hears the progress.
#[tauri::command]
pub async fn connect(
    provider_id: String,
    on_event: Channel<FlowEvent>,
    flow: State<'_, FlowSlot>,
) -> Result<AccountView, Error> {
    let (number, cancelled) = flow.begin();
    let result = link(provider_id, on_event, cancelled).await;
    flow.end(number);
    result
}

async fn link(
    provider_id: String,
    on_event: Channel<FlowEvent>,
    mut cancelled: oneshot::Receiver<()>,
) -> Result<AccountView, Error> {
    let request = Request::Link(LinkRequest {
        provider: ProviderSelector::Named { id: provider_id },
        scopes: Vec::new(),
        auth_params: Vec::new(),
        open_browser: true,
        // The person's browser choice is the window's environment, which a running daemon may
        // not share.
        browser: client::browser_from_env(),
        timeout_secs: None,
    });
    let mut answer = client::request(&request).await?;
    loop {
        let next = tokio::select! {
            // Returning drops `answer`, which closes the connection and so ends the daemon's flow.
            _ = &mut cancelled => return Err(Error::new(ErrorKind::Cancelled, "The sign-in was cancelled.")),
            next = answer.next() => next?,
        };
        match next {
            Some(Event::Linked { account }) => return Ok(account.into()),
            Some(Event::Error { kind, message }) => return Err(Error::new(kind, message)),
            Some(event) => match events::progress(&event) {
                Some(shown) => {
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

/// Cancels the link flow in progress; its `connect` then fails with `cancelled`.
#[tauri::command]
pub fn cancel(flow: State<'_, FlowSlot>) {
    flow.cancel();
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
        assert_eq!(first.try_recv(), Err(Closed), "the first flow must be told to stop");
        assert_eq!(second.try_recv(), Err(Empty), "the new flow must keep running");
    }

    #[test]
    fn an_old_flow_ending_late_does_not_free_the_new_one() {
        let slot = FlowSlot::default();
        let (first, _rx1) = slot.begin();
        let (_, mut second) = slot.begin();
        slot.end(first);
        assert_eq!(second.try_recv(), Err(Empty), "cancel must still reach the running flow");
        slot.cancel();
        assert_eq!(second.try_recv(), Err(Closed), "cancel must stop the running flow");
    }
}
