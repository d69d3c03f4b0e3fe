//! The report folder of a run: `report.md`, `summary.json`, `rounds.csv`, `accuracy.png`,
//! `rewards.png`, and the decentralization of every layer over time measured on the chain the
//! run left ([`deai_analytics`], with what the run knows from [`crate::layers`]): `layers.csv`,
//! `layers.json` and `layers-<family>-<metric>.png` per layer family and metric.

use std::path::Path;

use deai_report::{write_atomic, LineChart, Series, Table};
use deai_types::Role;
use serde::Serialize;

use deai_analytics::{EpochLayers, Layer};
use deai_metrics::Metric;

use crate::layers;
use crate::runner::RunReport;
use crate::SimError;

/// Provenance written into every report, so a run can be reproduced.
#[derive(Debug, Clone, Serialize)]
pub struct Provenance {
    /// `git describe` of the source tree, or "unknown".
    pub git_revision: String,
    /// deai version.
    pub version: String,
}

/// The reference runs a run is compared with (see [`crate::runner::Measurement`]); each is
/// optional.
#[derive(Debug, Clone, Copy, Default)]
pub struct References<'a> {
    /// [`crate::Scenario::all_honest`]: every adversary replaced by an honest actor that trains
    /// on its shard (more data than the attacked run can ever use).
    pub all_honest: Option<&'a RunReport>,
    /// [`crate::runner::Measurement::HonestOnly`]: the adversaries removed, the honest actors
    /// unchanged.
    pub honest_only: Option<&'a RunReport>,
    /// [`crate::runner::Measurement::OracleAggregation`]: the same run, each round aggregating
    /// exactly the honest miners' updates.
    pub oracle: Option<&'a RunReport>,
}

/// Accuracy points (×100) by which `reference` beats `accuracy`: positive = the run is worse.
/// Rounded to 1e-4 points, so the f32 accuracies' representation error does not show.
pub fn gap_points(accuracy: f32, reference: f32) -> f64 {
    (1e6 * (f64::from(reference) - f64::from(accuracy))).round() / 1e4
}

/// The headline numbers of a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// Scenario name.
    pub scenario: String,
    /// Seed.
    pub seed: u64,
    /// Test accuracy after the last round.
    pub final_accuracy: f32,
    /// Final accuracy of the all-honest reference (adversaries replaced), if it ran.
    pub all_honest_accuracy: Option<f32>,
    /// Final accuracy of the honest-only reference (adversaries removed), if it ran.
    pub honest_only_accuracy: Option<f32>,
    /// Final accuracy of the oracle-aggregation measurement, if it ran.
    pub oracle_accuracy: Option<f32>,
    /// [`gap_points`] against the all-honest (adversaries replaced) reference.
    pub gap_all_honest_points: Option<f64>,
    /// [`gap_points`] against the honest-only (adversaries removed) reference.
    pub gap_honest_only_points: Option<f64>,
    /// Share of miner rewards earned by honest miners.
    pub honest_miner_share: f64,
    /// Total reward per actor.
    pub rewards: Vec<ActorTotal>,
    /// Number of slashes applied.
    pub slashes: usize,
    /// Final state root (hex).
    pub state_root: String,
    /// Final height.
    pub height: u64,
    /// Provenance.
    pub provenance: Provenance,
}

/// One actor's total.
#[derive(Debug, Clone, Serialize)]
pub struct ActorTotal {
    /// Actor name.
    pub name: String,
    /// Behaviour.
    pub kind: String,
    /// Total reward.
    pub reward: u128,
    /// Stake slashed.
    pub slashed: u128,
    /// Whether a misbehaving actor was caught (see [`caught`]).
    pub caught: String,
}

