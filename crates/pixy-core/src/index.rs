//! The account index: the account records in a JSON file (`accounts.json` in Pixy's config
//! directory) with a schema version and the version of Pixy that wrote it, written atomically
//! (temp file, fsync, rename) with mode 0600.
//!
//! Reading it recovers what can be recovered: an account that cannot be read costs only itself,
//! and a value this version does not know (a status, an error kind) degrades that one field.
//! Whatever is lost is said, for `pixy status` and the window to show, and the file as it was is
//! kept beside the index (`accounts.json.corrupt-TIMESTAMP`), never overwritten. Secrets never go
//! here.
//!
//! Schemas: 1 held the accounts; 2 adds `written_by`, the Pixy version that wrote the file, so a
//! Pixy too old for it can say which one did. A schema 1 file is migrated when read: first a copy
//! of it is kept as `accounts.json.v1` (what a downgrade recovers by hand), then the index is
//! rewritten atomically, so a crash mid-way leaves the old file or the new one. An index of a newer
//! schema is refused with a sentence naming both versions and is never written: not when read,
//! and not by a save either, which checks the file on disk first.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::account::AccountRecord;
use crate::error::{Error, ErrorKind, Result};

/// The schema this Pixy reads and writes.
pub const SCHEMA_VERSION: u32 = 2;

/// The oldest schema this Pixy migrates from.
const OLDEST_MIGRATED: u32 = 1;

#[derive(Serialize)]
struct IndexFile<'a> {
    version: u32,
    written_by: &'a str,
    accounts: &'a [AccountRecord],
}

/// What reading the index found.
#[derive(Debug, Default, PartialEq)]
pub struct LoadedIndex {
    /// The accounts that could be read.
    pub accounts: Vec<AccountRecord>,
    /// What could not be read, in a sentence for the person; `None` when nothing was lost.
    pub problem: Option<String>,
}

/// The index file.
#[derive(Debug, Clone)]
pub struct AccountIndex {
    path: PathBuf,
}

impl AccountIndex {
    /// The index at `path`.
    pub fn new(path: impl Into<PathBuf>) -> AccountIndex {
        AccountIndex { path: path.into() }
    }

