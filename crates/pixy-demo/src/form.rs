//! Request parameters: `application/x-www-form-urlencoded` bodies and query strings.
//!
//! Invariants: a body is read only up to [`MAX_BODY`] bytes and for at most [`BODY_TIMEOUT`]; a parameter that
//! appears twice makes the whole request invalid (RFC 6749 §3.1, §3.2), so no endpoint guesses which one was
//! meant; an empty value counts as absent (RFC 6749 §3.1).

use std::collections::HashMap;
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::Request;

/// The largest request body accepted: far above any OAuth form, far below anything that could hurt.
pub(crate) const MAX_BODY: usize = 64 * 1024;

/// How long a client may take to send its body once the headers arrived.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Decoded parameters, each present at most once.
#[derive(Default)]
pub(crate) struct Params(HashMap<String, String>);

impl std::fmt::Debug for Params {
    /// Names only: values include codes, tokens and verifiers.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// Why a request's parameters could not be read. The text is safe to show: it never holds a value.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FormError {
    NotAForm,
    TooLarge,
    Unreadable,
    Repeated,
}

impl FormError {
    /// A description for an error page or `error_description`.
    pub(crate) fn description(&self) -> &'static str {
        match self {
            FormError::NotAForm => "the body must be application/x-www-form-urlencoded",
            FormError::TooLarge => "the request body is too large",
            FormError::Unreadable => "the request body could not be read",
            FormError::Repeated => "a parameter was sent more than once",
        }
    }
}

impl Params {
    /// Decodes `a=1&b=2`, refusing repeated names.
    pub(crate) fn parse(input: &[u8]) -> Result<Params, FormError> {
        let mut map = HashMap::new();
        for (name, value) in url::form_urlencoded::parse(input) {
            if value.is_empty() {
                continue;
            }
            if map.insert(name.into_owned(), value.into_owned()).is_some() {
                return Err(FormError::Repeated);
            }
        }
        Ok(Params(map))
    }

    /// A request's query string (none is the same as empty).
    pub(crate) fn from_query(query: Option<&str>) -> Result<Params, FormError> {
        Params::parse(query.unwrap_or("").as_bytes())
    }

    /// A request's form body, bounded in size and time.
    pub(crate) async fn from_body(req: Request<Incoming>) -> Result<Params, FormError> {
        let is_form = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(FormError::NotAForm);
        }
        let body = Limited::new(req.into_body(), MAX_BODY);
        let collected = match tokio::time::timeout(BODY_TIMEOUT, body.collect()).await {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => return Err(FormError::TooLarge),
            Ok(Err(_)) | Err(_) => return Err(FormError::Unreadable),
        };
        Params::parse(&collected)
    }

    /// The value of `name`, if it was sent with a non-empty value.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_parameter_invalidates_the_request() {
        assert_eq!(Params::parse(b"a=1&a=2").unwrap_err(), FormError::Repeated, "RFC 6749 §3.1 forbids repeats");
    }

    #[test]
    fn an_empty_value_counts_as_absent() {
        let params = Params::parse(b"a=&b=2").unwrap();
        assert_eq!(params.get("a"), None, "RFC 6749 §3.1: empty values are treated as omitted");
        assert_eq!(params.get("b"), Some("2"), "other parameters must still be read");
    }

    #[test]
    fn values_are_percent_decoded() {
        let params = Params::parse(b"redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fcb&scope=openid+email").unwrap();
        assert_eq!(params.get("redirect_uri"), Some("http://127.0.0.1:1/cb"), "percent-escapes must be decoded");
        assert_eq!(params.get("scope"), Some("openid email"), "'+' is a space in forms");
    }
}
