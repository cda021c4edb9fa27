//! Recording each token handout and refusal in the audit log, with the program that asked and
//! what allowed it; and reading the latest entries back for the window.

use super::Daemon;
use crate::audit::{Entry, Filter, Outcome};
use crate::consent::Allowed;
use crate::error::{ErrorKind, Result};
use crate::ipc::protocol::Event;
use crate::peer::Program;

impl Daemon {
    /// Appends a token request's outcome to the audit log: `account` (its id, or the name asked
    /// for when none matched) handed out to the client process `peer` (its program found as
    /// `program`), or `refused` for that reason. A log that cannot be written is said in the
    /// daemon's log; the token still goes out.
    pub(super) fn record_handout(
        &self,
        peer: Option<u32>,
        program: Option<&Program>,
        account: &str,
        refused: Option<ErrorKind>,
        allowed: Option<Allowed>,
    ) {
        let Some(log) = &self.audit else { return };
        let entry = Entry {
            time: self.now(),
            outcome: if refused.is_some() { Outcome::Refused } else { Outcome::HandedOut },
            account: crate::text::printable(account, 200),
            program: program.map(Program::describe),
            pid: program.map(|p| p.pid).or(peer),
            grant: allowed.map_or("none", Allowed::word).to_string(),
            reason: refused,
        };
        if let Err(e) = log.append(&entry) {
            tracing::warn!(error = %e, "a handout could not be recorded");
        }
    }

    /// The latest `limit` entries (of one account's, with `account`), newest first.
    pub(super) fn activity(&self, account: Option<String>, limit: usize) -> Result<Event> {
        let Some(log) = &self.audit else { return Ok(Event::Activity { entries: Vec::new() }) };
        let entries = log.latest(&Filter { account, since: None }, limit.min(1000))?;
        Ok(Event::Activity { entries })
    }
}
