//! `pixy grants`: which programs may have which account's tokens without asking, and changing
//! that: `allow` sets a grant ahead of time (for machines nobody watches; `--program any` lets
//! every program of this user have the account), `revoke` ends one.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use pixy_core::consent::ANY_PROGRAM;
use pixy_core::ipc::Request;

/// Arguments of `pixy grants`.
#[derive(Args)]
pub struct GrantsArgs {
    #[command(subcommand)]
    action: Option<GrantAction>,
    /// One JSON event per line.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum GrantAction {
    /// List the grants (the default).
    List,
    /// Let a program have an account's tokens from now on, without asking.
    Allow {
        /// The program: its executable's path (or its name on PATH), a script's path, or `any`
        /// for every program of this user.
        #[arg(long)]
        program: String,
        /// Account id, or a provider id with exactly one account.
        #[arg(long)]
        account: String,
    },
    /// End a grant: the program is asked again next time.
    Revoke {
        /// The program, as `pixy grants` lists it.
        #[arg(long)]
        program: String,
        /// Account id, or a provider id with exactly one account.
        #[arg(long)]
        account: String,
    },
}

/// Runs `pixy grants`.
pub async fn run(args: GrantsArgs) -> ExitCode {
    let request = match args.action.unwrap_or(GrantAction::List) {
        GrantAction::List => Request::Grants,
        GrantAction::Allow { program, account } => match program_path(&program) {
            Ok(program) => Request::Allow { program, account },
            Err(message) => {
                eprintln!("error: {message}");
                return ExitCode::from(2);
            }
        },
        GrantAction::Revoke { program, account } => Request::RevokeGrant { program, account },
    };
    crate::simple(request, args.json).await
}

/// The program as the daemon will see it: `any`, or a path resolved the way the kernel names an
/// executable (symlinks followed: `/usr/bin/python3` runs as `/usr/bin/python3.11`). A bare name
/// is looked up on PATH.
fn program_path(program: &str) -> Result<String, String> {
    if program == ANY_PROGRAM {
        return Ok(program.to_string());
    }
    let path = if program.contains('/') {
        PathBuf::from(program)
    } else {
        pixy_core::peer::on_path(Path::new(program))
            .ok_or_else(|| format!("{program:?} is not on PATH; give the program's full path"))?
    };
    let resolved = std::fs::canonicalize(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !resolved.is_file() {
        return Err(format!("{} is not a file", resolved.display()));
    }
    Ok(resolved.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_is_any_or_a_resolved_path_and_a_bare_name_comes_from_path() {
        assert_eq!(program_path("any").unwrap(), "any");
        let sh = program_path("sh").expect("sh is on PATH");
        assert!(sh.starts_with('/') && Path::new(&sh).is_file(), "{sh}");
        assert_eq!(program_path(&sh).unwrap(), sh, "a resolved path stays as it is");
        assert!(program_path("/no/such/program").unwrap_err().contains("/no/such/program"));
        assert!(program_path("no-such-program-anywhere").unwrap_err().contains("not on PATH"));
    }
}