/// How actor `i` of `report` fared: `—` for an honest actor; for an adversary `slashed` (it
/// lost stake), `unrewarded` (under 1% of all rewards: scoring shut it out) or `no`.
pub fn caught(report: &RunReport, i: usize) -> String {
    let totals = report.total_rewards();
    let all: u128 = totals.iter().sum();
    let slashed = report.slashes.iter().any(|s| s.actor == i && s.amount > 0);
    if report.actors.get(i).is_none_or(|a| a.honest) {
        "—".into()
    } else if slashed {
        "slashed".into()
    } else if totals[i] * 100 < all.max(1) {
        "unrewarded".into()
    } else {
        "no".into()
    }
}

impl RunSummary {
    /// Builds the summary of a run against its references.
    pub fn of(report: &RunReport, refs: &References<'_>, provenance: Provenance) -> Self {
        let totals = report.total_rewards();
        let rewards = report
            .actors
            .iter()
            .enumerate()
            .map(|(i, a)| ActorTotal {
                name: a.name.clone(),
                kind: a.kind.clone(),
                reward: totals[i],
                slashed: report
                    .slashes
                    .iter()
                    .filter(|s| s.actor == i)
                    .map(|s| s.amount)
                    .sum(),
                caught: caught(report, i),
            })
            .collect();
        let final_accuracy = report.final_accuracy();
        let all_honest_accuracy = refs.all_honest.map(RunReport::final_accuracy);
        let honest_only_accuracy = refs.honest_only.map(RunReport::final_accuracy);
        Self {
            scenario: report.scenario.name.clone(),
            seed: report.scenario.seed,
            final_accuracy,
            all_honest_accuracy,
            honest_only_accuracy,
            oracle_accuracy: refs.oracle.map(RunReport::final_accuracy),
            gap_all_honest_points: all_honest_accuracy.map(|h| gap_points(final_accuracy, h)),
            gap_honest_only_points: honest_only_accuracy.map(|h| gap_points(final_accuracy, h)),
            honest_miner_share: report.honest_miner_share(),
            rewards,
            slashes: report.slashes.len(),
            state_root: report.state_root.to_string(),
            height: report.height,
            provenance,
        }
    }
}

/// Per-round table: round, accuracy, loss, contributors, reward per actor.
pub fn rounds_table(report: &RunReport) -> Table {
    let mut headers = vec![
        "round".to_string(),
        "accuracy".into(),
        "loss".into(),
        "contributors".into(),
    ];
    headers.extend(report.actors.iter().map(|a| format!("reward_{}", a.name)));
    headers.push("state_root".into());
    let mut t = Table {
        headers,
        rows: Vec::new(),
    };
    for r in &report.rounds {
        let mut row = vec![
            r.round.to_string(),
            format!("{:.4}", r.accuracy),
            format!("{:.4}", r.loss),
            r.contributors.len().to_string(),
        ];
        row.extend(r.rewards.iter().map(u128::to_string));
        row.push(r.state_root.to_string());
        t.rows.push(row);
    }
    t
}

/// Per-actor table of the markdown report.
pub fn actors_table(report: &RunReport) -> Table {
    let totals = report.total_rewards();
    let all: u128 = totals.iter().sum();
    let mut t = Table::new([
        "actor",
        "role",
        "behaviour",
        "uid",
        "total reward",
        "share",
        "slashed",
        "caught",
    ]);
    for (i, a) in report.actors.iter().enumerate() {
        let slashed: u128 = report
            .slashes
            .iter()
            .filter(|s| s.actor == i)
            .map(|s| s.amount)
            .sum();
        t.push([
            a.name.clone(),
            match a.role {
                Role::Miner => "miner".into(),
                Role::Validator => "validator".into(),
            },
            a.kind.clone(),
            a.uid.to_string(),
            totals[i].to_string(),
            format!("{:.2}%", 100.0 * totals[i] as f64 / all.max(1) as f64),
            slashed.to_string(),
            caught(report, i),
        ]);
    }
    t
}

/// Writes the whole report folder, with at most the all-honest reference.
pub fn write(
    dir: &Path,
    report: &RunReport,
    all_honest: Option<&RunReport>,
    provenance: Provenance,
) -> Result<RunSummary, SimError> {
    let refs = References {
        all_honest,
        ..References::default()
    };
    write_with(dir, report, &refs, provenance)
}

