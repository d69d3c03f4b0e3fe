//! The report folder of a run: `report.md`, `summary.json`, `rounds.csv`, `accuracy.png`,
//! `rewards.png`.

use std::path::Path;

use deai_report::{write_atomic, LineChart, Series, Table};
use deai_types::Role;
use serde::Serialize;

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

/// The headline numbers of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Scenario name.
    pub scenario: String,
    /// Seed.
    pub seed: u64,
    /// Test accuracy after the last round.
    pub final_accuracy: f32,
    /// Test accuracy after the last round of the all-honest reference run, if it ran.
    pub all_honest_accuracy: Option<f32>,
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
}

impl Summary {
    /// Builds the summary of a run.
    pub fn of(report: &RunReport, all_honest: Option<&RunReport>, provenance: Provenance) -> Self {
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
            })
            .collect();
        Self {
            scenario: report.scenario.name.clone(),
            seed: report.scenario.seed,
            final_accuracy: report.final_accuracy(),
            all_honest_accuracy: all_honest.map(RunReport::final_accuracy),
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
        let caught = if a.honest {
            "—".to_string()
        } else if slashed > 0 {
            "slashed".into()
        } else if totals[i] * 100 < all.max(1) {
            "unrewarded".into()
        } else {
            "no".into()
        };
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
            caught,
        ]);
    }
    t
}

/// Writes the whole report folder.
pub fn write(
    dir: &Path,
    report: &RunReport,
    all_honest: Option<&RunReport>,
    provenance: Provenance,
) -> Result<Summary, SimError> {
    let summary = Summary::of(report, all_honest, provenance);
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
    if let Some(h) = all_honest {
        acc = acc.with(Series::new(
            "all honest",
            h.rounds
                .iter()
                .map(|r| (r.round as f64, f64::from(r.accuracy)))
                .collect(),
        ));
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
    if let Some(h) = summary.all_honest_accuracy {
        md.push_str(&format!(
            "- all-honest run with the same seed: {h:.4} (difference {:+.4})\n",
            summary.final_accuracy - h
        ));
    }
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
    write_atomic(&dir.join("report.md"), md.as_bytes())?;
    Ok(summary)
}

fn to_json<T: Serialize>(value: &T) -> Result<String, SimError> {
    serde_json::to_string_pretty(value)
        .map_err(|e| SimError::Actor(format!("cannot serialize the report: {e}")))
}
