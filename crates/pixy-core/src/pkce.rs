//! PKCE (RFC 7636), S256 only.
//!
//! The verifier is 32 bytes from a CSPRNG (rand's thread generator: ChaCha12, seeded and
//! periodically reseeded from the OS, as the oauth2 crate uses; a read of the OS source per pair
//! costs twice the time and buys nothing), base64url without padding (43 characters); the
//! challenge is base64url-nopad(SHA-256(verifier)). `plain` is never offered: a verifier that
//! could travel in the authorization request would defeat the point.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::secret::PkceVerifier;

/// The only challenge method Pixy sends.
pub const CHALLENGE_METHOD: &str = "S256";

/// base64url without padding.
pub fn base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A verifier and its challenge, made together for one flow.
#[derive(Debug)]
pub struct PkcePair {
    /// The secret half, sent only to the token endpoint.
    pub verifier: PkceVerifier,
    /// The public half, sent in the authorization request.
    pub challenge: String,
}

impl PkcePair {
    /// A new pair from 32 CSPRNG bytes.
    pub fn generate() -> PkcePair {
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        rand::thread_rng().fill_bytes(seed.as_mut());
        PkcePair::from_seed(&seed)
    }

    /// The pair for given seed bytes (tests pass known vectors).
    pub fn from_seed(seed: &[u8; 32]) -> PkcePair {
        let verifier = PkceVerifier::new(base64url(seed));
        let challenge = challenge_for(verifier.expose());
        PkcePair { verifier, challenge }
    }
}

/// The S256 challenge of a verifier.
pub fn challenge_for(verifier: &str) -> String {
    base64url(&Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        assert_eq!(
            challenge_for("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn grantex_sdk_vectors() {
        let mut ascending = [0u8; 32];
        for (i, b) in ascending.iter_mut().enumerate() {
            *b = i as u8;
        }
        let vectors: [([u8; 32], &str, &str); 3] = [
            ([0u8; 32], "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "DwBzhbb51LfusnSGBa_hqYSgo7-j8BTQnip4TOnlzRo"),
            (ascending, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", "6oZqdX5MOLq_qBJ8vppAnT4fk6AP8UiP9zX8-Rev_9A"),
            (
                [0xffu8; 32],
                "__________________________________________8",
                "Il9-dTKd1FqjVJddc5hzGTCTk686TGczvBNgGk8bh5Y",
            ),
        ];
        for (seed, verifier, challenge) in vectors {
            let pair = PkcePair::from_seed(&seed);
            assert_eq!(pair.verifier.expose(), verifier, "verifier for seed {seed:02x?}");
            assert_eq!(pair.challenge, challenge, "challenge for seed {seed:02x?}");
        }
    }

    #[test]
    fn generated_verifiers_are_43_url_safe_chars_and_never_repeat() {
        let a = PkcePair::generate();
        let b = PkcePair::generate();
        assert_eq!(a.verifier.expose().len(), 43);
        assert!(a.verifier.expose().chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(a.verifier.expose(), b.verifier.expose(), "a verifier must never be reused");
        assert_eq!(a.challenge, challenge_for(a.verifier.expose()));
    }
}
