//! `deai concentration`: run incentive-mechanism scenarios and report how concentrated stake,
//! voting power and rewards become.
//!
//! For each scenario file (default: every `scenarios/concentration/*.toml`) it writes
//! `OUT/<name>/run.json` (scenario, per-epoch metrics, final vectors) and
//! `OUT/<name>/epochs.csv` (one row per epoch, one column per distribution × metric); then
//! `OUT/summary.csv` and `OUT/summary.json` (end-of-run numbers and changes against the `yuma`
//! run on the same population), PNG plots over time (`OUT/<population>-<metric>.png`) and a
//! markdown report (`--report`, default `OUT/report.md`) whose image links are relative to it.

mod report;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use deai_incentives::sim::dist;
use deai_incentives::{
    compare, run as run_scenario, ChainYuma, EpochEngine, FloatYuma, RunResult, StudyScenario,
};
use deai_metrics::Metric;
use deai_report::{write_atomic, Table};

use crate::Global;
use report::{report, summary_table, write_plots};

/// Arguments of `deai concentration`.
#[derive(Args, Debug)]
pub struct ConcentrationArgs {
    /// Scenario files; default: every `scenarios/concentration/*.toml`, in name order.
    pub files: Vec<PathBuf>,
    /// Folder for per-run JSON/CSV, the summary and the plots.
    #[arg(long)]
    pub out: PathBuf,
    /// Where to write the markdown report (default `OUT/report.md`).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Consensus engine for the Yuma-based mechanisms.
    #[arg(long, value_enum, default_value_t = Engine::Chain)]
    pub engine: Engine,
}

/// Which Yuma implementation computes the epochs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    /// The chain's fixed-point Yuma (deai-yuma).
    Chain,
    /// Classic Yuma in f64 (deai-incentives' reference).
    Float,
}

/// Runs `deai concentration`.
pub fn run(args: ConcentrationArgs, _global: &Global) -> anyhow::Result<()> {
    let files = if args.files.is_empty() {
        default_files()?
    } else {
        args.files.clone()
    };
    let mut runs = Vec::new();
    let mut names = BTreeSet::new();
    for file in &files {
        let scenario = load_scenario(file)?;
        if !names.insert(scenario.name.clone()) {
            bail!(
                "{}: scenario name `{}` is used twice; names must be unique",
                file.display(),
                scenario.name
            );
        }
        eprintln!(
            "running {} ({}, {} epochs)",
            scenario.name,
            scenario.mechanism.label(),
            scenario.epochs
        );
        let mut engine: Box<dyn EpochEngine> = match args.engine {
            Engine::Chain => Box::new(ChainYuma),
            Engine::Float => Box::new(FloatYuma),
        };
        let result = run_scenario(&scenario, engine.as_mut())
            .with_context(|| format!("running {}", file.display()))?;
        write_run(&args.out, &result)?;
        runs.push(result);
    }
    let summaries = compare(&runs);
    write_atomic(
        &args.out.join("summary.json"),
        serde_json::to_string_pretty(&summaries)?.as_bytes(),
    )?;
    write_atomic(
        &args.out.join("summary.csv"),
        summary_table(&summaries, false).to_csv().as_bytes(),
    )?;
    let plots = write_plots(&args.out, &runs)?;
    let report_path = args.report.unwrap_or_else(|| args.out.join("report.md"));
    let command = format!(
        "deai concentration {} --out {} --report {} --engine {}",
        files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(" "),
        args.out.display(),
        report_path.display(),
        match args.engine {
            Engine::Chain => "chain",
            Engine::Float => "float",
        }
    );
    let mut md = report(&runs, &summaries, &plots, &command, &args.out, &report_path);
    md.push_str(&kept_tail(&report_path));
    write_atomic(&report_path, md.as_bytes())?;
    eprintln!("wrote {} and {}", args.out.display(), report_path.display());
    Ok(())
}

/// Marks the start of hand-written text in a report that regenerating it keeps.
const KEEP_MARKER: &str =
    "<!-- kept on regeneration: text below is not written by deai concentration -->";

