//! `pixy audit`: the record of the tokens handed out and refused, read from the state directory.

use std::process::ExitCode;

use clap::Args;
use pixy_core::audit::{utc, AuditLog, Entry, Filter, Outcome};
use pixy_core::ipc::paths;

/// Arguments of `pixy audit`.
#[derive(Args)]
pub struct AuditArgs {
    /// Only this account's handouts.
    #[arg(long)]
    account: Option<String>,
    /// Only those of the last DURATION (`90s`, `15m`, `2h`, `7d`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    since: Option<u64>,
    /// One JSON object per line, as the log keeps them.
    #[arg(long)]
    json: bool,
}

fn parse_duration(text: &str) -> Result<u64, String> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration such as 90s, 15m, 2h or 7d"))?;
    let scale = match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?} is not a duration such as 90s, 15m, 2h or 7d")),
    };
    Ok(n.saturating_mul(scale))
}

/// Prints the log's lines that the arguments keep.
pub fn run(args: AuditArgs) -> ExitCode {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let filter = Filter { account: args.account, since: args.since.map(|ago| now.saturating_sub(ago)) };
    let log = AuditLog::new(paths::state_dir().join("audit.log"));
    let (entries, unreadable) = match log.read(&filter) {
        Ok(read) => read,
        Err(e) => {
            eprintln!("error: {}", e.message);
            return ExitCode::from(1);
        }
    };
    for entry in &entries {
        if args.json {
            println!("{}", serde_json::to_string(entry).expect("entries serialize"));
        } else {
            println!("{}", line(entry));
        }
    }
    if entries.is_empty() && !args.json {
        eprintln!(
            "No token was handed out{}.",
            if filter.account.is_some() || filter.since.is_some() { " that matches" } else { " yet" }
        );
    }
    if unreadable > 0 {
        eprintln!("warning: {unreadable} line(s) of {} could not be read", log.path().display());
    }
    ExitCode::SUCCESS
}

pub(crate) fn line(entry: &Entry) -> String {
    let what = match (entry.outcome, entry.reason) {
        (Outcome::HandedOut, _) => "handed out".to_string(),
        (Outcome::Refused, Some(kind)) => {
            format!("refused ({})", serde_json::to_value(kind).expect("kinds serialize").as_str().unwrap_or("error"))
        }
        (Outcome::Refused, None) => "refused".to_string(),
    };
    let program = entry.program.as_deref().unwrap_or("an unknown program");
    let pid = entry.pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
    format!("{}  {:<21}  {}  to {program}{pid}  [grant: {}]", utc(entry.time), what, entry.account, entry.grant)
}
