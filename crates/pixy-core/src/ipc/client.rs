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
    _writer: OwnedWriteHalf,
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
    let stream = connect_or_start().await?;
    let (read, mut write) = stream.into_split();
    write_message(&mut write, request).await?;
    Ok(Answer { reader: BufReader::new(read), _writer: write, finished: false })
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
    start_daemon()?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match connect().await {
            Ok(stream) => return Ok(stream),
            Err(e) if Instant::now() >= deadline => {
                return Err(Error::new(
                    ErrorKind::DaemonUnavailable,
                    format!("{}; the daemon did not start — see {}", e.message, log_path().display()),
                ))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(40)).await,
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

/// The daemon's log file.
pub fn log_path() -> PathBuf {
    paths::state_dir().join("daemon.log")
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

fn start_daemon() -> Result<()> {
    use std::os::unix::process::CommandExt;
    let log_dir = paths::state_dir();
    let _ = std::fs::create_dir_all(&log_dir);
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log_path());
    let (out, err) = match log {
        Ok(f) => (f.try_clone().map(Into::into).unwrap_or(std::process::Stdio::null()), f.into()),
        Err(_) => (std::process::Stdio::null(), std::process::Stdio::null()),
    };
    let binary = pixy_binary();
    let mut command = std::process::Command::new(&binary);
    command.arg("daemon").stdin(std::process::Stdio::null()).stdout(out).stderr(err);
    // SAFETY: setsid is async-signal-safe; it detaches the daemon from the client's session so
    // closing a terminal or the window does not end it.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(|e| {
        Error::new(ErrorKind::DaemonUnavailable, format!("cannot start the Pixy daemon ({}: {e})", binary.display()))
    })?;
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    Ok(())
}
