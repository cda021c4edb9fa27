//! The client shaped like Claude's: the code page instead of a loopback redirect, `code=true`, and JSON token
//! requests that repeat the authorization request's state.

use pixy_demo::{DemoServer, CLAUDE_CLIENT_ID, DEMO_CLIENT_ID};
use reqwest::header::{CACHE_CONTROL, LOCATION};
use reqwest::{Client, Response, StatusCode};
use serde_json::json;

use crate::support::{
    authorize_url, decide, http, location, oauth_error, oauth_error_described, open_consent_with, redirect_params_to,
    request_id, text, token_request, userinfo, Pkce,
};

const STATE: &str = "state-123";

/// The parameters Claude's preset sends on top of the usual ones, for a demo whose code page is `code_page`.
fn claude(code_page: &str) -> [(&'static str, &str); 4] {
    [
        ("client_id", CLAUDE_CLIENT_ID),
        ("redirect_uri", code_page),
        ("code", "true"),
        ("scope", "org:create_api_key user:profile user:inference"),
    ]
}

/// The authorization URL Claude's preset builds, `overrides` replacing or adding parameters.
fn claude_url(server: &DemoServer, pkce: &Pkce, overrides: &[(&str, &str)]) -> String {
    let code_page = server.code_page_uri();
    let mut params = claude(&code_page).to_vec();
    params.extend_from_slice(overrides);
    authorize_url(server, pkce, &params)
}

/// Answers a Claude-shaped request's consent page; returns the address the browser was sent to.
async fn answered(server: &DemoServer, http: &Client, pkce: &Pkce, decision: &str) -> Response {
    let request = open_consent_with(server, http, pkce, &claude(&server.code_page_uri())).await;
    decide(server, http, &request, decision).await
}

/// Approves a Claude-shaped request; returns the address the browser was sent to (the code page's).
async fn approved(server: &DemoServer, http: &Client, pkce: &Pkce) -> String {
    location(&answered(server, http, pkce, "approve").await)
}

/// Approves a Claude-shaped request and reads its code from the redirect.
async fn approved_code(server: &DemoServer, http: &Client, pkce: &Pkce) -> String {
    let response = http.get(approved(server, http, pkce).await).send().await.unwrap();
    let shown = shown_code(&response.text().await.unwrap());
    let (code, state) = shown.split_once('#').expect("the code page shows code#state");
    assert_eq!(state, STATE, "the state shown is the request's");
    code.to_string()
}

/// The text of the code page's `<code id="pasted-code">`.
fn shown_code(html: &str) -> String {
    let start = r#"<code id="pasted-code">"#;
    let from = html.find(start).expect("the code page must show the code in its element") + start.len();
    html[from..from + html[from..].find("</code>").unwrap()].to_string()
}

/// A JSON token request at Claude's path.
async fn json_token_request(server: &DemoServer, http: &Client, body: serde_json::Value) -> Response {
    http.post(format!("{}/v1/oauth/token", server.issuer())).json(&body).send().await.unwrap()
}

/// The code exchange Claude's preset sends, with `state` as given.
fn exchange_body(server: &DemoServer, code: &str, verifier: &str, state: Option<&str>) -> serde_json::Value {
    let mut body = json!({
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": server.code_page_uri(),
        "client_id": CLAUDE_CLIENT_ID,
        "code_verifier": verifier,
    });
    if let Some(state) = state {
        body["state"] = state.into();
    }
    body
}

#[tokio::test]
async fn the_claude_client_links_with_a_json_body_and_its_state() {
    let server = DemoServer::start(0).await.unwrap();
    let http = http();
    let pkce = Pkce::fresh();
    // Claude's own path for the authorization endpoint.
    let url = claude_url(&server, &pkce, &[]).replace("/authorize?", "/oauth/authorize?");
    let page = http.get(url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK, "a Claude-shaped request must show the consent page");
    let request = request_id(&page.text().await.unwrap());
    let params = redirect_params_to(&decide(&server, &http, &request, "approve").await, &server.code_page_uri());
    assert_eq!(params["state"], STATE, "the state goes to the code page with the code");

    let response =
        json_token_request(&server, &http, exchange_body(&server, &params["code"], &pkce.verifier, Some(STATE))).await;
    assert_eq!(response.status(), StatusCode::OK, "a JSON exchange with the right state must give tokens");
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store", "RFC 6749 §5.1: token replies are not cached");
    let tokens: serde_json::Value = response.json().await.unwrap();
    assert_eq!(server.stats().authorization_code, 1, "one code grant was served");
    let me = userinfo(&server, &http, text(&tokens, "access_token")).await;
    assert_eq!(me.status(), StatusCode::OK, "its access token works like any other");

    let refresh = json!({
        "grant_type": "refresh_token",
        "refresh_token": text(&tokens, "refresh_token"),
        "client_id": CLAUDE_CLIENT_ID,
    });
    let response = json_token_request(&server, &http, refresh.clone()).await;
    assert_eq!(response.status(), StatusCode::OK, "a JSON refresh needs no state");
    let refreshed: serde_json::Value = response.json().await.unwrap();
    assert_ne!(text(&refreshed, "refresh_token"), text(&tokens, "refresh_token"), "refresh rotates for every client");
    let replay = json_token_request(&server, &http, refresh).await;
    assert_eq!(oauth_error(replay).await, "invalid_grant", "the rotated-out refresh token must be dead");
    assert_eq!(server.stats().refresh_token, 1, "one refresh grant was served");
}

#[tokio::test]
async fn a_form_body_from_the_claude_client_is_invalid_request() {
    let server = DemoServer::start(0).await.unwrap();
    let http = http();
    let pkce = Pkce::fresh();
    let code = approved_code(&server, &http, &pkce).await;
    let redirect_uri = server.code_page_uri();
    let response = token_request(
        &server,
        &http,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect_uri),
            ("client_id", CLAUDE_CLIENT_ID),
            ("code_verifier", &pkce.verifier),
            ("state", STATE),
        ],
    )
    .await;
    let (error, description) = oauth_error_described(response).await;
    assert_eq!(error, "invalid_request", "this client's token requests are JSON");
    assert!(description.contains("application/json"), "the description must say which body is expected");
    assert_eq!(server.stats().authorization_code, 0, "a refused exchange is not a served grant");
}

