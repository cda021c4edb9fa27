//! The OS keyring through keyring-core: Secret Service on Linux, Keychain on macOS, Credential
//! Manager on Windows.
//!
//! There is no plaintext fallback: when the keyring is absent or locked, every call fails with a
//! clear error and a hint. The connection is made on first use and retried after a failure, so
//! a keyring started after the daemon is found.

use std::sync::{Arc, Mutex};

use keyring_core::api::CredentialStore;
use zeroize::Zeroizing;

use super::{Field, TokenStore, SERVICE};
use crate::error::{Error, ErrorKind, Result};

#[cfg(target_os = "linux")]
const HINT: &str = "Pixy keeps tokens in the Secret Service: a Secret Service such as gnome-keyring or KeePassXC must be running in your session and unlocked";
#[cfg(target_os = "macos")]
const HINT: &str = "Pixy keeps tokens in the macOS Keychain: unlock your login keychain";
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
const HINT: &str = "Pixy keeps tokens in the Windows Credential Manager";

/// The OS keyring.
#[derive(Default)]
pub struct KeyringStore {
    inner: Mutex<Option<Arc<CredentialStore>>>,
}

impl KeyringStore {
    /// A store that connects on first use.
    pub fn new() -> KeyringStore {
        KeyringStore::default()
    }

    fn connect(&self) -> Result<Arc<CredentialStore>> {
        let mut inner = self.inner.lock().expect("keyring lock");
        if let Some(store) = inner.as_ref() {
            return Ok(store.clone());
        }
        let store = open_platform_store().map_err(|e| unavailable(&e))?;
        *inner = Some(store.clone());
        Ok(store)
    }

    fn entry(&self, account: &str, field: Field) -> Result<keyring_core::Entry> {
        self.named(&field.entry(account))
    }

    fn named(&self, name: &str) -> Result<keyring_core::Entry> {
        self.connect()?.build(SERVICE, name, None).map_err(|e| map_error(&e))
    }
}

impl Drop for KeyringStore {
    fn drop(&mut self) {
        // Closing the Secret Service connection blocks on D-Bus, which panics on an async
        // runtime's thread; the process is ending anyway, so the OS closes it.
        if let Some(store) = self.inner.get_mut().ok().and_then(Option::take) {
            std::mem::forget(store);
        }
    }
}

#[cfg(target_os = "linux")]
fn open_platform_store() -> keyring_core::Result<Arc<CredentialStore>> {
    Ok(zbus_secret_service_keyring_store::Store::new()?)
}

#[cfg(target_os = "macos")]
fn open_platform_store() -> keyring_core::Result<Arc<CredentialStore>> {
    Ok(apple_native_keyring_store::keychain::Store::new()?)
}

#[cfg(target_os = "windows")]
fn open_platform_store() -> keyring_core::Result<Arc<CredentialStore>> {
    Ok(windows_native_keyring_store::Store::new()?)
}

fn unavailable(e: &keyring_core::Error) -> Error {
    Error::new(ErrorKind::KeyringUnavailable, format!("no keyring could be reached ({e}). {HINT}."))
}

fn map_error(e: &keyring_core::Error) -> Error {
    match e {
        keyring_core::Error::NoStorageAccess(_) => {
            Error::new(ErrorKind::KeyringLocked, format!("the keyring is locked or refused access ({e}). {HINT}."))
        }
        keyring_core::Error::PlatformFailure(_) => unavailable(e),
        other => Error::new(ErrorKind::Internal, format!("keyring error: {other}")),
    }
}

impl TokenStore for KeyringStore {
    fn probe(&self) -> Result<()> {
        // A write proves more than a read: a locked collection still answers searches. Each
        // probe writes an entry of its own, so links probing at once never delete each other's.
        let mut nonce = [0u8; 8];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
        let probe = format!("probe-{}", crate::pkce::base64url(&nonce));
        self.put(&probe, Field::AccessToken, "probe")?;
        self.delete(&probe, Field::AccessToken)
    }

    fn put(&self, account: &str, field: Field, value: &str) -> Result<()> {
        self.entry(account, field)?.set_password(value).map_err(|e| map_error(&e))
    }

    fn get(&self, account: &str, field: Field) -> Result<Option<Zeroizing<String>>> {
        match self.entry(account, field)?.get_password() {
            Ok(secret) => Ok(Some(Zeroizing::new(secret))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(map_error(&e)),
        }
    }

    fn delete(&self, account: &str, field: Field) -> Result<()> {
        self.delete_entry(&field.entry(account))
    }

    fn entries(&self) -> Result<Vec<String>> {
        let spec = std::collections::HashMap::from([("service", SERVICE)]);
        let entries = self.connect()?.search(&spec).map_err(|e| map_error(&e))?;
        Ok(entries.iter().filter_map(|entry| entry.get_attributes().ok()?.remove("username")).collect())
    }

    fn delete_entry(&self, name: &str) -> Result<()> {
        match self.named(name)?.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(map_error(&e)),
        }
    }
}
