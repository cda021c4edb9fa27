//! `pixy daemon`: the one resident owner of accounts, flows and tokens.
//!
//! It takes the single-daemon lock, starts the embedded demo provider, serves the socket, shows
//! the tray when a StatusNotifier host is there, and stops on Quit, `Shutdown`, SIGTERM or
//! Ctrl-C, removing its socket. When a new version is installed over its executable it stops the
//! same way once idle and re-executes it in place (see `pixy_core::daemon::upgrade`). A daemon
//! that finds another holding the lock leaves quietly: two can start at once when a client finds
//! no daemon while one replaces itself, and the clients reach whichever won.
//!
//! It writes its own log ([`pixy_core::log_file`], in [`paths::log_dir`]; also on stderr when
//! that is a terminal), and a panic goes there too. Until it serves, its stderr is where the
//! client that started it hears why it could not ([`pixy_core::ipc::client`]); once it serves,
//! stderr is let go, so nothing waits on a client that has moved on.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use pixy_core::daemon::socket::{self, LockAttempt, Stopped};
use pixy_core::daemon::upgrade::{Executable, UPGRADED_FROM};
use pixy_core::daemon::{Daemon, DaemonConfig};
use pixy_core::ipc::{client, paths, Request};
use pixy_core::store::keyring::KeyringStore;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::Notify;
use tracing_subscriber::filter::{LevelFilter, Targets};

use crate::tray;

/// Arguments of `pixy daemon`.
#[derive(Args)]
pub struct DaemonArgs {
    /// Do not show a tray icon.
    #[arg(long)]
    no_tray: bool,
    /// Do not run the embedded demo provider.
    #[arg(long)]
    no_demo: bool,
    /// Say whether a daemon is running (its version and pid) instead of running one.
    #[arg(long, conflicts_with_all = ["stop", "no_tray", "no_demo"])]
    ping: bool,
    /// Stop the running daemon instead of running one.
    #[arg(long, conflicts_with_all = ["no_tray", "no_demo"])]
    stop: bool,
    /// The version this daemon replaced in place, when it was re-executed after an upgrade.
    #[arg(skip)]
    upgraded_from: Option<String>,
}

impl DaemonArgs {
    /// Takes the note a replaced daemon leaves for its successor out of the environment, before
    /// any thread starts (so nothing reads the environment meanwhile) and before any child
    /// could inherit it.
    pub fn take_upgrade_note(&mut self) {
        self.upgraded_from = std::env::var(UPGRADED_FROM).ok();
        std::env::remove_var(UPGRADED_FROM);
    }
}

/// `pixy daemon --ping` or `--stop`: asks a running daemon, never starts one.
async fn control(args: &DaemonArgs) -> Option<ExitCode> {
    let request = match (args.ping, args.stop) {
        (true, _) => Request::Ping,
        (_, true) => Request::Shutdown,
        _ => return None,
    };
    let event = match client::request_running(&request).await {
        Ok(answer) => answer.terminal().await,
        Err(e) => Err(e),
    };
    Some(match event {
        Ok(event) => {
            crate::output::human(&event);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}", e.message);
            ExitCode::from(1)
        }
    })
}

/// What is logged: `PIXY_LOG`, else info. A level alone (`debug`) applies to Pixy's own code,
/// which logs booleans and redacted URLs only; other crates (the HTTP stack, D-Bus, TLS) stay at
/// warn, since their debug and trace output is not held to that rule. Directives that name their
/// targets (`warn,pixy_core=debug,hyper=trace`) are taken as written. `Targets` reads the same
/// directives as tracing's `EnvFilter` but for its regular expressions, whose engine would be an
/// eighth of the binary.
fn log_filter() -> Targets {
    let own_code = |level: LevelFilter| {
        ["pixy", "pixy_core", "pixy_demo"]
            .into_iter()
            .fold(Targets::new().with_default(LevelFilter::WARN.min(level)), |t, crate_name| {
                t.with_target(crate_name, level)
            })
    };
    match std::env::var("PIXY_LOG") {
        Ok(directives) if directives.contains('=') => {
            directives.parse().unwrap_or_else(|_| own_code(LevelFilter::INFO))
        }
        Ok(level) => own_code(level.trim().parse().unwrap_or(LevelFilter::INFO)),
        Err(_) => own_code(LevelFilter::INFO),
    }
}

