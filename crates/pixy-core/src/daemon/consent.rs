//! Consent in the daemon: whether the program behind a token request may have the account's
//! tokens. A grant (for the program, for every program, or the `pixy exec` run it runs inside)
//! says yes at once; otherwise the person is asked, once per program and account however many
//! requests wait on the answer.
//!
//! Where the question goes: with a display, to the desktop (the notifier watching
//! [`Daemon::questions`] shows a notification with actions and opens the window's consent view);
//! without one, to the terminal of the client that asked, when it has one; with neither, the
//! request is refused at once, saying how to allow the program ahead of time. A question nobody
//! answers within the timeout is a denial. An explicit denial is remembered for a while, so a
//! program retrying in the background does not ask again and again.
//!
//! Security: the program is found from the socket peer (see [`crate::peer`]), never from what the
//! client says. Answers come from the daemon's own notifier, from the window's binary, or from the
//! terminal of the connection the question was put to; see [`crate::consent`] for what this does
//! and does not protect against.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::Daemon;
use crate::account::AccountRecord;
use crate::consent::{Allowed, Choice, Grant, Question, ANY_PROGRAM, DENIAL_MEMORY_SECS};
use crate::error::{Error, ErrorKind, Result};
use crate::ipc::protocol::Event;
use crate::json_list::JsonList;
use crate::peer::Program;

/// How long a window that asked for the questions counts as open (it asks every second).
const WINDOW_SEEN_FOR: Duration = Duration::from_secs(3);

/// How stale a grant's kept last use may get before it is written: a handout must not write a
/// file every time.
const LAST_USE_WRITE_EVERY: u64 = 60;

/// The daemon's consent state.
pub(super) struct Consent {
    list: JsonList<Grant>,
    grants: Mutex<Vec<Grant>>,
    /// Why the grants file cannot be written, if it cannot (a newer Pixy's file).
    refused: Option<Error>,
    /// When each grant's last use was last written, by (program, account).
    last_written: Mutex<HashMap<(String, String), u64>>,
    questions: watch::Sender<Vec<Question>>,
    waiting: Mutex<HashMap<u64, Waiting>>,
    next_question: AtomicU64,
    /// Until when each (program, account) stays denied.
    denied: Mutex<HashMap<(String, String), u64>>,
    /// The `pixy exec` runs under way, by the pid of their `pixy exec` process.
    runs: Mutex<HashMap<u32, Run>>,
    window_seen: Mutex<Option<Instant>>,
    timeout: Duration,
    desktop: bool,
}

/// A question waiting for its answer.
struct Waiting {
    question: Question,
    key: (String, String),
    settled: watch::Sender<Option<Settled>>,
    /// The requests waiting on it.
    waiters: usize,
}

/// How a question ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settled {
    Chose(Choice),
    Unanswered,
}

/// A `pixy exec` run: its process's start time (a pid alone may be reused) and its accounts.
struct Run {
    started: u64,
    accounts: Vec<String>,
}

impl Consent {
    /// Loads the grants kept at `path`. A file that cannot be used costs grants (people are
    /// asked again), never the daemon.
    pub(super) fn new(path: std::path::PathBuf, timeout: Duration, desktop: bool) -> Consent {
        let list = crate::consent::grant_list(path);
        let (grants, refused) = match list.load() {
            Ok(grants) => (grants, None),
            Err(e) => {
                tracing::warn!(error = %e, "the grants cannot be used; every program is asked");
                (Vec::new(), Some(e))
            }
        };
        Consent {
            list,
            grants: Mutex::new(grants),
            refused,
            last_written: Mutex::new(HashMap::new()),
            questions: watch::channel(Vec::new()).0,
            waiting: Mutex::new(HashMap::new()),
            next_question: AtomicU64::new(1),
            denied: Mutex::new(HashMap::new()),
            runs: Mutex::new(HashMap::new()),
            window_seen: Mutex::new(None),
            timeout,
            desktop,
        }
    }

