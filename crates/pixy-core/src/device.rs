//! The device authorization grant (RFC 8628), for machines without a browser: the person enters a
//! short code on another device while Pixy polls the token endpoint.
//!
//! Rules:
//! - the device code is a secret: it goes to the token endpoint and nowhere else; the user code
//!   and verification URI are for the person and may be shown;
//! - polling keeps to the server's interval (5 s when it names none), adds 5 s on every
//!   `slow_down` (§3.5), and stops at the code's expiry, on `expired_token` and on
//!   `access_denied`, each with words a person understands;
//! - the answers are read as the token endpoint's are: capped, JSON only, nothing quoted back.

use std::time::Duration;

use serde::Deserialize;

use crate::error::{redact_url, Error, ErrorKind, Result};
use crate::exchange::{parse_token_response, token_post, TokenSet};
use crate::http::{network_error, read_capped};
use crate::provider::Provider;
use crate::secret::DeviceCode;

/// The grant type of the token requests (RFC 8628 §3.4).
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The polling interval when the server names none (§3.2).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// What each `slow_down` adds to the interval (§3.5).
pub const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// The longest interval honoured: a server asking for more is not waited on longer.
const MAX_INTERVAL: Duration = Duration::from_secs(60);
/// The longest a code is waited on, whatever the server says.
const MAX_EXPIRES_IN: u64 = 3600;

/// What the person needs to approve the device, and the secret Pixy polls with.
#[derive(Debug)]
pub struct DeviceAuthorization {
    /// The code the person enters.
    pub user_code: String,
    /// Where the person enters it.
    pub verification_uri: String,
    /// The verification URI with the code already in it, if the server gave one.
    pub verification_uri_complete: Option<String>,
    /// Seconds until the code expires.
    pub expires_in: u64,
    /// How long to wait between polls.
    pub interval: Duration,
    device_code: DeviceCode,
}

