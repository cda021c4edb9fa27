//! A provider a person adds by its issuer, without a text editor: what discovery found there, the
//! checks of each field they fill in, and the entry appended to providers.toml.
//!
//! - **Found first.** [`Found`] says what the issuer's metadata offers (endpoints, PKCE S256, the
//!   `iss` response parameter) and suggests an id, a label and scopes. Nothing is saved yet.
//! - **Checked per field.** [`problems`] returns one sentence per field that is wrong, so a form can
//!   show each next to its field. Adding checks again: a client's checks are never trusted.
//! - **Appended, never rewritten.** The file is edited with a format-preserving TOML library: the
//!   person's comments, order and spacing stay as they were, and the new `[[provider]]` table goes
//!   at the end. A file that is not TOML is refused with its line, never overwritten. The write is
//!   atomic (a crash leaves the old file or the new one).
//! - **OpenID Connect's `offline_access`** is granted only after an explicit consent prompt (OpenID
//!   Connect Core, section 11), so asking for it adds `prompt = "consent"` to the entry.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::discovery::Metadata;
use crate::error::{Error, ErrorKind, Result};
use crate::http::check_endpoint;

/// The longest id, label, client id or scope accepted.
const MAX_FIELD: usize = 200;

/// What a person entered to add a provider.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct NewProvider {
    /// The entry's id: letters, digits, `-` and `_`.
    pub id: String,
    /// The name shown for it.
    pub label: String,
    /// The issuer its endpoints are discovered from.
    pub issuer: String,
    /// The client id Pixy was registered with there (a public, native client).
    pub client_id: String,
    /// The scopes to ask for.
    pub scopes: Vec<String>,
}

/// One field's problem, for a form to show beside that field.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FieldProblem {
    /// `id`, `label`, `issuer`, `client_id` or `scopes`.
    pub field: String,
    /// What is wrong, in a sentence.
    pub message: String,
}

impl FieldProblem {
    fn new(field: &str, message: impl Into<String>) -> FieldProblem {
        FieldProblem { field: field.to_string(), message: message.into() }
    }
}

/// What an issuer's metadata offers, and what Pixy suggests for the rest of the form.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Found {
    /// The issuer as its metadata names it.
    pub issuer: String,
    /// Where the browser signs in.
    pub authorization_endpoint: Option<String>,
    /// Where codes and refresh tokens are exchanged.
    pub token_endpoint: Option<String>,
    /// Where tokens are revoked on disconnect, if anywhere.
    pub revocation_endpoint: Option<String>,
    /// Where a device code is asked for, if it offers that way.
    pub device_authorization_endpoint: Option<String>,
    /// It lists PKCE with S256, or lists no methods at all (then S256 is sent and tried).
    pub pkce_s256: bool,
    /// It lists PKCE methods, so `pkce_s256` is its own word rather than an assumption.
    pub pkce_listed: bool,
    /// It sends `iss` with its answers (RFC 9207), which Pixy then checks.
    pub iss_parameter: bool,
    /// Why Pixy cannot link with it as it is, if so.
    pub problem: Option<String>,
    /// An id not yet taken, from its host.
    pub suggested_id: String,
    /// A label, from its host.
    pub suggested_label: String,
    /// The scopes to start from: OpenID's basics and `offline_access` where it lists them.
    pub suggested_scopes: Vec<String>,
}

impl Found {
    /// What `meta` offers; `taken` says which ids are in use.
    pub fn of(meta: &Metadata, taken: impl Fn(&str) -> bool) -> Found {
        let methods = &meta.code_challenge_methods_supported;
        let pkce_s256 = methods.is_empty() || methods.iter().any(|m| m == crate::pkce::CHALLENGE_METHOD);
        let problem = match (&meta.authorization_endpoint, &meta.token_endpoint) {
            _ if !pkce_s256 => Some("it does not support PKCE with S256, the only way Pixy signs in".to_string()),
            (None, _) => Some("its metadata names no authorization endpoint".to_string()),
            (_, None) => Some("its metadata names no token endpoint".to_string()),
            _ => None,
        };
        let host = url::Url::parse(&meta.issuer).ok().and_then(|u| u.host_str().map(str::to_string));
        let host = host.unwrap_or_else(|| "provider".into());
        Found {
            issuer: meta.issuer.clone(),
            authorization_endpoint: meta.authorization_endpoint.clone(),
            token_endpoint: meta.token_endpoint.clone(),
            revocation_endpoint: meta.revocation_endpoint.clone(),
            device_authorization_endpoint: meta.device_authorization_endpoint.clone(),
            pkce_s256,
            pkce_listed: !methods.is_empty(),
            iss_parameter: meta.authorization_response_iss_parameter_supported,
            problem,
            suggested_id: free_id(&host, taken),
            suggested_label: label_of(&host),
            suggested_scopes: suggested_scopes(meta),
        }
    }
}

