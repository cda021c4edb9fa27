//! Account records: the non-secret half of a linked account, its status and what clients see
//! of it. They are kept in the [`crate::index`]; secrets live in the [`crate::store`].

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ErrorKind;
use crate::provider::{GrantexSettings, Provider, TokenBody};
use crate::registration::ClientAuth;

/// An account as clients see it: metadata only, never a secret.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccountSummary {
    /// Stable id, e.g. `demo-3f9a1c2b`.
    pub id: String,
    /// The provider id.
    pub provider: String,
    /// Who the account is: email, name or subject.
    pub label: String,
    /// Connection status.
    pub status: AccountStatus,
    /// When the access token expires, in seconds since the Unix epoch, if known.
    pub expires_at: Option<u64>,
    /// When the current tokens were obtained (linked or last refreshed), in seconds since the Unix
    /// epoch.
    #[serde(default)]
    pub obtained_at: u64,
    /// When the account was linked, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked_at: Option<u64>,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Why the status is what it is, for NeedsRelink and Error (a sentence, never a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The kind of the last refresh failure, while it is not resolved (stale but linked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<crate::error::ErrorKind>,
    /// The protected resource (an MCP server) the account's tokens are for, if it was linked by
    /// a resource's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceLink>,
    /// Whether a refresh token is kept, so Pixy can renew the access token itself.
    #[serde(default)]
    pub has_refresh_token: bool,
    /// The host an unlink asks to revoke the tokens at; `None` when the provider offers no
    /// revocation (then the tokens are deleted here and lapse there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_host: Option<String>,
}

/// A protected resource an account was linked for, and how Pixy got its tokens: what `pixy
/// status` and the window show of it. Nothing here is secret.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResourceLink {
    /// The URL the person gave.
    pub url: String,
    /// The resource identifier the tokens are bound to (RFC 8707); `None` when the server
    /// refused the parameter and the link left it out.
    #[serde(default)]
    pub resource: Option<String>,
    /// Where its metadata was (none for a 2025-03-26 MCP server).
    #[serde(default)]
    pub metadata_url: Option<String>,
    /// The authorization server's issuer.
    pub authorization_server: String,
    /// How Pixy's client was registered there.
    pub registration: crate::registration::Method,
}

/// Connection status of an account.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Tokens are stored and usable (or refreshable).
    Connected,
    /// A refresh is under way.
    Refreshing,
    /// The access token has expired and there is no refresh token.
    Expired,
    /// The provider refused the refresh token, or the keyring lost it; the person must link again.
    NeedsRelink,
    /// Refreshing fails for another reason (see `last_error`); retried with backoff.
    Error,
}

impl AccountStatus {
    /// Whether the person should look at this account (the tray marks it).
    pub fn needs_attention(self) -> bool {
        matches!(self, AccountStatus::Expired | AccountStatus::NeedsRelink | AccountStatus::Error)
    }

    /// The status in words, as the CLI, the tray and the window all say it.
    pub fn words(self) -> &'static str {
        match self {
            AccountStatus::Connected => "Connected",
            AccountStatus::Refreshing => "Refreshing",
            AccountStatus::Expired => "Expired",
            AccountStatus::NeedsRelink => "Needs relink",
            AccountStatus::Error => "Can't refresh",
        }
    }
}

/// What Pixy remembers about a linked account, apart from its secrets.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccountRecord {
    /// Stable id, `PROVIDER-HASH8`.
    pub id: String,
    /// The provider id.
    pub provider: String,
    /// The provider's subject.
    pub subject: String,
    /// Email, name or subject.
    pub label: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// When the tokens were obtained (Unix seconds): linked, or last refreshed.
    pub obtained_at: u64,
    /// When the account was linked (Unix seconds); unknown for an account linked by an older Pixy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked_at: Option<u64>,
    /// When the access token expires (Unix seconds), if known.
    pub expires_at: Option<u64>,
    /// Connection status (an unknown one reads as `Error`, which the scheduler retries).
    #[serde(deserialize_with = "lenient::status")]
    pub status: AccountStatus,
    /// The provider's issuer, to find it again (ad-hoc providers are not in providers.toml).
    pub issuer: String,
    /// The client id the tokens were issued to.
    pub client_id: String,
    /// The endpoints the account was linked with, so it can refresh and revoke on its own when
    /// its provider's definition is broken or gone (absent in indexes of older versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Endpoints>,
    /// Whether a refresh token is stored.
    #[serde(default)]
    pub has_refresh_token: bool,
    /// A fingerprint of the stored refresh token (not the token): a different one in the keyring
    /// means another Pixy sharing the keyring refreshed, so its tokens are used as they are.
    #[serde(default)]
    pub refresh_fingerprint: Option<String>,
    /// Why the status is what it is (NeedsRelink, Error).
    #[serde(default)]
    pub reason: Option<String>,
    /// The kind of the last refresh failure, until a refresh succeeds (an unknown one reads as none).
    #[serde(default, deserialize_with = "lenient::error_kind")]
    pub last_error: Option<crate::error::ErrorKind>,
    /// The provider ended a new sign-in of this account when the refresh token it replaced was
    /// revoked (one grant for both): re-linking it leaves the replaced tokens to expire instead.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revocation_ends_grant: bool,
    /// A new link recorded before its secrets are written, so a crash between the two leaves a
    /// trace that reconciling at start finishes or rolls back. Clients never see such a record.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
    /// The grant the tokens belong to, where the protocol names one (Grantex): unlinking ends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    /// The protected resource the tokens are for, when it was linked by a resource's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceLink>,
    /// A refresh kept the same expiry (a Grantex grant token keeps its grant's `exp`): refreshing
    /// ahead of it again would loop, so the account is not refreshed again, and needs relinking
    /// once it expires.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub expiry_is_final: bool,
}

