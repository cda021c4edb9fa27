//! The daemon's side of the socket.
//!
//! Rules: one daemon per user, held by an exclusive `flock` on the lock file (a second daemon
//! is told the first's pid, and leaves); the socket lives in the private runtime directory with mode
//! 0600; every peer's uid is read with SO_PEERCRED and any other user is refused before a byte
//! is read; each connection is served on its own task, so a running link never blocks another
//! client; a client that hangs up during a link cancels it.
//!
//! It also watches the daemon's executable ([`super::upgrade`]): once a new version stands
//! there and nothing is under way — no connection open, none waiting in the listen backlog, and
//! the daemon quiet — serving stops and the caller re-executes the new version. That check and
//! the return run in the accept loop itself, so no connection is accepted between them.
//!
//! Limits: at most [`MAX_CONNECTIONS`] connections at once. Past that, the oldest connection that
//! has not yet sent its request is closed to make room (idle connections cannot keep a real
//! client out); when every connection is busy with a request, the newcomer is turned away. Accept
//! errors (such as running out of file descriptors) are logged at most once per
//! [`ACCEPT_ERROR_LOG_INTERVAL`], with the count of those left unsaid.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::BufReader;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, Notify};

use super::upgrade::{Executable, Quiet, POLL};
use super::{Daemon, FollowUps};
use crate::error::{Error, ErrorKind, Result};
use crate::ipc::framing::{read_message, write_message};
use crate::ipc::paths;
use crate::ipc::protocol::{Event, Request};

/// How long a client has to send its request once connected.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stopping daemon waits for the answers it is writing.
const STOP_GRACE: Duration = Duration::from_secs(1);
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 256;
/// The shortest time between two logged accept errors.
pub const ACCEPT_ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Proof that this process is the user's one daemon; released when dropped.
#[derive(Debug)]
pub struct DaemonLock {
    _file: File,
}

/// What came of trying to take the single-daemon lock.
#[derive(Debug)]
pub enum LockAttempt {
    /// This process is the user's daemon.
    Taken(DaemonLock),
    /// Another daemon holds it: its pid as it wrote it ("unknown" when it wrote none yet).
    HeldBy(String),
}

/// Takes the single-daemon lock, or says which process holds it.
pub fn acquire_lock() -> Result<LockAttempt> {
    let path = paths::lock_path()?;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::new(ErrorKind::DaemonUnavailable, format!("cannot open {}: {e}", path.display())))?;
    // SAFETY: flock on a file descriptor we own.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    if !locked {
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = holder.trim();
        return Ok(LockAttempt::HeldBy(if holder.is_empty() { "unknown".into() } else { holder.into() }));
    }
    file.set_len(0)
        .and_then(|_| file.rewind())
        .and_then(|_| write!(file, "{}", std::process::id()))
        .map_err(|e| Error::new(ErrorKind::DaemonUnavailable, format!("cannot write {}: {e}", path.display())))?;
    Ok(LockAttempt::Taken(DaemonLock { _file: file }))
}

/// Binds the socket (replacing a stale one: the lock proves no daemon owns it).
pub fn bind(_lock: &DaemonLock) -> Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let path = paths::socket_path()?;
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)
        .map_err(|e| Error::new(ErrorKind::DaemonUnavailable, format!("cannot listen on {}: {e}", path.display())))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::new(ErrorKind::DaemonUnavailable, format!("cannot protect {}: {e}", path.display())))?;
    Ok(listener)
}

/// Raises the soft limit on open files to the hard limit, so the daemon's connection cap, not
/// the descriptor limit, is what bounds its clients.
pub fn raise_open_file_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit read and write the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            let wanted = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) != 0 {
                tracing::info!(soft = limit.rlim_cur, "the open-file limit could not be raised");
            }
        }
    }
}

/// The connections being served: those still waiting for their request, oldest first, each with
/// the switch that closes it, and how many are busy with one.
#[derive(Default)]
struct Connections {
    waiting: VecDeque<(u64, oneshot::Sender<()>)>,
    busy: usize,
    next: u64,
}

impl Connections {
    /// Admits a connection, closing the oldest waiting one when at the cap; `None` when every
    /// connection is busy.
    fn admit(&mut self) -> Option<(u64, oneshot::Receiver<()>)> {
        if self.waiting.len() + self.busy >= MAX_CONNECTIONS {
            // Dropping its sender closes that connection.
            self.waiting.pop_front()?;
        }
        let id = self.next;
        self.next += 1;
        let (tx, rx) = oneshot::channel();
        self.waiting.push_back((id, tx));
        Some((id, rx))
    }

    /// The connection sent its request; true when it was still admitted (not closed for room).
    fn started(&mut self, id: u64) -> bool {
        let before = self.waiting.len();
        self.waiting.retain(|(i, _)| *i != id);
        let admitted = self.waiting.len() < before;
        self.busy += usize::from(admitted);
        admitted
    }

    /// Whether any connection is open, busy or still waiting for its request.
    fn any(&self) -> bool {
        self.busy > 0 || !self.waiting.is_empty()
    }

