//! Token endpoint requests: the code exchange (RFC 6749 §4.1.3 + RFC 7636 §4.5) and the shared
//! request/response handling that [`crate::refresh`] uses too.
//!
//! A response is accepted only if it is JSON with an `access_token`; anything else (HTML, garbage,
//! an oversized body) is a [`ErrorKind::TokenEndpoint`] error that quotes no part of the body but
//! the OAuth `error` code. `invalid_grant` on a refresh means [`ErrorKind::NeedsRelink`].

use serde::Deserialize;

use crate::error::{redact_url, Error, ErrorKind, Result};
use crate::http::{network_error, read_capped};
use crate::provider::{Provider, TokenBody};
use crate::registration::ClientAuth;
use crate::secret::{AccessToken, AuthCode, IdToken, PkceVerifier, RefreshToken, State};

/// The tokens a provider issued, with what Pixy keeps about them.
#[derive(Debug, Clone)]
pub struct TokenSet {
    /// The access token.
    pub access_token: AccessToken,
    /// The refresh token, if one was issued.
    pub refresh_token: Option<RefreshToken>,
    /// The ID token, if one was issued.
    pub id_token: Option<IdToken>,
    /// How long the access token lives, in seconds, if the provider said (or, for a refreshable
    /// token, [`ASSUMED_LIFETIME`]); the daemon's clock turns it into an expiry.
    pub lifetime: Option<u64>,
    /// Granted scopes, if the provider said.
    pub scopes: Option<Vec<String>>,
    /// Who signed in, when the token response says so itself (`account.uuid` and
    /// `account.email_address`, as Claude's does): for a provider with no ID token or userinfo.
    pub account: Option<(String, Option<String>)>,
    /// The grant the tokens belong to, where the protocol names one (Grantex): ending it unlinks.
    pub grant_id: Option<String>,
    /// The expiry the token itself carries, in seconds since the epoch (a Grantex grant token's
    /// `exp`), which wins over [`TokenSet::lifetime`]: a refresh that keeps it is recognised.
    pub expires_at: Option<u64>,
}

impl TokenSet {
    /// When the access token expires, for tokens obtained at `now`.
    pub fn expiry(&self, now: u64) -> Option<u64> {
        self.expires_at.or_else(|| self.lifetime.map(|seconds| now + seconds))
    }
}

#[derive(Deserialize)]
struct RawTokenResponse {
    access_token: Option<String>,
    token_type: Option<String>,
    expires_in: Option<serde_json::Value>,
    refresh_token: Option<String>,
    id_token: Option<String>,
    scope: Option<String>,
    account: Option<RawAccount>,
}

#[derive(Deserialize)]
struct RawAccount {
    uuid: Option<String>,
    email_address: Option<String>,
}

#[derive(Deserialize)]
struct RawError {
    error: String,
    error_description: Option<String>,
}

/// Exchanges an authorization code and its verifier for tokens. `state` goes along only to a
/// provider that asks for it ([`Provider::token_request_state`]).
pub async fn exchange_code(
    http: &reqwest::Client,
    provider: &Provider,
    code: AuthCode,
    verifier: &PkceVerifier,
    redirect_uri: &str,
    state: &State,
) -> Result<TokenSet> {
    let mut fields = vec![
        ("grant_type", "authorization_code"),
        ("code", code.expose()),
        ("redirect_uri", redirect_uri),
        ("client_id", &provider.client_id),
        ("code_verifier", verifier.expose()),
    ];
    if provider.token_request_state {
        fields.push(("state", state.expose()));
    }
    token_request(http, provider, &fields, "code").await
}

