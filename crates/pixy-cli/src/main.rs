//! `pixy`: link accounts, hand fresh tokens to scripts, and run the daemon that owns them.
//!
//! Every subcommand but `daemon` and `demo-server` is a thin client of the daemon, started on
//! demand. Exit codes: 0 done, 1 failed, 2 usage.

mod add_provider;
mod audit;
mod consented;
mod daemon;
mod exec;
mod git_credential;
mod grants;
mod link;
mod notify;
mod output;
mod reset;
mod token;
mod tray;
mod window;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pixy_core::ipc::{client, Event, Request};

#[derive(Parser)]
#[command(
    name = "pixy",
    version,
    about = "Link your accounts on OAuth 2.0 / OpenID Connect providers and keep them linked"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

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
    /// Run the daemon in the foreground (for service managers and tests).
    Daemon(daemon::DaemonArgs),
    /// Run the embedded demo authorization server (a test fixture, not a real account).
    DemoServer {
        /// Port on 127.0.0.1 (0 = any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    if let Command::Daemon(args) = &mut cli.command {
        args.take_upgrade_note();
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
            Command::Daemon(args) => daemon::run(args).await,
            Command::DemoServer { port } => daemon::demo_server(port).await,
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
