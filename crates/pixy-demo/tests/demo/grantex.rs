//! The Grantex side: the API with its developer keys, the consent and code pages, the RS256 grant tokens and their
//! JWKS, refresh with rotation and idempotent retries, and revocation.

use std::collections::HashMap;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use pixy_demo::{
    DemoConfig, DemoServer, GrantexConfig, GRANTEX_AGENT_DID, GRANTEX_AGENT_ID, GRANTEX_API_KEY,
    GRANTEX_SANDBOX_API_KEY,
};
use reqwest::header::CACHE_CONTROL;
use reqwest::{Client, Response, StatusCode};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use rsa::{BigUint, RsaPublicKey};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::support::{http, location, text, Pkce};

/// A state as Grantex asks for it: at least 32 characters.
const STATE: &str = "grantex-state-0123456789abcdef-0123456789";
/// Where the sandbox tests ask to be sent back. Nothing listens there: the tests read the 303.
const LOOPBACK: &str = "http://127.0.0.1:9/grantex/callback";
/// An idempotency key as Pixy sends one.
const IDEMPOTENCY_KEY: &str = "pixy-refresh-0001-abcdef";

/// A server with the Grantex side configured.
async fn server_with(grantex: GrantexConfig) -> DemoServer {
    DemoServer::start_with_grantex(DemoConfig::default(), grantex).await.unwrap()
}

/// The authorize body Pixy sends, for `redirect_uri`, `overrides` replacing or adding members.
fn authorize_body(pkce: &Pkce, redirect_uri: &str, overrides: Value) -> Value {
    let mut body = json!({
        "agentId": GRANTEX_AGENT_ID,
        "principalId": "demo-principal",
        "scopes": ["calendar:read", "email:send"],
        "redirectUri": redirect_uri,
        "state": STATE,
        "codeChallenge": pkce.challenge,
        "codeChallengeMethod": "S256",
    });
    for (name, value) in overrides.as_object().unwrap() {
        body[name] = value.clone();
    }
    body
}

/// A JSON call with a developer API key.
async fn call(server: &DemoServer, key: &str, path: &str, body: &Value) -> Response {
    http().post(format!("{}{path}", server.issuer())).bearer_auth(key).json(body).send().await.unwrap()
}

/// `POST /v1/authorize`, checking it answered 201; returns the answer.
async fn authorized(server: &DemoServer, key: &str, body: &Value) -> Value {
    let response = call(server, key, "/v1/authorize", body).await;
    assert_eq!(response.status(), StatusCode::CREATED, "a valid authorization request is created");
    response.json().await.unwrap()
}

/// A sandbox request's approved code.
async fn sandbox_code(server: &DemoServer, pkce: &Pkce) -> String {
    let answer = authorized(server, GRANTEX_SANDBOX_API_KEY, &authorize_body(pkce, LOOPBACK, json!({}))).await;
    text(&answer, "code").to_string()
}

/// `POST /v1/token` as Pixy sends it, with the sandbox key.
async fn exchange(server: &DemoServer, code: &str, verifier: &str) -> Response {
    let body = json!({ "code": code, "agentId": GRANTEX_AGENT_ID, "codeVerifier": verifier });
    call(server, GRANTEX_SANDBOX_API_KEY, "/v1/token", &body).await
}

/// A sandbox grant: the 201 answer of its code exchange.
async fn granted(server: &DemoServer) -> Value {
    let pkce = Pkce::fresh();
    let code = sandbox_code(server, &pkce).await;
    let response = exchange(server, &code, &pkce.verifier).await;
    assert_eq!(response.status(), StatusCode::CREATED, "an approved code exchanges with its verifier");
    response.json().await.unwrap()
}

/// `POST /v1/token/refresh` with the sandbox key and `idempotency_key`.
async fn refresh(server: &DemoServer, refresh_token: &str, idempotency_key: Option<&str>) -> Response {
    let body = json!({ "refreshToken": refresh_token, "agentId": GRANTEX_AGENT_ID });
    let mut request =
        http().post(format!("{}/v1/token/refresh", server.issuer())).bearer_auth(GRANTEX_SANDBOX_API_KEY).json(&body);
    if let Some(key) = idempotency_key {
        request = request.header("idempotency-key", key);
    }
    request.send().await.unwrap()
}

