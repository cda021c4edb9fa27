//! Dispatching: one request from the socket in, its events out, the last one terminal.

use tokio::sync::mpsc;

use super::accounts::summaries_of;
use super::Daemon;
use crate::consent::Choice;
use crate::error::{Error, ErrorKind};
use crate::ipc::protocol::{Event, Request, SecretText};

/// What a client sends after its request, on the same connection: a link's pastes, and the
/// answer to a consent question it was asked to put on its terminal.
#[derive(Default)]
pub struct FollowUps {
    /// Pasted codes or redirect URLs, for a running link.
    pub pastes: Option<mpsc::Receiver<SecretText>>,
    /// Answers to questions, by question id.
    pub answers: Option<mpsc::Receiver<(u64, Choice)>>,
}

impl Daemon {
    /// Serves one request from inside the daemon (no client process to ask consent of), sending
    /// its events to `out`; the last one sent is terminal.
    pub async fn handle(&self, request: Request, out: mpsc::Sender<Event>) {
        self.handle_from(None, request, out, FollowUps::default()).await
    }

    /// As [`Daemon::handle`], for the client process `peer` (its pid, from the socket's
    /// credentials; `None` only inside the daemon), with what it sends after its request arriving
    /// on `follow_ups`.
    pub async fn handle_from(
        &self,
        peer: Option<u32>,
        request: Request,
        out: mpsc::Sender<Event>,
        follow_ups: FollowUps,
    ) {
        let FollowUps { pastes, mut answers } = follow_ups;
        let answered_anyway = matches!(request, Request::Ping | Request::Shutdown | Request::Doctor);
        if let Some(refusal) = self.refusal.as_ref().filter(|_| !answered_anyway) {
            let _ = out.send(Event::Error { kind: refusal.error.kind, message: refusal.error.message.clone() }).await;
            if !refusal.lasts {
                self.quit.notify_waiters();
                self.quit.notify_one();
            }
            return;
        }
        let result = match request {
            Request::Ping => Ok(Event::Pong { version: crate::VERSION.into(), pid: std::process::id() }),
            Request::Doctor => Ok(Event::Doctor { report: Box::new(self.doctor().await) }),
            Request::Providers => Ok(Event::Providers { providers: self.provider_list().await }),
            Request::Status => Ok(Event::Status {
                accounts: summaries_of(&self.accounts.lock().await),
                problem: self.index_problem.clone(),
            }),
            Request::DiscoverProvider { issuer } => self.discover_provider(&issuer).await,
            Request::AddProvider { provider } => self.add_provider(provider).await,
            Request::Link(link) => self.link(*link, &out, pastes).await,
            Request::Token { account, min_valid, can_prompt } => {
                let program = peer.and_then(crate::peer::requester);
                let (answer, allowed, id) =
                    self.hand_out(peer, program.as_ref(), &account, min_valid, can_prompt, &out, &mut answers).await;
                let refused = answer.as_ref().err().map(|e| e.kind);
                self.record_handout(peer, program.as_ref(), id.as_deref().unwrap_or(&account), refused, allowed);
                answer
            }
            Request::Run { accounts, can_prompt } => self.run(peer, accounts, can_prompt, &out, answers).await,
            Request::Answer { question, choice } => self.answer_from(peer, question, choice),
            Request::Questions => Ok(self.questions_for(peer)),
            Request::Grants => Ok(self.grant_list()),
            Request::Allow { program, account } => self.allow(&program, &account).await,
            Request::RevokeGrant { program, account } => self.revoke_grant(&program, &account).await,
            Request::Activity { account, limit } => self.activity(account, limit),
            Request::Refresh { account } => self.refresh_now(&account).await,
            Request::Unlink { account } => self.unlink(&account).await,
            Request::Reset { dry_run } => self.reset(dry_run, &out).await,
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
