//! Revocation, and what userinfo and introspection see afterwards.

use pixy_demo::DemoServer;
use reqwest::StatusCode;

use crate::support::{http, introspect, link, oauth_error, refresh, text, userinfo};

#[tokio::test]
async fn revoking_the_refresh_token_makes_userinfo_401_and_introspect_inactive() {
    let server = DemoServer::start(0).await.unwrap();
    let http = http();
    let tokens = link(&server, &http).await;
    let (access, refresh_token) = (text(&tokens, "access_token"), text(&tokens, "refresh_token"));
    assert_eq!(introspect(&server, &http, access).await["active"], true, "a fresh access token is active");
    assert_eq!(introspect(&server, &http, refresh_token).await["active"], true, "a fresh refresh token is active");

    let response = http
        .post(format!("{}/revoke", server.issuer()))
        .form(&[("token", refresh_token), ("token_type_hint", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "RFC 7009 §2.2: revocation answers 200");
    assert_eq!(server.stats().revoked, 1, "one revocation was served");

    let me = userinfo(&server, &http, access).await;
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED, "revoking the refresh token revokes its access tokens");
    assert_eq!(
        me.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#,
        "RFC 6750 §3.1: a refused token is invalid_token"
    );
    assert_eq!(
        introspect(&server, &http, access).await,
        serde_json::json!({"active": false}),
        "a revoked access token is inactive, and nothing more is said"
    );
    assert_eq!(introspect(&server, &http, refresh_token).await["active"], false, "the refresh token is inactive");
    assert_eq!(
        oauth_error(refresh(&server, &http, refresh_token).await).await,
        "invalid_grant",
        "a revoked refresh token must not refresh"
    );
}

#[tokio::test]
async fn revoking_an_access_token_leaves_the_refresh_token_working() {
    let server = DemoServer::start(0).await.unwrap();
    let http = http();
    let tokens = link(&server, &http).await;
    let access = text(&tokens, "access_token");
    http.post(format!("{}/revoke", server.issuer())).form(&[("token", access)]).send().await.unwrap();
    assert_eq!(userinfo(&server, &http, access).await.status(), StatusCode::UNAUTHORIZED, "the access token is dead");
    let refreshed = refresh(&server, &http, text(&tokens, "refresh_token")).await;
    assert_eq!(refreshed.status(), StatusCode::OK, "revoking an access token does not end the grant");
}

#[tokio::test]
async fn revoking_an_unknown_token_is_still_200() {
    let server = DemoServer::start(0).await.unwrap();
    let response =
        http().post(format!("{}/revoke", server.issuer())).form(&[("token", "never-issued")]).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "RFC 7009 §2.2: unknown tokens are not an error");
}

#[tokio::test]
async fn userinfo_without_a_token_gets_a_bare_challenge() {
    let server = DemoServer::start(0).await.unwrap();
    let response = http().get(format!("{}/userinfo", server.issuer())).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "userinfo needs a bearer token");
    assert_eq!(response.headers()["www-authenticate"], "Bearer", "RFC 6750 §3.1: no token, no error code");
}
