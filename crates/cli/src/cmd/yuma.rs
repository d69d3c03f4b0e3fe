//! `deai yuma`.

use clap::Args;

use crate::Global;

/// Arguments of `deai yuma`.
#[derive(Args, Debug)]
pub struct YumaArgs {}

/// Runs `deai yuma`.
pub fn run(_args: YumaArgs, _global: &Global) -> anyhow::Result<()> {
    anyhow::bail!("`deai yuma` is not built yet")
}
