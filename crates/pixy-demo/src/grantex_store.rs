//! The Grantex side's memory: authorization requests with their consent, codes, grants and refresh tokens.
//!
//! Invariants:
//! - Everything belongs to the developer whose API key made it: another developer's key finds nothing, as if the
//!   code, refresh token or grant did not exist.
//! - An authorization request lives [`AUTH_REQUEST_TTL`] and is answered on its consent page at most once. A code
//!   exists only for an approved request (a sandbox developer's requests are approved at once), lives as long as
//!   its server's code lifetime and is good for one attempt, right or wrong; the first successful exchange also
//!   ends every other code of its request. A request denied after its sandbox code was handed out makes that code
//!   "not approved".
//! - A grant's `exp` is fixed when it is opened; every grant token issued for it, also after a refresh, carries
//!   that same `exp`. Refresh tokens rotate and are single use: a used one is refused, unless the same
//!   `Idempotency-Key` repeats the same refresh within [`REPLAY_WINDOW`] while its successor is still unused, which
//!   returns the same answer again without rotating. A refused replay does not revoke the grant, as in Grantex.
//! - A revoked or expired grant stays known for [`GRANT_MEMORY`], so its refresh token is refused by name ("Grant
//!   revoked", "Grant expired") rather than as unknown.
//!
//! Security notes: codes and refresh tokens are 32 CSPRNG bytes kept as SHA-256 digests ([`Key`]); so are
//! authorization request ids, which are capabilities for their consent page. An idempotent retry must hand the same
//! refresh token out again without it being stored: the successor is derived from the presented refresh token, the
//! `Idempotency-Key` and a per-server random secret, so only the holder of the old token can recompute it, and only
//! its digest is kept. Grant ids, token ids (`jti`) and request ids are identifiers, not secrets.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use url::Url;

use crate::store::{new_secret, Key, Now};
use crate::token::{is_verifier, verifier_matches};

/// How long an authorization request can be answered and its code exchanged (its `expiresAt`).
pub(crate) const AUTH_REQUEST_TTL: Duration = Duration::from_secs(10 * 60);

/// How long an expired authorization request is remembered, so its code is refused as expired, not unknown.
const REQUEST_MEMORY: Duration = Duration::from_secs(10 * 60);

/// How long a used refresh token answers a retry with the same `Idempotency-Key`.
pub(crate) const REPLAY_WINDOW: Duration = Duration::from_secs(5 * 60);

/// How long a revoked or expired grant is remembered.
const GRANT_MEMORY: Duration = Duration::from_secs(60 * 60);

/// Authorization requests kept at most: anyone on this machine with a demo API key can open them.
pub(crate) const MAX_REQUESTS: usize = 1024;

/// An identifier with a prefix, as Grantex's look (`grnt_…`, `tok_…`, `req_…`): 120 random bits.
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", &new_secret()[..20])
}

/// The developer an API key belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Developer {
    /// `demo-grantex-key`: redirects only to the registered code page, consent in the browser.
    Production,
    /// `demo-grantex-sandbox-key`: loopback redirects too, and requests approved at once.
    Sandbox,
}

impl Developer {
    /// The developer id, the tokens' `dev` claim.
    pub(crate) fn id(self) -> &'static str {
        match self {
            Developer::Production => "dev_pixy_demo",
            Developer::Sandbox => "dev_pixy_demo_sandbox",
        }
    }
}

/// A validated `POST /v1/authorize`. No Debug: it holds `state`.
pub(crate) struct AuthRequest {
    pub(crate) developer: Developer,
    pub(crate) agent_id: String,
    pub(crate) principal_id: String,
    pub(crate) scopes: Vec<String>,
    /// Exactly as sent: a token request that repeats it must repeat it byte for byte.
    pub(crate) redirect_uri: String,
    /// The same, parsed: where the consent page sends the browser.
    pub(crate) redirect: Url,
    pub(crate) state: String,
    pub(crate) code_challenge: String,
}

