//! Replacing the running daemon with a new version installed over its executable.
//!
//! A package upgrade (dpkg, rpm) or any install renames a new file over the daemon's path, and
//! the running daemon is left executing a deleted file. It notices by polling the path's
//! (device, inode) every [`POLL`]: one `stat`, the same on every Unix, where a file watch differs
//! by platform and by how the install writes. It acts once the new file has stood unchanged for
//! two polls (an install that writes the file in place has finished) and is executable, and once
//! the daemon is quiet ([`Daemon::quiet`]): no request being served, no refresh holding an
//! account's lock, no link waiting for the person, no `pixy exec` run holding a grant. Then the
//! daemon stops serving as on Shutdown (socket removed, lock released) and re-executes the new
//! file at the same path with the same arguments ([`Executable::exec`]: the PID stays, so a
//! service manager keeps tracking it). The new daemon reads the keyring and the index afresh, so
//! a refresh the old one finished is used, not repeated; it says which version it replaced
//! ([`UPGRADED_FROM`]).
//!
//! Security: the daemon runs the new file by itself, holding every secret, so it runs it only
//! when the file and its directory belong to root or to the daemon's user and no one else may
//! write to either (as ssh's StrictModes asks of its files); else it says so and runs on.
//!
//! Invariants: the account locks are held from the moment the daemon is found quiet until the
//! exec ([`Quiet`]), so no refresh starts in between and none is cut off once it reached the
//! provider (its rotated refresh token would be lost). An exec that fails leaves no half-stopped
//! daemon: the caller logs why and exits, and the next client starts a daemon as it always does.

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::Daemon;
use crate::error::{Error, ErrorKind};

/// How often the executable's path is looked at.
pub const POLL: Duration = Duration::from_secs(2);

/// Set for the re-executed daemon: the version it replaced, for its first log line.
pub const UPGRADED_FROM: &str = "PIXY_UPGRADED_FROM";

/// What identifies the file at a path, and whether it changed between two looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    device: u64,
    inode: u64,
    len: u64,
    modified: Option<SystemTime>,
    executable: bool,
    /// The file and its directory belong to root or this user, and no one else may write them.
    trusted: bool,
}

/// Whether a file belongs to root or this user, and no group or other user may write to it.
fn only_ours(meta: &std::fs::Metadata) -> bool {
    (meta.uid() == 0 || meta.uid() == crate::ipc::paths::uid()) && meta.mode() & 0o022 == 0
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        let meta = std::fs::metadata(path).ok().filter(std::fs::Metadata::is_file)?;
        Some(Stamp {
            device: meta.dev(),
            inode: meta.ino(),
            len: meta.len(),
            modified: meta.modified().ok(),
            executable: meta.mode() & 0o111 != 0,
            trusted: only_ours(&meta)
                && path.parent().and_then(|dir| std::fs::metadata(dir).ok()).is_some_and(|d| only_ours(&d)),
        })
    }

    fn same_file(&self, other: &Stamp) -> bool {
        (self.device, self.inode) == (other.device, other.inode)
    }
}

/// The daemon's own executable: where it was started from, with what arguments, and which file
/// stood there then.
#[derive(Debug)]
pub struct Executable {
    path: PathBuf,
    args: Vec<OsString>,
    started: Stamp,
    /// What the last poll saw.
    seen: Option<Stamp>,
    /// The file already said to be waiting, so the log says so once per new file.
    announced: Option<Stamp>,
}

impl Executable {
    /// The running program, read now, before anything can replace it; `None` when its path
    /// cannot be known (then the daemon is never replaced).
    pub fn current() -> Option<Executable> {
        Executable::at(std::env::current_exe().ok()?, std::env::args_os().collect())
    }

