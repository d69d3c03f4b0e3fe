//! `deai aggregate`.

use clap::Args;

use crate::Global;

/// Arguments of `deai aggregate`.
#[derive(Args, Debug)]
pub struct AggregateArgs {}

/// Runs `deai aggregate`.
pub fn run(_args: AggregateArgs, _global: &Global) -> anyhow::Result<()> {
    anyhow::bail!("`deai aggregate` is not built yet")
}
