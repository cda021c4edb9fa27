//! The local socket between the daemon and its clients.
//!
//! [`protocol`] is what travels, [`framing`] how (one JSON object per line), [`paths`] where
//! (a 0700 directory under `$XDG_RUNTIME_DIR`), [`client`] the clients' side and [`server`] the
//! daemon's (which checks every peer's uid).

pub mod client;
pub mod framing;
pub mod paths;
pub mod protocol;
pub mod server;

#[cfg(test)]
mod window_contract;

pub use protocol::{AccountStatus, AccountSummary, Event, LinkRequest, ProviderSelector, ProviderSummary, Request};
