//! The providers one can link with: the built-in presets ([`crate::presets`]) and the ones a
//! person defined in providers.toml, read safely, one entry at a time, and kept current.
//!
//! - Presets first: an entry of the file with a preset's id overrides just the keys it names.
//! - Safely: the file is read off the async runtime, only when it is a regular file (a FIFO in its
//!   place cannot block the daemon) and at most [`MAX_FILE_BYTES`] long.
//! - One entry at a time: each `[[provider]]` table is checked on its own, so a bad entry costs
//!   only itself. It is reported with the file, its line and its id, and listed as broken rather
//!   than usable. Only a file that is not TOML at all (or too large, or unreadable) costs every
//!   entry, and says so.
//! - Current: the file is read again only when its size, modification time or inode changed, so
//!   a fix reaches the next link or refresh without a restart, and an unchanged file costs one
//!   `stat`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use crate::provider::ProviderConfig;

/// The largest providers.toml read: generous for any number of providers a person writes.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// One provider: a preset, a preset with the file's overrides, or an entry of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The entry's id, as far as it could be read (`?` when it has none).
    pub id: String,
    /// The line the file's entry starts on (1-based); 0 for a preset the file does not touch.
    pub line: usize,
    /// A built-in preset (maybe with overrides).
    pub preset: bool,
    /// The definition, or what is wrong with it, in a sentence that names the file and line.
    pub definition: Result<ProviderConfig, String>,
}

/// What the file holds now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    /// Its entries, in file order.
    pub entries: Vec<Entry>,
    /// Why no entry could be read at all (unreadable, too large, not TOML), if so.
    pub problem: Option<String>,
}

impl Catalog {
    /// The entry with this id.
    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.id == id)
    }
}

/// What identifies one version of the file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    inode: u64,
}

/// providers.toml, read again only when it changes.
#[derive(Debug)]
pub struct ProvidersFile {
    path: PathBuf,
    cached: Mutex<Option<(Option<Stamp>, Arc<Catalog>)>>,
}

impl ProvidersFile {
    /// The file at `path` (it need not exist).
    pub fn new(path: impl Into<PathBuf>) -> ProvidersFile {
        ProvidersFile { path: path.into(), cached: Mutex::new(None) }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The catalog as the file is now: cached when unchanged, otherwise read off the runtime.
    pub async fn current(self: &Arc<Self>) -> Arc<Catalog> {
        let file = self.clone();
        match tokio::task::spawn_blocking(move || file.current_blocking()).await {
            Ok(catalog) => catalog,
            Err(_) => Arc::new(assemble(Vec::new(), Some("reading it failed".into()), &self.path)),
        }
    }

    /// As [`ProvidersFile::current`], on the calling thread.
    pub fn current_blocking(&self) -> Arc<Catalog> {
        let stamp = stamp(&self.path);
        if let Some((known, catalog)) = self.cached.lock().expect("catalog lock").as_ref() {
            if *known == stamp {
                return catalog.clone();
            }
        }
        let catalog = Arc::new(match read(&self.path) {
            Ok(None) => parse("", &self.path),
            Ok(Some(text)) => parse(&text, &self.path),
            Err(problem) => {
                tracing::warn!(file = %self.path.display(), %problem, "providers.toml cannot be used");
                assemble(Vec::new(), Some(problem), &self.path)
            }
        });
        for entry in &catalog.entries {
            if let Err(problem) = &entry.definition {
                tracing::warn!(provider = %entry.id, %problem, "a provider definition is broken");
            }
        }
        *self.cached.lock().expect("catalog lock") = Some((stamp, catalog.clone()));
        catalog
    }
}

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp { len: meta.len(), modified: meta.modified().ok(), inode: meta.ino() })
}

