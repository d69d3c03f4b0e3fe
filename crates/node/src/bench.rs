//! `deai bench replication`: replicated throughput against the embedded producer, same run.
//!
//! Both sides process the same pre-signed transfers from admission (signature verification in
//! the mempool) to a durable block in redb. The embedded side is one `EmbeddedChain` producing
//! blocks back to back. The replicated side is 4 validators in this process (commonware's
//! deterministic runtime and simulated network with 1 ms links: consensus on one thread, ledger
//! work — rayon batch verification, redb commits — real), each with its own redb store and every
//! transaction submitted to every node's mempool; the wall clock stops when every node has
//! applied every transfer. Block latency is virtual time from a block's proposal (its header
//! timestamp) to its application at node 0, so it reflects the protocol's round trips over the
//! simulated links, not CPU time.

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use commonware_runtime::{deterministic, Clock as _, Runner as _, Supervisor as _};
use deai_chain::GenesisConfig;
use deai_store::{EmbeddedChain, EmbeddedConfig};
use deai_types::{Amount, Call, ChainId, Keypair, Nonce, SignedTx, Tx};

use crate::{
    engine::{
        cluster::{Cluster, ClusterConfig, LinkSpec},
        Timing,
    },
    ledger::{BlockLimits, ReplicatedLedger},
};

/// Parameters of the benchmark.
#[derive(Clone, Copy, Debug)]
pub struct ReplicationBench {
    /// Number of validators.
    pub validators: usize,
    /// Number of signed transfers.
    pub txs: usize,
    /// Number of distinct senders.
    pub senders: usize,
    /// Most transactions per block (both sides).
    pub block_txs: usize,
}

impl Default for ReplicationBench {
    fn default() -> Self {
        Self {
            validators: 4,
            txs: 20_000,
            senders: 1_000,
            block_txs: 4_096,
        }
    }
}

/// What the benchmark measured.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ReplicationReport {
    /// Validators in the replicated run.
    pub validators: usize,
    /// Transfers processed by each side.
    pub txs: usize,
    /// Embedded (single node) transfers per second.
    pub embedded_tx_per_s: f64,
    /// Replicated transfers per second (all nodes applied everything).
    pub replicated_tx_per_s: f64,
    /// replicated / embedded.
    pub ratio: f64,
    /// Median latency from proposal to finalization at node 0, in ms.
    pub median_block_latency_ms: f64,
    /// Non-empty blocks finalized in the replicated run.
    pub replicated_blocks: usize,
    /// Share of the replicated run's wall time spent admitting the transactions to the four
    /// mempools (each node verifies every signature itself), in [0, 1].
    pub replicated_admission_share: f64,
    /// Embedded wall time per transaction, µs (admission + execution + commit).
    pub embedded_us_per_tx: f64,
    /// Embedded admission (signature verification, mempool) per transaction, µs.
    pub embedded_admission_us_per_tx: f64,
    /// Replicated wall time per transaction divided by the number of replicas, µs: what one
    /// replica's share of the shared cores cost per transaction.
    pub replicated_us_per_tx_per_replica: f64,
    /// Replicated admission per transaction per replica, µs.
    pub replicated_admission_us_per_tx_per_replica: f64,
    /// The best ratio possible when every replica repeats the embedded node's work on the same
    /// cores: embedded cost / (replicas × embedded cost) = 1 / replicas.
    pub shared_cores_ceiling: f64,
}

/// Errors of the benchmark.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Setup failed.
    #[error("benchmark setup: {0}")]
    Setup(String),
}

fn setup<E: std::fmt::Display>(e: E) -> BenchError {
    BenchError::Setup(e.to_string())
}

/// `senders` keys derived from fixed seeds and a genesis of `chain_id` funding each of them
/// generously: the workload of the node benchmarks and the HTTP load test.
pub fn funded_senders(chain_id: &ChainId, senders: usize) -> (Vec<Keypair>, GenesisConfig) {
    let keys: Vec<Keypair> = (0..senders)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            Keypair::from_seed(seed)
        })
        .collect();
    let genesis = GenesisConfig::funded(
        chain_id.clone(),
        keys.iter().map(Keypair::account),
        Amount(1_000_000_000_000),
    );
    (keys, genesis)
}