/// What the person said on the consent page, or what the sandbox said for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Consent {
    Pending,
    Approved,
    Denied,
}

struct RequestEntry {
    request: AuthRequest,
    created: Instant,
    consent: Consent,
    /// The consent page was answered: it cannot be answered again.
    answered: bool,
}

struct CodeEntry {
    request: Key,
    minted: Instant,
}

/// A request just opened.
pub(crate) struct Opened {
    pub(crate) id: String,
    /// Unix time.
    pub(crate) expires_at: u64,
    /// The approved code, for a sandbox developer's request.
    pub(crate) code: Option<String>,
}

/// Why a consent page cannot be shown or answered. No value of the request is in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConsentRefusal {
    /// Unknown, expired, or already exchanged.
    Gone,
    /// Already approved or denied on its page.
    Answered,
}

/// Where the browser goes after a consent answer. No Debug: it holds the state and maybe a code.
pub(crate) struct Answered {
    pub(crate) redirect: Url,
    pub(crate) state: String,
    /// The new code, when approved.
    pub(crate) code: Option<String>,
}

/// A `POST /v1/token` request, as read. No Debug: it holds the code and the verifier.
#[derive(Clone, Copy)]
pub(crate) struct Exchange<'a> {
    pub(crate) code: &'a str,
    pub(crate) agent_id: &'a str,
    pub(crate) developer: Developer,
    pub(crate) redirect_uri: Option<&'a str>,
    pub(crate) verifier: Option<&'a str>,
}

/// Why `POST /v1/token` refuses. The messages are Grantex's and hold no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExchangeError {
    InvalidCode,
    NotApproved,
    Expired,
    RedirectMismatch,
    VerifierRequired,
    InvalidVerifier,
}

impl ExchangeError {
    pub(crate) fn message(self) -> &'static str {
        match self {
            ExchangeError::InvalidCode => "Invalid code",
            ExchangeError::NotApproved => "Auth request not approved",
            ExchangeError::Expired => "Auth request expired",
            ExchangeError::RedirectMismatch => "redirectUri must exactly match the authorization request",
            ExchangeError::VerifierRequired => "codeVerifier is required for PKCE",
            ExchangeError::InvalidVerifier => "Invalid codeVerifier",
        }
    }

    pub(crate) fn code(self) -> &'static str {
        match self {
            ExchangeError::RedirectMismatch => "REDIRECT_URI_MISMATCH",
            _ => "BAD_REQUEST",
        }
    }
}

/// Why `POST /v1/token/refresh` refuses. The messages hold no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RefreshError {
    InvalidRefreshToken,
    AgentMismatch,
    GrantRevoked,
    GrantExpired,
}

impl RefreshError {
    pub(crate) fn message(self) -> &'static str {
        match self {
            RefreshError::InvalidRefreshToken => "Invalid refresh token",
            RefreshError::AgentMismatch => "Agent mismatch",
            RefreshError::GrantRevoked => "Grant revoked",
            RefreshError::GrantExpired => "Grant expired",
        }
    }
}

/// What a grant token and a token reply are made from. No Debug: it holds the refresh token.
pub(crate) struct Issued {
    pub(crate) grant_id: String,
    pub(crate) refresh_token: String,
    pub(crate) developer: Developer,
    pub(crate) agent_id: String,
    pub(crate) principal_id: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) jti: String,
    pub(crate) iat: u64,
    /// The grant's own `exp`, Unix time.
    pub(crate) exp: u64,
}

struct Grant {
    developer: Developer,
    agent_id: String,
    principal_id: String,
    scopes: Vec<String>,
    expires: Instant,
    exp: u64,
    revoked: bool,
}

struct RefreshEntry {
    grant: String,
    /// Set once used: what its rotation issued, to repeat for the same `Idempotency-Key`.
    rotated: Option<Rotation>,
}

struct Rotation {
    idempotency_key: Key,
    successor: Key,
    jti: String,
    iat: u64,
    at: Instant,
}

