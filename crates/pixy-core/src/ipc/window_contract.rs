//! The window's TypeScript unions (ui/src/api.ts) name exactly the error kinds and account
//! statuses the daemon sends, so a new kind or status cannot reach the UI unworded.

use std::collections::BTreeSet;

use crate::error::ErrorKind;
use crate::ipc::AccountStatus;

/// The string members of `export type NAME = "a" | "b" ...;` in api.ts.
fn union(name: &str) -> BTreeSet<String> {
    let api = include_str!("../../../../ui/src/api.ts");
    let start = api.find(&format!("export type {name} =")).unwrap_or_else(|| panic!("api.ts declares {name}"));
    let body = &api[start..];
    let body = &body[..body.find(';').expect("the union ends with ;")];
    body.split('"').skip(1).step_by(2).map(str::to_string).collect()
}

fn wire_names<T: serde::Serialize>(values: &[T]) -> BTreeSet<String> {
    values.iter().map(|v| serde_json::to_value(v).unwrap().as_str().unwrap().to_string()).collect()
}

#[test]
fn every_error_kind_is_in_the_window_union_and_nothing_else() {
    use ErrorKind::*;
    let every = [
        InvalidRequest,
        ProviderConfig,
        Discovery,
        KeyringUnavailable,
        KeyringLocked,
        AccessDenied,
        AuthorizationFailed,
        Timeout,
        Cancelled,
        TokenEndpoint,
        ResourceRefused,
        NeedsRelink,
        ConsentDenied,
        Network,
        Listener,
        DaemonUnavailable,
        Internal,
    ];
    // A kind added in Rust fails to compile here until it is listed above.
    for kind in every {
        match kind {
            InvalidRequest | ProviderConfig | Discovery | KeyringUnavailable | KeyringLocked | AccessDenied
            | AuthorizationFailed | Timeout | Cancelled | TokenEndpoint | ResourceRefused | NeedsRelink
            | ConsentDenied | Network | Listener | DaemonUnavailable | Internal => {}
        }
    }
    assert_eq!(union("ErrorKind"), wire_names(&every), "ui/src/api.ts ErrorKind must match pixy_core::ErrorKind");
}

#[test]
fn every_account_status_is_in_the_window_union_and_nothing_else() {
    use AccountStatus::*;
    let every = [Connected, Refreshing, Expired, NeedsRelink, Error];
    for status in every {
        match status {
            Connected | Refreshing | Expired | NeedsRelink | Error => {}
        }
    }
    assert_eq!(union("AccountStatus"), wire_names(&every), "ui/src/api.ts AccountStatus must match the Rust enum");
}
