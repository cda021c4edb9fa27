//! Grantex grant tokens: RS256 JWTs, verified against the service's JWKS before Pixy keeps one.
//!
//! Rules:
//! - only RS256 is accepted (never `none`, never HMAC), with the JWKS key the header's `kid`
//!   names, or the service's only RSA key when it names none;
//! - `iss` must be the provider's issuer, `exp` in the future (a minute of leeway for clocks),
//!   `sub` and `jti` present;
//! - the grant's details come under the legacy names (`agt`, `scp`, `grnt`) or the newer ones
//!   (`scope`, `urn:grantex:grant.agent_did`, `urn:grantex:grant.grant_id`): both are read, and
//!   a token whose two forms disagree is refused;
//! - errors say what failed and never quote the token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use rsa::{BigUint, RsaPublicKey};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::http::{network_error, read_capped};

/// Leeway for the clocks of Pixy and the service.
const LEEWAY_SECS: u64 = 60;

/// What a verified grant token says.
#[derive(Debug, Clone, PartialEq)]
pub struct GrantClaims {
    /// The person who granted.
    pub subject: String,
    /// The token's id.
    pub jti: String,
    /// When the token expires, in seconds since the Unix epoch.
    pub expires_at: u64,
    /// The agent the grant is for (its DID).
    pub agent: Option<String>,
    /// The granted scopes.
    pub scopes: Vec<String>,
    /// The grant's id.
    pub grant_id: Option<String>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

fn refused(why: &str) -> Error {
    Error::new(ErrorKind::TokenEndpoint, format!("Grantex sent a grant token Pixy does not trust: {why}"))
}

/// Fetches the service's JWKS and verifies `token` with it; `now` is seconds since the epoch.
pub async fn verify(
    http: &reqwest::Client,
    jwks_url: &str,
    token: &str,
    issuer: &str,
    now: u64,
) -> Result<GrantClaims> {
    let resp = http
        .get(jwks_url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| network_error("fetching Grantex's signing keys", jwks_url, &e))?;
    let status = resp.status();
    let body = read_capped("Grantex JWKS", jwks_url, resp).await?;
    if !status.is_success() {
        return Err(Error::new(ErrorKind::Network, format!("Grantex's signing keys could not be fetched ({status})")));
    }
    let jwks: Jwks = serde_json::from_slice(&body).map_err(|_| refused("its signing keys are not a JWKS"))?;
    verify_with(&jwks, token, issuer, now)
}

fn verify_with(jwks: &Jwks, token: &str, issuer: &str, now: u64) -> Result<GrantClaims> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(refused("it is not a JWT"));
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| refused("it is not base64url"));
    let header: Header = serde_json::from_slice(&decode(header)?).map_err(|_| refused("its header is not JSON"))?;
    if header.alg != "RS256" {
        return Err(refused("it is not signed with RS256"));
    }
    let rsa_keys = jwks.keys.iter().filter(|k| k.kty == "RSA");
    let key = match &header.kid {
        Some(kid) => rsa_keys.into_iter().find(|k| k.kid.as_deref() == Some(kid)),
        None => {
            let keys: Vec<_> = rsa_keys.collect();
            (keys.len() == 1).then(|| keys[0])
        }
    }
    .ok_or_else(|| refused("no signing key of the service matches it"))?;
    let public = public_key(key)?;
    let signature =
        Signature::try_from(decode(signature)?.as_slice()).map_err(|_| refused("its signature is malformed"))?;
    let signed = token.rsplit_once('.').map_or("", |(signed, _)| signed);
    VerifyingKey::<sha2::Sha256>::new(public)
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| refused("its signature does not verify"))?;
    let claims: serde_json::Map<String, Value> =
        serde_json::from_slice(&decode(payload)?).map_err(|_| refused("its claims are not JSON"))?;
    read_claims(&claims, issuer, now)
}

fn public_key(key: &Jwk) -> Result<RsaPublicKey> {
    let number = |value: &Option<String>| {
        value
            .as_deref()
            .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
            .map(|bytes| BigUint::from_bytes_be(&bytes))
            .ok_or_else(|| refused("the service's signing key is malformed"))
    };
    RsaPublicKey::new(number(&key.n)?, number(&key.e)?).map_err(|_| refused("the service's signing key is unusable"))
}

