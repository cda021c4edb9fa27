//! The Grantex protocol: a person's grant to an AI agent, asked of the Grantex auth service.
//!
//! The contract (the auth service and its SDK):
//! - every call is JSON with camelCase keys and `Authorization: Bearer <developer API key>`;
//!   errors come back as `{message, code, requestId}` and are mapped to Pixy's kinds here;
//! - `POST /v1/authorize` answers a consent URL for the browser (and, in sandbox mode, an
//!   already approved code); the consent page redirects with `code` and `state`;
//! - `POST /v1/token {code, agentId, codeVerifier}` answers the grant token, a refresh token and
//!   the grant id; the server does not bind the redirect at the exchange, so the flow's state
//!   check is the only binding and is never skipped;
//! - `POST /v1/token/refresh` with an `Idempotency-Key` rotates the single-use refresh token;
//! - `DELETE /v1/grants/{id}` ends the grant (unlink).
//!
//! Every grant token is verified ([`crate::grant_token`]) before it is kept.

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::error::{Error, ErrorKind, Result};
use crate::exchange::TokenSet;
use crate::grant_token::GrantClaims;
use crate::http::{network_error, read_capped};
use crate::provider::{GrantexSettings, Provider};
use crate::revoke::Revocation;
use crate::secret::{AccessToken, ApiKey, AuthCode, PkceVerifier, RefreshToken, State};

