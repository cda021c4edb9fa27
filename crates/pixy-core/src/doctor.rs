//! `pixy doctor`: what a support request needs, in a form a person can paste into a bug report.
//!
//! A [`Report`] holds the versions and the system (OS, kernel, desktop session), Pixy's paths, the
//! keyring backend and whether it is reachable and unlocked, whether a tray host is there, each
//! provider's metadata (or its authorization endpoint's host) and whether it answers, the accounts'
//! statuses, the ports in use, and the problems the daemon knows of (providers.toml, the index).
//! [`Report::finish`] turns what is wrong into [`Finding`]s, each with a one-line hint; [`render`]
//! prints the whole as plain text (what `pixy doctor` prints, and what the window copies).
//!
//! Who gathers what: the checks that need the person's session (keyring, tray, providers,
//! accounts, ports) run in the daemon (`Request::Doctor`, see `daemon/doctor.rs`); [`collect`]
//! asks it (starting it when needed) and, when it cannot be reached, still reports what this
//! process can see for itself, and why the daemon is unreachable.
//!
//! Invariants: every check has a time limit ([`CHECK_TIMEOUT`]) and they run concurrently, so a
//! locked keyring behind a prompt or a dead provider costs seconds, never a hang. The keyring and
//! tray checks only read (see [`crate::session_bus`]): nothing is unlocked or prompted for.
//!
//! Security: a report holds no secret. URLs are redacted (no query, no user info), error texts
//! are built here from error kinds rather than copied from a server, accounts carry their status
//! and times, never a token, and a provider's text is stripped of control characters.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::account::AccountStatus;
use crate::error::redact_url;
use crate::ipc::paths;

/// How long one check may take.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// Everything `pixy doctor` reports.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// When the report was made, in seconds since the Unix epoch (times below are relative to it).
    pub generated_at: u64,
    /// The version of the client that asked (the `pixy` command, or the window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_version: Option<String>,
    /// The daemon, or why it cannot be reached.
    pub daemon: DaemonState,
    /// The system the report was made on (the daemon's session when it answered).
    pub system: System,
    /// Where Pixy keeps its files.
    pub paths: Paths,
    /// The keyring; `None` when it was not checked.
    pub keyring: Option<KeyringState>,
    /// The tray host; `None` when it was not checked (or the platform has none to check).
    pub tray: Option<TrayState>,
    /// The providers and whether each answers; `None` without the daemon.
    pub providers: Option<Vec<ProviderCheck>>,
    /// The linked accounts; `None` without the daemon.
    pub accounts: Option<Vec<AccountCheck>>,
    /// The ports Pixy uses or is configured to use; `None` without the daemon.
    pub ports: Option<Vec<PortUse>>,
    /// Problems the daemon knows of: providers.toml, the account index, the registration index.
    #[serde(default)]
    pub known_problems: Vec<String>,
    /// What is wrong or worth knowing, each with a hint (made by [`Report::finish`]).
    #[serde(default)]
    pub findings: Vec<Finding>,
}

/// The daemon, as doctor found it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DaemonState {
    /// It answered.
    Running {
        /// Its version.
        version: String,
        /// Its process id.
        pid: u32,
        /// How long it has run, in seconds.
        uptime_secs: u64,
    },
    /// It could not be reached or started.
    Unreachable {
        /// Why.
        reason: String,
    },
}

/// The operating system and desktop session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct System {
    /// The OS's name (os-release `PRETTY_NAME` on Linux).
    pub os: String,
    /// The kernel release, where there is one to read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// `XDG_CURRENT_DESKTOP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desktop: Option<String>,
    /// `XDG_SESSION_TYPE` (x11, wayland, tty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_type: Option<String>,
    /// Whether a display is set (`DISPLAY` or `WAYLAND_DISPLAY`).
    pub display: bool,
}

/// Pixy's files.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Paths {
    /// The config directory (providers.toml, accounts.json).
    pub config: String,
    /// The daemon's current log file.
    pub log: String,
    /// The daemon's socket, when the runtime directory can be used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket: Option<String>,
}

