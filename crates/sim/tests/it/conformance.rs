//! Conformance pins of whole runs: the genesis root, the final height and the final state root
//! of the demo scenario, so a change anywhere between the scenario and the ledger (data
//! shards, training, aggregation, validation, the chain) that moves the demo's outcome fails
//! here instead of passing unnoticed.
//!
//! Pinned: the full demo at seed 0, what `deai demo` runs, and two-round cuts of it under both
//! mechanisms (Yuma and proposer/voter). The values are in the `[sim]` section of
//! `tests/conformance.toml` at the workspace root.

use std::collections::BTreeMap;

use deai_chain::State;
use deai_sim::scenario::MechanismCfg;
use deai_sim::Scenario;
use deai_store::Store;

use crate::run::run;

const PIN_FILE: &str = include_str!("../../../../tests/conformance.toml");
const SECTION: &str = "sim";

/// The pins of the full demo, checked by [`demo_seed0_roots_match_their_pins`].
const DEMO_PINS: [&str; 3] = ["demo_genesis_root", "demo_height", "demo_root"];

/// `key = "value"` lines of `[section]` in the pin file (comments and blank lines skipped).
fn pins(section: &str) -> BTreeMap<String, String> {
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
fn check(section: &str, actual: &[(String, String)], what: &str) {
    let pinned = pins(section);
    let mut wrong = Vec::new();
    let mut lines = Vec::new();
    for (name, value) in actual {
        let was = match pinned.get(name) {
            Some(p) if p == value => continue,
            Some(p) => format!("pinned {p}"),
            None => "not pinned".to_string(),
        };
        wrong.push(format!("  {name}: {was}, computed {value}"));
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

/// Runs `s` in a fresh directory: `(genesis root, final height, final state root)`, the
/// genesis read back from the chain the run left.
fn roots(s: &Scenario) -> (String, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let report = run(s, dir.path());
    let store = Store::open(&report.chain_dir).unwrap();
    let genesis = State::genesis(&store.genesis().unwrap()).unwrap();
    assert_eq!(store.head().unwrap().state_root, report.state_root);
    (
        genesis.root().to_string(),
        report.height.to_string(),
        report.state_root.to_string(),
    )
}

/// `(prefix_genesis_root, prefix_height, prefix_root)` of a run.
fn named(prefix: &str, s: &Scenario) -> Vec<(String, String)> {
    let (genesis, height, root) = roots(s);
    vec![
        (format!("{prefix}_genesis_root"), genesis),
        (format!("{prefix}_height"), height),
        (format!("{prefix}_root"), root),
    ]
}

/// The demo (seed 0) cut to two rounds, under `mechanism`.
fn short_demo(mechanism: MechanismCfg) -> Scenario {
    let mut s = Scenario::demo();
    s.rounds = 2;
    s.task.mechanism = mechanism;
    s
}

const WHAT: &str = "A simulated run's ledger (its scenario, data, training, aggregation, \
                    validation or state machine)";

#[test]
fn short_demo_roots_match_their_pins() {
    let yuma = named("short_yuma", &short_demo(MechanismCfg::Yuma));
    let pv = named("short_pv", &short_demo(MechanismCfg::ProposerVoter));
    // The genesis does not depend on the mechanism: one pin for both.
    assert_eq!(
        yuma[0].1, pv[0].1,
        "the two short runs start from different genesis states"
    );
    let mut actual = vec![("short_genesis_root".to_string(), yuma[0].1.clone())];
    actual.extend(yuma.into_iter().skip(1));
    actual.extend(pv.into_iter().skip(1));
    check(SECTION, &actual, WHAT);
    let computed: Vec<&str> = actual
        .iter()
        .map(|(n, _)| n.as_str())
        .chain(DEMO_PINS)
        .collect();
    for pinned in pins(SECTION).keys() {
        assert!(
            computed.contains(&pinned.as_str()),
            "tests/conformance.toml pins [{SECTION}] {pinned}, which no test computes; remove it \
             or restore the value it pinned"
        );
    }
}

/// The full demo at seed 0, what `deai demo` runs.
#[test]
fn demo_seed0_roots_match_their_pins() {
    let demo = Scenario::demo();
    assert_eq!(demo.seed, 0);
    let actual = named("demo", &demo);
    let names: Vec<&str> = actual.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, DEMO_PINS);
    check(SECTION, &actual, WHAT);
}
