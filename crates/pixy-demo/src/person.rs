//! A stand-in for the person at the demo's approve page, for tests and benches of the apps that
//! link with it: it opens the authorization URL, presses Approve or Deny, and follows the demo's
//! redirect to the app's callback like a browser would, or reads the code the demo's code page
//! shows, as the person would copy it. It answers the Grantex consent page the same way
//! ([`grantex_consent`]).

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
/// sent to instead (a browser on another machine cannot reach the app's listener). For a client
/// whose redirect URI is the demo's code page, pass that address to [`code_page`].
pub async fn decide(authorization_url: &str, decision: Decision) -> String {
    let http = plain_client();
    let page = http.get(authorization_url).send().await.expect("the approve page").text().await.expect("its HTML");
    let request = page
        .split("name=\"request\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the approve page carries its request id")
        .to_string();
    // The page's form posts to this path on the same server, whichever authorize path was used.
    let decision_url = reqwest::Url::parse(authorization_url)
        .and_then(|url| url.join("/authorize/decision"))
        .expect("the demo's authorize URL");
    let resp = http
        .post(decision_url)
        .form(&[("request", request.as_str()), ("decision", pressed(decision))])
        .send()
        .await
        .expect("the decision is posted");
    resp.headers()["location"].to_str().expect("an ASCII Location").to_string()
}

/// Answers the Grantex consent page at `consent_url` (the `consentUrl` of `POST /v1/authorize`) and
/// returns the address the browser was sent to, without following it: `redirectUri?code=…&state=…`
/// after Approve, `redirectUri?error=access_denied&state=…` after Deny. A test then follows it to
/// its loopback listener, or, when the redirect URI is the demo's Grantex code page, reads the
/// `code#state` it shows with [`code_page`]. Panics when the page cannot be answered (an unknown,
/// expired or already answered request), naming the HTTP status.
pub async fn grantex_consent(consent_url: &str, decision: Decision) -> String {
    let http = plain_client();
    let page = http.get(consent_url).send().await.expect("the Grantex consent page");
    let status = page.status();
    let html = page.text().await.expect("its HTML");
    let request = html
        .split("name=\"req\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("the Grantex consent page (HTTP {status}) carries no request to answer"))
        .to_string();
    let decision_url =
        reqwest::Url::parse(consent_url).and_then(|url| url.join("/grantex/consent")).expect("the demo's consent URL");
    let resp = http
        .post(decision_url)
        .form(&[("req", request.as_str()), ("decision", pressed(decision))])
        .send()
        .await
        .expect("the decision is posted");
    let status = resp.status();
    let location =
        resp.headers().get("location").unwrap_or_else(|| panic!("no redirect after the answer (HTTP {status})"));
    location.to_str().expect("an ASCII Location").to_string()
}

/// Opens the demo's code page at `url`, the address [`decide`] returned for a client whose redirect
/// URI is that page, and returns the `code#state` it shows, as the person would copy it. Panics,
/// naming the error, when the page shows an error instead (the person pressed Deny, or the request
/// was refused).
pub async fn code_page(url: &str) -> String {
    let page = plain_client().get(url).send().await.expect("the code page answers");
    let status = page.status();
    let html = page.text().await.expect("its HTML");
    if let Some(code) = element(&html, r#"<code id="pasted-code">"#) {
        return unescape(code);
    }
    match element(&html, r#"<code id="code-error">"#) {
        Some(error) => panic!("the code page shows no code but the error {:?} (HTTP {status})", unescape(error)),
        None => panic!("the code page shows no code and no error (HTTP {status}): is this the demo's code page?"),
    }
}

/// The value of the button the person presses.
fn pressed(decision: Decision) -> &'static str {
    match decision {
        Decision::Approve => "approve",
        Decision::Deny => "deny",
    }
}

/// The text between `start` and the next `</code>`.
fn element<'a>(html: &'a str, start: &str) -> Option<&'a str> {
    let from = html.find(start)? + start.len();
    let len = html[from..].find("</code>")?;
    Some(&html[from..from + len])
}

/// Undoes the demo pages' escaping; `&amp;` last, so an escaped entity is not undone twice.
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&amp;", "&")
}

fn plain_client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("a plain HTTP client")
}