/// The file's text; `None` when there is no file.
fn read(path: &Path) -> Result<Option<String>, String> {
    use std::os::unix::fs::OpenOptionsExt;
    // Non-blocking, so opening a FIFO returns at once; the type is then checked on what was opened.
    let file = match std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{} cannot be read: {e}", path.display())),
    };
    let meta = file.metadata().map_err(|e| format!("{} cannot be read: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file; it is ignored", path.display()));
    }
    // Read one byte past the cap, so a larger file is known without reading it all.
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{} cannot be read: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("{} is larger than {} KiB; it is ignored", path.display(), MAX_FILE_BYTES / 1024));
    }
    String::from_utf8(bytes).map(Some).map_err(|_| format!("{} is not UTF-8 text", path.display()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    provider: Vec<toml::Spanned<toml::Table>>,
}

/// The presets and the entries of providers.toml's text; `path` names the file in problems.
pub fn parse(text: &str, path: &Path) -> Catalog {
    match toml::from_str::<RawFile>(text) {
        Ok(raw) => {
            let file = raw.provider.into_iter().map(|t| (line_of(text, t.span().start), t.into_inner())).collect();
            assemble(file, None, path)
        }
        Err(e) => {
            let at = e.span().map(|s| format!(" (line {})", line_of(text, s.start))).unwrap_or_default();
            let problem = format!("{}{at}: {}", path.display(), first_line(e.message()));
            // The presets stay usable, without the file's overrides.
            assemble(Vec::new(), Some(problem), path)
        }
    }
}

/// The presets (each with the file's overrides) in their order, then the file's other entries
/// in file order, each checked on its own.
fn assemble(file: Vec<(usize, toml::Table)>, problem: Option<String>, path: &Path) -> Catalog {
    // The file's entries in order, each checked on its own; the first with a preset's id is that
    // preset's override.
    let mut overrides: Vec<Entry> = Vec::new();
    let mut own: Vec<Entry> = Vec::new();
    for (line, table) in file {
        let id = table.get("id").and_then(|v| v.as_str()).unwrap_or("?").to_string();
        let earlier = overrides.iter().chain(&own).find(|e| e.id == id).map(|e| e.line);
        match crate::presets::preset(&id) {
            Some(preset) if earlier.is_none() => {
                let definition = check(crate::presets::overlay(&preset.table, table), &id, None).map_err(|problem| {
                    format!(
                        "{} line {line}, provider {id:?} (overriding the built-in preset): {problem}",
                        path.display()
                    )
                });
                overrides.push(Entry { id, line, preset: true, definition });
            }
            _ => {
                let definition = check(table, &id, earlier)
                    .map_err(|problem| format!("{} line {line}, provider {id:?}: {problem}", path.display()));
                own.push(Entry { id, line, preset: false, definition });
            }
        }
    }
    // The presets first, in their order, overridden where the file says so.
    let mut entries: Vec<Entry> = untouched_presets()
        .iter()
        .map(|preset| match overrides.iter().position(|e| e.id == preset.id) {
            Some(at) => overrides.swap_remove(at),
            None => preset.clone(),
        })
        .collect();
    entries.extend(own);
    Catalog { entries, problem }
}

/// Every preset as it ships, checked once: they never change while Pixy runs.
fn untouched_presets() -> &'static [Entry] {
    static CHECKED: std::sync::OnceLock<Vec<Entry>> = std::sync::OnceLock::new();
    CHECKED.get_or_init(|| {
        crate::presets::presets()
            .iter()
            .map(|preset| Entry {
                id: preset.id.clone(),
                line: 0,
                preset: true,
                definition: check(preset.table.clone(), &preset.id, None)
                    .map_err(|problem| format!("the built-in preset {}: {problem}", preset.file)),
            })
            .collect()
    })
}

fn check(table: toml::Table, id: &str, earlier: Option<usize>) -> Result<ProviderConfig, String> {
    let config = ProviderConfig::deserialize(toml::Value::Table(table)).map_err(|e| {
        // "unknown field `x`, expected one of ..." lists every key: the README does that better.
        let message = first_line(e.message());
        match message.split_once(", expected one of") {
            Some((unknown, _)) => format!("{unknown} (the README lists the keys)"),
            None => message,
        }
    })?;
    if !is_valid_id(id) {
        return Err("the id must be letters, digits, '-' or '_'".into());
    }
    if id == "demo" {
        return Err("the id \"demo\" is reserved for the built-in demo provider".into());
    }
    if let Some(line) = earlier {
        return Err(format!("this id is already defined at line {line}"));
    }
    // Endpoints, redirect settings: what can be checked without the network.
    if config.is_explicit() {
        config.clone().into_provider(None).map_err(|e| e.message)?;
    }
    Ok(config)
}

