//! The client shaped like ChatGPT's: two fixed localhost redirect URIs, two extra authorization parameters, and
//! form-encoded token requests at `/oauth/token`.

use pixy_demo::{DemoServer, CHATGPT_CLIENT_ID, DEMO_CLIENT_ID};
use reqwest::header::LOCATION;
use reqwest::{Client, Response, StatusCode};
use serde_json::json;

use crate::support::{
    authorize_url, decide, http, oauth_error, oauth_error_described, open_consent_with, redirect_params_to, text, Pkce,
};

const REDIRECT_1455: &str = "http://localhost:1455/auth/callback";
const REDIRECT_1457: &str = "http://localhost:1457/auth/callback";

/// The parameters ChatGPT's preset sends on top of the usual ones, with `redirect_uri`.
fn chatgpt(redirect_uri: &str) -> [(&'static str, &str); 4] {
    [
        ("client_id", CHATGPT_CLIENT_ID),
        ("redirect_uri", redirect_uri),
        ("id_token_add_organizations", "true"),
        ("codex_cli_simplified_flow", "true"),
    ]
}

/// A form posted to ChatGPT's token path.
async fn token_request(server: &DemoServer, http: &Client, form: &[(&str, &str)]) -> Response {
    http.post(format!("{}/oauth/token", server.issuer())).form(form).send().await.unwrap()
}

/// Approves a ChatGPT-shaped request with `redirect_uri`; returns its code.
async fn approved_code(server: &DemoServer, http: &Client, pkce: &Pkce, redirect_uri: &str) -> String {
    let request = open_consent_with(server, http, pkce, &chatgpt(redirect_uri)).await;
    let params = redirect_params_to(&decide(server, http, &request, "approve").await, redirect_uri);
    assert_eq!(params["state"], "state-123", "state must come back unchanged");
    params["code"].clone()
}

#[tokio::test]
async fn the_chatgpt_client_links_on_port_1455_and_on_port_1457() {
    let server = DemoServer::start(0).await.unwrap();
    let http = http();
    for redirect_uri in [REDIRECT_1455, REDIRECT_1457] {
        let pkce = Pkce::fresh();
        let code = approved_code(&server, &http, &pkce, redirect_uri).await;
        let response = token_request(
            &server,
            &http,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect_uri),
                ("client_id", CHATGPT_CLIENT_ID),
                ("code_verifier", &pkce.verifier),
            ],
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK, "a form exchange from {redirect_uri} must give tokens");
        let tokens: serde_json::Value = response.json().await.unwrap();
        let refresh = [
            ("grant_type", "refresh_token"),
            ("refresh_token", text(&tokens, "refresh_token")),
            ("client_id", CHATGPT_CLIENT_ID),
        ];
        let refreshed = token_request(&server, &http, &refresh).await;
        assert_eq!(refreshed.status(), StatusCode::OK, "its refresh token must refresh, form-encoded");
    }
    assert_eq!(server.stats().authorization_code, 2, "both ports linked");
    assert_eq!(server.stats().refresh_token, 2, "both grants refreshed");
}

#[tokio::test]
async fn the_chatgpt_client_may_not_use_another_redirect() {
    let server = DemoServer::start(0).await.unwrap();
    for redirect_uri in
        ["http://localhost:1456/auth/callback", "http://127.0.0.1:1455/auth/callback", "http://localhost:1455/cb"]
    {
        let url = authorize_url(&server, &Pkce::fresh(), &chatgpt(redirect_uri));
        let response = http().get(url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{redirect_uri} is not registered for this client");
        assert!(response.headers().get(LOCATION).is_none(), "the browser must not be sent to it");
        let html = response.text().await.unwrap();
        assert!(html.contains(REDIRECT_1455) && html.contains(REDIRECT_1457), "the page must name the two it may use");
    }
}

#[tokio::test]
async fn a_chatgpt_request_without_its_extra_parameters_is_sent_back_as_invalid_request() {
    let server = DemoServer::start(0).await.unwrap();
    for missing in ["id_token_add_organizations", "codex_cli_simplified_flow"] {
        let mut params = chatgpt(REDIRECT_1455).to_vec();
        params.push((missing, ""));
        let response = http().get(authorize_url(&server, &Pkce::fresh(), &params)).send().await.unwrap();
        let back = redirect_params_to(&response, REDIRECT_1455);
        assert_eq!(back["error"], "invalid_request", "{missing}=true is part of this client's shape");
        assert_eq!(
            back["error_description"],
            format!("this client's authorization requests must carry {missing}=true"),
            "the description must name the parameter"
        );
        assert_eq!(back["iss"], server.issuer(), "RFC 9207: errors carry iss too");
    }
}

#[tokio::test]
async fn a_json_body_from_the_chatgpt_client_is_invalid_request() {
    let server = DemoServer::start(0).await.unwrap();
    let http = http();
    let pkce = Pkce::fresh();
    let code = approved_code(&server, &http, &pkce, REDIRECT_1455).await;
    let body = json!({
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_1455,
        "client_id": CHATGPT_CLIENT_ID,
        "code_verifier": pkce.verifier,
    });
    let response = http.post(format!("{}/oauth/token", server.issuer())).json(&body).send().await.unwrap();
    let (error, description) = oauth_error_described(response).await;
    assert_eq!(error, "invalid_request", "this client's token requests are forms");
    assert!(description.contains("x-www-form-urlencoded"), "the description must say which body is expected");
}

#[tokio::test]
async fn a_code_issued_to_one_client_cannot_be_exchanged_by_another() {
    let server = DemoServer::start(0).await.unwrap();
    let http = http();
    let pkce = Pkce::fresh();
    let code = approved_code(&server, &http, &pkce, REDIRECT_1455).await;
    // Pixy's own client accepts any loopback redirect and forms, so only the code's client tells them apart.
    let response = token_request(
        &server,
        &http,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_1455),
            ("client_id", DEMO_CLIENT_ID),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    assert_eq!(oauth_error(response).await, "invalid_grant", "RFC 6749 §4.1.3: a code is bound to its client");
}
