//! Judging one redirect that reached the loopback listener.
//!
//! Order matters: `state` is checked first, in constant time, before `code` or `error` is looked
//! at, so a request without the right state can neither finish nor fail the flow — it gets a 400
//! and the flow keeps waiting. With a valid state, RFC 9207's `iss` is compared with the issuer
//! when the provider advertises it; then `error` ends the flow and `code` finishes it.
//! Nothing here logs or formats a code or state value.

use crate::error::{Error, ErrorKind};
use crate::secret::{AuthCode, State};

/// What the flow expects of its callback.
#[derive(Debug)]
pub struct Expected {
    /// The flow's state.
    pub state: State,
    /// The issuer to compare `iss` with, when the provider sends it (RFC 9207).
    pub issuer: Option<String>,
}

/// What a callback request means for the flow.
#[derive(Debug)]
pub enum Verdict {
    /// Not for us (no or wrong state, nothing to act on): answer 400 and keep waiting.
    Stray(&'static str),
    /// The flow ends here, with a code or an error.
    Finished(Result<AuthCode, Error>),
}

/// Judges the query string of a request to the callback path.
pub fn judge(query: Option<&str>, expected: &Expected) -> Verdict {
    let mut state = None;
    let mut code = None;
    let mut error = None;
    let mut description = None;
    let mut iss = None;
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let slot = match k.as_ref() {
            "state" => &mut state,
            "code" => &mut code,
            "error" => &mut error,
            "error_description" => &mut description,
            "iss" => &mut iss,
            _ => continue,
        };
        if slot.is_some() {
            // RFC 6749 §3.1: parameters must not repeat; a repeated one is not trusted.
            return Verdict::Stray("a parameter appears twice");
        }
        *slot = Some(v.into_owned());
    }
    let state_valid = state.as_deref().is_some_and(|s| expected.state.matches(s));
    tracing::debug!(
        has_state = state.is_some(),
        state_valid,
        has_code = code.is_some(),
        has_error = error.is_some(),
        has_iss = iss.is_some(),
        "callback request"
    );
    if !state_valid {
        return Verdict::Stray("the state is missing or does not match this sign-in");
    }
    if let Some(issuer) = &expected.issuer {
        if !iss.as_deref().is_some_and(|i| crate::discovery::same_issuer(i, issuer)) {
            return Verdict::Finished(Err(Error::new(
                ErrorKind::AuthorizationFailed,
                "the response did not come from the expected provider (RFC 9207 issuer mismatch); refused",
            )));
        }
    }
    if let Some(error) = error {
        let description = description.map(|d| crate::text::printable(&d, 300)).filter(|d| !d.is_empty());
        return Verdict::Finished(Err(provider_error(&error, description.as_deref())));
    }
    match code {
        Some(code) if !code.is_empty() => Verdict::Finished(Ok(AuthCode::new(code))),
        _ => Verdict::Stray("the request has neither a code nor an error"),
    }
}

fn provider_error(error: &str, description: Option<&str>) -> Error {
    if error == "access_denied" {
        return Error::new(ErrorKind::AccessDenied, "you declined access at the provider");
    }
    let error: String = error.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect();
    let message = match description {
        Some(d) => format!("the provider refused the sign-in: {error} ({d})"),
        None => format!("the provider refused the sign-in: {error}"),
    };
    Error::new(ErrorKind::AuthorizationFailed, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected(issuer: Option<&str>) -> Expected {
        Expected { state: State::new("good-state"), issuer: issuer.map(String::from) }
    }

    fn finished(v: Verdict) -> Result<AuthCode, Error> {
        match v {
            Verdict::Finished(r) => r,
            Verdict::Stray(why) => panic!("expected the flow to end, but it was stray: {why}"),
        }
    }

    #[test]
    fn a_valid_state_and_code_finish_the_flow() {
        let code = finished(judge(Some("code=abc&state=good-state"), &expected(None))).unwrap();
        assert_eq!(code.expose(), "abc");
    }

    #[test]
    fn a_wrong_or_missing_state_never_ends_the_flow() {
        for q in ["code=abc&state=bad", "code=abc", "error=access_denied&state=bad", "error=access_denied", ""] {
            assert!(matches!(judge(Some(q), &expected(None)), Verdict::Stray(_)), "{q:?} must keep the flow waiting");
        }
    }

    #[test]
    fn access_denied_with_a_valid_state_says_you_declined() {
        let err = finished(judge(Some("error=access_denied&state=good-state"), &expected(None))).unwrap_err();
        assert_eq!(err.kind, ErrorKind::AccessDenied);
    }

    #[test]
    fn a_repeated_parameter_is_not_trusted() {
        let v = judge(Some("code=a&code=b&state=good-state"), &expected(None));
        assert!(matches!(v, Verdict::Stray(_)));
    }

    #[test]
    fn iss_is_required_and_compared_when_the_provider_advertises_it() {
        let e = expected(Some("https://id.example.com"));
        let ok = judge(Some("code=c&state=good-state&iss=https%3A%2F%2Fid.example.com"), &e);
        assert!(finished(ok).is_ok());
        let wrong = finished(judge(Some("code=c&state=good-state&iss=https%3A%2F%2Fevil.example"), &e));
        assert_eq!(wrong.unwrap_err().kind, ErrorKind::AuthorizationFailed);
        let missing = finished(judge(Some("code=c&state=good-state"), &e));
        assert_eq!(missing.unwrap_err().kind, ErrorKind::AuthorizationFailed);
    }

    #[test]
    fn a_provider_error_description_reaches_the_message_without_control_characters() {
        let q = "error=server_error&error_description=down%1B%5B2J%1B%5D52%3Bc%3BZXZpbA%3D%3D%07now&state=good-state";
        let err = finished(judge(Some(q), &expected(None))).unwrap_err();
        assert!(!err.message.chars().any(char::is_control), "{:?}", err.message);
        assert!(err.message.contains("down[2J]52;c;ZXZpbA==now"), "{:?}", err.message);
    }

    #[test]
    fn provider_error_messages_hold_no_markup_from_the_error_code() {
        let err = finished(judge(Some("error=%3Cscript%3Ex&state=good-state"), &expected(None))).unwrap_err();
        assert!(!err.message.contains('<'), "{}", err.message);
    }
}