/// `DELETE /v1/grants/{grant_id}` with `key`.
async fn delete_grant(server: &DemoServer, key: &str, grant_id: &str) -> Response {
    http().delete(format!("{}/v1/grants/{grant_id}", server.issuer())).bearer_auth(key).send().await.unwrap()
}

/// The `message` and `code` of a Grantex error, checking its status and its request id.
async fn grantex_error(response: Response, status: StatusCode) -> (String, String) {
    assert_eq!(response.status(), status, "the error's status");
    let header = response.headers().get("x-request-id").expect("an error carries x-request-id").to_str().unwrap();
    let header = header.to_string();
    let body: Value = response.json().await.unwrap();
    assert_eq!(text(&body, "requestId"), header, "the body's requestId is the x-request-id header's");
    assert!(!header.is_empty(), "a request id is never empty");
    (text(&body, "message").to_string(), text(&body, "code").to_string())
}

/// The message of a 400 Grantex error.
async fn refusal(response: Response) -> String {
    grantex_error(response, StatusCode::BAD_REQUEST).await.0
}

/// The query of a 303's Location, checking it goes to `redirect_uri`.
fn sent_to(response: &Response, redirect_uri: &str) -> HashMap<String, String> {
    let url = reqwest::Url::parse(&location(response)).unwrap();
    assert_eq!(&url[..url::Position::AfterPath], redirect_uri, "the browser must go to the redirect URI");
    url.query_pairs().into_owned().collect()
}

/// Answers the consent page at `consent_url` as its form does; returns the reply to the post.
async fn consent(http: &Client, consent_url: &str, decision: &str) -> Response {
    let page = http.get(consent_url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK, "the consent page answers");
    let html = page.text().await.unwrap();
    let marker = r#"name="req" value=""#;
    let start = html.find(marker).expect("the consent page carries its request id") + marker.len();
    let request = &html[start..start + html[start..].find('"').unwrap()];
    let action = reqwest::Url::parse(consent_url).unwrap().join("/grantex/consent").unwrap();
    http.post(action).form(&[("req", request), ("decision", decision)]).send().await.unwrap()
}

/// A JWT's header and claims, not verified.
fn parts(token: &str) -> (Value, Value) {
    let mut segments = token.split('.');
    let mut decode = || serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segments.next().unwrap()).unwrap()).unwrap();
    (decode(), decode())
}

/// Verifies `token` against the server's JWKS as a client would (the key its `kid` names, RS256); returns the
/// claims, or `None` when the signature does not verify.
async fn verified(server: &DemoServer, token: &str) -> Option<Value> {
    let jwks: Value =
        http().get(format!("{}/.well-known/jwks.json", server.issuer())).send().await.unwrap().json().await.unwrap();
    let (header, claims) = parts(token);
    assert_eq!(header["alg"], "RS256", "grant tokens are RS256");
    let jwk =
        jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == header["kid"]).expect("the kid is in the JWKS");
    let number = |name: &str| BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(text(jwk, name)).unwrap());
    let key = VerifyingKey::<Sha256>::new(RsaPublicKey::new(number("n"), number("e")).unwrap());
    let (input, signature) = token.rsplit_once('.').unwrap();
    let signature = Signature::try_from(URL_SAFE_NO_PAD.decode(signature).unwrap().as_slice()).unwrap();
    key.verify(input.as_bytes(), &signature).ok().map(|()| claims)
}

