//! Dispatching: one request from the socket in, its events out, the last one terminal.

use tokio::sync::mpsc;

use super::accounts::summaries_of;
use super::Daemon;
use crate::error::{Error, ErrorKind};
use crate::ipc::protocol::{Event, Request, SecretText};

impl Daemon {
    /// Serves one request, sending its events to `out`; the last one sent is terminal.
    pub async fn handle(&self, request: Request, out: mpsc::Sender<Event>) {
        self.handle_from(None, request, out, None).await
    }

    /// As [`Daemon::handle`], for the client process `peer` (its pid, from the socket's
    /// credentials), with what it pastes during a link arriving on `pastes`.
    pub async fn handle_from(
        &self,
        peer: Option<u32>,
        request: Request,
        out: mpsc::Sender<Event>,
        pastes: Option<mpsc::Receiver<SecretText>>,
    ) {
        let result = match request {
            Request::Ping => Ok(Event::Pong { version: env!("CARGO_PKG_VERSION").into(), pid: std::process::id() }),
            Request::Providers => Ok(Event::Providers { providers: self.provider_list().await }),
            Request::Status => Ok(Event::Status {
                accounts: summaries_of(&self.accounts.lock().await),
                problem: self.index_problem.clone(),
            }),
            Request::Link(link) => self.link(*link, &out, pastes).await,
            Request::Token { account, min_valid } => {
                let answer = self.token(&account, min_valid).await;
                self.record_handout(peer, &account, &answer);
                answer
            }
            Request::Unlink { account } => self.unlink(&account).await,
            Request::Shutdown => {
                self.quit.notify_waiters();
                self.quit.notify_one();
                Ok(Event::ShuttingDown)
            }
            Request::Paste { .. } => Err(Error::new(
                ErrorKind::InvalidRequest,
                "a paste belongs on the connection of a running link, after its link request",
            )),
        };
        let event = result.unwrap_or_else(|e| Event::Error { kind: e.kind, message: e.message });
        let _ = out.send(event).await;
    }
}
