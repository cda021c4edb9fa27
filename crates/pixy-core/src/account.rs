//! Account records and the account index: the non-secret half of a linked account.
//!
//! The index is a JSON file (`accounts.json` in Pixy's config directory) with a schema version,
//! written atomically (temp file, fsync, rename) with mode 0600. A file that cannot be read as an
//! index is moved aside (`accounts.json.corrupt-TIMESTAMP`) with a logged message, never
//! overwritten. Secrets never go here: they live in the [`crate::store`].

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind, Result};
use crate::ipc::protocol::{AccountStatus, AccountSummary};

const SCHEMA_VERSION: u32 = 1;

/// What Pixy remembers about a linked account, apart from its secrets.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccountRecord {
    /// Stable id, `PROVIDER-HASH8`.
    pub id: String,
    /// The provider id.
    pub provider: String,
    /// The provider's subject.
    pub subject: String,
    /// Email, name or subject.
    pub label: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// When the tokens were obtained (Unix seconds).
    pub obtained_at: u64,
    /// When the access token expires (Unix seconds), if known.
    pub expires_at: Option<u64>,
    /// Connection status.
    pub status: AccountStatus,
    /// The provider's issuer, to find it again (ad-hoc providers are not in providers.toml).
    pub issuer: String,
    /// The client id the tokens were issued to.
    pub client_id: String,
    /// Whether a refresh token is stored.
    #[serde(default)]
    pub has_refresh_token: bool,
    /// A fingerprint of the stored refresh token (not the token): a different one in the keyring
    /// means another Pixy sharing the keyring refreshed, so its tokens are used as they are.
    #[serde(default)]
    pub refresh_fingerprint: Option<String>,
    /// Why the status is what it is (NeedsRelink, Error).
    #[serde(default)]
    pub reason: Option<String>,
    /// The kind of the last refresh failure, until a refresh succeeds.
    #[serde(default)]
    pub last_error: Option<crate::error::ErrorKind>,
    /// The provider ended a new sign-in of this account when the refresh token it replaced was
    /// revoked (one grant for both): re-linking it leaves the replaced tokens to expire instead.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revocation_ends_grant: bool,
}

impl AccountRecord {
    /// The id of the account of `subject` at `provider` (same person, same id).
    pub fn id_for(provider: &str, issuer: &str, subject: &str) -> String {
        let digest = Sha256::digest(format!("{provider}\0{issuer}\0{subject}").as_bytes());
        let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
        format!("{provider}-{hex}")
    }

    /// What clients see.
    pub fn summary(&self) -> AccountSummary {
        AccountSummary {
            id: self.id.clone(),
            provider: self.provider.clone(),
            label: self.label.clone(),
            status: self.status,
            expires_at: self.expires_at,
            scopes: self.scopes.clone(),
            reason: self.reason.clone(),
            last_error: self.last_error,
        }
    }

    /// When to refresh: at 80% of the token's lifetime or 2 minutes before it expires, whichever
    /// is earlier — but never before half its lifetime, so a token shorter than 4 minutes is not
    /// refreshed on every use; `None` when the expiry is unknown.
    pub fn refresh_due(&self) -> Option<u64> {
        let expires_at = self.expires_at?;
        let lifetime = expires_at.saturating_sub(self.obtained_at);
        let ahead = (self.obtained_at.saturating_add(lifetime / 10 * 8)).min(expires_at.saturating_sub(120));
        // At least a second after the tokens were obtained, so a provider sending `expires_in: 0`
        // cannot make the scheduler refresh in a tight loop.
        Some(ahead.max(self.obtained_at + lifetime / 2).max(self.obtained_at + 1))
    }

    /// A fingerprint of a refresh token: 8 bytes of its SHA-256, enough to notice a change and
    /// useless for recovering it.
    pub fn fingerprint(refresh_token: &str) -> String {
        Sha256::digest(refresh_token.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect()
    }
}

#[derive(Serialize, Deserialize)]
struct IndexFile {
    version: u32,
    accounts: Vec<AccountRecord>,
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

