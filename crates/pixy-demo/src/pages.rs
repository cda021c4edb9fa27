//! The demo provider's HTML: the approve/deny pages (OAuth and Grantex), the code page (see code_page.rs) and the
//! error page.
//!
//! Invariants: every value that came from a request goes through [`escape`]; the pages are self-contained (inline
//! CSS, no script, no external resource) and say plainly that this is the Pixy demo provider, not a real account.
//! The Approve button comes first in the form: the first submit button is the form's default (Enter in a field, or
//! a harness submitting the form as is), and harnesses that drive the page rely on that order.

use crate::DEMO_USER_EMAIL;
use crate::DEMO_USER_NAME;

/// The label every page carries.
pub(crate) const DEMO_LABEL: &str = "Pixy Demo provider — not a real account";

/// HTML-escapes text for element content and quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What the approve/deny page shows.
pub(crate) struct Consent<'a> {
    /// The pending request's id, posted back with the decision.
    pub(crate) request_id: &'a str,
    pub(crate) scopes: Vec<&'a str>,
    /// Where the browser goes after the answer, as the client sent it.
    pub(crate) redirect_uri: &'a str,
}

/// The approve/deny page.
pub(crate) fn consent(view: &Consent<'_>) -> String {
    let scopes: String = view
        .scopes
        .iter()
        .map(|scope| format!("<li><code>{}</code> {}</li>", escape(scope), escape(scope_meaning(scope))))
        .collect();
    let body = format!(
        r#"<h1><span class="app">Pixy</span> wants to use your demo account</h1>
<p class="who">Signed in as <strong>{user}</strong></p>
<p>Pixy asks for:</p>
<ul class="scopes">{scopes}</ul>
<form method="post" action="/authorize/decision">
<input type="hidden" name="request" value="{request}">
<div class="buttons"><button name="decision" value="approve" class="approve">Approve</button><button name="decision" value="deny" class="deny">Deny</button></div>
</form>
<p class="small">Your browser then returns to <code>{redirect}</code>.</p>"#,
        user = escape(&format!("{DEMO_USER_NAME} <{DEMO_USER_EMAIL}>")),
        request = escape(view.request_id),
        redirect = escape(view.redirect_uri),
    );
    page("Approve Pixy? — Pixy Demo provider", &body)
}

/// What the Grantex approve/deny page shows: an agent asking to act for a principal.
pub(crate) struct GrantexConsent<'a> {
    /// The authorization request's id, posted back with the decision.
    pub(crate) request_id: &'a str,
    pub(crate) agent_did: &'a str,
    pub(crate) principal_id: &'a str,
    pub(crate) scopes: &'a [String],
    /// Where the browser goes after the answer, as the developer sent it.
    pub(crate) redirect_uri: &'a str,
}

/// The Grantex approve/deny page. Its form posts `req` and `decision` to `/grantex/consent`.
pub(crate) fn grantex_consent(view: &GrantexConsent<'_>) -> String {
    let scopes: String = view.scopes.iter().map(|scope| format!("<li><code>{}</code></li>", escape(scope))).collect();
    let body = format!(
        r#"<h1>An <span class="app">AI agent</span> asks to act for you</h1>
<p class="who">Agent <code id="agent">{agent}</code></p>
<p class="who">On behalf of <strong id="principal">{principal}</strong></p>
<p>It asks for these scopes:</p>
<ul class="scopes">{scopes}</ul>
<form method="post" action="/grantex/consent">
<input type="hidden" name="req" value="{request}">
<div class="buttons"><button name="decision" value="approve" class="approve">Approve</button><button name="decision" value="deny" class="deny">Deny</button></div>
</form>
<p class="small">Approving grants the agent these scopes until you or the app revoke the grant. Your browser then returns to <code>{redirect}</code>.</p>"#,
        agent = escape(view.agent_did),
        principal = escape(view.principal_id),
        request = escape(view.request_id),
        redirect = escape(view.redirect_uri),
    );
    page("Approve an AI agent? — Pixy Demo provider", &body)
}

/// The code page: `pasted` (`code#state`) in `<code id="pasted-code">`, which tests look for, to copy into the app.
pub(crate) fn code(pasted: &str) -> String {
    let body = format!(
        r#"<h1>Paste this code into <span class="app">Pixy</span></h1>
<p>Copy the code below and paste it where Pixy asks for it.</p>
<p class="paste"><code id="pasted-code">{pasted}</code></p>
<p class="small">It works once, within a minute. Do not share it: it links your demo account.</p>"#,
        pasted = escape(pasted),
    );
    page("Paste this code — Pixy Demo provider", &body)
}

/// The code page for a sign-in that ended without a code: the error it ended with, in `<code id="code-error">`.
pub(crate) fn code_error(error: &str, description: Option<&str>) -> String {
    let description = description.map(|d| format!("<p>{}</p>", escape(d))).unwrap_or_default();
    let body = format!(
        r#"<h1>Pixy was not linked</h1>
<p>The sign-in ended with <code id="code-error">{error}</code>, so there is no code to paste.</p>
{description}
<p class="small">Start linking again from Pixy.</p>"#,
        error = escape(error),
    );
    page("Not linked — Pixy Demo provider", &body)
}

/// A page for a request that cannot go back to the app: an unknown client, a redirect URI that is not loopback,
/// a stale approve/deny page.
pub(crate) fn error(title: &str, message: &str) -> String {
    let body = format!(r#"<h1>{}</h1><p>{}</p>"#, escape(title), escape(message));
    page(&format!("{title} — Pixy Demo provider"), &body)
}

fn scope_meaning(scope: &str) -> &'static str {
    match scope {
        "openid" => "— know that it is you (your demo user id)",
        "profile" => "— your name",
        "email" => "— your email address",
        "offline_access" => "— stay linked while you are away",
        "user:profile" => "— your demo profile",
        "user:inference" => "— use the demo as you",
        "org:create_api_key" => "— make demo API keys",
        _ => "",
    }
}

fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title}</title>
<style>
:root {{ color-scheme: light dark; --accent: #5b5bd6; --muted: #6b6b80; --card: #ffffff; --bg: #f3f3f8; }}
@media (prefers-color-scheme: dark) {{ :root {{ --card: #1d1d26; --bg: #121218; --muted: #a0a0b4; }} }}
* {{ box-sizing: border-box; }}
body {{ margin: 0; min-height: 100vh; display: grid; place-items: center; background: var(--bg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }}
main {{ width: min(26rem, calc(100vw - 2rem)); background: var(--card); border-radius: 14px; padding: 1.75rem;
  box-shadow: 0 6px 28px rgba(0, 0, 0, .12); }}
.badge {{ display: inline-block; margin: 0 0 1rem; padding: .2rem .6rem; border-radius: 999px; font-size: .8rem;
  background: #fff3c4; color: #6b5200; }}
h1 {{ font-size: 1.25rem; margin: 0 0 .75rem; }}
.app {{ color: var(--accent); }}
.who, .small, footer {{ color: var(--muted); }}
.small, footer {{ font-size: .85rem; }}
.scopes {{ padding-left: 1.2rem; }}
code {{ font-size: .9em; word-break: break-all; }}
.paste {{ padding: .75rem; border-radius: 8px; background: rgba(127, 127, 127, .12); user-select: all; }}
.buttons {{ display: flex; gap: .75rem; margin-top: 1.25rem; }}
button {{ flex: 1; font: inherit; padding: .6rem; border-radius: 8px; border: 1px solid var(--muted); cursor: pointer;
  background: transparent; color: inherit; }}
button.approve {{ background: var(--accent); border-color: var(--accent); color: #fff; font-weight: 600; }}
footer {{ margin-top: 1.25rem; border-top: 1px solid rgba(127, 127, 127, .25); padding-top: .75rem; }}
</style>
</head>
<body>
<main>
<p class="badge">{label}</p>
{body}
<footer>This is a local demo and test server built into Pixy. No real account, password or personal data is involved.</footer>
</main>
</body>
</html>
"#,
        title = escape(title),
        label = escape(DEMO_LABEL),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x")</script>&'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;",
            "every character that can open a tag, an entity or end an attribute must be escaped"
        );
    }

    #[test]
    fn the_consent_page_puts_approve_before_deny() {
        let html = consent(&Consent { request_id: "r", scopes: vec!["openid"], redirect_uri: "http://127.0.0.1:1/" });
        let approve = html.find(r#"value="approve""#).expect("the page must have an Approve button");
        let deny = html.find(r#"value="deny""#).expect("the page must have a Deny button");
        assert!(approve < deny, "Approve must come first: the first submit button is the form's default");
    }

    #[test]
    fn the_grantex_consent_page_escapes_what_the_developer_sent_and_puts_approve_first() {
        let scopes = ["<b>read</b>".to_string()];
        let html = grantex_consent(&GrantexConsent {
            request_id: "areq_1",
            agent_did: "did:grantex:ag_demo_agent",
            principal_id: "<script>x</script>",
            scopes: &scopes,
            redirect_uri: "http://127.0.0.1:1/?a=1&b=2",
        });
        assert!(html.contains(DEMO_LABEL), "the page must carry the demo label");
        assert!(!html.contains("<script>") && !html.contains("<b>"), "echoed values must never become markup");
        assert!(html.contains("&lt;b&gt;read&lt;/b&gt;") && html.contains("a=1&amp;b=2"), "they are shown escaped");
        assert!(html.contains(r#"name="req" value="areq_1""#), "the form posts the request id back");
        let approve = html.find(r#"value="approve""#).expect("an Approve button");
        assert!(approve < html.find(r#"value="deny""#).expect("a Deny button"), "Approve must come first");
    }

    #[test]
    fn the_code_page_shows_the_code_escaped_in_its_element() {
        let html = code("abc#<b>&'\"");
        assert!(
            html.contains(r#"<code id="pasted-code">abc#&lt;b&gt;&amp;&#39;&quot;</code>"#),
            "the code must be shown whole, escaped, in the element tests look for"
        );
        assert!(!html.contains("<b>"), "an echoed value must never become markup");
    }

    #[test]
    fn the_code_error_page_escapes_the_error_and_its_description() {
        let html = code_error("<i>denied</i>", Some("<script>x</script>"));
        assert!(
            html.contains(r#"<code id="code-error">&lt;i&gt;denied&lt;/i&gt;</code>"#),
            "the error is shown escaped"
        );
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt;") && !html.contains("<script>"), "and its description");
        assert!(!html.contains("pasted-code"), "an error page offers no code to paste");
    }

    #[test]
    fn every_page_says_it_is_the_demo_provider() {
        assert!(error("Oops", "m").contains(DEMO_LABEL), "error pages must carry the demo label");
        assert!(code("c#s").contains(DEMO_LABEL), "the code page must carry the demo label");
        assert!(code_error("access_denied", None).contains(DEMO_LABEL), "so must its error version");
        let html = consent(&Consent { request_id: "r", scopes: vec![], redirect_uri: "" });
        assert!(html.contains(DEMO_LABEL), "the consent page must carry the demo label");
        assert!(html.contains("Demo User") && html.contains("&lt;demo@pixy.invalid&gt;"), "it must name the demo user");
    }
}
