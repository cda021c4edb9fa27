//! The daemon's wire protocol: what a client asks and what the daemon answers.
//!
//! One request per connection. The client writes one [`Request`] as a JSON line; the daemon answers
//! with zero or more progress [`Event`]s and ends with exactly one terminal event (see
//! [`Event::is_terminal`]). Closing a `link` connection early cancels that flow.
//!
//! Security: only [`Event::Token`] and [`Event::Run`] carry a secret, and only in answer to
//! [`Request::Token`] or [`Request::Run`] from the same user (the socket checks the peer's uid),
//! for a program the person allowed (see [`crate::consent`]). [`Event::Authorize`] carries the authorization
//! URL, which holds the `state` and the PKCE challenge (never the verifier): the CLI prints it so a
//! person can open it by hand; the window shows only its host.

use serde::{Deserialize, Serialize};

pub use crate::account::{AccountStatus, AccountSummary};
use zeroize::Zeroizing;

use crate::error::ErrorKind;
use crate::secret::AccessToken;

/// What a client asks the daemon.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Request {
    /// Is the daemon alive? Answered with [`Event::Pong`].
    Ping,
    /// The providers one can link. Answered with [`Event::Providers`].
    Providers,
    /// What `pixy doctor` reports: the keyring, the tray, each provider and whether it answers,
    /// the accounts, the ports, known problems. Answered with [`Event::Doctor`]; no secret.
    Doctor,
    /// The linked accounts and their status. Answered with [`Event::Status`].
    Status,
    /// What an issuer's metadata offers, before adding it as a provider. Answered with
    /// [`Event::Discovered`].
    DiscoverProvider {
        /// The issuer's URL.
        issuer: String,
    },
    /// Add a provider to providers.toml. Answered with [`Event::ProviderAdded`], or with
    /// [`Event::ProviderInvalid`] when a field is wrong (then nothing is written).
    AddProvider {
        /// What the person entered.
        provider: crate::new_provider::NewProvider,
    },
    /// Link an account: progress events, then [`Event::Linked`] or [`Event::Error`].
    Link(Box<LinkRequest>),
    /// A valid access token for an account, refreshed first when its refresh is due.
    Token {
        /// Account id, or a provider id that has exactly one account.
        account: String,
        /// Refresh first if the token would expire within these seconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_valid: Option<u64>,
        /// The client can put a consent question to the person on its terminal (see
        /// [`Event::Question`]); the daemon does so only when it has no display to ask on.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        can_prompt: bool,
    },
    /// `pixy exec`: the tokens of `accounts` for a command about to run, answered with
    /// [`Event::Run`]. While this connection stays open, programs running under the client's
    /// process get these accounts' tokens without being asked; closing it ends that grant.
    Run {
        /// Account ids, or provider ids that have exactly one account.
        accounts: Vec<String>,
        /// As in [`Request::Token`].
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        can_prompt: bool,
    },
    /// The person's answer to a question, from the window (standalone) or from the terminal of
    /// the client that was asked to put it (on that request's connection). Answered with
    /// [`Event::Answered`].
    Answer {
        /// The question's id.
        question: u64,
        /// What the person chose.
        choice: crate::consent::Choice,
    },
    /// The questions waiting for the person. Answered with [`Event::Questions`].
    Questions,
    /// The grants kept. Answered with [`Event::Grants`].
    Grants,
    /// Lets `program` (a path, or `any`) have `account`'s tokens from now on, without asking.
    /// Answered with [`Event::Granted`].
    Allow {
        /// The program's path (an executable, or a script), or `any`.
        program: String,
        /// Account id, or a provider id that has exactly one account.
        account: String,
    },
    /// Ends a grant. Answered with [`Event::GrantRevoked`].
    RevokeGrant {
        /// The program, as the grant names it.
        program: String,
        /// Account id, or a provider id that has exactly one account.
        account: String,
    },
    /// The latest handouts and refusals from the audit log, newest first. Answered with
    /// [`Event::Activity`].
    Activity {
        /// Only this account's (its id).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        account: Option<String>,
        /// At most this many entries.
        limit: usize,
    },
    /// Refresh an account's tokens now, due or not (the window's Refresh now). Answered with
    /// [`Event::Refreshed`]; no token leaves the daemon.
    Refresh {
        /// Account id, or a provider id that has exactly one account.
        account: String,
    },
    /// Revoke and forget an account. Answered with [`Event::Unlinked`].
    Unlink {
        /// Account id, or a provider id that has exactly one account.
        account: String,
    },
    /// Forget everything Pixy keeps but the person's own configuration and the daemon's log:
    /// running links are cancelled, every account is revoked at its provider, and the keyring's
    /// entries, the account index, the client registrations, the grants and the audit log are
    /// deleted. Progress [`Event::ResetStep`]s, then [`Event::Reset`]. With `dry_run`, nothing is
    /// done: answered with [`Event::ResetPlan`], what would go and what stays.
    Reset {
        /// Only say what a reset would do.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        dry_run: bool,
    },
    /// Ask the daemon to exit (used by the tray's Quit and by tests).
    Shutdown,
    /// What the person pasted (a code, `code#state` or the redirect URL), sent on a link's own
    /// connection after its [`Request::Link`]. A paste that is not usable is answered there with
    /// [`Event::PasteRejected`] and the link waits on; a usable one finishes it.
    Paste {
        /// The pasted text.
        text: SecretText,
    },
}