/// How many Grantex calls succeeded, for [`crate::DemoStats`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counts {
    pub(crate) token: u64,
    pub(crate) refresh: u64,
    pub(crate) revoked: u64,
}

/// The Grantex side's state. One per server, behind a mutex.
pub(crate) struct Store {
    requests: HashMap<Key, RequestEntry>,
    codes: HashMap<Key, CodeEntry>,
    grants: HashMap<String, Grant>,
    refresh_tokens: HashMap<Key, RefreshEntry>,
    /// Keys the derivation of rotated refresh tokens; never leaves the store.
    secret: [u8; 32],
    pub(crate) counts: Counts,
}

impl Default for Store {
    fn default() -> Store {
        let mut secret = [0u8; 32];
        OsRng.fill_bytes(&mut secret);
        Store {
            requests: HashMap::new(),
            codes: HashMap::new(),
            grants: HashMap::new(),
            refresh_tokens: HashMap::new(),
            secret,
            counts: Counts::default(),
        }
    }
}

impl Store {
    /// Keeps a validated request; a sandbox request is approved at once and gets its code. `None` when too many
    /// are kept.
    pub(crate) fn open(&mut self, request: AuthRequest, now: Now) -> Option<Opened> {
        self.forget_expired(now);
        if self.requests.len() >= MAX_REQUESTS {
            return None;
        }
        let sandbox = request.developer == Developer::Sandbox;
        let id = format!("areq_{}", new_secret());
        let key = Key::of(&id);
        let consent = if sandbox { Consent::Approved } else { Consent::Pending };
        self.requests.insert(key, RequestEntry { request, created: now.instant, consent, answered: false });
        let code = sandbox.then(|| self.mint_code(key, now));
        Some(Opened { id, expires_at: now.unix + AUTH_REQUEST_TTL.as_secs(), code })
    }

    /// The request behind consent page `id`, if it can still be answered.
    pub(crate) fn consent_view(&mut self, id: &str, now: Now) -> Result<&AuthRequest, ConsentRefusal> {
        self.forget_expired(now);
        let entry = self.live_request(id, now)?;
        if entry.answered {
            return Err(ConsentRefusal::Answered);
        }
        Ok(&entry.request)
    }

    /// Records the person's answer on consent page `id`; an approval mints a code.
    pub(crate) fn answer(&mut self, id: &str, approve: bool, now: Now) -> Result<Answered, ConsentRefusal> {
        self.forget_expired(now);
        let entry = self.live_request_mut(id, now)?;
        if entry.answered {
            return Err(ConsentRefusal::Answered);
        }
        entry.answered = true;
        entry.consent = if approve { Consent::Approved } else { Consent::Denied };
        let (redirect, state) = (entry.request.redirect.clone(), entry.request.state.clone());
        let code = approve.then(|| self.mint_code(Key::of(id), now));
        Ok(Answered { redirect, state, code })
    }

