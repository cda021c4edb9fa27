//! Grantex grant tokens: RS256 JWTs (RSA 2048, PKCS#1 v1.5, SHA-256) signed with the demo's fixed key, and the
//! JWKS at `/.well-known/jwks.json` that verifies them.
//!
//! The claims are those of Grantex's auth-service: `iss` (the demo's issuer), `sub` (the principal), `jti`, `iat`,
//! `exp`, and the grant's details under the legacy names `agt` (the agent's DID), `scp` (an array of scopes),
//! `grnt` (the grant id) and `dev` (the developer id), or, when a server is started with
//! [`crate::GrantexConfig::new_claim_names`], under the newer ones: `scope` (space-separated),
//! `urn:grantex:grant.agent_did`, `urn:grantex:grant.grant_id` and `urn:grantex:grant.developer_id`.
//!
//! Invariants: the JWKS publishes the demo key's public half only; a token is signed with the demo key, or, when a
//! server is started with [`crate::GrantexConfig::forge_signature`], with a second key under the same `kid` that
//! the JWKS does not hold, so a client's refusal of a forged token can be tested. Signing is deterministic
//! (PKCS#1 v1.5), so the same claims give the same token: an idempotent refresh retry repeats its answer without the
//! token being stored.
//!
//! Security notes: both private keys are published demo fixtures, generated once with `openssl genrsa 2048` and
//! committed with the source. They are not secrets and sign nothing but the demo's own tokens; a grant token from
//! the demo proves nothing outside a test.

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hyper::StatusCode;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::reply::{self, Reply};

/// The demo's signing key: a published fixture (see the module notes), not a secret.
const DEMO_KEY_PEM: &str = include_str!("grantex_demo_key.pem");

/// The key forged tokens are signed with: another published fixture, never in the JWKS.
const FORGED_KEY_PEM: &str = include_str!("grantex_forged_key.pem");

/// The `kid` of the demo key, in the JWKS and in every token's header (forged ones too).
pub(crate) const KID: &str = "pixy-demo-grantex-1";

/// The demo's keys, loaded once per process: parsing is cheap, but every test starts servers.
pub(crate) struct Keys {
    demo: SigningKey<Sha256>,
    forged: SigningKey<Sha256>,
    jwk: Value,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").field("kid", &KID).finish_non_exhaustive()
    }
}

/// The keys, or why the embedded PEM files could not be read (a build defect a unit test catches).
pub(crate) fn keys() -> std::io::Result<&'static Keys> {
    static KEYS: OnceLock<Result<Keys, String>> = OnceLock::new();
    KEYS.get_or_init(load).as_ref().map_err(|error| std::io::Error::other(error.clone()))
}

fn load() -> Result<Keys, String> {
    let parse = |pem: &str| {
        RsaPrivateKey::from_pkcs8_pem(pem)
            .map_err(|error| format!("the embedded Grantex demo key is unreadable: {error}"))
    };
    let demo = parse(DEMO_KEY_PEM)?;
    let forged = parse(FORGED_KEY_PEM)?;
    let jwk = json!({
        "kty": "RSA",
        "kid": KID,
        "use": "sig",
        "alg": "RS256",
        "n": URL_SAFE_NO_PAD.encode(demo.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(demo.e().to_bytes_be()),
    });
    Ok(Keys { demo: SigningKey::new(demo), forged: SigningKey::new(forged), jwk })
}

/// `GET /.well-known/jwks.json`
pub(crate) fn jwks(keys: &Keys) -> Reply {
    reply::json(StatusCode::OK, &json!({ "keys": [keys.jwk] }))
}

/// What one grant token says.
#[derive(Debug)]
pub(crate) struct GrantClaims<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) principal_id: &'a str,
    pub(crate) agent_did: &'a str,
    pub(crate) developer_id: &'a str,
    pub(crate) scopes: &'a [String],
    pub(crate) grant_id: &'a str,
    pub(crate) jti: &'a str,
    pub(crate) iat: u64,
    pub(crate) exp: u64,
}

/// How a token is made, as its server was configured.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Signing {
    /// The newer claim names instead of the legacy ones.
    pub(crate) new_claim_names: bool,
    /// Sign with the forged key, which the JWKS does not hold.
    pub(crate) forge: bool,
}

