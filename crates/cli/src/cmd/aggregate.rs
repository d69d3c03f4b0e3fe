//! `deai aggregate`: one rule on a JSON case, on the f64 reference path.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use deai_aggregation::{as_rows, from_spec, nnm_from_params};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::Global;

/// Arguments of `deai aggregate`.
#[derive(Args, Debug)]
pub struct AggregateArgs {
    /// JSON file `{"rule": "...", "params": {...}, "X": [[...], ...]}`; `-` reads stdin.
    #[arg(long)]
    pub input: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    rule: String,
    #[serde(default)]
    params: Value,
    #[serde(rename = "X")]
    x: Vec<Vec<f64>>,
}

/// Runs `deai aggregate`: prints `{"output": [...]}` (an n×d matrix for `nnm`).
pub fn run(args: AggregateArgs, _global: &Global) -> anyhow::Result<()> {
    let text = if args.input.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the case from stdin")?;
        s
    } else {
        std::fs::read_to_string(&args.input)
            .with_context(|| format!("reading {}", args.input.display()))?
    };
    let case: Case = serde_json::from_str(&text).context(
        "parsing the case: expected {\"rule\": string, \"params\": object, \"X\": array of rows of numbers}",
    )?;
    let rows = as_rows(&case.x);
    let output = if case.rule == "nnm" {
        json!(nnm_from_params(&case.params)?.transform_f64(&rows)?)
    } else {
        json!(from_spec(&case.rule, &case.params)?.aggregate_f64(&rows)?)
    };
    println!("{}", json!({ "output": output }));
    Ok(())
}
