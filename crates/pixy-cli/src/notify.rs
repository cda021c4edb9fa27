//! The daemon's desktop notifications (freedesktop Notifications over D-Bus): a consent question
//! with its three answers as actions, and a relink notice whose action opens the window on the
//! account. With a question, the window opens on its consent view too (unless it is open
//! already), so the person can answer there; whichever answer comes first counts, and the other
//! place stops asking.
//!
//! A session without a notification server is normal (a bare X session): the question still
//! reaches the window, and nothing here fails the daemon. Notifications carry names, labels and
//! scopes only, never a secret.

use std::collections::HashMap;
use std::sync::Arc;

use notify_rust::{ActionResponse, Hint, Notification, Timeout, Urgency};
use pixy_core::consent::{Choice, Question};
use pixy_core::daemon::{Daemon, Notice};
use tokio::sync::oneshot;

use crate::window::{self, View};

/// The actions of a question, by their keys on the bus.
const ANSWERS: [(&str, Choice); 3] = [("allow-once", Choice::Once), ("always", Choice::Always), ("deny", Choice::Deny)];

/// Shows questions and notices as they come, for as long as the daemon runs.
pub fn spawn(daemon: Arc<Daemon>) {
    tokio::spawn(follow_questions(daemon.clone()));
    tokio::spawn(follow_notices(daemon));
}

async fn follow_questions(daemon: Arc<Daemon>) {
    let mut questions = daemon.questions();
    // Each question shown, with the switch that withdraws its notification.
    let mut shown: HashMap<u64, oneshot::Sender<()>> = HashMap::new();
    loop {
        let now: Vec<Question> = questions.borrow_and_update().clone();
        shown.retain(|id, _| now.iter().any(|q| q.id == *id));
        let new: Vec<Question> = now.into_iter().filter(|q| !shown.contains_key(&q.id)).collect();
        if !new.is_empty() && !daemon.window_is_open() {
            window::open(View::Consent);
        }
        for question in new {
            let (withdraw, withdrawn) = oneshot::channel();
            shown.insert(question.id, withdraw);
            tokio::spawn(show_question(daemon.clone(), question, withdrawn));
        }
        if questions.changed().await.is_err() {
            return;
        }
    }
}

/// One question as a notification, until it is answered there, elsewhere, or times out.
async fn show_question(daemon: Arc<Daemon>, question: Question, withdrawn: oneshot::Receiver<()>) {
    let now = pixy_core::clock::Clock::now(&pixy_core::clock::SystemClock);
    let seconds = question.expires_at.saturating_sub(now).max(1);
    let scopes = if question.scopes.is_empty() { "none".to_string() } else { question.scopes.join(" ") };
    let mut notification = Notification::new();
    notification
        .appname("Pixy")
        .icon("dialog-password")
        .summary(&plain(&format!("{} wants a token for your account {}", question.name, question.label)))
        .body(&plain(&format!(
            "Program: {} (process {})\nScopes: {scopes}\nNo answer in {seconds} s counts as Deny.",
            question.program, question.pid
        )))
        .urgency(Urgency::Critical)
        .hint(Hint::Resident(true))
        .timeout(Timeout::Milliseconds(u32::try_from(seconds * 1000).unwrap_or(u32::MAX)));
    for (key, choice) in ANSWERS {
        notification.action(key, choice.label());
    }
    let handle = match notification.show_async().await {
        Ok(handle) => handle,
        Err(error) => {
            tracing::info!(%error, "no notification server answered; the question is in the window");
            return;
        }
    };
    let id = question.id;
    tokio::select! {
        _ = handle.wait_for_action_async(|response| {
            if let ActionResponse::Custom(key) = response {
                if let Some((_, choice)) = ANSWERS.iter().find(|(k, _)| k == key) {
                    if let Err(e) = daemon.answer(id, *choice) {
                        tracing::info!(error = %e, "a notification's answer came too late");
                    }
                }
            }
        }) => {}
        _ = withdrawn => handle.close_async().await,
    }
}

/// Text as it reads, never as markup: servers that render body markup (most do) would otherwise
/// take a `<` in a file name or a label as the start of a tag.
fn plain(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

async fn follow_notices(daemon: Arc<Daemon>) {
    let mut notices = daemon.notices();
    loop {
        match notices.recv().await {
            Ok(notice) => {
                tokio::spawn(show_notice(notice));
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// One notice as a notification; its action opens the window on the account.
async fn show_notice(notice: Notice) {
    let Notice::Relink { account, .. } = &notice;
    let mut notification = Notification::new();
    notification
        .appname("Pixy")
        .icon("dialog-warning")
        .summary("An account needs reconnecting")
        .body(&plain(&notice.sentence()))
        // "default": a click on the notification itself.
        .action("default", "Reconnect");
    let handle = match notification.show_async().await {
        Ok(handle) => handle,
        Err(error) => {
            tracing::info!(%error, "no notification server answered; the account's status says it");
            return;
        }
    };
    let account = account.clone();
    handle
        .wait_for_action_async(move |response| {
            if matches!(response, ActionResponse::Custom("default")) {
                window::open(View::Account(account));
            }
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_a_notification_are_text_not_markup() {
        assert_eq!(plain("<b>job</b> & co"), "&lt;b&gt;job&lt;/b&gt; &amp; co");
    }
}