/// Which provider to link with.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProviderSelector {
    /// A provider the daemon knows by id (`demo`, or one from providers.toml).
    Named {
        /// The provider id.
        id: String,
    },
    /// An ad-hoc OIDC / OAuth 2.0 provider found by discovery from its issuer.
    Issuer {
        /// The issuer URL (https, or http on a loopback host).
        issuer: String,
        /// The public client id registered with the provider.
        client_id: String,
    },
    /// An account already linked, signed in to again (Reconnect): with the endpoints it was linked
    /// with when its provider is not defined (linked by issuer), and its granted scopes.
    Account {
        /// The account id.
        id: String,
    },
    /// A protected resource (an MCP server) by its URL, or an account linked to one, to sign in
    /// again with the scopes a `403 insufficient_scope` demands (a step-up).
    Resource {
        /// The resource's URL, or the name of an account linked to one.
        target: String,
        /// The account's name (default: from the host).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        account: Option<String>,
        /// A client id registered for Pixy at the authorization server.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
        /// The URL of Pixy's Client ID Metadata Document, used where the server takes one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_metadata_url: Option<String>,
        /// The `WWW-Authenticate` header the resource answered the client with.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        www_authenticate: Option<String>,
        /// Leave out the RFC 8707 `resource` parameter, for a server that rejects it.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        no_resource: bool,
    },
}

/// Options of a link request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LinkRequest {
    /// The provider.
    pub provider: ProviderSelector,
    /// Scopes to ask for; empty means the provider's default scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Extra authorization request parameters (`prompt=consent`, ...).
    #[serde(default)]
    pub auth_params: Vec<(String, String)>,
    /// Open the system browser at the authorization URL.
    #[serde(default = "default_true")]
    pub open_browser: bool,
    /// The client's `$BROWSER`, if set: a command that takes the URL as its last argument.
    #[serde(default)]
    pub browser: Option<String>,
    /// How long to wait for the person, in seconds (default 300).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// Link with a device code (RFC 8628): no browser or redirect on this machine.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub device: bool,
    /// A developer API key for the provider (Grantex), kept in the keyring for its next links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<SecretText>,
    /// The client secret that goes with a given client id (a resource's confidential client),
    /// kept in the keyring with its registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<SecretText>,
}

fn default_true() -> bool {
    true
}