    fn publish(&self, waiting: &HashMap<u64, Waiting>) {
        let mut questions: Vec<Question> = waiting.values().map(|w| w.question.clone()).collect();
        questions.sort_by_key(|q| q.id);
        self.questions.send_replace(questions);
    }
}

/// The `pixy grants allow` line that would let `program` have `account`'s tokens, with the path
/// quoted for a shell.
fn allow_hint(program: &Program, account: &str) -> String {
    let program = program.script.as_deref().unwrap_or(&program.exe);
    format!("pixy grants allow --program '{}' --account {account}", program.replace('\'', "'\\''"))
}

/// A refusal by consent: `why`, then how the person can allow the program after all.
fn refusal(why: String, program: &Program, account: &str) -> Error {
    Error::new(ErrorKind::ConsentDenied, format!("{why}. To allow it: {}", allow_hint(program, account)))
}

/// The program as questions, messages and grants name it: its path (and script's), without the
/// control characters a file name may hold.
fn program_words(program: &Program) -> String {
    crate::text::printable(&program.describe(), 4096)
}

/// Ends a run's grant when the run's connection goes.
pub(super) struct RunGuard<'a> {
    runs: &'a Mutex<HashMap<u32, Run>>,
    pid: u32,
    started: u64,
}

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        let mut runs = self.runs.lock().expect("runs lock");
        // Only this run's: not another run the same pid began after it.
        if runs.get(&self.pid).is_some_and(|run| run.started == self.started) {
            runs.remove(&self.pid);
        }
    }
}

/// One request waiting on a question. When the last one goes (its client hung up), the question
/// ends unanswered, so it does not linger in the window or catch the next request.
struct Waiter<'a> {
    daemon: &'a Daemon,
    id: u64,
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        let last = {
            let mut waiting = self.daemon.consent.waiting.lock().expect("questions lock");
            match waiting.get_mut(&self.id) {
                Some(w) => {
                    w.waiters -= 1;
                    w.waiters == 0
                }
                None => false,
            }
        };
        if last {
            self.daemon.settle(self.id, Settled::Unanswered);
        }
    }
}

impl Daemon {
    /// Whether the program behind `peer` may have `record`'s tokens, asking the person when no
    /// grant says. `peer` is `None` for a caller inside the daemon. `answers` are the answers
    /// this request's client sends from its terminal, when asked to put the question there.
    pub(super) async fn consent(
        &self,
        peer: Option<u32>,
        program: Option<&Program>,
        record: &AccountRecord,
        out: &mpsc::Sender<Event>,
        answers: &mut Option<mpsc::Receiver<(u64, Choice)>>,
        can_prompt: bool,
    ) -> Result<Allowed> {
        let Some(pid) = peer else { return Ok(Allowed::Daemon) };
        let Some(program) = program else {
            return Err(Error::new(
                ErrorKind::ConsentDenied,
                format!("Pixy cannot tell which program asked (process {pid}), so it hands out no token"),
            ));
        };
        if self.in_run(pid, &record.id) {
            return Ok(Allowed::Run);
        }
        if let Some(allowed) = self.granted(program, &record.id) {
            return Ok(allowed);
        }
        let key = (program.describe(), record.id.clone());
        let denied_until = self.consent.denied.lock().expect("denied lock").get(&key).copied();
        if let Some(until) = denied_until.filter(|until| *until > self.now()) {
            let why = format!(
                "{} was denied {}'s tokens; it is not asked again for {} s",
                program_words(program),
                record.id,
                until - self.now()
            );
            return Err(refusal(why, program, &record.id));
        }
        self.put_question(program, record, out, answers, can_prompt).await
    }

