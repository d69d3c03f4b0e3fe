//! Conformance pins of the ledger state: the genesis of the default dev chain and the state
//! after a short scripted history that touches every part of the state (stakes, delegation,
//! a task round with commits and reveals, a Yuma epoch, a recorded model, a slash, a
//! governance proposal carried out).
//!
//! Each pin is a state root (`blake3("deai/state/v1" || encode(state))`) or a header hash,
//! compared with the `[chain]` section of `tests/conformance.toml` at the workspace root. A
//! change to the state's encoding, to `Params::default()`, or to what a transaction does to
//! the state fails here instead of passing unnoticed.

use deai_chain::*;
use deai_types::*;

use crate::common::*;

#[path = "../../../../tests/pins.rs"]
mod pin_file;
use pin_file::{check, pins};

const SECTION: &str = "chain";

/// The genesis `deai init` writes with its defaults (chain id `deai-dev`, four accounts of
/// 10¹² each, `Params::default()`), with fixed keys (seeds 1 to 4) and time 0 instead of
/// fresh keys and the clock.
fn dev_genesis() -> GenesisConfig {
    GenesisConfig::funded(
        ChainId::new("deai-dev").unwrap(),
        (1..=4u8).map(|i| Keypair::from_seed([i; 32]).account()),
        Amount(1_000_000_000_000),
    )
}

/// A short history on the test harness's chain: 0 proposes the standard task; 1 and 2 mine,
/// 3 validates with its own stake and 4's delegation; 1 reveals, 2 (staked) does not and is
/// slashed by 4; 3 sets weights; the round's epoch pays out; 0 records the model; a governance proposal
/// passes and executes; 4 undelegates and later withdraws.
fn history() -> Env {
    let mut env = Env::new();
    let task = env.task(0, |_| {}); // h1; round 0 is h2..=h11
    let validator = env.id(3);
    env.multi(vec![
        (
            1,
            Call::Register {
                task,
                role: Role::Miner,
            },
        ),
        (
            2,
            Call::Register {
                task,
                role: Role::Miner,
            },
        ),
        (
            3,
            Call::Register {
                task,
                role: Role::Validator,
            },
        ),
        (
            3,
            Call::Stake {
                amount: Amount(1_000),
            },
        ),
        (
            2,
            Call::Stake {
                amount: Amount(400),
            },
        ),
        (
            4,
            Call::Delegate {
                hotkey: validator,
                amount: Amount(500),
            },
        ),
        (
            3,
            Call::SetTake {
                take: Fixed::from_bps(1_000),
            },
        ),
        (
            5,
            Call::Transfer {
                to: env.id(0),
                amount: Amount(12_345),
            },
        ),
    ]); // h2
    let c1 = commit_of(&env, task, 0, CommitKind::Update, 1, &upd(b"a"));
    let c2 = commit_of(&env, task, 0, CommitKind::Update, 2, &upd(b"b"));
    env.multi(vec![
        (1, c1),
        (2, c2),
        (
            3,
            Call::GovPropose {
                change: ParamChange::RecordsKept(32),
            },
        ),
    ]); // h3
    env.ok(
        3,
        Call::GovVote {
            proposal: ProposalId(0),
            approve: true,
        },
    ); // h4
    env.goto(6);
    env.ok(1, reveal_of(task, 0, CommitKind::Update, &upd(b"a"))); // h6
    env.goto(10);
    let weights = wpre(&[(0, 65_535), (1, 0)], 3);
    env.ok(
        3,
        commit_of(&env, task, 0, CommitKind::Weights, 3, &weights),
    ); // h10
    env.ok(3, reveal_of(task, 0, CommitKind::Weights, &weights)); // h11
    let missed = key(&env, task, 0, CommitKind::Update, 2);
    env.multi(vec![
        (
            0,
            Call::RecordModel {
                task,
                round: Round(0),
                model: Hash32::of(b"global-1"),
                contributors: vec![(Uid(0), Hash32::of(b"a"))],
            },
        ),
        (
            4,
            Call::Slash {
                evidence: Evidence::MissedReveal(missed),
            },
        ),
        (
            4,
            Call::Undelegate {
                hotkey: validator,
                amount: Amount(200),
            },
        ),
    ]); // h12
    env.goto(18);
    env.ok(4, Call::Withdraw); // h18, after the 5-block unbonding

    // The history did what it says, so the pin covers every part of it.
    let s = &env.state;
    assert!(s.epoch_record(task, Epoch(0)).is_some(), "no epoch record");
    assert!(s.model_record(task, Round(0)).is_some(), "no model record");
    assert!(s.commitment(&missed).unwrap().slashed, "2 was not slashed");
    let two = env.id(2);
    assert_eq!(
        s.stake(&two, &two),
        Amount(360),
        "10% of 2's stake is slashed"
    );
    assert_eq!(
        s.params().records_kept,
        32,
        "the proposal was not carried out"
    );
    assert!(
        !s.bonds_of(task, Uid(2)).is_empty(),
        "the validator holds no bond"
    );
    // 500 delegated, 200 undelegated, and a share of the validator's dividends compounded.
    assert!(
        s.stake(&validator, &env.id(4)) > Amount(300),
        "4 earned no dividends"
    );
    s.check_invariants().unwrap();
    env
}

fn actual() -> Vec<(String, String)> {
    let genesis = State::genesis(&dev_genesis()).unwrap();
    let header = genesis_header(&genesis);
    let env = history();
    vec![
        ("dev_genesis_root".into(), genesis.root().to_string()),
        ("dev_genesis_header_hash".into(), header.hash().to_string()),
        ("history_height".into(), env.state.height().0.to_string()),
        ("history_root".into(), env.state.root().to_string()),
        ("history_head_hash".into(), env.head.hash().to_string()),
    ]
}

#[test]
fn genesis_and_history_roots_match_their_pins() {
    check(
        SECTION,
        &actual(),
        "The state encoding or the state machine",
    );
}

#[test]
fn every_pin_of_the_section_is_checked() {
    let names: Vec<String> = actual().into_iter().map(|(n, _)| n).collect();
    for pinned in pins(SECTION).keys() {
        assert!(
            names.contains(pinned),
            "tests/conformance.toml pins [{SECTION}] {pinned}, which no test computes; remove it \
             or restore the value it pinned"
        );
    }
}