/// The keyring.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KeyringState {
    /// What stores the secrets, in words.
    pub backend: String,
    /// A Secret Service owns its name now.
    pub running: bool,
    /// It can be reached: running, or started by the bus on first use.
    pub reachable: bool,
    /// The default collection is unlocked; `None` when that could not be read (see `detail`).
    pub unlocked: Option<bool>,
    /// What went wrong reading it, if anything (a bus error or a timeout, never a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The tray host.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrayState {
    /// A StatusNotifier watcher owns its name on the session bus.
    pub watcher: bool,
    /// The watcher says a host (a panel that shows icons) is registered; `None` when unknown.
    pub host_registered: Option<bool>,
    /// What went wrong asking, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Where a provider's definition comes from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ProviderSource {
    /// The embedded demo provider.
    Demo,
    /// A built-in preset (maybe with overrides from providers.toml).
    Preset,
    /// An entry of providers.toml.
    File,
}

/// What was asked of a provider.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ProviderProbe {
    /// Its discovery document (OpenID, else RFC 8414) was fetched.
    Metadata,
    /// Its endpoints are set by hand: a TCP connection to its authorization endpoint's host.
    Host,
    /// Nothing: the definition cannot be used.
    None,
}

/// One provider and whether it answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProviderCheck {
    /// Its id.
    pub id: String,
    /// Where it is defined.
    pub source: ProviderSource,
    /// How many linked accounts use it.
    pub accounts: usize,
    /// What was asked.
    pub probe: ProviderProbe,
    /// The URL (redacted) or `host:port` asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Whether it answered (for metadata: with a 2xx status).
    pub answered: bool,
    /// The HTTP status, for a metadata fetch that got one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// How long the answer took, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub millis: Option<u64>,
    /// Why it did not answer, or why the definition cannot be used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One account's state: never a token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccountCheck {
    /// Its id.
    pub id: String,
    /// Its provider's id.
    pub provider: String,
    /// Its status.
    pub status: AccountStatus,
    /// Why it has that status, when it needs attention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When its access token expires (Unix seconds), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// When its tokens were last obtained (linked or refreshed), Unix seconds.
    pub refreshed_at: u64,
    /// Whether a refresh token is kept.
    pub has_refresh_token: bool,
}

/// What a port is for.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PortKind {
    /// The embedded demo provider listens there.
    Demo,
    /// A link waiting for the person listens there for the browser's redirect.
    Waiting,
    /// A provider is configured to get its redirect on this fixed port.
    Fixed,
}

/// A port Pixy uses or is configured to use, on 127.0.0.1.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PortUse {
    /// The port.
    pub port: u16,
    /// What for.
    pub kind: PortKind,
    /// The provider it is for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// For a fixed port: whether it is free now (`false`: some other program holds it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free: Option<bool>,
}

/// How much a finding matters.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Something does not work: `pixy doctor` exits 1.
    Problem,
    /// Worth knowing; Pixy works without it.
    Note,
}

/// Something doctor found, with what to do about it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Finding {
    /// How much it matters.
    pub severity: Severity,
    /// What is wrong, in one line.
    pub what: String,
    /// What to do, in one line.
    pub hint: String,
}

impl Report {
    /// A report with what this process knows of itself: the system and the paths.
    pub fn local(now: u64, daemon: DaemonState) -> Report {
        Report {
            generated_at: now,
            client_version: None,
            daemon,
            system: system(),
            paths: own_paths(),
            keyring: None,
            tray: None,
            providers: None,
            accounts: None,
            ports: None,
            known_problems: Vec::new(),
            findings: Vec::new(),
        }
    }

