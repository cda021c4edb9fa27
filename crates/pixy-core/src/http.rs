//! The HTTP client Pixy uses to talk to providers (discovery, token, userinfo, revocation).
//!
//! Rules: redirects are never followed (a token endpoint that redirects is misconfigured or
//! hostile, and following would resend the code or refresh token elsewhere); every request has a
//! timeout; bodies are read up to [`MAX_BODY`] bytes; the system CA store and proxy variables are
//! honoured. Endpoints must be https, except on loopback hosts, which serve development and tests.

use std::time::Duration;

use crate::error::{redact_url, Error, ErrorKind, Result};

/// The largest response body Pixy reads from a provider.
pub const MAX_BODY: usize = 256 * 1024;

/// Builds the provider client.
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("pixy/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the TLS backend and system roots load")
}

/// Checks that an endpoint may carry secrets: https, or http on a loopback host.
pub fn check_endpoint(what: &str, url: &str) -> Result<url::Url> {
    let parsed = url::Url::parse(url)
        .map_err(|_| Error::new(ErrorKind::ProviderConfig, format!("the {what} is not a valid URL")))?;
    let loopback = matches!(
        parsed.host(),
        Some(url::Host::Ipv4(ip)) if ip.is_loopback()
    ) || matches!(parsed.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
        || parsed.host_str() == Some("localhost");
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback => Ok(parsed),
        _ => Err(Error::new(
            ErrorKind::ProviderConfig,
            format!(
                "the {what} {} must use https (plain http is allowed only on 127.0.0.1, [::1] and localhost)",
                redact_url(url)
            ),
        )),
    }
}

/// Maps a transport failure to a network error that names the host, not the full URL.
pub fn network_error(what: &str, url: &str, err: &reqwest::Error) -> Error {
    let why = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    Error::new(ErrorKind::Network, format!("{what} at {} {why}", redact_url(url)))
}

/// Reads a response body, refusing one larger than [`MAX_BODY`].
pub async fn read_capped(what: &str, url: &str, mut resp: reqwest::Response) -> Result<Vec<u8>> {
    if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large(what, url));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| network_error(what, url, &e))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(too_large(what, url));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn too_large(what: &str, url: &str) -> Error {
    Error::new(
        ErrorKind::TokenEndpoint,
        format!("the {what} at {} sent more than {} KiB", redact_url(url), MAX_BODY / 1024),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_and_loopback_http_are_accepted() {
        for ok in [
            "https://id.example.com/token",
            "http://127.0.0.1:8080/token",
            "http://[::1]:8080/token",
            "http://localhost/token",
        ] {
            assert!(check_endpoint("token endpoint", ok).is_ok(), "{ok} should be accepted");
        }
    }

    #[test]
    fn plain_http_elsewhere_is_refused() {
        for bad in ["http://id.example.com/token", "http://10.0.0.1/token", "ftp://x/y", "nonsense"] {
            let err = check_endpoint("token endpoint", bad).unwrap_err();
            assert_eq!(err.kind, ErrorKind::ProviderConfig, "{bad} must be refused");
        }
    }
}
