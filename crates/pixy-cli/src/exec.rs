//! `pixy exec`: runs a command with fresh access tokens in the environment variables it names.
//!
//! The tokens are asked for before the command starts; a command that runs past a token's
//! expiry asks `pixy token ACCOUNT` again from inside, and the daemon refreshes as needed. The
//! command inherits the terminal, and its exit status is `pixy exec`'s.

use std::process::ExitCode;

use clap::Args;
use pixy_core::ipc::{client, Event, Request};

/// Arguments of `pixy exec`.
#[derive(Args)]
pub struct ExecArgs {
    /// VAR=ACCOUNT: put ACCOUNT's access token in the variable VAR (repeatable).
    #[arg(long = "env", value_name = "VAR=ACCOUNT", value_parser = parse_env, required = true)]
    env: Vec<(String, String)>,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((var, account))
            if !var.is_empty()
                && !account.is_empty()
                && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !var.starts_with(|c: char| c.is_ascii_digit()) =>
        {
            Ok((var.to_string(), account.to_string()))
        }
        _ => Err(format!("{text:?} is not VAR=ACCOUNT (a variable name, =, an account)")),
    }
}

/// Gets every token, then runs the command with them; its exit status is ours.
pub async fn run(args: ExecArgs) -> ExitCode {
    let mut command = std::process::Command::new(&args.command[0]);
    command.args(&args.command[1..]);
    for (var, account) in &args.env {
        match client::ask(Request::Token { account: account.clone(), min_valid: None }).await {
            Ok(Event::Token { access_token, .. }) => {
                command.env(var, access_token.expose());
            }
            Ok(Event::Error { message, .. }) | Err(pixy_core::Error { message, .. }) => {
                eprintln!("error: {var}: {message}; the command was not run");
                return ExitCode::from(1);
            }
            Ok(other) => {
                eprintln!("error: {var}: {}; the command was not run", client::unexpected(&other).message);
                return ExitCode::from(1);
            }
        }
    }
    let status = match tokio::task::spawn_blocking(move || command.status()).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => {
            eprintln!("error: cannot run {}: {e}", args.command[0]);
            return ExitCode::from(127);
        }
        Err(_) => return ExitCode::from(1),
    };
    match status.code() {
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => {
            // Killed by a signal: the shell's convention, 128 + its number.
            let signal = std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0);
            ExitCode::from(u8::try_from(128 + signal).unwrap_or(255))
        }
    }
}
