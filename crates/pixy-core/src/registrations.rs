//! The registration index: Pixy's client registrations, one per authorization server, in a JSON
//! file (`registrations.json` beside the account index), written atomically with mode 0600.
//!
//! It holds client ids, how each was registered and the redirect URI it was registered with;
//! a registration's secrets live in the keyring ([`crate::registration::store_key`]). A file
//! that cannot be read costs only the registrations (Pixy registers again), never an account,
//! and is kept aside as `registrations.json.corrupt-TIME` rather than overwritten.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::index::{io_error, keep_copy, write_private};
use crate::registration::Registration;

const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct RegistrationsFile {
    version: u32,
    registrations: Vec<Registration>,
}

/// The registration index file.
#[derive(Debug, Clone)]
pub struct RegistrationIndex {
    path: PathBuf,
}

impl RegistrationIndex {
    /// The index at `path`.
    pub fn new(path: impl Into<PathBuf>) -> RegistrationIndex {
        RegistrationIndex { path: path.into() }
    }

    /// Where it lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the registrations: none when there is no file; a damaged file is kept aside and
    /// reads as none; a newer one is an error.
    pub fn load(&self) -> Result<Vec<Registration>> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(&self.path, &e)),
        };
        let version = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("version").and_then(serde_json::Value::as_u64));
        if version.is_some_and(|v| v > u64::from(SCHEMA_VERSION)) {
            return Err(Error::new(
                ErrorKind::Internal,
                format!("{} is from a newer Pixy; upgrade Pixy (the file is left as it is)", self.path.display()),
            ));
        }
        match serde_json::from_slice::<RegistrationsFile>(&bytes) {
            Ok(file) if file.version == SCHEMA_VERSION => Ok(file.registrations),
            _ => {
                let aside = keep_copy(&self.path)?;
                std::fs::remove_file(&self.path).map_err(|e| io_error(&self.path, &e))?;
                tracing::warn!(kept_at = %aside.display(), "the registration index was damaged; Pixy registers again where needed");
                Ok(Vec::new())
            }
        }
    }

    /// Writes the registrations atomically.
    pub fn save(&self, registrations: &[Registration]) -> Result<()> {
        let file = RegistrationsFile { version: SCHEMA_VERSION, registrations: registrations.to_vec() };
        let json = serde_json::to_vec_pretty(&file).expect("registrations serialize");
        let tmp = self.path.with_extension(format!("json.tmp-{}", std::process::id()));
        write_private(&self.path, &tmp, &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registration::{ClientAuth, Method};

    fn temp(name: &str) -> RegistrationIndex {
        let dir = std::env::temp_dir().join(format!("pixy-registrations-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        RegistrationIndex::new(dir.join("registrations.json"))
    }

    fn sample() -> Registration {
        Registration {
            issuer: "https://as.example".into(),
            client_id: "c-1".into(),
            method: Method::Dynamic,
            client_auth: ClientAuth::ClientSecretBasic,
            redirect_uri: Some("http://127.0.0.1:40000/callback".into()),
            registration_client_uri: None,
            registered_at: 7,
        }
    }

    #[test]
    fn registrations_round_trip_and_a_missing_file_is_none() {
        let index = temp("roundtrip");
        assert_eq!(index.load().unwrap(), Vec::new());
        index.save(&[sample()]).unwrap();
        assert_eq!(index.load().unwrap(), vec![sample()]);
    }

    #[test]
    fn a_damaged_file_is_kept_aside_and_a_newer_one_is_left_alone() {
        let index = temp("damaged");
        std::fs::create_dir_all(index.path().parent().unwrap()).unwrap();
        std::fs::write(index.path(), b"{ not json").unwrap();
        assert_eq!(index.load().unwrap(), Vec::new());
        assert!(!index.path().exists(), "moved aside, not overwritten");
        let kept = std::fs::read_dir(index.path().parent().unwrap())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("corrupt"))
            .count();
        assert_eq!(kept, 1);

        std::fs::write(index.path(), br#"{"version":9,"registrations":[]}"#).unwrap();
        assert!(index.load().unwrap_err().message.contains("newer Pixy"));
        assert_eq!(std::fs::read(index.path()).unwrap(), br#"{"version":9,"registrations":[]}"#);
    }
}
