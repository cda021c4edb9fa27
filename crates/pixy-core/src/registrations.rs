//! The registration index: Pixy's client registrations, one per authorization server, in
//! `registrations.json` beside the account index (a [`JsonList`]: atomic, mode 0600).
//!
//! It holds client ids, how each was registered and the redirect URI it was registered with;
//! a registration's secrets live in the keyring ([`crate::registration::store_key`]). A file
//! that cannot be read costs only the registrations (Pixy registers again), never an account.

use std::path::PathBuf;

use crate::json_list::JsonList;
use crate::registration::Registration;

/// The registration index file.
pub type RegistrationIndex = JsonList<Registration>;

/// The registration index at `path`.
pub fn registration_index(path: impl Into<PathBuf>) -> RegistrationIndex {
    JsonList::new(path, "registrations", 1)
}