fn read_claims(claims: &serde_json::Map<String, Value>, issuer: &str, now: u64) -> Result<GrantClaims> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    let iss = text("iss").ok_or_else(|| refused("it names no issuer"))?;
    if !crate::discovery::same_issuer(&iss, issuer) {
        return Err(refused("it was issued by another service than this provider's"));
    }
    let expires_at = claims.get("exp").and_then(Value::as_u64).ok_or_else(|| refused("it has no expiry"))?;
    if expires_at.saturating_add(LEEWAY_SECS) <= now {
        return Err(refused("it has already expired"));
    }
    let subject = text("sub").ok_or_else(|| refused("it names no subject"))?;
    let jti = text("jti").ok_or_else(|| refused("it has no id"))?;
    let agent = either(text("urn:grantex:grant.agent_did"), text("agt"), "agent")?;
    let grant_id = either(text("urn:grantex:grant.grant_id"), text("grnt"), "grant id")?;
    let newer_scopes = text("scope").map(|s| s.split_whitespace().map(str::to_string).collect::<Vec<_>>());
    let legacy_scopes = claims
        .get("scp")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_str).map(str::to_string).collect::<Vec<_>>());
    let scopes = either(newer_scopes, legacy_scopes, "scopes")?.unwrap_or_default();
    Ok(GrantClaims { subject, jti, expires_at, agent, scopes, grant_id })
}

/// The newer claim or the legacy one; a token carrying both with different values is refused.
fn either<T: PartialEq>(newer: Option<T>, legacy: Option<T>, what: &str) -> Result<Option<T>> {
    match (newer, legacy) {
        (Some(a), Some(b)) if a != b => Err(refused(&format!("its two {what} claims disagree"))),
        (Some(a), _) => Ok(Some(a)),
        (None, b) => Ok(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(json: Value) -> serde_json::Map<String, Value> {
        json.as_object().unwrap().clone()
    }

    #[test]
    fn legacy_and_newer_claim_names_read_alike() {
        let legacy = claims(serde_json::json!({
            "iss": "https://grantex.dev", "sub": "p1", "jti": "j", "exp": 2000,
            "agt": "did:grantex:a", "scp": ["files:read", "mail:send"], "grnt": "g1"
        }));
        let newer = claims(serde_json::json!({
            "iss": "https://grantex.dev/", "sub": "p1", "jti": "j", "exp": 2000,
            "urn:grantex:grant.agent_did": "did:grantex:a", "scope": "files:read mail:send",
            "urn:grantex:grant.grant_id": "g1"
        }));
        let a = read_claims(&legacy, "https://grantex.dev", 1000).unwrap();
        let b = read_claims(&newer, "https://grantex.dev", 1000).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.scopes, ["files:read", "mail:send"]);
        assert_eq!(a.grant_id.as_deref(), Some("g1"));
    }

    #[test]
    fn disagreeing_claims_another_issuer_and_an_expired_token_are_refused() {
        let base = serde_json::json!({"iss": "https://grantex.dev", "sub": "p1", "jti": "j", "exp": 2000});
        let with = |k: &str, v: Value| {
            let mut c = claims(base.clone());
            c.insert(k.into(), v);
            c
        };
        let mut both = with("agt", "did:a".into());
        both.insert("urn:grantex:grant.agent_did".into(), "did:b".into());
        assert!(read_claims(&both, "https://grantex.dev", 1000).unwrap_err().message.contains("disagree"));
        let other = with("iss", "https://evil.example".into());
        assert!(read_claims(&other, "https://grantex.dev", 1000).unwrap_err().message.contains("another service"));
        assert!(read_claims(&claims(base.clone()), "https://grantex.dev", 2100)
            .unwrap_err()
            .message
            .contains("expired"));
        assert!(read_claims(&claims(base), "https://grantex.dev", 2030).is_ok(), "a minute of leeway");
    }

    #[test]
    fn unsigned_hmac_and_garbage_tokens_are_refused_without_quoting_them() {
        let jwks = Jwks { keys: vec![] };
        let header = |alg: &str| URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}"}}"#));
        let body = URL_SAFE_NO_PAD.encode(r#"{"sub":"secret-sub"}"#);
        for token in
            [format!("{}.{body}.", header("none")), format!("{}.{body}.c2ln", header("HS256")), "garbage".into()]
        {
            let err = verify_with(&jwks, &token, "https://grantex.dev", 0).unwrap_err();
            assert_eq!(err.kind, ErrorKind::TokenEndpoint);
            assert!(!err.message.contains("secret-sub") && !err.message.contains(&body), "{}", err.message);
        }
    }
}
