//! The daemon: the one owner of accounts and tokens, the one place that links, refreshes, hands
//! out and revokes. Its parts, each in its own file:
//!
//! - [`dispatch`]: a request from the socket in, its events out;
//! - [`accounts`]: the account list, saved on every change, with a lock per account;
//! - [`providers`]: resolving providers (the demo, providers.toml as it is now, an issuer);
//! - [`link`]: running and replacing links, storing a new account whole;
//! - [`resources`]: linking a protected resource (an MCP server) by its URL;
//! - [`tokens`]: handing out and refreshing access tokens;
//! - [`handout`]: handing a token to a program: its account, consent, a fresh token;
//! - [`consent`]: whether a program may have an account's tokens, asking the person when needed;
//! - [`runs`]: `pixy exec` runs and the grant that lasts while one runs;
//! - [`notices`]: telling the person, once per account, that it needs relinking;
//! - [`audit`]: recording each handout and refusal, with the program that asked;
//! - [`schedule`]: refreshing every account ahead of expiry;
//! - [`unlink`]: revoking and forgetting;
//! - [`reconcile`]: putting the index and the keyring back in step at start;
//! - [`doctor`]: what `pixy doctor` needs of the daemon: keyring, tray, providers, accounts, ports;
//! - [`reset`]: forgetting everything, revoking first;
//! - [`upgrade`]: replacing itself with a new version installed over its executable;
//! - [`socket`]: the socket clients reach it through.
//!
//! Invariants: only the daemon reads or writes tokens; refreshes of one account are
//! single-flight (a per-account lock, and the token is re-read from the keyring under it, so a
//! refresh another process already did is used rather than repeated); a rotated refresh token is
//! stored before the new access token is handed out; the keyring is probed before a browser
//! opens; a new account is recorded before its secrets are written; re-linking an account
//! revokes the refresh token it replaced unless that would end the new sign-in too; unlink
//! revokes (refresh token first) and then deletes, even when revocation fails.

mod accounts;
mod add_provider;
mod audit;
mod consent;
mod dispatch;
mod doctor;
mod handout;
mod link;
mod notices;
mod providers;
mod reconcile;
mod reset;
mod resources;
mod runs;
mod schedule;
pub mod socket;
mod tokens;
mod unlink;
pub mod upgrade;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, Notify};

use crate::account::AccountRecord;
use crate::catalog::{Catalog, ProvidersFile};
use crate::clock::Clock;
use crate::index::AccountIndex;
use crate::ipc::protocol::{AccountStatus, AccountSummary};
use crate::provider::Provider;
use crate::store::TokenStore;
use accounts::summaries_of;
pub use dispatch::FollowUps;
pub use notices::Notice;

/// Where the daemon keeps things and what it offers.
pub struct DaemonConfig {
    /// The account index file.
    pub index_path: PathBuf,
    /// providers.toml.
    pub providers_path: PathBuf,
    /// The embedded demo provider's issuer, when it runs.
    pub demo_issuer: Option<String>,
    /// The demo provider's client id.
    pub demo_client_id: String,
    /// How long one request to a provider may take.
    pub http_timeout: Duration,
    /// Where the daemon reads the time ([`crate::clock::SystemClock`] but in tests).
    pub clock: Arc<dyn Clock>,
    /// The audit log of token handouts (`None`: none is kept, as in tests that need none).
    pub audit_path: Option<PathBuf>,
    /// How long a consent question waits for the person before it counts as a denial.
    pub consent_timeout: Duration,
    /// Whether the daemon has a display to ask consent on (a notification and the window);
    /// without one, the requesting client's terminal is asked.
    pub desktop: bool,
}

/// Why a daemon refuses every request, and whether that lasts: an index of a newer Pixy does,
/// until Pixy is upgraded; a failure to read or migrate it may pass, so the daemon that said it
/// stops and the next request starts one that tries again.
struct Refusal {
    error: crate::error::Error,
    lasts: bool,
}

/// A provider built from a definition, with the catalog it came from (`None` for the demo).
type Built = (Option<Arc<Catalog>>, Provider);

