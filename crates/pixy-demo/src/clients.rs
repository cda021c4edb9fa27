//! The clients the demo knows, keyed by client id. Each reproduces the shape of one provider Pixy has a preset
//! for, so a test can point that preset at the demo and keep its own client id, parameters, redirect and token
//! body:
//! - [`DEMO_CLIENT_ID`], Pixy's own: any loopback redirect URI, form-encoded token requests.
//! - [`CLAUDE_CLIENT_ID`], Claude's shape: the browser goes back to the demo's own code page, which shows
//!   `code#state` for the person to paste into the app; the authorization request carries `code=true` and a
//!   `state`; token requests are JSON and repeat that `state`.
//! - [`CHATGPT_CLIENT_ID`], ChatGPT's shape: exactly two localhost redirect URIs (ports 1455 and 1457); the
//!   authorization request carries `id_token_add_organizations=true` and `codex_cli_simplified_flow=true`;
//!   form-encoded token requests.
//!
//! Invariants: every client is public and needs PKCE S256, alike for all; a redirect URI is accepted only under
//! its own client's rule, and the browser is never sent anywhere else. The ids are those providers' public
//! client ids, which are not secrets: using them lets a preset be tested unchanged. The demo is still only the
//! demo, with its own pages, user and tokens; it imitates the shape of a flow, never a provider's identity.

use url::{Host, Url};

use crate::code_page;
use crate::form::{Encoding, Params};

/// Pixy's own public client id: loopback redirect URIs, form-encoded token requests.
pub const DEMO_CLIENT_ID: &str = "pixy-demo";

/// Claude's public client id: the redirect URI is the demo's code page ([`crate::DemoServer::code_page_uri`]),
/// the authorization request carries `code=true` and `state`, token requests are JSON and repeat `state`.
pub const CLAUDE_CLIENT_ID: &str = "9d1c250a-e61b-44d9-88ed-5944d1962f5e";

/// ChatGPT's public client id: redirect URIs `http://localhost:1455/auth/callback` or
/// `http://localhost:1457/auth/callback` only, the authorization request carries
/// `id_token_add_organizations=true` and `codex_cli_simplified_flow=true`, token requests are form-encoded.
pub const CHATGPT_CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";

/// One client the demo knows.
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) id: &'static str,
    redirects: Redirects,
    /// Parameters its authorization requests must carry, each with exactly this value.
    required: &'static [(&'static str, &'static str)],
    /// Its authorization requests must carry `state`, and its code exchanges must repeat it.
    pub(crate) state_bound: bool,
    /// How its token requests are encoded; the other encoding is refused, so a preset that sends the wrong
    /// shape fails here as it would at the real provider.
    pub(crate) token_body: Encoding,
    /// Its token responses name the account (`account.uuid`, `account.email_address`), as Claude's do: such a
    /// client asks for no `openid`, so no ID token or userinfo says who signed in.
    pub(crate) account_in_token_response: bool,
    /// The scopes it may ask for.
    pub(crate) scopes: &'static [&'static str],
}

/// The scopes of an OpenID Connect client.
const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// Where a client's browser may be sent back.
#[derive(Debug)]
enum Redirects {
    /// Any `http` loopback URI with a port (RFC 8252 §7.3).
    Loopback,
    /// Only the demo's own code page, which shows the code instead of handing it to a listener.
    CodePage,
    /// Exactly one of these URIs, compared as strings.
    Exactly(&'static [&'static str]),
}

static CLIENTS: [Client; 3] = [
    Client {
        id: DEMO_CLIENT_ID,
        redirects: Redirects::Loopback,
        required: &[],
        state_bound: false,
        token_body: Encoding::Form,
        account_in_token_response: false,
        scopes: OIDC_SCOPES,
    },
    Client {
        id: CLAUDE_CLIENT_ID,
        redirects: Redirects::CodePage,
        required: &[("code", "true")],
        state_bound: true,
        token_body: Encoding::Json,
        account_in_token_response: true,
        scopes: &["org:create_api_key", "user:profile", "user:inference"],
    },
    Client {
        id: CHATGPT_CLIENT_ID,
        redirects: Redirects::Exactly(&["http://localhost:1455/auth/callback", "http://localhost:1457/auth/callback"]),
        required: &[("id_token_add_organizations", "true"), ("codex_cli_simplified_flow", "true")],
        state_bound: false,
        token_body: Encoding::Form,
        account_in_token_response: false,
        scopes: OIDC_SCOPES,
    },
];

/// The client with this id, if the demo knows it.
pub(crate) fn find(client_id: &str) -> Option<&'static Client> {
    CLIENTS.iter().find(|client| client.id == client_id)
}

/// The known client ids, quoted, for a page that names them.
pub(crate) fn known_ids() -> String {
    let quoted: Vec<String> = CLIENTS.iter().map(|client| format!("\"{}\"", client.id)).collect();
    quoted.join(", ")
}

impl Client {
    /// The parsed redirect URI if this client may send the browser there, for a server at `issuer`.
    pub(crate) fn redirect(&self, redirect_uri: &str, issuer: &str) -> Option<Url> {
        match self.redirects {
            Redirects::Loopback => loopback_redirect(redirect_uri),
            Redirects::CodePage => {
                (redirect_uri == code_page::uri(issuer)).then(|| Url::parse(redirect_uri).ok()).flatten()
            }
            Redirects::Exactly(uris) => uris.contains(&redirect_uri).then(|| Url::parse(redirect_uri).ok()).flatten(),
        }
    }