fn stderr_is_terminal() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stderr())
}

/// The daemon's log: its file, and stderr when a person watches it there (or when there is no
/// file). A panic is logged before the default hook prints it, so it lands in the file.
fn init_daemon_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let file = paths::log_dir_private().map_err(|e| e.message).and_then(|dir| {
        pixy_core::log_file::RotatingLog::open(&dir, paths::LOG_NAME)
            .map_err(|e| format!("cannot open {}: {e}", dir.join(paths::LOG_NAME).display()))
    });
    let no_file = file.as_ref().err().cloned();
    let to_file =
        file.ok().map(|log| tracing_subscriber::fmt::layer().with_ansi(false).with_writer(std::sync::Mutex::new(log)));
    let to_stderr = (stderr_is_terminal() || to_file.is_none())
        .then(|| tracing_subscriber::fmt::layer().with_ansi(stderr_is_terminal()).with_writer(std::io::stderr).boxed());
    let _ = tracing_subscriber::registry().with(log_filter()).with(to_file).with(to_stderr).try_init();
    if let Some(why) = no_file {
        tracing::warn!("no log file ({why}): logging to stderr only");
    }
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        tracing::error!("the daemon {info}");
        default_hook(info);
    }));
}

/// Logs why the daemon cannot start, and says it on stderr for the client that started it (when
/// stderr is not already a terminal the log goes to).
fn fail_at_start(why: impl std::fmt::Display) -> ExitCode {
    tracing::error!("cannot start: {why}");
    if !stderr_is_terminal() {
        use std::io::Write;
        // The client may have given up waiting: a closed pipe is no reason to panic.
        let _ = writeln!(std::io::stderr(), "pixy daemon: {why}");
    }
    ExitCode::from(1)
}

/// Lets go of the stderr the client gave at start (a pipe it stops reading): from here on the
/// log file is where the daemon speaks. A terminal is kept.
fn let_go_of_stderr() {
    use std::os::fd::AsRawFd;
    if stderr_is_terminal() {
        return;
    }
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        // SAFETY: dup2 onto the process's own stderr descriptor, from one this function holds.
        unsafe { libc::dup2(null.as_raw_fd(), libc::STDERR_FILENO) };
    }
}

/// A foreground tool's log: stderr only.
fn init_stderr_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let to_stderr = tracing_subscriber::fmt::layer().with_ansi(stderr_is_terminal()).with_writer(std::io::stderr);
    let _ = tracing_subscriber::registry().with(log_filter()).with(to_stderr).try_init();
}