/// The provider endpoints an account needs after its link.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Endpoints {
    /// Where a sign-in starts.
    pub authorization_endpoint: String,
    /// Where tokens are refreshed.
    pub token_endpoint: String,
    /// Where tokens are revoked, if the provider has one.
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    /// Where the account's identity and a token's validity are checked, if the provider has one.
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    /// How its token endpoint takes a refresh.
    #[serde(default, skip_serializing_if = "TokenBody::is_form")]
    pub token_request: TokenBody,
    /// A Grantex provider's service and agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grantex: Option<GrantexSettings>,
    /// How the client authenticates (its secret, if any, is in the keyring with its registration).
    #[serde(default, skip_serializing_if = "ClientAuth::is_none")]
    pub client_auth: ClientAuth,
    /// The RFC 8707 resource sent with each refresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

impl Endpoints {
    /// The endpoints of `provider`.
    pub fn of(provider: &Provider) -> Endpoints {
        Endpoints {
            authorization_endpoint: provider.authorization_endpoint.clone(),
            token_endpoint: provider.token_endpoint.clone(),
            revocation_endpoint: provider.revocation_endpoint.clone(),
            userinfo_endpoint: provider.userinfo_endpoint.clone(),
            token_request: provider.token_body,
            grantex: provider.grantex.clone(),
            client_auth: provider.client_auth,
            resource: provider.resource.clone(),
        }
    }
}

impl AccountRecord {
    /// The provider as this account was linked with it: enough to refresh, check and revoke its
    /// tokens; `None` for an account linked before endpoints were kept.
    pub fn linked_provider(&self) -> Option<Provider> {
        let endpoints = self.endpoints.clone()?;
        let provider = Provider {
            id: self.provider.clone(),
            label: self.provider.clone(),
            issuer: self.issuer.clone(),
            client_id: self.client_id.clone(),
            authorization_endpoint: endpoints.authorization_endpoint,
            token_endpoint: endpoints.token_endpoint,
            revocation_endpoint: endpoints.revocation_endpoint,
            userinfo_endpoint: endpoints.userinfo_endpoint,
            default_scopes: self.scopes.clone(),
            token_body: endpoints.token_request,
            grantex: endpoints.grantex,
            client_auth: endpoints.client_auth,
            resource: endpoints.resource,
            ..Provider::default()
        };
        // An index edited by hand gets the same endpoint rules as a provider definition.
        provider.check().ok().map(|()| provider)
    }

    /// The id of the account of `subject` at `provider` (same person, same id).
    pub fn id_for(provider: &str, issuer: &str, subject: &str) -> String {
        let digest = Sha256::digest(format!("{provider}\0{issuer}\0{subject}").as_bytes());
        let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
        format!("{provider}-{hex}")
    }

    /// What clients see.
    pub fn summary(&self) -> AccountSummary {
        AccountSummary {
            id: self.id.clone(),
            provider: self.provider.clone(),
            // An index written before labels were cleaned may still hold a provider's escapes.
            label: crate::text::printable(&self.label, 200),
            status: self.status,
            expires_at: self.expires_at,
            obtained_at: self.obtained_at,
            linked_at: self.linked_at,
            scopes: self.scopes.clone(),
            reason: self.reason.as_deref().map(|r| crate::text::printable(r, 500)),
            last_error: self.last_error,
            // Addresses a server supplied: shown without control characters.
            resource: self.resource.as_ref().map(|r| ResourceLink {
                url: crate::text::printable(&r.url, 500),
                resource: r.resource.as_deref().map(|v| crate::text::printable(v, 500)),
                metadata_url: r.metadata_url.as_deref().map(|v| crate::text::printable(v, 500)),
                authorization_server: crate::text::printable(&r.authorization_server, 500),
                registration: r.registration,
            }),
            has_refresh_token: self.has_refresh_token,
            revocation_host: self.revocation_host(),
        }
    }

