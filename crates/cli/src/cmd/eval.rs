//! `deai eval grid.toml`: the attack × defense × Byzantine fraction × partition grid.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use deai_sim::harness::{run_grid, Grid, Progress};
use indicatif::{ProgressBar, ProgressStyle};

use crate::Global;

/// Arguments of `deai eval`.
#[derive(Args, Debug, Clone)]
pub struct EvalArgs {
    /// The grid file (TOML; see eval/default.toml).
    pub grid: PathBuf,
    /// Output folder; finished cells in <out>/cells.jsonl are not run again
    /// [default: <data-dir>/eval/<grid file stem>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Threads running cells (overrides the grid's `threads`).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Dataset folder (overrides the grid's `data`).
    #[arg(long)]
    pub data: Option<PathBuf>,
}

/// Runs the grid and prints where the results are.
pub fn run(args: EvalArgs, global: &Global) -> anyhow::Result<()> {
    let mut grid = Grid::load(&args.grid).with_context(|| format!("{}", args.grid.display()))?;
    if args.threads.is_some() {
        grid.threads = args.threads;
    }
    if let Some(d) = args.data {
        grid.data = d;
    }
    let out = args.out.unwrap_or_else(|| {
        let stem = args
            .grid
            .file_stem()
            .map_or_else(|| "grid".into(), |s| s.to_string_lossy().to_string());
        global.data_dir.join("eval").join(stem)
    });
    let bar = if global.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} cells, {elapsed} elapsed, eta {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let t0 = Instant::now();
    let progress = |p: &Progress| {
        bar.set_length(p.total as u64);
        bar.set_position(p.done as u64);
        bar.set_message(p.last.clone());
    };
    let outcome = run_grid(&grid, &out, &progress)?;
    bar.finish_and_clear();
    let failed = outcome.records.iter().filter(|r| r.error.is_some()).count();
    if global.json {
        println!(
            "{}",
            serde_json::json!({
                "out": out,
                "cells": outcome.records.len(),
                "ran": outcome.ran,
                "reused": outcome.reused,
                "failed": failed,
                "seconds": t0.elapsed().as_secs_f64(),
                "files": outcome.files,
            })
        );
    } else {
        println!(
            "{} cells ({} run now, {} reused, {} failed) in {:.1} s",
            outcome.records.len(),
            outcome.ran,
            outcome.reused,
            failed,
            t0.elapsed().as_secs_f64()
        );
        for f in &outcome.files {
            println!("wrote {}", f.display());
        }
    }
    Ok(())
}