/// `id.example.com` → `example`; `127.0.0.1` → `provider`: the name a person would call it.
fn id_stem(host: &str) -> String {
    let labels: Vec<&str> = host.split('.').collect();
    let stem = if host.parse::<std::net::IpAddr>().is_ok() || host == "localhost" {
        "provider"
    } else if labels.len() >= 2 {
        labels[labels.len() - 2]
    } else {
        labels[0]
    };
    let stem: String = stem.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    if stem.is_empty() {
        "provider".into()
    } else {
        stem.to_ascii_lowercase()
    }
}

fn free_id(host: &str, taken: impl Fn(&str) -> bool) -> String {
    let stem = id_stem(host);
    (1..)
        .map(|n| if n == 1 { stem.clone() } else { format!("{stem}-{n}") })
        .find(|id| !taken(id) && id != "demo")
        .expect("some id is free")
}

fn label_of(host: &str) -> String {
    let stem = id_stem(host);
    if stem == "provider" {
        return host.to_string();
    }
    let mut chars = stem.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn suggested_scopes(meta: &Metadata) -> Vec<String> {
    let listed = |s: &str| meta.scopes_supported.iter().any(|x| x == s);
    let oidc = listed("openid") || meta.userinfo_endpoint.is_some();
    let mut scopes = Vec::new();
    if oidc {
        scopes.push("openid".to_string());
        scopes.extend(["email", "profile"].into_iter().filter(|s| listed(s)).map(str::to_string));
    }
    if listed("offline_access") {
        scopes.push("offline_access".to_string());
    }
    scopes
}

/// Every field's problem, checked without the network; `catalog` says which ids are in use.
pub fn problems(new: &NewProvider, catalog: &Catalog) -> Vec<FieldProblem> {
    let mut found = Vec::new();
    let id = new.id.trim();
    if id.is_empty() {
        found.push(FieldProblem::new("id", "Give it a short id, such as work."));
    } else if id.len() > MAX_FIELD || !crate::catalog::is_valid_id(id) {
        found.push(FieldProblem::new("id", "Use only letters, digits, - and _."));
    } else if id == "demo" {
        found.push(FieldProblem::new("id", "\"demo\" is the built-in demo provider's id."));
    } else if let Some(entry) = catalog.get(id) {
        let what = if entry.preset { "a built-in provider" } else { "another provider" };
        found.push(FieldProblem::new("id", format!("{what} already uses this id.")));
    }
    if new.label.trim().is_empty() {
        found.push(FieldProblem::new("label", "Give it a name to show."));
    } else if new.label.chars().count() > MAX_FIELD || new.label.chars().any(char::is_control) {
        found.push(FieldProblem::new("label", "Use a short name on one line."));
    }
    if new.issuer.trim().is_empty() {
        found.push(FieldProblem::new("issuer", "Enter the provider's address, starting with https://."));
    } else if let Err(e) = check_endpoint("issuer", new.issuer.trim()) {
        found.push(FieldProblem::new("issuer", sentence(&e.message)));
    }
    let client_id = new.client_id.trim();
    if client_id.is_empty() {
        found.push(FieldProblem::new(
            "client_id",
            "Enter the client id the provider gave Pixy when you registered it as a native app.",
        ));
    } else if client_id.len() > MAX_FIELD || client_id.chars().any(|c| c.is_control() || c.is_whitespace()) {
        found.push(FieldProblem::new("client_id", "A client id has no spaces or line breaks."));
    }
    // RFC 6749 section 3.3: a scope is printable ASCII without space, `"` or `\`.
    let bad_scope = new.scopes.iter().find(|s| {
        s.is_empty() || s.len() > MAX_FIELD || !s.chars().all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
    });
    if let Some(scope) = bad_scope {
        let shown = crate::text::printable(scope, 40);
        found.push(FieldProblem::new("scopes", format!("{shown:?} is not a valid scope name.")));
    }
    found
}

fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let first: String = chars.next().map(|c| c.to_uppercase().collect()).unwrap_or_default();
    let text = format!("{first}{}", chars.as_str());
    if text.ends_with('.') {
        text
    } else {
        format!("{text}.")
    }
}

