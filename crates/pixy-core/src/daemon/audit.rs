//! Recording each token handout and refusal in the audit log, with the program that asked.

use super::Daemon;
use crate::audit::{Entry, Outcome, ANY_PROGRAM};
use crate::error::Result;
use crate::ipc::protocol::Event;

impl Daemon {
    /// Appends the answer to a token request from the client process `peer` to the audit log.
    /// A log that cannot be written is said in the daemon's log; the token still goes out.
    pub(super) fn record_handout(&self, peer: Option<u32>, asked: &str, answer: &Result<Event>) {
        let Some(log) = &self.audit else { return };
        let program = peer.and_then(crate::peer::requester);
        let (outcome, account, reason) = match answer {
            Ok(Event::Token { account, .. }) => (Outcome::HandedOut, account.clone(), None),
            Ok(_) => return,
            Err(e) => (Outcome::Refused, crate::text::printable(asked, 200), Some(e.kind)),
        };
        let entry = Entry {
            time: self.now(),
            outcome,
            account,
            program: program.as_ref().map(|p| p.describe()),
            pid: program.as_ref().map(|p| p.pid).or(peer),
            grant: ANY_PROGRAM.to_string(),
            reason,
        };
        if let Err(e) = log.append(&entry) {
            tracing::warn!(error = %e, "a handout could not be recorded");
        }
    }
}
