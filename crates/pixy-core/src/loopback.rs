//! The loopback redirect listener (RFC 8252 §7.3): catches exactly one valid callback.
//!
//! Rules:
//! - addresses: binds loopback only — 127.0.0.1 and [::1] on the same port when both are
//!   available — never 0.0.0.0 or ::; the redirect host is what the provider registered
//!   (`127.0.0.1` by default, `localhost` or `[::1]`); for `localhost` a port another program
//!   holds on either address is skipped, since the browser may resolve it to either;
//! - ports: port 0 by default, or the provider's registered ports tried in order; when every one
//!   is busy the error names the port and, where the OS tells, the process holding it;
//! - requests: only `GET` on the exact callback path is considered; other paths get 404, other
//!   methods 405, and the flow keeps waiting; the request's authority must be the redirect
//!   host:port in use — the one in an absolute-form target (`GET http://host/...`), which wins
//!   over `Host` (RFC 9112 §3.2.2), else `Host`; a request carrying `Origin` is refused (DNS
//!   rebinding and cross-site requests);
//! - state: it decides before anything else ([`crate::callback::judge`]), in constant time; a
//!   stray request gets a 400 page and never ends the flow; `error=` counts only with a valid
//!   state; RFC 9207 `iss` is compared when the provider advertises it;
//! - limits: a header-read timeout, a bounded request buffer, `Connection: close`, and at most
//!   [`MAX_CONNECTIONS`] connections: over the cap the oldest is closed to make room, so idle
//!   or slowloris connections cannot keep the browser's callback out;
//! - lifetime: one-shot — after the callback that ends the flow the port is released at once;
//!   dropping the [`Receiver`] releases it too; the flow's timeout is the caller's
//!   (see [`crate::flow`]);
//! - logs: booleans only (`has_code`, `state_valid`, ...), never a code or state value.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
pub use hyper::Method;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

use crate::callback::{judge, Expected, Verdict};
use crate::error::{Error, ErrorKind, Result};
use crate::pages;
use crate::secret::AuthCode;

/// Connections served at once; past this the oldest is closed to make room.
pub const MAX_CONNECTIONS: usize = 64;
/// How long a client may take to send its request headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest request head read.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;

/// The host the redirect URI names, as registered with the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedirectHost {
    /// `http://127.0.0.1:PORT/...` (RFC 8252's recommendation).
    #[default]
    Ipv4,
    /// `http://localhost:PORT/...`: the browser may resolve it to either address, so both are bound.
    Localhost,
    /// `http://[::1]:PORT/...`.
    Ipv6,
}

impl RedirectHost {
    /// The host as a redirect URI writes it.
    pub fn name(self) -> &'static str {
        match self {
            RedirectHost::Ipv4 => "127.0.0.1",
            RedirectHost::Localhost => "localhost",
            RedirectHost::Ipv6 => "[::1]",
        }
    }
}

/// Where to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopbackOptions {
    /// The redirect host.
    pub host: RedirectHost,
    /// Ports to try in order; empty means any free port.
    pub ports: Vec<u16>,
    /// The callback path.
    pub path: String,
}

impl Default for LoopbackOptions {
    fn default() -> Self {
        LoopbackOptions { host: RedirectHost::Ipv4, ports: Vec::new(), path: "/callback".to_string() }
    }
}

type Outcome = std::result::Result<AuthCode, Error>;

struct Shared {
    expected: Expected,
    path: String,
    host: String,
    outcome: Mutex<Option<oneshot::Sender<Outcome>>>,
    /// Flips to true when the flow has its answer: every accept loop then stops.
    done: watch::Sender<bool>,
}

