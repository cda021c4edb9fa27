//! The HTTP client Pixy uses to talk to providers (discovery, token, userinfo, revocation).
//!
//! Rules: redirects are never followed (a token endpoint that redirects is misconfigured or
//! hostile, and following would resend the code or refresh token elsewhere); every request has a
//! timeout; bodies are read up to [`MAX_BODY`] bytes; the system CA store and proxy variables are
//! honoured. Endpoints must be https, except on loopback hosts, which serve development and tests.
//!
//! Loopback hosts (127.0.0.0/8, ::1, localhost) never go through a proxy, whatever `no_proxy`
//! says: a proxy is another machine or another program, and a request to a loopback provider
//! carries the code, the verifier and tokens meant for this machine alone (nor can a proxy
//! reach this machine's loopback at all).

use std::time::Duration;

use crate::error::{redact_url, Error, ErrorKind, Result};

/// The largest response body Pixy reads from a provider.
pub const MAX_BODY: usize = 256 * 1024;

/// What `no_proxy` always holds, whatever the person's says: the loopback hosts.
const LOOPBACK_NO_PROXY: &str = "127.0.0.0/8,::1,localhost";

/// Builds the provider client, with the proxy settings of this process's environment.
pub fn client(timeout: Duration) -> reqwest::Client {
    client_with_proxy_env(timeout, |name| std::env::var(name).ok())
}

/// Builds the provider client with the proxy variables that `env` names (`http_proxy`,
/// `https_proxy`, `all_proxy`, `no_proxy`, upper case first, as curl and reqwest read them).
pub fn client_with_proxy_env(timeout: Duration, env: impl Fn(&str) -> Option<String>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("pixy/", env!("CARGO_PKG_VERSION")))
        .no_proxy();
    for proxy in proxies(env) {
        builder = builder.proxy(proxy);
    }
    builder.build().expect("the TLS backend and system roots load")
}

/// The proxies the environment asks for, each with the loopback hosts exempt.
fn proxies(env: impl Fn(&str) -> Option<String>) -> Vec<reqwest::Proxy> {
    let first = |names: [&str; 2]| names.into_iter().find_map(|n| env(n).filter(|v| !v.trim().is_empty()));
    // A CGI program gets HTTP_PROXY from the request's `Proxy:` header (httpoxy): never a proxy.
    if env("REQUEST_METHOD").is_some() {
        return Vec::new();
    }
    let no_proxy = match first(["NO_PROXY", "no_proxy"]) {
        Some(theirs) => format!("{theirs},{LOOPBACK_NO_PROXY}"),
        None => LOOPBACK_NO_PROXY.to_string(),
    };
    let all = first(["ALL_PROXY", "all_proxy"]);
    let http = first(["HTTP_PROXY", "http_proxy"]).or_else(|| all.clone());
    let https = first(["HTTPS_PROXY", "https_proxy"]).or(all);
    let made = [
        ("http", http.map(|v| reqwest::Proxy::http(with_scheme(v)))),
        ("https", https.map(|v| reqwest::Proxy::https(with_scheme(v)))),
    ];
    let mut proxies = Vec::new();
    for (scheme, proxy) in made {
        match proxy {
            Some(Ok(proxy)) => proxies.push(proxy.no_proxy(reqwest::NoProxy::from_string(&no_proxy))),
            // The value may hold a password: it is not logged.
            Some(Err(_)) => tracing::warn!(scheme, "the proxy variable is not a URL; going direct"),
            None => {}
        }
    }
    proxies
}

