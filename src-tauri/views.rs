//! What the window sees of providers and accounts: metadata only.
//!
//! These are the only shapes (with events.rs) that cross into the web view. They are built from the
//! daemon's summaries, which hold no secret; an issuer URL is cut down to its host, because the UI
//! only needs to say where the person will sign in.

use pixy_core::ipc::{AccountStatus, AccountSummary, ProviderSummary};
use serde::Serialize;

/// A provider one can link.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProviderView {
    pub id: String,
    pub label: String,
    /// Host of the issuer, e.g. `id.example.com`.
    pub host: String,
    /// The embedded demo provider, which the UI labels as such.
    pub demo: bool,
    /// A built-in preset.
    pub preset: bool,
    /// Links by pasting the code its page shows.
    pub paste_only: bool,
    /// Can link with a device code.
    pub device: bool,
    /// Needs a developer API key before it can link (Grantex).
    pub needs_api_key: bool,
    /// Why the definition in providers.toml cannot be used; such a provider is shown as broken.
    pub problem: Option<String>,
}

impl From<ProviderSummary> for ProviderView {
    fn from(p: ProviderSummary) -> Self {
        ProviderView {
            host: host_of(&p.issuer),
            id: p.id,
            label: p.label,
            demo: p.demo,
            preset: p.preset,
            paste_only: p.paste_only,
            device: p.device,
            needs_api_key: p.needs_api_key,
            problem: p.problem,
        }
    }
}

/// The linked accounts, with what was lost when the daemon read its account index, if anything.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AccountsView {
    pub accounts: Vec<AccountView>,
    /// A sentence that names the damaged file and where its copy was kept.
    pub problem: Option<String>,
}

/// A linked account and whether it still works.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    pub id: String,
    pub provider: String,
    pub label: String,
    pub status: AccountStatus,
    /// The status in words, as the CLI and the tray say it.
    pub status_text: &'static str,
    pub expires_at: Option<u64>,
    /// When the current tokens were obtained (linked or last refreshed).
    pub obtained_at: u64,
    /// When the account was linked, if known.
    pub linked_at: Option<u64>,
    /// Why the account needs attention (a sentence, never a secret).
    pub reason: Option<String>,
    /// The scopes granted.
    pub scopes: Vec<String>,
    /// The protected resource (an MCP server) the account is for, and how Pixy got there.
    pub resource: Option<ResourceView>,
    /// Its latest token handouts and refusals, newest first.
    pub recent_use: Vec<UseView>,
    /// Whether Pixy keeps a refresh token for it.
    pub has_refresh_token: bool,
    /// The host Disconnect asks to revoke its tokens at; none when the provider cannot revoke.
    pub revocation_host: Option<String>,
}

/// One line of an account's recent use, from the audit log.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UseView {
    /// When, in seconds since the Unix epoch.
    pub time: u64,
    /// Whether a token was handed out.
    pub handed_out: bool,
    /// The program that asked, in words.
    pub program: String,
    /// What allowed it (`program`, `any`, `once`, `run`), or `none`.
    pub grant: String,
}

impl From<pixy_core::audit::Entry> for UseView {
    fn from(e: pixy_core::audit::Entry) -> Self {
        UseView {
            time: e.time,
            handed_out: e.outcome == pixy_core::audit::Outcome::HandedOut,
            program: e.program.unwrap_or_else(|| "an unknown program".into()),
            grant: e.grant,
        }
    }
}

/// A consent question waiting for the person.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct QuestionView {
    pub id: u64,
    /// The program that asks: its executable, and its script.
    pub program: String,
    /// The program by its file name.
    pub name: String,
    pub pid: u32,
    /// The account's id and label.
    pub account: String,
    pub label: String,
    pub scopes: Vec<String>,
    /// When it counts as denied, in seconds since the Unix epoch.
    pub expires_at: u64,
}

impl From<pixy_core::consent::Question> for QuestionView {
    fn from(q: pixy_core::consent::Question) -> Self {
        QuestionView {
            id: q.id,
            program: q.program,
            name: q.name,
            pid: q.pid,
            account: q.account,
            label: q.label,
            scopes: q.scopes,
            expires_at: q.expires_at,
        }
    }
}

/// A program's standing permission for an account.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GrantView {
    /// An executable's path, an interpreter and its script, a script's path, or `any`.
    pub program: String,
    pub account: String,
    pub granted_at: u64,
    pub last_used: Option<u64>,
}

impl From<pixy_core::consent::Grant> for GrantView {
    fn from(g: pixy_core::consent::Grant) -> Self {
        GrantView { program: g.program, account: g.account, granted_at: g.granted_at, last_used: g.last_used }
    }
}

/// Where the window was asked to open: on the consent view, or on one account.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LaunchView {
    pub consent: bool,
    pub account: Option<String>,
}

impl LaunchView {
    /// From the window's arguments (`--consent`, `--account ID`), as the daemon starts it.
    pub fn from_args(args: impl IntoIterator<Item = String>) -> LaunchView {
        let mut view = LaunchView::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--consent" => view.consent = true,
                "--account" => view.account = args.next(),
                _ => {}
            }
        }
        view
    }
}

