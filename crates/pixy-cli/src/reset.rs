//! `pixy reset`: forgets every account, secret, registration, grant and the audit log, revoking
//! each account at its provider first (the daemon does it, saying each item as it goes).
//!
//! It asks first on a terminal, listing what goes and what stays, with No the default; `--yes`
//! skips the question for scripts; with neither a terminal nor `--yes` it refuses and changes
//! nothing, since a reset cannot be undone.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use clap::Args;
use pixy_core::ipc::{client, Event, Request};

use crate::output;

/// Arguments of `pixy reset`.
#[derive(Args)]
pub struct ResetArgs {
    /// Reset without asking (for scripts).
    #[arg(long)]
    yes: bool,
    /// One JSON event per line.
    #[arg(long)]
    json: bool,
}

/// Asks (unless `--yes`), then has the daemon reset and prints each item as it is done.
pub async fn run(args: ResetArgs) -> ExitCode {
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            eprintln!(
                "error: pixy reset deletes every linked account and its secrets, and asks before it does; with no \
                 terminal to ask on, pass --yes to reset. Nothing was changed."
            );
            return ExitCode::from(2);
        }
        match confirmed().await {
            Ok(true) => {}
            Ok(false) => {
                eprintln!("Nothing was changed.");
                return ExitCode::from(1);
            }
            Err(e) => {
                eprintln!("error: {}", e.message);
                return ExitCode::from(1);
            }
        }
    }
    let mut answer = match client::request(&Request::Reset { dry_run: false }).await {
        Ok(answer) => answer,
        Err(e) => return fail(&Event::Error { kind: e.kind, message: e.message }, args.json),
    };
    loop {
        let event = match answer.next().await {
            Ok(Some(event)) => event,
            Ok(None) => return ExitCode::SUCCESS,
            Err(e) => return fail(&Event::Error { kind: e.kind, message: e.message }, args.json),
        };
        output::event(&event, args.json);
        match &event {
            Event::Reset { steps, .. } if steps.iter().all(|s| s.ok) => return ExitCode::SUCCESS,
            event if event.is_terminal() => return ExitCode::from(1),
            _ => {}
        }
    }
}

fn fail(event: &Event, json: bool) -> ExitCode {
    output::event(event, json);
    ExitCode::from(1)
}

/// Says what a reset deletes and keeps, then asks; only `y` or `yes` is a yes.
async fn confirmed() -> pixy_core::Result<bool> {
    let (delete, keep) = match client::ask(Request::Reset { dry_run: true }).await? {
        Event::ResetPlan { delete, keep } => (delete, keep),
        other => return Err(client::unexpected(&other)),
    };
    eprintln!("pixy reset deletes:");
    for item in &delete {
        eprintln!("  - {item}");
    }
    eprintln!("and keeps:");
    for item in &keep {
        eprintln!("  - {item}");
    }
    eprint!("Reset Pixy? This cannot be undone. [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| {
        pixy_core::Error::new(pixy_core::ErrorKind::InvalidRequest, format!("cannot read the answer: {e}"))
    })?;
    Ok(matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}
