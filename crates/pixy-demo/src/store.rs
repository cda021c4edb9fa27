//! The demo provider's memory: pending consent requests, authorization codes and grants with their tokens.
//!
//! Invariants:
//! - Pending requests and codes are one-use: taking one removes it, whatever the caller does next.
//! - A code lives [`CODE_TTL`]; a pending request [`PENDING_TTL`]. Expired entries are never handed out.
//! - A grant is one approval: the chain of refresh tokens rotated from it and the access tokens issued with them.
//!   Only the newest refresh token of a grant is current. Presenting a rotated-out refresh token, or a code a
//!   second time, revokes the whole grant (RFC 9700 §4.14.2, RFC 6749 §4.1.2): one of the two presenters is an
//!   attacker, and the server cannot tell which.
//! - Revoking a refresh token revokes its grant; revoking an access token revokes only that token.
//!
//! Security notes: tokens are kept as SHA-256 digests ([`Key`]), so no map holds a usable secret and lookups
//! compare digests rather than the secrets themselves. A code keeps its request's `state` as a digest too, for
//! clients that must repeat it at the token endpoint, compared in constant time. Time comes in as [`Now`] so tests
//! can move it.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use url::Url;

use crate::DemoStats;

/// How long an authorization code can be exchanged.
pub(crate) const CODE_TTL: Duration = Duration::from_secs(60);

/// How long an approve/deny page stays answerable.
pub(crate) const PENDING_TTL: Duration = Duration::from_secs(10 * 60);

/// How long a spent code is remembered, to notice its replay.
const SPENT_CODE_MEMORY: Duration = Duration::from_secs(10 * 60);

/// Open approve/deny pages at most: anyone on this machine can load /authorize, and memory must stay bounded.
pub(crate) const MAX_PENDING: usize = 256;

/// A fresh secret: 32 bytes from the OS CSPRNG, base64url without padding (43 characters).
pub(crate) fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The moment an operation happens, both monotonic (for expiry) and wall-clock (for `iat`/`exp` claims).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Now {
    pub(crate) instant: Instant,
    pub(crate) unix: u64,
}

impl Now {
    /// The current time.
    pub(crate) fn current() -> Now {
        let unix = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        Now { instant: Instant::now(), unix }
    }

    /// This moment, `by` later: lets tests step past expiries without sleeping.
    #[cfg(test)]
    pub(crate) fn later(self, by: Duration) -> Now {
        Now { instant: self.instant + by, unix: self.unix + by.as_secs() }
    }
}

/// The digest a secret is stored under.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key(pub(crate) [u8; 32]);

impl Key {
    pub(crate) fn of(secret: &str) -> Key {
        Key(Sha256::digest(secret.as_bytes()).into())
    }
}

/// An /authorize request that was validated and waits for the user's approve or deny. No Debug: it holds `state`.
pub(crate) struct Pending {
    pub(crate) client_id: String,
    /// Exactly as the client sent it: the token request must repeat it byte for byte.
    pub(crate) redirect_uri: String,
    /// The same, parsed: where the browser is sent back.
    pub(crate) redirect: Url,
    pub(crate) state: Option<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) code_challenge: String,
    pub(crate) scope: String,
}

/// What an approved request leaves behind for the token endpoint.
pub(crate) struct CodeGrant {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) code_challenge: String,
    pub(crate) scope: String,
    pub(crate) nonce: Option<String>,
    /// The digest of the authorization request's `state`, if it had one.
    state: Option<Key>,
    key: Key,
}

impl CodeGrant {
    /// True when `state` is the authorization request's own, compared as digests in constant time.
    pub(crate) fn state_matches(&self, state: &str) -> bool {
        self.state.is_some_and(|expected| expected.0[..].ct_eq(&Key::of(state).0[..]).into())
    }
}

/// Tokens handed out by one grant or one refresh. No Debug: it holds them in the clear.
pub(crate) struct Issued {
    pub(crate) access_token: String,
    pub(crate) refresh_token: String,
    pub(crate) scope: String,
    pub(crate) client_id: String,
    pub(crate) nonce: Option<String>,
}

/// What introspection and userinfo may learn about a live token.
#[derive(Debug)]
pub(crate) struct TokenInfo {
    pub(crate) kind: TokenKind,
    pub(crate) client_id: String,
    pub(crate) scope: String,
    pub(crate) issued_at: u64,
    /// Unix time; refresh tokens do not expire here.
    pub(crate) expires_at: Option<u64>,
}