    /// `POST /v1/token`: spends the code and, if everything matches, opens a grant lasting `grant_ttl`.
    pub(crate) fn exchange(
        &mut self,
        call: &Exchange<'_>,
        code_ttl: Duration,
        grant_ttl: Duration,
        now: Now,
    ) -> Result<Issued, ExchangeError> {
        let Exchange { code, agent_id, developer, redirect_uri, verifier } = *call;
        let code_entry = self.codes.remove(&Key::of(code)).ok_or(ExchangeError::InvalidCode)?;
        let request_key = code_entry.request;
        let entry = self.requests.get(&request_key).ok_or(ExchangeError::InvalidCode)?;
        if entry.request.developer != developer || entry.request.agent_id != agent_id {
            return Err(ExchangeError::InvalidCode);
        }
        if entry.consent != Consent::Approved {
            return Err(ExchangeError::NotApproved);
        }
        let request_expired = now.instant.duration_since(entry.created) >= AUTH_REQUEST_TTL;
        if request_expired || now.instant.duration_since(code_entry.minted) >= code_ttl {
            return Err(ExchangeError::Expired);
        }
        if redirect_uri.is_some_and(|uri| uri != entry.request.redirect_uri) {
            return Err(ExchangeError::RedirectMismatch);
        }
        let verifier = verifier.ok_or(ExchangeError::VerifierRequired)?;
        if !(is_verifier(verifier) && verifier_matches(verifier, &entry.request.code_challenge)) {
            return Err(ExchangeError::InvalidVerifier);
        }

        let Some(RequestEntry { request, .. }) = self.requests.remove(&request_key) else {
            return Err(ExchangeError::InvalidCode);
        };
        self.codes.retain(|_, c| c.request != request_key);
        let grant_id = new_id("grnt");
        let refresh_token = new_secret();
        // Whole seconds in the claim, rounded up, so a sub-second test lifetime is not announced as already over.
        let exp = now.unix + grant_ttl.as_secs() + u64::from(grant_ttl.subsec_nanos() > 0);
        self.refresh_tokens.insert(Key::of(&refresh_token), RefreshEntry { grant: grant_id.clone(), rotated: None });
        self.grants.insert(
            grant_id.clone(),
            Grant {
                developer,
                agent_id: request.agent_id.clone(),
                principal_id: request.principal_id.clone(),
                scopes: request.scopes.clone(),
                expires: now.instant + grant_ttl,
                exp,
                revoked: false,
            },
        );
        self.counts.token += 1;
        Ok(Issued {
            grant_id,
            refresh_token,
            developer,
            agent_id: request.agent_id,
            principal_id: request.principal_id,
            scopes: request.scopes,
            jti: new_id("tok"),
            iat: now.unix,
            exp,
        })
    }

    /// `POST /v1/token/refresh`: rotates `refresh_token`, or repeats its rotation for the same `idempotency_key`.
    pub(crate) fn refresh(
        &mut self,
        refresh_token: &str,
        agent_id: &str,
        developer: Developer,
        idempotency_key: &str,
        now: Now,
    ) -> Result<Issued, RefreshError> {
        self.forget_expired(now);
        let entry = self.refresh_tokens.get(&Key::of(refresh_token)).ok_or(RefreshError::InvalidRefreshToken)?;
        let grant_id = entry.grant.clone();
        let grant = self.grants.get(&grant_id).filter(|g| g.developer == developer);
        let grant = grant.ok_or(RefreshError::InvalidRefreshToken)?;
        if grant.agent_id != agent_id {
            return Err(RefreshError::AgentMismatch);
        }
        if grant.revoked {
            return Err(RefreshError::GrantRevoked);
        }
        if now.instant >= grant.expires {
            return Err(RefreshError::GrantExpired);
        }
        let successor = self.successor(refresh_token, idempotency_key);
        let issued = |jti: String, iat: u64, refresh_token: String| Issued {
            grant_id: grant_id.clone(),
            refresh_token,
            developer,
            agent_id: grant.agent_id.clone(),
            principal_id: grant.principal_id.clone(),
            scopes: grant.scopes.clone(),
            jti,
            iat,
            exp: grant.exp,
        };
        if let Some(rotation) = &entry.rotated {
            let same_key: bool = rotation.idempotency_key.0.ct_eq(&Key::of(idempotency_key).0).into();
            let in_window = now.instant.duration_since(rotation.at) < REPLAY_WINDOW;
            let successor_unused = rotation.successor == Key::of(&successor)
                && self.refresh_tokens.get(&rotation.successor).is_some_and(|s| s.rotated.is_none());
            tracing::debug!(same_key, in_window, successor_unused, "grantex: used refresh token presented");
            if same_key && in_window && successor_unused {
                return Ok(issued(rotation.jti.clone(), rotation.iat, successor));
            }
            return Err(RefreshError::InvalidRefreshToken);
        }
        let answer = issued(new_id("tok"), now.unix, successor);
        let rotation = Rotation {
            idempotency_key: Key::of(idempotency_key),
            successor: Key::of(&answer.refresh_token),
            jti: answer.jti.clone(),
            iat: answer.iat,
            at: now.instant,
        };
        if let Some(entry) = self.refresh_tokens.get_mut(&Key::of(refresh_token)) {
            entry.rotated = Some(rotation);
        }
        self.refresh_tokens.insert(Key::of(&answer.refresh_token), RefreshEntry { grant: grant_id, rotated: None });
        self.counts.refresh += 1;
        Ok(answer)
    }