    fn ended(&mut self, id: u64, was_busy: bool) {
        if was_busy {
            self.busy -= 1;
        } else {
            self.waiting.retain(|(i, _)| *i != id);
        }
    }
}

/// Logs accept errors at a bounded rate.
struct AcceptErrors {
    last: Option<Instant>,
    unsaid: u64,
}

impl AcceptErrors {
    /// Counts one error; logs it (with the count of those left unsaid) when the last log is old
    /// enough, and says whether it did.
    fn record(&mut self, error: &std::io::Error) -> bool {
        if self.last.is_some_and(|at| at.elapsed() < ACCEPT_ERROR_LOG_INTERVAL) {
            self.unsaid += 1;
            return false;
        }
        tracing::warn!(error = %error, more_since_last = self.unsaid, "accept failed");
        self.last = Some(Instant::now());
        self.unsaid = 0;
        true
    }
}

/// Why serving stopped.
pub enum Stopped {
    /// `quit` was notified (Shutdown, the tray's Quit).
    Asked,
    /// A new version stands at the executable's path and the daemon is quiet: the caller removes
    /// the socket, releases the lock and calls [`Executable::exec`] while holding [`Quiet`].
    Replaced(Box<(Executable, Quiet)>),
}

/// Serves clients until `quit` is notified, or until `executable` is replaced by a new version
/// and nothing is under way.
pub async fn serve(
    listener: UnixListener,
    daemon: Arc<Daemon>,
    quit: Arc<Notify>,
    mut executable: Option<Executable>,
) -> Stopped {
    let me = paths::uid();
    let connections = Arc::new(Mutex::new(Connections::default()));
    let mut accept_errors = AcceptErrors { last: None, unsaid: 0 };
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let accepted = tokio::select! {
            _ = quit.notified() => {
                // The answers being written (Shutdown's own among them) go out before the
                // daemon exits, for as long as a client may fairly wait for one.
                let deadline = Instant::now() + STOP_GRACE;
                while connections.lock().expect("connections lock").any() && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                return Stopped::Asked;
            }
            accepted = listener.accept() => accepted,
            _ = poll.tick(), if executable.is_some() => {
                if !executable.as_mut().is_some_and(Executable::replaced)
                    || connections.lock().expect("connections lock").any()
                {
                    continue;
                }
                // A client already in the listen backlog is served first: closing the listener
                // now would reset its connection.
                match tokio::time::timeout(Duration::ZERO, listener.accept()).await {
                    Ok(accepted) => accepted,
                    Err(_) => match daemon.quiet() {
                        Some(quiet) => {
                            let executable = executable.take().expect("polled only with an executable");
                            return Stopped::Replaced(Box::new((executable, quiet)));
                        }
                        None => continue,
                    },
                }
            }
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                accept_errors.record(&e);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let peer = match stream.peer_cred() {
            // A peer whose pid the kernel does not give is a process nobody can be asked about:
            // pid 0 names no program, so it gets no token.
            Ok(cred) if cred.uid() == me => Some(cred.pid().and_then(|pid| u32::try_from(pid).ok()).unwrap_or(0)),
            Ok(cred) => {
                tracing::warn!(peer_uid = cred.uid(), "refused a client of another user");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the peer's credentials; refused");
                continue;
            }
        };
        let Some((id, evicted)) = connections.lock().expect("connections lock").admit() else {
            tracing::warn!(max = MAX_CONNECTIONS, "every connection is busy; a client was turned away");
            continue;
        };
        let (daemon, connections) = (daemon.clone(), connections.clone());
        tokio::spawn(async move {
            let mut busy = false;
            connection(stream, peer, daemon, evicted, || {
                busy = connections.lock().expect("connections lock").started(id);
                busy
            })
            .await;
            connections.lock().expect("connections lock").ended(id, busy);
        });
    }
}

