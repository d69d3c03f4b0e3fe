//! `deai node` and `deai testnet`.
//!
//! - `deai node` serves the embedded chain in `--data-dir` (create it with `deai init`) over
//!   HTTP and produces a block whenever transactions wait (checked every `--block-ms`).
//! - `deai testnet --nodes 4 --dir net/` writes validator and development keys
//!   (`net/keys/*.key`), `net/genesis.json` (validators are the genesis stakers) and one
//!   `net/node-N.toml` per member; `deai node --config net/node-N.toml` runs member N
//!   (commonware simplex + marshal over authenticated TCP p2p, HTTP API on its `listen`).
//!
//! Both print `listening on http://ADDR` once the API accepts connections, and stop cleanly on
//! Ctrl-C or SIGTERM.

use std::{io::Write as _, net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::Context as _;
use clap::Args;
use deai_node::{
    config::{write_testnet, MemberConfig, TestnetSpec},
    daemon::{run_member, run_single, SingleOptions},
};
use deai_types::ChainId;

use crate::Global;

/// Arguments of `deai node`.
#[derive(Args, Debug)]
#[command(
    about = "Run a node: the embedded chain in --data-dir over HTTP, or a testnet member (--config)",
    long_about = "Run a node.\n\nWithout --config: a single node serving the embedded chain in \
--data-dir (create it with `deai init`) over HTTP on --listen, producing a block whenever \
transactions wait.\n\nWith --config FILE (written by `deai testnet`): one validator of a \
replicated network; its data dir, key, genesis, HTTP and p2p addresses and peers come from the \
file.\n\nCtrl-C or SIGTERM stops it cleanly; a restarted member catches up from its peers.\n\n\
Examples:\n  deai init && deai node --listen 127.0.0.1:8645\n  deai testnet --nodes 4 --dir net \
&& deai node --config net/node-0.toml"
)]
pub struct NodeArgs {
    /// Member config of a replicated network (see `deai testnet`); without it, a single node.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// HTTP listen address of the single node.
    #[arg(long, default_value = "127.0.0.1:8645")]
    pub listen: SocketAddr,
    /// Milliseconds between block production attempts of the single node.
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub block_ms: u64,
    /// While idle, at most one empty block per this many milliseconds (single node; a
    /// testnet member reads `idle_block_ms` from its config).
    #[arg(long, default_value_t = deai_store::DEFAULT_IDLE_BLOCK_MS, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_block_ms: u64,
    /// Most transactions per block of the single node.
    #[arg(long, default_value_t = 4_096)]
    pub block_txs: usize,
    /// Sustained HTTP requests per second per client IP of the single node (bursts of 2x).
    #[arg(long, default_value_t = 1_000.0)]
    pub rate_limit: f64,
}

/// Arguments of `deai testnet`.
#[derive(Args, Debug)]
pub struct TestnetArgs {
    /// Number of validators (one `deai node` process each).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub nodes: u16,
    /// Output directory (must not hold a genesis yet).
    #[arg(long, default_value = "net")]
    pub dir: PathBuf,
    /// Funded development accounts (alice, bob, …) with keys under <dir>/keys.
    #[arg(long, default_value_t = 4)]
    pub accounts: usize,
    /// HTTP port of member 0; member N uses this + N.
    #[arg(long, default_value_t = 8700)]
    pub http_port: u16,
    /// p2p port of member 0; member N uses this + N.
    #[arg(long, default_value_t = 9700)]
    pub p2p_port: u16,
    /// Chain id.
    #[arg(long, default_value = "deai-testnet")]
    pub chain_id: ChainId,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn announce(addr: SocketAddr) {
    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();
}

/// Runs `deai node`.
pub fn run(args: NodeArgs, global: &Global) -> anyhow::Result<()> {
    match args.config {
        Some(path) => {
            let config =
                MemberConfig::load(&path).with_context(|| format!("loading {}", path.display()))?;
            run_member(config, announce)?;
        }
        None => {
            run_single(
                SingleOptions {
                    data_dir: global.data_dir.clone(),
                    listen: args.listen,
                    block_interval: Duration::from_millis(args.block_ms),
                    idle_block_interval: Duration::from_millis(args.idle_block_ms),
                    block_txs: args.block_txs,
                    rate_per_second: args.rate_limit,
                    http: deai_node::http::HttpSettings::default(),
                },
                announce,
            )?;
        }
    }
    Ok(())
}

/// Runs `deai testnet`.
pub fn run_testnet(args: TestnetArgs, global: &Global) -> anyhow::Result<()> {
    let report = write_testnet(&TestnetSpec {
        dir: args.dir.clone(),
        nodes: usize::from(args.nodes),
        accounts: args.accounts,
        http_port: args.http_port,
        p2p_port: args.p2p_port,
        chain_id: args.chain_id,
        genesis_time_ms: now_ms(),
    })?;
    if global.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "wrote a {}-validator localhost network to {}",
        args.nodes,
        args.dir.display()
    );
    println!("  genesis: {}", report.genesis.display());
    for (config, url) in report.configs.iter().zip(&report.urls) {
        println!("  deai node --config {}   # {url}", config.display());
    }
    for (name, account) in &report.accounts {
        println!("  account {name:<8} {account}");
    }
    println!(
        "keys are in {}; e.g. `deai --data-dir {} tx --node {} --from {} transfer --to {} --amount 1000`",
        args.dir.join("keys").display(),
        args.dir.display(),
        report.urls.first().map(String::as_str).unwrap_or(""),
        report.accounts.first().map(|a| a.0.as_str()).unwrap_or("alice"),
        report.accounts.get(1).map(|a| a.0.as_str()).unwrap_or("bob"),
    );
    Ok(())
}