#[tokio::test]
async fn a_sandbox_authorization_is_approved_at_once_and_its_code_exchanges() {
    let server = DemoServer::start(0).await.unwrap();
    let pkce = Pkce::fresh();
    let answer = authorized(&server, GRANTEX_SANDBOX_API_KEY, &authorize_body(&pkce, LOOPBACK, json!({}))).await;
    assert_eq!(answer["sandbox"], true, "the sandbox says so");
    let id = text(&answer, "authRequestId");
    assert_eq!(
        text(&answer, "consentUrl"),
        format!("{}/grantex/consent?req={id}", server.issuer()),
        "a sandbox answer still carries the consent page"
    );
    let expires_at = text(&answer, "expiresAt");
    assert!(expires_at.len() == 24 && expires_at.ends_with('Z') && expires_at.as_bytes()[10] == b'T', "ISO 8601 UTC");

    let response = exchange(&server, text(&answer, "code"), &pkce.verifier).await;
    assert_eq!(response.status(), StatusCode::CREATED, "the sandbox's code is approved already");
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store", "an answer with tokens is never cached");
    let grant: Value = response.json().await.unwrap();
    assert_eq!(grant["scopes"], json!(["calendar:read", "email:send"]), "the scopes asked for are granted");
    for name in ["grantToken", "refreshToken", "grantId", "expiresAt"] {
        assert!(!text(&grant, name).is_empty(), "{name} is part of the answer");
    }
    assert_eq!(server.stats().grantex_token, 1, "one code exchange was served");
}

#[tokio::test]
async fn the_production_key_refuses_a_loopback_redirect() {
    let server = DemoServer::start(0).await.unwrap();
    let body = authorize_body(&Pkce::fresh(), LOOPBACK, json!({}));
    let (message, code) =
        grantex_error(call(&server, GRANTEX_API_KEY, "/v1/authorize", &body).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "INVALID_REDIRECT_URI", "a loopback redirect is a redirect problem");
    assert_eq!(
        message, "redirectUri must be a registered https URL; loopback redirects are refused in production",
        "the message says why, as a production server does"
    );
    let body = authorize_body(&Pkce::fresh(), "https://app.example/callback", json!({}));
    let (_, code) =
        grantex_error(call(&server, GRANTEX_API_KEY, "/v1/authorize", &body).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "INVALID_REDIRECT_URI", "an unregistered page is refused too");
    let body = authorize_body(&Pkce::fresh(), "https://app.example/callback", json!({}));
    let (_, code) =
        grantex_error(call(&server, GRANTEX_SANDBOX_API_KEY, "/v1/authorize", &body).await, StatusCode::BAD_REQUEST)
            .await;
    assert_eq!(code, "INVALID_REDIRECT_URI", "the sandbox allows loopback and the code page, nothing else");
}

#[tokio::test]
async fn the_production_key_links_through_consent_and_the_code_page() {
    let server = DemoServer::start(0).await.unwrap();
    let http = http();
    let pkce = Pkce::fresh();
    let code_page = server.grantex_code_page_uri();
    let answer = authorized(&server, GRANTEX_API_KEY, &authorize_body(&pkce, &code_page, json!({}))).await;
    assert!(answer.get("code").is_none() && answer.get("sandbox").is_none(), "production waits for the person");

    let approved = consent(&http, text(&answer, "consentUrl"), "approve").await;
    let params = sent_to(&approved, &code_page);
    assert_eq!(params["state"], STATE, "the state goes back with the code");
    let page = http.get(location(&approved)).send().await.unwrap().text().await.unwrap();
    let shown = format!("<code id=\"pasted-code\">{}#{STATE}</code>", params["code"]);
    assert!(page.contains(&shown), "the code page shows code#state, ready to paste");

    let body = json!({
        "code": params["code"],
        "agentId": GRANTEX_AGENT_ID,
        "codeVerifier": pkce.verifier,
        "redirectUri": code_page,
    });
    let response = call(&server, GRANTEX_API_KEY, "/v1/token", &body).await;
    assert_eq!(response.status(), StatusCode::CREATED, "the approved code exchanges, with its redirect repeated");
    let grant: Value = response.json().await.unwrap();
    let claims = verified(&server, text(&grant, "grantToken")).await.expect("the token verifies");
    assert_eq!(claims["dev"], "dev_pixy_demo", "the production-like developer's grant");
}

#[tokio::test]
async fn a_sandbox_loopback_redirect_gets_a_code_after_consent() {
    let server = DemoServer::start(0).await.unwrap();
    let pkce = Pkce::fresh();
    let answer = authorized(&server, GRANTEX_SANDBOX_API_KEY, &authorize_body(&pkce, LOOPBACK, json!({}))).await;
    let params = sent_to(&consent(&http(), text(&answer, "consentUrl"), "approve").await, LOOPBACK);
    assert_eq!(params["state"], STATE, "the state goes back to the listener");
    let response = exchange(&server, &params["code"], &pkce.verifier).await;
    assert_eq!(response.status(), StatusCode::CREATED, "the code the listener got exchanges");
    let again = exchange(&server, text(&answer, "code"), &pkce.verifier).await;
    assert_eq!(refusal(again).await, "Invalid code", "one exchange ends the request, and every code of it");
}