/// The two kinds of token the demo issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Access,
    Refresh,
}

type GrantId = u64;

struct Grant {
    client_id: String,
    scope: String,
    nonce: Option<String>,
}

struct RefreshEntry {
    grant: GrantId,
    issued_at: u64,
    /// False once rotated out: presenting it again is a replay.
    current: bool,
}

struct AccessEntry {
    grant: GrantId,
    issued_at: u64,
    expires: Instant,
    expires_at: u64,
}

struct Timed<T> {
    value: T,
    since: Instant,
}

/// All of the demo provider's state. One per server, behind a mutex.
#[derive(Default)]
pub(crate) struct Store {
    pending: HashMap<Key, Timed<Pending>>,
    codes: HashMap<Key, Timed<CodeGrant>>,
    /// Exchanged (or tried) codes, with the grant they opened, if any.
    spent_codes: HashMap<Key, Timed<Option<GrantId>>>,
    grants: HashMap<GrantId, Grant>,
    refresh_tokens: HashMap<Key, RefreshEntry>,
    access_tokens: HashMap<Key, AccessEntry>,
    next_grant: GrantId,
    pub(crate) stats: DemoStats,
}

impl Store {
    /// Keeps a validated request until the user answers; returns its id, or `None` when too many are open.
    pub(crate) fn add_pending(&mut self, pending: Pending, now: Now) -> Option<String> {
        self.forget_expired(now);
        if self.pending.len() >= MAX_PENDING {
            return None;
        }
        let id = new_secret();
        self.pending.insert(Key::of(&id), Timed { value: pending, since: now.instant });
        Some(id)
    }

    /// Takes the pending request `id` out, if it exists and has not expired.
    pub(crate) fn take_pending(&mut self, id: &str, now: Now) -> Option<Pending> {
        let entry = self.pending.remove(&Key::of(id))?;
        (now.instant.duration_since(entry.since) < PENDING_TTL).then_some(entry.value)
    }

    /// Issues a one-use authorization code for an approved request.
    pub(crate) fn issue_code(&mut self, pending: Pending, now: Now) -> String {
        self.forget_expired(now);
        let code = new_secret();
        let key = Key::of(&code);
        let grant = CodeGrant {
            client_id: pending.client_id,
            redirect_uri: pending.redirect_uri,
            code_challenge: pending.code_challenge,
            scope: pending.scope,
            nonce: pending.nonce,
            state: pending.state.as_deref().map(Key::of),
            key,
        };
        self.codes.insert(key, Timed { value: grant, since: now.instant });
        code
    }

    /// Takes a code out for exchange. A code is good for one attempt, right or wrong; a code presented again
    /// revokes whatever its first exchange issued.
    pub(crate) fn take_code(&mut self, code: &str, now: Now) -> Option<CodeGrant> {
        let key = Key::of(code);
        if let Some(spent) = self.spent_codes.get(&key) {
            if let Some(grant) = spent.value {
                self.revoke_grant(grant);
            }
            return None;
        }
        let entry = self.codes.remove(&key)?;
        self.spent_codes.insert(key, Timed { value: None, since: now.instant });
        (now.instant.duration_since(entry.since) < CODE_TTL).then_some(entry.value)
    }

    /// Opens a grant for an exchanged code: its first access and refresh tokens.
    pub(crate) fn open_grant(&mut self, code: CodeGrant, access_ttl: Duration, now: Now) -> Issued {
        let id = self.next_grant;
        self.next_grant += 1;
        if let Some(spent) = self.spent_codes.get_mut(&code.key) {
            spent.value = Some(id);
        }
        self.grants.insert(id, Grant { client_id: code.client_id, scope: code.scope, nonce: code.nonce });
        self.stats.authorization_code += 1;
        self.issue_tokens(id, access_ttl, now)
    }

    /// Rotates a refresh token: the old one stops working, a new access and refresh token are issued.
    /// A rotated-out token revokes its grant; an unknown one, or one issued to another client, gets nothing.
    pub(crate) fn refresh(
        &mut self,
        refresh_token: &str,
        client_id: &str,
        access_ttl: Duration,
        now: Now,
    ) -> Option<Issued> {
        let entry = self.refresh_tokens.get_mut(&Key::of(refresh_token))?;
        let grant = entry.grant;
        if !entry.current {
            self.revoke_grant(grant);
            return None;
        }
        if self.grants.get(&grant)?.client_id != client_id {
            return None;
        }
        entry.current = false;
        self.stats.refresh_token += 1;
        Some(self.issue_tokens(grant, access_ttl, now))
    }