    /// Where the index lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the accounts: a missing file is no accounts; a damaged one gives what can be read,
    /// says what was lost and keeps a copy of it aside; an older schema is migrated (a copy of it
    /// kept beside it first); a newer one is an error and the file is left as it is.
    pub fn load(&self) -> Result<LoadedIndex> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LoadedIndex::default()),
            Err(e) => return Err(io_error(&self.path, &e)),
        };
        let document = match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(document) => document,
            Err(e) => return self.set_aside(&format!("it is not JSON ({e})"), Vec::new()),
        };
        let version = match document.get("version").and_then(serde_json::Value::as_u64) {
            Some(v) if (u64::from(OLDEST_MIGRATED)..=u64::from(SCHEMA_VERSION)).contains(&v) => v,
            Some(v) if v > u64::from(SCHEMA_VERSION) => return Err(self.newer(v, &document)),
            Some(v) => {
                return self.set_aside(&format!("its schema version {v} is not one Pixy ever wrote"), Vec::new())
            }
            None => return self.set_aside("it has no schema version", Vec::new()),
        };
        let Some(entries) = document.get("accounts").and_then(serde_json::Value::as_array) else {
            return self.set_aside("it has no list of accounts", Vec::new());
        };
        let mut accounts = Vec::new();
        let mut unreadable = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            match serde_json::from_value::<AccountRecord>(entry.clone()) {
                Ok(record) => accounts.push(record),
                Err(_) => unreadable.push(match entry.get("id").and_then(serde_json::Value::as_str) {
                    Some(id) => crate::text::printable(id, 80),
                    None => format!("#{}", i + 1),
                }),
            }
        }
        if !unreadable.is_empty() {
            let why = format!("{} of its accounts could not be read ({})", unreadable.len(), unreadable.join(", "));
            return self.set_aside(&why, accounts);
        }
        if version < u64::from(SCHEMA_VERSION) {
            self.migrate(version, &bytes, &accounts)?;
        }
        Ok(LoadedIndex { accounts, problem: None })
    }

    /// Where a migration keeps the file of schema `version` as it was.
    pub fn backup_path(&self, version: u64) -> PathBuf {
        self.path.with_extension(format!("json.v{version}"))
    }

    /// Rewrites an index of an older schema: the file as it was is kept first (replacing an
    /// older copy: the latest is what a downgrade wants), then the index is written anew. Each
    /// write is atomic, so a crash between or during them leaves a readable index.
    fn migrate(&self, version: u64, bytes: &[u8], accounts: &[AccountRecord]) -> Result<()> {
        let backup = self.backup_path(version);
        let tmp = backup.with_extension(format!("v{version}.tmp-{}", std::process::id()));
        write_private(&backup, &tmp, bytes)?;
        self.save(accounts)?;
        tracing::info!(
            from = version,
            to = SCHEMA_VERSION,
            kept_at = %backup.display(),
            "the account index was migrated to this Pixy's schema"
        );
        Ok(())
    }

    /// Whether the index on disk has a newer schema than this Pixy's (a refusal that lasts until
    /// Pixy is upgraded, where a failure to read or write may pass).
    pub fn is_newer(&self) -> bool {
        std::fs::read(&self.path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .and_then(|document| document.get("version").and_then(serde_json::Value::as_u64))
            .is_some_and(|version| version > u64::from(SCHEMA_VERSION))
    }

    /// The refusal of an index of the newer schema `version`, naming the Pixy that wrote it when
    /// the file says.
    fn newer(&self, version: u64, document: &serde_json::Value) -> Error {
        let writer = match document.get("written_by").and_then(serde_json::Value::as_str) {
            Some(by) => format!("was written by Pixy {} (schema {version})", crate::text::printable(by, 40)),
            None => format!("has schema {version}"),
        };
        Error::new(
            ErrorKind::Internal,
            format!(
                "{} {writer}, newer than this Pixy {} (schema {SCHEMA_VERSION}) understands; upgrade Pixy — \
                 the file is left as it is",
                self.path.display(),
                crate::VERSION
            ),
        )
    }

    /// Keeps a copy of a damaged index beside it, rewrites the index with the accounts that could
    /// be read (so the next start does not lose them again), and says what was lost.
    fn set_aside(&self, why: &str, accounts: Vec<AccountRecord>) -> Result<LoadedIndex> {
        let aside = keep_copy(&self.path)?;
        self.save(&accounts)?;
        let problem = format!(
            "{} was damaged: {why}. Pixy kept it as {}; an account that was lost must be linked again.",
            self.path.display(),
            aside.display()
        );
        tracing::warn!(kept_at = %aside.display(), %problem, "the account index was damaged");
        Ok(LoadedIndex { accounts, problem: Some(problem) })
    }

    /// Deletes the temporary files of writes that never finished (a crash between write and
    /// rename); only the one daemon writes the index, so every one but this process's own (a write
    /// under way) is stale.
    pub fn sweep_temp_files(&self) -> usize {
        let (Some(dir), Some(name)) = (self.path.parent(), self.path.file_name()) else { return 0 };
        let prefix = format!("{}.tmp-", name.to_string_lossy());
        let own = self.temp_path();
        let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
        entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix) && e.path() != own)
            .filter(|e| std::fs::remove_file(e.path()).is_ok())
            .count()
    }

    fn temp_path(&self) -> PathBuf {
        self.path.with_extension(format!("json.tmp-{}", std::process::id()))
    }

    /// Writes the accounts atomically with mode 0600, unless the file on disk is of a newer
    /// schema (a newer Pixy wrote it since it was read): that is refused and the file kept.
    pub fn save(&self, accounts: &[AccountRecord]) -> Result<()> {
        if let Ok(bytes) = std::fs::read(&self.path) {
            if let Ok(document) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                match document.get("version").and_then(serde_json::Value::as_u64) {
                    Some(v) if v > u64::from(SCHEMA_VERSION) => return Err(self.newer(v, &document)),
                    _ => {}
                }
            }
        }
        let file = IndexFile { version: SCHEMA_VERSION, written_by: crate::VERSION, accounts };
        let json = serde_json::to_vec_pretty(&file).expect("records serialize");
        write_private(&self.path, &self.temp_path(), &json)
    }
}