    /// Puts the question (or joins the one already asked for this program and account) and waits
    /// for its answer.
    async fn put_question(
        &self,
        program: &Program,
        record: &AccountRecord,
        out: &mpsc::Sender<Event>,
        answers: &mut Option<mpsc::Receiver<(u64, Choice)>>,
        can_prompt: bool,
    ) -> Result<Allowed> {
        let key = (program.describe(), record.id.clone());
        let words = program_words(program);
        let now = self.now();
        // One that ran out while nobody waited on it is over, not joined.
        let expired = self
            .consent
            .waiting
            .lock()
            .expect("questions lock")
            .values()
            .find(|w| w.key == key && w.question.expires_at <= now)
            .map(|w| w.question.id);
        if let Some(id) = expired {
            self.settle(id, Settled::Unanswered);
        }
        let (question, mut settled, first) = {
            let mut waiting = self.consent.waiting.lock().expect("questions lock");
            match waiting.values_mut().find(|w| w.key == key) {
                Some(w) => {
                    w.waiters += 1;
                    (w.question.clone(), w.settled.subscribe(), false)
                }
                None if !self.consent.desktop && !can_prompt => {
                    let why = format!(
                        "{words} asked for {}'s tokens, and nobody can be asked: there is no display and no terminal",
                        record.id
                    );
                    return Err(refusal(why, program, &record.id));
                }
                None => {
                    let question = Question {
                        id: self.consent.next_question.fetch_add(1, Ordering::Relaxed),
                        program: words.clone(),
                        name: crate::text::printable(&program.name(), 255),
                        pid: program.pid,
                        account: record.id.clone(),
                        label: crate::text::printable(&record.label, 120),
                        scopes: record.scopes.iter().map(|s| crate::text::printable(s, 200)).collect(),
                        expires_at: now + self.consent.timeout.as_secs(),
                    };
                    let (tx, rx) = watch::channel(None);
                    let entry = Waiting { question: question.clone(), key: key.clone(), settled: tx, waiters: 1 };
                    waiting.insert(question.id, entry);
                    self.consent.publish(&waiting);
                    tracing::info!(question = question.id, account = %record.id, program = %words, "asking the person");
                    (question, rx, true)
                }
            }
        };
        let _waiter = Waiter { daemon: self, id: question.id };
        let ask_here = first && !self.consent.desktop;
        let _ = out.send(Event::Question { question: question.clone(), ask_here }).await;
        let deadline = tokio::time::Instant::now()
            + Duration::from_secs(question.expires_at.saturating_sub(self.now())).min(self.consent.timeout);
        let outcome = loop {
            if let Some(outcome) = *settled.borrow_and_update() {
                break outcome;
            }
            tokio::select! {
                changed = settled.changed() => if changed.is_err() {
                    break settled.borrow().unwrap_or(Settled::Unanswered);
                },
                answer = next_answer(answers), if ask_here => match answer {
                    Some((id, choice)) if id == question.id => {
                        self.settle(id, Settled::Chose(choice));
                    }
                    Some(_) => {}
                    // The one terminal asked went away: nobody else can answer.
                    None => {
                        self.settle(question.id, Settled::Unanswered);
                    }
                },
                _ = tokio::time::sleep_until(deadline) => {
                    self.settle(question.id, Settled::Unanswered);
                }
            }
        };
        match outcome {
            Settled::Chose(Choice::Once) => Ok(Allowed::Once),
            Settled::Chose(Choice::Always) => Ok(Allowed::Program),
            Settled::Chose(Choice::Deny) => {
                Err(refusal(format!("you denied {words} a token for {}", record.id), program, &record.id))
            }
            Settled::Unanswered => {
                let why = format!(
                    "nobody answered within {} s whether {words} may have a token for {}, so none was handed out",
                    self.consent.timeout.as_secs(),
                    record.id
                );
                Err(refusal(why, program, &record.id))
            }
        }
    }

    /// Ends a question: every request waiting on it gets the outcome. False when it had already
    /// ended.
    fn settle(&self, id: u64, outcome: Settled) -> bool {
        let ended = {
            let mut waiting = self.consent.waiting.lock().expect("questions lock");
            let ended = waiting.remove(&id);
            self.consent.publish(&waiting);
            ended
        };
        let Some(ended) = ended else { return false };
        tracing::info!(question = id, ?outcome, "the question ended");
        match outcome {
            Settled::Chose(Choice::Always) => {
                if let Err(e) = self.keep_grant(&ended.key.0, &ended.key.1) {
                    tracing::warn!(error = %e, "the grant could not be kept; the program will be asked again");
                }
            }
            Settled::Chose(Choice::Deny) => {
                let now = self.now();
                let mut denied = self.consent.denied.lock().expect("denied lock");
                // Denials that ran out are no longer worth keeping.
                denied.retain(|_, until| *until > now);
                denied.insert(ended.key.clone(), now + DENIAL_MEMORY_SECS);
            }
            _ => {}
        }
        ended.settled.send_replace(Some(outcome));
        true
    }