/// What the daemon answers. Also the CLI's `--json` output, one per line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The authorization URL is ready; the browser is being opened (unless asked not to).
    Authorize {
        /// The full authorization URL.
        url: String,
        /// Nothing listens for the redirect: the provider's page shows a code, and the link ends
        /// when the person pastes it ([`Request::Paste`]).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        paste_only: bool,
    },
    /// A device code is ready (RFC 8628): the person enters `user_code` at `verification_uri` on
    /// any device. Shown, never a secret: the device code itself stays in the daemon.
    Device {
        /// The code to enter.
        user_code: String,
        /// Where to enter it.
        verification_uri: String,
        /// The same with the code filled in, if the provider gave one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        verification_uri_complete: Option<String>,
        /// Seconds until the code expires.
        expires_in: u64,
    },
    /// One step of finding a resource's authorization server, and how it went (`--explain`).
    Step(crate::resource_link::Step),
    /// A paste was not usable: why, in words that quote nothing of it. The link waits on.
    PasteRejected {
        /// Why.
        reason: String,
    },
    /// Waiting for the person to finish in the browser.
    Waiting {
        /// Seconds left before the flow times out.
        seconds_left: u64,
    },
    /// No browser could be started: the person opens the authorization URL themselves; the link
    /// waits on.
    BrowserFailed,
    /// The browser came back with a code; exchanging it for tokens.
    Exchanging,
    /// Terminal: the account is linked.
    Linked {
        /// The new (or re-linked) account.
        account: AccountSummary,
    },
    /// Terminal: answer to [`Request::Ping`].
    Pong {
        /// The daemon's version.
        version: String,
        /// The daemon's process id.
        pid: u32,
    },
    /// Terminal: answer to [`Request::Doctor`].
    Doctor {
        /// The daemon's report ([`crate::doctor::render`] prints it).
        report: Box<crate::doctor::Report>,
    },
    /// Terminal: answer to [`Request::Providers`].
    Providers {
        /// Known providers, the demo first.
        providers: Vec<ProviderSummary>,
    },
    /// Terminal: answer to [`Request::Status`].
    Status {
        /// Linked accounts.
        accounts: Vec<AccountSummary>,
        /// What was lost reading the account index, if anything: the person must hear of it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        problem: Option<String>,
    },
    /// Terminal: answer to [`Request::Token`]. The only event that carries a secret.
    Token {
        /// The account the token belongs to.
        account: String,
        /// A valid access token.
        access_token: TokenText,
        /// When it expires, in seconds since the Unix epoch, if known.
        expires_at: Option<u64>,
    },
    /// Progress of [`Request::Token`] or [`Request::Run`]: the person is being asked whether the
    /// program may have the account's tokens. With `ask_here`, the client puts the question on its
    /// terminal and sends the answer as [`Request::Answer`] on the same connection.
    Question {
        /// What is asked.
        question: crate::consent::Question,
        /// Whether this client is the one to ask it.
        ask_here: bool,
    },
    /// Answer to [`Request::Run`]: the run's tokens. Not terminal: the connection stays open for
    /// as long as the run's grant lasts.
    Run {
        /// One token per account asked for, in the order asked.
        tokens: Vec<RunToken>,
    },
    /// Terminal: answer to [`Request::Answer`].
    Answered {
        /// The question's id.
        question: u64,
    },
    /// Terminal: answer to [`Request::Questions`].
    Questions {
        /// Oldest first.
        questions: Vec<crate::consent::Question>,
    },
    /// Terminal: answer to [`Request::Grants`].
    Grants {
        /// By account, then program.
        grants: Vec<crate::consent::Grant>,
    },
    /// Terminal: answer to [`Request::Allow`].
    Granted {
        /// The grant as kept.
        grant: crate::consent::Grant,
    },
    /// Terminal: answer to [`Request::RevokeGrant`].
    GrantRevoked {
        /// The program of the grant that ended.
        program: String,
        /// Its account.
        account: String,
    },
    /// Terminal: answer to [`Request::DiscoverProvider`].
    Discovered {
        /// What the issuer offers, and suggestions for the rest.
        found: crate::new_provider::Found,
    },
    /// Terminal: answer to [`Request::AddProvider`] when it was saved.
    ProviderAdded {
        /// The provider as it is now listed.
        provider: ProviderSummary,
    },
    /// Terminal: answer to [`Request::AddProvider`] when fields are wrong; nothing was written.
    ProviderInvalid {
        /// One problem per field.
        problems: Vec<crate::new_provider::FieldProblem>,
    },
    /// Terminal: answer to [`Request::Activity`].
    Activity {
        /// Newest first.
        entries: Vec<crate::audit::Entry>,
    },
    /// Terminal: answer to [`Request::Refresh`].
    Refreshed {
        /// The account as it is after the refresh.
        account: AccountSummary,
    },
    /// Terminal: answer to [`Request::Unlink`].
    Unlinked {
        /// The account that was removed.
        account: String,
        /// Whether the provider confirmed the revocation.
        revoked: bool,
        /// What became of the revocation, for a client to say it exactly.
        revocation: crate::revoke::Revocation,
    },
    /// Terminal: answer to [`Request::Reset`] with `dry_run`.
    ResetPlan {
        /// What a reset deletes, one item a line.
        delete: Vec<String>,
        /// What it keeps, and why.
        keep: Vec<String>,
    },
    /// Progress of [`Request::Reset`]: one item done, or not.
    ResetStep {
        /// The item.
        step: ResetStep,
    },
    /// Terminal: answer to [`Request::Reset`]: every item, and what was kept.
    Reset {
        /// Each item and how it went, in order.
        steps: Vec<ResetStep>,
        /// What was kept, and why.
        kept: Vec<String>,
    },
    /// Terminal: answer to [`Request::Shutdown`].
    ShuttingDown,
    /// Terminal: the request failed.
    Error {
        /// What kind of failure, for a client to act on.
        kind: ErrorKind,
        /// A sentence for a person; never holds a code, token, state or full URL.
        message: String,
    },
}

