//! The Grantex consent page: `GET /grantex/consent?req=<authRequestId>` shows the person which agent asks to act
//! for which principal with which scopes, and `POST /grantex/consent` answers it: Approve sends the browser to
//! `redirectUri?code=…&state=…`, Deny to `redirectUri?error=access_denied&state=…`, both with a 303. For the
//! production-like developer that redirect URI is the Grantex code page, which shows `code#state` like the OAuth
//! code page (code_page.rs serves both).
//!
//! Invariants:
//! - The browser goes only to the redirect URI `POST /v1/authorize` validated (grantex.rs).
//! - A request is answered once, within its ten minutes; its id is a 256-bit secret that only its developer and
//!   its page know, which also makes a forged cross-site answer useless. A sandbox request, approved at once, can
//!   still be answered here: Deny then withdraws the approval, and the code already handed out stops working.
//! - The page escapes everything it echoes and is hardened like every page (reply.rs). Logs hold booleans only.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use crate::form::Params;
use crate::grantex::GRANTEX_AGENT_DID;
use crate::grantex_store::ConsentRefusal;
use crate::pages::{self, GrantexConsent};
use crate::reply::{self, Reply};
use crate::store::Now;
use crate::Provider;

/// `GET /grantex/consent`
pub(crate) fn ask(provider: &Provider, query: Option<&str>) -> Reply {
    let params = match Params::from_query(query) {
        Ok(params) => params,
        Err(error) => return bad_request("This consent link is not valid", error.description()),
    };
    let Some(id) = params.get("req") else {
        return bad_request("This consent link is not valid", "It does not name an authorization request (req).");
    };
    let mut store = provider.grantex_store();
    let request = match store.consent_view(id, Now::current()) {
        Ok(request) => request,
        Err(refusal) => return refused(refusal),
    };
    tracing::debug!(developer = ?request.developer, "grantex consent: showing the approve/deny page");
    let page = pages::grantex_consent(&GrantexConsent {
        request_id: id,
        agent_did: GRANTEX_AGENT_DID,
        principal_id: &request.principal_id,
        scopes: &request.scopes,
        redirect_uri: &request.redirect_uri,
    });
    reply::html(StatusCode::OK, page)
}

/// `POST /grantex/consent`
pub(crate) async fn decide(provider: &Provider, req: Request<Incoming>) -> Reply {
    let params = match Params::from_body(req).await {
        Ok(params) => params,
        Err(error) => return bad_request("This answer could not be read", error.description()),
    };
    let approve = match params.get("decision") {
        Some("approve") => true,
        Some("deny") => false,
        _ => return bad_request("This answer could not be read", "Choose Approve or Deny."),
    };
    let Some(id) = params.get("req") else {
        return bad_request("This answer could not be read", "It does not name an authorization request.");
    };
    let answered = provider.grantex_store().answer(id, approve, Now::current());
    let answered = match answered {
        Ok(answered) => answered,
        Err(refusal) => {
            tracing::debug!(approve, ?refusal, "grantex consent: answer refused");
            return refused(refusal);
        }
    };
    tracing::debug!(approve, "grantex consent: answered");
    let mut to = answered.redirect;
    {
        let mut query = to.query_pairs_mut();
        match &answered.code {
            Some(code) => query.append_pair("code", code),
            None => query.append_pair("error", "access_denied"),
        };
        query.append_pair("state", &answered.state);
    }
    reply::redirect(&to)
}

fn refused(refusal: ConsentRefusal) -> Reply {
    match refusal {
        ConsentRefusal::Gone => bad_request(
            "This request has expired",
            "It is too old, or it was already used. Start again from the app that asked.",
        ),
        ConsentRefusal::Answered => {
            bad_request("This request was already answered", "Start again from the app that asked to change it.")
        }
    }
}

fn bad_request(title: &str, message: &str) -> Reply {
    reply::html(StatusCode::BAD_REQUEST, pages::error(title, message))
}
