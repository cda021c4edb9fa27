//! The token endpoint: code exchange with PKCE, refresh with rotation, and its errors.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use pixy_demo::{DemoConfig, DemoServer, DEMO_CLIENT_ID};
use reqwest::header::CACHE_CONTROL;
use reqwest::StatusCode;

use crate::support::{
    approved_code, exchange, http, link, oauth_error, refresh, text, token_request, userinfo, Pkce, REDIRECT_URI,
};

#[tokio::test]
async fn the_right_verifier_exchanges_the_code_for_tokens() {
    let server = DemoServer::start(0).await.unwrap();
    let http = http();
    let pkce = Pkce::fresh();
    let code = approved_code(&server, &http, &pkce).await;
    let response = exchange(&server, &http, &code, &pkce.verifier).await;
    assert_eq!(response.status(), StatusCode::OK, "code + its verifier must be exchanged");
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store", "RFC 6749 §5.1: token replies are not cached");
    let tokens: serde_json::Value = response.json().await.unwrap();
    assert_eq!(text(&tokens, "token_type"), "Bearer", "the demo issues bearer tokens");
    assert_eq!(tokens["expires_in"], 3600, "access tokens live an hour by default");
    assert_eq!(text(&tokens, "scope"), "openid profile email offline_access", "the granted scope is reported");
    assert_eq!(text(&tokens, "access_token").len(), 43, "tokens are 32 random bytes in base64url");
    assert_eq!(text(&tokens, "refresh_token").len(), 43, "tokens are 32 random bytes in base64url");
    assert_eq!(server.stats().authorization_code, 1, "one code grant was served");

    let parts: Vec<&str> = text(&tokens, "id_token").split('.').collect();
    assert_eq!(parts.len(), 3, "the ID token is JWS compact: header.payload.signature");
    assert_eq!(parts[2], "", "the demo's ID token is unsigned, so its signature is empty");
    let decode = |part: &str| -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
    };
    assert_eq!(decode(parts[0]), serde_json::json!({"alg": "none", "typ": "JWT"}), "alg none says: unsigned");
    let claims = decode(parts[1]);
    assert_eq!(text(&claims, "iss"), server.issuer(), "the ID token names the issuer");
    assert_eq!(text(&claims, "sub"), "demo-user", "the demo user's subject");
    assert_eq!(text(&claims, "aud"), DEMO_CLIENT_ID, "the ID token is for the demo client");
    assert_eq!(text(&claims, "email"), "demo@pixy.invalid", "the demo user's email");
    assert_eq!(text(&claims, "name"), "Demo User", "the demo user's name");
    assert!(claims["exp"].as_u64() > claims["iat"].as_u64(), "the ID token expires after it was issued");

    let me = userinfo(&server, &http, text(&tokens, "access_token")).await;
    assert_eq!(me.status(), StatusCode::OK, "a fresh access token must be accepted");
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(
        me,
        serde_json::json!({"sub": "demo-user", "email": "demo@pixy.invalid", "name": "Demo User"}),
        "userinfo returns the demo user"
    );
}

#[tokio::test]
async fn token_endpoint_rejects_a_wrong_verifier() {
    let server = DemoServer::start(0).await.unwrap();
    let http = http();
    let code = approved_code(&server, &http, &Pkce::fresh()).await;
    let other = Pkce::fresh();
    let error = oauth_error(exchange(&server, &http, &code, &other.verifier).await).await;
    assert_eq!(error, "invalid_grant", "RFC 7636 §4.6: a verifier that does not match is invalid_grant");
    assert_eq!(server.stats().authorization_code, 0, "a refused exchange is not a served grant");
}

#[tokio::test]
async fn a_code_cannot_be_used_twice() {
    let server = DemoServer::start(0).await.unwrap();
    let http = http();
    let pkce = Pkce::fresh();
    let code = approved_code(&server, &http, &pkce).await;
    let first = exchange(&server, &http, &code, &pkce.verifier).await;
    assert_eq!(first.status(), StatusCode::OK, "the first exchange must work");
    let tokens: serde_json::Value = first.json().await.unwrap();
    let error = oauth_error(exchange(&server, &http, &code, &pkce.verifier).await).await;
    assert_eq!(error, "invalid_grant", "codes are one-use (RFC 6749 §4.1.2)");
    let me = userinfo(&server, &http, text(&tokens, "access_token")).await;
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED, "a replayed code revokes what it issued (RFC 6749 §4.1.2)");
}