/// `text` (the file as it is; empty when it does not exist) with `new` appended as a
/// `[[provider]]` table. What was there is kept byte for byte: the new table is added after it,
/// comments at the end of the file included, rather than woven into a re-printed document.
pub fn append(text: &str, new: &NewProvider) -> Result<String> {
    let not_toml = |e: toml_edit::TomlError, text: &str| {
        let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        let at = line.map(|l| format!(" at line {l}")).unwrap_or_default();
        Error::new(
            ErrorKind::ProviderConfig,
            format!("providers.toml is not valid TOML{at}, so Pixy will not change it; fix it first"),
        )
    };
    let doc: toml_edit::DocumentMut = text.parse().map_err(|e| not_toml(e, text))?;
    let unlike = || {
        Error::new(
            ErrorKind::ProviderConfig,
            "providers.toml has a `provider` key that is not a list of [[provider]] tables; fix it first",
        )
    };
    if doc.get("provider").is_some_and(|item| !item.is_array_of_tables()) {
        return Err(unlike());
    }
    let mut table = toml_edit::Table::new();
    table.insert("id", toml_edit::value(new.id.trim()));
    table.insert("label", toml_edit::value(new.label.trim()));
    table.insert("issuer", toml_edit::value(new.issuer.trim()));
    table.insert("client_id", toml_edit::value(new.client_id.trim()));
    let scopes: toml_edit::Array = new.scopes.iter().map(String::as_str).collect();
    table.insert("scopes", toml_edit::value(scopes));
    if new.scopes.iter().any(|s| s == "offline_access") {
        let mut params = toml_edit::InlineTable::new();
        params.insert("prompt", "consent".into());
        table.insert("auth_params", toml_edit::value(params));
    }
    let mut list = toml_edit::ArrayOfTables::new();
    list.push(table);
    let mut addition = toml_edit::DocumentMut::new();
    addition.insert("provider", toml_edit::Item::ArrayOfTables(list));
    let mut updated = text.to_string();
    if !updated.is_empty() && !updated.ends_with('\n') {
        updated.push('\n');
    }
    if !updated.trim().is_empty() {
        updated.push('\n');
    }
    updated.push_str(&addition.to_string());
    // A `provider = [...]` array cannot be extended by a table after it: checked, never written.
    updated.parse::<toml_edit::DocumentMut>().map_err(|_| unlike())?;
    // What is written must read back as the entry added, as the catalog reads the file.
    let read_back = crate::catalog::parse(&updated, Path::new("providers.toml"));
    match read_back.get(new.id.trim()).map(|e| &e.definition) {
        Some(Ok(_)) if read_back.problem.is_none() => Ok(updated),
        Some(Err(problem)) => Err(Error::new(ErrorKind::ProviderConfig, problem.clone())),
        _ => Err(Error::new(
            ErrorKind::ProviderConfig,
            read_back.problem.unwrap_or_else(|| "the new entry does not read back from providers.toml".into()),
        )),
    }
}

