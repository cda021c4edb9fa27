//! The approve/deny page and the redirects back to the app.

use pixy_demo::DemoServer;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use reqwest::StatusCode;

use crate::support::{authorize_url, decide, http, open_consent, redirect_params, Pkce};

#[tokio::test]
async fn the_consent_page_is_labelled_and_hardened() {
    let server = DemoServer::start(0).await.unwrap();
    let response = http().get(authorize_url(&server, &Pkce::fresh(), &[])).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "a valid request must show the page");
    let headers = response.headers().clone();
    assert_eq!(headers[CACHE_CONTROL], "no-store", "the page holds a request id: never cache it");
    assert_eq!(headers["referrer-policy"], "no-referrer", "the URL must not leak to other origins");
    assert_eq!(headers["x-frame-options"], "DENY", "the page must not be framed (clickjacking)");
    assert_eq!(headers[CONTENT_TYPE], "text/html; charset=utf-8", "it is UTF-8 HTML");
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http://127.0.0.1:* http://localhost:* \
         http://[::1]:*; frame-ancestors 'none'",
        "no script, nothing loaded, and the form may post here and be redirected to loopback"
    );
    let html = response.text().await.unwrap();
    assert!(html.contains("Pixy Demo provider — not a real account"), "the page must say it is the demo provider");
    assert!(html.contains("Demo User &lt;demo@pixy.invalid&gt;"), "the page must name the demo user");
    assert!(html.contains("offline_access"), "the page must list the scopes asked for");
    assert!(html.contains(r#"<form method="post" action="/authorize/decision">"#), "one form posting the decision");
    let approve = html.find(r#"<button name="decision" value="approve""#).expect("an Approve button");
    let deny = html.find(r#"<button name="decision" value="deny""#).expect("a Deny button");
    assert!(approve < deny, "Approve must be the first button, the form's default");
    assert!(
        !html.contains("<script") && !html.contains(" src=") && !html.contains("<link"),
        "the page must be self-contained: no script and no external resource"
    );
}

#[tokio::test]
async fn a_script_in_a_query_parameter_is_escaped_on_the_page() {
    let server = DemoServer::start(0).await.unwrap();
    let redirect = "http://127.0.0.1:9/callback?next=<script>alert(1)</script>";
    let url = authorize_url(&server, &Pkce::fresh(), &[("redirect_uri", redirect)]);
    let response = http().get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "a loopback redirect with a query is valid");
    let html = response.text().await.unwrap();
    assert!(!html.contains("<script>"), "an echoed value must never become markup");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "it must be shown escaped");
}

#[tokio::test]
async fn a_non_loopback_redirect_uri_gets_a_400_page_not_a_redirect() {
    let server = DemoServer::start(0).await.unwrap();
    let evil = "https://attacker.example/<script>steal()</script>";
    let response = http().get(authorize_url(&server, &Pkce::fresh(), &[("redirect_uri", evil)])).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "RFC 6749 §4.1.2.1: show an error, do not redirect");
    assert!(response.headers().get(LOCATION).is_none(), "the browser must not be sent to an unvalidated URI");
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store", "error pages carry the page headers too");
    let html = response.text().await.unwrap();
    assert!(html.contains("not a real account"), "the error page must say it is the demo provider");
    assert!(!html.contains("<script>"), "the rejected URI must be escaped where it is echoed");
}

#[tokio::test]
async fn an_unknown_client_gets_a_400_page() {
    let server = DemoServer::start(0).await.unwrap();
    let url = authorize_url(&server, &Pkce::fresh(), &[("client_id", "someone-else")]);
    let response = http().get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "only the demo client may ask");
    assert!(response.headers().get(LOCATION).is_none(), "an unknown client's redirect URI is never trusted");
}

#[tokio::test]
async fn a_request_without_pkce_is_sent_back_as_invalid_request() {
    let server = DemoServer::start(0).await.unwrap();
    let url = authorize_url(&server, &Pkce::fresh(), &[("code_challenge_method", "plain")]);
    let params = redirect_params(&http().get(url).send().await.unwrap());
    assert_eq!(params["error"], "invalid_request", "PKCE S256 is required (RFC 9700 §2.1.1)");
    assert_eq!(params["state"], "state-123", "errors must echo state so the app can match them");
    assert_eq!(params["iss"], server.issuer(), "RFC 9207: errors carry iss too");
    assert!(!params.contains_key("code"), "an error must not carry a code");
}

#[tokio::test]
async fn an_unknown_scope_is_sent_back_as_invalid_scope() {
    let server = DemoServer::start(0).await.unwrap();
    let url = authorize_url(&server, &Pkce::fresh(), &[("scope", "openid admin")]);
    let params = redirect_params(&http().get(url).send().await.unwrap());
    assert_eq!(params["error"], "invalid_scope", "the demo grants only the scopes it advertises");
}

#[tokio::test]
async fn approve_redirects_with_code_state_and_iss() {
    let server = DemoServer::start(0).await.unwrap();
    let http = http();
    let request = open_consent(&server, &http, &Pkce::fresh()).await;
    let response = decide(&server, &http, &request, "approve").await;
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store", "the redirect carries a code: never cache it");
    let params = redirect_params(&response);
    assert_eq!(params["code"].len(), 43, "a code is 32 random bytes in base64url");
    assert_eq!(params["state"], "state-123", "state must come back unchanged");
    assert_eq!(params["iss"], server.issuer(), "RFC 9207: the response names its issuer");
}

#[tokio::test]
async fn deny_redirects_with_access_denied() {
    let server = DemoServer::start(0).await.unwrap();
    let http = http();
    let request = open_consent(&server, &http, &Pkce::fresh()).await;
    let params = redirect_params(&decide(&server, &http, &request, "deny").await);
    assert_eq!(params["error"], "access_denied", "a denial is access_denied (RFC 6749 §4.1.2.1)");
    assert!(params.contains_key("error_description"), "a denial says what happened");
    assert_eq!(params["state"], "state-123", "state must come back unchanged");
    assert_eq!(params["iss"], server.issuer(), "RFC 9207: errors carry iss too");
    assert!(!params.contains_key("code"), "a denial must not carry a code");
}

#[tokio::test]
async fn a_consent_page_can_be_answered_only_once() {
    let server = DemoServer::start(0).await.unwrap();
    let http = http();
    let request = open_consent(&server, &http, &Pkce::fresh()).await;
    redirect_params(&decide(&server, &http, &request, "approve").await);
    let again = decide(&server, &http, &request, "approve").await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST, "a pending request is one-use: no second code");
    assert!(again.headers().get(LOCATION).is_none(), "a stale answer must not redirect");
}

#[tokio::test]
async fn every_consent_page_has_its_own_request_id() {
    let server = DemoServer::start(0).await.unwrap();
    let http = http();
    let pkce = Pkce::fresh();
    let first = open_consent(&server, &http, &pkce).await;
    let second = open_consent(&server, &http, &pkce).await;
    assert_ne!(first, second, "request ids are random, so one page cannot answer another");
}
