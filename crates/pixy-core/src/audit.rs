//! The record of every handout: one JSON line per access token handed out or refused, appended to
//! `audit.log` in Pixy's state directory (mode 0600): when, which account, which program (as
//! [`crate::peer`] found it) and its pid, and the grant that allowed it.
//!
//! Security: a line never holds a token, nor anything of one; an error's reason is its kind.
//! Lines are only ever appended. A line that cannot be read (a crash mid-write, a hand edit) costs
//! only itself when the log is read.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

/// What became of a request for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A token was handed out.
    HandedOut,
    /// None was: the reason says why.
    Refused,
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// When, in seconds since the Unix epoch.
    pub time: u64,
    /// Handed out or refused.
    pub outcome: Outcome,
    /// The account asked for (its id, or the name given when no account matched).
    pub account: String,
    /// The program that asked, when it could be found.
    #[serde(default)]
    pub program: Option<String>,
    /// The process that connected.
    #[serde(default)]
    pub pid: Option<u32>,
    /// What allowed it: `program` (a grant for this program), `any` (one for every program),
    /// `once`, `run` (a `pixy exec` run), or `none` for a refusal.
    pub grant: String,
    /// Why it was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ErrorKind>,
}

/// Which lines to read.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this account's.
    pub account: Option<String>,
    /// Only those at or after this time (seconds since the Unix epoch).
    pub since: Option<u64>,
}

impl Filter {
    fn keeps(&self, entry: &Entry) -> bool {
        self.account.as_ref().is_none_or(|a| *a == entry.account) && self.since.is_none_or(|t| entry.time >= t)
    }
}

/// How much of the log's end [`AuditLog::latest`] reads: the window's recent use needs the last
/// few lines, never the whole log.
const LATEST_READS_AT_MOST: u64 = 256 * 1024;

/// The log file.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    /// The log at `path`.
    pub fn new(path: impl Into<PathBuf>) -> AuditLog {
        AuditLog { path: path.into() }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line.
    pub fn append(&self, entry: &Entry) -> Result<()> {
        let mut line = serde_json::to_vec(entry).expect("entries serialize");
        line.push(b'\n');
        let mut options = std::fs::OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        // One write of the whole line: appends of other writers never interleave within it.
        options.open(&self.path).and_then(|mut f| f.write_all(&line)).map_err(|e| self.error(&e))
    }

    /// The lines that `filter` keeps, oldest first, and how many lines could not be read.
    pub fn read(&self, filter: &Filter) -> Result<(Vec<Entry>, usize)> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
            Err(e) => return Err(self.error(&e)),
        };
        let mut unreadable = 0;
        let mut entries = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str::<Entry>(line) {
                Ok(entry) if filter.keeps(&entry) => entries.push(entry),
                Ok(_) => {}
                Err(_) => unreadable += 1,
            }
        }
        Ok((entries, unreadable))
    }

    /// The newest `limit` lines that `filter` keeps, newest first, from the log's last
    /// [`LATEST_READS_AT_MOST`] bytes only.
    pub fn latest(&self, filter: &Filter, limit: usize) -> Result<Vec<Entry>> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = match std::fs::File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.error(&e)),
        };
        let length = file.metadata().map_err(|e| self.error(&e))?.len();
        let start = length.saturating_sub(LATEST_READS_AT_MOST);
        let mut tail = Vec::new();
        file.seek(SeekFrom::Start(start)).and_then(|_| file.read_to_end(&mut tail)).map_err(|e| self.error(&e))?;
        let text = String::from_utf8_lossy(&tail);
        // Starting mid-file, the first line is a piece of one.
        let whole = if start > 0 { text.split_once('\n').map_or("", |(_, rest)| rest) } else { &text };
        Ok(whole
            .lines()
            .rev()
            .filter_map(|line| serde_json::from_str::<Entry>(line).ok())
            .filter(|entry| filter.keeps(entry))
            .take(limit)
            .collect())
    }

    fn error(&self, e: &std::io::Error) -> Error {
        Error::new(ErrorKind::Internal, format!("cannot use the audit log {}: {e}", self.path.display()))
    }
}

/// A time as `YYYY-MM-DD HH:MM:SS` UTC, for people reading the log.
pub fn utc(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let rest = seconds % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(time: u64, account: &str, outcome: Outcome) -> Entry {
        Entry {
            time,
            outcome,
            account: account.into(),
            program: Some("/usr/bin/git".into()),
            pid: Some(42),
            grant: "program".into(),
            reason: (outcome == Outcome::Refused).then_some(ErrorKind::NeedsRelink),
        }
    }

    #[test]
    fn lines_are_appended_privately_and_read_back_filtered() {
        let dir = std::env::temp_dir().join(format!("pixy-audit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let log = AuditLog::new(dir.join("audit.log"));
        log.append(&entry(100, "a", Outcome::HandedOut)).unwrap();
        log.append(&entry(200, "b", Outcome::Refused)).unwrap();
        std::fs::OpenOptions::new().append(true).open(log.path()).unwrap().write_all(b"{half a line\n").unwrap();
        log.append(&entry(300, "a", Outcome::HandedOut)).unwrap();
        let (all, unreadable) = log.read(&Filter::default()).unwrap();
        assert_eq!((all.len(), unreadable), (3, 1), "a broken line costs only itself");
        let (a, _) = log.read(&Filter { account: Some("a".into()), since: Some(150) }).unwrap();
        assert_eq!(a, vec![entry(300, "a", Outcome::HandedOut)]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(log.path()).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn the_latest_lines_come_newest_first_from_the_end_of_a_long_log() {
        let dir = std::env::temp_dir().join(format!("pixy-audit-latest-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let log = AuditLog::new(dir.join("audit.log"));
        assert_eq!(log.latest(&Filter::default(), 5).unwrap(), vec![], "no log, no lines");
        let mut text = String::new();
        for time in 0..5000u64 {
            let account = if time % 2 == 0 { "a" } else { "b" };
            text.push_str(&serde_json::to_string(&entry(time, account, Outcome::HandedOut)).unwrap());
            text.push('\n');
        }
        std::fs::write(log.path(), text).unwrap();
        assert!(std::fs::metadata(log.path()).unwrap().len() > LATEST_READS_AT_MOST, "the log is longer than read");
        let latest = log.latest(&Filter { account: Some("b".into()), since: None }, 3).unwrap();
        assert_eq!(latest.iter().map(|e| e.time).collect::<Vec<_>>(), vec![4999, 4997, 4995]);
    }

    #[test]
    fn times_read_as_utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(utc(1_796_046_323), "2026-11-30 13:45:23");
    }
}
