//! `pixy exec`: runs a command with fresh access tokens in the environment variables it names.
//!
//! The tokens are asked for before the command starts, with the person's consent for the program
//! that runs `pixy exec`. While the command runs, `pixy exec` holds the run's connection to the
//! daemon, and that is the run's grant: a command that runs past a token's expiry asks
//! `pixy token ACCOUNT` again from inside and gets a fresh one without the person being asked.
//! The grant ends when the command exits. The command inherits the terminal, and its exit status
//! is `pixy exec`'s.

use std::process::ExitCode;

use clap::Args;
use pixy_core::ipc::{client, Event, Request};

use crate::consented;

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

/// Gets every token (the person may be asked first), then runs the command with them, holding
/// the run's connection open so that programs inside the run get fresh tokens without being
/// asked again; its exit status is ours.
pub async fn run(args: ExecArgs) -> ExitCode {
    let accounts = args.env.iter().map(|(_, account)| account.clone()).collect();
    let request = Request::Run { accounts, can_prompt: consented::can_prompt() };
    let (tokens, run) = match consented::ask(request).await {
        Ok((Event::Run { tokens }, run)) => (tokens, run),
        Ok((other, _)) => {
            eprintln!("error: {}; the command was not run", client::unexpected(&other).message);
            return ExitCode::from(1);
        }
        Err(e) => {
            // The daemon names the account that failed first: say it as the variable it was for.
            let message = args
                .env
                .iter()
                .find_map(|(var, account)| {
                    e.message.strip_prefix(&format!("{account}: ")).map(|m| format!("{var}: {m}"))
                })
                .unwrap_or(e.message);
            eprintln!("error: {message}; the command was not run");
            return ExitCode::from(1);
        }
    };
    let mut command = std::process::Command::new(&args.command[0]);
    command.args(&args.command[1..]);
    for ((var, _), token) in args.env.iter().zip(&tokens) {
        command.env(var, token.access_token.expose());
    }
    drop(tokens);
    let status = match tokio::task::spawn_blocking(move || command.status()).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => {
            eprintln!("error: cannot run {}: {e}", args.command[0]);
            return ExitCode::from(127);
        }
        Err(_) => return ExitCode::from(1),
    };
    // The run's grant ends with the command.
    drop(run);
    match status.code() {
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => {
            // Killed by a signal: the shell's convention, 128 + its number.
            let signal = std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0);
            ExitCode::from(u8::try_from(128 + signal).unwrap_or(255))
        }
    }
}
