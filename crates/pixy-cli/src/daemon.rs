//! `pixy daemon`: the one resident owner of accounts, flows and tokens.
//!
//! It takes the single-daemon lock, starts the embedded demo provider, serves the socket, shows
//! the tray when a StatusNotifier host is there, and stops on Quit, `Shutdown`, SIGTERM or
//! Ctrl-C, removing its socket. When a new version is installed over its executable it stops the
//! same way once idle and re-executes it in place (see `pixy_core::daemon::upgrade`). A daemon
//! that finds another holding the lock leaves quietly: two can start at once when a client finds
//! no daemon while one replaces itself, and the clients reach whichever won.

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

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PIXY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Runs the daemon until asked to stop.
pub async fn run(args: DaemonArgs) -> ExitCode {
    if let Some(code) = control(&args).await {
        return code;
    }
    init_logging();
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
        Err(e) => {
            eprintln!("pixy daemon: {e}");
            return ExitCode::from(1);
        }
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
        Err(e) => {
            eprintln!("pixy daemon: {e}");
            return ExitCode::from(1);
        }
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
    init_logging();
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
