//! `deai yuma`: one Yuma consensus epoch from a JSON case.
//!
//! The input is a JSON object shaped like one `cases[i]` of `tests/vectors/yuma.json`
//! (`{"name", "inputs", "expected", ...}`; only `inputs` is read) or just its `inputs` object:
//! `{"stake": [...], "weights": [[...]], "bonds_prev": [[...]], "params": {...}}`. The epoch
//! runs in I32F32 fixed point (`deai-yuma`) and the output is one JSON object with every
//! output field under the names of `expected` (`stake_normalized`, `consensus`, `incentive`,
//! `dividends`, `bonds_out_u16`, ...). A ragged matrix, a negative or non-finite stake, a value
//! of the wrong type or an unknown field is an error that names the field.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::Global;

/// Arguments of `deai yuma`.
#[derive(Args, Debug)]
pub struct YumaArgs {
    /// JSON file with one case of yuma.json or its `inputs` object; `-` reads stdin.
    #[arg(long, short)]
    pub input: PathBuf,
}

/// Runs `deai yuma`.
pub fn run(args: YumaArgs, _global: &Global) -> anyhow::Result<()> {
    let text = if args.input.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the epoch input from stdin")?;
        s
    } else {
        std::fs::read_to_string(&args.input)
            .with_context(|| format!("reading {}", args.input.display()))?
    };
    let input = deai_yuma::parse_epoch_input(&text)
        .with_context(|| format!("parsing {}", args.input.display()))?;
    let output = deai_yuma::run_epoch(&input).context("running the epoch")?;
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(())
}