#[tokio::test]
async fn a_claude_token_request_without_state_is_invalid_request() {
    let server = DemoServer::start(0).await.unwrap();
    let http = http();
    let pkce = Pkce::fresh();
    let code = approved_code(&server, &http, &pkce).await;
    let response = json_token_request(&server, &http, exchange_body(&server, &code, &pkce.verifier, None)).await;
    let (error, description) = oauth_error_described(response).await;
    assert_eq!(error, "invalid_request", "this client must repeat the state");
    assert!(description.contains("state is required"), "the description must name the missing state");
}

#[tokio::test]
async fn a_claude_token_request_with_a_wrong_state_is_invalid_request_and_spends_the_code() {
    let server = DemoServer::start(0).await.unwrap();
    let http = http();
    let pkce = Pkce::fresh();
    let code = approved_code(&server, &http, &pkce).await;
    let wrong = exchange_body(&server, &code, &pkce.verifier, Some("state-124"));
    let (error, description) = oauth_error_described(json_token_request(&server, &http, wrong).await).await;
    assert_eq!(error, "invalid_request", "a state that is not the request's is refused");
    assert!(description.contains("state does not match"), "the description must say the state is wrong");
    let right = exchange_body(&server, &code, &pkce.verifier, Some(STATE));
    let again = json_token_request(&server, &http, right).await;
    assert_eq!(oauth_error(again).await, "invalid_grant", "a wrong attempt spends the code, like any other");
}

#[tokio::test]
async fn a_form_refresh_from_the_claude_client_is_invalid_request() {
    let server = DemoServer::start(0).await.unwrap();
    let http = http();
    let pkce = Pkce::fresh();
    let code = approved_code(&server, &http, &pkce).await;
    let response = json_token_request(&server, &http, exchange_body(&server, &code, &pkce.verifier, Some(STATE))).await;
    let tokens: serde_json::Value = response.json().await.unwrap();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", text(&tokens, "refresh_token")),
        ("client_id", CLAUDE_CLIENT_ID),
    ];
    let response = token_request(&server, &http, &form).await;
    assert_eq!(oauth_error(response).await, "invalid_request", "this client's refreshes are JSON too");
}

#[tokio::test]
async fn a_json_body_from_pixys_own_client_is_invalid_request() {
    let server = DemoServer::start(0).await.unwrap();
    let body = json!({ "grant_type": "refresh_token", "refresh_token": "x", "client_id": DEMO_CLIENT_ID });
    let (error, description) = oauth_error_described(json_token_request(&server, &http(), body).await).await;
    assert_eq!(error, "invalid_request", "the body's shape is the client's, not the caller's choice");
    assert!(description.contains("x-www-form-urlencoded"), "the description must say which body is expected");
}

#[tokio::test]
async fn an_oversized_json_body_is_refused() {
    let server = DemoServer::start(0).await.unwrap();
    let body = json!({ "grant_type": "authorization_code", "code": "a".repeat(65 * 1024) });
    let (error, description) = oauth_error_described(json_token_request(&server, &http(), body).await).await;
    assert_eq!(error, "invalid_request", "JSON bodies over 64 KiB must not be read, like forms");
    assert!(description.contains("too large"), "the description must say why");
}