/// A listening receiver; [`Receiver::wait`] yields the code of the one valid callback.
#[derive(Debug)]
pub struct Receiver {
    redirect_uri: String,
    port: u16,
    addresses: Vec<SocketAddr>,
    outcome: oneshot::Receiver<Outcome>,
    accept_loops: Vec<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    /// Binds the listener(s) and starts serving.
    pub async fn bind(options: &LoopbackOptions, expected: Expected) -> Result<Receiver> {
        let listeners = bind_first(options.host, &options.ports).await?;
        let port = listeners[0].local_addr().map_err(listener_error)?.port();
        let addresses: Vec<SocketAddr> = listeners.iter().filter_map(|l| l.local_addr().ok()).collect();
        let host = format!("{}:{port}", options.host.name());
        let (tx, rx) = oneshot::channel();
        let shared = Arc::new(Shared {
            expected,
            path: options.path.clone(),
            host: host.clone(),
            outcome: Mutex::new(Some(tx)),
            done: watch::channel(false).0,
        });
        tracing::debug!(
            port,
            ipv4 = addresses.iter().any(|a| a.is_ipv4()),
            ipv6 = addresses.iter().any(|a| a.is_ipv6()),
            "loopback listener bound"
        );
        let slots = Arc::new(Slots::default());
        let accept_loops =
            listeners.into_iter().map(|l| tokio::spawn(accept_loop(l, shared.clone(), slots.clone()))).collect();
        Ok(Receiver {
            redirect_uri: format!("http://{host}{}", options.path),
            port,
            addresses,
            outcome: rx,
            accept_loops,
        })
    }

    /// The redirect URI to register in the authorization request.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The port in use.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The addresses actually bound (127.0.0.1 and/or [::1]).
    pub fn addresses(&self) -> &[SocketAddr] {
        &self.addresses
    }

    /// Waits for the callback that ends the flow.
    pub async fn wait(&mut self) -> Result<AuthCode> {
        match (&mut self.outcome).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Error::new(ErrorKind::Internal, "the loopback listener stopped")),
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // Releases the port: the accept loops own the listening sockets.
        for task in &self.accept_loops {
            task.abort();
        }
    }
}