#[tokio::test]
async fn a_denial_sends_access_denied_back() {
    let server = DemoServer::start(0).await.unwrap();
    let http = http();
    let answer =
        authorized(&server, GRANTEX_SANDBOX_API_KEY, &authorize_body(&Pkce::fresh(), LOOPBACK, json!({}))).await;
    let params = sent_to(&consent(&http, text(&answer, "consentUrl"), "deny").await, LOOPBACK);
    assert_eq!(params["error"], "access_denied", "a denial goes back as access_denied");
    assert_eq!(params["state"], STATE, "with the state");
    assert!(!params.contains_key("code"), "and no code");

    let code_page = server.grantex_code_page_uri();
    let answer = authorized(&server, GRANTEX_API_KEY, &authorize_body(&Pkce::fresh(), &code_page, json!({}))).await;
    let denied = consent(&http, text(&answer, "consentUrl"), "deny").await;
    assert_eq!(sent_to(&denied, &code_page)["error"], "access_denied", "the code page gets the denial");
    let page = http.get(location(&denied)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"<code id="code-error">access_denied</code>"#), "and names it");
    assert!(!page.contains("pasted-code"), "with no code to paste");
}

#[tokio::test]
async fn a_consent_page_is_hardened_shows_the_request_and_is_answered_once() {
    let server = DemoServer::start(0).await.unwrap();
    let http = http();
    let body = authorize_body(&Pkce::fresh(), LOOPBACK, json!({ "principalId": "<b>alice</b>", "scopes": ["a&b"] }));
    let answer = authorized(&server, GRANTEX_SANDBOX_API_KEY, &body).await;
    let consent_url = text(&answer, "consentUrl");
    let page = http.get(consent_url).send().await.unwrap();
    let headers = page.headers().clone();
    assert_eq!(headers[CACHE_CONTROL], "no-store", "the page carries a capability: never cache it");
    assert_eq!(headers["referrer-policy"], "no-referrer", "its address must not leave in a Referer");
    assert!(headers["content-security-policy"].to_str().unwrap().contains("default-src 'none'"), "no script");
    let html = page.text().await.unwrap();
    assert!(html.contains("Pixy Demo provider — not a real account"), "the page says it is the demo");
    assert!(html.contains(GRANTEX_AGENT_DID), "it names the agent");
    assert!(html.contains("&lt;b&gt;alice&lt;/b&gt;") && !html.contains("<b>alice"), "the principal, escaped");
    assert!(html.contains("<code>a&amp;b</code>"), "the scopes, escaped");

    assert_eq!(consent(&http, consent_url, "approve").await.status(), StatusCode::SEE_OTHER, "the first answer");
    let again = http.get(consent_url).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::BAD_REQUEST, "an answered page is not shown again");
    let unknown = http.get(format!("{}/grantex/consent?req=areq_unknown", server.issuer())).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST, "an unknown request has no page");
}

