//! The daemon's log file: appended to, rotated by size, with a bounded number of old files.
//!
//! `daemon.log` grows to [`MAX_FILE_BYTES`]; the line that would pass that first moves it to
//! `daemon.log.1` (`.1` to `.2`, and so on, the oldest past [`KEPT_FILES`] deleted), so however long
//! a runaway loop logs, the log never holds more than `(KEPT_FILES + 1) * MAX_FILE_BYTES` plus one
//! line. When a rename fails, the current file is emptied instead: the bound holds either way.
//!
//! Why a writer of our own: tracing-appender's rolling appender rotates by time only (minutely,
//! hourly, daily) with a cap on the number of files, so a loop that logs gigabytes within the hour
//! still fills the disk; the crates that rotate by size (file-rotate, tracing-rolling-file) are
//! thinly kept and create their files with the process umask. This is one small `Write`, which
//! tracing-subscriber takes as it is.
//!
//! Invariants: every file is created 0600, and one left wider by an older Pixy is narrowed when it
//! is opened; the directory is the caller's to make private ([`crate::ipc::paths::log_dir_private`]).
//! A write that fails (a full disk) is reported to the caller, which for tracing means dropped: the
//! log never stops the daemon.
//!
//! Security: the file holds what the daemon logs, which by the house rules is booleans and
//! redacted URLs, never a code, state, verifier or token.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The size at which the current file is rotated.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// How many rotated files are kept beside the current one.
pub const KEPT_FILES: usize = 4;

/// A log file that rotates by size; see the module doc.
#[derive(Debug)]
pub struct RotatingLog {
    dir: PathBuf,
    name: String,
    max_bytes: u64,
    kept: usize,
    file: Option<File>,
    size: u64,
}

impl RotatingLog {
    /// Opens (or creates) `dir/name` for appending, with the default limits.
    pub fn open(dir: &Path, name: &str) -> io::Result<RotatingLog> {
        RotatingLog::with_limits(dir, name, MAX_FILE_BYTES, KEPT_FILES)
    }

    /// As [`RotatingLog::open`], rotating at `max_bytes` and keeping `kept` old files. Old files
    /// numbered past `kept` (left by a build that kept more) are removed now.
    pub fn with_limits(dir: &Path, name: &str, max_bytes: u64, kept: usize) -> io::Result<RotatingLog> {
        let mut log =
            RotatingLog { dir: dir.to_path_buf(), name: name.to_string(), max_bytes, kept, file: None, size: 0 };
        log.remove_beyond_cap();
        let file = open_private(&log.path(0), false)?;
        log.size = file.metadata()?.len();
        log.file = Some(file);
        Ok(log)
    }

    /// Every file of this log that exists, oldest first (the current one last).
    pub fn files(&self) -> Vec<PathBuf> {
        (0..=self.kept).rev().map(|n| self.path(n)).filter(|p| p.is_file()).collect()
    }

    /// The current file (`n == 0`) or the `n`th older one.
    fn path(&self, n: usize) -> PathBuf {
        match n {
            0 => self.dir.join(&self.name),
            n => self.dir.join(format!("{}.{n}", self.name)),
        }
    }

    fn remove_beyond_cap(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        let prefix = format!("{}.", self.name);
        for entry in entries.flatten() {
            let name = entry.file_name();
            let number = name.to_str().and_then(|n| n.strip_prefix(&prefix)).and_then(|n| n.parse::<usize>().ok());
            if number.is_some_and(|n| n > self.kept) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        let _ = std::fs::remove_file(self.path(self.kept));
        for n in (1..self.kept).rev() {
            let _ = std::fs::rename(self.path(n), self.path(n + 1));
        }
        if self.kept > 0 {
            std::fs::rename(self.path(0), self.path(1))?;
        }
        self.file = Some(open_private(&self.path(0), false)?);
        self.size = 0;
        Ok(())
    }
}

impl Write for RotatingLog {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.size > 0 && self.size + buf.len() as u64 > self.max_bytes && self.rotate().is_err() {
            // Cannot move it aside: start it over rather than grow past the bound.
            self.file = Some(open_private(&self.path(0), true)?);
            self.size = 0;
        }
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(open_private(&self.path(0), false)?),
        };
        file.write_all(buf)?;
        self.size += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().map_or(Ok(()), |f| f.flush())
    }
}

