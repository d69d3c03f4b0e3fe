//! What `deai concentration` writes after the runs: the plots over time, the summary table and
//! the markdown report.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use deai_incentives::sim::dist;
use deai_incentives::{compare, RunResult, StudyScenario, StudySummary};
use deai_metrics::Metric;
use deai_report::{LineChart, Series, Table};

/// Runs grouped by population: the `yuma` baseline they compare with (or themselves).
fn groups(runs: &[RunResult], summaries: &[StudySummary]) -> Vec<(String, Vec<usize>)> {
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
    fn(&deai_incentives::StudyEpoch) -> f64,
);

/// `which` metric of distribution `d` at epoch `e`; NaN (no point) when `d` was not measured.
fn metric(e: &deai_incentives::StudyEpoch, d: &str, which: Metric) -> f64 {
    e.metrics.get(d).map_or(f64::NAN, |m| which.of(m))
}

const PLOTS: [PlotSpec; 8] = [
    (
        "reward-nakamoto",
        "Nakamoto coefficient (½) of cumulative rewards per entity",
        "entities",
        |e| metric(e, dist::ENTITY_REWARDS_CUMULATIVE, Metric::NakamotoHalf),
    ),
    (
        "reward-nakamoto-epoch",
        "Nakamoto coefficient (½) of each epoch's rewards per entity",
        "entities",
        |e| metric(e, dist::ENTITY_REWARDS, Metric::NakamotoHalf),
    ),
    (
        "reward-gini",
        "Gini of cumulative rewards per entity",
        "Gini",
        |e| metric(e, dist::ENTITY_REWARDS_CUMULATIVE, Metric::Gini),
    ),
    (
        "voting-nakamoto",
        "Nakamoto coefficient (½) of validator voting power",
        "validators",
        |e| metric(e, dist::VOTING_POWER, Metric::NakamotoHalf),
    ),
    ("stake-gini", "Gini of validator stake", "Gini", |e| {
        metric(e, dist::STAKE, Metric::Gini)
    }),
    (
        "validator-reward-nakamoto",
        "Nakamoto coefficient (½) of cumulative validator rewards",
        "validators",
        |e| metric(e, dist::VALIDATOR_REWARDS_CUMULATIVE, Metric::NakamotoHalf),
    ),
    (
        "miner-reward-gini",
        "Gini of cumulative miner rewards",
        "Gini",
        |e| metric(e, dist::MINER_REWARDS_CUMULATIVE, Metric::Gini),
    ),
    (
        "best-miner-share",
        "Share of miner rewards paid to the best 10% of miners",
        "share",
        |e| e.best_miner_share,
    ),
];

/// Writes the plots; returns (group, stem, title, path) per plot.
pub(super) fn write_plots(
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

pub(super) fn summary_table(summaries: &[StudySummary], markdown: bool) -> Table {
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

fn describe_population(s: &StudyScenario) -> String {
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

pub(super) fn report(
    runs: &[RunResult],
    summaries: &[StudySummary],
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
