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
        for name in &accounts {
            let (answer, allowed, id) =
                self.hand_out(peer, program.as_ref(), name, None, can_prompt, out, &mut answers).await;
            self.record_handout(peer, program.as_ref(), id.as_deref().unwrap_or(name), &answer, allowed);
            // The account as the client named it leads the message: `pixy exec` puts its
            // variable there.
            let answer = answer.map_err(|e| Error::new(e.kind, format!("{name}: {}", e.message)));
            match answer? {
                Event::Token { account, access_token, expires_at } => {
                    tokens.push(RunToken { account, access_token, expires_at })
                }
                other => return Err(crate::ipc::client::unexpected(&other)),
            }
        }
        let held: Vec<String> = tokens.iter().map(|t| t.account.clone()).collect();
        let _grant = peer.and_then(|pid| self.begin_run(pid, held));
        let _ = out.send(Event::Run { tokens }).await;
        std::future::pending::<()>().await;
        unreachable!("a run lasts until its client hangs up")
    }
}