    /// Where this client may send the browser, in words for the page that refuses another redirect URI.
    pub(crate) fn redirect_rule(&self, issuer: &str) -> String {
        match self.redirects {
            Redirects::Loopback => {
                "an app on this computer (http://127.0.0.1, http://localhost or http://[::1] with a port)".to_string()
            }
            Redirects::CodePage => format!("the demo's own code page, {}", code_page::uri(issuer)),
            Redirects::Exactly(uris) => format!("exactly {}", uris.join(" or ")),
        }
    }

    /// The first parameter this client's authorization requests must carry that `params` lacks or has with
    /// another value, as `name=value`.
    pub(crate) fn missing_parameter(&self, params: &Params) -> Option<String> {
        self.required
            .iter()
            .find(|(name, value)| params.get(name) != Some(*value))
            .map(|(name, value)| format!("{name}={value}"))
    }
}

/// The parsed redirect URI if it is one the demo may send a browser to: `http`, a loopback host, an explicit port,
/// no credentials and no fragment (RFC 6749 §3.1.2, RFC 8252 §7.3).
pub(crate) fn loopback_redirect(redirect_uri: &str) -> Option<Url> {
    let url = Url::parse(redirect_uri).ok()?;
    let loopback = match url.host()? {
        Host::Ipv4(ip) => ip == std::net::Ipv4Addr::LOCALHOST,
        Host::Ipv6(ip) => ip == std::net::Ipv6Addr::LOCALHOST,
        Host::Domain(name) => name == "localhost",
    };
    let plain = url.username().is_empty() && url.password().is_none() && url.fragment().is_none();
    (url.scheme() == "http" && loopback && url.port().is_some() && plain).then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUER: &str = "http://127.0.0.1:4000";

    fn client(id: &str) -> &'static Client {
        find(id).expect("a client the demo knows")
    }

    #[test]
    fn loopback_redirects_with_a_port_are_accepted() {
        for uri in ["http://127.0.0.1:8080/callback", "http://localhost:1/", "http://[::1]:65535/cb?x=1"] {
            assert!(loopback_redirect(uri).is_some(), "{uri} is a loopback redirect RFC 8252 §7.3 allows");
        }
    }

    #[test]
    fn other_redirects_are_refused() {
        for uri in [
            "https://127.0.0.1:8080/callback",  // loopback redirects are plain http
            "http://127.0.0.1/callback",        // a native app's listener always has a port
            "http://example.com:8080/callback", // not this machine
            "http://127.0.0.2:8080/callback",   // not the loopback address RFC 8252 names
            "http://localhost.example:8080/",   // a lookalike name
            "http://user@127.0.0.1:8080/",      // credentials in a redirect are never legitimate
            "http://127.0.0.1:8080/cb#frag",    // RFC 6749 §3.1.2: no fragment
            "com.example.app:/callback",        // private-use schemes are not the demo's business
            "not a url",
        ] {
            assert!(loopback_redirect(uri).is_none(), "{uri} must not be accepted as a redirect");
        }
    }

    #[test]
    fn the_claude_client_may_only_go_back_to_the_code_page() {
        let claude = client(CLAUDE_CLIENT_ID);
        assert!(claude.redirect("http://127.0.0.1:4000/oauth/code/callback", ISSUER).is_some(), "its one redirect");
        for uri in [
            "http://127.0.0.1:4000/oauth/code/callback?x=1", // exact match: no query added
            "http://127.0.0.1:4000/oauth/code/callback/",    // nor a trailing slash
            "http://localhost:4000/oauth/code/callback",     // another spelling of the host is another URI
            "http://127.0.0.1:4001/oauth/code/callback",     // another server's page
            "http://127.0.0.1:9/callback",                   // a loopback listener is not its shape
        ] {
            assert!(claude.redirect(uri, ISSUER).is_none(), "{uri} must not be accepted for the Claude client");
        }
    }

    #[test]
    fn the_chatgpt_client_may_only_use_its_two_registered_redirects() {
        let chatgpt = client(CHATGPT_CLIENT_ID);
        for uri in ["http://localhost:1455/auth/callback", "http://localhost:1457/auth/callback"] {
            assert!(chatgpt.redirect(uri, ISSUER).is_some(), "{uri} is registered for the ChatGPT client");
        }
        for uri in [
            "http://localhost:1456/auth/callback", // another port
            "http://127.0.0.1:1455/auth/callback", // another host spelling
            "http://localhost:1455/callback",      // another path
            "http://localhost:1455/auth/callback?x=1",
        ] {
            assert!(chatgpt.redirect(uri, ISSUER).is_none(), "{uri} must not be accepted for the ChatGPT client");
        }
    }

    #[test]
    fn required_parameters_must_carry_their_exact_value() {
        let chatgpt = client(CHATGPT_CLIENT_ID);
        let all = Params::parse(b"id_token_add_organizations=true&codex_cli_simplified_flow=true").unwrap();
        assert_eq!(chatgpt.missing_parameter(&all), None, "both parameters with value true are enough");
        let one = Params::parse(b"id_token_add_organizations=true").unwrap();
        assert_eq!(chatgpt.missing_parameter(&one).as_deref(), Some("codex_cli_simplified_flow=true"));
        let wrong = Params::parse(b"code=false").unwrap();
        assert_eq!(
            client(CLAUDE_CLIENT_ID).missing_parameter(&wrong).as_deref(),
            Some("code=true"),
            "false is not true"
        );
        assert_eq!(client(DEMO_CLIENT_ID).missing_parameter(&wrong), None, "Pixy's own client needs nothing extra");
    }

    #[test]
    fn unknown_client_ids_are_not_found() {
        assert!(find("someone-else").is_none(), "only the listed clients are known");
        assert!(find(&CLAUDE_CLIENT_ID.to_uppercase()).is_none(), "client ids are compared exactly");
    }
}
