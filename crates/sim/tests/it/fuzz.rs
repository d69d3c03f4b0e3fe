//! Fuzzing of scenario TOML parsing (`Scenario::from_toml`, parse and validation): the shipped
//! scenario files with lines dropped, duplicated or given odd values, and arbitrary text. No
//! input may panic; bad input is a `SimError::Scenario`.
//!
//! A seeded loop (the crate has no proptest): `PROPTEST_CASES` cases, 512 by default;
//! `PROPTEST_CASES=100000 cargo test --release -p deai-sim --test it fuzz` runs longer (see
//! `docs/fuzzing.md`).

use std::path::Path;

use deai_sim::Scenario;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn cases() -> u64 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

/// Values a mutated `key = value` line takes: numeric edges, wrong types, broken syntax.
const ODD_VALUES: &[&str] = &[
    "0",
    "-1",
    "4294967295",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "1e308",
    "-1e308",
    "nan",
    "inf",
    "-inf",
    "0.0",
    "1.0000001",
    "\"\"",
    "\"dirichlet:\"",
    "\"dirichlet:nan\"",
    "\"dirichlet:-1\"",
    "\"dirichlet:1e400\"",
    "\"shards:0\"",
    "\"iid\"",
    "true",
    "[]",
    "{}",
    "\"\\u0000\"",
    "[[1]]",
    "",
    "\"",
];

fn shipped() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            out.push(std::fs::read_to_string(path).unwrap());
        }
    }
    assert!(!out.is_empty());
    out
}

fn mutate(text: &str, rng: &mut ChaCha8Rng) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for _ in 0..rng.gen_range(1..5) {
        if lines.is_empty() {
            break;
        }
        let i = rng.gen_range(0..lines.len());
        match rng.gen_range(0..4) {
            0 => {
                lines.remove(i);
            }
            1 => {
                let copy = lines[i].clone();
                lines.insert(i, copy);
            }
            _ => {
                if let Some((key, _)) = lines[i].split_once('=') {
                    let v = ODD_VALUES[rng.gen_range(0..ODD_VALUES.len())];
                    lines[i] = format!("{key}= {v}");
                }
            }
        }
    }
    lines.join("\n")
}

#[test]
fn fuzz_scenario_toml_never_panics() {
    let files = shipped();
    let mut rng = ChaCha8Rng::seed_from_u64(18);
    for case in 0..cases() {
        let text = mutate(&files[case as usize % files.len()], &mut rng);
        let _ = Scenario::from_toml(&text, Path::new("fuzz.toml"));
        // Arbitrary bytes as text (lossy UTF-8).
        let len = rng.gen_range(0..200);
        let bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        let _ = Scenario::from_toml(&String::from_utf8_lossy(&bytes), Path::new("fuzz.toml"));
    }
}
