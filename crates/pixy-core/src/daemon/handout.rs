//! Handing a token to a program: the account it names, the person's consent, a fresh token. A
//! token that needs the account relinked is refused at once (no browser ever opens for a token)
//! and the person is told once.

use tokio::sync::mpsc;

use super::Daemon;
use crate::consent::{Allowed, Choice};
use crate::error::{ErrorKind, Result};
use crate::ipc::protocol::Event;
use crate::peer::Program;

impl Daemon {
    /// The answer to a token request from `peer` (its program found as `program`), what allowed
    /// it if anything did, and the account's id when the name matched one (for the audit log).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn hand_out(
        &self,
        peer: Option<u32>,
        program: Option<&Program>,
        name: &str,
        min_valid: Option<u64>,
        can_prompt: bool,
        out: &mpsc::Sender<Event>,
        answers: &mut Option<mpsc::Receiver<(u64, Choice)>>,
    ) -> (Result<Event>, Option<Allowed>, Option<String>) {
        let record = match self.find(name).await {
            Ok(record) => record,
            Err(e) => return (Err(e), None, None),
        };
        let allowed = match self.consent(peer, program, &record, out, answers, can_prompt).await {
            Ok(allowed) => allowed,
            Err(e) => return (Err(e), None, Some(record.id)),
        };
        let answer = self.token(&record.id, min_valid).await;
        if let Err(e) = &answer {
            if e.kind == ErrorKind::NeedsRelink {
                self.tell_relink(&record.id, program.map(Program::name)).await;
            }
        }
        (answer, Some(allowed), Some(record.id))
    }
}