/// Writes the whole report folder, comparing the run with every reference in `refs`.
pub fn write_with(
    dir: &Path,
    report: &RunReport,
    refs: &References<'_>,
    provenance: Provenance,
) -> Result<RunSummary, SimError> {
    let summary = RunSummary::of(report, refs, provenance);
    write_atomic(&dir.join("summary.json"), to_json(&summary)?.as_bytes())?;
    write_atomic(&dir.join("run.json"), to_json(report)?.as_bytes())?;
    write_atomic(
        &dir.join("rounds.csv"),
        rounds_table(report).to_csv().as_bytes(),
    )?;

    let mut acc =
        LineChart::new("Test accuracy of the global model", "round", "accuracy").with(Series::new(
            &report.scenario.name,
            report
                .rounds
                .iter()
                .map(|r| (r.round as f64, f64::from(r.accuracy)))
                .collect(),
        ));
    for (name, r) in [
        ("all honest (adversaries replaced)", refs.all_honest),
        ("honest only (adversaries removed)", refs.honest_only),
        ("oracle aggregation", refs.oracle),
    ] {
        if let Some(h) = r {
            acc = acc.with(Series::new(
                name,
                h.rounds
                    .iter()
                    .map(|r| (r.round as f64, f64::from(r.accuracy)))
                    .collect(),
            ));
        }
    }
    acc.save_png(&dir.join("accuracy.png"), 900, 500)?;

    let mut rewards = LineChart::new("Cumulative rewards", "round", "reward");
    for (i, a) in report.actors.iter().enumerate() {
        let mut cum = 0u128;
        let pts = report
            .rounds
            .iter()
            .map(|r| {
                cum += r.rewards[i];
                (r.round as f64, cum as f64)
            })
            .collect();
        rewards = rewards.with(Series::new(format!("{} ({})", a.name, a.kind), pts));
    }
    rewards.save_png(&dir.join("rewards.png"), 1000, 600)?;

    // Decentralization over time: replay the chain the run left.
    let epochs = if deai_store::Store::exists(&report.chain_dir) {
        let knowledge = layers::knowledge(report)?;
        deai_analytics::replay_dir(&report.chain_dir, &knowledge)?.epochs
    } else {
        Vec::new()
    };
    if !epochs.is_empty() {
        write_layers(dir, &epochs)?;
    }

    let mut md = String::new();
    md.push_str(&format!("# deai run: {}\n\n", report.scenario.name));
    md.push_str(&format!(
        "Seed {} · {} rounds · {} miners · {} validators · partition `{}` · aggregation `{}` · git `{}`\n\n",
        report.scenario.seed,
        report.scenario.rounds,
        report.scenario.miner_count(),
        report.scenario.validator_count(),
        report.scenario.data.partition,
        report.scenario.task.aggregation,
        summary.provenance.git_revision,
    ));
    md.push_str("## Outcome\n\n");
    md.push_str(&format!(
        "- final test accuracy: **{:.4}**\n",
        summary.final_accuracy
    ));
    md.push_str(&reference_lines(&summary, "- "));
    md.push_str(&format!(
        "- honest miners' share of miner rewards: **{:.2}%**\n",
        100.0 * summary.honest_miner_share
    ));
    md.push_str(&format!("- slashes: {}\n", summary.slashes));
    md.push_str(&format!(
        "- final state root: `{}` at height {}\n\n",
        summary.state_root, summary.height
    ));
    md.push_str("## Actors\n\n");
    md.push_str(&actors_table(report).to_markdown());
    if !report.slashes.is_empty() {
        md.push_str("\n## Slashes\n\n");
        let mut t = Table::new(["round", "actor", "offence", "stake lost"]);
        for s in &report.slashes {
            t.push([
                s.round.to_string(),
                report.actors[s.actor].name.clone(),
                s.offence.clone(),
                s.amount.to_string(),
            ]);
        }
        md.push_str(&t.to_markdown());
    }
    md.push_str("\n## Rounds\n\n");
    let mut t = Table::new([
        "round",
        "accuracy",
        "loss",
        "contributors",
        "rejected updates",
        "model hash",
    ]);
    for r in &report.rounds {
        t.push([
            r.round.to_string(),
            format!("{:.4}", r.accuracy),
            format!("{:.4}", r.loss),
            r.contributors
                .iter()
                .map(|&i| report.actors[i].name.clone())
                .collect::<Vec<_>>()
                .join(" "),
            r.rejected
                .iter()
                .map(|(i, why)| format!("{}: {why}", report.actors[*i].name))
                .collect::<Vec<_>>()
                .join("; "),
            r.model_hash.to_string()[..16].to_string(),
        ]);
    }
    md.push_str(&t.to_markdown());
    md.push_str("\n![accuracy](accuracy.png)\n\n![rewards](rewards.png)\n");
    if !epochs.is_empty() {
        md.push_str("\n## Decentralization over time\n\n");
        md.push_str(&over_time_markdown(&epochs));
    }
    write_atomic(&dir.join("report.md"), md.as_bytes())?;
    Ok(summary)
}