/// Serves one connection. `started` is called once its request has arrived and says whether the
/// connection may go on (it was not closed to make room meanwhile).
async fn connection(
    stream: UnixStream,
    peer: Option<u32>,
    daemon: Arc<Daemon>,
    evicted: oneshot::Receiver<()>,
    started: impl FnOnce() -> bool,
) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let read_request = tokio::time::timeout(REQUEST_TIMEOUT, read_message::<_, Request>(&mut reader));
    let request = tokio::select! {
        read = read_request => match read {
            Ok(Ok(Some(request))) => request,
            Ok(Ok(None)) | Err(_) => return,
            Ok(Err(e)) => {
                let _ = write_message(&mut write, &Event::Error { kind: e.kind, message: e.message }).await;
                return;
            }
        },
        _ = evicted => return,
    };
    if !started() {
        return;
    }
    // What the client sends after its request (a link's pastes, the answer to a question put on
    // its terminal) is read by a task of its own, so no message is cut in half when an event is
    // written; its connection ending means the client hung up.
    let (pastes, paste_rx) = mpsc::channel(4);
    let (answers, answer_rx) = mpsc::channel(4);
    let (gone_tx, mut gone) = oneshot::channel::<()>();
    let _reader = AbortOnDrop(tokio::spawn(async move {
        while let Ok(Some(message)) = read_message::<_, Request>(&mut reader).await {
            match message {
                // Never waiting on a request that does not read them: the reader must go on to
                // see the hang-up. What does not fit is dropped.
                Request::Paste { text } => {
                    let _ = pastes.try_send(text);
                }
                Request::Answer { question, choice } => {
                    let _ = answers.try_send((question, choice));
                }
                _ => {
                    tracing::info!("a client sent something other than a paste or an answer after its request; ignored")
                }
            }
        }
        drop(gone_tx);
    }));
    let follow_ups = FollowUps { pastes: Some(paste_rx), answers: Some(answer_rx) };
    // Only a link, or a `pixy exec` run, is ended by a hang-up. A refresh or an unlink that has
    // begun at the provider finishes, or the rotated tokens would be lost.
    let cancellable = matches!(request, Request::Link(_) | Request::Run { .. });
    let (tx, mut rx) = mpsc::channel(16);
    if !cancellable {
        tokio::spawn(async move { daemon.handle_from(peer, request, tx, follow_ups).await });
        while let Some(event) = rx.recv().await {
            let terminal = event.is_terminal();
            if write_message(&mut write, &event).await.is_err() || terminal {
                return;
            }
        }
        return;
    }
    let work = daemon.handle_from(peer, request, tx, follow_ups);
    tokio::pin!(work);
    let mut work_done = false;
    // Once the code is being exchanged, the link is finished even if the client goes away: the
    // code is spent, and the tokens it brings must be stored (or revoked), not dropped.
    let mut exchanging = false;
    loop {
        tokio::select! {
            _ = &mut work, if !work_done => work_done = true,
            event = rx.recv() => match event {
                Some(event) => {
                    exchanging |= matches!(event, Event::Exchanging);
                    let terminal = event.is_terminal();
                    let sent = write_message(&mut write, &event).await.is_ok();
                    if !sent && exchanging && !work_done {
                        work.await;
                        return;
                    }
                    if !sent || terminal {
                        return;
                    }
                }
                None => return,
            },
            // The client hung up: returning drops `work`, which cancels a running link.
            _ = &mut gone, if !exchanging => return,
        }
    }
}

/// A task that ends when its owner does.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_accept_errors_is_logged_once_per_interval_with_a_count() {
        let mut errors = AcceptErrors { last: None, unsaid: 0 };
        let emfile = std::io::Error::from_raw_os_error(libc::EMFILE);
        let logged = (0..1000).filter(|_| errors.record(&emfile)).count();
        assert_eq!(logged, 1, "one line for a thousand failures within the interval");
        assert_eq!(errors.unsaid, 999, "the next line says how many were left unsaid");
    }

    #[test]
    fn at_the_cap_the_oldest_idle_connection_makes_room_and_busy_ones_are_kept() {
        let mut c = Connections::default();
        let admitted: Vec<_> = (0..MAX_CONNECTIONS).map(|_| c.admit().unwrap()).collect();
        assert!(c.started(admitted[1].0), "a connection that sent its request is busy");
        let (_, mut oldest_closed) = admitted.into_iter().next().unwrap();
        let newcomer = c.admit();
        assert!(newcomer.is_some(), "an idle connection made room");
        assert!(
            matches!(oldest_closed.try_recv(), Err(oneshot::error::TryRecvError::Closed)),
            "the oldest idle connection was told to close"
        );
        assert!(!c.started(0), "a closed connection does not go on to its request");
        assert!(c.started(newcomer.unwrap().0));
        for id in 2..MAX_CONNECTIONS as u64 {
            assert!(c.started(id));
        }
        assert!(c.admit().is_none(), "with every connection busy, a newcomer is turned away");
        c.ended(1, true);
        assert!(c.admit().is_some(), "a finished request frees its place");
    }

    // One test: it sets XDG_RUNTIME_DIR, which nothing else in this test binary reads.
    #[test]
    fn the_runtime_dir_is_private_and_a_second_daemon_is_refused_naming_the_first() {
        use std::os::unix::fs::PermissionsExt;
        let base = std::env::temp_dir().join(format!("pixy-runtime-{}", std::process::id()));
        std::fs::create_dir_all(&base).unwrap();
        std::env::set_var("XDG_RUNTIME_DIR", &base);
        let dir = paths::runtime_dir().unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "the socket's directory is private");

        let first = acquire_lock().unwrap();
        assert!(matches!(first, LockAttempt::Taken(_)));
        let second = acquire_lock().unwrap();
        assert!(
            matches!(&second, LockAttempt::HeldBy(pid) if *pid == std::process::id().to_string()),
            "names the first: {second:?}"
        );
        drop(first);
        assert!(matches!(acquire_lock().unwrap(), LockAttempt::Taken(_)), "the lock is free once the first is gone");
    }
}