/// Opens a log file for appending (or emptied, with `truncate`), 0600 and narrowed to that if it
/// was wider.
fn open_private(path: &Path, truncate: bool) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true);
    if truncate {
        options.write(true).truncate(true);
    } else {
        options.append(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let file = options.mode(0o600).open(path)?;
        if file.metadata()?.permissions().mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(file)
    }
    #[cfg(not(unix))]
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pixy-log-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn line(n: usize) -> String {
        format!("line {n:04} of a runaway loop\n")
    }

    #[test]
    fn the_log_rotates_at_its_size_and_keeps_only_the_capped_number_of_old_files() {
        let dir = scratch("rotate");
        let mut log = RotatingLog::with_limits(&dir, "daemon.log", 100, 2).unwrap();
        for n in 0..50 {
            log.write_all(line(n).as_bytes()).unwrap();
        }
        let names: Vec<String> =
            log.files().iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["daemon.log.2", "daemon.log.1", "daemon.log"], "two old files and the current one");
        assert!(!dir.join("daemon.log.3").exists(), "nothing is kept past the cap");
        let total: u64 = log.files().iter().map(|p| std::fs::metadata(p).unwrap().len()).sum();
        assert!(total <= 3 * 100, "the log is bounded by its files' cap, not by what was logged ({total} bytes)");
        for path in log.files() {
            assert!(std::fs::metadata(&path).unwrap().len() <= 100, "{} is past its size", path.display());
        }
        let current = std::fs::read_to_string(dir.join("daemon.log")).unwrap();
        assert!(current.ends_with(&line(49)), "the newest line is in the current file: {current}");
        let everything: String = log.files().iter().map(|p| std::fs::read_to_string(p).unwrap()).collect();
        assert!(!everything.contains(&line(0)), "the oldest lines went with the oldest file");
        let order: Vec<usize> = everything
            .lines()
            .map(|l| l.trim_start_matches("line ").split(' ').next().unwrap().parse().unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[1] == w[0] + 1), "oldest first, nothing lost in between: {order:?}");
    }

    #[test]
    fn old_files_past_the_cap_are_removed_when_the_log_opens() {
        let dir = scratch("cap");
        for name in ["daemon.log.1", "daemon.log.3", "daemon.log.9", "daemon.log.old", "other.log.7"] {
            std::fs::write(dir.join(name), "old\n").unwrap();
        }
        let _log = RotatingLog::with_limits(&dir, "daemon.log", 100, 2).unwrap();
        assert!(dir.join("daemon.log.1").exists(), "a file within the cap stays");
        assert!(!dir.join("daemon.log.3").exists() && !dir.join("daemon.log.9").exists(), "past the cap: removed");
        assert!(dir.join("daemon.log.old").exists() && dir.join("other.log.7").exists(), "not this log's: left alone");
    }

    #[test]
    fn a_log_that_appends_across_opens_rotates_by_its_whole_size() {
        let dir = scratch("reopen");
        std::fs::write(dir.join("daemon.log"), "x".repeat(90)).unwrap();
        let mut log = RotatingLog::with_limits(&dir, "daemon.log", 100, 1).unwrap();
        log.write_all(line(1).as_bytes()).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("daemon.log.1")).unwrap(), "x".repeat(90), "the earlier run's log");
        assert_eq!(std::fs::read_to_string(dir.join("daemon.log")).unwrap(), line(1));
    }

    #[cfg(unix)]
    #[test]
    fn every_log_file_is_private_even_one_an_older_pixy_left_wide() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("private");
        std::fs::write(dir.join("daemon.log"), "an older daemon's log\n").unwrap();
        std::fs::set_permissions(dir.join("daemon.log"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut log = RotatingLog::with_limits(&dir, "daemon.log", 40, 3).unwrap();
        for n in 0..10 {
            log.write_all(line(n).as_bytes()).unwrap();
        }
        assert!(log.files().len() > 2, "it rotated");
        for path in log.files() {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{} is the user's alone", path.display());
        }
    }
}
