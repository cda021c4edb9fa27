//! The code page, `GET /oauth/code/callback`: the redirect URI of clients shaped like Claude's (see clients.rs).
//! The same page answers at `GET /grantex/code`, the registered redirect URI of the Grantex developers (grantex.rs).
//! Instead of handing the code to an app listening on this computer, the browser lands here and the page shows
//! `code#state` for the person to copy and paste into the app, which is how a sign-in finishes when the browser
//! cannot reach the app.
//!
//! Invariants: the page shows what its own address carries and nothing the store knows, so it tells nobody which
//! codes exist; every echoed value is escaped (pages.rs); like every page it is `no-store`, so the code is not
//! kept in a cache, and `no-referrer`, so it does not leave in a `Referer`. Logs say only whether a code, state or
//! error was there.

use hyper::StatusCode;

use crate::form::Params;
use crate::pages;
use crate::reply::{self, Reply};

/// The page's path below the issuer.
pub(crate) const PATH: &str = "/oauth/code/callback";

/// The page's address for a server at `issuer`: the one redirect URI a code-page client may use.
pub(crate) fn uri(issuer: &str) -> String {
    format!("{issuer}{PATH}")
}

/// `GET /oauth/code/callback` and `GET /grantex/code`
pub(crate) fn serve(query: Option<&str>) -> Reply {
    let params = match Params::from_query(query) {
        Ok(params) => params,
        Err(error) => {
            return reply::html(StatusCode::BAD_REQUEST, pages::error("This address is not valid", error.description()))
        }
    };
    if let Some(error) = params.get("error") {
        tracing::debug!(has_state = params.get("state").is_some(), "code page: showing an error");
        return reply::html(StatusCode::OK, pages::code_error(error, params.get("error_description")));
    }
    let Some(code) = params.get("code") else {
        tracing::debug!("code page: no code and no error");
        return reply::html(
            StatusCode::BAD_REQUEST,
            pages::error(
                "There is no code here",
                "This page shows the code a sign-in sends back, and this address carries none. \
                 Start linking again from Pixy.",
            ),
        );
    };
    let state = params.get("state");
    tracing::debug!(has_state = state.is_some(), "code page: showing a code");
    let pasted = match state {
        Some(state) => format!("{code}#{state}"),
        None => code.to_string(),
    };
    reply::html(StatusCode::OK, pages::code(&pasted))
}
