//! `deai bench …`: each benchmark prints its ratio against a baseline measured in the same run.

mod aggregate;
mod fl;
mod http;
mod ledger;
mod replication;

use clap::Subcommand;

use crate::Global;

/// The benchmarks.
#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Apply and commit blocks of signed transfers; ratio to single-core ed25519 verification.
    Ledger(ledger::BenchLedgerArgs),
    /// Time every aggregation rule against a memory-bound sum and an X·Xᵀ product.
    ///
    /// For each cell (n rows of length d, f = ⌊0.2n⌋ Byzantine), prints each rule's minimum
    /// wall time and its ratio to the bound (the faster of a contiguous and a column-blocked
    /// sum of the matrix), to the contiguous sum alone and, for the Krum family, to one X·Xᵀ
    /// product. It ends with one verdict line per speed target: FedAvg and norm clipping
    /// ≤ 1.5× the bound, median and trimmed mean ≤ 20×, geometric median ≤ 15×, Krum and
    /// Multi-Krum ≤ 1.3× X·Xᵀ. Build with --release.
    Aggregate(aggregate::BenchAggregateArgs),
    /// Time federated rounds (train + aggregate) against this machine's f32 matmul peak.
    Fl(fl::BenchFlArgs),
    /// Finalized tx/s of 4 validators (simplex + marshal) against the embedded producer.
    Replication(replication::BenchReplicationArgs),
    /// HTTP requests/s and p99 latency on localhost, against GET /v1/status.
    Http(http::BenchHttpArgs),
}

/// Runs one benchmark.
pub fn run(bench: BenchCommand, global: &Global) -> anyhow::Result<()> {
    match bench {
        BenchCommand::Ledger(args) => ledger::run_bench(args, global),
        BenchCommand::Aggregate(args) => aggregate::run_bench(args, global),
        BenchCommand::Fl(args) => fl::run_bench_fl(args, global),
        BenchCommand::Replication(args) => replication::run_bench(args, global),
        BenchCommand::Http(args) => http::run_bench_http(args, global),
    }
}