    /// Whether a finding is a problem (then `pixy doctor` exits 1).
    pub fn has_problems(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Problem)
    }

    /// Works out the findings from what was gathered.
    pub fn finish(&mut self) {
        let mut found = Vec::new();
        let mut problem = |what: String, hint: &str| {
            found.push(Finding { severity: Severity::Problem, what, hint: hint.to_string() })
        };
        if let DaemonState::Unreachable { reason } = &self.daemon {
            problem(
                format!("the daemon cannot be reached: {reason}"),
                &format!("read its log ({}); `pixy daemon` in a terminal shows why it stops", self.paths.log),
            );
        }
        if let Some(k) = &self.keyring {
            if !k.reachable {
                problem(
                    format!("the keyring cannot be reached{}", detail(&k.detail)),
                    "start gnome-keyring or KeePassXC (with its Secret Service integration on), or log in to a desktop session that runs one",
                );
            } else if k.unlocked == Some(false) {
                problem(
                    "the keyring's default collection is locked".into(),
                    "unlock it (Seahorse, KeePassXC, or log in again); Pixy never unlocks it itself",
                );
            } else if k.unlocked.is_none() {
                problem(
                    format!("the keyring's default collection cannot be read{}", detail(&k.detail)),
                    "make a collection the default one (Seahorse: Set as default), or restart the keyring",
                );
            }
        }
        for p in self.providers.iter().flatten() {
            match p.probe {
                ProviderProbe::None => problem(
                    format!("provider {} cannot be used: {}", p.id, p.error.as_deref().unwrap_or("unknown")),
                    "fix its entry in providers.toml (`pixy providers` shows it); the other providers stay usable",
                ),
                // A preset nobody uses that does not answer is no one's problem.
                _ if !p.answered && (p.source != ProviderSource::Preset || p.accounts > 0) => problem(
                    format!("provider {} does not answer: {}", p.id, p.error.as_deref().unwrap_or("no answer")),
                    "check its issuer or endpoints, your network and proxy settings",
                ),
                _ => {}
            }
        }
        for a in self.accounts.iter().flatten() {
            match a.status {
                AccountStatus::NeedsRelink | AccountStatus::Expired => problem(
                    format!("account {} {}{}", a.id, a.status.words().to_lowercase(), detail(&a.reason)),
                    &format!("link it again: `pixy link {}` (or Reconnect in the window)", a.provider),
                ),
                AccountStatus::Error => problem(
                    format!("account {} cannot refresh{}", a.id, detail(&a.reason)),
                    &format!("`pixy refresh {}` tries now; the daemon's log says why it fails", a.id),
                ),
                AccountStatus::Connected | AccountStatus::Refreshing => {}
            }
        }
        for known in &self.known_problems {
            problem(known.clone(), "fix or remove the file it names; Pixy leaves it as it is");
        }
        let mut note =
            |what: String, hint: &str| found.push(Finding { severity: Severity::Note, what, hint: hint.to_string() });
        if let Some(t) = &self.tray {
            if !t.watcher {
                note(
                    "no tray host on the session bus: the daemon runs without an icon".into(),
                    "a panel with StatusNotifier support shows it (GNOME: the AppIndicator extension)",
                );
            } else if t.host_registered == Some(false) {
                note(
                    "a StatusNotifier watcher runs but no host is registered: no icon is shown".into(),
                    "start a panel or tray that shows StatusNotifier icons",
                );
            }
        }
        for p in self.ports.iter().flatten() {
            if p.free == Some(false) {
                note(
                    format!(
                        "port {} ({}'s fixed redirect port) is taken by another program",
                        p.port,
                        p.provider.as_deref().unwrap_or("a provider")
                    ),
                    "a link with it uses its next port, if it has one; else stop that program first",
                );
            }
        }
        self.findings = found;
    }
}

fn detail(text: &Option<String>) -> String {
    text.as_deref().map(|t| format!(": {t}")).unwrap_or_default()
}

/// The system this process runs on.
pub fn system() -> System {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    System {
        os: os_name(),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|k| k.trim().to_string()),
        desktop: var("XDG_CURRENT_DESKTOP"),
        session_type: var("XDG_SESSION_TYPE"),
        display: var("DISPLAY").is_some() || var("WAYLAND_DISPLAY").is_some(),
    }
}

fn os_name() -> String {
    let release =
        std::fs::read_to_string("/etc/os-release").or_else(|_| std::fs::read_to_string("/usr/lib/os-release"));
    release.ok().and_then(|text| pretty_name(&text)).unwrap_or_else(|| std::env::consts::OS.to_string())
}

/// `PRETTY_NAME` of an os-release file, unquoted.
fn pretty_name(os_release: &str) -> Option<String> {
    let value = os_release.lines().find_map(|l| l.trim().strip_prefix("PRETTY_NAME="))?;
    let value = value.trim().trim_matches('"').trim_matches('\'');
    (!value.is_empty()).then(|| crate::text::printable(value, 200))
}

