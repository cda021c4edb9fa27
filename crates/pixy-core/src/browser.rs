//! Opening the system browser at the authorization URL.
//!
//! The client's `$BROWSER`, when it sent one, is a command that takes the URL as its last
//! argument; it runs through `sh -c` with the URL passed as a positional parameter, never pasted
//! into the command text. Otherwise the platform opener is used (xdg-open, open, start).
//! The browser is not waited for: a thread reaps it so no zombie is left.

use std::process::{Command, Stdio};

use crate::error::{Error, ErrorKind, Result};

/// Starts the browser at `url`.
pub fn open(url: &str, browser: Option<&str>) -> Result<()> {
    match browser.map(str::trim).filter(|b| !b.is_empty()) {
        Some(command) => {
            let child = Command::new("sh")
                .arg("-c")
                .arg(format!("{command} \"$1\""))
                .arg("pixy-browser")
                .arg(url)
                .stdin(Stdio::null())
                .spawn()
                .map_err(|e| Error::new(ErrorKind::Internal, format!("cannot run $BROWSER: {e}")))?;
            reap(child);
            Ok(())
        }
        None => open::that_detached(url).map_err(|e| {
            Error::new(
                ErrorKind::Internal,
                format!("cannot open a browser ({e}); open the link shown by `pixy link` yourself"),
            )
        }),
    }
}

fn reap(mut child: std::process::Child) {
    std::thread::spawn(move || {
        let _ = child.wait();
    });
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
}
