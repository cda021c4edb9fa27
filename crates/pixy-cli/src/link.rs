//! `pixy link`: asks the daemon to link an account and shows the way through the browser.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use pixy_core::flow;
use pixy_core::ipc::framing::write_message;
use pixy_core::ipc::protocol::SecretText;
use pixy_core::ipc::{client, Event, LinkRequest, ProviderSelector, Request};
use pixy_core::ErrorKind;

use crate::output;

/// Arguments of `pixy link`.
#[derive(Args, Clone)]
pub struct LinkArgs {
    /// A provider id from `pixy providers` (e.g. `demo`); the URL of an MCP server or another
    /// protected resource (RFC 9728), which Pixy finds its way to by itself; or, with
    /// --www-authenticate, an account linked to one.
    #[arg(required_unless_present = "issuer", conflicts_with = "issuer")]
    provider: Option<String>,
    /// Link with a provider found by discovery from its issuer URL.
    #[arg(long, requires = "client_id")]
    issuer: Option<String>,
    /// The client id registered for Pixy with that provider, or at a resource's authorization
    /// server (then no registration is made).
    #[arg(long)]
    client_id: Option<String>,
    /// A resource: the client secret of that client id, for a confidential client. Prefer the
    /// environment variable: other users' `ps` cannot read it there.
    #[arg(long, env = "PIXY_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// A resource: the account's name (default: from the server's host).
    #[arg(long, value_name = "NAME")]
    account: Option<String>,
    /// A resource: the URL of Pixy's Client ID Metadata Document, used as the client id where
    /// the authorization server takes such documents.
    #[arg(long, value_name = "URL", env = "PIXY_CLIENT_METADATA_URL")]
    client_metadata_url: Option<String>,
    /// A resource: the WWW-Authenticate header it answered your client with. With an account's
    /// name, a `403 insufficient_scope` challenge asks for the scopes it already has plus those
    /// demanded (a step-up).
    #[arg(long, value_name = "HEADER")]
    www_authenticate: Option<String>,
    /// A resource: leave out the RFC 8707 resource parameter, for a server that rejects it.
    #[arg(long)]
    no_resource: bool,
    /// A resource: show each step of finding its authorization server and how it went.
    #[arg(long)]
    explain: bool,
    /// A scope to ask for (repeatable); default: the provider's.
    #[arg(long = "scope", value_name = "S")]
    scopes: Vec<String>,
    /// An extra authorization parameter, K=V (repeatable).
    #[arg(long = "auth-param", value_name = "K=V", value_parser = parse_pair)]
    auth_params: Vec<(String, String)>,
    /// Print the sign-in link instead of opening the browser.
    #[arg(long)]
    no_browser: bool,
    /// Also take the code, `code#state` or the whole redirect address pasted here (one per line;
    /// from stdin when it is not a terminal): for a browser on another machine, or a provider
    /// page that shows a code. The browser's own redirect still works meanwhile.
    #[arg(long, conflicts_with = "device")]
    paste: bool,
    /// Link with a device code (RFC 8628): enter the code it prints on any device with a browser.
    /// For a machine without one, such as over SSH.
    #[arg(long)]
    device: bool,
    /// Read the provider's developer API key (Grantex) from the first line of stdin, for scripts.
    /// On a terminal Pixy asks for it, unseen, when it has none.
    #[arg(long)]
    api_key_stdin: bool,
    /// Seconds to wait for you to finish in the browser.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = flow::DEFAULT_TIMEOUT_SECS,
        value_parser = clap::value_parser!(u64).range(1..=flow::MAX_TIMEOUT_SECS)
    )]
    timeout: u64,
    /// One JSON event per line on stdout.
    #[arg(long)]
    json: bool,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not K=V")),
    }
}

/// Lines of stdin, read once for the API key and then for pastes.
type StdinLines = tokio::io::Lines<tokio::io::BufReader<tokio::io::Stdin>>;

