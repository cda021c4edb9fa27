//! Link progress as the window sees it, pushed over a `tauri::ipc::Channel` while `connect` runs.
//!
//! Security: the daemon's [`Event::Authorize`] carries the full authorization URL (state, PKCE
//! challenge, client id, redirect); the window gets its host only. [`Event::Token`] and every
//! terminal event map to nothing here: the terminal ones end `connect` itself, and a token never
//! enters the web view.

use pixy_core::ipc::Event;
use serde::Serialize;

use crate::views::host_of;

/// One step of a link flow, for the UI's flow panel.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "event", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum FlowEvent {
    /// The browser is opening: continue at `host`. With `paste_only`, the provider's page then
    /// shows a code for the person to paste into the window.
    Browser { host: String, paste_only: bool },
    /// A device code to enter at `verification_uri` on any device (RFC 8628); both are meant to
    /// be shown. The device code itself never leaves the daemon.
    Device { user_code: String, verification_uri: String, verification_uri_complete: Option<String>, expires_in: u64 },
    /// A paste was not used, and why (the reason quotes nothing of it); the flow waits on.
    PasteRejected { reason: String },
    /// Waiting for the person; the flow gives up after `seconds_left`.
    Waiting { seconds_left: u64 },
    /// No browser could be started: the window offers the link to copy; the flow waits on.
    BrowserFailed,
    /// The browser came back; the daemon is exchanging the code.
    Exchanging,
    /// One step of finding a resource's authorization server (an MCP server linked by its URL),
    /// and how it went: the chain the window shows while it links and when it fails.
    Step { step: String, ok: bool, detail: String },
}

/// The progress event to show for a daemon event, or `None` for one the window must not see.
pub fn progress(event: &Event) -> Option<FlowEvent> {
    match event {
        Event::Authorize { url, paste_only } => {
            Some(FlowEvent::Browser { host: host_of(url), paste_only: *paste_only })
        }
        Event::Device { user_code, verification_uri, verification_uri_complete, expires_in } => {
            Some(FlowEvent::Device {
                user_code: user_code.clone(),
                verification_uri: verification_uri.clone(),
                verification_uri_complete: verification_uri_complete.clone(),
                expires_in: *expires_in,
            })
        }
        Event::PasteRejected { reason } => Some(FlowEvent::PasteRejected { reason: reason.clone() }),
        Event::Waiting { seconds_left } => Some(FlowEvent::Waiting { seconds_left: *seconds_left }),
        Event::Exchanging => Some(FlowEvent::Exchanging),
        Event::BrowserFailed => Some(FlowEvent::BrowserFailed),
        Event::Step(step) => {
            Some(FlowEvent::Step { step: step.step.clone(), ok: step.ok, detail: step.detail.clone() })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://id.example.com/authorize?response_type=code&client_id=pixy\
        &state=s3cr3t-state&code_challenge=ch4llenge&code_challenge_method=S256\
        &redirect_uri=http%3A%2F%2F127.0.0.1%3A4711%2Fcallback";

    #[test]
    fn the_authorization_url_reaches_the_window_as_its_host_only() {
        let shown = progress(&Event::Authorize { url: URL.into(), paste_only: true }).expect("authorize is progress");
        let json = serde_json::to_string(&shown).unwrap();
        assert_eq!(json, r#"{"event":"browser","host":"id.example.com","pasteOnly":true}"#);
        for secret in ["s3cr3t-state", "ch4llenge", "client_id", "127.0.0.1"] {
            assert!(!json.contains(secret), "{secret} is part of the authorization request, not for the UI");
        }
    }

    #[test]
    fn a_token_event_never_becomes_progress() {
        let token = Event::Token {
            account: "demo-1".into(),
            access_token: pixy_core::secret::AccessToken::new("at-secret").into(),
            expires_at: None,
        };
        assert_eq!(progress(&token), None, "access tokens must never be sent into the web view");
    }

    #[test]
    fn a_device_code_reaches_the_window_in_camel_case() {
        let event = Event::Device {
            user_code: "ABCD-EFGH".into(),
            verification_uri: "https://id.example.com/device".into(),
            verification_uri_complete: None,
            expires_in: 600,
        };
        let json = serde_json::to_string(&progress(&event).unwrap()).unwrap();
        assert_eq!(
            json,
            r#"{"event":"device","userCode":"ABCD-EFGH","verificationUri":"https://id.example.com/device","verificationUriComplete":null,"expiresIn":600}"#
        );
    }

    #[test]
    fn waiting_carries_the_seconds_left_in_camel_case() {
        let json = serde_json::to_string(&progress(&Event::Waiting { seconds_left: 299 }).unwrap()).unwrap();
        assert_eq!(json, r#"{"event":"waiting","secondsLeft":299}"#, "the UI's countdown reads secondsLeft");
    }
}