/// `host:port` without a scheme means an http proxy, as curl reads it.
fn with_scheme(value: String) -> String {
    if value.contains("://") {
        value
    } else {
        format!("http://{value}")
    }
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

/// GETs a metadata document a server publishes (or names): its body, or `None` when there is none
/// (404, 405 or 410). The URL gets the endpoint rules; a redirect, another status or an
/// oversized body is a [`ErrorKind::Discovery`] error naming `what`.
pub async fn get_document(http: &reqwest::Client, what: &str, url: &str) -> Result<Option<Vec<u8>>> {
    let discovery = |e: Error| Error::new(ErrorKind::Discovery, e.message);
    check_endpoint(what, url).map_err(discovery)?;
    let resp = http
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| network_error(&format!("the {what} request"), url, &e))?;
    let status = resp.status();
    if status.is_redirection() {
        return Err(Error::new(
            ErrorKind::Discovery,
            format!("the {what} at {} answered with a redirect elsewhere, which Pixy does not follow", redact_url(url)),
        ));
    }
    if matches!(status.as_u16(), 404 | 405 | 410) {
        return Ok(None);
    }
    let body = read_capped(what, url, resp).await.map_err(discovery)?;
    if !status.is_success() {
        return Err(Error::new(ErrorKind::Discovery, format!("the {what} at {} answered {status}", redact_url(url))));
    }
    Ok(Some(body))
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

    /// A stand-in proxy that records each request line it is sent and answers 200 (403 to CONNECT).
    async fn recording_proxy() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut head = vec![0u8; 4096];
                let n = stream.read(&mut head).await.unwrap_or(0);
                let line = String::from_utf8_lossy(&head[..n]).lines().next().unwrap_or("").to_string();
                let answer: &[u8] = if line.starts_with("CONNECT") {
                    b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n"
                } else {
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                };
                record.lock().unwrap().push(line);
                let _ = stream.write_all(answer).await;
            }
        });
        (url, seen)
    }

    #[tokio::test]
    async fn loopback_hosts_never_go_through_the_proxy_whatever_no_proxy_says() {
        let demo = pixy_demo::DemoServer::start(0).await.unwrap();
        let port = url::Url::parse(demo.issuer()).unwrap().port().unwrap();
        let (proxy, seen) = recording_proxy().await;
        for no_proxy in [None, Some(""), Some("example.com")] {
            let env = |name: &str| match name {
                "http_proxy" | "HTTPS_PROXY" | "all_proxy" => Some(proxy.clone()),
                "no_proxy" => no_proxy.map(String::from),
                _ => None,
            };
            let http = client_with_proxy_env(Duration::from_secs(5), env);
            for host in ["127.0.0.1", "localhost"] {
                let url = format!("http://{host}:{port}/.well-known/openid-configuration");
                let resp = http.get(&url).send().await.unwrap();
                assert!(resp.status().is_success(), "{url} answered {} directly", resp.status());
            }
        }
        assert!(seen.lock().unwrap().is_empty(), "the proxy saw loopback requests: {:?}", seen.lock().unwrap());
    }

    #[tokio::test]
    async fn other_hosts_still_go_through_the_proxy() {
        let (proxy, seen) = recording_proxy().await;
        let env = |name: &str| match name {
            "http_proxy" => Some(proxy.trim_start_matches("http://").to_string()),
            "https_proxy" => Some(proxy.clone()),
            "no_proxy" => Some("direct.example".to_string()),
            _ => None,
        };
        let http = client_with_proxy_env(Duration::from_secs(5), env);
        let plain = http.get("http://id.example/.well-known/openid-configuration").send().await.unwrap();
        assert_eq!(plain.text().await.unwrap(), "ok", "the proxy answered for the remote host");
        let _ = http.get("https://id.example/token").send().await;
        let _ = http.get("https://direct.example/token").send().await;
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            ["GET http://id.example/.well-known/openid-configuration HTTP/1.1", "CONNECT id.example:443 HTTP/1.1"],
            "remote hosts go through the proxy, and the person's no_proxy is still honoured"
        );
    }

    #[test]
    fn plain_http_elsewhere_is_refused() {
        for bad in ["http://id.example.com/token", "http://10.0.0.1/token", "ftp://x/y", "nonsense"] {
            let err = check_endpoint("token endpoint", bad).unwrap_err();
            assert_eq!(err.kind, ErrorKind::ProviderConfig, "{bad} must be refused");
        }
    }
}