/// The developer API key to send along: from stdin when asked, else asked for unseen on a
/// terminal when the provider needs one and Pixy keeps none.
async fn api_key(args: &LinkArgs, stdin: &mut StdinLines) -> Result<Option<SecretText>, Event> {
    let missing = |why: &str| Event::Error { kind: ErrorKind::InvalidRequest, message: why.to_string() };
    if args.api_key_stdin {
        return match stdin.next_line().await {
            Ok(Some(line)) if !line.trim().is_empty() => Ok(Some(SecretText::new(line.trim()))),
            _ => Err(missing("--api-key-stdin was given, but stdin's first line holds no key")),
        };
    }
    let Some(id) = &args.provider else { return Ok(None) };
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Ok(None);
    }
    let needs = match client::ask(Request::Providers).await {
        Ok(Event::Providers { providers }) => providers.iter().any(|p| &p.id == id && p.needs_api_key),
        _ => false,
    };
    if !needs {
        return Ok(None);
    }
    let typed = tokio::task::spawn_blocking(|| rpassword::prompt_password("Developer API key (not shown): "))
        .await
        .map_err(|_| missing("the API key could not be read"))?;
    match typed {
        Ok(key) if !key.trim().is_empty() => Ok(Some(SecretText::new(key.trim()))),
        _ => Err(missing("no API key was given")),
    }
}

/// Runs the link and prints its progress. A resource whose server refused the RFC 8707 resource
/// parameter is offered, on a terminal, a second link without it.
pub async fn run(mut args: LinkArgs) -> ExitCode {
    loop {
        let mut refused = false;
        let code = link_and_report(args.clone(), &mut refused).await;
        if refused && !args.json && !args.no_resource && ask_without_resource().await {
            args.no_resource = true;
            continue;
        }
        return code;
    }
}

/// Asks, on a terminal only, whether to link again without the resource parameter.
async fn ask_without_resource() -> bool {
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return false;
    }
    eprint!("Link again without the resource parameter? The token will not be bound to this one server. [y/N] ");
    let answer = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await;
    matches!(answer, Ok(Ok(line)) if line.trim().eq_ignore_ascii_case("y") || line.trim().eq_ignore_ascii_case("yes"))
}