/// What the authorize call answered.
#[derive(Debug)]
pub struct Authorization {
    /// Where the person consents.
    pub consent_url: String,
    /// A sandbox service's code, approved already: no browser is needed.
    pub approved_code: Option<AuthCode>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAuthorization {
    consent_url: Option<String>,
    code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawGrant {
    grant_token: Option<String>,
    refresh_token: Option<String>,
    grant_id: Option<String>,
    scopes: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawError {
    message: Option<String>,
    code: Option<String>,
    request_id: Option<String>,
}

/// Which call failed, for the words of its error.
#[derive(Clone, Copy, PartialEq)]
enum Call {
    Authorize,
    Exchange,
    Refresh,
    Revoke,
}

/// The provider's Grantex service.
fn service(provider: &Provider) -> Result<&GrantexSettings> {
    provider
        .grantex
        .as_ref()
        .ok_or_else(|| Error::new(ErrorKind::Internal, format!("{} is not a Grantex provider", provider.id)))
}

/// The provider's Grantex settings, with the agent and principal a link needs.
pub fn settings(provider: &Provider) -> Result<&GrantexSettings> {
    let settings = service(provider)?;
    let missing: Vec<&str> = [("agent_id", &settings.agent_id), ("principal_id", &settings.principal_id)]
        .into_iter()
        .filter(|(_, value)| value.trim().is_empty())
        .map(|(key, _)| key)
        .collect();
    if !missing.is_empty() {
        return Err(Error::new(
            ErrorKind::ProviderConfig,
            format!(
                "{} needs the agent the grant is for and who grants it: set {} in an entry with id = {:?} in \
                 providers.toml",
                provider.label,
                missing.join(" and "),
                provider.id
            ),
        ));
    }
    Ok(settings)
}

/// Asks for a grant: the consent URL, or a sandbox's approved code.
pub async fn authorize(
    http: &reqwest::Client,
    provider: &Provider,
    api_key: &ApiKey,
    redirect_uri: &str,
    state: &State,
    challenge: &str,
    scopes: &[String],
) -> Result<Authorization> {
    let body = authorize_body(provider, redirect_uri, state, challenge, scopes)?;
    let answer =
        call(http, provider, api_key, Method::POST, "/v1/authorize", Some(body), None, Call::Authorize).await?;
    let raw: RawAuthorization = serde_json::from_slice(&answer).map_err(|_| garbage("authorize"))?;
    let consent_url = raw.consent_url.ok_or_else(|| garbage("authorize"))?;
    // As parsed: whatever reaches a terminal or the browser is a well-formed URL, no raw text.
    let consent_url = crate::http::check_endpoint("Grantex consent page", &consent_url)?.to_string();
    Ok(Authorization { consent_url, approved_code: raw.code.filter(|c| !c.is_empty()).map(AuthCode::new) })
}

/// The authorize call's body: what the consent asks for, and the flow's state and challenge.
fn authorize_body(
    provider: &Provider,
    redirect_uri: &str,
    state: &State,
    challenge: &str,
    scopes: &[String],
) -> Result<serde_json::Value> {
    let settings = settings(provider)?;
    let scopes = if scopes.is_empty() { &provider.default_scopes } else { scopes };
    Ok(json!({
        "agentId": settings.agent_id,
        "principalId": settings.principal_id,
        "scopes": scopes,
        "redirectUri": redirect_uri,
        "state": state.expose(),
        "codeChallenge": challenge,
        "codeChallengeMethod": crate::pkce::CHALLENGE_METHOD,
    }))
}

/// Exchanges a code for a verified grant.
pub async fn exchange(
    http: &reqwest::Client,
    provider: &Provider,
    api_key: &ApiKey,
    code: AuthCode,
    verifier: &PkceVerifier,
    redirect_uri: &str,
    now: u64,
) -> Result<TokenSet> {
    let settings = settings(provider)?;
    let body = json!({
        "code": code.expose(),
        "agentId": settings.agent_id,
        "codeVerifier": verifier.expose(),
        "redirectUri": redirect_uri,
    });
    let answer = call(http, provider, api_key, Method::POST, "/v1/token", Some(body), None, Call::Exchange).await?;
    grant(http, provider, api_key, &answer, now, Call::Exchange).await
}

/// A key for one refresh and its retries: Grantex answers a retry with the same key alike
/// rather than spending the single-use refresh token twice.
pub fn idempotency_key() -> String {
    crate::pkce::base64url(&crate::secret::random_bytes::<16>())
}

/// Trades the single-use refresh token for a new grant token and refresh token; every retry of
/// one refresh carries the same `idempotency_key`.
pub async fn refresh(
    http: &reqwest::Client,
    provider: &Provider,
    api_key: &ApiKey,
    refresh_token: &RefreshToken,
    idempotency_key: &str,
    now: u64,
) -> Result<TokenSet> {
    let settings = settings(provider)?;
    let body = json!({ "refreshToken": refresh_token.expose(), "agentId": settings.agent_id });
    let path = "/v1/token/refresh";
    let key = Some(idempotency_key);
    let answer = call(http, provider, api_key, Method::POST, path, Some(body), key, Call::Refresh).await?;
    grant(http, provider, api_key, &answer, now, Call::Refresh).await
}

/// Ends the grant at the service.
pub async fn revoke_grant(http: &reqwest::Client, provider: &Provider, api_key: &ApiKey, grant_id: &str) -> Revocation {
    let path = format!("/v1/grants/{}", url::form_urlencoded::byte_serialize(grant_id.as_bytes()).collect::<String>());
    match call(http, provider, api_key, Method::DELETE, &path, None, None, Call::Revoke).await {
        Ok(_) => Revocation::Revoked,
        Err(e) => {
            tracing::info!(error = %e, "Grantex did not confirm the end of the grant");
            Revocation::NotConfirmed
        }
    }
}

/// A grant answer, its token verified. A new grant whose token is not to be trusted is ended
/// rather than left live with nothing naming it (not when the check merely could not run).
async fn grant(
    http: &reqwest::Client,
    provider: &Provider,
    api_key: &ApiKey,
    answer: &[u8],
    now: u64,
    what: Call,
) -> Result<TokenSet> {
    let raw: RawGrant = serde_json::from_slice(answer).map_err(|_| garbage("token"))?;
    let token = raw.grant_token.filter(|t| !t.is_empty()).ok_or_else(|| garbage("token"))?;
    let jwks = format!("{}/.well-known/jwks.json", service(provider)?.base_url);
    let claims: GrantClaims = match crate::grant_token::verify(http, &jwks, &token, &provider.issuer, now).await {
        Ok(claims) => claims,
        Err(e) => {
            if let (Call::Exchange, ErrorKind::TokenEndpoint, Some(grant_id)) = (what, e.kind, &raw.grant_id) {
                let revocation = revoke_grant(http, provider, api_key, grant_id).await;
                tracing::warn!(?revocation, "a grant whose token failed verification was ended");
            }
            return Err(e);
        }
    };
    // Without its id a grant could never be ended from here: not kept.
    let grant_id = raw.grant_id.or(claims.grant_id.clone()).ok_or_else(|| garbage("token"))?;
    let label = match &claims.agent {
        Some(agent) => format!("{} for {}", claims.subject, agent),
        None => claims.subject.clone(),
    };
    let scopes = if claims.scopes.is_empty() { raw.scopes } else { Some(claims.scopes.clone()) };
    Ok(TokenSet {
        access_token: AccessToken::new(token),
        refresh_token: raw.refresh_token.filter(|t| !t.is_empty()).map(RefreshToken::new),
        id_token: None,
        lifetime: Some(claims.expires_at.saturating_sub(now).max(1)),
        scopes,
        account: Some((claims.subject, Some(crate::text::printable(&label, 200)))),
        grant_id: Some(grant_id),
        expires_at: Some(claims.expires_at),
    })
}

#[allow(clippy::too_many_arguments)]
async fn call(
    http: &reqwest::Client,
    provider: &Provider,
    api_key: &ApiKey,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
    idempotency_key: Option<&str>,
    what: Call,
) -> Result<Vec<u8>> {
    let url = format!("{}{path}", service(provider)?.base_url);
    let mut request = http.request(method, &url).bearer_auth(api_key.expose()).header("accept", "application/json");
    if let Some(body) = &body {
        request = request.json(body);
    }
    if let Some(key) = idempotency_key {
        request = request.header("idempotency-key", key);
    }
    let resp = request.send().await.map_err(|e| network_error("the Grantex request", &url, &e))?;
    let status = resp.status();
    let body = read_capped("Grantex", &url, resp).await?;
    tracing::debug!(status = status.as_u16(), path, "Grantex answered");
    if status.is_success() {
        return Ok(body);
    }
    let raw: RawError = serde_json::from_slice(&body).unwrap_or_default();
    Err(api_error(provider, status, &raw, what))
}

fn garbage(call: &str) -> Error {
    Error::new(ErrorKind::TokenEndpoint, format!("Grantex sent an answer to the {call} call that is not Grantex's"))
}

/// Grantex's `{message, code, requestId}` as one of Pixy's errors, in words.
fn api_error(provider: &Provider, status: StatusCode, raw: &RawError, what: Call) -> Error {
    let message = raw.message.as_deref().map(|m| crate::text::printable(m, 200)).unwrap_or_else(|| status.to_string());
    let code: String =
        raw.code.as_deref().unwrap_or("").chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect();
    let request =
        raw.request_id.as_deref().map(|r| format!(" (request {})", crate::text::printable(r, 64))).unwrap_or_default();
    let said = format!("{message}{request}");
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Error::new(
            ErrorKind::ProviderConfig,
            format!(
                "Grantex refused the developer API key: {said}; give the right one with `pixy link {} --api-key-stdin`",
                provider.id
            ),
        );
    }
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        return Error::new(ErrorKind::Network, format!("Grantex is not answering now: {said}; try again shortly"));
    }
    match what {
        Call::Authorize if code.contains("REDIRECT") || message.to_ascii_lowercase().contains("redirect") => {
            let how = if provider.paste_redirect_uri.is_some() {
                "register that page for the agent at Grantex"
            } else {
                "this server refuses redirects to this computer: set paste_redirect_uri in providers.toml to the \
                 https page registered for the agent that shows the code, and link by paste"
            };
            Error::new(ErrorKind::ProviderConfig, format!("Grantex refused the redirect: {said}; {how}"))
        }
        Call::Exchange => Error::new(ErrorKind::TokenEndpoint, format!("Grantex refused the code: {said}")),
        Call::Refresh if status.is_client_error() => {
            Error::new(ErrorKind::NeedsRelink, format!("Grantex no longer renews this grant: {said}; link it again"))
        }
        Call::Authorize => Error::new(ErrorKind::TokenEndpoint, format!("Grantex refused the request: {said}")),
        Call::Refresh | Call::Revoke => {
            Error::new(ErrorKind::TokenEndpoint, format!("Grantex answered {}: {said}", status.as_u16()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// The Grantex preset as a person completes it.
    fn preset() -> Provider {
        let mut table = crate::presets::preset("grantex").unwrap().table.clone();
        table.insert("agent_id".into(), "ag_01".into());
        table.insert("principal_id".into(), "you@example.com".into());
        table.insert("scopes".into(), toml::Value::Array(vec!["files:read".into()]));
        let config = crate::provider::ProviderConfig::deserialize(toml::Value::Table(table)).unwrap();
        config.into_provider(None).unwrap()
    }

    /// Pins the Grantex preset's authorize request, as the claude and chatgpt presets' URLs are
    /// pinned: where it goes and the body, key order and all.
    #[test]
    fn the_grantex_preset_asks_for_a_grant_in_the_services_own_shape() {
        let provider = preset();
        assert_eq!(
            format!("{}/v1/authorize", service(&provider).unwrap().base_url),
            "https://api.grantex.dev/v1/authorize"
        );
        let body =
            authorize_body(&provider, "http://127.0.0.1:9/callback", &State::new("STATE"), "CHALLENGE", &[]).unwrap();
        assert_eq!(
            body.to_string(),
            r#"{"agentId":"ag_01","codeChallenge":"CHALLENGE","codeChallengeMethod":"S256","principalId":"you@example.com","redirectUri":"http://127.0.0.1:9/callback","scopes":["files:read"],"state":"STATE"}"#
        );
    }

    #[test]
    fn grantex_errors_become_pixys_kinds_in_words_that_name_the_request() {
        let provider = preset();
        let raw = |message: &str, code: &str| RawError {
            message: Some(message.into()),
            code: Some(code.into()),
            request_id: Some("req_1".into()),
        };
        let cases = [
            (StatusCode::UNAUTHORIZED, Call::Exchange, ErrorKind::ProviderConfig, "API key"),
            (
                StatusCode::BAD_REQUEST,
                Call::Exchange,
                ErrorKind::TokenEndpoint,
                "refused the code: Invalid codeVerifier",
            ),
            (StatusCode::BAD_REQUEST, Call::Refresh, ErrorKind::NeedsRelink, "link it again"),
            (StatusCode::SERVICE_UNAVAILABLE, Call::Refresh, ErrorKind::Network, "try again"),
            (StatusCode::BAD_REQUEST, Call::Authorize, ErrorKind::ProviderConfig, "paste_redirect_uri"),
        ];
        for (status, call, kind, words) in cases {
            let message = if call == Call::Authorize { "redirectUri must be https" } else { "Invalid codeVerifier" };
            let e = api_error(&provider, status, &raw(message, "BAD_REQUEST"), call);
            assert_eq!(e.kind, kind, "{status} {message}");
            assert!(e.message.contains(words) && e.message.contains("(request req_1)"), "{}", e.message);
        }
    }
}
