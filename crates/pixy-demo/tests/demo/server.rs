//! Discovery, routing and the server's own limits.

use std::time::Duration;

use pixy_demo::{DemoServer, DemoStats};
use reqwest::StatusCode;

use crate::support::{http, text};

#[tokio::test]
async fn metadata_names_the_endpoints_below_the_issuer() {
    let server = DemoServer::start(0).await.unwrap();
    assert_eq!(server.issuer(), format!("http://127.0.0.1:{}", server.port()), "the issuer is the loopback origin");
    for path in ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"] {
        let response = http().get(format!("{}{path}", server.issuer())).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path} must serve the metadata");
        let metadata: serde_json::Value = response.json().await.unwrap();
        let issuer = server.issuer();
        assert_eq!(text(&metadata, "issuer"), issuer, "RFC 8414 §3.3: issuer must equal the issuer URL");
        for (field, endpoint) in [
            ("authorization_endpoint", "/authorize"),
            ("token_endpoint", "/token"),
            ("revocation_endpoint", "/revoke"),
            ("userinfo_endpoint", "/userinfo"),
            ("introspection_endpoint", "/introspect"),
        ] {
            assert_eq!(text(&metadata, field), format!("{issuer}{endpoint}"), "{field} must point below the issuer");
        }
        let list = |field: &str| metadata[field].clone();
        assert_eq!(list("response_types_supported"), serde_json::json!(["code"]), "only the code flow");
        assert_eq!(
            list("grant_types_supported"),
            serde_json::json!(["authorization_code", "refresh_token"]),
            "the two grants the token endpoint serves"
        );
        assert_eq!(list("code_challenge_methods_supported"), serde_json::json!(["S256"]), "PKCE S256 only");
        assert_eq!(list("token_endpoint_auth_methods_supported"), serde_json::json!(["none"]), "public client");
        assert_eq!(
            list("scopes_supported"),
            serde_json::json!(["openid", "profile", "email", "offline_access"]),
            "the scopes the demo grants"
        );
        assert_eq!(
            metadata["authorization_response_iss_parameter_supported"],
            serde_json::json!(true),
            "RFC 9207: clients must be told to check iss"
        );
    }
}

#[tokio::test]
async fn unknown_paths_are_not_found_and_wrong_methods_are_not_allowed() {
    let server = DemoServer::start(0).await.unwrap();
    let missing = http().get(format!("{}/nothing-here", server.issuer())).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND, "paths the demo does not serve are 404");
    let get_token = http().get(format!("{}/token", server.issuer())).send().await.unwrap();
    assert_eq!(get_token.status(), StatusCode::METHOD_NOT_ALLOWED, "the token endpoint takes POST only");
    assert_eq!(get_token.headers()["allow"], "POST", "a 405 must say which method works");
}

#[tokio::test]
async fn the_provider_shaped_paths_are_served_with_their_methods() {
    let server = DemoServer::start(0).await.unwrap();
    for (path, allow) in [
        ("/oauth/authorize", "GET"),
        ("/oauth/code/callback", "GET"),
        ("/oauth/token", "POST"),
        ("/v1/oauth/token", "POST"),
    ] {
        let method = if allow == "GET" { reqwest::Method::DELETE } else { reqwest::Method::GET };
        let response = http().request(method, format!("{}{path}", server.issuer())).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{path} is served, with another method");
        assert_eq!(response.headers()["allow"], allow, "a 405 must say which method works");
    }
}

#[tokio::test]
async fn a_request_for_another_host_is_refused() {
    let server = DemoServer::start(0).await.unwrap();
    let response = http()
        .get(format!("{}/.well-known/openid-configuration", server.issuer()))
        .header("host", format!("attacker.example:{}", server.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::MISDIRECTED_REQUEST,
        "a DNS-rebound name must not reach the demo's pages"
    );
}

#[tokio::test]
async fn an_oversized_body_is_refused() {
    let server = DemoServer::start(0).await.unwrap();
    let big = "a".repeat(65 * 1024);
    let response = http()
        .post(format!("{}/token", server.issuer()))
        .form(&[("grant_type", "authorization_code"), ("code", &big)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "bodies over 64 KiB must not be read");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(text(&body, "error"), "invalid_request", "an unreadable request is invalid_request");
}

#[tokio::test]
async fn a_fresh_server_has_served_nothing() {
    let server = DemoServer::start(0).await.unwrap();
    assert_eq!(server.stats(), DemoStats::default(), "the counters start at zero");
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let server = DemoServer::start(0).await.unwrap();
    let address = format!("127.0.0.1:{}", server.port());
    server.shutdown();
    // Abort takes effect at the task's next poll, so allow the runtime a moment.
    let mut refused = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(&address).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "after shutdown the port must refuse connections");
}
