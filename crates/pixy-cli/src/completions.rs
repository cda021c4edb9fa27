//! `pixy completions SHELL`: the shell completion script for bash, zsh or fish, generated from
//! the same clap definitions that parse the command line, so it cannot drift from them. The
//! packages install the output where each shell looks for vendor completions.

use std::process::ExitCode;

use clap::{Args, ValueEnum};
use clap_complete::Shell as Generator;

/// Arguments of `pixy completions`.
#[derive(Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    shell: Shell,
}

/// The shells Pixy ships completions for.
#[derive(Clone, Copy, ValueEnum)]
enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// Prints the completion script for `args.shell` on stdout.
pub fn run(args: CompletionsArgs, mut command: clap::Command) -> ExitCode {
    let generator = match args.shell {
        Shell::Bash => Generator::Bash,
        Shell::Zsh => Generator::Zsh,
        Shell::Fish => Generator::Fish,
    };
    clap_complete::generate(generator, &mut command, "pixy", &mut std::io::stdout());
    ExitCode::SUCCESS
}
