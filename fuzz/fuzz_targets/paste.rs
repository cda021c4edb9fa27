//! Fuzzes what a person pastes during a link (`paste::judge_paste`): it must never panic, and it
//! must never end the flow with a code when the paste names another state (after `#`, or as the
//! `state` parameter of a redirect URL).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pixy_core::callback::Expected;
use pixy_core::paste::{judge_paste, Pasted};
use pixy_core::secret::State;

const STATE: &str = "fuzz-state-0123456789abcdefghijklmnopqrstuv";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let expected = Expected { state: State::new(STATE), issuer: None };
    if let Pasted::Finished(Ok(_)) = judge_paste(text, &expected) {
        let trimmed = text.trim().trim_matches(|c| matches!(c, '"' | '\'' | '`')).trim();
        match url::Url::parse(trimmed) {
            Ok(url) if trimmed.starts_with("http://") || trimmed.starts_with("https://") => {
                for (key, value) in url.query_pairs() {
                    assert!(key != "state" || value == STATE, "a code was taken from another sign-in's URL");
                }
            }
            _ => assert!(!trimmed.contains('#') || trimmed.ends_with(STATE), "a code was taken with another state"),
        }
    }
});