    /// `DELETE /v1/grants/{id}`: false when `developer` has no such grant. Revoking twice is not an error.
    pub(crate) fn revoke(&mut self, grant_id: &str, developer: Developer) -> bool {
        match self.grants.get_mut(grant_id).filter(|g| g.developer == developer) {
            Some(grant) => {
                grant.revoked = true;
                self.counts.revoked += 1;
                true
            }
            None => false,
        }
    }

    /// The refresh token that rotating `refresh_token` under `idempotency_key` issues. Every input to the hash has
    /// a fixed length, so no two requests derive the same input.
    fn successor(&self, refresh_token: &str, idempotency_key: &str) -> String {
        let digest = Sha256::new()
            .chain_update(b"pixy-demo grantex refresh v1\0")
            .chain_update(self.secret)
            .chain_update(Key::of(refresh_token).0)
            .chain_update(Key::of(idempotency_key).0)
            .finalize();
        URL_SAFE_NO_PAD.encode(digest)
    }

    fn mint_code(&mut self, request: Key, now: Now) -> String {
        let code = new_secret();
        self.codes.insert(Key::of(&code), CodeEntry { request, minted: now.instant });
        code
    }

    fn live_request(&self, id: &str, now: Now) -> Result<&RequestEntry, ConsentRefusal> {
        let entry = self.requests.get(&Key::of(id)).ok_or(ConsentRefusal::Gone)?;
        let live = now.instant.duration_since(entry.created) < AUTH_REQUEST_TTL;
        live.then_some(entry).ok_or(ConsentRefusal::Gone)
    }

    fn live_request_mut(&mut self, id: &str, now: Now) -> Result<&mut RequestEntry, ConsentRefusal> {
        let entry = self.requests.get_mut(&Key::of(id)).ok_or(ConsentRefusal::Gone)?;
        let live = now.instant.duration_since(entry.created) < AUTH_REQUEST_TTL;
        live.then_some(entry).ok_or(ConsentRefusal::Gone)
    }

    /// Drops what can no longer be named in any answer, so a long-running daemon's demo server stays bounded.
    fn forget_expired(&mut self, now: Now) {
        let requests = &mut self.requests;
        requests.retain(|_, r| now.instant.duration_since(r.created) < AUTH_REQUEST_TTL + REQUEST_MEMORY);
        self.codes.retain(|_, c| requests.contains_key(&c.request));
        let grants = &mut self.grants;
        grants.retain(|_, g| now.instant < g.expires + GRANT_MEMORY);
        self.refresh_tokens.retain(|_, r| grants.contains_key(&r.grant));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const AGENT: &str = "ag_demo_agent";
    const CODE_TTL: Duration = Duration::from_secs(300);
    const HOUR: Duration = Duration::from_secs(3600);
    const KEY: &str = "idempotency-key-0001";

    fn request(developer: Developer) -> AuthRequest {
        let redirect_uri = "http://127.0.0.1:5000/callback".to_string();
        AuthRequest {
            developer,
            agent_id: AGENT.into(),
            principal_id: "user_1".into(),
            scopes: vec!["calendar:read".into()],
            redirect: Url::parse(&redirect_uri).unwrap(),
            redirect_uri,
            state: "s".repeat(32),
            code_challenge: CHALLENGE.into(),
        }
    }

    /// The sandbox developer's exchange of `code` with the right verifier.
    fn call(code: &str) -> Exchange<'_> {
        Exchange { code, agent_id: AGENT, developer: Developer::Sandbox, redirect_uri: None, verifier: Some(VERIFIER) }
    }

    fn exchange(store: &mut Store, code: &str, now: Now) -> Result<Issued, ExchangeError> {
        store.exchange(&call(code), CODE_TTL, HOUR, now)
    }