/// POSTs the fields to the provider's token endpoint, as a form or as JSON, and parses the answer.
pub async fn token_request(
    http: &reqwest::Client,
    provider: &Provider,
    fields: &[(&str, &str)],
    grant: &str,
) -> Result<TokenSet> {
    let endpoint = provider.token_endpoint.as_str();
    let resp = token_post(http, provider, fields)
        .send()
        .await
        .map_err(|e| network_error("the token request", endpoint, &e))?;
    let status = resp.status();
    let body = read_capped("token endpoint", endpoint, resp).await?;
    tracing::debug!(status = status.as_u16(), grant, bytes = body.len(), "token endpoint answered");
    if status.is_redirection() {
        return Err(Error::new(
            ErrorKind::TokenEndpoint,
            format!("the token endpoint {} answered with a redirect, which Pixy never follows", redact_url(endpoint)),
        ));
    }
    if status.is_server_error() {
        // Transient by nature (RFC 6749's server_error, temporarily_unavailable): retried.
        return Err(Error::new(
            ErrorKind::Network,
            format!("the token endpoint {} answered {status}", redact_url(endpoint)),
        ));
    }
    if !status.is_success() {
        if let Ok(err) = serde_json::from_slice::<RawError>(&body) {
            return Err(oauth_error(&err, grant));
        }
        let kind = ErrorKind::TokenEndpoint;
        return Err(Error::new(kind, format!("the token endpoint {} answered {status}", redact_url(endpoint))));
    }
    parse_token_response(&body, endpoint)
}

/// A POST of the fields to the provider's token endpoint, in the body shape it takes, with the
/// client's authentication and the resource the tokens are for.
pub fn token_post(http: &reqwest::Client, provider: &Provider, fields: &[(&str, &str)]) -> reqwest::RequestBuilder {
    let mut fields = fields.to_vec();
    if let Some(resource) = &provider.resource {
        fields.push(("resource", resource));
    }
    let (request, fields) = authenticated(http.post(&provider.token_endpoint), provider, fields);
    let request = request.header("accept", "application/json");
    match provider.token_body {
        TokenBody::Form => request.form(&fields),
        TokenBody::Json => request.json(&fields.iter().copied().collect::<std::collections::BTreeMap<_, _>>()),
    }
}

/// The request and its fields with the client's authentication (RFC 6749 §2.3.1): a public
/// client sends its id as it is; Basic replaces the id in the body with the header; the body
/// form adds the secret.
pub fn authenticated<'a>(
    request: reqwest::RequestBuilder,
    provider: &'a Provider,
    mut fields: Vec<(&'a str, &'a str)>,
) -> (reqwest::RequestBuilder, Vec<(&'a str, &'a str)>) {
    let secret = provider.client_secret.as_ref().map(|s| s.expose()).unwrap_or_default();
    match provider.client_auth {
        ClientAuth::None => (request, fields),
        ClientAuth::ClientSecretBasic => {
            fields.retain(|(k, _)| *k != "client_id");
            let encode = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
            let pair = format!("{}:{}", encode(&provider.client_id), encode(secret));
            let basic = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pair.as_bytes());
            (request.header("authorization", format!("Basic {basic}")), fields)
        }
        ClientAuth::ClientSecretPost => {
            if !fields.iter().any(|(k, _)| *k == "client_id") {
                fields.push(("client_id", &provider.client_id));
            }
            fields.push(("client_secret", secret));
            (request, fields)
        }
    }
}

fn oauth_error(err: &RawError, grant: &str) -> Error {
    let code: String = err.error.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect();
    let description = err
        .error_description
        .as_deref()
        .map(|d| crate::text::printable(d, 200))
        .filter(|d| !d.is_empty())
        .map(|d| format!(" ({d})"))
        .unwrap_or_default();
    if code == "invalid_grant" && grant == "refresh" {
        return Error::new(
            ErrorKind::NeedsRelink,
            format!("the provider no longer accepts this account's refresh token{description}; link it again"),
        );
    }
    Error::new(ErrorKind::TokenEndpoint, format!("the provider refused the {grant}: {code}{description}"))
}