    /// RFC 7009: a refresh token takes its whole grant with it, an access token only itself. Unknown tokens are
    /// not an error. The hint only says where to look first; both kinds are tried.
    pub(crate) fn revoke(&mut self, token: &str) {
        let key = Key::of(token);
        if let Some(entry) = self.refresh_tokens.get(&key) {
            let grant = entry.grant;
            self.revoke_grant(grant);
        } else {
            self.access_tokens.remove(&key);
        }
    }

    /// What is known about a live (current, unexpired, unrevoked) access or refresh token.
    pub(crate) fn inspect(&mut self, token: &str, now: Now) -> Option<TokenInfo> {
        self.forget_expired(now);
        let key = Key::of(token);
        if let Some(access) = self.access_tokens.get(&key) {
            let grant = self.grants.get(&access.grant)?;
            return (now.instant < access.expires).then(|| TokenInfo {
                kind: TokenKind::Access,
                client_id: grant.client_id.clone(),
                scope: grant.scope.clone(),
                issued_at: access.issued_at,
                expires_at: Some(access.expires_at),
            });
        }
        let refresh = self.refresh_tokens.get(&key).filter(|r| r.current)?;
        let grant = self.grants.get(&refresh.grant)?;
        Some(TokenInfo {
            kind: TokenKind::Refresh,
            client_id: grant.client_id.clone(),
            scope: grant.scope.clone(),
            issued_at: refresh.issued_at,
            expires_at: None,
        })
    }

    fn issue_tokens(&mut self, grant: GrantId, access_ttl: Duration, now: Now) -> Issued {
        let access_token = new_secret();
        let refresh_token = new_secret();
        self.access_tokens.insert(
            Key::of(&access_token),
            AccessEntry {
                grant,
                issued_at: now.unix,
                expires: now.instant + access_ttl,
                expires_at: now.unix + access_ttl.as_secs(),
            },
        );
        self.refresh_tokens.insert(Key::of(&refresh_token), RefreshEntry { grant, issued_at: now.unix, current: true });
        let grant = &self.grants[&grant];
        Issued {
            access_token,
            refresh_token,
            scope: grant.scope.clone(),
            client_id: grant.client_id.clone(),
            nonce: grant.nonce.clone(),
        }
    }

    fn revoke_grant(&mut self, grant: GrantId) {
        self.grants.remove(&grant);
        self.refresh_tokens.retain(|_, r| r.grant != grant);
        self.access_tokens.retain(|_, a| a.grant != grant);
    }

