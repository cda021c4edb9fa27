//! Request parameters: `application/x-www-form-urlencoded` bodies, query strings, and the JSON object bodies some
//! clients send to the token endpoint instead of a form (see clients.rs); also the JSON objects of the Grantex API
//! (grantex.rs), whose values may be of any type.
//!
//! Invariants: a body is read only up to [`MAX_BODY`] bytes and for at most [`BODY_TIMEOUT`], whatever its
//! encoding; a parameter that appears twice makes the whole request invalid (RFC 6749 §3.1, §3.2), so no endpoint
//! guesses which one was meant; an empty value counts as absent (RFC 6749 §3.1), and so does a JSON `null`. A JSON
//! body read as parameters is one object whose values are strings, the same fields a form would carry: anything else
//! is refused rather than read as text, so a client that sends another shape learns it here. A JSON object read
//! whole ([`json_object`]) refuses a repeated member name the same way.

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

/// How a request body is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// `application/x-www-form-urlencoded`
    Form,
    /// `application/json`
    Json,
}

impl Encoding {
    /// The encoding a request's `Content-Type` names, if it is one of the two; parameters such as `charset` are
    /// ignored.
    fn of(req: &Request<Incoming>) -> Option<Encoding> {
        let media_type = req.headers().get(CONTENT_TYPE)?.to_str().ok()?.split(';').next()?.trim();
        if media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            Some(Encoding::Form)
        } else if media_type.eq_ignore_ascii_case("application/json") {
            Some(Encoding::Json)
        } else {
            None
        }
    }
}

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
    NotAFormOrJson,
    NotJson,
    NotAJsonObject,
    NotAString,
    TooLarge,
    Unreadable,
    Repeated,
}

impl FormError {
    /// A description for an error page or `error_description`.
    pub(crate) fn description(&self) -> &'static str {
        match self {
            FormError::NotAForm => "the body must be application/x-www-form-urlencoded",
            FormError::NotAFormOrJson => "the body must be application/x-www-form-urlencoded or application/json",
            FormError::NotJson => "the body must be application/json",
            FormError::NotAJsonObject => "the body must be one JSON object",
            FormError::NotAString => "every value in the JSON body must be a string",
            FormError::TooLarge => "the request body is too large",
            FormError::Unreadable => "the request body could not be read",
            FormError::Repeated => "a parameter was sent more than once",
        }
    }
}

impl Params {
    /// Decodes `a=1&b=2`, refusing repeated names.
    pub(crate) fn parse(input: &[u8]) -> Result<Params, FormError> {
        let mut params = Params::default();
        for (name, value) in url::form_urlencoded::parse(input) {
            params.insert(name.into_owned(), value.into_owned())?;
        }
        Ok(params)
    }

    /// Decodes `{"a": "1", "b": "2"}`, refusing repeated names, values that are not strings, and anything but
    /// one object.
    pub(crate) fn parse_json(input: &[u8]) -> Result<Params, FormError> {
        let Ok(serde_json::Value::Object(object)) = serde_json::from_slice(input) else {
            return Err(FormError::NotAJsonObject);
        };
        if !object.values().all(|value| value.is_string() || value.is_null()) {
            return Err(FormError::NotAString);
        }
        // serde_json keeps the last of a repeated name; counting the members in the text catches the repeat.
        if json_members(input) != object.len() {
            return Err(FormError::Repeated);
        }
        let mut params = Params::default();
        for (name, value) in object {
            if let serde_json::Value::String(value) = value {
                params.insert(name, value)?;
            }
        }
        Ok(params)
    }

    /// Adds one parameter: an empty value is dropped, a repeated name is an error.
    fn insert(&mut self, name: String, value: String) -> Result<(), FormError> {
        if value.is_empty() {
            return Ok(());
        }
        match self.0.insert(name, value) {
            Some(_) => Err(FormError::Repeated),
            None => Ok(()),
        }
    }

    /// A request's query string (none is the same as empty).
    pub(crate) fn from_query(query: Option<&str>) -> Result<Params, FormError> {
        Params::parse(query.unwrap_or("").as_bytes())
    }

    /// A request's form body, bounded in size and time.
    pub(crate) async fn from_body(req: Request<Incoming>) -> Result<Params, FormError> {
        if Encoding::of(&req) != Some(Encoding::Form) {
            return Err(FormError::NotAForm);
        }
        Params::parse(&read_body(req).await?)
    }

    /// A request's form or JSON body, as its `Content-Type` says, bounded in size and time alike; the encoding is
    /// returned too, for endpoints whose clients differ in it.
    pub(crate) async fn from_form_or_json(req: Request<Incoming>) -> Result<(Params, Encoding), FormError> {
        let encoding = Encoding::of(&req).ok_or(FormError::NotAFormOrJson)?;
        let body = read_body(req).await?;
        let params = match encoding {
            Encoding::Form => Params::parse(&body)?,
            Encoding::Json => Params::parse_json(&body)?,
        };
        Ok((params, encoding))
    }