#[derive(Deserialize)]
struct RawAuthorization {
    device_code: Option<String>,
    user_code: Option<String>,
    #[serde(alias = "verification_url")]
    verification_uri: Option<String>,
    verification_uri_complete: Option<String>,
    expires_in: Option<serde_json::Value>,
    interval: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawError {
    error: String,
}

/// Asks the provider's device authorization endpoint for a code.
pub async fn authorize(http: &reqwest::Client, provider: &Provider, scopes: &[String]) -> Result<DeviceAuthorization> {
    let endpoint = provider.device_authorization_endpoint.as_deref().ok_or_else(|| {
        Error::new(
            ErrorKind::ProviderConfig,
            format!(
                "{} has no device authorization endpoint, so it cannot link with a device code; \
                 link it in a browser, or paste the code with --paste",
                provider.label
            ),
        )
    })?;
    let scopes = if scopes.is_empty() { &provider.default_scopes } else { scopes };
    let scope = scopes.join(" ");
    let mut fields = vec![("client_id", provider.client_id.as_str())];
    if !scope.is_empty() {
        fields.push(("scope", &scope));
    }
    let resp = http
        .post(endpoint)
        .header("accept", "application/json")
        .form(&fields)
        .send()
        .await
        .map_err(|e| network_error("the device authorization request", endpoint, &e))?;
    let status = resp.status();
    let body = read_capped("device authorization endpoint", endpoint, resp).await?;
    if !status.is_success() {
        let code = serde_json::from_slice::<RawError>(&body).map(|e| e.error).unwrap_or_default();
        let code: String = code.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect();
        let why = if code.is_empty() { status.to_string() } else { code };
        return Err(Error::new(
            ErrorKind::TokenEndpoint,
            format!("the device authorization endpoint {} refused: {why}", redact_url(endpoint)),
        ));
    }
    let garbage = || {
        Error::new(
            ErrorKind::TokenEndpoint,
            format!("the device authorization endpoint {} sent an answer that is not RFC 8628's", redact_url(endpoint)),
        )
    };
    let raw: RawAuthorization = serde_json::from_slice(&body).map_err(|_| garbage())?;
    let device_code = raw.device_code.filter(|c| !c.is_empty()).ok_or_else(garbage)?;
    let user_code =
        raw.user_code.map(|c| crate::text::printable(&c, 64)).filter(|c| !c.is_empty()).ok_or_else(garbage)?;
    // As parsed: what reaches a terminal or the window is a well-formed URL, no raw text.
    let checked = |uri: &str| crate::http::check_endpoint("verification URI", uri).map(|url| url.to_string());
    let verification_uri = checked(&raw.verification_uri.ok_or_else(garbage)?).map_err(|_| garbage())?;
    let verification_uri_complete = raw.verification_uri_complete.and_then(|uri| checked(&uri).ok());
    let expires_in = raw.expires_in.as_ref().and_then(seconds).ok_or_else(garbage)?.clamp(1, MAX_EXPIRES_IN);
    let interval = raw.interval.as_ref().and_then(seconds).map(Duration::from_secs).unwrap_or(DEFAULT_INTERVAL);
    Ok(DeviceAuthorization {
        user_code,
        verification_uri,
        verification_uri_complete,
        expires_in,
        interval: interval.clamp(Duration::from_secs(1), MAX_INTERVAL),
        device_code: DeviceCode::new(device_code),
    })
}

fn seconds(value: &serde_json::Value) -> Option<u64> {
    match value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// One poll's outcome.
enum Poll {
    Tokens(TokenSet),
    Pending,
    SlowDown,
}

/// Polls the token endpoint until the person approves, refuses or the code expires.
pub async fn poll(http: &reqwest::Client, provider: &Provider, authorization: DeviceAuthorization) -> Result<TokenSet> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(authorization.expires_in);
    let mut interval = authorization.interval;
    loop {
        if tokio::time::Instant::now() + interval > deadline {
            tokio::time::sleep_until(deadline).await;
            return Err(expired());
        }
        tokio::time::sleep(interval).await;
        let outcome = match poll_once(http, provider, &authorization.device_code).await {
            // The provider out of reach for a moment: the code is still good, so polling goes on.
            Err(e) if e.kind == ErrorKind::Network => {
                tracing::info!(error = %e, "a device poll failed; polling on");
                Poll::Pending
            }
            other => other?,
        };
        match outcome {
            Poll::Tokens(tokens) => return Ok(tokens),
            Poll::Pending => {}
            Poll::SlowDown => {
                interval = (interval + SLOW_DOWN_STEP).min(MAX_INTERVAL);
                tracing::info!(interval_secs = interval.as_secs(), "the provider asked to poll more slowly");
            }
        }
    }
}

fn expired() -> Error {
    Error::new(ErrorKind::Timeout, "the device code expired before it was approved; run the link again for a new code")
}

async fn poll_once(http: &reqwest::Client, provider: &Provider, device_code: &DeviceCode) -> Result<Poll> {
    let endpoint = provider.token_endpoint.as_str();
    let fields =
        [("grant_type", GRANT_TYPE), ("device_code", device_code.expose()), ("client_id", provider.client_id.as_str())];
    let resp = token_post(http, provider, &fields)
        .send()
        .await
        .map_err(|e| network_error("the token request", endpoint, &e))?;
    let status = resp.status();
    let body = read_capped("token endpoint", endpoint, resp).await?;
    if status.is_success() {
        return parse_token_response(&body, endpoint).map(Poll::Tokens);
    }
    let code = serde_json::from_slice::<RawError>(&body).map(|e| e.error).unwrap_or_default();
    match code.as_str() {
        "authorization_pending" => Ok(Poll::Pending),
        "slow_down" => Ok(Poll::SlowDown),
        "expired_token" => Err(expired()),
        "access_denied" => Err(Error::new(ErrorKind::AccessDenied, "the sign-in was declined on the other device")),
        _ if status.is_server_error() => {
            // A hiccup at the provider: the code is still good, so polling goes on.
            tracing::info!(status = status.as_u16(), "the token endpoint failed a device poll; polling on");
            Ok(Poll::Pending)
        }
        _ => {
            let code: String = code.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect();
            let why = if code.is_empty() { status.to_string() } else { code };
            Err(Error::new(ErrorKind::TokenEndpoint, format!("the provider refused the device code: {why}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A token endpoint that answers each poll with the next scripted body, and records when each
    /// poll came. oidc-provider never sends `slow_down`, so this stands in for one that does.
    async fn scripted(answers: Vec<(u16, &'static str)>) -> (Provider, Arc<Mutex<Vec<tokio::time::Instant>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let polls = Arc::new(Mutex::new(Vec::new()));
        let seen = polls.clone();
        tokio::spawn(async move {
            let mut answers = answers.into_iter();
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = vec![0u8; 8192];
                let _ = stream.read(&mut buf).await;
                seen.lock().unwrap().push(tokio::time::Instant::now());
                let (status, body) = answers.next().unwrap_or((500, "{}"));
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(format!("{head}{body}").as_bytes()).await;
            }
        });
        let provider = Provider {
            id: "p".into(),
            label: "P".into(),
            client_id: "c".into(),
            token_endpoint: format!("{base}/token"),
            ..Provider::default()
        };
        (provider, polls)
    }

    fn authorization(interval_secs: u64, expires_in: u64) -> DeviceAuthorization {
        DeviceAuthorization {
            user_code: "ABCD-EFGH".into(),
            verification_uri: "http://127.0.0.1/device".into(),
            verification_uri_complete: None,
            expires_in,
            interval: Duration::from_secs(interval_secs),
            device_code: DeviceCode::new("dc"),
        }
    }

    const PENDING: (u16, &str) = (400, r#"{"error":"authorization_pending"}"#);
    const SLOW_DOWN: (u16, &str) = (400, r#"{"error":"slow_down"}"#);
    const TOKENS: (u16, &str) = (200, r#"{"access_token":"at","token_type":"Bearer","expires_in":60}"#);

    #[tokio::test]
    async fn polling_keeps_to_the_interval_and_slows_down_when_asked() {
        let (provider, polls) = scripted(vec![PENDING, SLOW_DOWN, TOKENS]).await;
        let http = crate::http::client(Duration::from_secs(5));
        let started = tokio::time::Instant::now();
        let tokens = poll(&http, &provider, authorization(1, 60)).await.unwrap();
        assert_eq!(tokens.access_token.expose(), "at");
        let polls = polls.lock().unwrap().clone();
        assert_eq!(polls.len(), 3);
        let gaps: Vec<_> = [started, polls[0], polls[1], polls[2]].windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps[0] >= Duration::from_secs(1) && gaps[1] >= Duration::from_secs(1), "{gaps:?}");
        assert!(gaps[2] >= Duration::from_secs(6), "slow_down adds 5 s to the interval: {gaps:?}");
    }

    #[tokio::test]
    async fn denial_and_expiry_end_in_words() {
        let http = crate::http::client(Duration::from_secs(5));
        let (provider, _) = scripted(vec![PENDING, (400, r#"{"error":"access_denied"}"#)]).await;
        let err = poll(&http, &provider, authorization(1, 60)).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::AccessDenied);
        assert!(err.message.contains("declined"), "{}", err.message);

        let (provider, _) = scripted(vec![(400, r#"{"error":"expired_token"}"#)]).await;
        let err = poll(&http, &provider, authorization(1, 60)).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Timeout);
        assert!(err.message.contains("expired"), "{}", err.message);

        // The server keeps saying pending past the code's life: Pixy stops on its own.
        let (provider, polls) = scripted(vec![PENDING; 10]).await;
        let err = poll(&http, &provider, authorization(1, 2)).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Timeout);
        assert!(polls.lock().unwrap().len() <= 2, "no poll after the code expired");
    }

    #[tokio::test]
    async fn another_error_is_named_by_its_code_and_quotes_nothing_else() {
        let http = crate::http::client(Duration::from_secs(5));
        let (provider, _) =
            scripted(vec![(400, r#"{"error":"invalid_grant","error_description":"dc was reused"}"#)]).await;
        let err = poll(&http, &provider, authorization(1, 60)).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::TokenEndpoint);
        assert!(err.message.contains("invalid_grant") && !err.message.contains("dc"), "{}", err.message);
    }

    #[tokio::test]
    async fn a_provider_without_a_device_endpoint_is_told_in_words() {
        let http = crate::http::client(Duration::from_secs(5));
        let (provider, _) = scripted(vec![]).await;
        let err = authorize(&http, &provider, &[]).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::ProviderConfig);
        assert!(err.message.contains("no device authorization endpoint"), "{}", err.message);
    }
}
