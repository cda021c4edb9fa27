//! The client side of the daemon socket, used by the CLI and the window.
//!
//! [`request`] connects to the daemon (starting `pixy daemon` when none answers) and sends one
//! request; [`Answer::next`] yields the daemon's events, the last of which is terminal.
//! A client never refreshes or stores tokens itself: if the daemon cannot be reached or started,
//! it fails with [`ErrorKind::DaemonUnavailable`].

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::io::BufReader;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

use super::framing::{read_message, write_message};
use super::paths;
use super::protocol::{Event, Request};
use crate::error::{Error, ErrorKind, Result};

/// How long a client waits for a daemon it started to answer.
pub const START_TIMEOUT: Duration = Duration::from_secs(15);

/// The daemon's answer to one request.
#[derive(Debug)]
pub struct Answer {
    reader: BufReader<OwnedReadHalf>,
    // Kept open: closing it tells the daemon to cancel a running link.
    writer: Option<OwnedWriteHalf>,
    finished: bool,
}

impl Answer {
    /// The next event; `None` after the terminal one.
    pub async fn next(&mut self) -> Result<Option<Event>> {
        if self.finished {
            return Ok(None);
        }
        match read_message::<_, Event>(&mut self.reader).await? {
            Some(event) => {
                self.finished = event.is_terminal();
                Ok(Some(event))
            }
            None => Err(Error::new(ErrorKind::DaemonUnavailable, "the daemon closed the connection before answering")),
        }
    }

    /// The sending half of this request's connection, for a link's pastes
    /// ([`Request::Paste`]); `None` once taken. Whoever holds it keeps the link alive: dropping it
    /// tells the daemon the client hung up, which cancels a link still waiting.
    pub fn take_sender(&mut self) -> Option<OwnedWriteHalf> {
        self.writer.take()
    }

    /// The sending half of this request's connection, for an answer to a consent question put on
    /// the client's terminal ([`Request::Answer`]); `None` once taken.
    pub fn sender(&mut self) -> Option<&mut OwnedWriteHalf> {
        self.writer.as_mut()
    }

    /// Skips progress and returns the terminal event.
    pub async fn terminal(mut self) -> Result<Event> {
        loop {
            match self.next().await? {
                Some(event) if event.is_terminal() => return Ok(event),
                Some(_) => continue,
                None => return Err(Error::new(ErrorKind::Internal, "no terminal event")),
            }
        }
    }
}

/// Sends a request to the daemon, starting it first when it is not running.
pub async fn request(request: &Request) -> Result<Answer> {
    send(connect_or_start().await?, request).await
}

/// Sends one request (starting the daemon when needed) and returns its terminal event, an
/// [`Event::Error`] turned into an error: how a client ends a request with one answer.
pub async fn ask(question: Request) -> Result<Event> {
    match request(&question).await?.terminal().await? {
        Event::Error { kind, message } => Err(Error::new(kind, message)),
        event => Ok(event),
    }
}

/// The error for a terminal event a request does not expect. It names the event's kind only:
/// the Debug of an event could hold a token.
pub fn unexpected(event: &Event) -> Error {
    let name = serde_json::to_value(event)
        .ok()
        .and_then(|v| v.get("event").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_default();
    Error::new(ErrorKind::Internal, format!("the daemon answered with an unexpected {name} event"))
}

/// The person's `$BROWSER`, which the client passes on: a daemon started earlier, elsewhere, may
/// not have it.
pub fn browser_from_env() -> Option<String> {
    std::env::var("BROWSER").ok().filter(|b| !b.trim().is_empty())
}

/// Sends a request to a running daemon only, never starting one (to ask whether one runs, or to
/// stop it).
pub async fn request_running(request: &Request) -> Result<Answer> {
    send(connect().await?, request).await
}

async fn send(stream: UnixStream, request: &Request) -> Result<Answer> {
    let (read, mut write) = stream.into_split();
    write_message(&mut write, request).await?;
    Ok(Answer { reader: BufReader::new(read), writer: Some(write), finished: false })
}

/// Connects to a running daemon only.
pub async fn connect() -> Result<UnixStream> {
    let path = paths::socket_path()?;
    UnixStream::connect(&path).await.map_err(|e| {
        Error::new(ErrorKind::DaemonUnavailable, format!("no Pixy daemon answers at {} ({e})", path.display()))
    })
}

async fn connect_or_start() -> Result<UnixStream> {
    if let Ok(stream) = connect().await {
        return Ok(stream);
    }
    // Clients starting at once take turns, so exactly one of them starts the daemon; the others
    // find it running once they hold the lock.
    let _turn = start_lock().await?;
    if let Ok(stream) = connect().await {
        return Ok(stream);
    }
    let mut daemon = start_daemon()?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match connect().await {
            Ok(stream) => {
                daemon.started();
                return Ok(stream);
            }
            Err(e) => {
                match daemon.stopped() {
                    // It found another daemon holding the lock and left it be: that one may still
                    // be starting (a daemon re-executing itself after an upgrade), so wait for it.
                    Some(Stopped { gave_way: true, .. }) => {}
                    Some(Stopped { why, .. }) => {
                        return connect().await.map_err(|_| Error::new(ErrorKind::DaemonUnavailable, why))
                    }
                    None => {}
                }
                if Instant::now() >= deadline {
                    // It may still come up: it is left to run, and reaped when it ends.
                    daemon.started();
                    return Err(Error::new(
                        ErrorKind::DaemonUnavailable,
                        format!("{}; the daemon did not start — see {}", e.message, paths::log_path().display()),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(40)).await
            }
        }
    }
}

/// An exclusive lock on the runtime directory's start.lock, released when dropped.
async fn start_lock() -> Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    let path = paths::runtime_dir()?.join("start.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::new(ErrorKind::DaemonUnavailable, format!("cannot open {}: {e}", path.display())))?;
    tokio::task::spawn_blocking(move || {
        // SAFETY: flock on a descriptor this closure owns; it blocks until the turn comes.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0;
        locked.then_some(file)
    })
    .await
    .ok()
    .flatten()
    .ok_or_else(|| Error::new(ErrorKind::DaemonUnavailable, "cannot take the daemon start lock"))
}

/// The `pixy` binary: `$PIXY_BIN`, else the one beside this program, else `pixy` on PATH.
pub fn pixy_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("PIXY_BIN").filter(|b| !b.is_empty()) {
        return PathBuf::from(bin);
    }
    sibling_binary("pixy")
}

/// The program `name` beside the running one (an install or a build tree keeps Pixy's binaries
/// together), else the bare name for a PATH lookup.
pub fn sibling_binary(name: &str) -> PathBuf {
    let name = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(&name)))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// What the daemon keeps of the environment of the client that starts it: the session it serves
