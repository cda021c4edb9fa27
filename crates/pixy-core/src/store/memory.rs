//! An in-memory [`TokenStore`] for unit tests. It can be told to fail like a locked keyring.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use zeroize::Zeroizing;

use super::{Field, TokenStore};
use crate::error::{Error, ErrorKind, Result};

/// Secrets in a map; never use outside tests.
#[derive(Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<String, Zeroizing<String>>>,
    locked: AtomicBool,
}

impl MemoryStore {
    /// An empty, unlocked store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Makes every call fail as a locked keyring does.
    pub fn set_locked(&self, locked: bool) {
        self.locked.store(locked, Ordering::SeqCst);
    }

    /// How many entries are stored.
    pub fn len(&self) -> usize {
        self.entries.lock().expect("memory store lock").len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn check(&self) -> Result<()> {
        if self.locked.load(Ordering::SeqCst) {
            return Err(Error::new(ErrorKind::KeyringLocked, "the keyring is locked"));
        }
        Ok(())
    }
}

impl TokenStore for MemoryStore {
    fn probe(&self) -> Result<()> {
        self.check()
    }

    fn put(&self, account: &str, field: Field, value: &str) -> Result<()> {
        self.check()?;
        self.entries.lock().expect("memory store lock").insert(field.entry(account), Zeroizing::new(value.to_string()));
        Ok(())
    }

    fn get(&self, account: &str, field: Field) -> Result<Option<Zeroizing<String>>> {
        self.check()?;
        Ok(self.entries.lock().expect("memory store lock").get(&field.entry(account)).cloned())
    }

    fn delete(&self, account: &str, field: Field) -> Result<()> {
        self.check()?;
        self.entries.lock().expect("memory store lock").remove(&field.entry(account));
        Ok(())
    }

    fn entries(&self) -> Result<Vec<String>> {
        self.check()?;
        Ok(self.entries.lock().expect("memory store lock").keys().cloned().collect())
    }

    fn delete_entry(&self, name: &str) -> Result<()> {
        self.check()?;
        self.entries.lock().expect("memory store lock").remove(name);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_per_account_and_field() {
        let s = MemoryStore::new();
        s.put("a", Field::AccessToken, "1").unwrap();
        s.put("a", Field::RefreshToken, "2").unwrap();
        s.put("b", Field::AccessToken, "3").unwrap();
        assert_eq!(s.get("a", Field::AccessToken).unwrap().unwrap().as_str(), "1");
        s.delete("a", Field::AccessToken).unwrap();
        assert!(s.get("a", Field::AccessToken).unwrap().is_none());
        assert_eq!(s.get("b", Field::AccessToken).unwrap().unwrap().as_str(), "3", "other accounts untouched");
    }

    #[test]
    fn typed_secrets_go_to_their_own_entries_and_come_back_typed() {
        use crate::secret::{AccessToken, RefreshToken};
        let memory = MemoryStore::new();
        let s: &dyn TokenStore = &memory;
        s.put_secret("a", &AccessToken::new("at")).unwrap();
        s.put_secret("a", &RefreshToken::new("rt")).unwrap();
        assert_eq!(s.get_secret::<AccessToken>("a").unwrap().unwrap().expose(), "at");
        assert_eq!(s.get("a", Field::RefreshToken).unwrap().unwrap().as_str(), "rt", "each in its field's entry");
        let mut listed = s.list().unwrap();
        listed.sort_by_key(|(_, f)| format!("{f:?}"));
        assert_eq!(listed, [("a".to_string(), Field::AccessToken), ("a".to_string(), Field::RefreshToken)]);
        s.delete_all("a").unwrap();
        assert!(memory.is_empty(), "every secret of the account is deleted");
    }

    #[test]
    fn a_locked_store_says_so() {
        let s = MemoryStore::new();
        s.set_locked(true);
        assert_eq!(s.probe().unwrap_err().kind, ErrorKind::KeyringLocked);
    }
}
