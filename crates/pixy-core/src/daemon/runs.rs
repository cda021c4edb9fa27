//! `pixy exec` runs: the tokens for a command about to start, and a grant for the programs it
//! runs. The run's grant lasts while its connection is open (its `pixy exec` waits on the command
//! with the connection held), so a command that outlives its first token gets a fresh one from
//! `pixy token` inside the run without the person being asked again; it ends when the command
//! does. A program is inside the run when the run's `pixy exec` process (the same pid and start
//! time) is among its ancestors, as the kernel tells it.

use tokio::sync::mpsc;

use super::Daemon;
use crate::consent::Choice;
use crate::error::{Error, Result};
use crate::ipc::protocol::{Event, RunToken};

impl Daemon {
    /// Asks consent for each account, hands out their tokens, then holds the run's grant until
    /// the client hangs up (this future is dropped then).
    pub(super) async fn run(
        &self,
        peer: Option<u32>,
        accounts: Vec<String>,
        can_prompt: bool,
        out: &mpsc::Sender<Event>,
        mut answers: Option<mpsc::Receiver<(u64, Choice)>>,
    ) -> Result<Event> {
        let program = peer.and_then(crate::peer::requester);
        let mut tokens = Vec::new();
        let mut allowed_by = Vec::new();
        for name in &accounts {
            let (answer, allowed, id) =
                self.hand_out(peer, program.as_ref(), name, None, can_prompt, out, &mut answers).await;
            match answer {
                Ok(Event::Token { account, access_token, expires_at }) => {
                    allowed_by.push(allowed);
                    tokens.push(RunToken { account, access_token, expires_at })
                }
                // The run does not start: the tokens got so far are not handed out, and only
                // this refusal is on record. The account as the client named it leads the
                // message, where `pixy exec` puts its variable.
                Err(e) => {
                    self.record_handout(peer, program.as_ref(), id.as_deref().unwrap_or(name), Some(e.kind), allowed);
                    return Err(Error::new(e.kind, format!("{name}: {}", e.message)));
                }
                Ok(other) => return Err(crate::ipc::client::unexpected(&other)),
            }
        }
        for (token, allowed) in tokens.iter().zip(allowed_by) {
            self.record_handout(peer, program.as_ref(), &token.account, None, allowed);
        }
        let held: Vec<String> = tokens.iter().map(|t| t.account.clone()).collect();
        let _grant = peer.and_then(|pid| self.begin_run(pid, held));
        let _ = out.send(Event::Run { tokens }).await;
        std::future::pending::<()>().await;
        unreachable!("a run lasts until its client hangs up")
    }
}
