//! `deai metrics`.

use clap::Args;

use crate::Global;

/// Arguments of `deai metrics`.
#[derive(Args, Debug)]
pub struct MetricsArgs {}

/// Runs `deai metrics`.
pub fn run(_args: MetricsArgs, _global: &Global) -> anyhow::Result<()> {
    anyhow::bail!("`deai metrics` is not built yet")
}
