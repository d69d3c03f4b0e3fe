//! The demo's targets (issue: "finishes in under 60 s in release on 2 cores; honest miners
//! together earn ≥ 90% of miner rewards; final accuracy within 1 point of an all-honest run"),
//! and the measurements that split its accuracy gap.
//!
//! The target's "all-honest run" is [`Scenario::all_honest`]: the same seed, data split and
//! shards, every adversary replaced by an honest actor of the same slot (a free-rider's or a
//! label flipper's shard is trained on honestly), under the same protocol — "all" ranges over
//! the scenario's actors, as "no attack" does in robust federated learning. Two more numbers
//! explain the gap and are printed beside it (never instead of it):
//! - honest only ([`Measurement::HonestOnly`]): the adversaries removed, the honest actors
//!   unchanged — what the protocol reaches with the data that was honestly on offer;
//! - oracle ([`Measurement::OracleAggregation`]): the demo itself, each round aggregating
//!   exactly the honest miners' updates — what a perfect admission rule would reach.
//!
//! The `_slow` tests run the full 20-round demo four times per seed, so they are ignored by
//! default: `cargo test -p deai-sim --release --test it -- --ignored targets --nocapture`.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

use deai_sim::report::gap_points;
use deai_sim::runner::RunReport;
use deai_sim::scenario::{MinerGroup, MinerKind};
use deai_sim::{Measurement, RunOptions, Scenario, Sim};

use crate::run::run;

fn run_measured(s: &Scenario, dir: &Path, m: Measurement) -> RunReport {
    Sim::measured(
        s,
        &RunOptions {
            dir: dir.to_path_buf(),
        },
        m,
    )
    .unwrap()
    .run(|_| {})
    .unwrap()
}

/// One seed of the demo against its references.
struct Measured {
    seed: u64,
    accuracy: f32,
    oracle: f32,
    honest_only: f32,
    all_honest: f32,
    share: f64,
    /// The demo alone.
    demo_seconds: f64,
    /// What `deai demo` runs: the demo and its two references (not the oracle).
    seconds: f64,
    slashes: usize,
}

fn measure(seed: u64) -> Measured {
    let mut s = Scenario::demo();
    s.seed = seed;
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let started = Instant::now();
    let main = run(&s, dirs[0].path());
    let demo_seconds = started.elapsed().as_secs_f64();
    let all_honest = run(&s.all_honest(), dirs[1].path());
    let honest_only = run_measured(&s, dirs[2].path(), Measurement::HonestOnly);
    let seconds = started.elapsed().as_secs_f64();
    let oracle = run_measured(&s, dirs[3].path(), Measurement::OracleAggregation);
    Measured {
        seed,
        accuracy: main.final_accuracy(),
        oracle: oracle.final_accuracy(),
        honest_only: honest_only.final_accuracy(),
        all_honest: all_honest.final_accuracy(),
        share: main.honest_miner_share(),
        demo_seconds,
        seconds,
        slashes: main.slashes.len(),
    }
}