/// What an issuer offers, for the Add provider form: endpoints are shown whole, since they are
/// what the person checks; none of them holds a secret.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FoundView {
    pub issuer: String,
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub revocation_endpoint: Option<String>,
    pub device_authorization_endpoint: Option<String>,
    pub pkce_s256: bool,
    pub pkce_listed: bool,
    pub iss_parameter: bool,
    /// Why Pixy cannot sign in there, if so.
    pub problem: Option<String>,
    pub suggested_id: String,
    pub suggested_label: String,
    pub suggested_scopes: Vec<String>,
}

impl From<pixy_core::new_provider::Found> for FoundView {
    fn from(f: pixy_core::new_provider::Found) -> Self {
        FoundView {
            issuer: f.issuer,
            authorization_endpoint: f.authorization_endpoint,
            token_endpoint: f.token_endpoint,
            revocation_endpoint: f.revocation_endpoint,
            device_authorization_endpoint: f.device_authorization_endpoint,
            pkce_s256: f.pkce_s256,
            pkce_listed: f.pkce_listed,
            iss_parameter: f.iss_parameter,
            problem: f.problem,
            suggested_id: f.suggested_id,
            suggested_label: f.suggested_label,
            suggested_scopes: f.suggested_scopes,
        }
    }
}

/// The outcome of Add provider: the provider as now listed, or each field's problem.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AddedView {
    pub provider: Option<ProviderView>,
    pub problems: Vec<pixy_core::new_provider::FieldProblem>,
}

/// What Copy diagnostics put on the clipboard, in brief: the problems the report found, each in
/// one line (the report itself holds no secret either).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosticsView {
    pub problems: Vec<String>,
}

impl DiagnosticsView {
    pub fn of(report: &pixy_core::doctor::Report) -> DiagnosticsView {
        let problems = report.findings.iter().filter(|f| f.severity == pixy_core::doctor::Severity::Problem);
        DiagnosticsView { problems: problems.map(|f| f.what.clone()).collect() }
    }
}

/// The chain behind an account linked by a resource's URL.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceView {
    /// The URL the person gave.
    pub url: String,
    /// The resource the tokens are bound to (RFC 8707), if it was sent.
    pub bound_to: Option<String>,
    /// Where the resource metadata was.
    pub metadata_url: Option<String>,
    /// The authorization server's issuer.
    pub authorization_server: String,
    /// How Pixy's client was registered, in words.
    pub registration: &'static str,
}

impl From<AccountSummary> for AccountView {
    fn from(a: AccountSummary) -> Self {
        AccountView {
            id: a.id,
            provider: a.provider,
            label: a.label,
            status: a.status,
            status_text: a.status.words(),
            expires_at: a.expires_at,
            obtained_at: a.obtained_at,
            linked_at: a.linked_at,
            reason: a.reason,
            scopes: a.scopes,
            resource: a.resource.map(|r| ResourceView {
                url: r.url,
                bound_to: r.resource,
                metadata_url: r.metadata_url,
                authorization_server: r.authorization_server,
                registration: r.registration.words(),
            }),
            recent_use: Vec::new(),
            has_refresh_token: a.has_refresh_token,
            revocation_host: a.revocation_host,
        }
    }
}

/// The host of `url`, or a neutral phrase when it has none: never the path or query, which for an
/// authorization URL hold the state and the PKCE challenge.
pub fn host_of(url: &str) -> String {
    url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_else(|| "the provider".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provider_shows_its_issuer_host_only() {
        let view = ProviderView::from(ProviderSummary {
            id: "corp".into(),
            label: "Corp ID".into(),
            issuer: "https://id.corp.example:8443/realms/staff".into(),
            demo: false,
            preset: false,
            paste_only: false,
            device: false,
            needs_api_key: false,
            problem: None,
        });
        assert_eq!(view.host, "id.corp.example", "the UI names where one signs in, not the issuer's path");
    }

    #[test]
    fn an_unparseable_url_yields_a_neutral_host() {
        assert_eq!(host_of("not a url"), "the provider", "garbage must not be echoed into the window");
    }

    #[test]
    fn an_account_view_is_camel_case_and_keeps_the_status_wording_of_the_wire() {
        let view = AccountView::from(AccountSummary {
            obtained_at: 5,
            linked_at: Some(3),
            id: "demo-1".into(),
            provider: "demo".into(),
            label: "ada@example.com".into(),
            status: AccountStatus::NeedsRelink,
            reason: None,
            last_error: None,
            expires_at: Some(7),
            scopes: vec!["openid".into()],
            resource: None,
            has_refresh_token: false,
            revocation_host: None,
        });
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["status"], "needs_relink", "the UI switches on the wire's status names");
        assert_eq!(json["expiresAt"], 7, "TypeScript reads camelCase fields");
        assert_eq!(json["scopes"], serde_json::json!(["openid"]), "an MCP server's chain shows the scopes granted");
    }

    #[test]
    fn the_window_opens_where_the_daemon_asked() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(LaunchView::from_args(args(&["pixy-desktop"])), LaunchView::default());
        assert!(LaunchView::from_args(args(&["pixy-desktop", "--consent"])).consent);
        let on_account = LaunchView::from_args(args(&["pixy-desktop", "--account", "github-1"]));
        assert_eq!(on_account.account.as_deref(), Some("github-1"));
    }
}
