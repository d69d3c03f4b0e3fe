//! One short simulated run shared by the tests, and a replay of its chain.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock, PoisonError};

use deai_analytics::{replay_dir, Knowledge, LayerRow, Replay};
use deai_sim::{RunOptions, RunReport, Scenario, Sim};

/// Rounds of the shared run (one epoch each).
pub const ROUNDS: u64 = 3;

/// The store takes a file lock: one reader at a time.
static STORE: Mutex<()> = Mutex::new(());

/// Holds the store lock while alive.
pub fn store_lock() -> std::sync::MutexGuard<'static, ()> {
    STORE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One short demo run shared by the tests: 10 miners (one free-rider copying, one adding
/// noise, one label-flipper), 4 validators (one colluding with miner 8), 3 rounds.
pub fn run() -> &'static (tempfile::TempDir, RunReport) {
    static RUN: OnceLock<(tempfile::TempDir, RunReport)> = OnceLock::new();
    RUN.get_or_init(|| {
        let mut s = Scenario::demo();
        s.rounds = ROUNDS;
        s.name = "layers".into();
        let dir = tempfile::tempdir().unwrap();
        let report = Sim::new(
            &s,
            &RunOptions {
                dir: dir.path().to_path_buf(),
            },
        )
        .unwrap()
        .run(|_| {})
        .unwrap();
        (dir, report)
    })
}

/// What the simulator knows about the shared run.
pub fn knowledge() -> Knowledge {
    deai_sim::layers::knowledge(&run().1).unwrap()
}

/// Replays the shared run's chain with `k`.
pub fn replay_run(k: &Knowledge) -> Replay {
    let _guard = store_lock();
    replay_dir(&run().1.chain_dir, k).unwrap()
}

/// A layer's holdings by holder name.
pub fn by_name(row: &LayerRow) -> BTreeMap<&str, f64> {
    row.holdings.iter().map(|(n, x)| (n.as_str(), *x)).collect()
}
