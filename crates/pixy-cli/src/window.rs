//! Opening Pixy's window (`pixy-desktop`) from the daemon: from the tray, or on a consent question
//! or a relink notice. The window is single-instance: when one is open, the one started here hands
//! its view over to it (which comes forward on that view) and exits.

use std::process::{Command, Stdio};

/// The window's binary, looked up next to the daemon first, then on PATH.
const WINDOW_BINARY: &str = "pixy-desktop";

/// Where the window opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    /// Its usual view.
    Main,
    /// On the question waiting for the person.
    Consent,
    /// On one account (to reconnect it).
    Account(String),
}

impl View {
    fn args(&self) -> Vec<String> {
        match self {
            View::Main => vec![],
            View::Consent => vec!["--consent".into()],
            View::Account(id) => vec!["--account".into(), id.clone()],
        }
    }
}

/// Opens the window on `view`, or brings the open one forward on it.
pub fn open(view: View) {
    if let Err(error) = spawn(&view) {
        tracing::warn!(%error, "could not open the window ({WINDOW_BINARY})");
    }
}

/// Starts the window detached from the daemon's terminal and process group. The child is reaped
/// in a plain thread: waiting on it must not hold a runtime worker, and an unreaped child would
/// linger as a zombie for the daemon's lifetime.
fn spawn(view: &View) -> std::io::Result<()> {
    let mut command = Command::new(pixy_core::ipc::client::sibling_binary(WINDOW_BINARY));
    command.args(view.args()).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // Its own group: a Ctrl-C aimed at a foreground daemon must not close the window too.
        command.process_group(0);
    }
    let mut child = command.spawn()?;
    std::thread::Builder::new().name("pixy-window-reaper".into()).spawn(move || {
        let _ = child.wait();
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_view_is_an_argument_of_the_window() {
        assert!(View::Main.args().is_empty());
        assert_eq!(View::Consent.args(), ["--consent"]);
        assert_eq!(View::Account("github-1".into()).args(), ["--account", "github-1"]);
    }
}