fn print_table(rows: &[Measured]) {
    println!(
        "| seed | demo | oracle | honest only | all honest | gap all-honest | gap honest-only | honest share | slashes | demo (s) | demo + references (s) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut sums = [0.0f64; 7];
    for m in rows {
        let v = [
            f64::from(m.accuracy),
            f64::from(m.oracle),
            f64::from(m.honest_only),
            f64::from(m.all_honest),
            gap_points(m.accuracy, m.all_honest),
            gap_points(m.accuracy, m.honest_only),
            100.0 * m.share,
        ];
        for (s, x) in sums.iter_mut().zip(v) {
            *s += x;
        }
        println!(
            "| {} | {:.4} | {:.4} | {:.4} | {:.4} | {:+.2} | {:+.2} | {:.1}% | {} | {:.1} | {:.1} |",
            m.seed, v[0], v[1], v[2], v[3], v[4], v[5], v[6], m.slashes, m.demo_seconds, m.seconds
        );
    }
    if rows.len() > 1 {
        let n = rows.len() as f64;
        let a: Vec<f64> = sums.iter().map(|s| s / n).collect();
        println!(
            "| mean | {:.4} | {:.4} | {:.4} | {:.4} | {:+.2} | {:+.2} | {:.1}% | | | |",
            a[0], a[1], a[2], a[3], a[4], a[5], a[6]
        );
    }
    println!("load average: {}", load_average());
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn assert_targets(m: &Measured) {
    assert!(
        m.share >= 0.9,
        "seed {}: honest miners earned {:.2}% of miner rewards, target ≥ 90%",
        m.seed,
        100.0 * m.share
    );
    let gap = gap_points(m.accuracy, m.all_honest);
    assert!(
        gap <= 1.0,
        "seed {}: final accuracy {:.4} is {gap:.2} points under the all-honest {:.4}, target ≤ 1 \
         (honest only {:.4}, gap {:.2}; oracle {:.4})",
        m.seed,
        m.accuracy,
        m.all_honest,
        m.honest_only,
        gap_points(m.accuracy, m.honest_only),
        m.oracle
    );
    // Timing only means something in release (the target is for a release build).
    if !cfg!(debug_assertions) {
        assert!(
            m.demo_seconds < 60.0,
            "seed {}: the demo took {:.1} s, target < 60 s",
            m.seed,
            m.demo_seconds
        );
    }
}

#[test]
#[ignore = "slow: four 20-round runs"]
fn demo_meets_its_targets_seed0_slow() {
    let m = measure(0);
    print_table(std::slice::from_ref(&m));
    assert_targets(&m);
}

/// The demo is seed 0; other seeds draw other shards, keys and blind-validation orders. Per
/// seed the targets are not all met (seed 2's shards leave the honest miners short of some
/// classes, see `docs/perf/demo.md`), so across seeds the check is on the means, and every seed's demo
/// must stay under 60 s.
#[test]
#[ignore = "slow: twenty 20-round runs"]
fn demo_meets_its_targets_on_average_over_seeds_0_to_4_slow() {
    let rows: Vec<Measured> = (0..5).map(measure).collect();
    print_table(&rows);
    let n = rows.len() as f64;
    let share = rows.iter().map(|m| m.share).sum::<f64>() / n;
    let gap = rows
        .iter()
        .map(|m| gap_points(m.accuracy, m.all_honest))
        .sum::<f64>()
        / n;
    assert!(share >= 0.9, "mean honest share {:.2}%", 100.0 * share);
    assert!(gap <= 1.0, "mean gap to all honest {gap:.2} points");
    if !cfg!(debug_assertions) {
        for m in &rows {
            assert!(
                m.demo_seconds < 60.0,
                "seed {}: {:.1} s",
                m.seed,
                m.demo_seconds
            );
        }
    }
}

/// Every blob file name under `dir` (update and model blobs are named by their hash).
fn blob_names(dir: &Path) -> BTreeSet<String> {
    fn walk(p: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(p).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                walk(&e.path(), out);
            } else {
                out.insert(e.file_name().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(&dir.join("blobs"), &mut out);
    out
}

#[test]
fn honest_only_removes_adversaries_and_keeps_every_honest_slot() {
    // The label flipper first, so removing it would shift every honest miner's index if the
    // honest actors did not keep their slots.
    let mut s = Scenario::demo();
    s.rounds = 1;
    let flipper = s
        .miners
        .iter()
        .position(|g| g.kind == MinerKind::LabelFlipper)
        .unwrap();
    let g: MinerGroup = s.miners.remove(flipper);
    s.miners.insert(0, g);
    for v in &mut s.validators {
        if let Some(p) = &mut v.partner {
            *p = (*p + 1) % 10;
        }
    }
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let full = run(&s, a.path());
    let only = run_measured(&s, b.path(), Measurement::HonestOnly);
    assert_eq!(only.measurement, Measurement::HonestOnly);
    let honest: Vec<_> = full.actors.iter().filter(|x| x.honest).collect();
    assert_eq!(only.actors.len(), honest.len());
    for (o, f) in only.actors.iter().zip(&honest) {
        assert!(o.honest);
        assert_eq!((&o.name, o.account), (&f.name, f.account));
    }
    // Same initial model, and every honest miner's round-0 update is bit-identical: same
    // shard, same training seed.
    let common = blob_names(a.path())
        .intersection(&blob_names(b.path()))
        .count();
    let honest_miners = honest
        .iter()
        .filter(|x| x.role == deai_types::Role::Miner)
        .count();
    assert_eq!(honest_miners, 7);
    assert!(
        common > honest_miners,
        "only {common} blobs in common, expected the initial model and {honest_miners} updates"
    );
}

#[test]
fn oracle_aggregates_exactly_the_honest_updates() {
    let mut s = Scenario::demo();
    s.rounds = 2;
    let dir = tempfile::tempdir().unwrap();
    let r = run_measured(&s, dir.path(), Measurement::OracleAggregation);
    let honest_miners: Vec<usize> = (r.actors.iter().enumerate())
        .filter(|(_, a)| a.honest && a.role == deai_types::Role::Miner)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(honest_miners.len(), 7);
    for round in &r.rounds {
        assert_eq!(round.contributors, honest_miners, "round {}", round.round);
    }
    // The recorded models still re-derive from the blobs.
    let state = deai_store::Store::open(dir.path())
        .unwrap()
        .state()
        .unwrap();
    let blobs = deai_store::BlobStore::open(dir.path().join("blobs")).unwrap();
    let models = deai_sim::verify::check_models(&state, &blobs).unwrap();
    assert_eq!(models[0].verified, 2);
}

#[test]
fn oracle_is_refused_on_proposer_voter_tasks() {
    let pv =
        Scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/demo-pv.toml"))
            .unwrap();
    let err = Measurement::OracleAggregation
        .check(&pv)
        .unwrap_err()
        .to_string();
    assert!(err.contains("task.mechanism"), "{err}");
    assert!(Measurement::HonestOnly.check(&pv).is_ok());
    assert!(Measurement::OracleAggregation
        .check(&Scenario::demo())
        .is_ok());
}
