//! What a person pastes when the browser cannot reach Pixy's listener: the code the provider's
//! page shows, or the redirect URL copied from the address bar.
//!
//! Accepted, with surrounding spaces, quotes or a trailing newline:
//! - a raw code;
//! - `code#state`, which Claude's code page shows;
//! - the full redirect URL (`http://localhost:1455/auth/callback?code=…&state=…`), judged as the
//!   listener judges a redirect ([`crate::callback::judge`]): a provider error in it ends the flow.
//!
//! Rules: the state is compared, in constant time, whenever the paste carries one; a wrong state
//! or anything that is not one of the shapes above is rejected with a reason that quotes nothing
//! of the paste, and the flow stays open for another try. A code or a provider error with the
//! right state ends it. A code without a state is [`Pasted::Unchecked`]: only the provider can
//! tell whether it is right, so the flow tries it and stays open if the provider refuses it.

use crate::callback::{judge, Expected, Verdict};
use crate::error::Error;
use crate::secret::AuthCode;

/// The longest paste considered: a code, a state and a redirect URL fit many times over.
pub const MAX_PASTE: usize = 8 * 1024;

/// What one paste means for the flow.
#[derive(Debug)]
pub enum Pasted {
    /// Not usable; the flow keeps waiting. The reason is safe to show: it holds nothing pasted.
    Rejected(&'static str),
    /// The flow ends here, with a code or with the provider's error, both bound to the flow by
    /// their state.
    Finished(Result<AuthCode, Error>),
    /// A code with no state to check: the provider's answer to it decides.
    Unchecked(AuthCode),
}

/// Judges one paste against the flow's expectations.
pub fn judge_paste(text: &str, expected: &Expected) -> Pasted {
    if text.len() > MAX_PASTE {
        return Pasted::Rejected("that is far too long to be a code or a redirect URL");
    }
    let text = text.trim().trim_matches(|c| matches!(c, '"' | '\'' | '`')).trim();
    if text.is_empty() {
        return Pasted::Rejected("nothing was pasted");
    }
    if text.starts_with("http://") || text.starts_with("https://") {
        return redirect_url(text, expected);
    }
    let (code, state) = match text.rsplit_once('#') {
        Some((code, state)) => (code, Some(state)),
        None => (text, None),
    };
    if let Some(state) = state {
        if !expected.state.matches(state) {
            return Pasted::Rejected(
                "the code is from another sign-in (its state does not match); paste the newest one",
            );
        }
    }
    if !is_code(code) {
        return Pasted::Rejected("that does not look like a code: copy the whole code the provider's page shows");
    }
    match state {
        Some(_) => Pasted::Finished(Ok(AuthCode::new(code))),
        None => Pasted::Unchecked(AuthCode::new(code)),
    }
}

fn redirect_url(text: &str, expected: &Expected) -> Pasted {
    let Ok(url) = url::Url::parse(text) else {
        return Pasted::Rejected("that is not a whole URL: copy the full address from the browser");
    };
    let Some(query) = url.query().filter(|q| q.contains("code=") || q.contains("error=")) else {
        return Pasted::Rejected("that URL carries no code: copy the address the provider sent the browser to");
    };
    // No state at all: the code is taken as a raw one would be (some pages drop it).
    let has_state = url.query_pairs().any(|(k, _)| k == "state");
    if !has_state {
        let code = url.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned());
        return match code {
            Some(code) if is_code(&code) => Pasted::Unchecked(AuthCode::new(code)),
            _ => Pasted::Rejected("that URL carries no usable code"),
        };
    }
    match judge(Some(query), expected) {
        Verdict::Finished(result) => match result {
            Ok(code) if !is_code(code.expose()) => Pasted::Rejected("that URL carries no usable code"),
            other => Pasted::Finished(other),
        },
        Verdict::Stray(_) => {
            Pasted::Rejected("that URL is from another sign-in (its state does not match); paste the newest one")
        }
    }
}

/// A code is of a sane length, in the characters codes are made of (unreserved URL characters,
/// base64's `+/=`, `%` escapes and `:`), so prose and markup are told apart from a code.
fn is_code(code: &str) -> bool {
    (1..=2048).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+/=%:".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::secret::State;

    const STATE: &str = "Zm9vYmFyYmF6cXV4cXV1eHF1dXpxdXV6cXV1enF1dXo";

    fn expected() -> Expected {
        Expected { state: State::new(STATE), issuer: None }
    }

    fn code(text: &str) -> String {
        match judge_paste(text, &expected()) {
            Pasted::Finished(Ok(code)) | Pasted::Unchecked(code) => code.expose().to_string(),
            other => panic!("{text:?} should give a code, gave {other:?}"),
        }
    }

    fn rejected(text: &str) -> &'static str {
        match judge_paste(text, &expected()) {
            Pasted::Rejected(why) => why,
            other => panic!("{text:?} should be rejected, gave {other:?}"),
        }
    }

    #[test]
    fn every_shape_gives_the_code_whatever_surrounds_it() {
        for text in [
            "the-code_123".to_string(),
            format!("the-code_123#{STATE}"),
            format!("  \"the-code_123#{STATE}\"\n"),
            "'the-code_123'\r\n".to_string(),
            format!("http://localhost:1455/auth/callback?code=the-code_123&state={STATE}"),
            format!("`https://platform.example/oauth/code/callback?code=the-code_123&state={STATE}`"),
            "http://127.0.0.1:9/callback?code=the-code_123".to_string(),
        ] {
            assert_eq!(code(&text), "the-code_123", "{text:?}");
        }
    }

    #[test]
    fn a_wrong_state_is_rejected_in_every_shape_and_quotes_nothing() {
        for text in [
            "the-code#another-state".to_string(),
            "http://localhost:1455/auth/callback?code=the-code&state=another-state".to_string(),
            format!("the-code#{STATE}x"),
        ] {
            let why = rejected(&text);
            assert!(why.contains("another sign-in"), "{why}");
            assert!(!why.contains("the-code") && !why.contains("another-state"), "nothing pasted is echoed: {why}");
        }
    }

    #[test]
    fn junk_gets_a_reason_and_never_ends_the_flow() {
        for text in [
            "",
            "   \n",
            "two words",
            "what?",
            "<b>code</b>",
            "code\u{1b}[2J",
            "http://",
            "https://example.com/no/code/here",
            "http://[::1:9/callback?code=x",
            "#",
            &"x".repeat(MAX_PASTE + 1),
        ] {
            let _ = rejected(text);
        }
    }

    #[test]
    fn only_a_code_whose_state_was_checked_ends_the_flow_by_itself() {
        let checked = format!("the-code#{STATE}");
        assert!(matches!(judge_paste(&checked, &expected()), Pasted::Finished(Ok(_))));
        for unchecked in ["the-code", "http://127.0.0.1:9/callback?code=the-code"] {
            assert!(matches!(judge_paste(unchecked, &expected()), Pasted::Unchecked(_)), "{unchecked}");
        }
    }

    #[test]
    fn a_provider_error_with_the_right_state_ends_the_flow_in_words() {
        let text = format!("http://localhost:1455/auth/callback?error=access_denied&state={STATE}");
        let Pasted::Finished(Err(e)) = judge_paste(&text, &expected()) else { panic!("the flow ends") };
        assert_eq!(e.kind, ErrorKind::AccessDenied);
        let without_state = "http://localhost:1455/auth/callback?error=access_denied";
        assert!(matches!(judge_paste(without_state, &expected()), Pasted::Rejected(_)), "no state, no ending");
    }
}
