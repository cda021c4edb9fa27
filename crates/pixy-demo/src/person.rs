//! A stand-in for the person at the demo's approve page, for tests and benches of the apps that
//! link with it: it opens the authorization URL, presses Approve or Deny, and follows the demo's
//! redirect to the app's callback like a browser would.

/// What the person presses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Approve.
    Approve,
    /// Deny.
    Deny,
}

/// Answers the approve page at `authorization_url`; returns the callback URL the browser was sent
/// to (it holds the code or the error, so a test can check what may not leak).
pub async fn answer(authorization_url: &str, decision: Decision) -> String {
    let callback = decide(authorization_url, decision).await;
    plain_client().get(&callback).send().await.expect("the app's callback answers");
    callback
}

/// As [`answer`], without following the redirect: the person copies the address the browser was
/// sent to instead (a browser on another machine cannot reach the app's listener).
pub async fn decide(authorization_url: &str, decision: Decision) -> String {
    let http = plain_client();
    let page = http.get(authorization_url).send().await.expect("the approve page").text().await.expect("its HTML");
    let request = page
        .split("name=\"request\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the approve page carries its request id")
        .to_string();
    let base = authorization_url.split("/authorize").next().expect("the demo's authorize URL");
    let pressed = match decision {
        Decision::Approve => "approve",
        Decision::Deny => "deny",
    };
    let resp = http
        .post(format!("{base}/authorize/decision"))
        .form(&[("request", request.as_str()), ("decision", pressed)])
        .send()
        .await
        .expect("the decision is posted");
    resp.headers()["location"].to_str().expect("an ASCII Location").to_string()
}

fn plain_client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("a plain HTTP client")
}