    /// Where an unlink revokes this account's tokens: its revocation endpoint's host, or for a
    /// Grantex grant its service's.
    fn revocation_host(&self) -> Option<String> {
        let endpoints = self.endpoints.as_ref()?;
        let url = match (&endpoints.revocation_endpoint, &endpoints.grantex) {
            (Some(url), _) => url.clone(),
            (None, Some(grantex)) => grantex.base_url.clone(),
            (None, None) => return None,
        };
        url::Url::parse(&url).ok()?.host_str().map(str::to_string)
    }

    /// Whether `provider` is the issuer and client this account was linked with.
    pub fn linked_with(&self, provider: &Provider) -> bool {
        // A Grantex issuer is a name: the service the tokens and key go to is its base URL.
        let service = |grantex: Option<&GrantexSettings>| grantex.map(|g| g.base_url.clone());
        crate::discovery::same_issuer(&provider.issuer, &self.issuer)
            && provider.client_id == self.client_id
            && service(provider.grantex.as_ref()) == service(self.endpoints.as_ref().and_then(|e| e.grantex.as_ref()))
    }

    /// This record in another status: one transition, which the daemon saves once.
    pub fn with_status(&self, status: AccountStatus, reason: Option<String>, last_error: Option<ErrorKind>) -> Self {
        AccountRecord {
            status,
            // Shown as a sentence beside the account (error messages start in lower case).
            reason: reason.map(|r| {
                let mut chars = r.chars();
                chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
            }),
            last_error,
            ..self.clone()
        }
    }

    /// When to refresh: at 80% of the token's lifetime or 2 minutes before it expires, whichever
    /// is earlier — but never before half its lifetime, so a token shorter than 4 minutes is not
    /// refreshed on every use; `None` when the expiry is unknown or final.
    pub fn refresh_due(&self) -> Option<u64> {
        if self.expiry_is_final {
            return None;
        }
        let expires_at = self.expires_at?;
        let lifetime = expires_at.saturating_sub(self.obtained_at);
        let ahead = (self.obtained_at.saturating_add(lifetime / 10 * 8)).min(expires_at.saturating_sub(120));
        // At least a second after the tokens were obtained, so a provider sending `expires_in: 0`
        // cannot make the scheduler refresh in a tight loop.
        Some(ahead.max(self.obtained_at + lifetime / 2).max(self.obtained_at + 1))
    }

    /// A fingerprint of a refresh token: 8 bytes of its SHA-256, enough to notice a change and
    /// useless for recovering it.
    pub fn fingerprint(refresh_token: &str) -> String {
        Sha256::digest(refresh_token.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect()
    }
}

/// Values of a newer or damaged index that this version does not know read as a safe default.
mod lenient {
    use serde::{Deserialize, Deserializer};

    use super::AccountStatus;
    use crate::error::ErrorKind;

    pub fn status<'de, D: Deserializer<'de>>(d: D) -> Result<AccountStatus, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        Ok(serde_json::from_value(value).unwrap_or(AccountStatus::Error))
    }

    pub fn error_kind<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ErrorKind>, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        Ok(serde_json::from_value(value).ok())
    }
}

#[cfg(test)]
impl AccountRecord {
    /// A record for tests.
    pub(crate) fn sample(id: &str) -> AccountRecord {
        AccountRecord {
            id: id.into(),
            provider: "demo".into(),
            subject: "s".into(),
            label: "l".into(),
            scopes: vec!["openid".into()],
            obtained_at: 1,
            linked_at: Some(1),
            expires_at: Some(2),
            status: AccountStatus::Connected,
            issuer: "http://i".into(),
            client_id: "c".into(),
            endpoints: None,
            has_refresh_token: true,
            refresh_fingerprint: None,
            reason: None,
            last_error: None,
            revocation_ends_grant: false,
            pending: false,
            grant_id: None,
            resource: None,
            expiry_is_final: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_is_due_at_80_percent_or_2_minutes_before_expiry() {
        let mut r = AccountRecord::sample("a");
        r.obtained_at = 1000;
        r.expires_at = Some(1000 + 3600);
        assert_eq!(r.refresh_due(), Some(1000 + 2880), "80% of an hour comes first");
        r.expires_at = Some(1000);
        assert_eq!(r.refresh_due(), Some(1001), "a zero lifetime still waits between refreshes");
        r.expires_at = Some(1000 + 300);
        assert_eq!(r.refresh_due(), Some(1000 + 180), "2 minutes before a 5-minute token's end");
        r.expires_at = Some(1000 + 60);
        assert_eq!(
            r.refresh_due(),
            Some(1000 + 30),
            "a one-minute token is refreshed at half its life, not on every use"
        );
        r.expires_at = None;
        assert_eq!(r.refresh_due(), None);
    }

    #[test]
    fn account_ids_are_stable_per_subject_and_provider() {
        let a = AccountRecord::id_for("demo", "http://i", "alice");
        assert_eq!(a, AccountRecord::id_for("demo", "http://i", "alice"));
        assert_ne!(a, AccountRecord::id_for("demo", "http://i", "bob"));
        assert!(a.starts_with("demo-") && a.len() == "demo-".len() + 8);
    }
}
