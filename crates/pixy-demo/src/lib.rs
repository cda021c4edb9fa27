//! The Pixy Demo provider: a small OAuth 2.0 authorization server on 127.0.0.1, so Pixy's first run works with no
//! network and no configuration, and tests have a real peer to talk to.
//!
//! **It is a demo and a test fixture, not a real account.** Its pages say so, its one user is "Demo User
//! <demo@pixy.invalid>", its ID tokens are unsigned, its Grantex grant tokens are signed with a published demo key
//! (grantex_jwt.rs), and it must never be the default for a real account. The daemon runs it in-process;
//! `pixy demo-server --port N` runs it alone.
//!
//! What it serves (see each module):
//! - discovery metadata at `/.well-known/openid-configuration` and `/.well-known/oauth-authorization-server`;
//! - `/authorize` (also `/oauth/authorize`): an approve/deny page for the public clients below, PKCE S256
//!   required, every response carrying `iss` (RFC 9207);
//! - `/token` (also `/oauth/token` and `/v1/oauth/token`): `authorization_code` and `refresh_token` (rotating)
//!   grants, with a form or a JSON body as the client's shape says;
//! - `/oauth/code/callback`: the code page, which shows `code#state` for the person to paste into the app;
//! - `/revoke` (RFC 7009), `/userinfo`, `/introspect` (RFC 7662, no client authentication);
//! - the Grantex API (grantex.rs), in the shape of Grantex's auth-service, for delegating a person's grant to an AI
//!   agent: `POST /v1/authorize`, `POST /v1/token`, `POST /v1/token/refresh` and `DELETE /v1/grants/{grantId}`
//!   with a developer API key ([`GRANTEX_API_KEY`], production-like, or [`GRANTEX_SANDBOX_API_KEY`], which approves
//!   at once) for the agent [`GRANTEX_AGENT_ID`]; the consent page at `/grantex/consent`; the Grantex code page at
//!   `/grantex/code`; and `/.well-known/jwks.json`, which verifies the RS256 grant tokens ([`GrantexConfig`] sets
//!   their lifetime and claim names, and can make them forged).
//!
//! It knows three public clients, each in the shape of a provider Pixy has a preset for, so a preset can be tested
//! against the demo with its own client id, parameters, redirect and token body (clients.rs):
//! - [`DEMO_CLIENT_ID`], Pixy's own: any loopback redirect URI, form token requests;
//! - [`CLAUDE_CLIENT_ID`]: redirect to the code page only, `code=true` and `state` required, JSON token requests
//!   that repeat `state`;
//! - [`CHATGPT_CLIENT_ID`]: redirect to `http://localhost:1455/auth/callback` or `:1457` only,
//!   `id_token_add_organizations=true` and `codex_cli_simplified_flow=true` required, form token requests.
//!
//! Invariants:
//! - It binds 127.0.0.1 only, and answers only requests addressed to its loopback host and port.
//! - Codes are one-use and live 60 s; refresh tokens rotate; a replayed code or refresh token revokes its grant.
//!   Grantex codes live 5 minutes and its refresh tokens rotate too, with Grantex's idempotent retry instead.
//! - State lives in memory and dies with the server. Secrets are 32 bytes from the OS CSPRNG, stored as digests.
//! - Nothing logs a code, token, verifier or state: logs carry booleans, paths and statuses.
//! - Request bodies are capped at 64 KiB; header and body reads time out; connections are capped.

#![deny(missing_docs)]

mod authorize;
mod clients;
mod code_page;
mod form;
mod grantex;
mod grantex_consent;
mod grantex_jwt;
mod grantex_store;
mod introspect;
mod metadata;
mod pages;
#[cfg(feature = "person")]
pub mod person;
mod reply;
mod revoke;
mod server;
mod store;
mod token;
mod userinfo;

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use clients::{CHATGPT_CLIENT_ID, CLAUDE_CLIENT_ID, DEMO_CLIENT_ID};
pub use grantex::{GRANTEX_AGENT_DID, GRANTEX_AGENT_ID, GRANTEX_API_KEY, GRANTEX_SANDBOX_API_KEY};

/// The demo user's subject identifier.
const DEMO_USER_SUB: &str = "demo-user";
/// The demo user's name.
const DEMO_USER_NAME: &str = "Demo User";
/// The demo user's email: `.invalid` is reserved (RFC 2606), so it can never reach anyone.
const DEMO_USER_EMAIL: &str = "demo@pixy.invalid";

/// How a [`DemoServer`] is started.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// The port to bind on 127.0.0.1; 0 picks any free port.
    pub port: u16,
    /// How long issued access tokens live (also announced as `expires_in`, rounded up to whole seconds).
    pub access_token_ttl: Duration,
}

impl Default for DemoConfig {
    /// Any free port, one-hour access tokens.
    fn default() -> DemoConfig {
        DemoConfig { port: 0, access_token_ttl: Duration::from_secs(3600) }
    }
}