/// The hand-written tail of an existing report (from [`KEEP_MARKER`] on), or nothing.
fn kept_tail(report_path: &Path) -> String {
    std::fs::read_to_string(report_path)
        .ok()
        .and_then(|old| old.find(KEEP_MARKER).map(|at| format!("\n{}", &old[at..])))
        .unwrap_or_default()
}

fn default_files() -> anyhow::Result<Vec<PathBuf>> {
    let dir = Path::new("scenarios/concentration");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {} (give scenario files explicitly)", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no scenario files in {}", dir.display());
    }
    Ok(files)
}

/// Reads, parses and validates a scenario, and loads the stake files it names (paths
/// relative to the scenario file).
fn load_scenario(file: &Path) -> anyhow::Result<StudyScenario> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut scenario =
        StudyScenario::from_toml_str(&text).with_context(|| format!("in {}", file.display()))?;
    let dir = file.parent().unwrap_or(Path::new("."));
    scenario
        .resolve_stake_files(|p| load_stake(&dir.join(p)))
        .with_context(|| format!("in {}", file.display()))?;
    Ok(scenario)
}

/// A JSON array of stakes, or an object with a `stake` array (as `data/bittensor-sn15-stake.json`).
fn load_stake(path: &Path) -> anyhow::Result<Vec<f64>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let array = match &value {
        serde_json::Value::Array(a) => a,
        serde_json::Value::Object(o) => match o.get("stake") {
            Some(serde_json::Value::Array(a)) => a,
            _ => bail!(
                "{}: expected an array or an object with a `stake` array",
                path.display()
            ),
        },
        _ => bail!(
            "{}: expected an array or an object with a `stake` array",
            path.display()
        ),
    };
    array
        .iter()
        .enumerate()
        .map(|(i, v)| match v.as_f64() {
            Some(x) if x.is_finite() && x >= 0.0 => Ok(x),
            _ => bail!(
                "{}: stake at index {i} is {v}, expected a number ≥ 0",
                path.display()
            ),
        })
        .collect()
}

fn write_run(out: &Path, r: &RunResult) -> anyhow::Result<()> {
    let dir = out.join(&r.scenario.name);
    write_atomic(
        &dir.join("run.json"),
        serde_json::to_string_pretty(r)?.as_bytes(),
    )?;
    let mut headers = vec![
        "epoch".to_string(),
        "best_miner_share".into(),
        "best_miner_rewards_cumulative".into(),
        "miner_rewards_cumulative".into(),
        "validator_emission_share".into(),
        "mean_agreement".into(),
        "median_agreement".into(),
    ];
    for d in dist::ALL {
        for m in Metric::ALL {
            headers.push(format!("{d}.{}", m.key()));
        }
    }
    let mut table = Table::new(headers);
    for e in &r.epochs {
        let mut row = vec![
            e.epoch.to_string(),
            e.best_miner_share.to_string(),
            e.best_miner_rewards_cumulative.to_string(),
            e.miner_rewards_cumulative.to_string(),
            e.validator_emission_share.to_string(),
            e.mean_agreement.to_string(),
            e.median_agreement.to_string(),
        ];
        for d in dist::ALL {
            let v = serde_json::to_value(e.metrics.get(d))?;
            for m in Metric::ALL {
                row.push(v.get(m.key()).map(|x| x.to_string()).unwrap_or_default());
            }
        }
        table.push(row);
    }
    write_atomic(&dir.join("epochs.csv"), table.to_csv().as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regeneration_keeps_the_hand_written_tail_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.md");
        assert_eq!(kept_tail(&path), "", "no file, nothing kept");
        std::fs::write(&path, "# generated\nold table\n").unwrap();
        assert_eq!(kept_tail(&path), "", "no marker, nothing kept");
        std::fs::write(
            &path,
            format!("# generated\nold table\n{KEEP_MARKER}\n\n## Notes\nby hand\n"),
        )
        .unwrap();
        assert_eq!(
            kept_tail(&path),
            format!("\n{KEEP_MARKER}\n\n## Notes\nby hand\n")
        );
    }
}