/// Appends `new` to the providers file at `path` (created when missing), atomically.
pub fn add(path: &Path, new: &NewProvider) -> Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(crate::index::io_error(path, &e)),
    };
    let updated = append(&text, new)?;
    let tmp = path.with_extension("toml.tmp");
    crate::index::write_private(path, &tmp, updated.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work() -> NewProvider {
        NewProvider {
            id: "work".into(),
            label: "Work SSO".into(),
            issuer: "https://id.example.com".into(),
            client_id: "pixy-desktop".into(),
            scopes: vec!["openid".into(), "offline_access".into()],
        }
    }

    fn catalog(text: &str) -> Catalog {
        crate::catalog::parse(text, Path::new("providers.toml"))
    }

    #[test]
    fn an_added_provider_keeps_every_comment_and_entry_already_in_the_file() {
        let before = "# my providers\n\n[[provider]]\nid = \"a\"   # the first\nissuer = \"https://a.example\"\nclient_id = \"x\"\n";
        let after = append(before, &work()).unwrap();
        assert!(after.starts_with(before), "what was there stays byte for byte:\n{after}");
        let listed = catalog(&after);
        let added = listed.get("work").expect("the new entry is read back").definition.clone().unwrap();
        assert_eq!(added.client_id, "pixy-desktop");
        assert_eq!(added.scopes, ["openid", "offline_access"]);
        assert_eq!(
            added.auth_params,
            [("prompt".to_string(), "consent".to_string())],
            "offline_access asks for consent"
        );
        assert!(listed.get("a").unwrap().definition.is_ok());
    }

    #[test]
    fn a_file_of_comments_only_keeps_them_first() {
        let before = "# Providers of this machine, kept by hand.\n";
        let after = append(before, &work()).unwrap();
        assert!(after.starts_with(before), "{after}");
        assert!(catalog(&after).get("work").is_some());
        let inline = "provider = [{ id = \"a\", issuer = \"https://a.example\", client_id = \"x\" }]\n";
        assert_eq!(
            append(inline, &work()).unwrap_err().kind,
            ErrorKind::ProviderConfig,
            "an inline list is not extended"
        );
    }

    #[test]
    fn the_first_provider_makes_a_file_that_reads_back() {
        let mut new = work();
        new.scopes = vec!["openid".into()];
        let text = append("", &new).unwrap();
        assert!(text.starts_with("[[provider]]\n"), "{text}");
        assert!(!text.contains("auth_params"), "no consent prompt without offline_access: {text}");
        assert_eq!(catalog(&text).get("work").unwrap().definition.as_ref().unwrap().issuer, "https://id.example.com");
    }

    #[test]
    fn a_file_that_is_not_toml_is_refused_with_its_line_and_not_touched() {
        let dir = std::env::temp_dir().join(format!("pixy-new-provider-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("providers.toml");
        std::fs::write(&path, "[[provider]]\nid = \"a\"\nissuer = \n").unwrap();
        let err = add(&path, &work()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::ProviderConfig);
        assert!(err.message.contains("line 3"), "{}", err.message);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "[[provider]]\nid = \"a\"\nissuer = \n");
        std::fs::remove_file(&path).unwrap();
        add(&path, &work()).unwrap();
        assert!(catalog(&std::fs::read_to_string(&path).unwrap()).get("work").is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn each_wrong_field_gets_its_own_problem() {
        let taken = catalog("[[provider]]\nid = \"work\"\nissuer = \"https://a.example\"\nclient_id = \"x\"\n");
        let bad = NewProvider {
            id: "work".into(),
            label: " ".into(),
            issuer: "http://id.example.com".into(),
            client_id: "has space".into(),
            scopes: vec!["open\"id".into()],
        };
        let fields: Vec<String> = problems(&bad, &taken).into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["id", "label", "issuer", "client_id", "scopes"]);
        assert!(problems(&work(), &catalog("")).is_empty());
        let preset = NewProvider { id: "claude".into(), ..work() };
        assert_eq!(problems(&preset, &catalog(""))[0].message, "a built-in provider already uses this id.");
        let demo = NewProvider { id: "demo".into(), ..work() };
        assert_eq!(problems(&demo, &catalog(""))[0].field, "id");
    }

    #[test]
    fn what_was_found_suggests_a_free_id_a_label_and_scopes() {
        let meta = Metadata {
            issuer: "https://login.acme.com".into(),
            authorization_endpoint: Some("https://login.acme.com/auth".into()),
            token_endpoint: Some("https://login.acme.com/token".into()),
            scopes_supported: vec!["openid".into(), "email".into(), "offline_access".into(), "phone".into()],
            code_challenge_methods_supported: vec!["S256".into()],
            ..Metadata::default()
        };
        let found = Found::of(&meta, |id| id == "acme");
        assert_eq!((found.suggested_id.as_str(), found.suggested_label.as_str()), ("acme-2", "Acme"));
        assert_eq!(found.suggested_scopes, ["openid", "email", "offline_access"]);
        assert!(found.pkce_s256 && found.pkce_listed && found.problem.is_none());
        let plain = Metadata { code_challenge_methods_supported: vec!["plain".into()], ..meta };
        let refused = Found::of(&plain, |_| false);
        assert!(!refused.pkce_s256);
        assert!(refused.problem.unwrap().contains("S256"));
    }
}