    /// The program at `path`, run with `args` (the first being its name).
    pub fn at(path: PathBuf, args: Vec<OsString>) -> Option<Executable> {
        let started = Stamp::of(&path)?;
        Some(Executable { path, args, started, seen: Some(started), announced: None })
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Looks at the path once (call it every [`POLL`]): true once another file than the one
    /// started from stands there, executable, and was the same at the poll before.
    pub fn replaced(&mut self) -> bool {
        let now = Stamp::of(&self.path);
        let before = std::mem::replace(&mut self.seen, now);
        let Some(now) = now.filter(|now| !now.same_file(&self.started)) else { return false };
        if self.announced.is_none_or(|seen| !seen.same_file(&now)) {
            if now.trusted {
                tracing::info!(path = %self.path.display(), "a new version is on disk; the daemon replaces itself once idle");
            } else {
                tracing::warn!(
                    path = %self.path.display(),
                    "a new file is on disk, but it or its directory may be written by others: the daemon does not run it"
                );
            }
            self.announced = Some(now);
        }
        now.executable && now.trusted && before == Some(now)
    }

    /// Runs the file at the path in place of this process, with the same arguments and PID;
    /// returns only when that fails, with why.
    pub fn exec(self) -> Error {
        use std::os::unix::process::CommandExt;
        let mut command = std::process::Command::new(&self.path);
        if let Some((name, rest)) = self.args.split_first() {
            command.arg0(name).args(rest);
        }
        let error = command.env(UPGRADED_FROM, crate::VERSION).exec();
        Error::new(ErrorKind::Internal, format!("cannot start the new version at {}: {error}", self.path.display()))
    }
}

/// Proof that the daemon was quiet: while it is held, every account's lock is, so no refresh
/// or unlink can begin. Kept until the exec.
#[must_use]
pub struct Quiet {
    _locks: Vec<tokio::sync::OwnedMutexGuard<()>>,
}

impl Daemon {
    /// Whether nothing is under way that a restart would cut off: no link waiting for the
    /// person, no `pixy exec` run holding a grant, no account's lock held (a refresh, an unlink,
    /// a link being stored). When so, takes every account's lock and keeps it in the answer.
    /// Requests being served are the socket's to count.
    pub fn quiet(&self) -> Option<Quiet> {
        if self.links_waiting() || self.runs_under_way() {
            return None;
        }
        let accounts = self.accounts.try_lock().ok()?;
        let mut locks = self.account_locks.lock().expect("account locks");
        for account in accounts.iter() {
            locks.entry(account.id.clone()).or_default();
        }
        let held = locks.values().map(|lock| lock.clone().try_lock_owned().ok()).collect::<Option<Vec<_>>>()?;
        Some(Quiet { _locks: held })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn install(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn a_file_renamed_over_the_path_counts_once_it_is_stable_and_executable() {
        let dir = std::env::temp_dir().join(format!("pixy-upgrade-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = install(&dir, "pixy", b"version 1", 0o755);
        let mut exe = Executable::at(path.clone(), vec!["pixy".into(), "daemon".into()]).unwrap();
        assert!(!exe.replaced() && !exe.replaced(), "the file it started from is no news");

        // As dpkg does: the new file under a temporary name, renamed over the old one. Not yet
        // executable: an install that sets the mode last.
        let new = install(&dir, "pixy.dpkg-new", b"version 2", 0o644);
        std::fs::rename(&new, &path).unwrap();
        assert!(!exe.replaced(), "first sight of a new file: wait for it to be stable");
        assert!(!exe.replaced(), "stable but not executable");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(!exe.replaced(), "its mode just changed: one more poll");
        assert!(exe.replaced(), "a stable, executable new file replaces the daemon");

        std::fs::write(&path, b"version 2, still being written").unwrap();
        assert!(!exe.replaced(), "a file still being written waits");
        std::fs::remove_file(&path).unwrap();
        assert!(!exe.replaced() && !exe.replaced(), "a removed executable (a package removal) is no upgrade");
    }

    #[test]
    fn a_new_file_others_may_write_is_never_run() {
        let dir = std::env::temp_dir().join(format!("pixy-upgrade-untrusted-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = install(&dir, "pixy", b"version 1", 0o755);
        let mut exe = Executable::at(path.clone(), vec!["pixy".into(), "daemon".into()]).unwrap();
        let new = install(&dir, "pixy.new", b"version 2", 0o757);
        std::fs::rename(&new, &path).unwrap();
        assert!(!exe.replaced() && !exe.replaced(), "a file anyone may write is not run");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(!exe.replaced() && !exe.replaced(), "nor one in a directory anyone may write");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(!exe.replaced() && exe.replaced(), "the same file, once only its owner may change it, is");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_exec_that_fails_says_why_and_where() {
        let exe = Executable {
            path: PathBuf::from("/nonexistent/pixy"),
            args: vec!["pixy".into()],
            started: Stamp { device: 0, inode: 0, len: 0, modified: None, executable: true, trusted: true },
            seen: None,
            announced: None,
        };
        let error = exe.exec();
        assert!(error.message.starts_with("cannot start the new version at /nonexistent/pixy: "), "{}", error.message);
    }
}
