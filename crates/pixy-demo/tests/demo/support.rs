//! What the tests share: a client that does not follow redirects, PKCE pairs, and the steps of a link flow.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use pixy_demo::{DemoServer, DEMO_CLIENT_ID};
use rand::RngCore;
use reqwest::header::LOCATION;
use reqwest::{Client, Response, StatusCode};
use sha2::{Digest, Sha256};

/// Where the tests ask to be sent back. Nothing listens there: the tests read the 303 instead of following it.
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

/// A client like Pixy's token client: redirects are seen, not followed.
pub fn http() -> Client {
    Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("a plain HTTP client builds")
}

/// A PKCE pair (RFC 7636) from 32 random bytes.
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn fresh() -> Pkce {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let verifier = URL_SAFE_NO_PAD.encode(bytes);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Pkce { verifier, challenge }
    }
}

/// The /authorize URL with the usual parameters, `overrides` replacing or adding some.
pub fn authorize_url(server: &DemoServer, pkce: &Pkce, overrides: &[(&str, &str)]) -> String {
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", DEMO_CLIENT_ID),
        ("redirect_uri", REDIRECT_URI),
        ("state", "state-123"),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
        ("scope", "openid profile email offline_access"),
    ];
    for (name, value) in overrides {
        params.retain(|(n, _)| n != name);
        params.push((name, value));
    }
    let mut url = reqwest::Url::parse(&format!("{}/authorize", server.issuer())).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

/// The approve/deny page's pending request id.
pub fn request_id(html: &str) -> String {
    let marker = r#"name="request" value=""#;
    let start = html.find(marker).expect("the consent page must carry the request id") + marker.len();
    let end = html[start..].find('"').unwrap();
    html[start..start + end].to_string()
}

/// Loads the approve/deny page and returns its request id.
pub async fn open_consent(server: &DemoServer, http: &Client, pkce: &Pkce) -> String {
    open_consent_with(server, http, pkce, &[]).await
}

/// As [`open_consent`], for the authorization URL with `overrides`.
pub async fn open_consent_with(server: &DemoServer, http: &Client, pkce: &Pkce, overrides: &[(&str, &str)]) -> String {
    let page = http.get(authorize_url(server, pkce, overrides)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK, "a valid authorization request must show the consent page");
    request_id(&page.text().await.unwrap())
}

/// Posts the user's answer, as the page's form does.
pub async fn decide(server: &DemoServer, http: &Client, request: &str, decision: &str) -> Response {
    http.post(format!("{}/authorize/decision", server.issuer()))
        .form(&[("request", request), ("decision", decision)])
        .send()
        .await
        .unwrap()
}

/// The query parameters of a 303's Location, checking it goes back to the app.
pub fn redirect_params(response: &Response) -> HashMap<String, String> {
    redirect_params_to(response, REDIRECT_URI)
}

/// As [`redirect_params`], for a request whose redirect URI is `redirect_uri`.
pub fn redirect_params_to(response: &Response, redirect_uri: &str) -> HashMap<String, String> {
    let url = reqwest::Url::parse(&location(response)).unwrap();
    assert_eq!(&url[..url::Position::AfterPath], redirect_uri, "the browser must go back to the redirect URI");
    url.query_pairs().into_owned().collect()
}

/// A 303's Location.
pub fn location(response: &Response) -> String {
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "the answer must send the browser back with a 303");
    response.headers()[LOCATION].to_str().unwrap().to_string()
}

/// Approves a fresh request and returns its code.
pub async fn approved_code(server: &DemoServer, http: &Client, pkce: &Pkce) -> String {
    let request = open_consent(server, http, pkce).await;
    let params = redirect_params(&decide(server, http, &request, "approve").await);
    params.get("code").cloned().expect("an approval must carry a code")
}

/// Posts a form to the token endpoint.
pub async fn token_request(server: &DemoServer, http: &Client, form: &[(&str, &str)]) -> Response {
    http.post(format!("{}/token", server.issuer())).form(form).send().await.unwrap()
}

/// Exchanges `code` with `verifier` as Pixy does.
pub async fn exchange(server: &DemoServer, http: &Client, code: &str, verifier: &str) -> Response {
    token_request(
        server,
        http,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", DEMO_CLIENT_ID),
            ("code_verifier", verifier),
        ],
    )
    .await
}

/// A whole link flow: approve, exchange; returns the token response.
pub async fn link(server: &DemoServer, http: &Client) -> serde_json::Value {
    let pkce = Pkce::fresh();
    let code = approved_code(server, http, &pkce).await;
    let response = exchange(server, http, &code, &pkce.verifier).await;
    assert_eq!(response.status(), StatusCode::OK, "the right verifier must exchange the code");
    response.json().await.unwrap()
}

/// Refreshes with `refresh_token`.
pub async fn refresh(server: &DemoServer, http: &Client, refresh_token: &str) -> Response {
    token_request(
        server,
        http,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh_token), ("client_id", DEMO_CLIENT_ID)],
    )
    .await
}

/// The `error` of an RFC 6749 §5.2 reply, checking its status is 400.
pub async fn oauth_error(response: Response) -> String {
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "token errors are 400 (RFC 6749 §5.2)");
    let body: serde_json::Value = response.json().await.unwrap();
    body["error"].as_str().expect("an error reply must name the error").to_string()
}

/// The `error` and `error_description` of an RFC 6749 §5.2 reply, checking its status is 400.
pub async fn oauth_error_described(response: Response) -> (String, String) {
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "token errors are 400 (RFC 6749 §5.2)");
    let body: serde_json::Value = response.json().await.unwrap();
    (text(&body, "error").to_string(), text(&body, "error_description").to_string())
}

/// GET /userinfo with a bearer token.
pub async fn userinfo(server: &DemoServer, http: &Client, access_token: &str) -> Response {
    http.get(format!("{}/userinfo", server.issuer())).bearer_auth(access_token).send().await.unwrap()
}

/// POST /introspect; returns the document.
pub async fn introspect(server: &DemoServer, http: &Client, token: &str) -> serde_json::Value {
    let response = http.post(format!("{}/introspect", server.issuer())).form(&[("token", token)]).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "introspection answers 200 for any token");
    response.json().await.unwrap()
}

/// The string field `name` of a JSON document.
pub fn text<'a>(value: &'a serde_json::Value, name: &str) -> &'a str {
    value[name].as_str().unwrap_or_else(|| panic!("{name} must be a string"))
}
