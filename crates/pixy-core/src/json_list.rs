//! A list of records kept in a small versioned JSON file, `{"version": N, "<key>": [...]}`,
//! written atomically with mode 0600: Pixy's client registrations and the consent grants.
//!
//! Losing such a list costs only what it lists (Pixy registers again, or asks again), never an
//! account: a file that cannot be read is kept aside as `NAME.json.corrupt-TIME` and reads as
//! empty. A file from a newer Pixy is an error and is left exactly as it is. Each file records
//! the Pixy version that wrote it (`written_by`, which older readers ignore), so that error can
//! name it.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::index::{io_error, keep_copy, write_private};

/// One list file.
#[derive(Debug, Clone)]
pub struct JsonList<T> {
    path: PathBuf,
    key: &'static str,
    version: u32,
    _records: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> JsonList<T> {
    /// The list under `key` in the file at `path`, at schema `version`.
    pub fn new(path: impl Into<PathBuf>, key: &'static str, version: u32) -> JsonList<T> {
        JsonList { path: path.into(), key, version, _records: PhantomData }
    }

    /// Where it lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the records: none when there is no file; a damaged file is kept aside and reads as
    /// none; a newer one is an error.
    pub fn load(&self) -> Result<Vec<T>> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(&self.path, &e)),
        };
        let value = serde_json::from_slice::<serde_json::Value>(&bytes).ok();
        let version = value.as_ref().and_then(|v| v.get("version")).and_then(serde_json::Value::as_u64);
        if let Some(v) = version.filter(|v| *v > u64::from(self.version)) {
            let writer = match value.as_ref().and_then(|d| d.get("written_by")).and_then(serde_json::Value::as_str) {
                Some(by) => format!("was written by Pixy {} (schema {v})", crate::text::printable(by, 40)),
                None => format!("is from a newer Pixy (schema {v})"),
            };
            return Err(Error::new(
                ErrorKind::Internal,
                format!(
                    "{} {writer}, newer than this Pixy {} (schema {}) understands; upgrade Pixy — the file is left \
                     as it is",
                    self.path.display(),
                    crate::VERSION,
                    self.version
                ),
            ));
        }
        let records = value
            .filter(|_| version == Some(u64::from(self.version)))
            .and_then(|mut v| v.get_mut(self.key).map(serde_json::Value::take))
            .and_then(|list| serde_json::from_value::<Vec<T>>(list).ok());
        match records {
            Some(records) => Ok(records),
            None => {
                let aside = keep_copy(&self.path)?;
                std::fs::remove_file(&self.path).map_err(|e| io_error(&self.path, &e))?;
                tracing::warn!(kept_at = %aside.display(), list = self.key, "a damaged list was set aside");
                Ok(Vec::new())
            }
        }
    }

    /// Writes the records atomically.
    pub fn save(&self, records: &[T]) -> Result<()> {
        let mut file = serde_json::Map::new();
        file.insert("version".into(), self.version.into());
        file.insert("written_by".into(), crate::VERSION.into());
        file.insert(self.key.into(), serde_json::to_value(records).expect("records serialize"));
        let json = serde_json::to_vec_pretty(&file).expect("a JSON object serializes");
        let tmp = self.path.with_extension(format!("json.tmp-{}", std::process::id()));
        write_private(&self.path, &tmp, &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> JsonList<String> {
        let dir = std::env::temp_dir().join(format!("pixy-json-list-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        JsonList::new(dir.join("things.json"), "things", 1)
    }

    #[test]
    fn records_round_trip_privately_and_a_missing_file_is_none() {
        let list = temp("roundtrip");
        assert_eq!(list.load().unwrap(), Vec::<String>::new());
        list.save(&["a".into(), "b".into()]).unwrap();
        assert_eq!(list.load().unwrap(), vec!["a".to_string(), "b".to_string()]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(list.path()).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn a_damaged_file_is_kept_aside_and_a_newer_one_is_left_alone() {
        let list = temp("damaged");
        std::fs::create_dir_all(list.path().parent().unwrap()).unwrap();
        for damaged in [&b"{ not json"[..], br#"{"version":1,"things":[1,2]}"#, br#"{"version":1}"#] {
            std::fs::write(list.path(), damaged).unwrap();
            assert_eq!(list.load().unwrap(), Vec::<String>::new());
            assert!(!list.path().exists(), "moved aside, not overwritten");
        }
        let kept = std::fs::read_dir(list.path().parent().unwrap())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("corrupt"))
            .count();
        assert_eq!(kept, 3, "each damaged file was kept");
        std::fs::write(list.path(), br#"{"version":9,"things":[]}"#).unwrap();
        assert!(list.load().unwrap_err().message.contains("is from a newer Pixy (schema 9)"));
        assert_eq!(std::fs::read(list.path()).unwrap(), br#"{"version":9,"things":[]}"#);
        std::fs::write(list.path(), br#"{"version":9,"written_by":"9.0.0","things":[]}"#).unwrap();
        let message = list.load().unwrap_err().message;
        assert!(message.contains("was written by Pixy 9.0.0 (schema 9), newer than this Pixy"), "{message}");
    }
}
