//! Where Pixy keeps its files.
//!
//! - runtime: `$XDG_RUNTIME_DIR/pixy` (else `/tmp/pixy-UID`), mode 0700 and owned by the user,
//!   checked on every use: the daemon socket and its lock file live there;
//! - config: `$XDG_CONFIG_HOME/pixy` (else `~/.config/pixy`): providers.toml and accounts.json;
//! - state: `$XDG_STATE_HOME/pixy` (else `~/.local/state/pixy`): the audit log;
//! - logs: the platform's place for an application's logs ([`log_dir`]): on Linux the state
//!   directory (XDG counts logs as state), on macOS `~/Library/Logs/Pixy`, on Windows
//!   `%LOCALAPPDATA%\Pixy\logs`. The daemon's log is there, 0600 in a 0700 directory.

use std::path::PathBuf;

use crate::error::{Error, ErrorKind, Result};

fn env_dir(var: &str) -> Option<PathBuf> {
    std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from).filter(|p| p.is_absolute())
}

fn home() -> PathBuf {
    env_dir("HOME").unwrap_or_else(|| PathBuf::from("/"))
}

/// The current user's uid.
pub fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// The runtime directory, created 0700 and checked to be ours and private.
pub fn runtime_dir() -> Result<PathBuf> {
    let dir = match env_dir("XDG_RUNTIME_DIR") {
        Some(base) => base.join("pixy"),
        None => std::env::temp_dir().join(format!("pixy-{}", uid())),
    };
    ensure_private_dir(&dir)?;
    Ok(dir)
}

/// The daemon's socket.
pub fn socket_path() -> Result<PathBuf> {
    Ok(runtime_dir()?.join("daemon.sock"))
}

/// The daemon's single-instance lock.
pub fn lock_path() -> Result<PathBuf> {
    Ok(runtime_dir()?.join("daemon.lock"))
}

/// The config directory.
pub fn config_dir() -> PathBuf {
    env_dir("XDG_CONFIG_HOME").unwrap_or_else(|| home().join(".config")).join("pixy")
}

/// The state directory (the audit log; on Linux also the daemon's log).
pub fn state_dir() -> PathBuf {
    env_dir("XDG_STATE_HOME").unwrap_or_else(|| home().join(".local/state")).join("pixy")
}

/// Where the daemon's log goes, by the platform's convention (see the module doc).
pub fn log_dir() -> PathBuf {
    if cfg!(target_os = "macos") {
        home().join("Library/Logs/Pixy")
    } else if cfg!(windows) {
        env_dir("LOCALAPPDATA").unwrap_or_else(|| home().join("AppData/Local")).join("Pixy").join("logs")
    } else {
        state_dir()
    }
}

/// The daemon's current log file (older ones beside it are `daemon.log.1`, `.2`, ...).
pub fn log_path() -> PathBuf {
    log_dir().join(LOG_NAME)
}

/// The name of the daemon's current log file.
pub const LOG_NAME: &str = "daemon.log";

/// The log directory, created 0700 and checked to be ours and private.
pub fn log_dir_private() -> Result<PathBuf> {
    let dir = log_dir();
    ensure_private_dir(&dir)?;
    Ok(dir)
}

/// The state directory, created 0700 and checked to be ours and private: the audit log lives there.
pub fn state_dir_private() -> Result<PathBuf> {
    let dir = state_dir();
    ensure_private_dir(&dir)?;
    Ok(dir)
}

#[cfg(unix)]
fn ensure_private_dir(dir: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let fail = |why: String| Error::new(ErrorKind::DaemonUnavailable, why);
    match std::fs::DirBuilder::new().mode(0o700).recursive(true).create(dir) {
        Ok(()) => {}
        Err(e) => return Err(fail(format!("cannot create {}: {e}", dir.display()))),
    }
    let meta = std::fs::symlink_metadata(dir).map_err(|e| fail(format!("cannot inspect {}: {e}", dir.display())))?;
    if !meta.is_dir() || meta.uid() != uid() {
        return Err(fail(format!("{} is not a directory owned by you; refusing to use it", dir.display())));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| fail(format!("cannot make {} private: {e}", dir.display())))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn ensure_private_dir(dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::new(ErrorKind::DaemonUnavailable, format!("cannot create {}: {e}", dir.display())))
}