/// Copies a damaged file to `NAME.json.corrupt-TIME` beside it (with `-N` added when that name is
/// taken: an earlier copy is never overwritten) and returns the copy's path.
pub(crate) fn keep_copy(path: &Path) -> Result<PathBuf> {
    let bytes = std::fs::read(path).map_err(|e| io_error(path, &e))?;
    let stem = format!("json.corrupt-{}", crate::clock::Clock::now(&crate::clock::SystemClock));
    for n in 0u32.. {
        let aside = path.with_extension(if n == 0 { stem.clone() } else { format!("{stem}-{n}") });
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&aside) {
            Ok(mut file) => {
                file.write_all(&bytes).and_then(|()| file.sync_all()).map_err(|e| io_error(&aside, &e))?;
                return Ok(aside);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_error(&aside, &e)),
        }
    }
    unreachable!("some name is free")
}

/// Writes `bytes` to `path` atomically (a temp file beside it, fsync, rename, fsync of the
/// directory) with mode 0600: a crash leaves the old file or the new one, never half of one.
pub(crate) fn write_private(path: &Path, tmp: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, &e))?;
    let write = || -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(tmp, path)?;
        // The rename itself is durable only once the directory is.
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(tmp);
        io_error(path, &e)
    })
}

pub(crate) fn io_error(path: &Path, e: &std::io::Error) -> Error {
    Error::new(ErrorKind::Internal, format!("cannot use {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::AccountStatus;

    fn temp_index(name: &str) -> AccountIndex {
        let dir = std::env::temp_dir().join(format!("pixy-index-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        AccountIndex::new(dir.join("accounts.json"))
    }

    #[test]
    fn saved_accounts_load_back_and_the_file_is_private() {
        let index = temp_index("roundtrip");
        index.save(&[AccountRecord::sample("a"), AccountRecord::sample("b")]).unwrap();
        assert_eq!(index.load().unwrap().accounts, vec![AccountRecord::sample("a"), AccountRecord::sample("b")]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(index.path()).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "the index must be readable by its owner only");
        }
    }

    #[test]
    fn a_corrupt_index_is_kept_aside_not_overwritten() {
        let index = temp_index("corrupt");
        std::fs::create_dir_all(index.path().parent().unwrap()).unwrap();
        std::fs::write(index.path(), b"{ not json").unwrap();
        let loaded = index.load().unwrap();
        assert_eq!(loaded.accounts, Vec::new());
        assert!(loaded.problem.unwrap().contains("is not JSON"), "the person is told");
        let kept: Vec<_> = std::fs::read_dir(index.path().parent().unwrap())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("corrupt"))
            .collect();
        assert_eq!(kept.len(), 1, "the corrupt file is kept beside the index");
        assert_eq!(std::fs::read(kept[0].path()).unwrap(), b"{ not json");
    }

    fn kept_copies(index: &AccountIndex) -> usize {
        std::fs::read_dir(index.path().parent().unwrap())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("corrupt"))
            .count()
    }

    #[test]
    fn one_unreadable_account_costs_only_itself_and_unknown_values_degrade_one_field() {
        let index = temp_index("partial");
        index.save(&[AccountRecord::sample("a"), AccountRecord::sample("b"), AccountRecord::sample("c")]).unwrap();
        let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(index.path()).unwrap()).unwrap();
        doc["accounts"][0]["status"] = "teleported".into();
        doc["accounts"][0]["last_error"] = "cosmic_rays".into();
        doc["accounts"][1].as_object_mut().unwrap().remove("subject");
        std::fs::write(index.path(), serde_json::to_vec(&doc).unwrap()).unwrap();

        let loaded = index.load().unwrap();
        let ids: Vec<_> = loaded.accounts.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["a", "c"], "only the account missing a field is lost");
        assert_eq!(loaded.accounts[0].status, AccountStatus::Error, "an unknown status degrades that field");
        assert_eq!(loaded.accounts[0].last_error, None);
        let problem = loaded.problem.expect("the loss is said");
        assert!(problem.contains("1 of its accounts could not be read (b)"), "{problem}");
        assert_eq!(kept_copies(&index), 1, "the file as it was is kept aside");
        let again = index.load().unwrap();
        assert_eq!((again.accounts.len(), again.problem), (2, None), "the index now holds what was readable");
        assert_eq!(kept_copies(&index), 1);
    }

    #[test]
    fn version_problems_are_named_for_what_they_are() {
        let index = temp_index("versions");
        std::fs::create_dir_all(index.path().parent().unwrap()).unwrap();
        std::fs::write(index.path(), br#"{"version":0,"accounts":[]}"#).unwrap();
        let problem = index.load().unwrap().problem.unwrap();
        assert!(problem.contains("schema version 0 is not one Pixy ever wrote"), "not called newer: {problem}");
    }

    /// An index as Pixy's schema 1 wrote it: `{"version": 1, "accounts": [...]}`, nothing else.
    fn version_1_file(index: &AccountIndex, accounts: &[AccountRecord]) -> Vec<u8> {
        let bytes = serde_json::to_vec_pretty(&serde_json::json!({ "version": 1, "accounts": accounts })).unwrap();
        std::fs::create_dir_all(index.path().parent().unwrap()).unwrap();
        std::fs::write(index.path(), &bytes).unwrap();
        bytes
    }

    fn on_disk(index: &AccountIndex) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(index.path()).unwrap()).unwrap()
    }

    #[test]
    fn a_version_1_index_is_migrated_with_its_accounts_and_a_copy_of_it_is_kept() {
        let index = temp_index("migrate");
        let accounts = vec![AccountRecord::sample("a"), AccountRecord::sample("b")];
        let old = version_1_file(&index, &accounts);

        let loaded = index.load().unwrap();
        assert_eq!(loaded, LoadedIndex { accounts: accounts.clone(), problem: None }, "nothing is lost");
        let now = on_disk(&index);
        assert_eq!(now["version"], SCHEMA_VERSION, "the index is rewritten in this schema");
        assert_eq!(now["written_by"], crate::VERSION, "and says which Pixy wrote it");
        assert_eq!(std::fs::read(index.backup_path(1)).unwrap(), old, "the version 1 file is kept byte for byte");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(index.backup_path(1)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "the kept copy is as private as the index");
        }
        assert_eq!(index.load().unwrap().accounts, accounts, "the migrated index reads back");
    }

    #[test]
    fn a_migration_that_cannot_write_leaves_the_version_1_file_as_it_was() {
        let index = temp_index("migrate-fails");
        let old = version_1_file(&index, &[AccountRecord::sample("a")]);
        // The rewrite's temporary file cannot be created where a directory stands: the fault a
        // full disk or a crash before the rename would leave.
        std::fs::create_dir_all(index.temp_path()).unwrap();
        assert!(index.load().is_err(), "a migration that cannot finish is an error, not an empty index");
        assert_eq!(std::fs::read(index.path()).unwrap(), old, "the index is still the version 1 file, whole");

        std::fs::remove_dir(index.temp_path()).unwrap();
        assert_eq!(index.load().unwrap().accounts, vec![AccountRecord::sample("a")], "the next start migrates it");
        assert_eq!(on_disk(&index)["version"], SCHEMA_VERSION);
        assert_eq!(std::fs::read(index.backup_path(1)).unwrap(), old);
    }

    #[test]
    fn a_newer_index_is_refused_naming_both_versions_and_left_byte_identical() {
        let index = temp_index("newer");
        std::fs::create_dir_all(index.path().parent().unwrap()).unwrap();
        let newer = br#"{"version":3,"written_by":"0.3.0","accounts":[{"id":"a","future":true}]}"#;
        std::fs::write(index.path(), newer).unwrap();

        let err = index.load().unwrap_err();
        let expected = format!(
            "was written by Pixy 0.3.0 (schema 3), newer than this Pixy {} (schema {SCHEMA_VERSION}) understands; \
             upgrade Pixy — the file is left as it is",
            crate::VERSION
        );
        assert!(err.message.contains(&expected), "{}", err.message);
        assert!(err.message.contains(&index.path().display().to_string()), "the file is named: {}", err.message);
        let saved = index.save(&[AccountRecord::sample("b")]).unwrap_err();
        assert_eq!(saved.message, err.message, "a save is refused with the same sentence");
        assert_eq!(std::fs::read(index.path()).unwrap(), newer, "neither reading nor saving touched it");
        assert!(!index.backup_path(3).exists() && kept_copies(&index) == 0, "nothing is made of it either");

        std::fs::write(index.path(), br#"{"version":99,"accounts":[]}"#).unwrap();
        let err = index.load().unwrap_err();
        assert!(err.message.contains("has schema 99, newer than this Pixy"), "{}", err.message);
    }
}
