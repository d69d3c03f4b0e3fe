//! `deai bench replication`: finalized tx/s of validators in one process against the embedded
//! producer.

use anyhow::Context as _;
use clap::Args;
use deai_node::bench::{replication, ReplicationBench};

use crate::Global;

/// Arguments of `deai bench replication`.
#[derive(Args, Debug)]
pub struct BenchReplicationArgs {
    /// Validators in the replicated run (all in this process).
    #[arg(long, default_value_t = 4)]
    pub nodes: usize,
    /// Signed transfers processed by each side.
    #[arg(long, default_value_t = 20_000)]
    pub txs: usize,
    /// Distinct senders.
    #[arg(long, default_value_t = 1_000)]
    pub senders: usize,
    /// Most transactions per block.
    #[arg(long, default_value_t = 4_096)]
    pub block_txs: usize,
}

/// Runs `deai bench replication`: replicated finalized tx/s, median block latency, and the
/// embedded single-node throughput measured in the same run, with their ratio (target ≥ 0.5).
pub fn run_bench(args: BenchReplicationArgs, global: &Global) -> anyhow::Result<()> {
    let report = replication(ReplicationBench {
        validators: args.nodes,
        txs: args.txs,
        senders: args.senders,
        block_txs: args.block_txs,
    })
    .context("running the replication benchmark")?;
    if global.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "replication/transfers/nodes={} txs={}",
            report.validators, report.txs
        );
        println!(
            "  replicated finalized: {:>10.0} tx/s  ({} blocks, median block latency {:.0} ms)",
            report.replicated_tx_per_s, report.replicated_blocks, report.median_block_latency_ms
        );
        println!(
            "    of its wall time, {:.0}% went to admitting every transaction to all {} mempools \
             (each node verifies every signature; all nodes share this machine's cores)",
            report.replicated_admission_share * 100.0,
            report.validators
        );
        println!(
            "  embedded single node: {:>10.0} tx/s  (baseline, same run)",
            report.embedded_tx_per_s
        );
        println!(
            "  ratio replicated/embedded: {:.3}  (target >= 0.5)",
            report.ratio
        );
        println!(
            "  cost per transaction: embedded {:.1} us (admission {:.1} us); replicated {:.1} us \
             per replica (admission {:.1} us)",
            report.embedded_us_per_tx,
            report.embedded_admission_us_per_tx,
            report.replicated_us_per_tx_per_replica,
            report.replicated_admission_us_per_tx_per_replica
        );
        println!(
            "  every replica repeats the embedded node's work (verify each signature, execute, \
             commit) and all {} share this machine's cores, so the ratio cannot exceed 1/{} = \
             {:.2} here; 0.5 needs the replicas on their own cores",
            report.validators, report.validators, report.shared_cores_ceiling
        );
    }
    Ok(())
}
