//! `pixy token`: an account's access token, in the shape its consumer reads.

use std::process::ExitCode;

use clap::Args;
use pixy_core::ipc::{Event, Request};

use crate::{consented, output};

/// Arguments of `pixy token`.
#[derive(Args)]
pub struct TokenArgs {
    /// Account id, or a provider id with exactly one account.
    account: String,
    /// Refresh first if the token would expire within SECONDS (a token that cannot last that
    /// long is not printed).
    #[arg(long, value_name = "SECONDS")]
    min_valid: Option<u64>,
    /// Print `Authorization: Bearer …`, an HTTP header line.
    #[arg(long, group = "shape")]
    header: bool,
    /// Print `{"Authorization":"Bearer …"}`: the shape of Claude Code's `headersHelper` and other
    /// MCP clients' header helpers.
    #[arg(long, group = "shape")]
    headers_json: bool,
    /// Print the daemon's JSON event (with the expiry) instead of the bare token.
    #[arg(long, group = "shape")]
    json: bool,
}

/// Asks the daemon for the token (the person may be asked first) and prints it in the shape
/// asked for.
pub async fn run(args: TokenArgs) -> ExitCode {
    let request =
        Request::Token { account: args.account, min_valid: args.min_valid, can_prompt: consented::can_prompt() };
    let event = match consented::ask(request).await {
        Ok((event, _)) => event,
        Err(e) => Event::Error { kind: e.kind, message: e.message },
    };
    match &event {
        Event::Token { access_token, .. } if args.header => {
            println!("Authorization: Bearer {}", access_token.expose());
        }
        Event::Token { access_token, .. } if args.headers_json => {
            let headers = serde_json::json!({ "Authorization": format!("Bearer {}", access_token.expose()) });
            println!("{headers}");
        }
        _ if args.json => output::json(&event),
        _ => output::human(&event),
    }
    if matches!(event, Event::Error { .. }) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
