//! Accepting connections and routing requests.
//!
//! Invariants: one task per connection, at most [`MAX_CONNECTIONS`] at once; HTTP/1.1 only, with a header read
//! timeout so an idle or slow client cannot hold a connection; requests whose `Host` is not this server's
//! loopback address are refused, so a web page that rebinds a DNS name to 127.0.0.1 cannot read the demo's pages.
//! Logs carry known paths and statuses, never a query string, header or body.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::HOST;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::grantex::{self, CODE_PAGE_PATH, CONSENT_PATH, GRANTS_PREFIX, JWKS_PATH};
use crate::reply::{self, Reply};
use crate::{
    authorize, code_page, grantex_consent, grantex_jwt, introspect, metadata, revoke, token, userinfo, Provider,
};

/// Open connections at most. A browser and a client or two is all a demo ever sees.
const MAX_CONNECTIONS: usize = 64;

/// How long a client may take to send a request's headers, also between requests on a kept-alive connection.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `listener` until the task running this is aborted; aborting also ends every open connection, because
/// they live in this task's [`JoinSet`].
pub(crate) async fn serve(listener: TcpListener, provider: Arc<Provider>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) if connections.len() < MAX_CONNECTIONS => {
                    connections.spawn(connection(stream, provider.clone()));
                }
                Ok(_) => tracing::debug!("demo server: connection refused, too many open"),
                Err(error) => {
                    // Usually out of file descriptors: wait instead of spinning on the error.
                    tracing::debug!(%error, "demo server: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn connection(stream: TcpStream, provider: Arc<Provider>) {
    let service = service_fn(move |req| {
        let provider = provider.clone();
        async move { Ok::<_, Infallible>(route(&provider, req).await) }
    });
    let served = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(error) = served {
        tracing::debug!(%error, "demo server: connection ended with an error");
    }
}

async fn route(provider: &Provider, req: Request<Incoming>) -> Reply {
    if !is_own_host(&req, provider.port) {
        tracing::debug!("demo server: request for another host refused");
        return reply::plain(StatusCode::MISDIRECTED_REQUEST, "this server answers only on its loopback address\n");
    }
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let reply = match (&method, path.as_str()) {
        (&Method::GET, "/.well-known/openid-configuration" | "/.well-known/oauth-authorization-server") => {
            metadata::serve(&provider.issuer)
        }
        // The aliases are the paths providers Pixy has presets for use, so a test can keep a preset's paths.
        (&Method::GET, "/authorize" | "/oauth/authorize") => authorize::ask(provider, req.uri().query()),
        (&Method::POST, "/authorize/decision") => authorize::decide(provider, req).await,
        (&Method::GET, code_page::PATH) => code_page::serve(req.uri().query()),
        (&Method::POST, "/token" | "/oauth/token" | "/v1/oauth/token") => token::serve(provider, req).await,
        (&Method::POST, "/revoke") => revoke::serve(provider, req).await,
        (&Method::POST, "/introspect") => introspect::serve(provider, req).await,
        (&Method::GET, "/userinfo") => userinfo::serve(provider, &req),
        // Grantex: its API, its consent page, its code page (the same page as the OAuth one), its JWKS.
        (&Method::POST, "/v1/authorize") => grantex::authorize(provider, req).await,
        (&Method::POST, "/v1/token") => grantex::token(provider, req).await,
        (&Method::POST, "/v1/token/refresh") => grantex::refresh(provider, req).await,
        (&Method::DELETE, grant) if grant.starts_with(GRANTS_PREFIX) => {
            grantex::revoke(provider, &req, &grant[GRANTS_PREFIX.len()..])
        }
        (&Method::GET, CONSENT_PATH) => grantex_consent::ask(provider, req.uri().query()),
        (&Method::POST, CONSENT_PATH) => grantex_consent::decide(provider, req).await,
        (&Method::GET, CODE_PAGE_PATH) => code_page::serve(req.uri().query()),
        (&Method::GET, JWKS_PATH) => grantex_jwt::jwks(provider.grantex_keys),
        (
            _,
            "/.well-known/openid-configuration"
            | "/.well-known/oauth-authorization-server"
            | "/authorize"
            | "/oauth/authorize"
            | code_page::PATH
            | "/userinfo"
            | CODE_PAGE_PATH
            | JWKS_PATH,
        ) => reply::method_not_allowed("GET"),
        (
            _,
            "/authorize/decision"
            | "/token"
            | "/oauth/token"
            | "/v1/oauth/token"
            | "/revoke"
            | "/introspect"
            | "/v1/authorize"
            | "/v1/token"
            | "/v1/token/refresh",
        ) => reply::method_not_allowed("POST"),
        (_, CONSENT_PATH) => reply::method_not_allowed("GET, POST"),
        (_, grant) if grant.starts_with(GRANTS_PREFIX) => reply::method_not_allowed("DELETE"),
        _ => reply::plain(StatusCode::NOT_FOUND, "not found\n"),
    };
    // Unknown paths are not logged: a confused client might put a secret in one. Nor is a grant id.
    let logged_path = if reply.status() == StatusCode::NOT_FOUND {
        "(unknown)"
    } else if path.starts_with(GRANTS_PREFIX) {
        "/v1/grants/{grantId}"
    } else {
        path.as_str()
    };
    tracing::debug!(%method, path = logged_path, status = reply.status().as_u16(), "demo server: request");
    reply
}

/// True when `Host` names this server: a loopback host with its port.
fn is_own_host(req: &Request<Incoming>, port: u16) -> bool {
    let Some(host) = req.headers().get(HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let Some((name, host_port)) = host.rsplit_once(':') else {
        return false;
    };
    let name_is_loopback = name == "127.0.0.1" || name == "[::1]" || name.eq_ignore_ascii_case("localhost");
    name_is_loopback && host_port.parse() == Ok(port)
}