/// One line per reference that ran (accuracy and gap in points), each starting with `prefix`.
pub fn reference_lines(summary: &RunSummary, prefix: &str) -> String {
    let mut out = String::new();
    let lines = [
        (
            "all-honest run (adversaries replaced by honest actors, same seed)",
            summary.all_honest_accuracy,
        ),
        (
            "honest-only run (adversaries removed, same seed and shards)",
            summary.honest_only_accuracy,
        ),
        (
            "oracle aggregation (same run, honest updates only)",
            summary.oracle_accuracy,
        ),
    ];
    for (what, acc) in lines {
        if let Some(h) = acc {
            out.push_str(&format!(
                "{prefix}{what}: {h:.4}, gap {:+.2} points\n",
                gap_points(summary.final_accuracy, h)
            ));
        }
    }
    out
}

/// The metrics plotted over time, one plot per layer family each.
pub const PLOTTED: [Metric; 7] = [
    Metric::NakamotoHalf,
    Metric::NakamotoThird,
    Metric::Gini,
    Metric::Hhi,
    Metric::EntropyNormalized,
    Metric::Theil,
    Metric::Top1Share,
];

/// The plotted metrics `report.md` shows; the others are only linked.
pub const SHOWN: [Metric; 2] = [Metric::NakamotoHalf, Metric::Gini];

/// File name of the plot of one metric over time for one layer family.
pub fn layers_plot_name(family: &str, metric_key: &str) -> String {
    format!("layers-{family}-{metric_key}.png")
}

/// Every metric of every layer at every epoch, one row per (task, epoch, layer)
/// ([`deai_analytics::table`]).
pub fn layers_table(epochs: &[EpochLayers]) -> Table {
    Table {
        headers: deai_analytics::layer_columns(),
        rows: deai_analytics::layer_rows(epochs),
    }
}

/// Writes `layers.csv`, `layers.json` and, per layer family (stake, rewards, contribution) and
/// plotted metric, `layers-<family>-<metric>.png` (one line per layer, x = epoch).
pub fn write_layers(dir: &Path, epochs: &[EpochLayers]) -> Result<(), SimError> {
    write_atomic(
        &dir.join("layers.csv"),
        layers_table(epochs).to_csv().as_bytes(),
    )?;
    write_atomic(&dir.join("layers.json"), to_json(&epochs)?.as_bytes())?;
    let tasks: std::collections::BTreeSet<u64> = epochs.iter().map(|e| e.task).collect();
    for family in Layer::FAMILIES {
        for metric in PLOTTED {
            let title = metric.label();
            let mut chart = LineChart::new(format!("{title}: {family}"), "epoch", title);
            for &task in &tasks {
                for layer in Layer::ALL.into_iter().filter(|l| l.family() == family) {
                    let points: Vec<(f64, f64)> = epochs
                        .iter()
                        .filter(|e| e.task == task)
                        .filter_map(|e| {
                            e.get(layer)
                                .map(|r| (e.epoch as f64, metric.of(&r.metrics)))
                        })
                        .collect();
                    if points.is_empty() {
                        continue;
                    }
                    let name = if tasks.len() > 1 {
                        format!("task {task}: {}", layer.label())
                    } else {
                        layer.label().to_string()
                    };
                    chart = chart.with(Series::new(name, points));
                }
            }
            if chart.series.is_empty() {
                continue;
            }
            chart.save_png(
                &dir.join(layers_plot_name(family, metric.slug())),
                1000,
                560,
            )?;
        }
    }
    Ok(())
}