fn workload(cfg: &ReplicationBench) -> Result<(GenesisConfig, Vec<SignedTx>), BenchError> {
    let chain_id = ChainId::new("deai-bench").map_err(setup)?;
    let (keys, genesis) = funded_senders(&chain_id, cfg.senders.max(2));
    let n = keys.len();
    let txs = (0..cfg.txs)
        .map(|i| {
            let from = &keys[i % n];
            let to = &keys[(i + 1) % n];
            from.sign_tx(Tx {
                chain_id: chain_id.clone(),
                nonce: Nonce((i / n) as u64),
                fee: Amount(1),
                call: Call::Transfer {
                    to: to.account(),
                    amount: Amount(1),
                },
            })
        })
        .collect();
    Ok((genesis, txs))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn embedded(
    cfg: &ReplicationBench,
    genesis: &GenesisConfig,
    txs: &[SignedTx],
) -> Result<(f64, f64), BenchError> {
    let dir = tempfile::tempdir().map_err(setup)?;
    let mut chain = EmbeddedChain::init(
        dir.path(),
        genesis,
        EmbeddedConfig {
            max_block_txs: cfg.block_txs,
            ..EmbeddedConfig::default()
        },
    )
    .map_err(setup)?;
    let start = Instant::now();
    let admitted = chain.submit_batch(txs.to_vec());
    if let Some(err) = admitted.into_iter().find_map(Result::err) {
        return Err(setup(err));
    }
    let admission = start.elapsed().as_secs_f64();
    let mut done = 0usize;
    while done < txs.len() {
        let produced = chain.produce_block(now_ms()).map_err(setup)?;
        if produced.block.txs.is_empty() {
            return Err(setup("embedded producer stalled with transactions left"));
        }
        done += produced.block.txs.len();
    }
    chain.flush().map_err(setup)?;
    Ok((txs.len() as f64 / start.elapsed().as_secs_f64(), admission))
}

fn replicated(
    cfg: &ReplicationBench,
    genesis: &GenesisConfig,
    txs: &[SignedTx],
) -> Result<(f64, f64, usize, f64), BenchError> {
    let dirs: Vec<tempfile::TempDir> = (0..cfg.validators)
        .map(|_| tempfile::tempdir())
        .collect::<Result<_, _>>()
        .map_err(setup)?;
    let limits = BlockLimits {
        max_txs: cfg.block_txs,
        ..BlockLimits::default()
    };
    let ledgers: Vec<Arc<ReplicatedLedger>> = dirs
        .iter()
        .map(|d| ReplicatedLedger::init(d.path(), genesis, limits).map(Arc::new))
        .collect::<Result<_, _>>()
        .map_err(setup)?;
    let feeds: Vec<_> = ledgers.iter().map(|l| l.subscribe()).collect();
    // commonware's simulated network needs the deterministic runtime: consensus runs on one
    // thread in virtual time (1 ms links), the ledger work (rayon batch verification, redb) is
    // real; the wall clock measures throughput.
    let runner = deterministic::Runner::new(
        deterministic::Config::new()
            .with_seed(1)
            .with_start_time(SystemTime::now()),
    );
    let validators = cfg.validators;
    let txs = txs.to_vec();
    let total = txs.len() as u64;
    runner.start(|context| async move {
        let config = ClusterConfig {
            validators,
            participants: 0,
            epoch_length: 0,
            link: LinkSpec::reliable(Duration::from_millis(1)),
            namespace: b"deai-bench".to_vec(),
            max_payload_bytes: limits.max_bytes,
            timing: Timing::local(),
            messages_per_second: 100_000,
        };
        let mut cluster = Cluster::new(context.child("cluster"), config)
            .await
            .map_err(setup)?;
        for (i, l) in ledgers.iter().enumerate() {
            cluster.start(i, l.clone()).await.map_err(setup)?;
        }
        let start = Instant::now();
        for l in &ledgers {
            if let Some(err) = l
                .submit_batch(txs.clone())
                .into_iter()
                .find_map(Result::err)
            {
                return Err(setup(err));
            }
        }
        let admission = start.elapsed().as_secs_f64();
        let mut applied = vec![0u64; ledgers.len()];
        let mut latencies = Vec::new();
        let deadline = start + Duration::from_secs(900);
        while applied.iter().any(|&a| a < total) {
            for (i, feed) in feeds.iter().enumerate() {
                while let Ok(block) = feed.try_recv() {
                    applied[i] += block.block.txs.len() as u64;
                    if i == 0 && !block.block.txs.is_empty() {
                        let now = context
                            .current()
                            .duration_since(UNIX_EPOCH)
                            .map(|d| d.as_millis() as u64)
                            .unwrap_or(0);
                        latencies.push(now.saturating_sub(block.block.header.timestamp_ms));
                    }
                }
            }
            if Instant::now() > deadline {
                return Err(setup(format!(
                    "replication stalled: {applied:?} of {total}"
                )));
            }
            context.sleep(Duration::from_millis(1)).await;
        }
        let elapsed = start.elapsed().as_secs_f64();
        latencies.sort_unstable();
        let median = latencies.get(latencies.len() / 2).copied().unwrap_or(0) as f64;
        Ok((
            total as f64 / elapsed,
            median,
            latencies.len(),
            admission / elapsed,
        ))
    })
}

/// Runs both sides and reports their throughput and ratio.
pub fn replication(cfg: ReplicationBench) -> Result<ReplicationReport, BenchError> {
    let (genesis, txs) = workload(&cfg)?;
    let (embedded_tx_per_s, embedded_admission_s) = embedded(&cfg, &genesis, &txs)?;
    let (replicated_tx_per_s, median_block_latency_ms, replicated_blocks, admission_share) =
        replicated(&cfg, &genesis, &txs)?;
    let n = txs.len().max(1) as f64;
    let replicas = cfg.validators.max(1) as f64;
    let replicated_us_per_tx_per_replica = 1e6 / replicated_tx_per_s / replicas;
    Ok(ReplicationReport {
        embedded_us_per_tx: 1e6 / embedded_tx_per_s,
        embedded_admission_us_per_tx: embedded_admission_s * 1e6 / n,
        replicated_us_per_tx_per_replica,
        replicated_admission_us_per_tx_per_replica: replicated_us_per_tx_per_replica
            * admission_share,
        shared_cores_ceiling: 1.0 / replicas,
        validators: cfg.validators,
        txs: txs.len(),
        embedded_tx_per_s,
        replicated_tx_per_s,
        ratio: replicated_tx_per_s / embedded_tx_per_s,
        median_block_latency_ms,
        replicated_blocks,
        replicated_admission_share: admission_share,
    })
}
