//! Opening the system browser at the authorization URL.
//!
//! The client's `$BROWSER`, when it sent one, is a command that takes the URL as its last
//! argument; it runs through `sh -c` with the URL passed as a positional parameter, never pasted
//! into the command text. Otherwise the platform's launchers are tried in order (xdg-open, gio,
//! ... on Linux; open; start), the next one when a launcher cannot start or exits with a failure.
//!
//! Security: the URL holds the flow's state and PKCE challenge. A launcher is named in logs and
//! errors by its program name only, never with its arguments, and its output goes nowhere: a
//! launcher that fails tends to print the URL it was given (`xdg-open: no method available for
//! opening 'http://…'`), and the daemon's own stderr is its log. The browser is not waited for
//! on the caller's thread: a thread reaps it so no zombie is left.

use std::collections::VecDeque;
use std::process::{Child, Command, Stdio};

use crate::error::{Error, ErrorKind, Result};

/// A way to start the browser, with the name it goes by in logs and errors.
struct Launcher {
    name: String,
    command: Command,
}

/// Said when every launcher has failed, after [`open`] returned: the person opens the link.
pub type AllFailed = tokio::sync::oneshot::Receiver<()>;

/// Starts the browser at `url`. Fails only when no launcher could be started at all; a launcher
/// that starts and then fails is logged by name and the next one is tried. The receiver returned
/// hears `()` once every launcher has failed (a browser that runs never says so).
pub fn open(url: &str, browser: Option<&str>) -> Result<AllFailed> {
    let mut launchers: VecDeque<Launcher> = match browser.map(str::trim).filter(|b| !b.is_empty()) {
        Some(command) => VecDeque::from([browser_variable(command, url)]),
        None => open::commands(url).into_iter().map(platform_launcher).collect(),
    };
    let mut not_started = Vec::new();
    while let Some(launcher) = launchers.pop_front() {
        match start(launcher) {
            Ok((name, child)) => {
                let (failed, all_failed) = tokio::sync::oneshot::channel();
                std::thread::spawn(move || reap(name, child, launchers, failed));
                return Ok(all_failed);
            }
            Err(why) => not_started.push(why),
        }
    }
    Err(Error::new(
        ErrorKind::Internal,
        format!("cannot open a browser ({}); open the link shown by `pixy link` yourself", not_started.join("; ")),
    ))
}

fn browser_variable(command: &str, url: &str) -> Launcher {
    let mut sh = Command::new("sh");
    sh.arg("-c").arg(format!("{command} \"$1\"")).arg("pixy-browser").arg(url);
    Launcher { name: "$BROWSER".to_string(), command: sh }
}

fn platform_launcher(command: Command) -> Launcher {
    let program = std::path::Path::new(command.get_program());
    let name = program.file_name().unwrap_or(program.as_os_str()).to_string_lossy().into_owned();
    Launcher { name, command }
}

/// Spawns a launcher with no stdin and its output discarded; on failure, says why without the URL.
fn start(mut launcher: Launcher) -> std::result::Result<(String, Child), String> {
    let spawned = launcher.command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn();
    match spawned {
        Ok(child) => Ok((launcher.name, child)),
        Err(e) => Err(format!("{} could not be started: {}", launcher.name, e.kind())),
    }
}

/// Waits for a launcher; when it fails, tries the ones left, one after another.
fn reap(mut name: String, mut child: Child, mut rest: VecDeque<Launcher>, failed: tokio::sync::oneshot::Sender<()>) {
    loop {
        match child.wait() {
            Ok(status) if status.success() => return,
            Ok(status) => tracing::warn!(launcher = %name, %status, "the browser launcher failed"),
            Err(e) => tracing::warn!(launcher = %name, error = %e.kind(), "the browser launcher was lost"),
        }
        loop {
            let Some(next) = rest.pop_front() else {
                tracing::warn!("no browser could be opened; the client shows the link to open by hand");
                let _ = failed.send(());
                return;
            };
            match start(next) {
                Ok(started) => {
                    (name, child) = started;
                    break;
                }
                Err(why) => tracing::warn!(%why, "the browser launcher could not be started"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_gets_the_url_as_one_argument_never_as_shell_text() {
        let dir = std::env::temp_dir().join(format!("pixy-browser-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("url");
        let marker = dir.join("injected");
        let url = format!("http://127.0.0.1:1/cb?a=1;touch {}&b=$(touch {})", marker.display(), marker.display());
        let command = format!("printf %s >'{}'", out.display());
        open(&url, Some(&command)).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::fs::read_to_string(&out).map(|s| s.is_empty()).unwrap_or(true)
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(std::fs::read_to_string(&out).unwrap(), url, "the browser receives the exact URL");
        assert!(!marker.exists(), "nothing in the URL may run as a shell command");
    }

    #[test]
    fn a_launcher_that_cannot_start_is_named_without_the_url() {
        let url = "http://127.0.0.1:1/cb?state=the-state-value&code_challenge=the-challenge";
        let missing = Launcher { name: "no-such-opener".into(), command: Command::new("/nonexistent/no-such-opener") };
        let why = start(missing).unwrap_err();
        assert!(why.contains("no-such-opener"), "the launcher is named: {why}");
        assert!(!why.contains("the-state-value") && !why.contains("the-challenge"), "{why}");
        let launcher = platform_launcher({
            let mut c = Command::new("/usr/bin/xdg-open");
            c.arg(url);
            c
        });
        assert_eq!(launcher.name, "xdg-open", "a platform launcher is named by its program alone");
    }
}