async fn bind_first(host: RedirectHost, ports: &[u16]) -> Result<Vec<TcpListener>> {
    // Any port: a fresh one is tried again if its other address is taken.
    let candidates: Vec<u16> = if ports.is_empty() { vec![0; 3] } else { ports.to_vec() };
    let mut last = None;
    // A flow of this process that was just cancelled frees its port a moment later: wait briefly
    // for it, never for another program's.
    for _ in 0..20 {
        for port in &candidates {
            match bind_pair(host, *port).await {
                Ok(listeners) => return Ok(listeners),
                Err(e) => last = Some((*port, e)),
            }
        }
        let ours = last
            .as_ref()
            .and_then(|(port, _)| crate::port_holder::describe(*port))
            .is_some_and(|h| h.starts_with("this Pixy"));
        if !ours {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (port, e) = last.expect("at least one candidate");
    let holder = crate::port_holder::describe(port).map(|h| format!(", held by {h}")).unwrap_or_default();
    Err(Error::new(
        ErrorKind::Listener,
        format!(
            "cannot listen on {}:{port} for the browser's redirect ({e}{holder}); \
             close that program or cancel its sign-in, then try again",
            host.name()
        ),
    ))
}

/// Binds the redirect's address and the other loopback address on the same port. For
/// `localhost` both count: a browser may resolve it to either, so a port another program holds on
/// either address is not used (that program would be handed the code). A host without IPv6 still
/// works on 127.0.0.1 alone.
async fn bind_pair(host: RedirectHost, port: u16) -> std::io::Result<Vec<TcpListener>> {
    let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let (first, second) = if host == RedirectHost::Ipv6 { (v6, v4) } else { (v4, v6) };
    let primary = TcpListener::bind(SocketAddr::new(first, port)).await?;
    let bound = primary.local_addr()?.port();
    let mut listeners = vec![primary];
    match TcpListener::bind(SocketAddr::new(second, bound)).await {
        Ok(other) => listeners.push(other),
        Err(e) if host == RedirectHost::Localhost && e.kind() == std::io::ErrorKind::AddrInUse => return Err(e),
        Err(_) => {}
    }
    Ok(listeners)
}

fn listener_error(e: std::io::Error) -> Error {
    Error::new(ErrorKind::Listener, format!("the loopback listener failed: {e}"))
}

/// Open connections, oldest first, each with the switch that closes it.
#[derive(Default)]
struct Slots {
    open: Mutex<VecDeque<(u64, oneshot::Sender<()>)>>,
    next: std::sync::atomic::AtomicU64,
}

impl Slots {
    /// Registers a connection, closing the oldest when at the cap.
    fn admit(&self) -> (u64, oneshot::Receiver<()>) {
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let mut open = self.open.lock().expect("slots lock");
        while open.len() >= MAX_CONNECTIONS {
            open.pop_front(); // Dropping its sender closes that connection.
        }
        open.push_back((id, tx));
        (id, rx)
    }

    fn release(&self, id: u64) {
        self.open.lock().expect("slots lock").retain(|(i, _)| *i != id);
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, slots: Arc<Slots>) {
    let mut done = shared.done.subscribe();
    loop {
        if *done.borrow_and_update() {
            return;
        }
        let stream = tokio::select! {
            _ = done.changed() => continue,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "loopback accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let (id, evicted) = slots.admit();
        let shared = shared.clone();
        let slots = slots.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(respond(&shared, &req)) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .keep_alive(false)
                .max_buf_size(MAX_REQUEST_BYTES)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = evicted => {}
            }
            slots.release(id);
        });
    }
}

/// What the listener answers to one request, and whether it ends the flow.
#[derive(Debug)]
pub struct Decision {
    /// The HTTP status.
    pub status: StatusCode,
    /// Success page or error page.
    pub ok: bool,
    /// The page's heading.
    pub heading: &'static str,
    /// The page's sentence.
    pub text: String,
    /// `Some` when this request ends the flow.
    pub outcome: Option<std::result::Result<AuthCode, Error>>,
}

/// Decides on one request from its method, target (origin-form `/path?query` or absolute-form
/// `http://authority/path?query`), `Host` and whether it carries `Origin`. Pure, so it is
/// unit-tested and fuzzed directly.
pub fn decide(
    method: &Method,
    target: &str,
    host: Option<&str>,
    has_origin: bool,
    expected_host: &str,
    path: &str,
    expected: &Expected,
) -> Decision {
    let refuse =
        |status, heading, text: &str| Decision { status, ok: false, heading, text: text.to_string(), outcome: None };
    let (authority, target) = match target.strip_prefix('/') {
        Some(_) => (host, target),
        None => match absolute_form(target) {
            Some((authority, rest)) => (Some(authority), rest),
            None => (None, target),
        },
    };
    if !authority.is_some_and(|h| h.eq_ignore_ascii_case(expected_host)) {
        return refuse(StatusCode::BAD_REQUEST, "Wrong address", "This address is not Pixy's sign-in listener.");
    }
    if has_origin {
        return refuse(
            StatusCode::FORBIDDEN,
            "Refused",
            "Pixy only accepts the provider's redirect, not requests from other pages.",
        );
    }
    let (req_path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    if req_path != path {
        return refuse(StatusCode::NOT_FOUND, "Not found", "Nothing here. Return to Pixy.");
    }
    if method != Method::GET {
        return refuse(StatusCode::METHOD_NOT_ALLOWED, "Not allowed", "Return to Pixy.");
    }
    match judge(query, expected) {
        Verdict::Stray(why) => {
            tracing::debug!(why, "stray callback; still waiting");
            refuse(
                StatusCode::BAD_REQUEST,
                "This link is not for this sign-in",
                &format!("{}. If you started a sign-in, finish it from Pixy's latest browser tab.", capitalise(why)),
            )
        }
        Verdict::Finished(Ok(code)) => Decision {
            status: StatusCode::OK,
            ok: true,
            heading: "You're connected",
            text: "You can close this tab and return to Pixy.".to_string(),
            outcome: Some(Ok(code)),
        },
        Verdict::Finished(Err(e)) => Decision {
            status: StatusCode::OK,
            ok: false,
            heading: "Sign-in did not complete",
            text: format!("{}. Return to Pixy to try again.", capitalise(&e.message)),
            outcome: Some(Err(e)),
        },
    }
}

/// The authority and the `/path?query` of an `http://` absolute-form target; `None` for any
/// other scheme or form, which the listener never serves.
fn absolute_form(target: &str) -> Option<(&str, &str)> {
    let scheme_end = target.find("://")?;
    if !target[..scheme_end].eq_ignore_ascii_case("http") {
        return None;
    }
    let rest = &target[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    path.starts_with('/').then_some((authority, path))
}

fn respond(shared: &Shared, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let host = req.headers().get(hyper::header::HOST).and_then(|h| h.to_str().ok());
    // The whole target as received: an absolute-form one keeps its scheme and authority.
    let target = req.uri().to_string();
    let has_origin = req.headers().contains_key(hyper::header::ORIGIN);
    let decision = decide(req.method(), &target, host, has_origin, &shared.host, &shared.path, &shared.expected);
    if let Some(outcome) = decision.outcome {
        if let Some(tx) = shared.outcome.lock().expect("outcome lock").take() {
            let _ = tx.send(outcome);
        }
        shared.done.send_replace(true);
    }
    html(decision.status, decision.ok, decision.heading, &decision.text)
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
    resp.body(Full::new(Bytes::from(pages::page(ok, heading, text)))).expect("static headers are valid")
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
        let mut r = receiver().await;
        let a = addr(&r);
        assert!(get(&a, "/favicon.ico", "").await.starts_with("HTTP/1.1 404"));
        assert!(get(&a, "/callback?code=x&state=wrong", "").await.starts_with("HTTP/1.1 400"));
        assert!(get(&a, "/callback?code=x&state=s1", "Origin: http://evil.example\r\n")
            .await
            .starts_with("HTTP/1.1 403"));
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
        let mut r = receiver().await;
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
        let mut r = receiver().await;
        let a = addr(&r);
        let page =
            get(&a, "/callback?error=server_error&error_description=%3Cscript%3Ealert(1)%3C/script%3E&state=s1", "")
                .await;
        assert!(!page.contains("<script>"), "echoed markup must be escaped: {page}");
        assert!(page.contains("&lt;script&gt;"));
        assert_eq!(r.wait().await.unwrap_err().kind, ErrorKind::AuthorizationFailed);
    }

    #[tokio::test]
    async fn a_busy_fixed_port_is_a_clear_listener_error() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let options = LoopbackOptions { ports: vec![port], ..Default::default() };
        let expected = Expected { state: State::new("s"), issuer: None };
        let err = Receiver::bind(&options, expected).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Listener);
        assert!(err.message.contains(&port.to_string()), "the port is named: {}", err.message);
    }

    #[tokio::test]
    async fn binds_127_0_0_1_and_ipv6_loopback_on_one_port_and_nothing_else() {
        let r = receiver().await;
        let ips: Vec<IpAddr> = r.addresses().iter().map(|a| a.ip()).collect();
        assert!(ips.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)), "127.0.0.1 is always bound: {ips:?}");
        assert!(ips.iter().all(|ip| ip.is_loopback()), "only loopback addresses: {ips:?}");
        assert!(r.addresses().iter().all(|a| a.port() == r.port()), "one port for both");
    }

    #[tokio::test]
    async fn a_localhost_port_another_program_holds_on_either_address_is_skipped() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let expected = || Expected { state: State::new("s1"), issuer: None };
        let localhost = LoopbackOptions { host: RedirectHost::Localhost, ports: vec![port], ..Default::default() };
        let err = Receiver::bind(&localhost, expected()).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Listener, "its IPv6 half is free, but the browser may go to the other");
        let Ok(v6_taken) = std::net::TcpListener::bind(("::1", 0)) else { return }; // no IPv6 loopback here
        let port = v6_taken.local_addr().unwrap().port();
        let localhost = LoopbackOptions { host: RedirectHost::Localhost, ports: vec![port], ..Default::default() };
        assert!(Receiver::bind(&localhost, expected()).await.is_err(), "nor when IPv6 is the taken half");
        let ipv4 = LoopbackOptions { ports: vec![port], ..Default::default() };
        assert!(
            Receiver::bind(&ipv4, expected()).await.is_ok(),
            "127.0.0.1 names one address: the other's owner is not asked"
        );
    }

    #[tokio::test]
    async fn the_redirect_host_is_the_one_registered() {
        for (host, uri) in [(RedirectHost::Localhost, "http://localhost:"), (RedirectHost::Ipv6, "http://[::1]:")] {
            let expected = Expected { state: State::new("s1"), issuer: None };
            let options = LoopbackOptions { host, ..Default::default() };
            let Ok(mut r) = Receiver::bind(&options, expected).await else {
                assert_eq!(host, RedirectHost::Ipv6, "localhost always binds");
                continue; // A machine without IPv6 loopback cannot serve [::1].
            };
            assert!(r.redirect_uri().starts_with(uri), "{}", r.redirect_uri());
            let port = r.port();
            let target = format!("{}:{port}", if host == RedirectHost::Ipv6 { "[::1]" } else { "127.0.0.1" });
            let wrong =
                raw(&target, format!("GET /callback?code=c&state=s1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n")).await;
            assert!(wrong.starts_with("HTTP/1.1 400"), "Host must name the registered host: {wrong}");
            let host_header =
                if host == RedirectHost::Ipv6 { format!("[::1]:{port}") } else { format!("localhost:{port}") };
            let ok =
                raw(&target, format!("GET /callback?code=c&state=s1 HTTP/1.1\r\nHost: {host_header}\r\n\r\n")).await;
            assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
            assert_eq!(r.wait().await.unwrap().expose(), "c");
        }
    }

    #[tokio::test]
    async fn a_valid_callback_gets_through_500_idle_connections() {
        let mut r = receiver().await;
        let a = addr(&r);
        let mut idle = Vec::new();
        for _ in 0..500 {
            let mut s = tokio::net::TcpStream::connect(&a).await.unwrap();
            // Half a request line, never finished: a slowloris client.
            s.write_all(b"GET /callback?co").await.unwrap();
            idle.push(s);
        }
        let ok = tokio::time::timeout(Duration::from_secs(10), get(&a, "/callback?code=c&state=s1", ""))
            .await
            .expect("answered despite the idle connections");
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert_eq!(r.wait().await.unwrap().expose(), "c");
    }

    #[test]
    fn decide_checks_host_origin_path_and_method_before_the_state() {
        let e = Expected { state: State::new("s1"), issuer: None };
        let d = |m: Method, t: &str, h: Option<&str>, o: bool| decide(&m, t, h, o, "127.0.0.1:9", "/callback", &e);
        assert_eq!(d(Method::GET, "/callback?code=c&state=s1", Some("127.0.0.1:9"), false).status, StatusCode::OK);
        assert_eq!(d(Method::GET, "/callback?code=c&state=s1", None, false).status, StatusCode::BAD_REQUEST);
        assert_eq!(
            d(Method::GET, "/callback?code=c&state=s1", Some("127.0.0.1:9"), true).status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            d(Method::POST, "/callback?code=c&state=s1", Some("127.0.0.1:9"), false).status,
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            d(Method::GET, "/callback/?code=c&state=s1", Some("127.0.0.1:9"), false).status,
            StatusCode::NOT_FOUND
        );
        assert!(d(Method::GET, "/callback?code=c&state=s2", Some("127.0.0.1:9"), false).outcome.is_none());
    }

    #[test]
    fn an_absolute_form_target_is_judged_by_its_own_authority_not_by_host() {
        let e = Expected { state: State::new("s1"), issuer: None };
        let d = |t: &str, h: Option<&str>| decide(&Method::GET, t, h, false, "127.0.0.1:9", "/callback", &e);
        for foreign in [
            "http://evil.com/callback?code=c&state=s1",
            "http://evil.com:9/callback?code=c&state=s1",
            "http://user@127.0.0.1:9/callback?code=c&state=s1",
            "https://127.0.0.1:9/callback?code=c&state=s1",
            "127.0.0.1:9",
            "*",
        ] {
            let decision = d(foreign, Some("127.0.0.1:9"));
            assert_eq!(decision.status, StatusCode::BAD_REQUEST, "{foreign} names another authority");
            assert!(decision.outcome.is_none(), "{foreign} must not end the flow");
        }
        let ours = d("http://127.0.0.1:9/callback?code=c&state=s1", Some("evil.com"));
        assert_eq!(ours.status, StatusCode::OK, "the target's authority wins over Host (RFC 9112 §3.2.2)");
    }

    #[tokio::test]
    async fn the_listener_refuses_an_absolute_target_for_another_host_even_with_the_right_host_header() {
        let mut r = receiver().await;
        let a = addr(&r);
        let foreign =
            raw(&a, format!("GET http://evil.com/callback?code=stolen&state=s1 HTTP/1.1\r\nHost: {a}\r\n\r\n")).await;
        assert!(foreign.starts_with("HTTP/1.1 400"), "another authority is refused: {foreign}");
        let ok = get(&a, "/callback?code=the-code&state=s1", "").await;
        assert!(ok.starts_with("HTTP/1.1 200"), "the flow was still waiting: {ok}");
        assert_eq!(r.wait().await.unwrap().expose(), "the-code");
    }
}
