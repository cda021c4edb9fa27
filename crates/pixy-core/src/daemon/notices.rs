//! Notices for the person: an account that needs relinking, said once per account until it works
//! again (not once per request, so a program retrying in the background never floods the desktop),
//! with the program that found out, or from the refresh schedule. A token request never opens a browser: it fails at once, and the notice's
//! action opens the window on the account, where the person relinks when they choose.

use std::collections::HashSet;
use std::sync::Mutex;

use tokio::sync::broadcast;

use super::Daemon;

/// Something to tell the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The account must be linked again: a program asked for its token, or a refresh found it.
    Relink {
        /// The account's id.
        account: String,
        /// Its label.
        label: String,
        /// The program that asked, by its file name; `None` when a scheduled refresh found it.
        program: Option<String>,
    },
}

impl Notice {
    /// The notice in one sentence: "git wants your GitHub account: reconnect".
    pub fn sentence(&self) -> String {
        match self {
            Notice::Relink { label, program: Some(program), .. } => {
                format!("{program} wants your {label} account: reconnect")
            }
            Notice::Relink { label, program: None, .. } => format!("Your {label} account needs reconnecting"),
        }
    }
}

/// The notices sent and those still to be repeated only after the account recovers.
pub(super) struct Notices {
    sender: broadcast::Sender<Notice>,
    told: Mutex<HashSet<String>>,
}

impl Notices {
    pub(super) fn new() -> Notices {
        Notices { sender: broadcast::channel(16).0, told: Mutex::new(HashSet::new()) }
    }

    /// The account works again: its next failure is worth a notice.
    pub(super) fn recovered(&self, account: &str) {
        self.told.lock().expect("notices lock").remove(account);
    }
}

impl Daemon {
    /// Notices as they come (the notifier shows them).
    pub fn notices(&self) -> broadcast::Receiver<Notice> {
        self.notices.sender.subscribe()
    }

    /// Tells the person, once until the account recovers, that `account` needs relinking.
    pub(super) async fn tell_relink(&self, account: &str, program: Option<String>) {
        let Ok(record) = self.find(account).await else { return };
        if !self.notices.told.lock().expect("notices lock").insert(record.id.clone()) {
            return;
        }
        tracing::info!(account = %record.id, "the person is told the account needs relinking");
        let label = crate::text::printable(&record.label, 120);
        let _ = self.notices.sender.send(Notice::Relink { account: record.id, label, program });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relink_notice_names_the_program_and_the_account() {
        let notice = |program: Option<&str>| Notice::Relink {
            account: "github-1".into(),
            label: "GitHub".into(),
            program: program.map(str::to_string),
        };
        assert_eq!(notice(Some("git")).sentence(), "git wants your GitHub account: reconnect");
        assert_eq!(notice(None).sentence(), "Your GitHub account needs reconnecting");
    }
}
