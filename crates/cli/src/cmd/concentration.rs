//! `deai concentration`: run incentive-mechanism scenarios and report how concentrated stake,
//! voting power and rewards become.
//!
//! For each scenario file (default: every `scenarios/concentration/*.toml`) it writes
//! `OUT/<name>/run.json` (scenario, per-epoch metrics, final vectors) and
//! `OUT/<name>/epochs.csv` (one row per epoch, one column per distribution × metric); then
//! `OUT/summary.csv` and `OUT/summary.json` (end-of-run numbers and changes against the `yuma`
//! run on the same population), PNG plots over time (`OUT/<population>-<metric>.png`) and a
//! markdown report (`--report`, default `OUT/report.md`) whose image links are relative to it.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use deai_incentives::sim::dist;
use deai_incentives::{
    compare, run as run_scenario, ChainYuma, EpochEngine, FloatYuma, RunResult, Scenario, Summary,
};
use deai_report::{write_atomic, LineChart, Series, Table};

use crate::Global;

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
fn load_scenario(file: &Path) -> anyhow::Result<Scenario> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut scenario =
        Scenario::from_toml_str(&text).with_context(|| format!("in {}", file.display()))?;
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

const METRIC_COLUMNS: [&str; 11] = [
    "gini",
    "nakamoto_1_2",
    "nakamoto_1_3",
    "hhi",
    "entropy_normalized",
    "theil",
    "top_1_share",
    "top_3_share",
    "top_5_share",
    "top_10_share",
    "n",
];

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
        for m in METRIC_COLUMNS {
            headers.push(format!("{d}.{m}"));
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
            for m in METRIC_COLUMNS {
                row.push(v.get(m).map(|x| x.to_string()).unwrap_or_default());
            }
        }
        table.push(row);
    }
    write_atomic(&dir.join("epochs.csv"), table.to_csv().as_bytes())?;
    Ok(())
}

/// Runs grouped by population: the `yuma` baseline they compare with (or themselves).
fn groups(runs: &[RunResult], summaries: &[Summary]) -> Vec<(String, Vec<usize>)> {
    let mut out: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, s) in summaries.iter().enumerate() {
        let key = s
            .baseline
            .clone()
            .unwrap_or_else(|| runs[i].scenario.name.clone());
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(i),
            None => out.push((key, vec![i])),
        }
    }
    out
}

/// One plot: a file stem, a title, a y label, and how to read the value from an epoch.
type PlotSpec = (
    &'static str,
    &'static str,
    &'static str,
    fn(&deai_incentives::EpochRecord) -> f64,
);

fn metric(e: &deai_incentives::EpochRecord, d: &str, f: fn(&deai_metrics::Metrics) -> f64) -> f64 {
    e.metrics.get(d).map_or(f64::NAN, f)
}

const PLOTS: [PlotSpec; 8] = [
    (
        "reward-nakamoto",
        "Nakamoto coefficient (½) of cumulative rewards per entity",
        "entities",
        |e| {
            metric(e, dist::ENTITY_REWARDS_CUMULATIVE, |m| {
                m.nakamoto_1_2 as f64
            })
        },
    ),
    (
        "reward-nakamoto-epoch",
        "Nakamoto coefficient (½) of each epoch's rewards per entity",
        "entities",
        |e| metric(e, dist::ENTITY_REWARDS, |m| m.nakamoto_1_2 as f64),
    ),
    (
        "reward-gini",
        "Gini of cumulative rewards per entity",
        "Gini",
        |e| metric(e, dist::ENTITY_REWARDS_CUMULATIVE, |m| m.gini),
    ),
    (
        "voting-nakamoto",
        "Nakamoto coefficient (½) of validator voting power",
        "validators",
        |e| metric(e, dist::VOTING_POWER, |m| m.nakamoto_1_2 as f64),
    ),
    ("stake-gini", "Gini of validator stake", "Gini", |e| {
        metric(e, dist::STAKE, |m| m.gini)
    }),
    (
        "validator-reward-nakamoto",
        "Nakamoto coefficient (½) of cumulative validator rewards",
        "validators",
        |e| {
            metric(e, dist::VALIDATOR_REWARDS_CUMULATIVE, |m| {
                m.nakamoto_1_2 as f64
            })
        },
    ),
    (
        "miner-reward-gini",
        "Gini of cumulative miner rewards",
        "Gini",
        |e| metric(e, dist::MINER_REWARDS_CUMULATIVE, |m| m.gini),
    ),
    (
        "best-miner-share",
        "Share of miner rewards paid to the best 10% of miners",
        "share",
        |e| e.best_miner_share,
    ),
];

