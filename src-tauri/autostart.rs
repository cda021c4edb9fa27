//! Start Pixy at login, in the tray: the setting, and the launch it makes.
//!
//! The entry is the official autostart plugin's (the `auto-launch` crate underneath). On Linux it
//! is `$HOME/.config/autostart/Pixy.desktop` — `$HOME`, whatever `$XDG_CONFIG_HOME` says — with
//! `Exec=<this pixy-desktop> --background`; on macOS a Launch Agent, on Windows a `Run` value.
//! The entry itself is the truth: nothing is saved beside it, so what the window shows is
//! whether the entry is there now, whoever added or removed it.
//!
//! At login the entry runs `pixy-desktop --background`, which makes sure the daemon runs (the
//! daemon owns the tray icon) and exits. It returns before Tauri is built, so it never opens a
//! window, never loads WebKit, and never reaches the single-instance hand-over: a window that is
//! open stays exactly as it is.
//!
//! Security: nothing secret is involved. The entry names a program and one argument; errors name
//! the entry's folder and the system's reason.

use pixy_core::ipc::client::ask;
use pixy_core::ipc::{Event, Request};
use pixy_core::{Error, ErrorKind};
use tauri::{AppHandle, Runtime};
use tauri_plugin_autostart::{MacosLauncher, ManagerExt};

/// The argument the login entry launches the window's program with.
pub const BACKGROUND: &str = "--background";

/// Whether these are the arguments of a launch at login.
pub fn is_background(args: impl IntoIterator<Item = String>) -> bool {
    args.into_iter().skip(1).any(|arg| arg == BACKGROUND)
}

/// The launch at login: starts the daemon when none runs, waits until it answers, and ends.
pub fn run_in_background() -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::new(ErrorKind::Internal, format!("cannot start: {e}")))?;
    // Any request starts the daemon; a ping is the one that asks nothing of it.
    match runtime.block_on(ask(Request::Ping))? {
        Event::Pong { .. } => Ok(()),
        other => Err(pixy_core::ipc::client::unexpected(&other)),
    }
}

/// The plugin, writing entries that launch this program in the background.
pub fn plugin<R: Runtime>() -> tauri::plugin::TauriPlugin<R> {
    tauri_plugin_autostart::init(MacosLauncher::LaunchAgent, Some(vec![BACKGROUND]))
}

/// Whether Pixy starts at login: whether its entry is there.
#[tauri::command]
pub async fn autostart_enabled(app: AppHandle) -> Result<bool, Error> {
    app.autolaunch().is_enabled().map_err(|e| in_words("could not tell whether it starts at login", &e))
}

/// Adds or removes the login entry; answers whether the entry is there afterwards.
#[tauri::command]
pub async fn set_autostart(app: AppHandle, enabled: bool) -> Result<bool, Error> {
    let autolaunch = app.autolaunch();
    if enabled {
        // On Linux the entry's Exec line holds the path unquoted: one the desktop would split or
        // expand would start nothing at login, so it is refused here rather than written.
        let exe = std::env::current_exe().map_err(|e| in_words("could not find its own program", &e))?;
        if let Some(path) = exe.to_str().filter(|p| cfg!(target_os = "linux") && !plain_exec_path(p)) {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                format!(
                    "Pixy cannot start at login from {path}: the login entry cannot name a path with spaces \
                     or quotes. Install it where the path is plain (such as /usr/bin)."
                ),
            ));
        }
        autolaunch.enable().map_err(|e| in_words(&format!("could not add its login entry to {}", place()), &e))?;
    } else {
        autolaunch
            .disable()
            .map_err(|e| in_words(&format!("could not remove its login entry from {}", place()), &e))?;
    }
    autolaunch.is_enabled().map_err(|e| in_words("could not tell whether it starts at login", &e))
}

/// Whether `path` goes into a desktop entry's Exec line as it is (the plugin does not quote it).
fn plain_exec_path(path: &str) -> bool {
    path.starts_with('/') && !path.chars().any(|c| c.is_whitespace() || "\"'\\`$<>|&;*?#()~%".contains(c))
}

/// Where the login entry lives, as a person would look for it.
fn place() -> String {
    if cfg!(target_os = "linux") {
        let home = std::env::var("HOME").unwrap_or_else(|_| "~".into());
        format!("{home}/.config/autostart")
    } else if cfg!(target_os = "macos") {
        "~/Library/LaunchAgents".into()
    } else {
        "the programs Windows starts at login".into()
    }
}

/// "Pixy {what}: {the system's reason}." — without the errno, which says nothing to a person.
fn in_words(what: &str, error: &dyn std::fmt::Display) -> Error {
    let text = error.to_string();
    let reason = match text.rfind(" (os error ") {
        Some(at) => &text[..at],
        None => text.as_str(),
    };
    let mut reason = reason.trim().trim_end_matches('.').to_string();
    if let Some(first) = reason.get(..1) {
        reason.replace_range(..1, &first.to_lowercase());
    }
    Error::new(ErrorKind::Internal, format!("Pixy {what}: {reason}."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn only_the_background_argument_makes_a_launch_at_login() {
        assert!(is_background(args(&["pixy-desktop", "--background"])));
        assert!(!is_background(args(&["pixy-desktop"])), "a plain launch opens the window");
        assert!(!is_background(args(&["pixy-desktop", "--account", "x"])));
        assert!(!is_background(args(&["--background"])), "the program's own name is not an argument");
    }

    #[test]
    fn a_path_the_desktop_would_split_or_expand_is_not_plain() {
        assert!(plain_exec_path("/usr/bin/pixy-desktop"));
        assert!(plain_exec_path("/home/ada/.cache/pixy/target/debug/pixy-desktop"));
        assert!(!plain_exec_path("/home/ada/My Apps/pixy-desktop"), "a space splits the Exec line");
        assert!(!plain_exec_path("/usr/bin/pixy-desktop (deleted)"), "a program replaced while it ran");
        assert!(!plain_exec_path("/opt/50%/pixy-desktop"), "% starts a field code");
        assert!(!plain_exec_path("relative/pixy-desktop"), "the entry needs an absolute path");
    }

    #[test]
    fn an_error_is_said_in_words_without_its_errno() {
        let said =
            in_words("could not add its login entry to /home/ada/.config/autostart", &"Not a directory (os error 20)");
        assert_eq!(said.message, "Pixy could not add its login entry to /home/ada/.config/autostart: not a directory.");
    }
}
