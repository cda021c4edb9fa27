//! Fuzzes what a protected resource's server says before any sign-in: its `WWW-Authenticate`
//! header (`challenge::parse`) and the `resource` its metadata names (`resource::speaks_for`).
//! Neither may panic; metadata may speak only for its own origin, and never with characters the
//! URL parser would drop from what it checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pixy_core::challenge;
use pixy_core::resource::speaks_for;

const ASKED: &str = "https://mcp.example.com/tools/mcp";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Some(c) = challenge::parse(text) {
        for scope in c.scopes.iter().flatten() {
            assert!(!scope.is_empty() && !scope.contains(char::is_whitespace), "scopes are split on whitespace");
        }
    }
    if speaks_for(text, ASKED) {
        let named = url::Url::parse(text).expect("metadata that speaks for a URL is a URL");
        assert_eq!(named.origin().ascii_serialization(), "https://mcp.example.com", "only its own origin");
        assert!(!text.contains(|c: char| c.is_control() || c.is_whitespace()));
    }
});
