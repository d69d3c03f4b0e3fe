//! Run, inspect and benchmark a deai network from the command line.
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod cmd;

/// deai: a decentralized-AI network — a replicated ledger that coordinates task proposers,
/// miners and validators, trains models by federated learning with Byzantine-robust
/// aggregation, pays for useful work, and measures how decentralized the result is.
#[derive(Parser, Debug)]
#[command(name = "deai", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Flags accepted by every subcommand.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Directory holding the chain database, keys, blobs and reports.
    #[arg(long, global = true, default_value = "./.deai", env = "DEAI_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Print machine-readable JSON instead of human-readable text.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the default scenario: an MNIST task, honest and adversarial miners and validators,
    /// Yuma rewards and slashing on the embedded chain; print a summary, write a report.
    Demo(cmd::sim::DemoArgs),
    /// Run a scenario file (TOML) on the embedded chain and write its report.
    Run(cmd::sim::RunArgs),
    /// Create a new chain: genesis with funded development accounts and their keys.
    Init(cmd::init::InitArgs),
    /// Create, show and list named signing keys (stored under <data-dir>/keys).
    #[command(subcommand)]
    Keys(cmd::keys::KeysCommand),
    /// Sign a transaction with a named key, include it in a new block, print its receipt.
    Tx(cmd::tx::TxArgs),
    /// Inspect and verify the chain: status, blocks, accounts, full re-execution.
    #[command(subcommand)]
    Chain(cmd::chain::ChainCommand),
    /// Compute one Yuma consensus epoch from a JSON case and print every output field.
    Yuma(cmd::yuma::YumaArgs),
    /// Aggregate a matrix of updates with a robust rule (f64 reference path).
    Aggregate(cmd::aggregate::AggregateArgs),
    /// Compute decentralization metrics of a vector of holdings.
    Metrics(cmd::metrics::MetricsArgs),
    /// Run incentive-mechanism scenarios and report how concentrated stake and rewards become.
    Concentration(cmd::concentration::ConcentrationArgs),
    /// Train a model by federated learning on an MNIST-format dataset.
    Train(cmd::train::TrainArgs),
    /// Run an attack × defense × Byzantine fraction × partition grid (resumable) and report.
    Eval(cmd::eval::EvalArgs),
    /// Run a benchmark and print its ratio against a baseline measured in the same run.
    #[command(subcommand)]
    Bench(cmd::bench::BenchCommand),
    /// Run a node: the embedded chain over HTTP, or a member of a testnet (--config).
    Node(cmd::node::NodeArgs),
    /// Write keys, genesis and per-node configs for a localhost replicated network.
    Testnet(cmd::node::TestnetArgs),
}

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Demo(args) => cmd::sim::demo(args, &cli.global),
        Command::Run(args) => cmd::sim::run(args, &cli.global),
        Command::Init(args) => cmd::init::run_init(args, &cli.global),
        Command::Keys(cmd) => cmd::keys::run_keys(cmd, &cli.global),
        Command::Tx(args) => cmd::tx::run_tx(args, &cli.global),
        Command::Chain(cmd) => cmd::chain::run_chain(cmd, &cli.global),
        Command::Yuma(args) => cmd::yuma::run(args, &cli.global),
        Command::Aggregate(args) => cmd::aggregate::run(args, &cli.global),
        Command::Metrics(args) => cmd::metrics::run(args, &cli.global),
        Command::Concentration(args) => cmd::concentration::run(args, &cli.global),
        Command::Train(args) => cmd::train::run(args, &cli.global),
        Command::Eval(args) => cmd::eval::run(args, &cli.global),
        Command::Bench(bench) => cmd::bench::run(bench, &cli.global),
        Command::Node(args) => cmd::node::run(args, &cli.global),
        Command::Testnet(args) => cmd::node::run_testnet(args, &cli.global),
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
