//! Who an account is: the subject and a label, from the ID token or the userinfo endpoint.
//!
//! The ID token came straight from the token endpoint over a checked connection, so (OIDC Core
//! §3.1.3.7) its signature is not needed to name the account; its `iss` and `aud` are still
//! checked. Without an ID token, userinfo is asked; without that, the account the token response
//! names (Claude's). Without any, the account is anonymous and keyed by a random subject, so
//! linking twice makes two accounts rather than merging strangers.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

use crate::exchange::TokenSet;
use crate::provider::Provider;

/// The account's identity at its provider.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The provider's stable subject.
    pub subject: String,
    /// Email, name or subject: what a person recognises.
    pub label: String,
}

impl Identity {
    /// Whether the provider said nothing of who signed in (the subject is a random one).
    pub fn is_anonymous(&self) -> bool {
        self.subject.starts_with(ANONYMOUS)
    }
}

/// The prefix of a subject Pixy made up for a sign-in the provider did not name.
const ANONYMOUS: &str = "anonymous-";

/// The longest label kept, in characters.
const MAX_LABEL: usize = 200;

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    iss: Option<String>,
    aud: Option<serde_json::Value>,
    email: Option<String>,
    name: Option<String>,
    preferred_username: Option<String>,
}

impl Claims {
    fn identity(self) -> Option<Identity> {
        let subject = self.sub.filter(|s| !s.is_empty())?;
        let label = [self.email, self.preferred_username, self.name]
            .into_iter()
            .flatten()
            .map(|l| crate::text::printable(&l, MAX_LABEL))
            .find(|l| !l.is_empty())
            .unwrap_or_else(|| crate::text::printable(&subject, MAX_LABEL));
        Some(Identity { subject, label })
    }
}

/// Finds out who the tokens belong to.
pub async fn identify(http: &reqwest::Client, provider: &Provider, tokens: &TokenSet) -> Identity {
    if let Some(id) = tokens.id_token.as_ref().and_then(|t| from_id_token(t.expose(), provider)) {
        return id;
    }
    if let Some(id) = from_userinfo(http, provider, tokens).await {
        return id;
    }
    if let Some((subject, email)) = &tokens.account {
        let label = crate::text::printable(email.as_deref().unwrap_or(subject), MAX_LABEL);
        return Identity { subject: subject.clone(), label };
    }
    let mut bytes = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    let subject = format!("{ANONYMOUS}{}", crate::pkce::base64url(&bytes));
    Identity { label: format!("{} account", provider.label), subject }
}

/// The identity in an ID token whose `iss` and `aud` fit the provider.
pub fn from_id_token(jwt: &str, provider: &Provider) -> Option<Identity> {
    let payload = jwt.split('.').nth(1)?;
    let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    let iss_ok = claims.iss.as_deref().is_some_and(|i| crate::discovery::same_issuer(i, &provider.issuer));
    let aud_ok = match &claims.aud {
        Some(serde_json::Value::String(a)) => *a == provider.client_id,
        Some(serde_json::Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(&provider.client_id)),
        _ => false,
    };
    if !(iss_ok && aud_ok) {
        tracing::info!(iss_ok, aud_ok, "ID token does not fit the provider; ignoring it");
        return None;
    }
    claims.identity()
}

async fn from_userinfo(http: &reqwest::Client, provider: &Provider, tokens: &TokenSet) -> Option<Identity> {
    let endpoint = provider.userinfo_endpoint.as_ref()?;
    let resp = http.get(endpoint).bearer_auth(tokens.access_token.expose()).send().await.ok()?;
    if !resp.status().is_success() {
        tracing::info!(status = resp.status().as_u16(), "userinfo refused");
        return None;
    }
    let body = crate::http::read_capped("userinfo", endpoint, resp).await.ok()?;
    serde_json::from_slice::<Claims>(&body).ok()?.identity()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> Provider {
        crate::provider::ProviderConfig {
            authorization_endpoint: Some("https://id.example.com/a".into()),
            token_endpoint: Some("https://id.example.com/t".into()),
            ..crate::provider::ProviderConfig::adhoc("p", "p", "https://id.example.com", "cid")
        }
        .into_provider(None)
        .unwrap()
    }

    fn jwt(claims: &str) -> String {
        format!("e30.{}.", URL_SAFE_NO_PAD.encode(claims))
    }

    #[test]
    fn the_id_token_names_the_account_by_email() {
        let t = jwt(r#"{"iss":"https://id.example.com","aud":"cid","sub":"u1","email":"a@example.com"}"#);
        assert_eq!(
            from_id_token(&t, &provider()),
            Some(Identity { subject: "u1".into(), label: "a@example.com".into() })
        );
    }

    #[test]
    fn escape_sequences_in_a_claim_never_reach_the_label() {
        let t = jwt(
            r#"{"iss":"https://id.example.com","aud":"cid","sub":"u1","email":"\u001b[2J\u001b]52;c;ZXZpbA==\u0007eve@example.com"}"#,
        );
        let label = from_id_token(&t, &provider()).unwrap().label;
        assert!(!label.chars().any(char::is_control), "a terminal would act on {label:?}");
        assert!(label.ends_with("eve@example.com"), "the readable part stays: {label:?}");
    }

    #[test]
    fn an_id_token_for_another_client_or_issuer_is_ignored() {
        let other_aud = jwt(r#"{"iss":"https://id.example.com","aud":"other","sub":"u1"}"#);
        let other_iss = jwt(r#"{"iss":"https://evil.example","aud":["cid"],"sub":"u1"}"#);
        assert_eq!(from_id_token(&other_aud, &provider()), None);
        assert_eq!(from_id_token(&other_iss, &provider()), None);
        assert_eq!(from_id_token("not a jwt", &provider()), None);
    }
}
