//! The local socket between the daemon and its clients.
//!
//! [`protocol`] is what travels, [`framing`] how (one JSON object per line), [`paths`] where
//! (a 0700 directory under `$XDG_RUNTIME_DIR`) and [`client`] the clients' side; the daemon's side
//! is [`crate::daemon::socket`].

pub mod client;
pub mod framing;
pub mod paths;
pub mod protocol;

#[cfg(test)]
mod window_contract;

pub use protocol::{AccountStatus, AccountSummary, Event, LinkRequest, ProviderSelector, ProviderSummary, Request};
