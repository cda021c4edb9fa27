//! `pixy doctor`: what a bug report needs, with no secret in it (see [`pixy_core::doctor`]).

use std::process::ExitCode;

use clap::Args;

/// Arguments of `pixy doctor`.
#[derive(Args)]
pub struct DoctorArgs {
    /// The report as one JSON object.
    #[arg(long)]
    json: bool,
}

/// Prints the report; exits 1 when it found a problem.
pub async fn run(args: DoctorArgs) -> ExitCode {
    let report = pixy_core::doctor::collect(env!("CARGO_PKG_VERSION")).await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).expect("a report serializes"));
    } else {
        print!("{}", pixy_core::doctor::render(&report));
    }
    if report.has_problems() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