/// The "decentralization over time" section: per layer, the Nakamoto coefficient (½) and the
/// Gini coefficient at up to six epochs spread over the run (first and last included), then
/// links to the plots.
pub fn over_time_markdown(epochs: &[EpochLayers]) -> String {
    let mut out = String::new();
    let tasks: std::collections::BTreeSet<u64> = epochs.iter().map(|e| e.task).collect();
    for &task in &tasks {
        let rows: Vec<&EpochLayers> = epochs.iter().filter(|e| e.task == task).collect();
        let picks: Vec<&EpochLayers> = if rows.len() <= 6 {
            rows.clone()
        } else {
            let mut idx: Vec<usize> = (0..6).map(|j| j * (rows.len() - 1) / 5).collect();
            idx.dedup();
            idx.into_iter().map(|i| rows[i]).collect()
        };
        if tasks.len() > 1 {
            out.push_str(&format!("### Task {task}\n\n"));
        }
        let mut headers = vec!["layer".to_string(), "n".into()];
        headers.extend(picks.iter().map(|e| format!("epoch {}", e.epoch)));
        let mut t = Table {
            headers,
            rows: Vec::new(),
        };
        for layer in Layer::ALL {
            let Some(last) = rows.last().and_then(|e| e.get(layer)) else {
                continue;
            };
            let mut row = vec![layer.label().to_string(), last.metrics.n.to_string()];
            row.extend(picks.iter().map(|e| {
                e.get(layer).map_or_else(String::new, |r| {
                    format!("{} · {:.3}", r.metrics.nakamoto_1_2, r.metrics.gini)
                })
            }));
            t.rows.push(row);
        }
        out.push_str(&t.to_markdown());
        out.push('\n');
    }
    out.push_str(
        "Each cell: Nakamoto coefficient (½) · Gini, measured by replaying the chain from genesis \
         at every epoch; `n` is the number of holders at the last epoch. Rewards per entity \
         group the identities one entity controls (a colluding validator with its partner \
         miner; the identities of groups the scenario gives one `owner`, e.g. Sybils). Data and compute contribution come from the simulator (the ledger records \
         updates, not the samples behind them); everything else from the chain. Every metric of \
         every layer at every epoch: `layers.csv`, `layers.json`.\n\n",
    );
    let others: Vec<String> = PLOTTED
        .iter()
        .filter(|m| !SHOWN.contains(m))
        .map(|m| format!("`{}`", layers_plot_name("<family>", m.slug())))
        .collect();
    out.push_str(&format!(
        "Plots of the Nakamoto coefficient (½) and Gini per family of layers below; the same \
         for Nakamoto ⅓, HHI, entropy, Theil and top-1 share in {}.\n\n",
        others.join(", ")
    ));
    for family in Layer::FAMILIES {
        for key in SHOWN.map(Metric::slug) {
            out.push_str(&format!(
                "![{key} of the {family} layers]({})\n\n",
                layers_plot_name(family, key)
            ));
        }
    }
    out
}

fn to_json<T: Serialize>(value: &T) -> Result<String, SimError> {
    serde_json::to_string_pretty(value)
        .map_err(|e| SimError::Actor(format!("cannot serialize the report: {e}")))
}