/// The daemon's state.
pub struct Daemon {
    http: reqwest::Client,
    store: Arc<dyn TokenStore>,
    index: AccountIndex,
    accounts: tokio::sync::Mutex<Vec<AccountRecord>>,
    /// What was lost when the index was read, said with every status until the daemon restarts.
    index_problem: Option<String>,
    /// Why the account index cannot be used at all (a newer Pixy's schema, or a file that cannot
    /// be read): then every request but Ping and Shutdown is answered with it, and nothing touches
    /// the keyring or the index. A daemon that stays up to say so, rather than one that fails to
    /// start, puts the reason in front of every client (`pixy status`, `pixy token`, the window)
    /// in the daemon's own words, where a client that finds no daemon could only wait out its
    /// start timeout and point at the log; it holds the single-daemon lock, so clients do not
    /// start one failing daemon after another; and it replaces itself when a new version is
    /// installed over its executable like any daemon, so installing the Pixy the message asks
    /// for is all it takes.
    refusal: Option<Refusal>,
    /// Links the last daemon left pending, for [`Daemon::reconcile`].
    pending_at_start: Mutex<Vec<String>>,
    config: DaemonConfig,
    providers_file: Arc<ProvidersFile>,
    /// Providers built (discovered) so far, by id: an entry is built again once the file changed.
    providers: tokio::sync::Mutex<HashMap<String, Built>>,
    /// Held while providers.toml is being added to.
    providers_write: tokio::sync::Mutex<()>,
    account_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Each account's current access token, as last read from or written to the keyring, so a
    /// token that is not due for a refresh is handed out without a keyring call (zeroed on drop).
    access_tokens: Mutex<HashMap<String, crate::secret::AccessToken>>,
    /// Pixy's client registrations, one per authorization server of a linked resource.
    registrations: tokio::sync::Mutex<Vec<crate::registration::Registration>>,
    registration_index: crate::registrations::RegistrationIndex,
    /// Why the registration index cannot be written, if it cannot (a newer Pixy's file).
    registrations_refused: Option<crate::error::Error>,
    /// When each resource account and scope set was last sent to authorize, to stop a loop.
    authorizations: Mutex<HashMap<String, Vec<u64>>>,
    /// Links waiting for the person, by provider id, with the switch that stops each.
    running: Mutex<HashMap<String, link::RunningLink>>,
    flow_numbers: std::sync::atomic::AtomicU64,
    summaries: watch::Sender<Vec<AccountSummary>>,
    quit: Arc<Notify>,
    audit: Option<crate::audit::AuditLog>,
    consent: consent::Consent,
    notices: notices::Notices,
    /// When the daemon started, for its uptime.
    started: std::time::Instant,
}

impl Daemon {
    /// Loads the account index and builds the daemon; an index that cannot be used makes a
    /// daemon that refuses every request with the reason (see `refusal`).
    pub fn new(config: DaemonConfig, store: Arc<dyn TokenStore>, quit: Arc<Notify>) -> Daemon {
        let index = AccountIndex::new(&config.index_path);
        let (loaded, refusal) = match index.load() {
            Ok(loaded) => (loaded, None),
            Err(e) => {
                tracing::error!(error = %e, "the account index cannot be used; every request is refused with why");
                let lasts = index.is_newer();
                (crate::index::LoadedIndex::default(), Some(Refusal { error: e, lasts }))
            }
        };
        let mut accounts = loaded.accounts;
        let accounts_pending = accounts.iter().filter(|a| a.pending).map(|a| a.id.clone()).collect();
        for a in accounts.iter_mut().filter(|a| a.status == AccountStatus::Refreshing) {
            // A refresh the last daemon did not finish: the scheduler tries again.
            a.status = AccountStatus::Connected;
        }
        let (summaries, _) = watch::channel(summaries_of(&accounts));
        let registration_index =
            crate::registrations::registration_index(config.index_path.with_file_name("registrations.json"));
        // A registration index that cannot be used costs registrations, never the daemon: links
        // that would keep one say why, and the file is left as it is.
        let (registrations, registrations_refused) = match registration_index.load() {
            Ok(registrations) => (registrations, None),
            Err(e) => {
                tracing::warn!(error = %e, "the registration index cannot be used");
                (Vec::new(), Some(e))
            }
        };
        let audit = config.audit_path.clone().map(crate::audit::AuditLog::new);
        let consent = consent::Consent::new(
            config.index_path.with_file_name("grants.json"),
            config.consent_timeout,
            config.desktop,
        );
        Daemon {
            http: crate::http::client(config.http_timeout),
            store,
            index,
            accounts: tokio::sync::Mutex::new(accounts),
            index_problem: loaded.problem,
            refusal,
            pending_at_start: Mutex::new(accounts_pending),
            providers_file: Arc::new(ProvidersFile::new(&config.providers_path)),
            config,
            providers: tokio::sync::Mutex::new(HashMap::new()),
            providers_write: tokio::sync::Mutex::new(()),
            account_locks: Mutex::new(HashMap::new()),
            access_tokens: Mutex::new(HashMap::new()),
            registrations: tokio::sync::Mutex::new(registrations),
            registration_index,
            registrations_refused,
            authorizations: Mutex::new(HashMap::new()),
            running: Mutex::new(HashMap::new()),
            flow_numbers: Default::default(),
            summaries,
            quit,
            audit,
            consent,
            notices: notices::Notices::new(),
            started: std::time::Instant::now(),
        }
    }

    /// The time, as the daemon's clock tells it.
    fn now(&self) -> u64 {
        self.config.clock.now()
    }

    /// Account summaries, updated on every change (the tray watches this).
    pub fn summaries(&self) -> watch::Receiver<Vec<AccountSummary>> {
        self.summaries.subscribe()
    }
}