/// Whether `id` can name a provider: letters, digits, `-` and `_`, at least one.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|b| **b == b'\n').count() + 1
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or("").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_GOOD_ONE_BAD: &str = r#"# My providers
[[provider]]
id = "work"
issuer = "https://id.example.com"
client_id = "abc"

[[provider]]
id = "broken"
issuer = "https://other.example.com"
clientid = "typo"

[[provider]]
id = "home"
issuer = "https://home.example.com"
client_id = "h"
"#;

    fn path() -> &'static Path {
        Path::new("/home/p/.config/pixy/providers.toml")
    }

    /// The file's own entries, presets left out.
    fn own(catalog: &Catalog) -> Vec<&Entry> {
        catalog.entries.iter().filter(|e| !e.preset).collect()
    }

    fn preset_ids() -> Vec<String> {
        crate::presets::presets().iter().map(|p| p.id.clone()).collect()
    }

    #[test]
    fn a_bad_entry_costs_only_itself_and_is_named_with_file_line_and_id() {
        let catalog = parse(TWO_GOOD_ONE_BAD, path());
        assert_eq!(catalog.problem, None);
        let ids: Vec<_> = own(&catalog).iter().map(|e| (e.id.as_str(), e.line, e.definition.is_ok())).collect();
        assert_eq!(ids, [("work", 2, true), ("broken", 7, false), ("home", 12, true)]);
        let problem = catalog.get("broken").unwrap().definition.clone().unwrap_err();
        assert!(problem.starts_with("/home/p/.config/pixy/providers.toml line 7, provider \"broken\""), "{problem}");
        assert!(problem.contains("clientid"), "the bad key is named: {problem}");
        let missing = parse("[[provider]]\nid = \"x\"\nclient_id = \"c\"\n", path());
        let problem = own(&missing)[0].definition.clone().unwrap_err();
        assert!(problem.contains("issuer"), "a missing key is named: {problem}");
    }

    #[test]
    fn duplicate_reserved_and_malformed_ids_and_insecure_endpoints_are_broken_entries() {
        let text = r#"
[[provider]]
id = "a"
issuer = "https://a.example"
client_id = "x"
[[provider]]
id = "a"
issuer = "https://b.example"
client_id = "x"
[[provider]]
id = "demo"
issuer = "https://c.example"
client_id = "x"
[[provider]]
id = "sp ace"
issuer = "https://d.example"
client_id = "x"
[[provider]]
id = "plain"
issuer = "https://e.example"
client_id = "x"
authorization_endpoint = "http://e.example/auth"
token_endpoint = "https://e.example/token"
"#;
        let catalog = parse(text, path());
        let broken: Vec<_> =
            own(&catalog).iter().filter_map(|e| e.definition.clone().err().map(|p| (e.id.clone(), p))).collect();
        assert_eq!(broken.len(), 4, "{broken:?}");
        assert!(broken[0].1.contains("already defined at line 2"), "{}", broken[0].1);
        assert!(broken[1].1.contains("reserved"), "{}", broken[1].1);
        assert!(broken[2].1.contains("letters, digits"), "{}", broken[2].1);
        assert!(broken[3].1.contains("https"), "{}", broken[3].1);
        assert!(own(&catalog)[0].definition.is_ok(), "the first of two equal ids stays usable");
    }

    #[test]
    fn a_file_that_is_not_toml_is_one_problem_with_its_line() {
        let catalog = parse("[[provider]]\nid = \"x\"\nissuer = \n", path());
        assert!(own(&catalog).is_empty());
        let ids: Vec<_> = catalog.entries.iter().map(|e| e.id.clone()).collect();
        assert_eq!(ids, preset_ids(), "the presets stay usable");
        let problem = catalog.problem.unwrap();
        assert!(problem.contains("providers.toml (line 3)"), "{problem}");
    }

    #[test]
    fn every_preset_is_valid_and_listed_first() {
        let catalog = parse(TWO_GOOD_ONE_BAD, path());
        assert_eq!(crate::presets::presets().len(), 3, "every preset file parses");
        let first: Vec<_> = catalog.entries.iter().take(3).map(|e| (e.id.as_str(), e.preset, e.line)).collect();
        assert_eq!(first, [("claude", true, 0), ("chatgpt", true, 0), ("grantex", true, 0)]);
        for entry in catalog.entries.iter().filter(|e| e.preset) {
            let config = entry.definition.clone().unwrap_or_else(|p| panic!("{p}"));
            assert!(config.is_explicit(), "{}: a preset needs no discovery", entry.id);
            config.into_provider(None).unwrap_or_else(|e| panic!("{}: {}", entry.id, e.message));
        }
    }

    #[test]
    fn an_entry_with_a_preset_id_overrides_just_the_keys_it_names() {
        let text = r#"
[[provider]]
id = "claude"
token_endpoint = "http://127.0.0.1:9/v1/oauth/token"
paste_redirect_uri = "http://127.0.0.1:9/oauth/code/callback"
"#;
        let catalog = parse(text, path());
        let claude = catalog.get("claude").unwrap();
        assert_eq!((claude.preset, claude.line), (true, 2));
        let config = claude.definition.clone().unwrap();
        assert_eq!(config.token_endpoint.as_deref(), Some("http://127.0.0.1:9/v1/oauth/token"));
        assert_eq!(config.paste_redirect_uri.as_deref(), Some("http://127.0.0.1:9/oauth/code/callback"));
        assert_eq!(config.client_id, "9d1c250a-e61b-44d9-88ed-5944d1962f5e", "the preset's client id is kept");
        assert_eq!(config.token_request, crate::provider::TokenBody::Json, "and its body shape");
        assert!(config.token_request_state);
        assert_eq!(config.auth_params, [("code".to_string(), "true".to_string())]);
        assert_eq!(catalog.entries.iter().filter(|e| e.id == "claude").count(), 1, "listed once");
    }

    #[test]
    fn a_bad_override_names_the_file_line_and_key_and_costs_only_that_preset() {
        let text = "[[provider]]\nid = \"chatgpt\"\ntoken_endpoint = \"http://auth.example/token\"\n\n\
                    [[provider]]\nid = \"claude\"\ntoken_requst = \"json\"\n";
        let catalog = parse(text, path());
        let problem = catalog.get("chatgpt").unwrap().definition.clone().unwrap_err();
        assert!(
            problem.contains("providers.toml line 1, provider \"chatgpt\" (overriding the built-in preset)"),
            "{problem}"
        );
        assert!(problem.contains("https"), "{problem}");
        let problem = catalog.get("claude").unwrap().definition.clone().unwrap_err();
        assert!(problem.contains("line 5") && problem.contains("token_requst"), "{problem}");
        let wrong_shape = parse("[[provider]]\nid = \"claude\"\ntoken_request = \"xml\"\n", path());
        let problem = wrong_shape.get("claude").unwrap().definition.clone().unwrap_err();
        assert!(problem.contains("xml") && problem.contains("json"), "{problem}");
    }

    fn fresh_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pixy-catalog-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_changed_file_is_read_again_and_an_unchanged_one_is_not() {
        let dir = fresh_dir("reload");
        let file = ProvidersFile::new(dir.join("providers.toml"));
        let none = file.current_blocking();
        assert!(own(&none).is_empty() && none.problem.is_none(), "no file, no providers of its own");
        assert_eq!(none.entries.len(), preset_ids().len(), "the presets are there without a file");
        std::fs::write(file.path(), TWO_GOOD_ONE_BAD).unwrap();
        let first = file.current_blocking();
        assert_eq!(own(&first).len(), 3);
        assert!(Arc::ptr_eq(&first, &file.current_blocking()), "an unchanged file is not parsed again");
        std::fs::write(file.path(), TWO_GOOD_ONE_BAD.replace("clientid", "client_id")).unwrap();
        let fixed = file.current_blocking();
        assert!(fixed.get("broken").unwrap().definition.is_ok(), "the fix is seen without a restart");
    }

    #[test]
    fn a_fifo_or_an_oversized_file_is_refused_without_blocking_or_reading_it_all() {
        let dir = fresh_dir("special");
        let fifo = dir.join("providers.toml");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid C string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let problem = ProvidersFile::new(&fifo).current_blocking().problem.clone().unwrap();
        assert!(problem.contains("not a regular file"), "{problem}");

        let big = dir.join("big.toml");
        std::fs::write(&big, "#".repeat(MAX_FILE_BYTES as usize + 1)).unwrap();
        let problem = ProvidersFile::new(&big).current_blocking().problem.clone().unwrap();
        assert!(problem.contains("larger than 1024 KiB"), "{problem}");
    }
}
