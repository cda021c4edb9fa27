//! Consent: which programs may have an account's tokens, as the person decided.
//!
//! A [`Grant`] lets one program (its executable, and the script it runs, as [`crate::peer`]
//! found them), or every program of this user ([`ANY_PROGRAM`]), have one account's tokens. The
//! first request of a program without one raises a [`Question`]; the person answers with a
//! [`Choice`], or nobody does and it counts as a denial. Grants are kept in `grants.json` beside
//! the account index (a [`crate::json_list::JsonList`]); a question lives only in the daemon.
//!
//! Security: this shows and controls which programs use which account. It is no wall against code
//! that already runs as the same user, which can read that user's memory or answer a question in
//! the person's place.

use serde::{Deserialize, Serialize};

use crate::json_list::JsonList;

/// The program of a grant that lets every program of this user have the account's tokens.
pub const ANY_PROGRAM: &str = "any";

/// How long an explicit denial silences the same program's further requests for the account,
/// so a program retrying in the background does not ask the person again and again.
pub const DENIAL_MEMORY_SECS: u64 = 600;

/// The person's answer to a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    /// This request (and those waiting on the same question) only.
    Once,
    /// This program, for this account, from now on.
    Always,
    /// Not this time; further requests are refused for [`DENIAL_MEMORY_SECS`].
    Deny,
}

impl Choice {
    /// The choice in a person's words.
    pub fn label(self) -> &'static str {
        match self {
            Choice::Once => "Allow once",
            Choice::Always => "Always allow this program",
            Choice::Deny => "Deny",
        }
    }
}

/// A question waiting for the person: may `program` have `account`'s tokens?
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    /// Its number, to answer it by.
    pub id: u64,
    /// The program that asks (its executable path, and its script).
    pub program: String,
    /// The program by its file name, as a person knows it (the script's, else the executable's).
    pub name: String,
    /// The process that is the program.
    pub pid: u32,
    /// The account's id.
    pub account: String,
    /// The account's label (its provider's words, stripped of control characters).
    pub label: String,
    /// The scopes the account's tokens carry.
    pub scopes: Vec<String>,
    /// When it counts as denied, in seconds since the Unix epoch.
    pub expires_at: u64,
}

impl Question {
    /// The question in one sentence, naming the program as a person knows it; [`Question::program`]
    /// and [`Question::pid`] say exactly which.
    pub fn sentence(&self) -> String {
        let scopes =
            if self.scopes.is_empty() { String::new() } else { format!(" (scopes: {})", self.scopes.join(" ")) };
        format!("{} wants a token for your account {}{scopes}.", self.name, self.label)
    }
}

/// One program's standing permission for one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The program: an executable's path, an interpreter's path and its script, a script's path
    /// alone (run by any interpreter), or [`ANY_PROGRAM`].
    pub program: String,
    /// The account's id.
    pub account: String,
    /// When it was given, in seconds since the Unix epoch.
    pub granted_at: u64,
    /// When it last let a token out.
    #[serde(default)]
    pub last_used: Option<u64>,
}

impl Grant {
    /// Whether this grant lets `program` have `account`'s tokens.
    pub fn covers(&self, program: &crate::peer::Program, account: &str) -> bool {
        self.account == account
            && (self.program == ANY_PROGRAM
                || self.program == program.describe()
                || program.script.as_deref().is_some_and(|script| self.program == script))
    }
}

/// What let a token out, as the audit log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    /// A grant for every program of this user.
    AnyProgram,
    /// A grant for this program.
    Program,
    /// The person's "Allow once".
    Once,
    /// The grant of a `pixy exec` run the program runs inside.
    Run,
    /// A caller inside the daemon itself.
    Daemon,
}

impl Allowed {
    /// The word the audit log uses.
    pub fn word(self) -> &'static str {
        match self {
            Allowed::AnyProgram => ANY_PROGRAM,
            Allowed::Program => "program",
            Allowed::Once => "once",
            Allowed::Run => "run",
            Allowed::Daemon => "daemon",
        }
    }
}

/// The grants file at `path`.
pub fn grant_list(path: impl Into<std::path::PathBuf>) -> JsonList<Grant> {
    JsonList::new(path, "grants", 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::Program;

    fn grant(program: &str) -> Grant {
        Grant { program: program.into(), account: "github".into(), granted_at: 1, last_used: None }
    }

    #[test]
    fn a_grant_covers_its_program_its_script_or_every_program_and_only_its_account() {
        let git = Program { pid: 7, exe: "/usr/bin/git".into(), script: None };
        let job = Program { pid: 8, exe: "/usr/bin/python3.11".into(), script: Some("/home/a/job.py".into()) };
        assert!(grant("/usr/bin/git").covers(&git, "github"));
        assert!(!grant("/usr/bin/git").covers(&git, "gitlab"), "another account is not covered");
        assert!(!grant("/usr/bin/git").covers(&job, "github"), "another program is not covered");
        assert!(grant("/usr/bin/python3.11 /home/a/job.py").covers(&job, "github"));
        assert!(grant("/home/a/job.py").covers(&job, "github"), "a script's path covers it under any interpreter");
        assert!(!grant("/usr/bin/python3.11").covers(&job, "github"), "the interpreter alone runs other scripts too");
        assert!(grant(ANY_PROGRAM).covers(&git, "github") && grant(ANY_PROGRAM).covers(&job, "github"));
    }

    #[test]
    fn a_question_names_the_program_the_account_and_the_scopes() {
        let q = Question {
            id: 1,
            program: "/usr/bin/git".into(),
            name: "git".into(),
            pid: 9,
            account: "github".into(),
            label: "GitHub (ada)".into(),
            scopes: vec!["repo".into()],
            expires_at: 0,
        };
        assert_eq!(q.sentence(), "git wants a token for your account GitHub (ada) (scopes: repo).");
    }
}
