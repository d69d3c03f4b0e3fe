//! `deai bench http`: requests/s and latency of the node's HTTP API on localhost.

use anyhow::Context as _;
use clap::Args;
use deai_node::loadtest::{http_load, HttpLoad};

use crate::Global;

/// Arguments of `deai bench http`.
#[derive(Args, Debug)]
pub struct BenchHttpArgs {
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// Seconds per GET scenario.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Signed transfers posted in the POST scenario.
    #[arg(long, default_value_t = 20_000)]
    pub txs: usize,
}

/// Runs `deai bench http`: requests/s and p50/p99 latency of the API on localhost, each as a
/// ratio to `GET /v1/status` measured in the same run.
pub fn run_bench_http(args: BenchHttpArgs, global: &Global) -> anyhow::Result<()> {
    let report = http_load(HttpLoad {
        connections: args.connections,
        seconds: args.seconds,
        txs: args.txs,
    })
    .context("running the HTTP load test")?;
    if global.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "http/localhost connections={} (server and clients share this machine's cores)",
        report.connections
    );
    for s in &report.scenarios {
        println!(
            "  {:<30} {:>9.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  ok {:>7}  errors {:>4}  ratio to status {:.3}",
            s.name, s.requests_per_s, s.p50_ms, s.p99_ms, s.ok, s.errors, s.ratio_to_status
        );
    }
    println!(
        "  chain after the run: height {}, {} transactions in blocks",
        report.final_height, report.txs_included
    );
    Ok(())
}
