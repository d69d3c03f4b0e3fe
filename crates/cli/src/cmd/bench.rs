//! `deai bench …`: each benchmark prints its ratio against a baseline measured in the same run.

use clap::Subcommand;

use crate::Global;

/// The benchmarks.
#[derive(Subcommand, Debug)]
pub enum BenchCommand {}

/// Runs one benchmark.
pub fn run(bench: BenchCommand, _global: &Global) -> anyhow::Result<()> {
    match bench {}
}