/// Writes the plots; returns (group, stem, title, path) per plot.
fn write_plots(
    out: &Path,
    runs: &[RunResult],
) -> anyhow::Result<Vec<(String, &'static str, &'static str, PathBuf)>> {
    let summaries = compare(runs);
    let mut written = Vec::new();
    for (group, members) in groups(runs, &summaries) {
        for (stem, title, y_label, value) in PLOTS {
            let mut chart = LineChart::new(format!("{title} — {group}"), "epoch", y_label);
            for &i in &members {
                let r = &runs[i];
                let points = r
                    .epochs
                    .iter()
                    .map(|e| (f64::from(e.epoch), value(e)))
                    .collect();
                chart = chart.with(Series::new(r.scenario.mechanism.label(), points));
            }
            let path = out.join(format!("{group}-{stem}.png"));
            chart.save_png(&path, 900, 520)?;
            written.push((group.clone(), stem, title, path));
        }
    }
    Ok(written)
}

fn summary_table(summaries: &[Summary], markdown: bool) -> Table {
    let mut t = Table::new([
        "scenario",
        "mechanism",
        "reward Nakamoto ½ (cumulative, per entity)",
        "Δ vs yuma",
        "reward Nakamoto ½ (last epoch)",
        "reward Gini",
        "reward top-10 share",
        "validator-reward Nakamoto ½",
        "stake Nakamoto ½",
        "stake Gini",
        "voting-power Nakamoto ½",
        "voting-power Nakamoto ⅓",
        "best-10% miners' share of miner rewards",
        "rewards to best miners",
        "Δ best-miner rewards vs yuma",
        "validator share of emission",
    ]);
    let pct = |x: f64| {
        if markdown {
            format!("{:.1}%", 100.0 * x)
        } else {
            format!("{x}")
        }
    };
    let num = |x: f64| {
        if markdown {
            format!("{x:.3}")
        } else {
            format!("{x}")
        }
    };
    for s in summaries {
        t.push([
            s.name.clone(),
            s.mechanism.clone(),
            s.reward_nakamoto.to_string(),
            s.reward_nakamoto_change
                .map_or("—".into(), |d| format!("{d:+}")),
            s.reward_nakamoto_last_epoch.to_string(),
            num(s.reward_gini),
            pct(s.reward_top_10_share),
            s.validator_reward_nakamoto.to_string(),
            s.stake_nakamoto.to_string(),
            num(s.stake_gini),
            s.voting_nakamoto.to_string(),
            s.voting_nakamoto_1_3.to_string(),
            pct(s.best_miner_share),
            if markdown {
                format!("{:.0}", s.best_miner_rewards)
            } else {
                s.best_miner_rewards.to_string()
            },
            s.best_miner_rewards_change.map_or("—".into(), |d| {
                if markdown {
                    format!("{:+.1}%", 100.0 * d)
                } else {
                    format!("{d}")
                }
            }),
            pct(s.validator_emission_share),
        ]);
    }
    t
}