    /// The value of `name`, if it was sent with a non-empty value.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// A request's body as one JSON object with values of any type, bounded in size and time like a form. A member
/// name that appears twice is refused: serde_json would keep the last, and another reader the first.
pub(crate) async fn json_object(
    req: Request<Incoming>,
) -> Result<serde_json::Map<String, serde_json::Value>, FormError> {
    if Encoding::of(&req) != Some(Encoding::Json) {
        return Err(FormError::NotJson);
    }
    parse_json_object(&read_body(req).await?)
}

/// The JSON object in `input`, refusing anything else and repeated member names.
fn parse_json_object(input: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, FormError> {
    let Ok(serde_json::Value::Object(object)) = serde_json::from_slice(input) else {
        return Err(FormError::NotAJsonObject);
    };
    if json_members(input) != object.len() {
        return Err(FormError::Repeated);
    }
    Ok(object)
}

/// A body, read up to [`MAX_BODY`] bytes within [`BODY_TIMEOUT`].
async fn read_body(req: Request<Incoming>) -> Result<hyper::body::Bytes, FormError> {
    let body = Limited::new(req.into_body(), MAX_BODY);
    match tokio::time::timeout(BODY_TIMEOUT, body.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => Err(FormError::TooLarge),
        Ok(Err(_)) | Err(_) => Err(FormError::Unreadable),
    }
}

/// How many members a JSON object has, counted in its text: one `:` outside strings at the object's own depth per
/// member, so the members of nested objects are not counted. Only for text that already parsed as one object.
fn json_members(input: &[u8]) -> usize {
    let (mut members, mut depth, mut in_string, mut escaped) = (0, 0usize, false, false);
    for &byte in input {
        match (in_string, escaped, byte) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (_, _, b'"') => in_string = !in_string,
            (false, _, b'{' | b'[') => depth += 1,
            (false, _, b'}' | b']') => depth = depth.saturating_sub(1),
            (false, _, b':') if depth == 1 => members += 1,
            _ => {}
        }
    }
    members
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

    #[test]
    fn a_json_object_of_strings_is_read_like_a_form() {
        let params = Params::parse_json(br#"{"grant_type": "authorization_code", "state": "a\u0026b", "x": ""}"#)
            .expect("an object of strings is a valid JSON body");
        assert_eq!(params.get("grant_type"), Some("authorization_code"), "string values are parameters");
        assert_eq!(params.get("state"), Some("a&b"), "JSON escapes must be decoded");
        assert_eq!(params.get("x"), None, "an empty string counts as absent, as in a form");
        let params = Params::parse_json(br#"{"state": null}"#).unwrap();
        assert_eq!(params.get("state"), None, "null counts as absent");
        let params = Params::parse_json(br#"{"a": "x:\"y:\\", "b": ":"}"#).expect("colons in strings are text");
        assert_eq!((params.get("a"), params.get("b")), (Some(r#"x:"y:\"#), Some(":")), "escapes must be decoded");
    }

    #[test]
    fn a_json_body_with_a_repeated_name_is_refused() {
        assert_eq!(
            Params::parse_json(br#"{"state": "a", "state": "b"}"#).unwrap_err(),
            FormError::Repeated,
            "JSON parsers disagree about repeated names, so, as in a form, the request is invalid"
        );
    }

    #[test]
    fn a_json_object_may_nest_and_still_refuses_a_repeated_name() {
        let object = parse_json_object(br#"{"scopes": ["a:b", "c"], "x": {"y": "1", "z": ":"}, "n": 1}"#)
            .expect("nested arrays and objects are values like any other");
        assert_eq!(object.len(), 3, "the members of nested values are not the object's own");
        assert_eq!(
            parse_json_object(br#"{"state": "a", "x": {"k": 1}, "state": "b"}"#).unwrap_err(),
            FormError::Repeated,
            "a repeated top-level name is as ambiguous here as in a flat object"
        );
        assert!(parse_json_object(br#"{"x": {"k": 1, "k": 2}}"#).is_ok(), "only the object's own names are checked");
        assert_eq!(parse_json_object(b"[]").unwrap_err(), FormError::NotAJsonObject, "an array is not an object");
    }

    #[test]
    fn a_json_body_that_is_not_an_object_of_strings_is_refused() {
        for body in [&br#"["a"]"#[..], br#""a""#, b"", b"{", br#"{"a": "1"} {}"#] {
            assert_eq!(Params::parse_json(body).unwrap_err(), FormError::NotAJsonObject, "{body:?} is not one object");
        }
        for body in [&br#"{"expires_in": 3600}"#[..], br#"{"a": true}"#, br#"{"a": ["1"]}"#, br#"{"a": {"b": "1"}}"#] {
            assert_eq!(Params::parse_json(body).unwrap_err(), FormError::NotAString, "{body:?} has a non-string value");
        }
    }
}
