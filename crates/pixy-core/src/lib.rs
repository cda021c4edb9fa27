//! Pixy's engine: everything that links an account and keeps it linked, with no window or
//! terminal dependency.
//!
//! A link is [`pkce`] + [`secret`] state, a [`loopback`] listener judging each redirect with
//! [`callback`], the [`authorize`] URL opened in the [`browser`], and the [`exchange`] of the
//! code; [`flow`] ties these together. Providers come from [`provider`] and [`discovery`]; tokens
//! live in the [`store`], account records ([`account`]) in the [`index`]; [`refresh`] and [`revoke`]
//! keep and end them. The [`daemon`] owns all of it behind the [`ipc`] socket.
#![deny(missing_docs)]

pub mod account;
pub mod audit;
pub mod authorize;
pub mod browser;
pub mod callback;
pub mod catalog;
pub mod challenge;
pub mod clock;
pub mod consent;
pub mod daemon;
pub mod device;
pub mod discovery;
pub mod doctor;
pub mod error;
pub mod exchange;
pub mod flow;
pub mod grant_token;
pub mod grantex;
pub mod http;
pub mod identity;
pub mod index;
pub mod ipc;
pub mod json_list;
pub mod log_file;
pub mod loopback;
pub mod new_provider;
pub mod pages;
pub mod paste;
pub mod peer;
pub mod pkce;
pub mod port_holder;
pub mod presets;
pub mod provider;
pub mod refresh;
pub mod registration;
pub mod registrations;
pub mod resource;
pub mod resource_link;
pub mod revoke;
pub mod secret;
#[cfg(target_os = "linux")]
pub mod session_bus;
pub mod store;
pub mod text;

pub use error::{Error, ErrorKind, Result};

/// Pixy's version, which every binary of the workspace shares: what `pixy daemon --ping` reports
/// and what the files Pixy writes record as their writer.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
