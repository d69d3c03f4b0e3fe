//! `deai train`.

use clap::Args;

use crate::Global;

/// Arguments of `deai train`.
#[derive(Args, Debug)]
pub struct TrainArgs {}

/// Runs `deai train`.
pub fn run(_args: TrainArgs, _global: &Global) -> anyhow::Result<()> {
    anyhow::bail!("`deai train` is not built yet")
}
