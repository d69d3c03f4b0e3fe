//! The conformance pin file `tests/conformance.toml`, read by the `conformance` test module of
//! every crate that pins something (included there with `#[path]`, so there is one reader).

#![allow(dead_code)] // each crate uses what it needs

use std::collections::BTreeMap;

/// The pin file, compiled into the test binary.
pub const PIN_FILE: &str = include_str!("conformance.toml");

/// `key = "value"` lines of `[section]` in the pin file (comments and blank lines skipped).
pub fn pins(section: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut current = String::new();
    for (i, raw) in PIN_FILE.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim().to_string();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("tests/conformance.toml:{}: not `key = \"hex\"`", i + 1));
        if current == section {
            let value = value.trim().trim_matches('"').to_string();
            let previous = out.insert(key.trim().to_string(), value);
            assert!(
                previous.is_none(),
                "tests/conformance.toml:{}: duplicate pin",
                i + 1
            );
        }
    }
    out
}

/// Compares every `(name, actual)` with its pin and fails once, listing every mismatch and
/// the lines that would pin the computed values.
pub fn check(section: &str, actual: &[(String, String)], what: &str) {
    check_showing(section, actual, what, |_| String::new());
}

/// [`check`], with `show(value)` appended to every pinned and computed value in the message
/// (e.g. the numbers behind a hex encoding).
pub fn check_showing(
    section: &str,
    actual: &[(String, String)],
    what: &str,
    show: impl Fn(&str) -> String,
) {
    let pinned = pins(section);
    let mut wrong = Vec::new();
    let mut lines = Vec::new();
    for (name, value) in actual {
        let was = match pinned.get(name) {
            Some(p) if p == value => continue,
            Some(p) => format!("pinned {p}{}", show(p)),
            None => "not pinned".to_string(),
        };
        wrong.push(format!("  {name}: {was}, computed {value}{}", show(value)));
        lines.push(format!("{name} = \"{value}\""));
    }
    assert!(
        wrong.is_empty(),
        "{} conformance pin(s) of [{section}] in tests/conformance.toml differ from the code:\n\
         {}\n{what} changed. If the change is deliberate, put these lines in [{section}] of \
         tests/conformance.toml (same commit, and say in the message why nodes on the old code \
         may disagree); otherwise it is a bug.\n{}",
        wrong.len(),
        wrong.join("\n"),
        lines.join("\n")
    );
}
