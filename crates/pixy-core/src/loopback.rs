//! The loopback redirect listener (RFC 8252 §7.3): catches exactly one valid callback.
//!
//! Rules:
//! - binds 127.0.0.1 only (never 0.0.0.0), on port 0 or the provider's registered ports in order;
//! - only `GET` on the exact callback path is considered; other paths get 404, other methods 405,
//!   and the flow keeps waiting;
//! - `Host` must be the loopback host:port in use; a request carrying `Origin` is refused
//!   (DNS rebinding and cross-site requests);
//! - the state decides before anything else ([`crate::callback::judge`]): a stray request gets a
//!   400 page and never ends the flow;
//! - every connection has a header-read timeout, a bounded buffer and `Connection: close`; at most
//!   [`MAX_CONNECTIONS`] are served at once, more are dropped;
//! - one-shot: after the callback that ends the flow, the port is released at once; dropping the
//!   [`Receiver`] releases it too.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Notify, Semaphore};

use crate::callback::{judge, Expected, Verdict};
use crate::error::{Error, ErrorKind, Result};
use crate::pages;
use crate::secret::AuthCode;

/// Connections served at once; more are closed unanswered.
pub const MAX_CONNECTIONS: usize = 64;
/// How long a client may take to send its request headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Where to listen.
#[derive(Debug, Clone)]
pub struct LoopbackOptions {
    /// Ports to try in order; empty means any free port.
    pub ports: Vec<u16>,
    /// The callback path.
    pub path: String,
}

impl Default for LoopbackOptions {
    fn default() -> Self {
        LoopbackOptions { ports: Vec::new(), path: "/callback".to_string() }
    }
}

type Outcome = std::result::Result<AuthCode, Error>;

struct Shared {
    expected: Expected,
    path: String,
    host: String,
    outcome: Mutex<Option<oneshot::Sender<Outcome>>>,
    done: Notify,
}

/// A listening receiver; [`Receiver::wait`] yields the code of the one valid callback.
#[derive(Debug)]
pub struct Receiver {
    redirect_uri: String,
    outcome: oneshot::Receiver<Outcome>,
    accept_loop: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Binds the listener and starts serving.
    pub async fn bind(options: &LoopbackOptions, expected: Expected) -> Result<Receiver> {
        let listener = bind_first(&options.ports).await?;
        let port = listener.local_addr().map_err(listener_error)?.port();
        let host = format!("127.0.0.1:{port}");
        let (tx, rx) = oneshot::channel();
        let shared = Arc::new(Shared {
            expected,
            path: options.path.clone(),
            host: host.clone(),
            outcome: Mutex::new(Some(tx)),
            done: Notify::new(),
        });
        tracing::debug!(port, "loopback listener bound");
        let accept_loop = tokio::spawn(accept_loop(listener, shared));
        Ok(Receiver { redirect_uri: format!("http://{host}{}", options.path), outcome: rx, accept_loop })
    }

    /// The redirect URI to register in the authorization request.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Waits for the callback that ends the flow.
    pub async fn wait(mut self) -> Result<AuthCode> {
        match (&mut self.outcome).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Error::new(ErrorKind::Internal, "the loopback listener stopped")),
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // Releases the port: the accept loop owns the listening socket.
        self.accept_loop.abort();
    }
}

async fn bind_first(ports: &[u16]) -> Result<TcpListener> {
    let candidates: Vec<u16> = if ports.is_empty() { vec![0] } else { ports.to_vec() };
    let mut last = None;
    for port in &candidates {
        match TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, *port))).await {
            Ok(l) => return Ok(l),
            Err(e) => last = Some((port, e)),
        }
    }
    let (port, e) = last.expect("at least one candidate");
    Err(Error::new(
        ErrorKind::Listener,
        format!(
            "cannot listen on 127.0.0.1:{port} for the browser's redirect ({e}); \
             close the program using that port or cancel the other sign-in, then try again"
        ),
    ))
}

fn listener_error(e: std::io::Error) -> Error {
    Error::new(ErrorKind::Listener, format!("the loopback listener failed: {e}"))
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = tokio::select! {
            _ = shared.done.notified() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "loopback accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            continue; // Over the cap: dropping the stream closes it.
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(respond(&shared, &req)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .keep_alive(false)
                .max_buf_size(16 * 1024)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            drop(permit);
        });
    }
}

