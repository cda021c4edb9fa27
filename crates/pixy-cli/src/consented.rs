//! Requests that hand out tokens (`pixy token`, `exec`, `git-credential`), with the person's
//! consent on the way: while the daemon asks, this says where the question is; when the daemon
//! has no display, the question is put on this process's terminal (`/dev/tty`, so it works with
//! stdin and stdout taken by a pipe, as under git) and the answer goes back on the request's
//! own connection.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

use pixy_core::consent::{Choice, Question};
use pixy_core::ipc::client::{self, Answer};
use pixy_core::ipc::{Event, Request};
use pixy_core::{Error, ErrorKind, Result};

/// Whether this process has a terminal to put a question on.
pub fn can_prompt() -> bool {
    std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty").is_ok()
}

/// Sends `request` and follows it through any consent question to its answer: the terminal
/// event, or [`Event::Run`] for a run (whose connection, returned with it, holds the run's grant
/// for as long as it is kept open). An [`Event::Error`] is returned as an error.
pub async fn ask(request: Request) -> Result<(Event, Answer)> {
    let mut answer = client::request(&request).await?;
    // Set while a question is on the terminal: its thread writes the answer itself, on a copy of
    // this connection, so reading the daemon's events here is never interrupted mid-message.
    let mut prompting = false;
    loop {
        let Some(event) = answer.next().await? else {
            return Err(Error::new(ErrorKind::DaemonUnavailable, "the daemon ended the request without an answer"));
        };
        match event {
            Event::Question { question, ask_here: true } => {
                let to_daemon = answer.sender().map(|s| s.as_ref().as_fd().try_clone_to_owned());
                if let Some(Ok(to_daemon)) = to_daemon {
                    prompting = true;
                    std::thread::spawn(move || prompt_and_answer(&question, UnixStream::from(to_daemon)));
                }
            }
            Event::Question { question, ask_here: false } => eprintln!(
                "pixy: {} Program: {}. Waiting for your answer (within {} s).",
                question.sentence(),
                question.program,
                question.expires_at.saturating_sub(now())
            ),
            event if event.is_terminal() || matches!(event, Event::Run { .. }) => {
                if prompting && matches!(event, Event::Error { .. }) {
                    // The daemon decided without this terminal (the question timed out).
                    let _ = tty().map(|mut t| writeln!(t, "\n(no answer in time)"));
                }
                return match event {
                    Event::Error { kind, message } => Err(Error::new(kind, message)),
                    event => Ok((event, answer)),
                };
            }
            _ => {}
        }
    }
}

/// Puts the question on the terminal and sends the person's answer to the daemon.
fn prompt_and_answer(question: &Question, mut to_daemon: UnixStream) {
    if let Some(choice) = prompt(question) {
        let answer = Request::Answer { question: question.id, choice };
        let mut line = serde_json::to_vec(&answer).expect("requests serialize");
        line.push(b'\n');
        let _ = to_daemon.write_all(&line);
    }
}

fn tty() -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty")
}

/// Puts the question on the terminal until it gets an answer it understands; `None` when the
/// terminal is gone.
fn prompt(question: &Question) -> Option<Choice> {
    let mut out = tty().ok()?;
    let mut input = BufReader::new(out.try_clone().ok()?);
    let _ =
        writeln!(out, "\nPixy: {}\n  Program: {} (process {})", question.sentence(), question.program, question.pid);
    loop {
        let _ = write!(out, "Allow [o]nce, [a]lways for this program, or [d]eny? ");
        let _ = out.flush();
        let mut line = String::new();
        if input.read_line(&mut line).ok()? == 0 {
            return None;
        }
        match line.trim().to_ascii_lowercase().as_str() {
            "o" | "once" => return Some(Choice::Once),
            "a" | "always" => return Some(Choice::Always),
            "d" | "deny" | "n" | "no" => return Some(Choice::Deny),
            _ => {}
        }
    }
}

fn now() -> u64 {
    pixy_core::clock::Clock::now(&pixy_core::clock::SystemClock)
}