/// Pixy's paths as this process sees them.
pub fn own_paths() -> Paths {
    Paths {
        config: paths::config_dir().display().to_string(),
        log: paths::log_path().display().to_string(),
        socket: paths::socket_path().ok().map(|p| p.display().to_string()),
    }
}

/// The keyring check, bounded by [`CHECK_TIMEOUT`].
pub async fn keyring() -> KeyringState {
    #[cfg(target_os = "linux")]
    {
        match tokio::time::timeout(CHECK_TIMEOUT, crate::session_bus::keyring()).await {
            Ok(state) => state,
            Err(_) => KeyringState {
                backend: crate::session_bus::BACKEND.into(),
                running: false,
                reachable: false,
                unlocked: None,
                detail: Some(format!("the session bus did not answer within {} s", CHECK_TIMEOUT.as_secs())),
            },
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let backend = if cfg!(target_os = "macos") { "macOS Keychain" } else { "Windows Credential Manager" };
        KeyringState { backend: backend.into(), running: true, reachable: true, unlocked: Some(true), detail: None }
    }
}

/// The tray check, bounded by [`CHECK_TIMEOUT`]; `None` where there is no StatusNotifier to ask.
pub async fn tray() -> Option<TrayState> {
    #[cfg(target_os = "linux")]
    {
        Some(tokio::time::timeout(CHECK_TIMEOUT, crate::session_bus::tray()).await.unwrap_or_else(|_| TrayState {
            watcher: false,
            host_registered: None,
            detail: Some(format!("the session bus did not answer within {} s", CHECK_TIMEOUT.as_secs())),
        }))
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// Fetches a provider's discovery document: OpenID's, else RFC 8414's. Answers the URL asked
/// (redacted), the status, the time, and why it failed.
pub async fn probe_metadata(http: &reqwest::Client, issuer: &str) -> ProviderCheck {
    let mut check = blank_check(ProviderProbe::Metadata);
    let mut urls = vec![crate::discovery::oidc_url(issuer)];
    if let Ok(url) = crate::discovery::rfc8414_url(issuer) {
        urls.push(url);
    }
    for url in urls {
        if let Err(e) = crate::http::check_endpoint("issuer", &url) {
            check.error = Some(e.message);
            return check;
        }
        let started = std::time::Instant::now();
        let answer = http.get(&url).timeout(CHECK_TIMEOUT).send().await;
        check.millis = Some(started.elapsed().as_millis() as u64);
        check.target = Some(redact_url(&url));
        match answer {
            Ok(resp) if resp.status().is_success() => {
                check.status = Some(resp.status().as_u16());
                check.answered = true;
                check.error = None;
                return check;
            }
            // The first answer is the one reported, unless the second place answers.
            Ok(resp) => {
                if check.status.is_none() && check.error.is_none() {
                    check.status = Some(resp.status().as_u16());
                    check.error = Some(format!("HTTP {} from {}", resp.status().as_u16(), redact_url(&url)));
                }
            }
            Err(e) => {
                if check.status.is_none() && check.error.is_none() {
                    check.error = Some(transport_error(&e));
                }
                // A host that does not answer at one place will not at the other.
                break;
            }
        }
    }
    check
}

/// Whether the host of a hand-set authorization endpoint takes a TCP connection.
pub async fn probe_host(url: &str) -> ProviderCheck {
    let mut check = blank_check(ProviderProbe::Host);
    let Some((host, port)) =
        url::Url::parse(url).ok().and_then(|u| Some((u.host_str()?.to_string(), u.port_or_known_default()?)))
    else {
        check.error = Some("the authorization endpoint is not a valid URL".into());
        return check;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    check.target = Some(format!("{host}:{port}"));
    let started = std::time::Instant::now();
    match tokio::time::timeout(CHECK_TIMEOUT, tokio::net::TcpStream::connect((host.as_str(), port))).await {
        Ok(Ok(_)) => {
            check.answered = true;
            check.millis = Some(started.elapsed().as_millis() as u64);
        }
        // An address lookup or socket error: it names the host at most, which is asked here anyway.
        Ok(Err(e)) => check.error = Some(format!("cannot connect: {}", crate::text::printable(&e.to_string(), 200))),
        Err(_) => check.error = Some(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
    }
    check
}

fn blank_check(probe: ProviderProbe) -> ProviderCheck {
    ProviderCheck {
        id: String::new(),
        source: ProviderSource::File,
        accounts: 0,
        probe,
        target: None,
        answered: false,
        status: None,
        millis: None,
        error: None,
    }
}

/// A transport failure in words that hold no URL: what kind, and the innermost cause (a DNS or
/// socket error).
fn transport_error(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        return format!("no answer within {} s", CHECK_TIMEOUT.as_secs());
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_redirect() {
        "it redirects, which Pixy does not follow"
    } else {
        "the request failed"
    };
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut innermost = None;
    while let Some(s) = source {
        innermost = Some(s.to_string());
        source = s.source();
    }
    match innermost {
        Some(cause) if !cause.contains("://") => format!("{what}: {}", crate::text::printable(&cause, 200)),
        _ => what.to_string(),
    }
}

/// The report: the daemon's (started when needed), with `client_version` added; or, when the
/// daemon cannot be reached, what this process can see for itself and why.
pub async fn collect(client_version: &str) -> Report {
    let asked = async {
        match crate::ipc::client::ask(crate::ipc::Request::Doctor).await? {
            crate::ipc::Event::Doctor { report } => Ok(*report),
            other => Err(crate::ipc::client::unexpected(&other)),
        }
    };
    let mut report = match asked.await {
        Ok(report) => report,
        Err(e) => {
            let now = crate::clock::Clock::now(&crate::clock::SystemClock);
            let mut report = Report::local(now, DaemonState::Unreachable { reason: e.message });
            let (keyring, tray) = tokio::join!(keyring(), tray());
            report.keyring = Some(keyring);
            report.tray = tray;
            report
        }
    };
    report.client_version = Some(client_version.to_string());
    report.finish();
    report
}

/// A span of seconds in words: `45s`, `12m`, `3h 5m`, `2d 4h`.
fn span(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

fn when(at: u64, now: u64) -> String {
    if at >= now {
        format!("in {}", span(at - now))
    } else {
        format!("{} ago", span(now - at))
    }
}

/// When something that has happened did: `5m ago`, or `just now` (also for a clock a second
/// ahead of the report's).
fn ago(at: u64, now: u64) -> String {
    if at >= now {
        "just now".to_string()
    } else {
        format!("{} ago", span(now - at))
    }
}

fn yes_no(value: Option<bool>, yes: &str, no: &str) -> String {
    match value {
        Some(true) => yes.to_string(),
        Some(false) => no.to_string(),
        None => "unknown".to_string(),
    }
}

/// The report as plain text: what `pixy doctor` prints and the window copies.
pub fn render(report: &Report) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let now = report.generated_at;
    let line = |out: &mut String, label: &str, value: &str| {
        let _ = match label {
            "" => writeln!(out, "  {value}"),
            _ => writeln!(out, "  {label:<10} {value}"),
        };
    };
    out.push_str("Pixy doctor\n");
    if let Some(v) = &report.client_version {
        line(&mut out, "pixy", v);
    }
    match &report.daemon {
        DaemonState::Running { version, pid, uptime_secs } => {
            line(&mut out, "daemon", &format!("{version}, pid {pid}, up {}", span(*uptime_secs)))
        }
        DaemonState::Unreachable { reason } => line(&mut out, "daemon", &format!("unreachable: {reason}")),
    }
    let s = &report.system;
    line(
        &mut out,
        "os",
        &format!("{}{}", s.os, s.kernel.as_deref().map(|k| format!(", kernel {k}")).unwrap_or_default()),
    );
    line(
        &mut out,
        "desktop",
        &format!(
            "{}, session {}, {}",
            s.desktop.as_deref().unwrap_or("none named"),
            s.session_type.as_deref().unwrap_or("unknown"),
            if s.display { "display set" } else { "no display" }
        ),
    );
    line(&mut out, "config", &report.paths.config);
    line(&mut out, "log", &report.paths.log);
    line(&mut out, "socket", report.paths.socket.as_deref().unwrap_or("(no runtime directory)"));

    out.push_str("\nKeyring\n");
    match &report.keyring {
        Some(k) => {
            line(&mut out, "backend", &k.backend);
            let reach = if k.running {
                "yes (running)"
            } else if k.reachable {
                "yes (started on demand)"
            } else {
                "no"
            };
            line(&mut out, "reachable", reach);
            if k.reachable {
                line(&mut out, "unlocked", &yes_no(k.unlocked, "yes", "no (locked)"));
            }
            if let Some(d) = &k.detail {
                line(&mut out, "detail", d);
            }
        }
        None => line(&mut out, "", "not checked"),
    }

    out.push_str("\nTray\n");
    match &report.tray {
        Some(t) => {
            line(&mut out, "watcher", if t.watcher { "yes" } else { "no" });
            if t.watcher {
                line(&mut out, "host", &yes_no(t.host_registered, "registered", "none registered"));
            }
            if let Some(d) = &t.detail {
                line(&mut out, "detail", d);
            }
        }
        None => line(&mut out, "", "not checked on this platform"),
    }

    out.push_str("\nProviders\n");
    match &report.providers {
        Some(list) if list.is_empty() => line(&mut out, "", "none"),
        Some(list) => {
            let width = list.iter().map(|p| p.id.len()).max().unwrap_or(0);
            for p in list {
                let source = match p.source {
                    ProviderSource::Demo => "demo",
                    ProviderSource::Preset => "preset",
                    ProviderSource::File => "file",
                };
                let used = match p.accounts {
                    0 => String::new(),
                    1 => ", 1 account".into(),
                    n => format!(", {n} accounts"),
                };
                let result = match (p.probe, p.answered) {
                    (ProviderProbe::None, _) => format!("broken: {}", p.error.as_deref().unwrap_or("")),
                    (_, true) => {
                        let status = p.status.map(|s| format!("HTTP {s} ")).unwrap_or_else(|| "connected ".into());
                        format!("answers: {status}in {} ms", p.millis.unwrap_or(0))
                    }
                    (_, false) => format!("does not answer: {}", p.error.as_deref().unwrap_or("no answer")),
                };
                let target = p.target.as_deref().map(|t| format!("  {t}")).unwrap_or_default();
                let _ = writeln!(out, "  {:<width$}  ({source}{used})  {result}{target}", p.id);
            }
        }
        None => line(&mut out, "", "unknown without the daemon"),
    }

    out.push_str("\nAccounts\n");
    match &report.accounts {
        Some(list) if list.is_empty() => line(&mut out, "", "none linked"),
        Some(list) => {
            let width = list.iter().map(|a| a.id.len()).max().unwrap_or(0);
            for a in list {
                let expires = match a.expires_at {
                    Some(at) if at >= now => format!("token expires {}", when(at, now)),
                    Some(at) => format!("token expired {}", when(at, now)),
                    None => "token expiry unknown".into(),
                };
                let refresh = if a.has_refresh_token { "" } else { ", no refresh token" };
                let _ = writeln!(
                    out,
                    "  {:<width$}  {}  {}{}, {expires}, last refreshed {}{refresh}",
                    a.id,
                    a.provider,
                    a.status.words(),
                    detail(&a.reason),
                    ago(a.refreshed_at, now)
                );
            }
        }
        None => line(&mut out, "", "unknown without the daemon"),
    }

    out.push_str("\nPorts (127.0.0.1)\n");
    match &report.ports {
        Some(list) if list.is_empty() => line(&mut out, "", "none"),
        Some(list) => {
            for p in list {
                let provider = p.provider.as_deref().unwrap_or("");
                let what = match p.kind {
                    PortKind::Demo => "the demo provider".to_string(),
                    PortKind::Waiting => format!("a link with {provider} waiting for the browser"),
                    PortKind::Fixed => format!(
                        "{provider}'s fixed redirect port, {}",
                        match p.free {
                            Some(true) => "free",
                            Some(false) => "taken by another program",
                            None => "in use by Pixy",
                        }
                    ),
                };
                line(&mut out, &p.port.to_string(), &what);
            }
        }
        None => line(&mut out, "", "unknown without the daemon"),
    }

    out.push('\n');
    let problems = report.findings.iter().filter(|f| f.severity == Severity::Problem).count();
    if report.findings.is_empty() {
        out.push_str("No problems found.\n");
    } else {
        out.push_str(&match problems {
            0 => "No problems found. Notes:\n".to_string(),
            1 => "1 problem found:\n".to_string(),
            n => format!("{n} problems found:\n"),
        });
        for f in &report.findings {
            let mark = if f.severity == Severity::Problem { "problem" } else { "note" };
            let _ = writeln!(out, "  {mark}: {}\n    hint: {}", f.what, f.hint);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_750_000_000;

    fn healthy() -> Report {
        let mut report = Report {
            generated_at: NOW,
            client_version: Some("0.1.0".into()),
            daemon: DaemonState::Running { version: "0.1.0".into(), pid: 4242, uptime_secs: 3 * 3600 + 120 },
            system: System {
                os: "Debian GNU/Linux 12 (bookworm)".into(),
                kernel: Some("6.1.0-18-amd64".into()),
                desktop: Some("GNOME".into()),
                session_type: Some("wayland".into()),
                display: true,
            },
            paths: Paths {
                config: "/home/a/.config/pixy".into(),
                log: "/home/a/.local/state/pixy/daemon.log".into(),
                socket: Some("/run/user/1000/pixy/daemon.sock".into()),
            },
            keyring: Some(KeyringState {
                backend: "Secret Service over D-Bus".into(),
                running: true,
                reachable: true,
                unlocked: Some(true),
                detail: None,
            }),
            tray: Some(TrayState { watcher: true, host_registered: Some(true), detail: None }),
            providers: Some(vec![ProviderCheck {
                id: "demo".into(),
                source: ProviderSource::Demo,
                accounts: 1,
                probe: ProviderProbe::Metadata,
                target: Some("http://127.0.0.1:41234/.well-known/openid-configuration".into()),
                answered: true,
                status: Some(200),
                millis: Some(3),
                error: None,
            }]),
            accounts: Some(vec![AccountCheck {
                id: "demo-3f9a1c2b".into(),
                provider: "demo".into(),
                status: AccountStatus::Connected,
                reason: None,
                expires_at: Some(NOW + 55 * 60),
                refreshed_at: NOW - 5 * 60,
                has_refresh_token: true,
            }]),
            ports: Some(vec![PortUse { port: 41234, kind: PortKind::Demo, provider: None, free: None }]),
            known_problems: Vec::new(),
            findings: Vec::new(),
        };
        report.finish();
        report
    }

    #[test]
    fn a_healthy_report_says_every_section_and_no_problem() {
        let report = healthy();
        assert!(!report.has_problems(), "nothing is wrong: {:?}", report.findings);
        let text = render(&report);
        for expected in [
            "Pixy doctor\n",
            "  pixy       0.1.0\n",
            "  daemon     0.1.0, pid 4242, up 3h 2m\n",
            "  os         Debian GNU/Linux 12 (bookworm), kernel 6.1.0-18-amd64\n",
            "  desktop    GNOME, session wayland, display set\n",
            "  log        /home/a/.local/state/pixy/daemon.log\n",
            "\nKeyring\n  backend    Secret Service over D-Bus\n  reachable  yes (running)\n  unlocked   yes\n",
            "\nTray\n  watcher    yes\n  host       registered\n",
            "  demo  (demo, 1 account)  answers: HTTP 200 in 3 ms  http://127.0.0.1:41234/.well-known/openid-configuration\n",
            "  demo-3f9a1c2b  demo  Connected, token expires in 55m, last refreshed 5m ago\n",
            "  41234      the demo provider\n",
            "No problems found.\n",
        ] {
            assert!(text.contains(expected), "the report says {expected:?}:\n{text}");
        }
    }

    #[test]
    fn each_problem_is_said_once_with_a_hint_and_counts() {
        let mut report = healthy();
        report.keyring = Some(KeyringState {
            backend: "Secret Service over D-Bus".into(),
            running: false,
            reachable: false,
            unlocked: None,
            detail: Some("no session bus".into()),
        });
        report.tray = Some(TrayState { watcher: false, host_registered: None, detail: None });
        let providers = report.providers.as_mut().unwrap();
        providers.push(ProviderCheck {
            id: "dead".into(),
            source: ProviderSource::File,
            accounts: 0,
            probe: ProviderProbe::Metadata,
            target: Some("http://127.0.0.1:9/.well-known/openid-configuration".into()),
            answered: false,
            status: None,
            millis: Some(1),
            error: Some("cannot connect: Connection refused".into()),
        });
        providers.push(ProviderCheck {
            id: "claude".into(),
            source: ProviderSource::Preset,
            accounts: 0,
            probe: ProviderProbe::Host,
            target: Some("claude.ai:443".into()),
            answered: false,
            status: None,
            millis: None,
            error: Some("no answer within 3 s".into()),
        });
        report.accounts.as_mut().unwrap()[0].status = AccountStatus::NeedsRelink;
        report.accounts.as_mut().unwrap()[0].reason = Some("the provider refused the refresh token".into());
        report.known_problems.push("accounts.json could not be read; kept as accounts.json.corrupt-1".into());
        report.finish();
        let text = render(&report);
        assert!(report.has_problems());
        assert!(text.contains("4 problems found:\n"), "keyring, dead provider, account, index:\n{text}");
        assert!(
            text.contains(
                "  problem: the keyring cannot be reached: no session bus\n    hint: start gnome-keyring or KeePassXC"
            ),
            "{text}"
        );
        assert!(
            text.contains("  problem: provider dead does not answer: cannot connect: Connection refused\n"),
            "{text}"
        );
        assert!(!text.contains("problem: provider claude"), "a preset nobody uses is listed, not a problem:\n{text}");
        assert!(text.contains("claude  (preset)  does not answer: no answer within 3 s  claude.ai:443"), "{text}");
        assert!(text.contains("problem: account demo-3f9a1c2b needs relink: the provider refused the refresh token\n    hint: link it again: `pixy link demo`"), "{text}");
        assert!(text.contains("  note: no tray host on the session bus"), "{text}");
        assert!(text.contains("  reachable  no\n  detail     no session bus\n"), "{text}");
    }

    #[test]
    fn a_locked_keyring_is_a_problem_and_notes_alone_are_not() {
        let mut report = healthy();
        report.keyring.as_mut().unwrap().unlocked = Some(false);
        report.finish();
        assert!(render(&report).contains("  unlocked   no (locked)\n"));
        assert!(report.findings.iter().any(|f| f.what.contains("locked") && f.severity == Severity::Problem));

        let mut report = healthy();
        report.tray = Some(TrayState { watcher: true, host_registered: Some(false), detail: None });
        report.finish();
        assert!(!report.has_problems(), "a tray without host is worth a note, not exit 1");
        assert!(render(&report).contains("No problems found. Notes:\n  note: a StatusNotifier watcher runs"));
    }

    #[test]
    fn without_the_daemon_the_report_says_why_and_what_it_could_not_know() {
        let mut report = Report::local(NOW, DaemonState::Unreachable { reason: "no Pixy daemon answers".into() });
        report.finish();
        let text = render(&report);
        assert!(text.contains("  daemon     unreachable: no Pixy daemon answers\n"), "{text}");
        assert!(text.contains("\nAccounts\n  unknown without the daemon\n"), "{text}");
        assert!(report.has_problems(), "an unreachable daemon is a problem");
        assert!(text.contains(&format!("hint: read its log ({})", report.paths.log)), "{text}");
    }

    #[test]
    fn a_report_goes_through_json_unchanged() {
        let report = healthy();
        let json = serde_json::to_string(&report).unwrap();
        assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), report);
        assert!(json.contains(r#""daemon":{"state":"running","version":"0.1.0","pid":4242"#), "{json}");
    }

    #[test]
    fn os_release_gives_its_pretty_name() {
        let text = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n";
        assert_eq!(pretty_name(text).as_deref(), Some("Debian GNU/Linux 12 (bookworm)"));
        assert_eq!(pretty_name("ID=x\n"), None);
    }

    #[test]
    fn spans_read_like_a_person_says_them() {
        assert_eq!(span(45), "45s");
        assert_eq!(span(12 * 60 + 5), "12m");
        assert_eq!(span(3 * 3600 + 5 * 60), "3h 5m");
        assert_eq!(span(2 * 86_400 + 4 * 3600), "2d 4h");
        assert_eq!(when(NOW + 60, NOW), "in 1m");
        assert_eq!(when(NOW - 60, NOW), "1m ago");
        assert_eq!(ago(NOW - 60, NOW), "1m ago");
        assert_eq!(ago(NOW + 1, NOW), "just now", "a refresh is never in the future");
    }
}
