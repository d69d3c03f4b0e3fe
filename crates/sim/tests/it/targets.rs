//! The demo's targets (issue: "finishes in under 60 s in release on 2 cores; honest miners
//! together earn ≥ 90% of miner rewards; final accuracy within 1 point of an all-honest run").
//!
//! The all-honest run is [`Scenario::all_honest`]: the same seed, the same data split and
//! shards, every adversary replaced by an honest actor of the same slot (a free-rider's or a
//! label flipper's shard is trained on honestly), under the same protocol.
//!
//! Both tests run the full 20-round demo twice per seed, so they are ignored by default:
//! `cargo test -p deai-sim --release --test it -- --ignored targets --nocapture`.

use std::time::Instant;

use deai_sim::runner::RunReport;
use deai_sim::Scenario;

use crate::run::run;

/// One seed of the demo against its all-honest reference.
struct Measured {
    seed: u64,
    accuracy: f32,
    honest_accuracy: f32,
    share: f64,
    seconds: f64,
    caught: usize,
}

impl Measured {
    fn gap(&self) -> f32 {
        self.honest_accuracy - self.accuracy
    }
}

fn measure(seed: u64) -> (Measured, RunReport) {
    let mut s = Scenario::demo();
    s.seed = seed;
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // `deai demo` runs both, so both count towards its time.
    let started = Instant::now();
    let main = run(&s, a.path());
    let honest = run(&s.all_honest(), b.path());
    let seconds = started.elapsed().as_secs_f64();
    let caught = main.slashes.len();
    (
        Measured {
            seed,
            accuracy: main.final_accuracy(),
            honest_accuracy: honest.final_accuracy(),
            share: main.honest_miner_share(),
            seconds,
            caught,
        },
        main,
    )
}

fn print_table(rows: &[Measured]) {
    println!("| seed | accuracy | all-honest | gap (points) | honest share | slashes | time (s) |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for m in rows {
        println!(
            "| {} | {:.4} | {:.4} | {:+.2} | {:.1}% | {} | {:.1} |",
            m.seed,
            m.accuracy,
            m.honest_accuracy,
            100.0 * m.gap(),
            100.0 * m.share,
            m.caught,
            m.seconds
        );
    }
}

fn assert_targets(m: &Measured) {
    assert!(
        m.share >= 0.9,
        "seed {}: honest miners earned {:.2}% of miner rewards, target ≥ 90%",
        m.seed,
        100.0 * m.share
    );
    assert!(
        m.gap() <= 0.01,
        "seed {}: final accuracy {:.4} is {:.2} points under the all-honest {:.4}, target ≤ 1",
        m.seed,
        m.accuracy,
        100.0 * m.gap(),
        m.honest_accuracy
    );
    // Timing only means something in release (the target is for a release build).
    if !cfg!(debug_assertions) {
        assert!(
            m.seconds < 60.0,
            "seed {}: demo and reference took {:.1} s, target < 60 s",
            m.seed,
            m.seconds
        );
    }
}

#[test]
#[ignore = "slow: two 20-round runs"]
fn demo_meets_its_targets_seed0_slow() {
    let (m, _) = measure(0);
    print_table(std::slice::from_ref(&m));
    assert_targets(&m);
}

#[test]
#[ignore = "slow: ten 20-round runs"]
fn demo_meets_its_targets_seeds_0_to_4_slow() {
    let rows: Vec<Measured> = (0..5).map(|seed| measure(seed).0).collect();
    print_table(&rows);
    for m in &rows {
        assert_targets(m);
    }
}
