//! Where tokens live: the [`TokenStore`] trait, the OS keyring behind it ([`keyring`]) and an
//! in-memory store for tests ([`memory`]).
//!
//! Each secret is its own entry (`ACCOUNT:access_token`, `ACCOUNT:refresh_token`,
//! `ACCOUNT:id_token`) under the service [`SERVICE`], so each fits Windows' 2,560-byte limit.
//! Store calls may block (a locked keyring can wait on an unlock prompt), so async code goes
//! through [`blocking`], which runs them off the runtime with a timeout.

pub mod keyring;
pub mod memory;

use std::sync::Arc;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result};
use crate::secret::{AccessToken, ApiKey, ClientSecret, IdToken, RefreshToken, RegistrationToken};

/// The keyring service name: the app identifier.
pub const SERVICE: &str = "dev.pixy.Pixy";

/// How long one store call may take before it counts as a locked keyring.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// One kind of secret kept for an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The access token.
    AccessToken,
    /// The refresh token.
    RefreshToken,
    /// The ID token.
    IdToken,
    /// A provider's developer API key (Grantex), kept under [`provider_key`] rather than an
    /// account: not in [`Field::ALL`], so unlinking an account or sweeping orphans never touches it.
    ApiKey,
    /// A registration's client secret, kept under [`crate::registration::store_key`]: like
    /// [`Field::ApiKey`], not in [`Field::ALL`].
    ClientSecret,
    /// A registration's RFC 7592 access token, kept with its client secret.
    RegistrationToken,
}

/// The store key of a provider's own secrets, which no account id can take (ids have no `:`).
pub fn provider_key(provider: &str) -> String {
    format!("provider:{provider}")
}

impl Field {
    /// Every field, in the order they are written.
    pub const ALL: [Field; 3] = [Field::RefreshToken, Field::AccessToken, Field::IdToken];

    /// The entry name for an account's field.
    pub fn entry(self, account: &str) -> String {
        format!("{account}:{}", self.suffix())
    }

    fn suffix(self) -> &'static str {
        match self {
            Field::AccessToken => "access_token",
            Field::RefreshToken => "refresh_token",
            Field::IdToken => "id_token",
            Field::ApiKey => "api_key",
            Field::ClientSecret => "client_secret",
            Field::RegistrationToken => "registration_access_token",
        }
    }

    /// The account and field an entry name stands for; `None` for a name Pixy does not write.
    pub fn parse_entry(name: &str) -> Option<(String, Field)> {
        let (account, suffix) = name.rsplit_once(':')?;
        let field = Field::ALL.into_iter().find(|f| f.suffix() == suffix)?;
        (!account.is_empty()).then(|| (account.to_string(), field))
    }
}

/// A secret with an entry of its own in the store: what callers put and get, typed, so a token
/// is never a bare string between the keyring and the one place that hands it out.
pub trait StoredSecret: Sized {
    /// The entry it is kept in.
    const FIELD: Field;
    /// Wraps a value read from the store.
    fn from_stored(value: Zeroizing<String>) -> Self;
    /// The value to write.
    fn stored(&self) -> &str;
}

macro_rules! stored_secret {
    ($type:ty, $field:expr) => {
        impl StoredSecret for $type {
            const FIELD: Field = $field;
            fn from_stored(value: Zeroizing<String>) -> Self {
                <$type>::new(value.as_str())
            }
            fn stored(&self) -> &str {
                self.expose()
            }
        }
    };
}

stored_secret!(AccessToken, Field::AccessToken);
stored_secret!(RefreshToken, Field::RefreshToken);
stored_secret!(IdToken, Field::IdToken);
stored_secret!(ApiKey, Field::ApiKey);
stored_secret!(ClientSecret, Field::ClientSecret);
stored_secret!(RegistrationToken, Field::RegistrationToken);

impl dyn TokenStore {
    /// Writes a secret of `account`.
    pub fn put_secret<S: StoredSecret>(&self, account: &str, secret: &S) -> Result<()> {
        self.put(account, S::FIELD, secret.stored())
    }

    /// Deletes every secret of `account`.
    pub fn delete_all(&self, account: &str) -> Result<()> {
        Field::ALL.iter().try_for_each(|field| self.delete(account, *field))
    }

    /// Reads a secret of `account`; `None` when it is not there.
    pub fn get_secret<S: StoredSecret>(&self, account: &str) -> Result<Option<S>> {
        Ok(self.get(account, S::FIELD)?.map(S::from_stored))
    }
}

/// A place that keeps secrets. Implementations provide these raw calls; the daemon goes through
/// the typed [`put_secret`](trait.TokenStore.html#method.put_secret) and
/// [`get_secret`](trait.TokenStore.html#method.get_secret).
pub trait TokenStore: Send + Sync + 'static {
    /// Fails with [`ErrorKind::KeyringUnavailable`] or [`ErrorKind::KeyringLocked`] when the
    /// store cannot be used; runs before any browser opens.
    fn probe(&self) -> Result<()>;
    /// Writes one secret.
    fn put(&self, account: &str, field: Field, value: &str) -> Result<()>;
    /// Reads one secret; `None` when it is not there.
    fn get(&self, account: &str, field: Field) -> Result<Option<Zeroizing<String>>>;
    /// Deletes one secret; deleting a missing one is not an error.
    fn delete(&self, account: &str, field: Field) -> Result<()>;
    /// The name of every entry under [`SERVICE`], whatever it holds (an account's secret, a
    /// registration's, a provider's API key, or a name this Pixy does not know): what a reset
    /// deletes.
    fn entries(&self) -> Result<Vec<String>>;
    /// Deletes the entry named `name` under [`SERVICE`]; deleting a missing one is not an error.
    fn delete_entry(&self, name: &str) -> Result<()>;
    /// Every account secret Pixy keeps, as (account, field): what reconciling at start compares
    /// with the account index to find secrets no account names. A store that cannot list says so
    /// with an error, and nothing is swept.
    fn list(&self) -> Result<Vec<(String, Field)>> {
        Ok(self.entries()?.iter().filter_map(|name| Field::parse_entry(name)).collect())
    }
}

/// Runs a store call on the blocking pool, with [`TIMEOUT`].
pub async fn blocking<T, F>(store: &Arc<dyn TokenStore>, call: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&dyn TokenStore) -> Result<T> + Send + 'static,
{
    let store = store.clone();
    let task = tokio::task::spawn_blocking(move || call(store.as_ref()));
    match tokio::time::timeout(TIMEOUT, task).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(Error::new(ErrorKind::Internal, "a keyring call panicked")),
        Err(_) => Err(Error::new(
            ErrorKind::KeyringLocked,
            format!(
                "the keyring did not answer within {} s; it may be locked and waiting for its password — unlock it and try again",
                TIMEOUT.as_secs()
            ),
        )),
    }
}