#[tokio::test]
async fn every_token_refusal_has_grantexs_message() {
    let server = server_with(GrantexConfig { code_ttl: Duration::from_millis(300), ..GrantexConfig::default() }).await;
    let pkce = Pkce::fresh();

    let unknown = exchange(&server, "never-issued", &pkce.verifier).await;
    assert_eq!(refusal(unknown).await, "Invalid code", "an unknown code");

    let code = sandbox_code(&server, &pkce).await;
    let body = json!({ "code": code, "agentId": "ag_other", "codeVerifier": pkce.verifier });
    let other_agent = call(&server, GRANTEX_SANDBOX_API_KEY, "/v1/token", &body).await;
    assert_eq!(refusal(other_agent).await, "Invalid code", "a code asked for another agent");

    let code = sandbox_code(&server, &pkce).await;
    let body = json!({ "code": code, "agentId": GRANTEX_AGENT_ID, "codeVerifier": pkce.verifier });
    let other_developer = call(&server, GRANTEX_API_KEY, "/v1/token", &body).await;
    assert_eq!(refusal(other_developer).await, "Invalid code", "another developer's code");

    let code = sandbox_code(&server, &pkce).await;
    assert_eq!(exchange(&server, &code, &pkce.verifier).await.status(), StatusCode::CREATED, "the first exchange");
    let response = exchange(&server, &code, &pkce.verifier).await;
    let message = refusal(response).await;
    assert_eq!(message, "Invalid code", "a used code");
    assert!(!message.contains(&code), "a refusal never echoes the code");

    let answer = authorized(&server, GRANTEX_SANDBOX_API_KEY, &authorize_body(&pkce, LOOPBACK, json!({}))).await;
    consent(&http(), text(&answer, "consentUrl"), "deny").await;
    let denied = exchange(&server, text(&answer, "code"), &pkce.verifier).await;
    assert_eq!(refusal(denied).await, "Auth request not approved", "a sandbox code whose request was then denied");

    let code = sandbox_code(&server, &pkce).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let expired = exchange(&server, &code, &pkce.verifier).await;
    assert_eq!(refusal(expired).await, "Auth request expired", "a code past its lifetime");

    let code = sandbox_code(&server, &pkce).await;
    let body = json!({ "code": code, "agentId": GRANTEX_AGENT_ID });
    let missing = call(&server, GRANTEX_SANDBOX_API_KEY, "/v1/token", &body).await;
    assert_eq!(refusal(missing).await, "codeVerifier is required for PKCE", "no verifier");

    let code = sandbox_code(&server, &pkce).await;
    let wrong_verifier = Pkce::fresh().verifier;
    let response = exchange(&server, &code, &wrong_verifier).await;
    let message = refusal(response).await;
    assert_eq!(message, "Invalid codeVerifier", "another verifier");
    assert!(!message.contains(&wrong_verifier), "a refusal never echoes the verifier");

    let code = sandbox_code(&server, &pkce).await;
    let body = json!({
        "code": code, "agentId": GRANTEX_AGENT_ID, "codeVerifier": pkce.verifier, "redirectUri": "http://127.0.0.1:10/x",
    });
    let response = call(&server, GRANTEX_SANDBOX_API_KEY, "/v1/token", &body).await;
    let (_, code) = grantex_error(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "REDIRECT_URI_MISMATCH", "a redirectUri that is not the request's");

    let response = call(&server, GRANTEX_SANDBOX_API_KEY, "/v1/token", &json!({ "agentId": GRANTEX_AGENT_ID })).await;
    assert_eq!(refusal(response).await, "code and agentId are required", "no code");
    assert_eq!(server.stats().grantex_token, 1, "only the one good exchange counts");
}

#[tokio::test]
async fn a_missing_short_or_long_state_is_refused() {
    let server = DemoServer::start(0).await.unwrap();
    let pkce = Pkce::fresh();
    for state in [Value::Null, json!(""), json!("s".repeat(31)), json!(31)] {
        let body = authorize_body(&pkce, LOOPBACK, json!({ "state": state }));
        let response = call(&server, GRANTEX_SANDBOX_API_KEY, "/v1/authorize", &body).await;
        let (message, code) = grantex_error(response, StatusCode::BAD_REQUEST).await;
        assert_eq!((message.as_str(), code.as_str()), ("state must be at least 32 characters", "STATE_REQUIRED"));
    }
    let body = authorize_body(&pkce, LOOPBACK, json!({ "state": "s".repeat(1025) }));
    let response = call(&server, GRANTEX_SANDBOX_API_KEY, "/v1/authorize", &body).await;
    assert_eq!(refusal(response).await, "state must be at most 1024 characters", "state is bounded");
    let body = authorize_body(&pkce, LOOPBACK, json!({ "state": "s".repeat(32) }));
    authorized(&server, GRANTEX_SANDBOX_API_KEY, &body).await;
}

