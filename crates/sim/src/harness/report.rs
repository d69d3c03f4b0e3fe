//! The report of a grid run: `results.json` (grid and records), `results.csv` and
//! `results.md` (one row per cell: final accuracy, best accuracy, backdoor success rate,
//! time), and one heatmap PNG per partition and non-zero fraction, `heatmap-<partition>-
//! f<percent>.png`: final accuracy with attacks as rows (the no-attack run first) and defenses
//! as columns. `results.md` also holds, per partition and fraction, the verdict table: for
//! each attack, the best defense and its gap to the no-attack FedAvg run.

use std::path::{Path, PathBuf};

use deai_report::{write_atomic, Heatmap, Table};

use super::{CellRecord, Grid, HarnessError};

fn fmt(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_string(), |x| format!("{:.2}", 100.0 * x))
}

fn find<'a>(
    records: &'a [CellRecord],
    partition: &str,
    fraction: f64,
    attack: &str,
    defense: &str,
) -> Option<&'a CellRecord> {
    records.iter().find(|r| {
        r.cell.partition == partition
            && r.cell.attack == attack
            && r.cell.defense == defense
            && (r.cell.fraction - fraction).abs() < 1e-12
    })
}

/// The cells table (percent).
pub fn cells_table(records: &[CellRecord]) -> Table {
    let mut t = Table::new([
        "partition",
        "byzantine",
        "attack",
        "defense",
        "final acc %",
        "best acc %",
        "backdoor success %",
        "skipped rounds",
        "time s",
        "error",
    ]);
    for r in records {
        t.push([
            r.cell.partition.clone(),
            format!("{:.0}% ({})", 100.0 * r.cell.fraction, r.byzantine),
            r.cell.attack.clone(),
            r.cell.defense.clone(),
            fmt(r.final_accuracy),
            fmt(r.best_accuracy),
            fmt(r.backdoor_success),
            r.skipped_rounds.to_string(),
            format!("{:.1}", r.seconds),
            r.error.clone().unwrap_or_default(),
        ]);
    }
    t
}

/// For one partition and fraction: per attack, plain FedAvg's final accuracy, the best
/// defense, its final accuracy and backdoor success, and the gap to the no-attack FedAvg run.
pub fn verdict_table(grid: &Grid, records: &[CellRecord], partition: &str, fraction: f64) -> Table {
    let baseline = find(records, partition, 0.0, "none", "fedavg").and_then(|r| r.final_accuracy);
    let mut t = Table::new([
        "attack",
        "fedavg final %",
        "best defense",
        "its final %",
        "gap to no-attack fedavg (points)",
        "within 3 points",
        "backdoor success % (best defense)",
    ]);
    for attack in grid.attacks.iter().filter(|a| a.as_str() != "none") {
        let fedavg = find(records, partition, fraction, attack, "fedavg");
        let candidates: Vec<&CellRecord> = grid
            .defenses
            .iter()
            .filter_map(|d| find(records, partition, fraction, attack, &d.label()))
            .filter(|r| r.final_accuracy.is_some())
            .collect();
        let acc = |r: &CellRecord| r.final_accuracy.unwrap_or(0.0);
        // Backdoor: the lowest success rate among defenses within 3 points of the no-attack
        // FedAvg run; otherwise (and for every other attack) the highest final accuracy.
        let useful = candidates
            .iter()
            .filter(|r| r.backdoor_success.is_some())
            .filter(|r| baseline.is_some_and(|b| acc(r) >= b - 0.03))
            .min_by(|a, b| {
                a.backdoor_success
                    .unwrap_or(1.0)
                    .total_cmp(&b.backdoor_success.unwrap_or(1.0))
            });
        let best = useful
            .or_else(|| candidates.iter().max_by(|a, b| acc(a).total_cmp(&acc(b))))
            .copied();
        let gap = match (baseline, best.and_then(|b| b.final_accuracy)) {
            (Some(base), Some(acc)) => Some(100.0 * (acc - base)),
            _ => None,
        };
        t.push([
            attack.clone(),
            fmt(fedavg.and_then(|r| r.final_accuracy)),
            best.map_or_else(|| "—".into(), |b| b.cell.defense.clone()),
            fmt(best.and_then(|b| b.final_accuracy)),
            gap.map_or_else(|| "—".into(), |g| format!("{g:+.2}")),
            gap.map_or_else(
                || "—".into(),
                |g| (if g >= -3.0 { "yes" } else { "no" }).into(),
            ),
            fmt(best.and_then(|b| b.backdoor_success)),
        ]);
    }
    t
}