    /// The person's answer to question `id`, from the notifier or the window.
    pub fn answer(&self, id: u64, choice: Choice) -> Result<()> {
        if self.settle(id, Settled::Chose(choice)) {
            Ok(())
        } else {
            Err(Error::new(ErrorKind::InvalidRequest, format!("question {id} was already answered or has expired")))
        }
    }

    /// The questions waiting for the person, updated as they come and go.
    pub fn questions(&self) -> watch::Receiver<Vec<Question>> {
        self.consent.questions.subscribe()
    }

    /// Whether a window asked for the questions within the last seconds: it shows them itself.
    pub fn window_is_open(&self) -> bool {
        self.consent.window_seen.lock().expect("window lock").is_some_and(|at| at.elapsed() < WINDOW_SEEN_FOR)
    }

    /// The questions, for a client; one from the window (`peer` runs the window's binary) also
    /// marks the window as open.
    pub(super) fn questions_for(&self, peer: Option<u32>) -> Event {
        if peer.is_some_and(is_window) {
            *self.consent.window_seen.lock().expect("window lock") = Some(Instant::now());
        }
        Event::Questions { questions: self.consent.questions.borrow().clone() }
    }

    /// An answer sent as a request of its own: only the window (or the daemon itself) may.
    pub(super) fn answer_from(&self, peer: Option<u32>, id: u64, choice: Choice) -> Result<Event> {
        if peer.is_some_and(|pid| !is_window(pid)) {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                "only Pixy's window answers a question this way; a terminal answers on the request's own connection",
            ));
        }
        self.answer(id, choice)?;
        Ok(Event::Answered { question: id })
    }

    /// The grant that lets `program` have the account's tokens, with its last use noted.
    fn granted(&self, program: &Program, account: &str) -> Option<Allowed> {
        let now = self.now();
        let (allowed, key) = {
            let mut grants = self.consent.grants.lock().expect("grants lock");
            // A grant for this program is named rather than one for every program.
            let grant =
                grants.iter_mut().filter(|g| g.covers(program, account)).min_by_key(|g| g.program == ANY_PROGRAM)?;
            grant.last_used = Some(now);
            let allowed = if grant.program == ANY_PROGRAM { Allowed::AnyProgram } else { Allowed::Program };
            (allowed, (grant.program.clone(), grant.account.clone()))
        };
        let mut written = self.consent.last_written.lock().expect("last use lock");
        if written.get(&key).is_none_or(|at| now >= at + LAST_USE_WRITE_EVERY) {
            written.insert(key, now);
            drop(written);
            if let Err(e) = self.save_grants() {
                tracing::info!(error = %e, "a grant's last use could not be written");
            }
        }
        Some(allowed)
    }

    /// Writes the grants as they are now. The lock is held through the write, so writes happen
    /// one at a time and the last one written is the latest list: a revoked grant never comes
    /// back from an older copy.
    fn save_grants(&self) -> Result<()> {
        if let Some(e) = &self.consent.refused {
            return Err(e.clone());
        }
        let grants = self.consent.grants.lock().expect("grants lock");
        self.consent.list.save(&grants)
    }

    /// Keeps a grant of `account` to `program` (replacing one for the same pair).
    fn keep_grant(&self, program: &str, account: &str) -> Result<Grant> {
        if let Some(e) = &self.consent.refused {
            return Err(Error::new(e.kind, format!("grants cannot be kept: {}", e.message)));
        }
        let grant = Grant { program: program.into(), account: account.into(), granted_at: self.now(), last_used: None };
        {
            let mut grants = self.consent.grants.lock().expect("grants lock");
            grants.retain(|g| !(g.program == program && g.account == account));
            grants.push(grant.clone());
        }
        self.consent.denied.lock().expect("denied lock").remove(&(program.to_string(), account.to_string()));
        self.save_grants()?;
        tracing::info!(account, program, "grant kept");
        Ok(grant)
    }

    /// `pixy grants allow`: lets `program` have the named account's tokens without asking.
    pub(super) async fn allow(&self, program: &str, name: &str) -> Result<Event> {
        let program = crate::text::printable(program.trim(), 4096);
        if program.is_empty() {
            return Err(Error::new(ErrorKind::InvalidRequest, "name a program (its path) or `any`"));
        }
        let record = self.find(name).await?;
        let grant = self.keep_grant(&program, &record.id)?;
        Ok(Event::Granted { grant })
    }

    /// `pixy grants revoke`: ends a grant.
    pub(super) async fn revoke_grant(&self, program: &str, name: &str) -> Result<Event> {
        // A grant may outlive its account's name (a provider id no longer unique): try it as an id.
        let account = self.find(name).await.map(|r| r.id).unwrap_or_else(|_| name.to_string());
        let removed = {
            let mut grants = self.consent.grants.lock().expect("grants lock");
            let before = grants.len();
            grants.retain(|g| !(g.program == program && g.account == account));
            before != grants.len()
        };
        if !removed {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                format!("no grant lets {program} have {account}'s tokens; `pixy grants` lists them"),
            ));
        }
        self.save_grants()?;
        tracing::info!(account = %account, program, "grant revoked");
        Ok(Event::GrantRevoked { program: program.to_string(), account })
    }

    /// The grants, by account, then program.
    pub(super) fn grant_list(&self) -> Event {
        let mut grants = self.consent.grants.lock().expect("grants lock").clone();
        grants.sort_by(|a, b| (&a.account, &a.program).cmp(&(&b.account, &b.program)));
        Event::Grants { grants }
    }

    /// Forgets an unlinked account's grants and denials.
    pub(super) fn forget_grants(&self, account: &str) {
        self.consent.grants.lock().expect("grants lock").retain(|g| g.account != account);
        self.consent.denied.lock().expect("denied lock").retain(|(_, a), _| a != account);
        if let Err(e) = self.save_grants() {
            tracing::warn!(error = %e, "the grants of an unlinked account could not be removed");
        }
    }

    /// Starts the grant of a `pixy exec` run whose process is `pid`: programs running under it
    /// get `accounts`' tokens until the guard is dropped.
    pub(super) fn begin_run(&self, pid: u32, accounts: Vec<String>) -> Option<RunGuard<'_>> {
        let (_, started) = crate::peer::started(pid)?;
        self.consent.runs.lock().expect("runs lock").insert(pid, Run { started, accounts });
        Some(RunGuard { runs: &self.consent.runs, pid, started })
    }

    /// Forgets every grant and denial (a reset, which deletes the file itself); returns how many
    /// grants there were.
    pub(super) fn forget_every_grant(&self) -> usize {
        self.consent.denied.lock().expect("denied lock").clear();
        std::mem::take(&mut *self.consent.grants.lock().expect("grants lock")).len()
    }

    /// How many grants are kept.
    pub(super) fn grant_count(&self) -> usize {
        self.consent.grants.lock().expect("grants lock").len()
    }

    /// Where the grants are kept.
    pub(super) fn consent_path(&self) -> &std::path::Path {
        self.consent.list.path()
    }

    /// Whether a `pixy exec` run holds a grant now.
    pub(super) fn runs_under_way(&self) -> bool {
        !self.consent.runs.lock().expect("runs lock").is_empty()
    }

    /// Whether the process `pid` runs inside a `pixy exec` run that holds `account`.
    fn in_run(&self, pid: u32, account: &str) -> bool {
        if self.consent.runs.lock().expect("runs lock").is_empty() {
            return false;
        }
        // Read from /proc before taking the lock.
        let lineage = crate::peer::lineage(pid);
        let runs = self.consent.runs.lock().expect("runs lock");
        lineage.iter().any(|(p, started)| {
            runs.get(p).is_some_and(|run| run.started == *started && run.accounts.iter().any(|a| a == account))
        })
    }
}