/// (display, bus, XDG dirs, desktop, for the tray, the keyring and the browser launcher), how it
/// reaches the network (proxies, CA files), `$BROWSER`, the locale, and Pixy's own settings. The
/// rest of whichever client came first — its secrets, its tools' settings — is not the daemon's.
const DAEMON_ENV: &[&str] = &[
    "HOME",
    "USER",
    "LOGNAME",
    "PATH",
    "TMPDIR",
    "TZ",
    "LANG",
    "LANGUAGE",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "XAUTHORITY",
    "DBUS_SESSION_BUS_ADDRESS",
    "DESKTOP_SESSION",
    "KDE_FULL_SESSION",
    "KDE_SESSION_VERSION",
    "GNOME_DESKTOP_SESSION_ID",
    "BROWSER",
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];
/// Whole families kept by prefix: XDG base and session variables, locale categories, Pixy's own.
const DAEMON_ENV_PREFIXES: &[&str] = &["XDG_", "LC_", "PIXY_"];

/// Whether the daemon inherits the variable `name` from the client that starts it.
fn daemon_keeps(name: &str) -> bool {
    DAEMON_ENV.contains(&name) || DAEMON_ENV_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// A daemon this client started, until it answers or stops.
struct Starting {
    child: std::process::Child,
    /// It was found stopped once already (and what it said was read then).
    seen_stopped: bool,
}

/// A daemon that stopped before it answered.
struct Stopped {
    /// It exited successfully: another daemon held the lock, and it left that one be.
    gave_way: bool,
    /// Why, from what it said on stderr, for the person.
    why: String,
}

impl Starting {
    /// Whether the daemon stopped before it answered, and why; `None` while it runs, and after
    /// the first time it was found stopped.
    fn stopped(&mut self) -> Option<Stopped> {
        use std::io::Read;
        if self.seen_stopped {
            return None;
        }
        let status = self.child.try_wait().ok().flatten()?;
        self.seen_stopped = true;
        let mut said = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut said);
        }
        let said: Vec<&str> = said.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        let why = match said.len() {
            0 => format!("the Pixy daemon stopped as it started ({status})"),
            n => format!("the Pixy daemon stopped as it started: {}", said[n.saturating_sub(3)..].join("; ")),
        };
        Some(Stopped { gave_way: status.success(), why: format!("{why} — its log: {}", paths::log_path().display()) })
    }

    /// The daemon answers (or is given up on): its stderr is no longer read (it writes its own
    /// log), and a thread reaps it when it ends.
    fn started(self) {
        let mut child = self.child;
        drop(child.stderr.take());
        std::thread::spawn(move || {
            let _ = child.wait();
        });
    }
}

/// Starts `pixy daemon` detached from this client. The daemon writes its own log; its stderr
/// comes to this client only while it starts, so a daemon that cannot start says why right here
/// (it stops reading stderr once it is serving, so nothing later goes to a closed pipe).
fn start_daemon() -> Result<Starting> {
    use std::os::unix::process::CommandExt;
    let binary = pixy_binary();
    let mut command = std::process::Command::new(&binary);
    command
        .arg("daemon")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    // A neutral world: not the client's working directory (it would keep that mount busy), and
    // only the variables the daemon needs.
    command
        .current_dir("/")
        .env_clear()
        .envs(std::env::vars_os().filter(|(name, _)| name.to_str().is_some_and(daemon_keeps)));
    // SAFETY: setsid is async-signal-safe; it detaches the daemon from the client's session so
    // closing a terminal or the window does not end it.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let child = command.spawn().map_err(|e| {
        Error::new(ErrorKind::DaemonUnavailable, format!("cannot start the Pixy daemon ({}: {e})", binary.display()))
    })?;
    Ok(Starting { child, seen_stopped: false })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemon_keeps_the_session_network_and_browser_variables_and_nothing_else() {
        for kept in [
            "DISPLAY",
            "WAYLAND_DISPLAY",
            "DBUS_SESSION_BUS_ADDRESS",
            "XDG_RUNTIME_DIR",
            "XDG_CURRENT_DESKTOP",
            "https_proxy",
            "NO_PROXY",
            "BROWSER",
            "LANG",
            "LC_ALL",
            "PIXY_LOG",
        ] {
            assert!(daemon_keeps(kept), "{kept} is part of the session the daemon serves");
        }
        for dropped in
            ["GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "PWD", "OLDPWD", "LD_PRELOAD", "SSH_AUTH_SOCK", "xdg_x"]
        {
            assert!(!daemon_keeps(dropped), "{dropped} belongs to the client that happened to start the daemon");
        }
    }
}