/// Runs the daemon until asked to stop.
pub async fn run(args: DaemonArgs) -> ExitCode {
    if let Some(code) = control(&args).await {
        return code;
    }
    init_daemon_logging();
    // Read before anything can replace it: the file this daemon runs, to notice a new version.
    let executable = Executable::current();
    // Whoever started it, the daemon keeps no directory of theirs busy.
    let _ = std::env::set_current_dir("/");
    socket::raise_open_file_limit();
    let lock = match socket::acquire_lock() {
        Ok(LockAttempt::Taken(lock)) => lock,
        Ok(LockAttempt::HeldBy(pid)) => {
            tracing::info!("another Pixy daemon is already running (pid {pid}); this one leaves it be");
            return ExitCode::SUCCESS;
        }
        Err(e) => return fail_at_start(e),
    };
    if let Some(from) = &args.upgraded_from {
        tracing::info!(from = %from, to = %pixy_core::VERSION, "replaced by a new version on disk");
    }
    let demo = if args.no_demo {
        None
    } else {
        let port = std::env::var("PIXY_DEMO_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(0);
        match pixy_demo::DemoServer::start(port).await {
            Ok(demo) => Some(demo),
            Err(e) => {
                tracing::warn!(error = %e, "the demo provider could not start; running without it");
                None
            }
        }
    };
    // The audit log lives in the private state directory; without one, handouts go unrecorded
    // and the daemon says so rather than refusing to run.
    let audit_path = match paths::state_dir_private() {
        Ok(dir) => Some(dir.join("audit.log")),
        Err(e) => {
            tracing::warn!(error = %e, "no state directory: token handouts are not recorded");
            None
        }
    };
    let quit = Arc::new(Notify::new());
    let desktop = has_display();
    let config = DaemonConfig {
        index_path: paths::config_dir().join("accounts.json"),
        providers_path: paths::config_dir().join("providers.toml"),
        demo_issuer: demo.as_ref().map(|d| d.issuer().to_string()),
        demo_client_id: pixy_demo::DEMO_CLIENT_ID.to_string(),
        http_timeout: std::time::Duration::from_secs(30),
        clock: Arc::new(pixy_core::clock::SystemClock),
        audit_path,
        consent_timeout: consent_timeout(),
        desktop,
    };
    let daemon = Arc::new(Daemon::new(config, Arc::new(KeyringStore::new()), quit.clone()));
    let listener = match socket::bind(&lock) {
        Ok(listener) => listener,
        Err(e) => return fail_at_start(e),
    };
    tokio::spawn({
        let daemon = daemon.clone();
        async move { daemon.reconcile().await }
    });
    tokio::spawn(daemon.clone().keep_fresh());
    if !args.no_tray {
        tray::spawn(daemon.summaries(), quit.clone());
    }
    if desktop {
        // Without a display, questions go to the requesting terminal and notices to the status.
        crate::notify::spawn(daemon.clone());
    }
    tracing::info!(pid = std::process::id(), version = %pixy_core::VERSION, demo = demo.is_some(), "pixy daemon ready");
    let_go_of_stderr();
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let stopped = tokio::select! {
        stopped = socket::serve(listener, daemon.clone(), quit.clone(), executable) => stopped,
        _ = term.recv() => {
            tracing::info!("SIGTERM; stopping");
            Stopped::Asked
        }
        _ = tokio::signal::ctrl_c() => {
            tracing::info!("interrupted; stopping");
            Stopped::Asked
        }
    };
    if let Ok(path) = paths::socket_path() {
        let _ = std::fs::remove_file(path);
    }
    drop(lock);
    let Stopped::Replaced(replaced) = stopped else { return ExitCode::SUCCESS };
    let (executable, _quiet) = *replaced;
    tracing::info!(
        version = %pixy_core::VERSION,
        path = %executable.path().display(),
        "replaced by a new version on disk; starting it in place"
    );
    // Returns only when the new version cannot be started: this daemon has stopped serving, so
    // it leaves, and the next client starts a daemon.
    let error = executable.exec();
    tracing::error!(error = %error, "the new version could not be started; exiting");
    ExitCode::from(1)
}

/// How long a consent question waits for the person: `PIXY_CONSENT_TIMEOUT` seconds, else a
/// minute.
fn consent_timeout() -> std::time::Duration {
    let seconds = std::env::var("PIXY_CONSENT_TIMEOUT").ok().and_then(|s| s.parse().ok()).filter(|s| *s > 0);
    std::time::Duration::from_secs(seconds.unwrap_or(60))
}

/// Whether the daemon's session has a display to ask the person on.
fn has_display() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"].iter().any(|v| std::env::var_os(v).is_some_and(|d| !d.is_empty()))
}

/// Runs the demo provider alone until interrupted.
pub async fn demo_server(port: u16) -> ExitCode {
    init_stderr_logging();
    match pixy_demo::DemoServer::start(port).await {
        Ok(demo) => {
            println!("Pixy demo provider (a test fixture, not a real account) at {}", demo.issuer());
            let _ = tokio::signal::ctrl_c().await;
            demo.shutdown();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pixy demo-server: cannot listen on 127.0.0.1:{port}: {e}");
            ExitCode::from(1)
        }
    }
}