    /// A sandbox request, exchanged: a grant with its first refresh token.
    fn granted(store: &mut Store, now: Now) -> Issued {
        let code = store.open(request(Developer::Sandbox), now).unwrap().code.unwrap();
        exchange(store, &code, now).expect("a sandbox code exchanges")
    }

    #[test]
    fn a_production_request_has_no_code_until_approved() {
        let mut store = Store::default();
        let now = Now::current();
        let opened = store.open(request(Developer::Production), now).unwrap();
        assert!(opened.code.is_none(), "only the person's approval makes a code");
        assert!(opened.id.starts_with("areq_"), "Grantex's id shape");
        let answered = store.answer(&opened.id, true, now).unwrap();
        let code = answered.code.expect("an approval carries a code");
        let production = Exchange { developer: Developer::Production, ..call(&code) };
        let result = store.exchange(&production, CODE_TTL, HOUR, now);
        assert!(result.is_ok(), "the approved code exchanges with the right verifier");
        assert_eq!(
            store.answer(&opened.id, true, now).err(),
            Some(ConsentRefusal::Gone),
            "an exchanged request's page is gone"
        );
    }

    #[test]
    fn a_consent_page_is_answered_once() {
        let mut store = Store::default();
        let now = Now::current();
        let opened = store.open(request(Developer::Production), now).unwrap();
        assert!(store.answer(&opened.id, false, now).is_ok(), "the first answer counts");
        assert_eq!(store.answer(&opened.id, true, now).err(), Some(ConsentRefusal::Answered), "a second does not");
        assert_eq!(store.consent_view(&opened.id, now).err(), Some(ConsentRefusal::Answered), "nor is it shown again");
        let later = now.later(AUTH_REQUEST_TTL);
        let opened = store.open(request(Developer::Production), now).unwrap();
        assert_eq!(store.consent_view(&opened.id, later).err(), Some(ConsentRefusal::Gone), "a stale page is gone");
    }

    #[test]
    fn a_sandbox_code_denied_afterwards_is_not_approved() {
        let mut store = Store::default();
        let now = Now::current();
        let opened = store.open(request(Developer::Sandbox), now).unwrap();
        store.answer(&opened.id, false, now).unwrap();
        assert_eq!(exchange(&mut store, &opened.code.unwrap(), now).err(), Some(ExchangeError::NotApproved));
    }

    #[test]
    fn a_code_is_good_for_one_attempt_and_expires() {
        let mut store = Store::default();
        let now = Now::current();
        let code = store.open(request(Developer::Sandbox), now).unwrap().code.unwrap();
        let wrong_verifier = "a".repeat(43);
        let wrong = store.exchange(&Exchange { verifier: Some(&wrong_verifier), ..call(&code) }, CODE_TTL, HOUR, now);
        assert_eq!(wrong.err(), Some(ExchangeError::InvalidVerifier), "a wrong verifier is refused");
        assert_eq!(exchange(&mut store, &code, now).err(), Some(ExchangeError::InvalidCode), "and spends the code");

        let code = store.open(request(Developer::Sandbox), now).unwrap().code.unwrap();
        assert_eq!(exchange(&mut store, &code, now.later(CODE_TTL)).err(), Some(ExchangeError::Expired));
    }

    #[test]
    fn a_code_is_invalid_for_another_developer_or_agent() {
        let mut store = Store::default();
        let now = Now::current();
        let code = store.open(request(Developer::Sandbox), now).unwrap().code.unwrap();
        let other = store.exchange(&Exchange { developer: Developer::Production, ..call(&code) }, CODE_TTL, HOUR, now);
        assert_eq!(other.err(), Some(ExchangeError::InvalidCode), "another developer's key finds no such code");
        let code = store.open(request(Developer::Sandbox), now).unwrap().code.unwrap();
        let other = store.exchange(&Exchange { agent_id: "ag_other", ..call(&code) }, CODE_TTL, HOUR, now);
        assert_eq!(other.err(), Some(ExchangeError::InvalidCode), "another agent finds no such code");
    }

