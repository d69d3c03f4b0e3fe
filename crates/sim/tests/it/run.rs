use std::path::Path;

use deai_sim::runner::RunReport;
use deai_sim::scenario::{MinerKind, ValidatorKind};
use deai_sim::{RunOptions, Scenario, Sim};
use deai_store::{BlobStore, Store};

/// A small, fast version of the demo: 4 rounds.
fn small(rounds: u64) -> Scenario {
    let mut s = Scenario::demo();
    s.rounds = rounds;
    s.name = "small".into();
    s
}

/// Runs `s` with its chain and blobs under `dir`.
pub(crate) fn run(s: &Scenario, dir: &Path) -> RunReport {
    Sim::new(
        s,
        &RunOptions {
            dir: dir.to_path_buf(),
        },
    )
    .unwrap()
    .run(|_| {})
    .unwrap()
}

#[test]
fn same_seed_same_state_roots_and_report() {
    let s = small(3);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ra = run(&s, a.path());
    let rb = run(&s, b.path());
    assert_eq!(ra.state_root, rb.state_root);
    for (x, y) in ra.rounds.iter().zip(&rb.rounds) {
        assert_eq!(x.state_root, y.state_root);
        assert_eq!(x.model_hash, y.model_hash);
        assert_eq!(x.rewards, y.rewards);
        assert_eq!(x.accuracy.to_bits(), y.accuracy.to_bits());
    }
    let mut other = s.clone();
    other.seed = 7;
    let c = tempfile::tempdir().unwrap();
    assert_ne!(run(&other, c.path()).state_root, ra.state_root);
}

#[test]
fn demo_pays_honest_miners_and_trains_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(&small(4), dir.path());
    assert_eq!(r.rounds.len(), 4);
    assert!(r.final_accuracy() > 0.6, "accuracy {}", r.final_accuracy());
    assert!(
        r.honest_miner_share() >= 0.9,
        "honest share {}",
        r.honest_miner_share()
    );
    // The label flipper and the copying free-rider are never aggregated.
    for round in &r.rounds {
        assert!(
            !round.contributors.contains(&9),
            "round {}: label flipper aggregated",
            round.round
        );
    }
    let totals = r.total_rewards();
    assert!(totals.iter().sum::<u128>() > 0);
    // The chain the run left re-executes from genesis and re-derives every recorded model.
    let store = Store::open(dir.path()).unwrap();
    let v = deai_store::verify_chain(&store).unwrap();
    assert!(v.problem.is_none(), "{:?}", v.problem);
    let blobs = BlobStore::open(dir.path().join("blobs")).unwrap();
    let models = deai_sim::verify::check_models(&store.state().unwrap(), &blobs).unwrap();
    assert_eq!(models.len(), 1);
    assert_eq!(models[0].verified, 4);
}

#[test]
fn tampered_update_blob_fails_model_verification() {
    let dir = tempfile::tempdir().unwrap();
    run(&small(2), dir.path());
    let store = Store::open(dir.path()).unwrap();
    let state = store.state().unwrap();
    let blobs = BlobStore::open(dir.path().join("blobs")).unwrap();
    let record = state
        .model_record(deai_types::TaskId(0), deai_types::Round(1))
        .unwrap();
    let (_, blob) = record.contributors[0];
    let path = blobs.path_of(&blob);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let found = deai_sim::verify::verify_models(&state, &blobs);
    assert_eq!(found[0].verified, 1);
    assert_eq!(found[0].problem.as_ref().unwrap().0, 1);
}

#[test]
fn silent_actors_are_slashed() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/slashing.toml"),
    )
    .unwrap();
    let mut s = Scenario::from_toml(&text, Path::new("slashing.toml")).unwrap();
    s.rounds = 2;
    let dir = tempfile::tempdir().unwrap();
    let r = run(&s, dir.path());
    let silent: Vec<usize> = r
        .actors
        .iter()
        .enumerate()
        .filter(|(_, a)| a.kind == "silent")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(silent.len(), 2);
    for i in &silent {
        let lost: u128 = r
            .slashes
            .iter()
            .filter(|x| x.actor == *i)
            .map(|x| x.amount)
            .sum();
        assert!(
            lost > 0,
            "{} was not slashed: {:?}",
            r.actors[*i].name,
            r.slashes
        );
    }
    // Nobody else is slashed.
    assert!(
        r.slashes.iter().all(|x| silent.contains(&x.actor)),
        "{:?}",
        r.slashes
    );
    let _ = (MinerKind::Silent, ValidatorKind::Silent);
}
