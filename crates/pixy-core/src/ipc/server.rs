//! The daemon's side of the socket.
//!
//! Rules: one daemon per user, held by an exclusive `flock` on the lock file (a second daemon
//! exits naming the first's pid); the socket lives in the private runtime directory with mode
//! 0600; every peer's uid is read with SO_PEERCRED and any other user is refused before a byte
//! is read; each connection is served on its own task, so a running link never blocks another
//! client; a client that hangs up during a link cancels it.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, Notify};

use super::framing::{read_message, write_message};
use super::paths;
use super::protocol::{Event, Request};
use crate::error::{Error, ErrorKind, Result};
use crate::service::Service;

/// How long a client has to send its request once connected.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Proof that this process is the user's one daemon; released when dropped.
#[derive(Debug)]
pub struct DaemonLock {
    _file: File,
}

/// Takes the single-daemon lock, or says which process holds it.
pub fn acquire_lock() -> Result<DaemonLock> {
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
        return Err(Error::new(
            ErrorKind::DaemonUnavailable,
            format!(
                "another Pixy daemon is already running (pid {}); this one exits",
                if holder.is_empty() { "unknown" } else { holder }
            ),
        ));
    }
    file.set_len(0)
        .and_then(|_| file.rewind())
        .and_then(|_| write!(file, "{}", std::process::id()))
        .map_err(|e| Error::new(ErrorKind::DaemonUnavailable, format!("cannot write {}: {e}", path.display())))?;
    Ok(DaemonLock { _file: file })
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

/// Serves clients until `quit` is notified.
pub async fn serve(listener: UnixListener, service: Arc<Service>, quit: Arc<Notify>) {
    let me = paths::uid();
    loop {
        let stream = tokio::select! {
            _ = quit.notified() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        match stream.peer_cred() {
            Ok(cred) if cred.uid() == me => {}
            Ok(cred) => {
                tracing::warn!(peer_uid = cred.uid(), "refused a client of another user");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the peer's credentials; refused");
                continue;
            }
        }
        tokio::spawn(connection(stream, service.clone()));
    }
}

async fn connection(stream: UnixStream, service: Arc<Service>) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let request = match tokio::time::timeout(REQUEST_TIMEOUT, read_message::<_, Request>(&mut reader)).await {
        Ok(Ok(Some(request))) => request,
        Ok(Ok(None)) | Err(_) => return,
        Ok(Err(e)) => {
            let _ = write_message(&mut write, &Event::Error { kind: e.kind, message: e.message }).await;
            return;
        }
    };
    // Only a link is cancelled by a hang-up. A refresh or an unlink that has begun at the
    // provider finishes, or the rotated tokens would be lost.
    let cancellable = matches!(request, Request::Link(_));
    let (tx, mut rx) = mpsc::channel(16);
    if !cancellable {
        tokio::spawn(async move { service.handle(request, tx).await });
        while let Some(event) = rx.recv().await {
            let terminal = event.is_terminal();
            if write_message(&mut write, &event).await.is_err() || terminal {
                return;
            }
        }
        return;
    }
    let work = service.handle(request, tx);
    tokio::pin!(work);
    let mut work_done = false;
    let mut probe = [0u8; 1];
    loop {
        tokio::select! {
            _ = &mut work, if !work_done => work_done = true,
            event = rx.recv() => match event {
                Some(event) => {
                    let terminal = event.is_terminal();
                    if write_message(&mut write, &event).await.is_err() || terminal {
                        return;
                    }
                }
                None => return,
            },
            // The client sends nothing after its request: a read that ends means it hung up,
            // and returning drops `work`, which cancels a running link.
            _ = reader.read(&mut probe) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let second = acquire_lock().unwrap_err();
        assert_eq!(second.kind, ErrorKind::DaemonUnavailable);
        assert!(second.message.contains(&std::process::id().to_string()), "names the first: {}", second.message);
        drop(first);
        assert!(acquire_lock().is_ok(), "the lock is free once the first daemon is gone");
    }
}