/// `path` relative to the folder of `from` (both given relative to the same base), using `..`.
fn relative_to(path: &Path, from_file: &Path) -> String {
    let base: Vec<_> = from_file
        .parent()
        .map(|p| p.components().collect())
        .unwrap_or_default();
    let target: Vec<_> = path.components().collect();
    let common = base.iter().zip(&target).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".into(); base.len() - common];
    parts.extend(
        target[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

fn describe_population(s: &Scenario) -> String {
    let p = &s.population;
    let stake = match &p.validator_stake {
        deai_incentives::scenario::StakeSource::Pareto { alpha, scale } => {
            format!("Pareto stake (α = {alpha}, minimum {scale})")
        }
        deai_incentives::scenario::StakeSource::Values { values } => {
            format!("{} given stakes", values.len())
        }
        deai_incentives::scenario::StakeSource::File { path } => format!("stake from {path}"),
    };
    format!(
        "{} validators with {stake}, {} miners ({} owners × {} Sybil miners), seed {}, {} epochs, emission {}% of initial validator stake per epoch",
        p.validators,
        p.miners,
        p.sybil.owners,
        p.sybil.miners_per_owner,
        s.seed,
        s.epochs,
        100.0 * s.emission.rate
    )
}

fn report(
    runs: &[RunResult],
    summaries: &[Summary],
    plots: &[(String, &'static str, &'static str, PathBuf)],
    command: &str,
    out: &Path,
    report_path: &Path,
) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Decentralization under different incentive mechanisms\n"
    );
    let _ = writeln!(
        md,
        "Generated by `{command}` (about 15 s); do not edit by hand. The command also writes \
         per-run JSON and CSV (every metric of every distribution, per epoch) to \
         `{}/<scenario>/`, and `summary.csv`/`summary.json` beside the plots.\n",
        out.display()
    );
    let _ = writeln!(md, "{}", INTRO);
    let _ = writeln!(md, "## Scenarios\n");
    let mut t = Table::new([
        "scenario",
        "mechanism",
        "population",
        "engine",
        "description",
    ]);
    for r in runs {
        t.push([
            r.scenario.name.clone(),
            r.scenario.mechanism.label(),
            describe_population(&r.scenario),
            r.engine.clone(),
            r.scenario.description.clone(),
        ]);
    }
    let _ = writeln!(md, "{}", t.to_markdown());
    let _ = writeln!(md, "## End of run\n");
    let _ = writeln!(
        md,
        "Entities are validators and miner owners (each Sybil owner's miners count as one). \
         \"Best miners\" are the top 10% of miners by true quality. Δ columns compare with the \
         `yuma` run on the same population, seed and noise.\n"
    );
    let _ = writeln!(md, "{}", summary_table(summaries, true).to_markdown());
    let _ = writeln!(md, "## What each mechanism buys and costs\n");
    for s in summaries {
        let (Some(base), Some(dn), Some(db)) = (
            s.baseline.as_ref(),
            s.reward_nakamoto_change,
            s.best_miner_rewards_change,
        ) else {
            continue;
        };
        if *base == s.name {
            continue;
        }
        let base_n = s.reward_nakamoto as i64 - dn;
        let verdict = match dn.cmp(&0) {
            std::cmp::Ordering::Greater => "raises",
            std::cmp::Ordering::Less => "lowers",
            std::cmp::Ordering::Equal => "does not change",
        };
        let _ = writeln!(
            md,
            "- **{}** ({}): {verdict} the Nakamoto coefficient of cumulative rewards per entity \
             ({base_n} → {}, {dn:+}); the best 10% of miners receive {:+.1}% rewards \
             compared with `{base}` ({:.1}% of miner rewards).",
            s.name,
            s.mechanism,
            s.reward_nakamoto,
            100.0 * db,
            100.0 * s.best_miner_share
        );
    }
    let _ = writeln!(md);
    let _ = writeln!(md, "## Over time\n");
    let mut last_group = None;
    for (group, _stem, title, path) in plots {
        if last_group != Some(group) {
            let _ = writeln!(md, "### Population of `{group}`\n");
            last_group = Some(group);
        }
        let _ = writeln!(md, "![{title}]({})\n", relative_to(path, report_path));
    }
    let _ = writeln!(md, "{}", LIMITS);
    md
}

const INTRO: &str = "Each scenario runs the same seeded population under one incentive mechanism: \
validators with heavy-tailed stake observe miners' true quality with their own noise level and \
set `u16` weights; a consensus step (classic Yuma, or the FLock AI Arena rule) pays miners and \
validators out of a fixed emission; every reward is restaked, so concentration can compound. \
After every epoch `deai-metrics` measures validator stake, voting power, miner and validator \
rewards (per epoch and cumulative) and rewards per controlling entity. Mechanisms (see \
`deai-incentives` docs for the problem each addresses):\n\n\
- `yuma`: voting power = stake; miners get Yuma incentive, validators Yuma dividends (∝ stake × bonds).\n\
- `performance_split`: the validators' emission is split by validator trust (performance) instead of stake.\n\
- `stake_cap`: stake used for voting and dividends capped at a percentile of validator stake.\n\
- `composite_score`: voting power mixes stake share with agreement (validator trust) share.\n\
- `trust_bonus`: stake multiplied by up to 1 + β for a long streak of agreement with consensus.\n\
- `flock_arena`: FLock AI Arena — validator pool R₀·(γ + (1−2γ)·Σs/(Σt+Σs)), trainers paid \
∝ ρ^rank × stake, validators ∝ closeness to consensus × stake, delegated stake counted × ε.\n";

const LIMITS: &str = "## Limits of this study\n\n\
- Validators are honest and differ only in noise; nobody colludes, copies weights or splits \
stake across identities. A stake cap binds only if one entity cannot run many validators, and a \
performance split that ignores stake invites Sybil validators unless registration costs something.\n\
- Miners' quality is fixed. The Yuma step is classic Yuma without liquid alpha or Yuma3 bonds; \
the engine column says which implementation ran it (`deai-yuma`: the chain's I32F32 port; \
`float-yuma`: the f64 reference in `deai-incentives`; both are checked against the reference \
vectors).\n\
- Why the best miners lose almost nothing here: every validator is honest, consensus is a \
stake-weighted median of honest noisy scores, and each mechanism only moves power between honest \
validators, so the same miners win. What these mechanisms put at risk is not miner pay in this \
population but resistance to Sybil validators and stake splitting, which this study does not \
simulate.\n\
- One seed per population: differences of one or two in a Nakamoto coefficient are within what \
another seed could change.\n";

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