/// The compact JWS of `claims`.
pub(crate) fn sign(keys: &Keys, claims: &GrantClaims<'_>, signing: Signing) -> String {
    let header = json!({ "alg": "RS256", "typ": "JWT", "kid": KID });
    let mut body = json!({
        "iss": claims.issuer,
        "sub": claims.principal_id,
        "jti": claims.jti,
        "iat": claims.iat,
        "exp": claims.exp,
    });
    if signing.new_claim_names {
        body["scope"] = claims.scopes.join(" ").into();
        body["urn:grantex:grant.agent_did"] = claims.agent_did.into();
        body["urn:grantex:grant.grant_id"] = claims.grant_id.into();
        body["urn:grantex:grant.developer_id"] = claims.developer_id.into();
    } else {
        body["agt"] = claims.agent_did.into();
        body["scp"] = claims.scopes.into();
        body["grnt"] = claims.grant_id.into();
        body["dev"] = claims.developer_id.into();
    }
    let encode = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
    let signing_input = format!("{}.{}", encode(&header), encode(&body));
    let key = if signing.forge { &keys.forged } else { &keys.demo };
    let signature = key.sign(signing_input.as_bytes()).to_bytes();
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

#[cfg(test)]
mod tests {
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::signature::Verifier;
    use rsa::{BigUint, RsaPublicKey};

    use super::*;

    fn claims() -> GrantClaims<'static> {
        static SCOPES: OnceLock<Vec<String>> = OnceLock::new();
        GrantClaims {
            issuer: "http://127.0.0.1:4000",
            principal_id: "user_1",
            agent_did: "did:grantex:ag_demo_agent",
            developer_id: "dev_1",
            scopes: SCOPES.get_or_init(|| vec!["calendar:read".into(), "email:send".into()]),
            grant_id: "grnt_1",
            jti: "tok_1",
            iat: 1_700_000_000,
            exp: 1_700_003_600,
        }
    }

    /// Verifies `token` against the JWKS the way a client would; returns its claims.
    fn verify(keys: &Keys, token: &str) -> Option<Value> {
        let jwk = &keys.jwk;
        let number = |name: &str| BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap());
        let public = RsaPublicKey::new(number("n"), number("e")).unwrap();
        let (input, signature) = token.rsplit_once('.').unwrap();
        let signature = Signature::try_from(URL_SAFE_NO_PAD.decode(signature).unwrap().as_slice()).unwrap();
        VerifyingKey::<Sha256>::new(public).verify(input.as_bytes(), &signature).ok()?;
        let body = input.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).ok()
    }

    #[test]
    fn the_embedded_keys_load_and_differ() {
        let keys = keys().expect("the embedded PEM files must parse");
        assert_eq!(keys.jwk["kty"], "RSA", "the JWK is an RSA key");
        assert_eq!(URL_SAFE_NO_PAD.decode(keys.jwk["n"].as_str().unwrap()).unwrap().len(), 256, "RSA 2048");
        assert_eq!(keys.jwk["e"], "AQAB", "the usual public exponent, 65537");
        assert_ne!(
            keys.demo.as_ref().n(),
            keys.forged.as_ref().n(),
            "the forging key must not be the demo key, or forged tokens would verify"
        );
    }

    #[test]
    fn a_token_verifies_against_the_jwks_and_carries_the_legacy_claims() {
        let keys = keys().unwrap();
        let token = sign(keys, &claims(), Signing { new_claim_names: false, forge: false });
        let claims = verify(keys, &token).expect("a token from the demo key must verify against the JWKS");
        assert_eq!(claims["agt"], "did:grantex:ag_demo_agent", "the legacy agent claim");
        assert_eq!(claims["scp"], json!(["calendar:read", "email:send"]), "the legacy scope claim is an array");
        assert_eq!((claims["grnt"].as_str(), claims["dev"].as_str()), (Some("grnt_1"), Some("dev_1")));
        assert!(claims.get("scope").is_none(), "the newer names are not mixed in");
    }

    #[test]
    fn the_newer_claim_names_replace_the_legacy_ones() {
        let keys = keys().unwrap();
        let token = sign(keys, &claims(), Signing { new_claim_names: true, forge: false });
        let claims = verify(keys, &token).unwrap();
        assert_eq!(claims["scope"], "calendar:read email:send", "the newer scope claim is space-separated");
        assert_eq!(claims["urn:grantex:grant.agent_did"], "did:grantex:ag_demo_agent");
        assert_eq!(claims["urn:grantex:grant.grant_id"], "grnt_1");
        assert_eq!(claims["urn:grantex:grant.developer_id"], "dev_1");
        assert!(claims.get("agt").is_none() && claims.get("scp").is_none(), "the legacy names are not mixed in");
    }

    #[test]
    fn a_forged_token_does_not_verify_against_the_jwks() {
        let keys = keys().unwrap();
        let token = sign(keys, &claims(), Signing { new_claim_names: false, forge: true });
        assert!(verify(keys, &token).is_none(), "a token signed by a key outside the JWKS must not verify");
    }

    #[test]
    fn signing_is_deterministic() {
        let keys = keys().unwrap();
        let signing = Signing { new_claim_names: false, forge: false };
        assert_eq!(sign(keys, &claims(), signing), sign(keys, &claims(), signing), "an idempotent retry relies on it");
    }
}
