//! How the CLI prints the daemon's events: one JSON object per line, or sentences for a person.

use pixy_core::ipc::{AccountSummary, Event};
use pixy_core::revoke::Revocation;

/// Prints one event as a JSON line on stdout.
pub fn json(event: &Event) {
    println!("{}", serde_json::to_string(event).expect("events serialize"));
}

/// Prints a terminal event as JSON or for a person.
pub fn event(event: &Event, json: bool) {
    if json {
        self::json(event);
    } else {
        human(event);
    }
}

/// Prints one step of a link's explanation, as `--explain` shows them.
pub fn step(step: &pixy_core::resource_link::Step) {
    let mark = if step.ok { "ok  " } else { "FAIL" };
    eprintln!("  {mark} {:<21} {}", step.step, step.detail);
}

/// Prints a terminal event for a person: results on stdout, errors on stderr.
pub fn human(event: &Event) {
    match event {
        Event::Linked { account } => match &account.resource {
            Some(r) => println!("Linked the server {} as {}", r.url, account.id),
            None => println!("Linked {} ({}) as {}", account.label, account.provider, account.id),
        },
        Event::Status { accounts, problem } => {
            if let Some(problem) = problem {
                eprintln!("warning: {problem}");
            }
            status(accounts);
        }

        Event::Providers { providers } => {
            let width = providers.iter().map(|p| p.id.len()).max().unwrap_or(0);
            for p in providers {
                match &p.problem {
                    Some(problem) => println!("{:width$}  broken: {problem}", p.id),
                    None => println!("{:width$}  {}  {}{}", p.id, p.label, p.issuer, provider_note(p)),
                }
            }
        }
        Event::Token { access_token, .. } => println!("{}", access_token.expose()),
        Event::Refreshed { account } => println!("Refreshed {}; {}", account.id, account.status.words()),
        Event::Unlinked { account, revocation, .. } => println!("Unlinked {account}; {}", unlinked_words(*revocation)),
        Event::Pong { version, pid } => println!("pixy daemon {version} (pid {pid})"),
        Event::ShuttingDown => println!("The daemon is stopping."),
        Event::Doctor { report } => print!("{}", pixy_core::doctor::render(report)),
        Event::ResetPlan { delete, keep } => {
            println!("A reset deletes:");
            delete.iter().for_each(|item| println!("  - {item}"));
            println!("and keeps:");
            keep.iter().for_each(|item| println!("  - {item}"));
        }
        Event::ResetStep { step } => {
            let mark = if step.ok { "done" } else { "FAIL" };
            println!("  {mark}  {}: {}", step.item, step.outcome);
        }
        Event::Reset { steps, kept } => {
            match steps.iter().filter(|s| !s.ok).count() {
                0 => println!("Pixy is reset: nothing of it is left but what it keeps."),
                n => eprintln!("error: Pixy is reset, but {n} item(s) above did not go as they should."),
            }
            kept.iter().for_each(|item| println!("Kept {item}"));
        }
        Event::Error { message, .. } => eprintln!("error: {message}"),
        Event::Grants { grants } => grant_list(grants),
        Event::Granted { grant } => {
            let who = if grant.program == pixy_core::consent::ANY_PROGRAM {
                "Every program of yours".to_string()
            } else {
                grant.program.clone()
            };
            println!("{who} may now have {}'s tokens without asking.", grant.account)
        }
        Event::GrantRevoked { program, account } => {
            println!("{program} no longer has {account}'s tokens; it is asked again next time.")
        }
        Event::Questions { questions } => {
            for q in questions {
                println!("{}  {}  ({}, process {})", q.id, q.sentence(), q.program, q.pid);
            }
        }
        Event::Discovered { found } => {
            println!("{} offers:", found.issuer);
            let yes = |b: bool| if b { "yes" } else { "no" };
            for (what, url) in [
                ("authorization", &found.authorization_endpoint),
                ("token", &found.token_endpoint),
                ("revocation", &found.revocation_endpoint),
                ("device code", &found.device_authorization_endpoint),
            ] {
                println!("  {what:<14} {}", url.as_deref().unwrap_or("none"));
            }
            println!("  {:<14} {}", "PKCE S256", yes(found.pkce_s256));
            println!("  {:<14} {}", "iss in answers", yes(found.iss_parameter));
            if let Some(problem) = &found.problem {
                eprintln!("error: Pixy cannot sign in there: {problem}");
            }
        }
        Event::ProviderAdded { provider } => {
            println!(
                "Added {} ({}) to providers.toml; link it with `pixy link {}`.",
                provider.label, provider.id, provider.id
            )
        }
        Event::ProviderInvalid { problems } => {
            for p in problems {
                eprintln!("error: {}: {}", p.field, p.message);
            }
        }
        Event::Answered { question } => println!("Question {question} answered."),
        Event::Activity { entries } => {
            for e in entries {
                println!("{}", crate::audit::line(e));
            }
        }
        Event::Authorize { .. }
        | Event::Device { .. }
        | Event::Step(_)
        | Event::PasteRejected { .. }
        | Event::Waiting { .. }
        | Event::Exchanging
        | Event::BrowserFailed
        | Event::Question { .. }
        | Event::Run { .. } => {}
    }
}