/// Parses a successful token response.
pub fn parse_token_response(body: &[u8], endpoint: &str) -> Result<TokenSet> {
    let garbage = || {
        Error::new(
            ErrorKind::TokenEndpoint,
            format!("the token endpoint {} sent a response that is not a token response", redact_url(endpoint)),
        )
    };
    let raw: RawTokenResponse = serde_json::from_slice(body).map_err(|_| garbage())?;
    let access_token = raw.access_token.filter(|t| !t.is_empty()).ok_or_else(garbage)?;
    if let Some(tt) = &raw.token_type {
        if !tt.eq_ignore_ascii_case("bearer") && !tt.eq_ignore_ascii_case("dpop") {
            return Err(Error::new(
                ErrorKind::TokenEndpoint,
                format!("unsupported token type {:?}", tt.chars().take(20).collect::<String>()),
            ));
        }
    }
    let refresh_token = raw.refresh_token.filter(|t| !t.is_empty()).map(RefreshToken::new);
    let lifetime = match raw.expires_in.as_ref().map(lifetime_seconds) {
        Some(Some(seconds)) => Some(seconds),
        Some(None) => {
            tracing::info!("the token response's expires_in is not a lifetime; it is treated as unknown");
            None
        }
        None => None,
    };
    let mut tokens = TokenSet {
        access_token: AccessToken::new(access_token),
        refresh_token,
        id_token: raw.id_token.filter(|t| !t.is_empty()).map(IdToken::new),
        lifetime,
        scopes: raw.scope.map(|s| s.split_whitespace().map(String::from).collect()),
        account: raw
            .account
            .and_then(|a| Some((a.uuid.filter(|u| !u.is_empty())?, a.email_address.filter(|e| !e.is_empty())))),
        grant_id: None,
        expires_at: None,
    };
    if tokens.refresh_token.is_some() {
        tokens.assume_short_lifetime_if_unknown();
    }
    Ok(tokens)
}

/// The longest lifetime believed: a longer one is nonsense, not "forever".
const MAX_LIFETIME: u64 = 365 * 24 * 3600;

/// What a token of unknown lifetime is taken to live, when it can be refreshed: short, so a
/// token that does expire is never handed out dead for long.
pub const ASSUMED_LIFETIME: u64 = 300;