async fn next_answer(answers: &mut Option<mpsc::Receiver<(u64, Choice)>>) -> Option<(u64, Choice)> {
    match answers {
        Some(answers) => answers.recv().await,
        None => std::future::pending().await,
    }
}

/// Whether the process `pid` runs Pixy's window binary.
/// The window is found as the daemon starts it: beside the daemon, else on PATH. An executable
/// replaced by an upgrade while running reads as `PATH (deleted)` in /proc: still the window.
fn is_window(pid: u32) -> bool {
    let window = crate::ipc::client::sibling_binary("pixy-desktop");
    let window = if window.is_absolute() { Some(window) } else { crate::peer::on_path(&window) };
    let Some(window) = window.and_then(|w| std::fs::canonicalize(w).ok()) else { return false };
    crate::peer::executable(pid).is_some_and(|exe| {
        let exe = exe.to_string_lossy();
        std::path::Path::new(exe.trim_end_matches(" (deleted)")) == window
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::daemon::DaemonConfig;
    use crate::store::memory::MemoryStore;

    fn daemon(name: &str, desktop: bool, timeout: Duration) -> Arc<Daemon> {
        let dir = std::env::temp_dir().join(format!("pixy-consent-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config = DaemonConfig {
            index_path: dir.join("accounts.json"),
            providers_path: dir.join("providers.toml"),
            demo_issuer: None,
            demo_client_id: "demo".into(),
            http_timeout: Duration::from_secs(5),
            clock: Arc::new(crate::clock::SystemClock),
            audit_path: None,
            consent_timeout: timeout,
            desktop,
        };
        Arc::new(Daemon::new(config, Arc::new(MemoryStore::new()), Arc::new(tokio::sync::Notify::new())))
    }

    fn program(exe: &str) -> Program {
        Program { pid: std::process::id(), exe: exe.into(), script: None }
    }

    /// Asks as `exe` would, from this test process, with no terminal.
    async fn ask_as(daemon: &Daemon, exe: &str, account: &str) -> Result<Allowed> {
        let (out, _events) = mpsc::channel(4);
        let record = AccountRecord::sample(account);
        daemon.consent(Some(std::process::id()), Some(&program(exe)), &record, &out, &mut None, false).await
    }

    /// Waits until `count` questions are asked, and returns them.
    async fn asked(daemon: &Daemon, count: usize) -> Vec<Question> {
        let mut questions = daemon.questions();
        let found = async { questions.wait_for(|q| q.len() == count).await.map(|q| q.clone()) };
        tokio::time::timeout(Duration::from_secs(10), found).await.expect("asked in time").unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fifty_requests_from_one_program_raise_one_question_and_all_get_its_answer() {
        let daemon = daemon("fifty", true, Duration::from_secs(30));
        let requests: Vec<_> = (0..50)
            .map(|_| {
                let daemon = daemon.clone();
                tokio::spawn(async move { ask_as(&daemon, "/usr/bin/git", "github").await })
            })
            .collect();
        let questions = asked(&daemon, 1).await;
        // Let every request reach the question before it is answered.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(daemon.questions().borrow().len(), 1, "one question for one program and account");
        assert_eq!((questions[0].program.as_str(), questions[0].account.as_str()), ("/usr/bin/git", "github"));
        daemon.answer(questions[0].id, Choice::Always).unwrap();
        for request in requests {
            assert_eq!(request.await.unwrap(), Ok(Allowed::Program), "every waiting request shares the answer");
        }
        assert!(daemon.questions().borrow().is_empty(), "the question is gone once answered");
        assert_eq!(ask_as(&daemon, "/usr/bin/git", "github").await, Ok(Allowed::Program), "not asked again");
        assert!(daemon.answer(questions[0].id, Choice::Deny).is_err(), "an answered question takes no second answer");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn another_program_or_another_account_is_asked_again_and_once_is_not_kept() {
        let daemon = daemon("another", true, Duration::from_secs(30));
        let first = tokio::spawn({
            let daemon = daemon.clone();
            async move { ask_as(&daemon, "/usr/bin/git", "github").await }
        });
        let q = asked(&daemon, 1).await;
        daemon.answer(q[0].id, Choice::Always).unwrap();
        assert_eq!(first.await.unwrap(), Ok(Allowed::Program));
        for (exe, account) in [("/usr/bin/curl", "github"), ("/usr/bin/git", "gitlab"), ("/usr/bin/curl", "github")] {
            let request = tokio::spawn({
                let daemon = daemon.clone();
                async move { ask_as(&daemon, exe, account).await }
            });
            let q = asked(&daemon, 1).await;
            assert_eq!((q[0].program.as_str(), q[0].account.as_str()), (exe, account), "asked about this pair");
            daemon.answer(q[0].id, Choice::Once).unwrap();
            assert_eq!(request.await.unwrap(), Ok(Allowed::Once), "allowed this once, and asked again next time");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_denial_is_remembered_and_nobody_answering_is_a_denial_that_is_not() {
        let daemon = daemon("deny", true, Duration::from_secs(1));
        let denied = tokio::spawn({
            let daemon = daemon.clone();
            async move { ask_as(&daemon, "/usr/bin/git", "github").await }
        });
        let q = asked(&daemon, 1).await;
        daemon.answer(q[0].id, Choice::Deny).unwrap();
        let e = denied.await.unwrap().unwrap_err();
        assert_eq!(e.kind, ErrorKind::ConsentDenied);
        assert!(e.message.contains("pixy grants allow --program '/usr/bin/git' --account github"), "{}", e.message);
        let again = ask_as(&daemon, "/usr/bin/git", "github").await.unwrap_err();
        assert!(again.message.contains("not asked again"), "a denial silences retries: {}", again.message);
        assert!(daemon.questions().borrow().is_empty(), "and raises no question");

        let started = Instant::now();
        let unanswered = ask_as(&daemon, "/usr/bin/curl", "github").await.unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(900), "it waited for the timeout");
        assert!(unanswered.message.contains("nobody answered within 1 s"), "{}", unanswered.message);
        assert!(daemon.questions().borrow().is_empty(), "the question ended with its timeout");
        let asked_again = tokio::spawn({
            let daemon = daemon.clone();
            async move { ask_as(&daemon, "/usr/bin/curl", "github").await }
        });
        assert_eq!(asked(&daemon, 1).await.len(), 1, "nobody answering is not remembered: asked again");
        assert!(asked_again.await.unwrap().is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_question_whose_every_requester_hung_up_ends_at_once() {
        let daemon = daemon("hung-up", true, Duration::from_secs(30));
        let request = tokio::spawn({
            let daemon = daemon.clone();
            async move { ask_as(&daemon, "/usr/bin/git", "github").await }
        });
        asked(&daemon, 1).await;
        request.abort();
        let _ = request.await;
        assert!(daemon.questions().borrow().is_empty(), "nobody waits on it any more: it is gone");
    }

    #[tokio::test]
    async fn the_terminal_asked_going_away_ends_the_question_for_every_request() {
        let daemon = daemon("terminal-gone", false, Duration::from_secs(30));
        let (out, mut events) = mpsc::channel(4);
        let (answer, answers) = mpsc::channel::<(u64, Choice)>(1);
        let record = AccountRecord::sample("github");
        let git = program("/usr/bin/git");
        let mut answers = Some(answers);
        let consent = daemon.consent(Some(std::process::id()), Some(&git), &record, &out, &mut answers, true);
        let hanging_up = async {
            assert!(matches!(events.recv().await, Some(Event::Question { ask_here: true, .. })));
            drop(answer);
        };
        let started = Instant::now();
        let (refused, ()) = tokio::join!(consent, hanging_up);
        assert!(refused.is_err() && started.elapsed() < Duration::from_secs(5), "no wait for the timeout");
        assert!(daemon.questions().borrow().is_empty());
    }

    #[test]
    fn the_allow_line_quotes_a_path_for_the_shell() {
        let odd = Program { pid: 1, exe: "/opt/it's here/tool".into(), script: None };
        assert_eq!(allow_hint(&odd, "a"), "pixy grants allow --program '/opt/it'\\''s here/tool' --account a");
    }

    #[tokio::test]
    async fn without_a_display_or_a_terminal_the_request_is_refused_at_once_saying_how_to_allow_it() {
        let daemon = daemon("headless", false, Duration::from_secs(30));
        let started = Instant::now();
        let e = ask_as(&daemon, "/usr/bin/git", "github").await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2), "no waiting for an answer nobody can give");
        assert_eq!(e.kind, ErrorKind::ConsentDenied);
        assert!(e.message.contains("no display and no terminal") && e.message.contains("pixy grants allow"));
    }

    #[tokio::test]
    async fn without_a_display_the_first_terminal_is_asked_and_answers_on_its_connection() {
        let daemon = daemon("terminal", false, Duration::from_secs(30));
        let (out, mut events) = mpsc::channel(4);
        let (answer, answers) = mpsc::channel(1);
        let record = AccountRecord::sample("github");
        let git = program("/usr/bin/git");
        let mut answers = Some(answers);
        let consent = daemon.consent(Some(std::process::id()), Some(&git), &record, &out, &mut answers, true);
        let answering = async {
            match events.recv().await {
                Some(Event::Question { question, ask_here: true }) => {
                    answer.send((question.id, Choice::Once)).await.unwrap();
                }
                other => panic!("the terminal is asked: {other:?}"),
            }
        };
        let (allowed, ()) = tokio::join!(consent, answering);
        assert_eq!(allowed, Ok(Allowed::Once));
    }

    #[tokio::test]
    async fn grants_are_kept_across_a_restart_and_any_program_covers_every_program() {
        let daemon = daemon("kept", false, Duration::from_secs(30));
        daemon.keep_grant("/usr/bin/git", "github").unwrap();
        daemon.keep_grant(ANY_PROGRAM, "ci").unwrap();
        let path = daemon.config.index_path.with_file_name("grants.json");
        let again = Consent::new(path, Duration::from_secs(30), false);
        let kept = again.grants.lock().unwrap().clone();
        assert_eq!(
            kept.iter().map(|g| (g.program.as_str(), g.account.as_str())).collect::<Vec<_>>(),
            [("/usr/bin/git", "github"), (ANY_PROGRAM, "ci")]
        );
        assert_eq!(ask_as(&daemon, "/usr/bin/git", "github").await, Ok(Allowed::Program));
        assert_eq!(ask_as(&daemon, "/usr/bin/anything", "ci").await, Ok(Allowed::AnyProgram));
        daemon.forget_grants("github");
        assert!(ask_as(&daemon, "/usr/bin/git", "github").await.is_err(), "an unlinked account's grants are gone");
    }

    #[tokio::test]
    async fn a_program_inside_a_run_has_the_run_s_accounts_until_the_run_ends() {
        let daemon = daemon("run", false, Duration::from_secs(30));
        // This test process stands for the run's `pixy exec`; it is its own lineage's first entry.
        let guard = daemon.begin_run(std::process::id(), vec!["github".into()]).expect("this process is alive");
        assert_eq!(ask_as(&daemon, "/usr/bin/python3", "github").await, Ok(Allowed::Run));
        assert!(ask_as(&daemon, "/usr/bin/python3", "gitlab").await.is_err(), "only the run's accounts");
        drop(guard);
        assert!(ask_as(&daemon, "/usr/bin/python3", "github").await.is_err(), "the grant ended with the run");
    }

    #[test]
    fn a_request_from_a_program_pixy_cannot_name_gets_no_token() {
        let daemon = daemon("unnamed", true, Duration::from_secs(30));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (out, _events) = mpsc::channel(4);
        let record = AccountRecord::sample("github");
        let e = runtime.block_on(daemon.consent(Some(0), None, &record, &out, &mut None, false)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::ConsentDenied);
        assert!(e.message.contains("cannot tell which program asked"), "{}", e.message);
    }
}
