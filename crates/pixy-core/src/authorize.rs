//! The authorization request URL (RFC 6749 §4.1.1 with RFC 7636 PKCE).
//!
//! Invariants: `code_challenge_method=S256` is always sent; extra parameters cannot override
//! the ones the flow's security rests on (response_type, client_id, redirect_uri, state,
//! code_challenge, code_challenge_method, and the RFC 8707 resource).

use crate::error::{Error, ErrorKind, Result};
use crate::pkce::CHALLENGE_METHOD;
use crate::provider::Provider;
use crate::secret::State;

/// Parameters an extra `--auth-param` may not set.
const RESERVED: [&str; 7] =
    ["response_type", "client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method", "resource"];

/// Builds the URL the browser is sent to.
pub fn authorization_url(
    provider: &Provider,
    redirect_uri: &str,
    state: &State,
    challenge: &str,
    scopes: &[String],
    extra: &[(String, String)],
) -> Result<String> {
    let mut url = url::Url::parse(&provider.authorization_endpoint)
        .map_err(|_| Error::new(ErrorKind::ProviderConfig, "the authorization endpoint is not a valid URL"))?;
    let scopes = if scopes.is_empty() { &provider.default_scopes } else { scopes };
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", &provider.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", state.expose())
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", CHALLENGE_METHOD);
        if !scopes.is_empty() {
            q.append_pair("scope", &scopes.join(" "));
        }
        if let Some(resource) = &provider.resource {
            q.append_pair("resource", resource);
        }
        for (k, v) in provider.auth_params.iter().chain(extra) {
            if RESERVED.contains(&k.as_str()) {
                return Err(Error::new(
                    ErrorKind::InvalidRequest,
                    format!("the authorization parameter {k:?} is set by Pixy and cannot be changed"),
                ));
            }
            q.append_pair(k, v);
        }
    }
    Ok(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> Provider {
        Provider {
            id: "p".into(),
            label: "P".into(),
            issuer: "https://id.example.com".into(),
            client_id: "cid".into(),
            authorization_endpoint: "https://id.example.com/authorize?tenant=1".into(),
            token_endpoint: "https://id.example.com/token".into(),
            revocation_endpoint: None,
            userinfo_endpoint: None,
            default_scopes: vec!["openid".into()],
            ..Provider::default()
        }
    }

    fn params(url: &str) -> Vec<(String, String)> {
        url::Url::parse(url).unwrap().query_pairs().into_owned().collect()
    }

    #[test]
    fn url_always_carries_s256_and_the_flow_parameters() {
        let state = State::new("st");
        let url = authorization_url(&provider(), "http://127.0.0.1:5/callback", &state, "ch", &[], &[]).unwrap();
        let p = params(&url);
        let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("code_challenge_method"), Some("S256"));
        assert_eq!(get("code_challenge"), Some("ch"));
        assert_eq!(get("state"), Some("st"));
        assert_eq!(get("redirect_uri"), Some("http://127.0.0.1:5/callback"));
        assert_eq!(get("scope"), Some("openid"), "default scopes are used when none are asked");
        assert_eq!(get("tenant"), Some("1"), "the endpoint's own query is kept");
    }

    #[test]
    fn extra_params_cannot_override_the_security_parameters() {
        let state = State::new("st");
        let extra = vec![("code_challenge_method".to_string(), "plain".to_string())];
        let err = authorization_url(&provider(), "http://127.0.0.1:5/callback", &state, "ch", &[], &extra).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidRequest);
    }

    #[test]
    fn asked_scopes_replace_the_defaults() {
        let state = State::new("st");
        let scopes = vec!["openid".to_string(), "offline_access".to_string()];
        let url = authorization_url(&provider(), "http://127.0.0.1:5/cb", &state, "ch", &scopes, &[]).unwrap();
        assert!(params(&url).contains(&("scope".into(), "openid offline_access".into())));
    }
}