    #[test]
    fn refresh_keeps_the_grants_exp_and_rotates() {
        let mut store = Store::default();
        let now = Now::current();
        let first = granted(&mut store, now);
        let later = now.later(Duration::from_secs(600));
        let second = store.refresh(&first.refresh_token, AGENT, Developer::Sandbox, KEY, later).unwrap();
        assert_eq!(second.exp, first.exp, "a refreshed token keeps the grant's own exp");
        assert_eq!(second.iat, first.iat + 600, "but is issued now");
        assert_ne!(second.refresh_token, first.refresh_token, "the refresh token rotates");
        assert_ne!(second.jti, first.jti, "a new token id");
        let replay = store.refresh(&first.refresh_token, AGENT, Developer::Sandbox, "another-key-00001", later);
        assert_eq!(replay.err(), Some(RefreshError::InvalidRefreshToken), "a used refresh token is refused");
        assert!(
            store.refresh(&second.refresh_token, AGENT, Developer::Sandbox, KEY, later).is_ok(),
            "a refused replay leaves the grant alive, as in Grantex"
        );
    }

    #[test]
    fn the_same_idempotency_key_repeats_the_answer_within_the_window() {
        let mut store = Store::default();
        let now = Now::current();
        let first = granted(&mut store, now);
        let once = store.refresh(&first.refresh_token, AGENT, Developer::Sandbox, KEY, now).unwrap();
        let again = store.refresh(&first.refresh_token, AGENT, Developer::Sandbox, KEY, now).unwrap();
        assert_eq!((&again.refresh_token, &again.jti, again.iat), (&once.refresh_token, &once.jti, once.iat));
        assert_eq!(store.counts.refresh, 1, "the retry does not rotate again");
        let stale = store.refresh(&first.refresh_token, AGENT, Developer::Sandbox, KEY, now.later(REPLAY_WINDOW));
        assert_eq!(stale.err(), Some(RefreshError::InvalidRefreshToken), "past the window it is a replay");

        store.refresh(&once.refresh_token, AGENT, Developer::Sandbox, KEY, now).unwrap();
        let retry = store.refresh(&first.refresh_token, AGENT, Developer::Sandbox, KEY, now);
        assert_eq!(retry.err(), Some(RefreshError::InvalidRefreshToken), "not once its successor was used");
    }

    #[test]
    fn refresh_names_a_revoked_or_expired_grant() {
        let mut store = Store::default();
        let now = Now::current();
        let issued = granted(&mut store, now);
        let expired = store.refresh(&issued.refresh_token, AGENT, Developer::Sandbox, KEY, now.later(HOUR));
        assert_eq!(expired.err(), Some(RefreshError::GrantExpired), "a grant ends at its exp");
        assert!(!store.revoke(&issued.grant_id, Developer::Production), "another developer cannot revoke it");
        assert!(store.revoke(&issued.grant_id, Developer::Sandbox), "its developer can");
        let revoked = store.refresh(&issued.refresh_token, AGENT, Developer::Sandbox, KEY, now);
        assert_eq!(revoked.err(), Some(RefreshError::GrantRevoked), "a revoked grant is named as such");
        let other = store.refresh(&issued.refresh_token, "ag_other", Developer::Sandbox, KEY, now);
        assert_eq!(other.err(), Some(RefreshError::AgentMismatch), "another agent is refused first");
    }

    #[test]
    fn requests_are_capped_and_forgotten() {
        let mut store = Store::default();
        let now = Now::current();
        for _ in 0..MAX_REQUESTS {
            assert!(store.open(request(Developer::Production), now).is_some(), "requests under the cap are kept");
        }
        assert!(store.open(request(Developer::Production), now).is_none(), "one over the cap is refused");
        let later = now.later(AUTH_REQUEST_TTL + REQUEST_MEMORY);
        assert!(store.open(request(Developer::Production), later).is_some(), "forgotten requests free room");
    }
}
