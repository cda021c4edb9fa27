//! `pixy add-provider ISSUER --client-id ID`: what the window's Add provider does, for a
//! terminal. The issuer is discovered first; the id, label and scopes default to what Pixy
//! suggests from it, and the entry is appended to providers.toml with its comments kept.

use std::process::ExitCode;

use clap::Args;
use pixy_core::ipc::{client, Event, Request};
use pixy_core::new_provider::NewProvider;

use crate::output;

#[derive(Debug, Args)]
pub struct AddProviderArgs {
    /// The provider's issuer URL (its endpoints are discovered from it).
    issuer: String,
    /// The client id the provider gave Pixy (registered as a native app, redirect
    /// http://127.0.0.1/callback).
    #[arg(long)]
    client_id: String,
    /// The id to link it by (default: from its host).
    #[arg(long)]
    id: Option<String>,
    /// The name to show (default: from its host).
    #[arg(long)]
    label: Option<String>,
    /// A scope to ask for (repeat; default: OpenID's basics and offline_access where offered).
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// One JSON event per line.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: AddProviderArgs) -> ExitCode {
    let found = match client::ask(Request::DiscoverProvider { issuer: args.issuer.clone() }).await {
        Ok(Event::Discovered { found }) => {
            if !args.json {
                output::human(&Event::Discovered { found: found.clone() });
            }
            found
        }
        Ok(other) => return finish(&other, args.json),
        Err(e) => return finish(&Event::Error { kind: e.kind, message: e.message }, args.json),
    };
    let provider = NewProvider {
        id: args.id.unwrap_or(found.suggested_id),
        label: args.label.unwrap_or(found.suggested_label),
        issuer: args.issuer,
        client_id: args.client_id,
        scopes: if args.scopes.is_empty() { found.suggested_scopes } else { args.scopes },
    };
    let event = client::ask(Request::AddProvider { provider })
        .await
        .unwrap_or_else(|e| Event::Error { kind: e.kind, message: e.message });
    finish(&event, args.json)
}

fn finish(event: &Event, json: bool) -> ExitCode {
    output::event(event, json);
    match event {
        Event::ProviderAdded { .. } => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    }
}