fn grant_list(grants: &[pixy_core::consent::Grant]) {
    if grants.is_empty() {
        println!("No grants: every program is asked before it gets an account's tokens.");
        return;
    }
    let width = grants.iter().map(|g| g.account.len()).max().unwrap_or(0);
    for g in grants {
        let used =
            g.last_used.map_or("never used".to_string(), |t| format!("last used {} UTC", pixy_core::audit::utc(t)));
        println!("{:width$}  {}  ({used})", g.account, g.program);
    }
}

fn status(accounts: &[AccountSummary]) {
    if accounts.is_empty() {
        println!("No linked accounts. Link one with `pixy link demo` or `pixy link PROVIDER`.");
        return;
    }
    let width = accounts.iter().map(|a| a.id.len()).max().unwrap_or(0);
    for a in accounts {
        // A resource's account is its own provider: its server is said on the lines below.
        match &a.resource {
            Some(_) => println!("{:width$}  {:<13}  {}", a.id, a.status.words(), a.label),
            None => println!("{:width$}  {:<13}  {}  ({})", a.id, a.status.words(), a.label, a.provider),
        }
        if let Some(reason) = &a.reason {
            println!("{:width$}  {reason}", "");
        }
        if let Some(r) = &a.resource {
            let resource = r.resource.as_deref().unwrap_or("not sent");
            println!("{:width$}  resource {}  (bound to: {resource})", "", r.url);
            println!("{:width$}  authorization server {}, {}", "", r.authorization_server, r.registration.words());
        }
    }
}

/// How a provider links, where that is not just the browser.
fn provider_note(p: &pixy_core::ipc::protocol::ProviderSummary) -> String {
    let mut notes = Vec::new();
    if p.demo {
        notes.push("demo provider, not a real account");
    }
    if p.paste_only {
        notes.push("paste the code its page shows");
    }
    if p.device {
        notes.push("--device works");
    }
    if p.needs_api_key {
        notes.push("asks for your developer API key");
    }
    if notes.is_empty() {
        String::new()
    } else {
        format!("  — {}", notes.join("; "))
    }
}

fn unlinked_words(revocation: Revocation) -> &'static str {
    match revocation {
        Revocation::Revoked => "the provider revoked its tokens.",
        Revocation::NotConfirmed => "its tokens are deleted here, but the provider did not confirm revoking them.",
        Revocation::NoEndpoint => {
            "its tokens are deleted here. The provider offers no way to revoke them (no revocation endpoint \
             in its metadata), so they stay valid there until they expire."
        }
        Revocation::NotAsked => {
            "its tokens are deleted here, but the provider could not be asked to revoke them (its definition \
             could not be used)."
        }
    }
}
