//! Fuzzes the providers.toml parser (`catalog::parse`): whatever the file holds, it must never
//! panic, the built-in presets must stay listed once each (first, in their order, untouched unless
//! the file overrides them), a bad entry must cost only itself, and every problem must name the
//! file (and the line and id of its entry), or the built-in preset it comes from.
//!
//! The app reads the file as UTF-8 text only, so the bytes are read lossily: an invalid byte
//! becomes U+FFFD rather than costing the run.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pixy_core::catalog::{parse, Catalog};
use pixy_core::presets::presets;

const PATH: &str = "/home/p/.config/pixy/providers.toml";

/// The catalog without a file: each preset as it is built in.
fn untouched() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let catalog = parse("", Path::new(PATH));
        assert!(catalog.problem.is_none(), "an empty file is a problem: {:?}", catalog.problem);
        catalog
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let path = Path::new(PATH);
    let catalog = parse(&text, path);
    let presets = presets();
    let n = presets.len();
    let entries = &catalog.entries;

    // The presets first, once each, in their order; then the file's own entries.
    assert!(entries.len() >= n, "a preset is missing: {entries:?}");
    for (entry, preset) in entries.iter().zip(presets) {
        assert!(entry.preset && entry.id == preset.id, "preset {} not in its place: {entries:?}", preset.id);
    }
    for entry in &entries[n..] {
        assert!(!entry.preset, "a preset listed twice, or after the file's entries: {entries:?}");
        assert!(entry.line > 0, "a file entry without a line: {entry:?}");
        if presets.iter().any(|p| p.id == entry.id) {
            assert!(entry.definition.is_err(), "a second definition of preset {} is usable", entry.id);
        }
    }
    for preset in presets {
        let entry = catalog.get(&preset.id).expect("every preset is listed");
        assert!(entry.preset, "{}: the preset, not a later entry, is the one found by its id", preset.id);
    }
    // The file's entries in file order.
    assert!(entries[n..].windows(2).all(|w| w[0].line <= w[1].line), "entries out of file order: {entries:?}");

    // A usable id is defined once.
    let mut usable: Vec<&str> = entries.iter().filter(|e| e.definition.is_ok()).map(|e| e.id.as_str()).collect();
    usable.sort_unstable();
    assert!(usable.windows(2).all(|w| w[0] != w[1]), "an id is usable twice: {usable:?}");

    for entry in entries {
        match &entry.definition {
            Ok(config) => {
                assert_eq!(config.id, entry.id, "the definition's id is the entry's");
                assert!(
                    !entry.id.is_empty()
                        && entry.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                    "a usable entry with the id {:?}",
                    entry.id
                );
                assert_ne!(entry.id, "demo", "the demo's id is reserved");
                if config.is_explicit() {
                    if let Err(e) = config.clone().into_provider(None) {
                        panic!("{}: usable, yet its explicit endpoints do not build: {}", entry.id, e.message);
                    }
                }
            }
            Err(problem) if entry.line == 0 => {
                assert!(problem.starts_with("the built-in preset "), "{problem}");
            }
            Err(problem) => {
                let head = format!("{} line {}, provider {:?}", path.display(), entry.line, entry.id);
                let head = if entry.preset { head + " (overriding the built-in preset): " } else { head + ": " };
                assert!(problem.starts_with(&head), "the problem does not name the file, line and id: {problem}");
            }
        }
        if entry.line == 0 {
            // A preset the file does not touch is just as it is built in.
            assert!(entry.preset, "only a preset has no line: {entry:?}");
            let built_in = untouched().get(&entry.id).expect("a preset");
            assert_eq!(entry.definition, built_in.definition, "{}: changed by a file that does not name it", entry.id);
        }
    }

    match &catalog.problem {
        // A file that cannot be read costs every entry of its own, and only those.
        Some(problem) => {
            assert!(problem.starts_with(PATH), "the problem does not name the file: {problem}");
            assert_eq!(entries.len(), n, "entries of a file that is not TOML: {entries:?}");
            assert!(entries.iter().all(|e| e.line == 0), "an override from a file that is not TOML: {entries:?}");
        }
        // Otherwise each [[provider]] table is one entry, usable or not: none is lost.
        None => {
            let table: toml::Table = text.parse().expect("text parse accepted is TOML");
            let tables = match table.get("provider") {
                None => 0,
                Some(toml::Value::Array(tables)) => tables.len(),
                Some(other) => panic!("provider is a {}, yet the file was accepted", other.type_str()),
            };
            assert_eq!(entries.iter().filter(|e| e.line > 0).count(), tables, "an entry was lost or made up");
        }
    }
});