#[tokio::test]
async fn a_code_is_bound_to_its_redirect_uri() {
    let server = DemoServer::start(0).await.unwrap();
    let http = http();
    let pkce = Pkce::fresh();
    let code = approved_code(&server, &http, &pkce).await;
    let other_redirect = format!("{REDIRECT_URI}/other");
    let response = token_request(
        &server,
        &http,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &other_redirect),
            ("client_id", DEMO_CLIENT_ID),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    assert_eq!(oauth_error(response).await, "invalid_grant", "RFC 6749 §4.1.3: the redirect URI must be identical");
}

#[tokio::test]
async fn refresh_rotates_and_the_old_refresh_token_gets_invalid_grant() {
    let server = DemoServer::start(0).await.unwrap();
    let http = http();
    let first = link(&server, &http).await;
    let response = refresh(&server, &http, text(&first, "refresh_token")).await;
    assert_eq!(response.status(), StatusCode::OK, "a current refresh token must refresh");
    let second: serde_json::Value = response.json().await.unwrap();
    assert_ne!(text(&second, "access_token"), text(&first, "access_token"), "a refresh issues a new access token");
    assert_ne!(text(&second, "refresh_token"), text(&first, "refresh_token"), "a refresh rotates the refresh token");
    assert_eq!(server.stats().refresh_token, 1, "one refresh grant was served");
    let me = userinfo(&server, &http, text(&second, "access_token")).await;
    assert_eq!(me.status(), StatusCode::OK, "the refreshed access token must work");

    let error = oauth_error(refresh(&server, &http, text(&first, "refresh_token")).await).await;
    assert_eq!(error, "invalid_grant", "the rotated-out refresh token must be dead");
    assert_eq!(server.stats().refresh_token, 1, "a refused refresh is not a served grant");
}

#[tokio::test]
async fn an_unknown_refresh_token_gets_invalid_grant() {
    let server = DemoServer::start(0).await.unwrap();
    let error = oauth_error(refresh(&server, &http(), "not-a-token-this-server-issued").await).await;
    assert_eq!(error, "invalid_grant", "RFC 6749 §5.2: an unknown refresh token is invalid_grant");
}

#[tokio::test]
async fn an_unknown_grant_type_is_unsupported_grant_type() {
    let server = DemoServer::start(0).await.unwrap();
    let response = token_request(&server, &http(), &[("grant_type", "password"), ("username", "demo")]).await;
    assert_eq!(oauth_error(response).await, "unsupported_grant_type", "the demo serves two grants only");
}

#[tokio::test]
async fn another_client_id_is_invalid_client() {
    let server = DemoServer::start(0).await.unwrap();
    let http = http();
    let pkce = Pkce::fresh();
    let code = approved_code(&server, &http, &pkce).await;
    let response = token_request(
        &server,
        &http,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", "someone-else"),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    assert_eq!(oauth_error(response).await, "invalid_client", "the demo knows one client");
}

#[tokio::test]
async fn a_request_missing_the_verifier_is_invalid_request() {
    let server = DemoServer::start(0).await.unwrap();
    let http = http();
    let code = approved_code(&server, &http, &Pkce::fresh()).await;
    let response = token_request(
        &server,
        &http,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", DEMO_CLIENT_ID),
        ],
    )
    .await;
    assert_eq!(oauth_error(response).await, "invalid_request", "PKCE is required: no verifier, no exchange");
}

#[tokio::test]
async fn an_access_token_is_refused_after_its_lifetime() {
    let config = DemoConfig { port: 0, access_token_ttl: Duration::from_millis(300) };
    let server = DemoServer::start_with(config).await.unwrap();
    let http = http();
    let tokens = link(&server, &http).await;
    assert_eq!(tokens["expires_in"], 1, "a sub-second lifetime is announced rounded up");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let me = userinfo(&server, &http, text(&tokens, "access_token")).await;
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED, "an expired access token must be refused");
    assert_eq!(
        me.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#,
        "RFC 6750 §3.1: say why the token was refused"
    );
    let second = refresh(&server, &http, text(&tokens, "refresh_token")).await;
    assert_eq!(second.status(), StatusCode::OK, "the refresh token outlives the access token");
}