impl Event {
    /// Whether this event ends the answer to a request.
    pub fn is_terminal(&self) -> bool {
        !matches!(
            self,
            Event::Authorize { .. }
                | Event::Device { .. }
                | Event::Step(_)
                | Event::PasteRejected { .. }
                | Event::Waiting { .. }
                | Event::Exchanging
                | Event::BrowserFailed
                | Event::Question { .. }
                | Event::Run { .. }
                | Event::ResetStep { .. }
        )
    }
}

/// One item of a reset and how it went: a sentence that names no secret.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResetStep {
    /// What it is about: an account, the keyring, a file.
    pub item: String,
    /// What became of it.
    pub outcome: String,
    /// Whether it went as a reset means it to (false: a provider that did not revoke, a file or
    /// an entry that could not be deleted).
    pub ok: bool,
}

/// One account's token in [`Event::Run`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunToken {
    /// The account's id.
    pub account: String,
    /// A valid access token.
    pub access_token: TokenText,
    /// When it expires, in seconds since the Unix epoch, if known.
    pub expires_at: Option<u64>,
}

/// An access token on the wire, the one secret that is ever serialized: the answer to
/// `pixy token`, to the same user. A plain string on the wire; `Debug` never shows it, and its
/// memory is zeroed on drop.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(transparent)]
pub struct TokenText(Zeroizing<String>);

impl TokenText {
    /// The token itself, for the one place it is meant to go (stdout of `pixy token`).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<AccessToken> for TokenText {
    fn from(token: AccessToken) -> Self {
        TokenText(Zeroizing::new(token.expose().to_string()))
    }
}

impl std::fmt::Debug for TokenText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenText([redacted])")
    }
}

/// What a person pasted or typed that may hold a secret (an authorization code, a developer API
/// key), on its way to the daemon: `Debug` never shows it and its memory is zeroed on drop.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(transparent)]
pub struct SecretText(Zeroizing<String>);

impl SecretText {
    /// Wraps what the person pasted or typed.
    pub fn new(text: impl Into<String>) -> Self {
        SecretText(Zeroizing::new(text.into()))
    }

    /// The text, for the paste parser only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretText([redacted])")
    }
}

/// A provider as clients see it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProviderSummary {
    /// Stable id (`demo`, or the id in providers.toml).
    pub id: String,
    /// Name to show.
    pub label: String,
    /// The issuer or authorization server URL.
    pub issuer: String,
    /// True for the embedded demo provider, a fixture that is never a real account.
    pub demo: bool,
    /// A built-in preset (maybe with overrides from providers.toml).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preset: bool,
    /// Links by pasting the code its page shows (no loopback redirect).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paste_only: bool,
    /// Can link with a device code, as far as is known without asking the provider.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub device: bool,
    /// Needs a developer API key before it can link (Grantex), and none is kept yet.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub needs_api_key: bool,
    /// Why this definition cannot be used (it names the file and line); `None` when it can.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_event_serializes_the_token_but_never_debug_prints_it() {
        let event =
            Event::Token { account: "a".into(), access_token: AccessToken::new("secret-at").into(), expires_at: None };
        assert!(!format!("{event:?}").contains("secret-at"), "Debug must redact the token");
        let json = serde_json::to_string(&event).unwrap();
        assert!(json.contains(r#""access_token":"secret-at""#), "the wire carries it as a string: {json}");
    }
}