/// The heatmap of final accuracy (attack × defense) for a partition and fraction.
pub fn heatmap(grid: &Grid, records: &[CellRecord], partition: &str, fraction: f64) -> Heatmap {
    let defenses: Vec<String> = grid.defenses.iter().map(|d| d.label()).collect();
    let mut rows = vec!["none (0%)".to_string()];
    let mut values = vec![defenses
        .iter()
        .map(|d| {
            find(records, partition, 0.0, "none", d)
                .and_then(|r| r.final_accuracy)
                .unwrap_or(f64::NAN)
        })
        .collect::<Vec<f64>>()];
    for attack in grid.attacks.iter().filter(|a| a.as_str() != "none") {
        rows.push(attack.clone());
        values.push(
            defenses
                .iter()
                .map(|d| {
                    find(records, partition, fraction, attack, d)
                        .and_then(|r| r.final_accuracy)
                        .unwrap_or(f64::NAN)
                })
                .collect(),
        );
    }
    Heatmap {
        title: format!(
            "final accuracy, {partition}, {:.0}% Byzantine ({} of {})",
            100.0 * fraction,
            grid.byzantine(fraction),
            grid.clients
        ),
        rows,
        cols: defenses,
        values,
        range: (0.0, 1.0),
    }
}

/// The heatmap file name of a partition and fraction.
pub fn heatmap_name(partition: &str, fraction: f64) -> String {
    format!(
        "heatmap-{}-f{:.0}.png",
        partition.replace([':', '.'], "_"),
        100.0 * fraction
    )
}

/// Writes every report file into `out`; returns their paths.
pub fn write(
    grid: &Grid,
    records: &[CellRecord],
    out: &Path,
) -> Result<Vec<PathBuf>, HarnessError> {
    let mut files = Vec::new();
    let json = serde_json::json!({
        "grid": grid,
        "fingerprint": grid.fingerprint(),
        "cells": records,
    });
    let path = out.join("results.json");
    write_atomic(
        &path,
        serde_json::to_string_pretty(&json)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    files.push(path);
    let table = cells_table(records);
    let path = out.join("results.csv");
    write_atomic(&path, table.to_csv().as_bytes())?;
    files.push(path);
    let mut md = format!(
        "# Attack × defense grid\n\nMLP on `{}`, {} clients, {} rounds, seed {}, lr {}, momentum {}, batch {}, {} local epoch(s).\n\n",
        grid.data.display(),
        grid.clients,
        grid.rounds,
        grid.seed,
        grid.lr,
        grid.momentum,
        grid.batch,
        grid.local_epochs
    );
    let fractions: Vec<f64> = grid
        .fractions
        .iter()
        .copied()
        .filter(|&f| grid.byzantine(f) > 0)
        .collect();
    for partition in &grid.partitions {
        for &fraction in &fractions {
            md.push_str(&format!(
                "## {partition}, {:.0}% Byzantine: best defense per attack\n\n{}\n",
                100.0 * fraction,
                verdict_table(grid, records, partition, fraction).to_markdown()
            ));
            let name = heatmap_name(partition, fraction);
            let path = out.join(&name);
            heatmap(grid, records, partition, fraction).save_png(&path)?;
            md.push_str(&format!("![{name}]({name})\n\n"));
            files.push(path);
        }
    }
    md.push_str(&format!("## All cells\n\n{}\n", table.to_markdown()));
    let path = out.join("results.md");
    write_atomic(&path, md.as_bytes())?;
    files.push(path);
    Ok(files)
}