#[tokio::test]
async fn an_authorization_request_out_of_shape_is_refused_with_a_clear_message() {
    let server = DemoServer::start(0).await.unwrap();
    let pkce = Pkce::fresh();
    for (overrides, expected) in [
        (json!({ "agentId": "ag_someone_else" }), "agentId is not an agent of this developer"),
        (json!({ "agentId": null }), "agentId is required"),
        (json!({ "principalId": "" }), "principalId is required"),
        (json!({ "scopes": [] }), "scopes must be a non-empty array of strings"),
        (json!({ "scopes": "calendar:read" }), "scopes must be a non-empty array of strings"),
        (json!({ "codeChallengeMethod": "plain" }), "codeChallengeMethod must be S256"),
        (json!({ "codeChallenge": "too-short" }), "codeChallenge must be 43 characters of base64url"),
        (json!({ "redirectUri": null }), "redirectUri is required"),
    ] {
        let body = authorize_body(&pkce, LOOPBACK, overrides.clone());
        let response = call(&server, GRANTEX_SANDBOX_API_KEY, "/v1/authorize", &body).await;
        assert_eq!(refusal(response).await, expected, "{overrides} is refused with its reason");
    }
    let response = http()
        .post(format!("{}/v1/authorize", server.issuer()))
        .bearer_auth(GRANTEX_SANDBOX_API_KEY)
        .header("content-type", "application/json")
        .body(r#"{"agentId": "a", "agentId": "b"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(refusal(response).await, "a parameter was sent more than once", "a repeated member is ambiguous");
}

#[tokio::test]
async fn an_unknown_or_missing_api_key_is_401_with_a_request_id() {
    let server = DemoServer::start(0).await.unwrap();
    let body = authorize_body(&Pkce::fresh(), LOOPBACK, json!({}));
    let response = call(&server, "sk-not-a-demo-key", "/v1/authorize", &body).await;
    let (message, code) = grantex_error(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!((message.as_str(), code.as_str()), ("Invalid API key", "UNAUTHORIZED"), "Grantex's 401");
    let response = http().post(format!("{}/v1/token", server.issuer())).json(&body).send().await.unwrap();
    let (message, _) = grantex_error(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(message, "Invalid API key", "no key at all is refused alike");
    let response = delete_grant(&server, "sk-not-a-demo-key", "grnt_x").await;
    grantex_error(response, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn the_jwks_publishes_one_rs256_signing_key() {
    let server = DemoServer::start(0).await.unwrap();
    let jwks: Value =
        http().get(format!("{}/.well-known/jwks.json", server.issuer())).send().await.unwrap().json().await.unwrap();
    let keys = jwks["keys"].as_array().expect("a JWKS has keys");
    assert_eq!(keys.len(), 1, "one key");
    let key = &keys[0];
    assert_eq!((&key["kty"], &key["use"], &key["alg"]), (&json!("RSA"), &json!("sig"), &json!("RS256")));
    for name in ["n", "e", "kid"] {
        assert!(!text(key, name).contains('='), "{name} is base64url without padding");
    }
    assert!(key.get("d").is_none() && key.get("p").is_none(), "nothing private is published");
}

#[tokio::test]
async fn the_grant_token_verifies_against_the_jwks_and_carries_the_legacy_claims() {
    let server = DemoServer::start(0).await.unwrap();
    let grant = granted(&server).await;
    let token = text(&grant, "grantToken");
    let (header, _) = parts(token);
    assert_eq!(header["typ"], "JWT", "the header names its type");
    let claims = verified(&server, token).await.expect("a grant token verifies against the server's JWKS");
    assert_eq!(claims["iss"], server.issuer(), "iss is the demo issuer");
    assert_eq!(claims["sub"], "demo-principal", "sub is the principal");
    assert_eq!(claims["agt"], GRANTEX_AGENT_DID, "agt is the agent's DID");
    assert_eq!(claims["scp"], json!(["calendar:read", "email:send"]), "scp is an array of scopes");
    assert_eq!(claims["grnt"], grant["grantId"], "grnt is the grant id of the answer");
    assert_eq!(claims["dev"], "dev_pixy_demo_sandbox", "dev is the developer");
    assert!(!text(&claims, "jti").is_empty(), "every token has an id");
    let (iat, exp) = (claims["iat"].as_u64().unwrap(), claims["exp"].as_u64().unwrap());
    assert_eq!(exp - iat, 3600, "a grant lasts an hour by default");
    assert!(claims.get("scope").is_none(), "the newer names are not there by default");
}

#[tokio::test]
async fn the_newer_claim_names_are_used_when_switched_on() {
    let server = server_with(GrantexConfig { new_claim_names: true, ..GrantexConfig::default() }).await;
    let grant = granted(&server).await;
    let claims = verified(&server, text(&grant, "grantToken")).await.expect("the token verifies");
    assert_eq!(claims["scope"], "calendar:read email:send", "scope is space-separated");
    assert_eq!(claims["urn:grantex:grant.agent_did"], GRANTEX_AGENT_DID);
    assert_eq!(claims["urn:grantex:grant.grant_id"], grant["grantId"]);
    assert_eq!(claims["urn:grantex:grant.developer_id"], "dev_pixy_demo_sandbox");
    for legacy in ["agt", "scp", "grnt", "dev"] {
        assert!(claims.get(legacy).is_none(), "{legacy} is not there with the newer names");
    }
}

#[tokio::test]
async fn a_forged_grant_token_does_not_verify_against_the_jwks() {
    let server = server_with(GrantexConfig { forge_signature: true, ..GrantexConfig::default() }).await;
    let grant = granted(&server).await;
    let token = text(&grant, "grantToken");
    let (_, claims) = parts(token);
    assert_eq!(claims["grnt"], grant["grantId"], "the forged token looks like any other");
    assert!(verified(&server, token).await.is_none(), "but its signature is not the JWKS key's");
}

#[tokio::test]
async fn refresh_keeps_the_grants_exp_rotates_and_repeats_an_idempotent_retry() {
    let server = DemoServer::start(0).await.unwrap();
    let grant = granted(&server).await;
    let (_, first) = parts(text(&grant, "grantToken"));
    // A second later, so a server that restarted the lifetime would give another exp.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let response = refresh(&server, text(&grant, "refreshToken"), Some(IDEMPOTENCY_KEY)).await;
    assert_eq!(response.status(), StatusCode::CREATED, "a refresh answers 201");
    let refreshed: Value = response.json().await.unwrap();
    let claims = verified(&server, text(&refreshed, "grantToken")).await.expect("the new token verifies");
    assert_eq!(claims["exp"], first["exp"], "a refreshed grant token keeps the grant's own exp");
    assert!(claims["iat"].as_u64() > first["iat"].as_u64(), "but is issued now");
    assert_ne!(claims["jti"], first["jti"], "with a new token id");
    assert_eq!(refreshed["expiresAt"], grant["expiresAt"], "the answer's expiresAt is the grant's");
    assert_eq!(refreshed["grantId"], grant["grantId"], "the same grant");
    assert_ne!(refreshed["refreshToken"], grant["refreshToken"], "the refresh token rotates");

    let retry = refresh(&server, text(&grant, "refreshToken"), Some(IDEMPOTENCY_KEY)).await;
    assert_eq!(retry.status(), StatusCode::CREATED, "a retry with the same Idempotency-Key is answered");
    assert_eq!(retry.json::<Value>().await.unwrap(), refreshed, "with the same answer");
    assert_eq!(server.stats().grantex_refresh, 1, "the retry did not rotate again");

    let replay = refresh(&server, text(&grant, "refreshToken"), Some("another-key-0000001")).await;
    assert_eq!(refusal(replay).await, "Invalid refresh token", "a used refresh token is single use");
    let next = refresh(&server, text(&refreshed, "refreshToken"), Some("the-next-key-000001")).await;
    assert_eq!(next.status(), StatusCode::CREATED, "the rotated refresh token works");
}

#[tokio::test]
async fn refresh_needs_an_idempotency_key() {
    let server = DemoServer::start(0).await.unwrap();
    let grant = granted(&server).await;
    let response = refresh(&server, text(&grant, "refreshToken"), None).await;
    assert_eq!(refusal(response).await, "Idempotency-Key header is required", "the header is required");
    let response = refresh(&server, text(&grant, "refreshToken"), Some("short")).await;
    assert_eq!(refusal(response).await, "Idempotency-Key must contain 16 to 256 characters", "and bounded");
    let response = refresh(&server, text(&grant, "refreshToken"), Some(IDEMPOTENCY_KEY)).await;
    assert_eq!(response.status(), StatusCode::CREATED, "refusals for the header do not spend the refresh token");
}

#[tokio::test]
async fn refresh_after_the_grants_exp_is_grant_expired() {
    let server = server_with(GrantexConfig { grant_ttl: Duration::from_millis(400), ..GrantexConfig::default() }).await;
    let grant = granted(&server).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let response = refresh(&server, text(&grant, "refreshToken"), Some(IDEMPOTENCY_KEY)).await;
    assert_eq!(refusal(response).await, "Grant expired", "a grant ends at its exp, refresh or not");
}

#[tokio::test]
async fn a_deleted_grant_refreshes_no_more() {
    let server = DemoServer::start(0).await.unwrap();
    let grant = granted(&server).await;
    let grant_id = text(&grant, "grantId");
    let response = delete_grant(&server, GRANTEX_API_KEY, grant_id).await;
    let (message, code) = grantex_error(response, StatusCode::NOT_FOUND).await;
    assert_eq!((message.as_str(), code.as_str()), ("Grant not found", "NOT_FOUND"), "another developer's grant");

    let response = delete_grant(&server, GRANTEX_SANDBOX_API_KEY, grant_id).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT, "its developer ends it");
    assert!(response.headers().contains_key("x-request-id"), "every answer carries a request id");
    assert_eq!(server.stats().grantex_revoked, 1, "one grant was revoked");
    let response = refresh(&server, text(&grant, "refreshToken"), Some(IDEMPOTENCY_KEY)).await;
    assert_eq!(refusal(response).await, "Grant revoked", "a revoked grant is named as such");
}

#[tokio::test]
async fn deleting_an_unknown_grant_is_404() {
    let server = DemoServer::start(0).await.unwrap();
    let response = delete_grant(&server, GRANTEX_SANDBOX_API_KEY, "grnt_never_issued").await;
    let (message, code) = grantex_error(response, StatusCode::NOT_FOUND).await;
    assert_eq!((message.as_str(), code.as_str()), ("Grant not found", "NOT_FOUND"), "Grantex's 404");
    let wrong_method = http().get(format!("{}/v1/grants/grnt_x", server.issuer())).send().await.unwrap();
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED, "grants are only deleted here");
}

#[cfg(feature = "person")]
#[tokio::test]
async fn the_person_approves_a_grantex_request_and_copies_code_hash_state() {
    use pixy_demo::person::{code_page, grantex_consent, Decision};
    let server = DemoServer::start(0).await.unwrap();
    let pkce = Pkce::fresh();
    let body = authorize_body(&pkce, &server.grantex_code_page_uri(), json!({}));
    let answer = authorized(&server, GRANTEX_API_KEY, &body).await;
    let address = grantex_consent(text(&answer, "consentUrl"), Decision::Approve).await;
    let pasted = code_page(&address).await;
    let (code, state) = pasted.rsplit_once('#').expect("the person copies code#state");
    assert_eq!(state, STATE, "the state is the request's");
    let body = json!({ "code": code, "agentId": GRANTEX_AGENT_ID, "codeVerifier": pkce.verifier });
    let response = call(&server, GRANTEX_API_KEY, "/v1/token", &body).await;
    assert_eq!(response.status(), StatusCode::CREATED, "what the person copied links");
}

#[cfg(feature = "person")]
#[tokio::test]
async fn the_person_denying_a_grantex_request_sends_access_denied_to_the_listener() {
    use pixy_demo::person::{grantex_consent, Decision};
    let server = DemoServer::start(0).await.unwrap();
    let answer =
        authorized(&server, GRANTEX_SANDBOX_API_KEY, &authorize_body(&Pkce::fresh(), LOOPBACK, json!({}))).await;
    let address = grantex_consent(text(&answer, "consentUrl"), Decision::Deny).await;
    let url = reqwest::Url::parse(&address).unwrap();
    assert_eq!(&url[..url::Position::AfterPath], LOOPBACK, "the browser goes back to the listener");
    let params: HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!((params["error"].as_str(), params["state"].as_str()), ("access_denied", STATE));
}
