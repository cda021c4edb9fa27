//! `pixy`: link accounts, hand fresh tokens to scripts, and run the daemon that owns them.
//!
//! Every subcommand but `daemon` and `demo-server` is a thin client of the daemon, started on
//! demand. Exit codes: 0 done, 1 failed, 2 usage.

mod add_provider;
mod audit;
mod completions;
mod consented;
mod daemon;
mod doctor;
mod exec;
mod git_credential;
mod grants;
mod link;
mod man_pages;
mod notify;
mod output;
mod reset;
mod token;
mod tray;
mod window;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use pixy_core::ipc::{client, Event, Request};

#[derive(Parser)]
#[command(
    name = "pixy",
    version,
    about = "Link your accounts on OAuth 2.0 / OpenID Connect providers and keep them linked",
    long_about = LONG_ABOUT,
    after_long_help = AFTER_LONG_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What `pixy --help` and the man page say before the subcommands.
const LONG_ABOUT: &str = "Link your accounts on OAuth 2.0 / OpenID Connect providers and keep them linked.

Sign-in happens in your own browser (or with a pasted code, or a device code); the tokens stay in \
your system keyring, and one small daemon per user keeps them fresh and hands them to the programs \
you allow. Every subcommand but daemon and demo-server asks that daemon, starting it when it is \
not running. Secrets live only in the keyring: no file Pixy writes holds one.";

/// What `pixy --help` and the man page say after the options: files, environment, exit codes.
const AFTER_LONG_HELP: &str = "Files:
  $XDG_CONFIG_HOME/pixy/providers.toml   your providers (pixy add-provider writes here too)
  $XDG_CONFIG_HOME/pixy/accounts.json    the linked accounts, without secrets
  $XDG_STATE_HOME/pixy/                  the daemon's log and the record of handed-out tokens
  the system keyring                     the tokens (service dev.pixy.Pixy)

Environment:
  BROWSER                the browser to open for sign-in (else the desktop's default)
  PIXY_LOG               the daemon's log level for Pixy's own code (error, warn, info, debug; default info)
  PIXY_CONSENT_TIMEOUT   seconds a consent question waits for you (default 60)

Exit status: 0 done, 1 failed, 2 usage error.";

#[derive(Subcommand)]
enum Command {
    /// Link an account: opens your browser at the provider's sign-in page.
    Link(Box<link::LinkArgs>),
    /// Show linked accounts and their status.
    Status {
        /// One JSON event per line.
        #[arg(long)]
        json: bool,
    },
    /// Print a valid access token for an account, refreshing it first if it has expired.
    Token(token::TokenArgs),
    /// Run a command with fresh access tokens in environment variables (--env VAR=ACCOUNT).
    Exec(exec::ExecArgs),
    /// git's credential helper: an account's fresh token as the password for HTTPS git.
    GitCredential(git_credential::GitCredentialArgs),
    /// The record of every token handed out and refused: when, which account, which program.
    Audit(audit::AuditArgs),
    /// Which programs may have which account's tokens without asking; allow or revoke one.
    Grants(grants::GrantsArgs),
    /// Refresh an account's tokens now, due or not (the token itself stays with the daemon).
    Refresh {
        /// Account id, or a provider id with exactly one account.
        account: String,
        /// One JSON event per line.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an account's tokens at the provider and forget them.
    Unlink {
        /// Account id, or a provider id with exactly one account.
        account: String,
        /// One JSON event per line.
        #[arg(long)]
        json: bool,
    },
    /// Forget every account (revoked first), secret, registration, grant and the audit log;
    /// keeps providers.toml and the daemon's log. Asks first (--yes for scripts).
    Reset(reset::ResetArgs),
    /// List the providers you can link with.
    Providers {
        /// One JSON event per line.
        #[arg(long)]
        json: bool,
    },
    /// Add a provider to providers.toml from its issuer, as the window's Add provider does.
    AddProvider(add_provider::AddProviderArgs),
    /// Check what Pixy depends on (daemon, keyring, tray, providers, accounts, ports) for a bug
    /// report: no secret is printed. Exits 0 when nothing is wrong, 1 when a problem is found.
    Doctor(doctor::DoctorArgs),
    /// Run the daemon in the foreground (for service managers and tests).
    Daemon(daemon::DaemonArgs),
    /// Run the embedded demo authorization server (a test fixture, not a real account).
    DemoServer {
        /// Port on 127.0.0.1 (0 = any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
    /// Print the shell completion script for bash, zsh or fish.
    Completions(completions::CompletionsArgs),
    /// Write the manual pages into a directory (for packaging).
    #[command(hide = true)]
    ManPages(man_pages::ManPagesArgs),
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    match cli.command {
        // Generated from the definitions above; neither needs the runtime or the daemon.
        Command::Completions(args) => return completions::run(args, Cli::command()),
        Command::ManPages(args) => return man_pages::run(args, Cli::command()),
        Command::Daemon(ref mut args) => args.take_upgrade_note(),
        _ => {}
    }
    // A client makes one request at a time: one thread starts faster, which a script calling
    // `pixy token` on every command feels. The daemon and the demo server serve many at once.
    let runtime = match cli.command {
        Command::Daemon(_) | Command::DemoServer { .. } => {
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()
        }
        _ => tokio::runtime::Builder::new_current_thread().enable_all().build(),
    }
    .expect("the async runtime starts");
    let code = runtime.block_on(async {
        match cli.command {
            Command::Link(args) => link::run(*args).await,
            Command::Status { json } => simple(Request::Status, json).await,
            Command::Token(args) => token::run(args).await,
            Command::Audit(args) => audit::run(args),
            Command::Grants(args) => grants::run(args).await,
            Command::Exec(args) => exec::run(args).await,
            Command::GitCredential(args) => git_credential::run(args).await,
            Command::Refresh { account, json } => simple(Request::Refresh { account }, json).await,
            Command::Unlink { account, json } => simple(Request::Unlink { account }, json).await,
            Command::Providers { json } => simple(Request::Providers, json).await,
            Command::Reset(args) => reset::run(args).await,
            Command::AddProvider(args) => add_provider::run(args).await,
            Command::Doctor(args) => doctor::run(args).await,
            Command::Daemon(args) => daemon::run(args).await,
            Command::DemoServer { port } => daemon::demo_server(port).await,
            Command::Completions(_) | Command::ManPages(_) => unreachable!("handled before the runtime starts"),
        }
    });
    // A keyring call stuck on an unlock prompt nobody answers must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    code
}

/// A request with one answer, printed for a person or as JSON.
pub(crate) async fn simple(request: Request, json: bool) -> ExitCode {
    let event = client::ask(request).await.unwrap_or_else(|e| Event::Error { kind: e.kind, message: e.message });
    output::event(&event, json);
    if matches!(event, Event::Error { .. }) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
