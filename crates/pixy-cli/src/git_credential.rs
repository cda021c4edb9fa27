//! `pixy git-credential`: git's credential-helper protocol (get, store, erase) over an account's
//! access token, fresh from the daemon, so git over HTTPS never fails on an expired token.
//!
//! Set up for one host with `git config --global credential.https://HOST.helper
//! '!pixy git-credential --account ACCOUNT'`. `get` answers https requests only, with the token as
//! the password and its expiry (`password_expiry_utc`, so git keeps no stale copy); `store` has
//! nothing to keep (Pixy owns the token); `erase`, which git sends when the server refused the
//! password, refreshes the token so the next `get` has a new one.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use pixy_core::ipc::{Event, Request};

use crate::consented;

/// Arguments of `pixy git-credential`.
#[derive(Args)]
pub struct GitCredentialArgs {
    /// The account whose token is the password.
    #[arg(long)]
    account: String,
    /// The user name to give with it (GitHub takes `x-access-token`, GitLab `oauth2`).
    #[arg(long, default_value = "x-access-token")]
    username: String,
    /// What git asks (git passes it).
    #[arg(value_enum)]
    operation: Operation,
}

/// The operations of git's credential-helper protocol.
#[derive(Clone, Copy, ValueEnum)]
enum Operation {
    Get,
    Store,
    Erase,
}

/// Asks for a refresh whatever the token's expiry: git's server refused the one it had.
const REFRESH_NOW: u64 = u64::MAX;

/// Reads git's request from stdin and answers it on stdout.
pub async fn run(args: GitCredentialArgs) -> ExitCode {
    let request = read_request(std::io::stdin().lock());
    match args.operation {
        // Pixy keeps the token; git's copy is not needed.
        Operation::Store => ExitCode::SUCCESS,
        Operation::Erase => {
            let request = Request::Token {
                account: args.account,
                min_valid: Some(REFRESH_NOW),
                can_prompt: consented::can_prompt(),
            };
            let _ = consented::ask(request).await;
            ExitCode::SUCCESS
        }
        Operation::Get => {
            if !carries_tokens(&request) {
                // A token goes only over https (or to this machine); git tries its other helpers.
                return ExitCode::SUCCESS;
            }
            let request = Request::Token {
                account: args.account.clone(),
                min_valid: Some(60),
                can_prompt: consented::can_prompt(),
            };
            match consented::ask(request).await.map(|(event, _)| event) {
                Ok(Event::Token { access_token, expires_at, .. }) => {
                    let mut answer = format!("username={}\npassword={}\n", args.username, access_token.expose());
                    if let Some(expiry) = expires_at {
                        answer.push_str(&format!("password_expiry_utc={expiry}\n"));
                    }
                    let mut out = std::io::stdout().lock();
                    if out.write_all(answer.as_bytes()).and_then(|()| out.flush()).is_err() {
                        return ExitCode::from(1);
                    }
                    ExitCode::SUCCESS
                }
                Ok(Event::Error { message, .. }) | Err(pixy_core::Error { message, .. }) => {
                    eprintln!("pixy git-credential: {}: {message}", args.account);
                    ExitCode::from(1)
                }
                Ok(_) => ExitCode::from(1),
            }
        }
    }
}

/// Whether the request is one a token may answer: https, or plain http to a loopback host (a
/// server on this machine), as for a provider's endpoints.
fn carries_tokens(request: &[(String, String)]) -> bool {
    let field = |key: &str| request.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    match (field("protocol"), field("host")) {
        (Some("https"), Some(_)) => true,
        (Some("http"), Some(host)) => pixy_core::http::check_endpoint("git server", &format!("http://{host}/")).is_ok(),
        _ => false,
    }
}

/// git's `key=value` lines, up to a blank line or the end of input.
fn read_request(input: impl BufRead) -> Vec<(String, String)> {
    input
        .lines()
        .map_while(Result::ok)
        .take_while(|line| !line.is_empty())
        .filter_map(|line| line.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_go_over_https_or_to_this_machine_only() {
        let ask = |protocol: &str, host: &str| {
            carries_tokens(&[("protocol".into(), protocol.into()), ("host".into(), host.into())])
        };
        assert!(ask("https", "github.com") && ask("http", "127.0.0.1:8080") && ask("http", "localhost"));
        assert!(!ask("http", "github.com") && !ask("ssh", "github.com") && !ask("http", "10.0.0.1"));
    }

    #[test]
    fn a_request_ends_at_its_blank_line() {
        let parsed = read_request("protocol=https\nhost=git.example.com\n\nignored=1\n".as_bytes());
        assert_eq!(parsed, [("protocol".into(), "https".into()), ("host".into(), "git.example.com".into())]);
    }
}