/// How the demo's Grantex side behaves; [`DemoServer::start_with_grantex`] takes it. Build it with
/// `..GrantexConfig::default()`, so a field added later does not break the caller.
#[derive(Clone, Debug)]
pub struct GrantexConfig {
    /// How long a grant lasts from its code exchange: its grant tokens' `exp`, which every refresh keeps.
    pub grant_ttl: Duration,
    /// How long an approved code can be exchanged; past it, "Auth request expired".
    pub code_ttl: Duration,
    /// Put the grant's details in grant tokens under the newer claim names (`scope` as a space-separated string,
    /// `urn:grantex:grant.agent_did`, `urn:grantex:grant.grant_id`, `urn:grantex:grant.developer_id`) instead of
    /// the legacy ones (`scp` as an array, `agt`, `grnt`, `dev`).
    pub new_claim_names: bool,
    /// Sign grant tokens with a key the JWKS does not hold (under the same `kid`): forged tokens, which a client
    /// must refuse.
    pub forge_signature: bool,
}

impl Default for GrantexConfig {
    /// One-hour grants, five-minute codes, the legacy claim names, tokens that verify.
    fn default() -> GrantexConfig {
        GrantexConfig {
            grant_ttl: Duration::from_secs(3600),
            code_ttl: Duration::from_secs(5 * 60),
            new_claim_names: false,
            forge_signature: false,
        }
    }
}

/// What the server has done, for tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DemoStats {
    /// Successful `authorization_code` grants (codes exchanged for tokens).
    pub authorization_code: u64,
    /// Successful `refresh_token` grants.
    pub refresh_token: u64,
    /// Revocation requests answered with 200, whether or not the token was known (RFC 7009 answers both alike).
    pub revoked: u64,
    /// Successful Grantex code exchanges (`POST /v1/token`).
    pub grantex_token: u64,
    /// Grantex refresh tokens rotated (`POST /v1/token/refresh`); an idempotent retry that repeats an answer
    /// rotates nothing and is not counted.
    pub grantex_refresh: u64,
    /// Grantex grants revoked (`DELETE /v1/grants/{grantId}` answered with 204).
    pub grantex_revoked: u64,
}

/// A running demo authorization server. Dropping it stops it.
#[derive(Debug)]
pub struct DemoServer {
    issuer: String,
    port: u16,
    provider: Arc<Provider>,
    task: JoinHandle<()>,
}

impl DemoServer {
    /// Binds 127.0.0.1:`port` (0 = any free port) and serves on the current tokio runtime, with one-hour access
    /// tokens.
    pub async fn start(port: u16) -> std::io::Result<DemoServer> {
        DemoServer::start_with(DemoConfig { port, ..DemoConfig::default() }).await
    }

    /// Like [`DemoServer::start`], with every setting given; tests use it for short access-token lifetimes.
    pub async fn start_with(config: DemoConfig) -> std::io::Result<DemoServer> {
        DemoServer::start_with_grantex(config, GrantexConfig::default()).await
    }

    /// Like [`DemoServer::start_with`], with the Grantex side configured too: short grant or code lifetimes, the
    /// newer claim names, forged grant tokens.
    pub async fn start_with_grantex(config: DemoConfig, grantex: GrantexConfig) -> std::io::Result<DemoServer> {
        let grantex_keys = grantex_jwt::keys()?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, config.port)).await?;
        let port = listener.local_addr()?.port();
        let issuer = format!("http://127.0.0.1:{port}");
        let provider = Arc::new(Provider {
            issuer: issuer.clone(),
            port,
            access_token_ttl: config.access_token_ttl,
            store: Mutex::default(),
            grantex,
            grantex_keys,
            grantex_store: Mutex::default(),
        });
        let task = tokio::spawn(server::serve(listener, provider.clone()));
        tracing::debug!(port, "demo server: listening on 127.0.0.1");
        Ok(DemoServer { issuer, port, provider, task })
    }

    /// The issuer, e.g. `http://127.0.0.1:41234` (no trailing slash); the endpoints hang below it.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The code page, `{issuer}/oauth/code/callback`: the one redirect URI [`CLAUDE_CLIENT_ID`] may use.
    pub fn code_page_uri(&self) -> String {
        code_page::uri(&self.issuer)
    }

    /// The Grantex code page, `{issuer}/grantex/code`: the one redirect URI [`GRANTEX_API_KEY`]'s developer may
    /// use (the sandbox developer may use it too). It shows `code#state` for the person to paste.
    pub fn grantex_code_page_uri(&self) -> String {
        grantex::code_page_uri(&self.issuer)
    }

    /// How many grants and revocations it has served so far.
    pub fn stats(&self) -> DemoStats {
        let counts = self.provider.grantex_store().counts;
        DemoStats {
            grantex_token: counts.token,
            grantex_refresh: counts.refresh,
            grantex_revoked: counts.revoked,
            ..self.provider.store().stats.clone()
        }
    }

    /// Stops serving: the listener closes and open connections end. Dropping the server does the same.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The state every request handler shares.
struct Provider {
    issuer: String,
    port: u16,
    access_token_ttl: Duration,
    store: Mutex<store::Store>,
    grantex: GrantexConfig,
    grantex_keys: &'static grantex_jwt::Keys,
    grantex_store: Mutex<grantex_store::Store>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The store holds digests and pending requests' states; none of it belongs in a log.
        f.debug_struct("Provider").field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

impl Provider {
    /// The store, locked. A handler that panicked cannot leave it half-updated in a way that matters to a demo,
    /// so a poisoned lock is taken over rather than taking the server down with it.
    fn store(&self) -> MutexGuard<'_, store::Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The Grantex side's store, locked, on the same terms.
    fn grantex_store(&self) -> MutexGuard<'_, grantex_store::Store> {
        self.grantex_store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
