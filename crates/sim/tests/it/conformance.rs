//! Conformance pins of whole runs: the genesis root, the final height and the final state root
//! of the demo scenario, so a change anywhere between the scenario and the ledger (data
//! shards, training, aggregation, validation, the chain) that moves the demo's outcome fails
//! here instead of passing unnoticed.
//!
//! Pinned: the full demo at seed 0, what `deai demo` runs, and two-round cuts of it under both
//! mechanisms (Yuma and proposer/voter). The values are in the `[sim]` section of
//! `tests/conformance.toml` at the workspace root.

use deai_chain::State;
use deai_sim::scenario::MechanismCfg;
use deai_sim::Scenario;
use deai_store::Store;

use crate::run::run;

#[path = "../../../../tests/pins.rs"]
mod pin_file;
use pin_file::{check, pins};

const SECTION: &str = "sim";

/// The pins of the full demo, checked by [`demo_seed0_roots_match_their_pins`].
const DEMO_PINS: [&str; 3] = ["demo_genesis_root", "demo_height", "demo_root"];

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