    /// Reads the accounts; a missing file is no accounts, a corrupt one is moved aside.
    pub fn load(&self) -> Result<Vec<AccountRecord>> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(&self.path, &e)),
        };
        match serde_json::from_slice::<IndexFile>(&bytes) {
            Ok(file) if file.version == SCHEMA_VERSION => Ok(file.accounts),
            Ok(file) => Err(Error::new(
                ErrorKind::Internal,
                format!(
                    "{} has schema version {}, newer than this Pixy understands ({SCHEMA_VERSION}); upgrade Pixy",
                    self.path.display(),
                    file.version
                ),
            )),
            Err(e) => {
                let aside = self.path.with_extension(format!("json.corrupt-{}", crate::exchange::now()));
                std::fs::rename(&self.path, &aside).map_err(|e| io_error(&self.path, &e))?;
                tracing::warn!(
                    error = %e,
                    kept_at = %aside.display(),
                    "the account index could not be read; it was kept aside and Pixy starts with no accounts"
                );
                Ok(Vec::new())
            }
        }
    }

    /// Writes the accounts atomically with mode 0600.
    pub fn save(&self, accounts: &[AccountRecord]) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, &e))?;
        let file = IndexFile { version: SCHEMA_VERSION, accounts: accounts.to_vec() };
        let json = serde_json::to_vec_pretty(&file).expect("records serialize");
        let tmp = self.path.with_extension(format!("json.tmp-{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut f = options.open(&tmp)?;
            f.write_all(&json)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io_error(&self.path, &e)
        })
    }
}

fn io_error(path: &Path, e: &std::io::Error) -> Error {
    Error::new(ErrorKind::Internal, format!("cannot use {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_index(name: &str) -> AccountIndex {
        let dir = std::env::temp_dir().join(format!("pixy-index-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        AccountIndex::new(dir.join("accounts.json"))
    }

    fn record(id: &str) -> AccountRecord {
        AccountRecord {
            id: id.into(),
            provider: "demo".into(),
            subject: "s".into(),
            label: "l".into(),
            scopes: vec!["openid".into()],
            obtained_at: 1,
            expires_at: Some(2),
            status: AccountStatus::Connected,
            issuer: "http://i".into(),
            client_id: "c".into(),
            has_refresh_token: true,
            refresh_fingerprint: None,
            reason: None,
            last_error: None,
            revocation_ends_grant: false,
        }
    }

    #[test]
    fn refresh_is_due_at_80_percent_or_2_minutes_before_expiry() {
        let mut r = record("a");
        r.obtained_at = 1000;
        r.expires_at = Some(1000 + 3600);
        assert_eq!(r.refresh_due(), Some(1000 + 2880), "80% of an hour comes first");
        r.expires_at = Some(1000);
        assert_eq!(r.refresh_due(), Some(1001), "a zero lifetime still waits between refreshes");
        r.expires_at = Some(1000 + 300);
        assert_eq!(r.refresh_due(), Some(1000 + 180), "2 minutes before a 5-minute token's end");
        r.expires_at = Some(1000 + 60);
        assert_eq!(
            r.refresh_due(),
            Some(1000 + 30),
            "a one-minute token is refreshed at half its life, not on every use"
        );
        r.expires_at = None;
        assert_eq!(r.refresh_due(), None);
    }

    #[test]
    fn saved_accounts_load_back_and_the_file_is_private() {
        let index = temp_index("roundtrip");
        index.save(&[record("a"), record("b")]).unwrap();
        assert_eq!(index.load().unwrap(), vec![record("a"), record("b")]);
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
        assert_eq!(index.load().unwrap(), Vec::new());
        let kept: Vec<_> = std::fs::read_dir(index.path().parent().unwrap())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("corrupt"))
            .collect();
        assert_eq!(kept.len(), 1, "the corrupt file is kept beside the index");
        assert_eq!(std::fs::read(kept[0].path()).unwrap(), b"{ not json");
    }

    #[test]
    fn account_ids_are_stable_per_subject_and_provider() {
        let a = AccountRecord::id_for("demo", "http://i", "alice");
        assert_eq!(a, AccountRecord::id_for("demo", "http://i", "alice"));
        assert_ne!(a, AccountRecord::id_for("demo", "http://i", "bob"));
        assert!(a.starts_with("demo-") && a.len() == "demo-".len() + 8);
    }
}
