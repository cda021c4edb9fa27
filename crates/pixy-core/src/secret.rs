//! Secret values as types: the PKCE verifier, the authorization code, the state and the tokens.
//!
//! Invariants: `Debug` prints `Name([redacted])`; there is no `Display`, `Serialize` or
//! `PartialEq` (state is compared in constant time by [`State::matches`]); memory is zeroed on
//! drop. The verifier is not `Clone`, so one verifier serves exactly one exchange.

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

macro_rules! secret_string {
    ($(#[$doc:meta])* $name:ident $(, $derive:ident)*) => {
        $(#[$doc])*
        $(#[derive($derive)])*
        pub struct $name(Zeroizing<String>);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                $name(Zeroizing::new(value.into()))
            }
            /// The secret itself: use it only where it must leave (a request, the keyring).
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

secret_string!(
    /// The PKCE code verifier (RFC 7636): lives in the daemon for one flow, never leaves but to
    /// the token endpoint.
    PkceVerifier
);
secret_string!(
    /// The authorization code from the redirect.
    AuthCode
);
secret_string!(
    /// A developer API key (Grantex's): a secret of a provider, not of an account.
    ApiKey, Clone
);
secret_string!(
    /// A client secret: of a confidential client the person registered, or one a registration
    /// endpoint issued. A secret of an authorization server's registration, not of an account.
    ClientSecret, Clone
);
secret_string!(
    /// An RFC 7592 registration access token: reads back a dynamic registration.
    RegistrationToken, Clone
);
secret_string!(
    /// The device code of an RFC 8628 device authorization: only the token endpoint sees it.
    DeviceCode
);
secret_string!(
    /// The `state` that binds a redirect to the flow that started it.
    State
);
secret_string!(
    /// An access token.
    AccessToken, Clone
);
secret_string!(
    /// A refresh token.
    RefreshToken, Clone
);
secret_string!(
    /// An OpenID Connect ID token.
    IdToken, Clone
);

/// `N` bytes from the OS CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    use rand::RngCore;
    let mut bytes = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

impl State {
    /// A fresh state of 256 bits from the OS CSPRNG: 43 characters, which every provider accepts
    /// (some, such as newer Grantex servers, require at least 32).
    pub fn generate() -> State {
        State::new(crate::pkce::base64url(&random_bytes::<32>()))
    }

    /// Constant-time comparison with a value from a redirect.
    pub fn matches(&self, candidate: &str) -> bool {
        self.expose().as_bytes().ct_eq(candidate.as_bytes()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_secret_type_redacts_its_debug_output() {
        let printed = [
            format!("{:?}", PkceVerifier::new("v-secret")),
            format!("{:?}", AuthCode::new("c-secret")),
            format!("{:?}", State::new("s-secret")),
            format!("{:?}", AccessToken::new("a-secret")),
            format!("{:?}", RefreshToken::new("r-secret")),
            format!("{:?}", IdToken::new("i-secret")),
            format!("{:?}", ClientSecret::new("cs-secret")),
            format!("{:?}", RegistrationToken::new("rt-secret")),
            format!("{:?}", ApiKey::new("k-secret")),
            format!("{:?}", DeviceCode::new("d-secret")),
        ];
        for p in &printed {
            assert!(!p.contains("secret"), "Debug leaked a secret: {p}");
            assert!(p.ends_with("([redacted])"), "Debug should say it redacted: {p}");
        }
        assert_eq!(printed[0], "PkceVerifier([redacted])");
    }

    #[test]
    fn state_matches_only_itself() {
        let s = State::new("abc123");
        assert!(s.matches("abc123"));
        assert!(!s.matches("abc124"), "a different state must not match");
        assert!(!s.matches("abc12"), "a prefix must not match");
        assert!(!s.matches(""), "an empty state must not match");
    }

    #[test]
    fn generated_states_are_long_and_distinct() {
        let a = State::generate();
        let b = State::generate();
        assert_eq!(a.expose().len(), 43, "32 bytes base64url = 43 chars (256 bits)");
        assert!(!a.matches(b.expose()), "two states must differ");
    }
}
