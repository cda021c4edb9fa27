//! The demo provider driven over real HTTP, the way a browser and Pixy's token client drive it.

mod authorize;
mod chatgpt;
mod claude;
mod grantex;
mod revoke;
mod server;
mod support;
mod token;