fn respond(shared: &Shared, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let host_ok = req
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| h.eq_ignore_ascii_case(&shared.host));
    if !host_ok {
        return html(StatusCode::BAD_REQUEST, false, "Wrong address", "This address is not Pixy's sign-in listener.");
    }
    if req.headers().contains_key(hyper::header::ORIGIN) {
        return html(StatusCode::FORBIDDEN, false, "Refused", "Pixy only accepts the provider's redirect, not requests from other pages.");
    }
    if req.uri().path() != shared.path {
        return html(StatusCode::NOT_FOUND, false, "Not found", "Nothing here. Return to Pixy.");
    }
    if req.method() != Method::GET {
        return html(StatusCode::METHOD_NOT_ALLOWED, false, "Not allowed", "Return to Pixy.");
    }
    match judge(req.uri().query(), &shared.expected) {
        Verdict::Stray(why) => {
            tracing::debug!(why, "stray callback; still waiting");
            html(
                StatusCode::BAD_REQUEST,
                false,
                "This link is not for this sign-in",
                &format!("{why}. If you started a sign-in, finish it from Pixy's latest browser tab."),
            )
        }
        Verdict::Finished(outcome) => {
            let page = match &outcome {
                Ok(_) => html(StatusCode::OK, true, "You're connected", "You can close this tab and return to Pixy."),
                Err(e) => html(StatusCode::OK, false, "Sign-in did not complete", &format!("{}. Return to Pixy to try again.", capitalise(&e.message))),
            };
            if let Some(tx) = shared.outcome.lock().expect("outcome lock").take() {
                let _ = tx.send(outcome);
            }
            shared.done.notify_one();
            page
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn html(status: StatusCode, ok: bool, heading: &str, text: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::builder().status(status).header("connection", "close");
    for (k, v) in pages::HEADERS {
        resp = resp.header(k, v);
    }
    resp.body(Full::new(Bytes::from(pages::page(ok, heading, text))))
        .expect("static headers are valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::State;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn receiver() -> Receiver {
        let expected = Expected { state: State::new("s1"), issuer: None };
        Receiver::bind(&LoopbackOptions::default(), expected).await.unwrap()
    }

    fn addr(r: &Receiver) -> String {
        r.redirect_uri().trim_start_matches("http://").split('/').next().unwrap().to_string()
    }

    async fn raw(addr: &str, request: String) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    async fn get(addr: &str, target: &str, extra: &str) -> String {
        raw(addr, format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\n{extra}\r\n")).await
    }

    #[tokio::test]
    async fn listens_on_127_0_0_1_with_the_callback_path() {
        let r = receiver().await;
        assert!(r.redirect_uri().starts_with("http://127.0.0.1:"));
        assert!(r.redirect_uri().ends_with("/callback"));
    }

    #[tokio::test]
    async fn stray_requests_do_not_end_the_flow() {
        let r = receiver().await;
        let a = addr(&r);
        assert!(get(&a, "/favicon.ico", "").await.starts_with("HTTP/1.1 404"));
        assert!(get(&a, "/callback?code=x&state=wrong", "").await.starts_with("HTTP/1.1 400"));
        assert!(get(&a, "/callback?code=x&state=s1", "Origin: http://evil.example\r\n").await.starts_with("HTTP/1.1 403"));
        let wrong_host = raw(&a, "GET /callback?code=x&state=s1 HTTP/1.1\r\nHost: evil.example\r\n\r\n".into()).await;
        assert!(wrong_host.starts_with("HTTP/1.1 400"), "a foreign Host is refused: {wrong_host}");
        let ok = get(&a, "/callback?code=the-code&state=s1", "").await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(ok.to_ascii_lowercase().contains("cache-control: no-store"));
        assert!(ok.to_ascii_lowercase().contains("referrer-policy: no-referrer"));
        assert!(ok.to_ascii_lowercase().contains("content-security-policy: default-src 'none'"));
        assert!(!ok.contains("the-code"), "the page never echoes the code");
        assert_eq!(r.wait().await.unwrap().expose(), "the-code", "the right callback still wins");
    }

    #[tokio::test]
    async fn the_port_is_released_after_the_callback() {
        let r = receiver().await;
        let a = addr(&r);
        get(&a, "/callback?code=c&state=s1", "").await;
        r.wait().await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(tokio::net::TcpStream::connect(&a).await.is_err(), "the port must be closed");
    }

    #[tokio::test]
    async fn dropping_the_receiver_releases_the_port() {
        let r = receiver().await;
        let a = addr(&r);
        drop(r);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(tokio::net::TcpStream::connect(&a).await.is_err(), "the port must be closed");
    }

    #[tokio::test]
    async fn provider_error_description_is_escaped_on_the_page() {
        let r = receiver().await;
        let a = addr(&r);
        let page = get(&a, "/callback?error=server_error&error_description=%3Cscript%3Ealert(1)%3C/script%3E&state=s1", "").await;
        assert!(!page.contains("<script>"), "echoed markup must be escaped: {page}");
        assert!(page.contains("&lt;script&gt;"));
        assert_eq!(r.wait().await.unwrap_err().kind, ErrorKind::AuthorizationFailed);
    }

    #[tokio::test]
    async fn a_busy_fixed_port_is_a_clear_listener_error() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let options = LoopbackOptions { ports: vec![port], path: "/callback".into() };
        let expected = Expected { state: State::new("s"), issuer: None };
        let err = Receiver::bind(&options, expected).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Listener);
        assert!(err.message.contains(&port.to_string()), "the port is named: {}", err.message);
    }
}
