//! The one error type of the engine, with a [`ErrorKind`] a client can act on.
//!
//! Security: a message never holds a code, token, state, verifier or a full URL with its query;
//! URLs in messages are reduced to scheme, host and path by [`redact_url`].

use serde::{Deserialize, Serialize};

/// What kind of failure, for the CLI's exit code and the window's wording.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request itself is wrong (bad argument, unknown provider or account).
    InvalidRequest,
    /// A provider's configuration is malformed or unusable.
    ProviderConfig,
    /// The provider's metadata could not be fetched or is not valid.
    Discovery,
    /// No OS keyring could be reached.
    KeyringUnavailable,
    /// The keyring is locked or did not answer in time.
    KeyringLocked,
    /// The person declined access at the provider.
    AccessDenied,
    /// The provider answered the authorization request with an error.
    AuthorizationFailed,
    /// Nobody finished in the browser in time.
    Timeout,
    /// The flow was cancelled.
    Cancelled,
    /// The token endpoint refused or returned something unusable.
    TokenEndpoint,
    /// The server refused the RFC 8707 `resource` parameter: linking again without it may work.
    ResourceRefused,
    /// The refresh token is no longer valid; the account must be linked again.
    NeedsRelink,
    /// The person did not let this program have the account's tokens (denied, or nobody answered).
    ConsentDenied,
    /// The provider could not be reached.
    Network,
    /// The loopback listener could not be started.
    Listener,
    /// The daemon could not be reached or started.
    DaemonUnavailable,
    /// Something went wrong inside Pixy.
    Internal,
}

/// An engine error: a kind and a sentence for a person.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Serialize, Deserialize)]
#[error("{message}")]
pub struct Error {
    /// The kind.
    pub kind: ErrorKind,
    /// The sentence.
    pub message: String,
}

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into() }
    }
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A URL reduced to scheme, host, port and path: safe for logs and messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => {
            let mut s = format!("{}://{}", u.scheme(), u.host_str().unwrap_or(""));
            if let Some(port) = u.port() {
                s.push_str(&format!(":{port}"));
            }
            s.push_str(u.path());
            if u.query().is_some() {
                s.push_str("?[redacted]");
            }
            s
        }
        Err(_) => "[unparseable url]".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_url_keeps_no_query() {
        let r = redact_url("https://id.example.com:8443/auth?state=abc&code_challenge=xyz");
        assert_eq!(r, "https://id.example.com:8443/auth?[redacted]");
        assert!(!r.contains("abc"), "state must not survive redaction");
    }

    #[test]
    fn error_kind_is_snake_case_on_the_wire() {
        let json = serde_json::to_string(&ErrorKind::KeyringUnavailable).unwrap();
        assert_eq!(json, "\"keyring_unavailable\"");
    }
}