#[tokio::test]
async fn the_claude_client_may_not_use_a_loopback_redirect() {
    let server = DemoServer::start(0).await.unwrap();
    for redirect in ["http://127.0.0.1:9/callback", &format!("{}?x=1", server.code_page_uri())] {
        let url = claude_url(&server, &Pkce::fresh(), &[("redirect_uri", redirect)]);
        let response = http().get(url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{redirect} is not this client's redirect URI");
        assert!(response.headers().get(LOCATION).is_none(), "the browser must not be sent to it");
        assert!(response.text().await.unwrap().contains("code page"), "the page must say where it may go");
    }
}

#[tokio::test]
async fn a_claude_request_without_code_true_is_sent_back_as_invalid_request() {
    let server = DemoServer::start(0).await.unwrap();
    let http = http();
    for code in ["", "false"] {
        let url = claude_url(&server, &Pkce::fresh(), &[("code", code)]);
        let response = http.get(url).send().await.unwrap();
        let params = redirect_params_to(&response, &server.code_page_uri());
        assert_eq!(params["error"], "invalid_request", "code=true is part of this client's shape");
        assert!(params["error_description"].contains("code=true"), "the description must name the parameter");
        assert!(!params.contains_key("code"), "an error must not carry a code");

        let page = http.get(location(&response)).send().await.unwrap().text().await.unwrap();
        assert!(page.contains(r#"<code id="code-error">invalid_request</code>"#), "the code page shows the error");
        assert!(!page.contains("pasted-code"), "and no code to paste");
    }
}

#[tokio::test]
async fn a_claude_request_without_state_is_sent_back_as_invalid_request() {
    let server = DemoServer::start(0).await.unwrap();
    let url = claude_url(&server, &Pkce::fresh(), &[("state", "")]);
    let params = redirect_params_to(&http().get(url).send().await.unwrap(), &server.code_page_uri());
    assert_eq!(params["error"], "invalid_request", "its token request must repeat a state, so one is required");
}

#[tokio::test]
async fn the_code_page_shows_code_hash_state_and_is_hardened() {
    let server = DemoServer::start(0).await.unwrap();
    let http = http();
    let address = approved(&server, &http, &Pkce::fresh()).await;
    let response = http.get(&address).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "the code page answers the redirect");
    let headers = response.headers().clone();
    assert_eq!(headers[CACHE_CONTROL], "no-store", "the page shows a code: never cache it");
    assert_eq!(headers["referrer-policy"], "no-referrer", "its address holds the code: never send it on");
    assert!(headers["content-security-policy"].to_str().unwrap().contains("default-src 'none'"), "no script");
    let html = response.text().await.unwrap();
    assert!(html.contains("Pixy Demo provider — not a real account"), "the page must say it is the demo provider");
    let code = reqwest::Url::parse(&address).unwrap().query_pairs().find(|(n, _)| n == "code").unwrap().1.into_owned();
    assert_eq!(shown_code(&html), format!("{code}#{STATE}"), "the page shows code#state, ready to paste");
}

#[tokio::test]
async fn the_code_page_escapes_what_it_echoes() {
    let server = DemoServer::start(0).await.unwrap();
    let mut url = reqwest::Url::parse(&server.code_page_uri()).unwrap();
    url.query_pairs_mut().append_pair("code", "<script>alert(1)</script>").append_pair("state", "\"&'");
    let html = http().get(url).send().await.unwrap().text().await.unwrap();
    assert!(!html.contains("<script>"), "an echoed value must never become markup");
    assert_eq!(shown_code(&html), "&lt;script&gt;alert(1)&lt;/script&gt;#&quot;&amp;&#39;", "it is shown escaped");
}

#[tokio::test]
async fn a_denial_shows_access_denied_on_the_code_page() {
    let server = DemoServer::start(0).await.unwrap();
    let http = http();
    let response = answered(&server, &http, &Pkce::fresh(), "deny").await;
    let params = redirect_params_to(&response, &server.code_page_uri());
    assert_eq!(params["error"], "access_denied", "a denial goes to the code page as access_denied");
    let page = http.get(location(&response)).send().await.unwrap();
    assert_eq!(page.headers()[CACHE_CONTROL], "no-store", "the error version is hardened too");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<code id="code-error">access_denied</code>"#), "the page names the error");
    assert!(!html.contains("pasted-code"), "a denial offers no code to paste");
}

#[cfg(feature = "person")]
#[tokio::test]
async fn the_person_copies_code_hash_state_from_the_code_page() {
    use pixy_demo::person::{code_page, decide, Decision};
    let server = DemoServer::start(0).await.unwrap();
    let pkce = Pkce::fresh();
    let address = decide(&claude_url(&server, &pkce, &[("state", "a&b<c>")]), Decision::Approve).await;
    let pasted = code_page(&address).await;
    let (code, state) = pasted.rsplit_once('#').expect("the person copies code#state");
    assert_eq!(state, "a&b<c>", "the state is read back unescaped, as the person sees it");
    let response =
        json_token_request(&server, &http(), exchange_body(&server, code, &pkce.verifier, Some(state))).await;
    assert_eq!(response.status(), StatusCode::OK, "what the person copied must link");
}

#[cfg(feature = "person")]
#[tokio::test]
#[should_panic(expected = "access_denied")]
async fn the_person_reading_a_denial_panics_naming_the_error() {
    use pixy_demo::person::{code_page, decide, Decision};
    let server = DemoServer::start(0).await.unwrap();
    let address = decide(&claude_url(&server, &Pkce::fresh(), &[]), Decision::Deny).await;
    code_page(&address).await;
}