/// One link and its progress; `refused` says whether the server refused the resource parameter.
async fn link_and_report(args: LinkArgs, refused: &mut bool) -> ExitCode {
    use tokio::io::AsyncBufReadExt;
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let api_key = match api_key(&args, &mut stdin).await {
        Ok(key) => key,
        Err(event) => {
            if args.json {
                output::json(&event);
            }
            return finish(&event, args.json, None);
        }
    };
    let resource =
        args.provider.as_deref().is_some_and(pixy_core::resource::is_resource_url) || args.www_authenticate.is_some();
    let provider = match (args.provider, args.issuer, args.client_id.clone()) {
        (Some(target), _, client_id) if resource => ProviderSelector::Resource {
            target,
            account: args.account.clone(),
            client_id,
            client_metadata_url: args.client_metadata_url.clone(),
            www_authenticate: args.www_authenticate.clone(),
            no_resource: args.no_resource,
        },
        (Some(id), _, None) => ProviderSelector::Named { id },
        (Some(_), _, Some(_)) => {
            let event = Event::Error {
                kind: ErrorKind::InvalidRequest,
                message: "--client-id goes with --issuer, or with a resource's URL".into(),
            };
            return finish(&event, args.json, None);
        }
        (None, Some(issuer), Some(client_id)) => ProviderSelector::Issuer { issuer, client_id },
        _ => unreachable!("clap enforces a provider or --issuer with --client-id"),
    };
    let request = Request::Link(Box::new(LinkRequest {
        provider,
        scopes: args.scopes,
        auth_params: args.auth_params,
        open_browser: !args.no_browser,
        browser: client::browser_from_env(),
        timeout_secs: Some(args.timeout),
        device: args.device,
        api_key,
        client_secret: args.client_secret.as_deref().map(SecretText::new),
    }));
    let mut answer = match client::request(&request).await {
        Ok(answer) => answer,
        Err(e) => {
            let event = Event::Error { kind: e.kind, message: e.message };
            if args.json {
                output::json(&event);
            }
            return finish(&event, args.json, None);
        }
    };
    let mut spinner = None;
    // A provider whose page shows a code is always linked by paste.
    let mut pasting = args.paste;
    let mut stdin = Some(stdin);
    loop {
        let event = match answer.next().await {
            Ok(Some(event)) => event,
            Ok(None) => break,
            Err(e) => Event::Error { kind: e.kind, message: e.message },
        };
        if let Event::Authorize { paste_only: true, .. } = event {
            pasting = true;
        }
        if args.json {
            output::json(&event);
        } else {
            match &event {
                Event::Authorize { url, paste_only: true } => {
                    let how = if args.no_browser {
                        "Open this link"
                    } else {
                        "Opening your browser; if it does not open, visit this link"
                    };
                    eprintln!("{how} to sign in. The page then shows a code to copy here:\n\n  {url}\n");
                }
                Event::Authorize { url, .. } => {
                    if args.no_browser {
                        eprintln!("Open this link in your browser to sign in:\n\n  {url}\n");
                    } else {
                        eprintln!("Opening your browser to sign in. If it does not open, visit:\n\n  {url}\n");
                    }
                }
                Event::Device { user_code, verification_uri, verification_uri_complete, expires_in } => {
                    eprintln!(
                        "On any device with a browser, open\n\n  {verification_uri}\n\nand enter the code\n\n  {user_code}\n"
                    );
                    if let Some(complete) = verification_uri_complete {
                        eprintln!("(or open {complete}, which has the code filled in)\n");
                    }
                    let minutes = expires_in.div_ceil(60);
                    spinner = Some(self::spinner(format!(
                        "Waiting for you to enter the code (it expires in {minutes} min)…"
                    )));
                }
                // A prompt, not a spinner, when the person may paste: both would share the line.
                Event::Waiting { .. } if pasting => prompt(),
                Event::Waiting { seconds_left } => {
                    let minutes = seconds_left.div_ceil(60);
                    spinner =
                        Some(self::spinner(format!("Waiting for you to finish in the browser (up to {minutes} min)…")));
                }
                // The failing step's words are the error's own, printed at the end anyway.
                Event::Step(step) if args.explain => output::step(step),
                Event::PasteRejected { reason } => {
                    eprintln!("That was not used: {reason}.");
                    prompt();
                }
                Event::BrowserFailed => eprintln!("Your browser could not be opened: open the link above yourself."),
                Event::Exchanging => {
                    if let Some(s) = &spinner {
                        s.set_message("Signed in; fetching your tokens…");
                    }
                }
                _ => {}
            }
        }
        if pasting && matches!(event, Event::Authorize { .. }) {
            if let (Some(sender), Some(stdin)) = (answer.take_sender(), stdin.take()) {
                tokio::spawn(send_pastes(sender, stdin));
            }
        }
        if event.is_terminal() {
            *refused = matches!(event, Event::Error { kind: ErrorKind::ResourceRefused, .. });
            return finish(&event, args.json, spinner);
        }
    }
    ExitCode::from(1)
}

/// Sends each non-empty line of stdin to the link as a paste. At the end of stdin the connection
/// stays open: the link goes on waiting for the browser's redirect.
async fn send_pastes(mut sender: tokio::net::unix::OwnedWriteHalf, mut lines: StdinLines) {
    while let Ok(Some(line)) = lines.next_line().await {
        if line.trim().is_empty() {
            continue;
        }
        let paste = Request::Paste { text: SecretText::new(line) };
        if write_message(&mut sender, &paste).await.is_err() {
            return;
        }
    }
    std::future::pending::<()>().await;
}

fn prompt() {
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprint!("Paste the code, or the whole address the browser ended on, and press Enter: ");
    }
}

/// A spinner that says what is awaited, with the time gone by.
fn spinner(message: String) -> indicatif::ProgressBar {
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_style(indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("valid template"));
    spinner.set_message(message);
    spinner.enable_steady_tick(Duration::from_millis(100));
    spinner
}

fn finish(event: &Event, json: bool, spinner: Option<indicatif::ProgressBar>) -> ExitCode {
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    // In JSON mode every event, the terminal one included, was printed as it came.
    if !json {
        output::human(event);
    }
    match event {
        Event::Linked { .. } => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    }
}