    /// Drops what can no longer be used, so a long-running daemon's demo server does not grow without bound.
    fn forget_expired(&mut self, now: Now) {
        let alive = |since: Instant, ttl: Duration| now.instant.duration_since(since) < ttl;
        self.pending.retain(|_, p| alive(p.since, PENDING_TTL));
        self.codes.retain(|_, c| alive(c.since, CODE_TTL));
        self.spent_codes.retain(|_, s| alive(s.since, SPENT_CODE_MEMORY));
        self.access_tokens.retain(|_, a| now.instant < a.expires);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending() -> Pending {
        let redirect_uri = "http://127.0.0.1:5000/callback".to_string();
        Pending {
            client_id: crate::DEMO_CLIENT_ID.to_string(),
            redirect: Url::parse(&redirect_uri).unwrap(),
            redirect_uri,
            state: Some("s".into()),
            nonce: None,
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            scope: "openid".into(),
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);

    /// Approve, exchange: a grant with its first tokens.
    fn linked(store: &mut Store, now: Now) -> Issued {
        let code = store.issue_code(pending(), now);
        let grant = store.take_code(&code, now).expect("a fresh code must be accepted");
        store.open_grant(grant, HOUR, now)
    }

    #[test]
    fn secrets_are_43_characters_of_base64url_and_differ() {
        let (a, b) = (new_secret(), new_secret());
        assert_eq!(a.len(), 43, "32 bytes in base64url without padding are 43 characters");
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'), "must be base64url");
        assert_ne!(a, b, "two secrets from the CSPRNG must not repeat");
    }

    #[test]
    fn a_pending_request_can_be_answered_once() {
        let mut store = Store::default();
        let now = Now::current();
        let id = store.add_pending(pending(), now).unwrap();
        assert!(store.take_pending(&id, now).is_some(), "the first answer must find the request");
        assert!(store.take_pending(&id, now).is_none(), "a second answer to the same page must find nothing");
    }

    #[test]
    fn a_pending_request_expires() {
        let mut store = Store::default();
        let now = Now::current();
        let id = store.add_pending(pending(), now).unwrap();
        assert!(store.take_pending(&id, now.later(PENDING_TTL)).is_none(), "a stale page must not be answerable");
    }

    #[test]
    fn pending_requests_are_capped() {
        let mut store = Store::default();
        let now = Now::current();
        for _ in 0..MAX_PENDING {
            assert!(store.add_pending(pending(), now).is_some(), "requests under the cap must be kept");
        }
        assert!(store.add_pending(pending(), now).is_none(), "one over the cap must be refused to bound memory");
        assert!(store.add_pending(pending(), now.later(PENDING_TTL)).is_some(), "expired requests must free room");
    }

    #[test]
    fn a_code_presented_after_sixty_seconds_is_invalid() {
        let mut store = Store::default();
        let now = Now::current();
        let code = store.issue_code(pending(), now);
        assert!(store.take_code(&code, now.later(CODE_TTL)).is_none(), "codes live 60 s");
    }

    #[test]
    fn a_code_remembers_its_requests_state() {
        let mut store = Store::default();
        let now = Now::current();
        let code = store.issue_code(pending(), now);
        let grant = store.take_code(&code, now).unwrap();
        assert!(grant.state_matches("s"), "the authorization request's state must match");
        assert!(!grant.state_matches("t") && !grant.state_matches(""), "any other state must not");
        let stateless = Pending { state: None, ..pending() };
        let code = store.issue_code(stateless, now);
        assert!(!store.take_code(&code, now).unwrap().state_matches("s"), "no state was sent, so none can match");
    }

    #[test]
    fn a_code_is_good_for_one_attempt() {
        let mut store = Store::default();
        let now = Now::current();
        let code = store.issue_code(pending(), now);
        assert!(store.take_code(&code, now).is_some(), "a fresh code must be accepted");
        assert!(store.take_code(&code, now).is_none(), "a code must not work twice");
    }

    #[test]
    fn replaying_a_code_revokes_the_tokens_it_issued() {
        let mut store = Store::default();
        let now = Now::current();
        let code = store.issue_code(pending(), now);
        let grant = store.take_code(&code, now).unwrap();
        let issued = store.open_grant(grant, HOUR, now);
        assert!(store.take_code(&code, now).is_none(), "a replayed code must be refused");
        assert!(store.inspect(&issued.access_token, now).is_none(), "the replay must revoke the access token");
        assert!(store.inspect(&issued.refresh_token, now).is_none(), "the replay must revoke the refresh token");
    }

    #[test]
    fn replaying_a_rotated_refresh_token_revokes_the_grant() {
        let mut store = Store::default();
        let now = Now::current();
        let first = linked(&mut store, now);
        let second = store.refresh(&first.refresh_token, crate::DEMO_CLIENT_ID, HOUR, now).unwrap();
        assert!(
            store.refresh(&first.refresh_token, crate::DEMO_CLIENT_ID, HOUR, now).is_none(),
            "a rotated-out refresh token must not refresh"
        );
        assert!(
            store.inspect(&second.refresh_token, now).is_none(),
            "the replay must revoke the current refresh token"
        );
        assert!(store.inspect(&second.access_token, now).is_none(), "the replay must revoke the grant's access tokens");
    }

    #[test]
    fn an_access_token_expires_after_its_lifetime() {
        let mut store = Store::default();
        let now = Now::current();
        let issued = linked(&mut store, now);
        assert!(store.inspect(&issued.access_token, now).is_some(), "a fresh access token must be live");
        assert!(store.inspect(&issued.access_token, now.later(HOUR)).is_none(), "an expired one must not be");
        assert!(store.inspect(&issued.refresh_token, now.later(HOUR)).is_some(), "refresh tokens do not expire here");
    }

    #[test]
    fn revoking_an_access_token_leaves_the_refresh_token() {
        let mut store = Store::default();
        let now = Now::current();
        let issued = linked(&mut store, now);
        store.revoke(&issued.access_token);
        assert!(store.inspect(&issued.access_token, now).is_none(), "the revoked access token must be dead");
        assert!(store.inspect(&issued.refresh_token, now).is_some(), "RFC 7009 lets the refresh token live on");
    }
}