/// `expires_in` as whole seconds: a number or a numeric string (some providers send one), above
/// zero and at most [`MAX_LIFETIME`]; `None` when it is not such a lifetime (zero would mean a
/// refresh on every use).
fn lifetime_seconds(value: &serde_json::Value) -> Option<u64> {
    let seconds = match value {
        serde_json::Value::Number(n) => n.as_u64().map(|s| s as f64).or_else(|| n.as_f64())?,
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (seconds.is_finite() && (1.0..=MAX_LIFETIME as f64).contains(&seconds)).then_some(seconds as u64)
}

impl TokenSet {
    /// A refreshable token whose provider did not say when it expires is refreshed after
    /// [`ASSUMED_LIFETIME`] rather than never.
    pub fn assume_short_lifetime_if_unknown(&mut self) {
        if self.lifetime.is_none() {
            tracing::info!(seconds = ASSUMED_LIFETIME, "the token's lifetime is unknown; it is refreshed as if short");
            self.lifetime = Some(ASSUMED_LIFETIME);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn confidential(auth: ClientAuth) -> Provider {
        Provider {
            client_id: "id:with space".into(),
            client_secret: Some(crate::secret::ClientSecret::new("s&cret")),
            client_auth: auth,
            token_endpoint: "https://as.example/token".into(),
            resource: Some("https://mcp.example/mcp".into()),
            ..Provider::default()
        }
    }

    fn sent(provider: &Provider) -> (Option<String>, String) {
        let http = reqwest::Client::new();
        let request =
            token_post(&http, provider, &[("grant_type", "refresh_token"), ("client_id", &provider.client_id)])
                .build()
                .unwrap();
        let auth = request.headers().get("authorization").map(|v| v.to_str().unwrap().to_string());
        let body = String::from_utf8(request.body().unwrap().as_bytes().unwrap().to_vec()).unwrap();
        (auth, body)
    }

    #[test]
    fn basic_authentication_form_encodes_id_and_secret_and_keeps_them_out_of_the_body() {
        let (auth, body) = sent(&confidential(ClientAuth::ClientSecretBasic));
        let pair = "id%3Awith+space:s%26cret";
        let expected = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pair);
        assert_eq!(auth, Some(format!("Basic {expected}")), "RFC 6749 §2.3.1 encodes both before joining them");
        assert!(!body.contains("client_id") && !body.contains("s%26cret"), "{body}");
        assert!(
            body.contains("resource=https%3A%2F%2Fmcp.example%2Fmcp"),
            "the resource goes with every request: {body}"
        );
    }

    #[test]
    fn post_authentication_sends_the_secret_in_the_body_and_a_public_client_sends_none() {
        let (auth, body) = sent(&confidential(ClientAuth::ClientSecretPost));
        assert_eq!(auth, None);
        assert!(body.contains("client_id=id%3Awith+space") && body.contains("client_secret=s%26cret"), "{body}");
        let (auth, body) = sent(&confidential(ClientAuth::None));
        assert_eq!(auth, None);
        assert!(!body.contains("client_secret"), "a public client never sends a secret: {body}");
    }

    #[test]
    fn a_token_response_is_parsed_and_its_expiry_computed() {
        let body = br#"{"access_token":"at","token_type":"Bearer","expires_in":"60","refresh_token":"rt","scope":"openid email"}"#;
        let t = parse_token_response(body, "https://x/token").unwrap();
        assert_eq!(t.access_token.expose(), "at");
        assert_eq!(t.refresh_token.unwrap().expose(), "rt");
        assert_eq!(t.lifetime, Some(60));
        assert_eq!(t.scopes.unwrap(), vec!["openid", "email"]);
    }

    #[test]
    fn a_nonsense_lifetime_of_a_refreshable_token_is_taken_as_short_not_as_forever() {
        for expires_in in
            ["-5", "0", "0.5", "1e30", "18446744073709551616", "\"soon\"", "\"-1\"", "true", "null", "{}", "31622400"]
        {
            let body = format!(r#"{{"access_token":"at","refresh_token":"rt","expires_in":{expires_in}}}"#);
            let t = parse_token_response(body.as_bytes(), "https://x/token").unwrap();
            assert_eq!(t.lifetime, Some(ASSUMED_LIFETIME), "expires_in {expires_in} must not mean never");
        }
        let absent = parse_token_response(br#"{"access_token":"at","refresh_token":"rt"}"#, "https://x/t").unwrap();
        assert_eq!(absent.lifetime, Some(ASSUMED_LIFETIME), "an absent lifetime is short");
    }

    #[test]
    fn a_usable_lifetime_is_kept_and_an_unknown_one_without_refresh_stays_unknown() {
        for (expires_in, seconds) in [("3600", 3600), ("\"3600\"", 3600), ("3600.9", 3600), ("1", 1)] {
            let body = format!(r#"{{"access_token":"at","refresh_token":"rt","expires_in":{expires_in}}}"#);
            let lifetime = parse_token_response(body.as_bytes(), "https://x/token").unwrap().lifetime;
            assert_eq!(lifetime, Some(seconds), "{expires_in}");
        }
        // Nothing can renew it, so it is handed out until the provider refuses it.
        let t = parse_token_response(br#"{"access_token":"at","expires_in":-1}"#, "https://x/t").unwrap();
        assert_eq!(t.lifetime, None);
    }

    #[test]
    fn garbage_is_a_clear_error_that_quotes_nothing() {
        for body in [&b"<html>oops</html>"[..], b"{}", b"{\"access_token\":\"\"}", b"[1,2]"] {
            let err = parse_token_response(body, "https://x/token?secret=1").unwrap_err();
            assert_eq!(err.kind, ErrorKind::TokenEndpoint);
            assert!(!err.message.contains("oops") && !err.message.contains("secret=1"), "{}", err.message);
        }
    }

    #[test]
    fn an_error_description_loses_its_escape_sequences() {
        let raw = RawError {
            error: "invalid_request".into(),
            error_description: Some("bad\u{1b}[2J\u{1b}]52;c;eA==\u{7}".into()),
        };
        let e = oauth_error(&raw, "code");
        assert!(!e.message.chars().any(char::is_control), "{:?}", e.message);
        assert!(e.message.ends_with("(bad[2J]52;c;eA==)"), "{:?}", e.message);
    }

    #[test]
    fn invalid_grant_on_refresh_means_relink() {
        let e = oauth_error(&RawError { error: "invalid_grant".into(), error_description: None }, "refresh");
        assert_eq!(e.kind, ErrorKind::NeedsRelink);
        let e = oauth_error(&RawError { error: "invalid_grant".into(), error_description: None }, "code");
        assert_eq!(e.kind, ErrorKind::TokenEndpoint);
    }
}
