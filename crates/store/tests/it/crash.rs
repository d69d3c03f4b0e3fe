//! Crash recovery with a real child process killed by SIGKILL at random moments.
//!
//! The parent test re-runs this test binary as a child (`child_process_entry`, ignored in normal
//! runs) that opens (or creates) a chain in a shared directory and produces blocks of transfers
//! forever, printing `COMMITTED h` to stdout each time block `h` is durable. The parent kills it
//! with SIGKILL after a random delay — often in the middle of a redb commit — then reopens the
//! directory and checks that every printed height is present, that the recovered head never
//! goes backwards, and that the whole chain re-verifies from genesis. It repeats this, alternating
//! synchronous and pipelined commits; each new child continues the chain from where the last
//! one died.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use deai_store::{
    account_nonce, verify_chain, CommitMode, EmbeddedChain, EmbeddedConfig, EmbeddedError, Store,
    StoreError,
};
use deai_types::Height;
use rand::{Rng, SeedableRng};

use crate::common::{genesis, keys, transfers_for_block};

const DIR_ENV: &str = "DEAI_CRASH_CHILD_DIR";
const MODE_ENV: &str = "DEAI_CRASH_CHILD_MODE";
const KEYS: usize = 16;
const TXS_PER_BLOCK: usize = 64;

#[test]
#[ignore = "entry point of the child process that crash_recovery_kill_9_at_random_points kills"]
fn child_process_entry() {
    let Ok(dir) = std::env::var(DIR_ENV) else {
        return;
    };
    let commit = match std::env::var(MODE_ENV).as_deref() {
        Ok("pipelined") => CommitMode::Pipelined { depth: 2 },
        _ => CommitMode::Sync,
    };
    let config = EmbeddedConfig {
        commit,
        ..EmbeddedConfig::default()
    };
    let k = keys(KEYS);
    let mut chain = match EmbeddedChain::open(&dir, config) {
        Ok(c) => c,
        Err(EmbeddedError::Store(StoreError::NotInitialized { .. })) => {
            EmbeddedChain::init(&dir, &genesis(&k), config).unwrap()
        }
        Err(e) => panic!("child could not open the chain: {e}"),
    };
    let mut nonces: Vec<u64> = k
        .iter()
        .map(|key| account_nonce(chain.state(), &key.account()))
        .collect();
    let mut out = std::io::stdout().lock();
    // The test harness prints "test … ... " before this line: start on a fresh line.
    writeln!(out, "\nREADY {}", chain.head().height.0).unwrap();
    out.flush().unwrap();
    loop {
        let b = chain.head().height.0 + 1;
        for r in chain.submit_batch(transfers_for_block(&k, &mut nonces, b, TXS_PER_BLOCK)) {
            r.unwrap();
        }
        chain.produce_block(b * 1000).unwrap();
        let durable = match commit {
            CommitMode::Sync => vec![chain.head().height],
            CommitMode::Pipelined { .. } => chain.drain_committed(),
        };
        for h in durable {
            writeln!(out, "COMMITTED {}", h.0).unwrap();
        }
        out.flush().unwrap();
    }
}

/// What one child printed before it was killed.
struct ChildRun {
    ready: u64,
    committed: Vec<u64>,
}

fn run_child_and_kill(dir: &std::path::Path, mode: &str, delay: Duration) -> ChildRun {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "crash::child_process_entry",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_ENV, dir)
        .env(MODE_ENV, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Wait until the child has recovered and is producing, then kill it after `delay`.
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let ready = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("child did not become ready")
            });
        if let Some(h) = line.split("READY ").nth(1) {
            break h.trim().parse::<u64>().unwrap();
        }
        lines.push(line);
    };
    std::thread::sleep(delay);
    child.kill().unwrap(); // SIGKILL on unix
    child.wait().unwrap();
    reader.join().unwrap();
    lines.extend(rx.try_iter());
    let committed = lines
        .iter()
        .filter_map(|l| l.strip_prefix("COMMITTED "))
        .map(|h| h.parse::<u64>().unwrap())
        .collect();
    ChildRun { ready, committed }
}

#[test]
fn crash_recovery_kill_9_at_random_points() {
    let dir = tempfile::tempdir().unwrap();
    let seed: u64 = std::env::var("DEAI_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("crash test seed {seed} (rerun with DEAI_CRASH_SEED={seed})");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut last_head = 0u64;
    let mut all_committed = BTreeSet::new();
    let mut kills_mid_stream = 0;
    for round in 0..8 {
        let mode = if round % 2 == 0 { "pipelined" } else { "sync" };
        let delay = Duration::from_millis(rng.gen_range(30..400));
        let run = run_child_and_kill(dir.path(), mode, delay);
        // Recovery never loses a block that an earlier child reported committed.
        assert!(
            run.ready >= last_head,
            "round {round}: recovered head {} < previously committed {last_head}",
            run.ready
        );
        // The child continued from the recovered head, one block at a time.
        for (i, h) in run.committed.iter().enumerate() {
            assert_eq!(*h, run.ready + 1 + i as u64, "round {round} ({mode})");
        }
        if !run.committed.is_empty() {
            kills_mid_stream += 1;
        }

        let store = Store::open(dir.path()).unwrap();
        let head = store.head_height().unwrap().0;
        all_committed.extend(run.committed.iter().copied());
        let max_printed = all_committed.last().copied().unwrap_or(0);
        assert!(
            head >= max_printed,
            "round {round} ({mode}, killed after {delay:?}): head {head} < printed {max_printed}"
        );
        for h in &all_committed {
            assert!(store.block(Height(*h)).unwrap().is_some(), "block {h} lost");
        }
        let report = verify_chain(&store).unwrap();
        assert!(report.is_ok(), "round {round}: {report:?}");
        assert_eq!(report.head, head);
        eprintln!(
            "round {round} ({mode}): killed after {delay:?}; recovered head {head}, {} blocks printed",
            run.committed.len()
        );
        last_head = head;
    }
    assert!(
        kills_mid_stream >= 4,
        "children were killed before producing blocks"
    );
    assert!(last_head >= 8, "the chain did not progress across restarts");
}
