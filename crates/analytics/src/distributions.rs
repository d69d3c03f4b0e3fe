//! The holdings distributions a ledger state holds, and their decentralization metrics.
//!
//! One state is enough to measure: balances; stake per hotkey (the validator voting power the
//! consensus set and Yuma read); governance voting power (bonded stake per staker); and per
//! task the stake of its registered UIDs and, from the newest epoch record the ledger keeps,
//! miner incentive, validator dividends and the rewards paid over the kept epochs. Every
//! distribution gets the full set of [`deai_metrics::Metrics`] (Gini, Nakamoto ½ and ⅓, HHI,
//! normalized entropy, Theil-T, top-k shares, n).
//!
//! `deai chain metrics` prints these for a stored chain, and a running node serves them at
//! `GET /v1/distributions` (and as Prometheus gauges at `/metrics`), so the same numbers come
//! from a data directory or a live node. Per-epoch and cumulative layers from genesis need
//! the block history and are computed by replaying it ([`crate::replay()`]).
//!
//! Amounts are integers, so the Nakamoto thresholds are exact; epoch-record fields are I32F32
//! fixed point and are measured as `f64`, negative values clamped to zero.

use deai_chain::{EpochRecord, State};
use deai_metrics::{Metric, Metrics};
use deai_types::Fixed;
use serde::{Deserialize, Serialize};

/// One named distribution and its metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    /// What is measured, e.g. `stake per hotkey` or `task 1 miner incentive`.
    pub name: String,
    /// Its metrics.
    pub metrics: Metrics,
}

fn named(name: impl Into<String>, metrics: Metrics) -> Distribution {
    Distribution {
        name: name.into(),
        metrics,
    }
}

fn fixed_holdings(values: &[Fixed]) -> Vec<f64> {
    values.iter().map(|x| x.to_f64().max(0.0)).collect()
}

/// Every distribution of `state`, in a fixed order: balances, stake per hotkey, governance
/// voting power, then per task (by id) the stake of its UIDs and, once an epoch has ended,
/// miner incentive, validator dividends and the rewards paid over the kept epochs.
pub fn state_distributions(state: &State) -> Vec<Distribution> {
    let balances: Vec<u128> = state.accounts().map(|(_, a)| a.balance.0).collect();
    let hotkey_stake: Vec<u128> = state
        .accounts()
        .map(|(id, _)| state.hotkey_stake(id).0)
        .filter(|s| *s > 0)
        .collect();
    let governance: Vec<u128> = state
        .accounts()
        .map(|(id, _)| state.staker_stake(id).0)
        .filter(|s| *s > 0)
        .collect();
    let mut out = vec![
        named("balances", deai_metrics::metrics_of_amounts(&balances)),
        named(
            "stake per hotkey",
            deai_metrics::metrics_of_amounts(&hotkey_stake),
        ),
        named(
            "governance voting power",
            deai_metrics::metrics_of_amounts(&governance),
        ),
    ];
    for (id, _) in state.tasks() {
        let task_stake: Vec<u128> = state
            .registrations(*id)
            .map(|(_, r)| state.hotkey_stake(&r.account).0)
            .collect();
        out.push(named(
            format!("task {} stake of UIDs", id.0),
            deai_metrics::metrics_of_amounts(&task_stake),
        ));
        let records: Vec<&EpochRecord> = state
            .epoch_records()
            .filter(|((t, _), _)| t == id)
            .map(|(_, r)| r)
            .collect();
        let Some(last) = records.last() else {
            continue;
        };
        if let Ok(m) = deai_metrics::metrics(&fixed_holdings(&last.incentive)) {
            out.push(named(format!("task {} miner incentive", id.0), m));
        }
        if let Ok(m) = deai_metrics::metrics(&fixed_holdings(&last.dividends)) {
            out.push(named(format!("task {} validator dividends", id.0), m));
        }
        let mut paid = vec![0u128; last.miner_paid.len()];
        for r in &records {
            for (i, p) in paid.iter_mut().enumerate() {
                let m = r.miner_paid.get(i).map_or(0, |a| a.0);
                let v = r.validator_paid.get(i).map_or(0, |a| a.0);
                *p = p.saturating_add(m).saturating_add(v);
            }
        }
        out.push(named(
            format!("task {} rewards (kept epochs)", id.0),
            deai_metrics::metrics_of_amounts(&paid),
        ));
    }
    out
}

/// The metrics served as Prometheus gauges, one family each.
const GAUGES: [Metric; 6] = [
    Metric::Gini,
    Metric::NakamotoHalf,
    Metric::NakamotoThird,
    Metric::Hhi,
    Metric::EntropyNormalized,
    Metric::Entities,
];

/// The Prometheus family name of a metric: its key, except the holder count, which is
/// `entities` (a gauge named `n` would say nothing on a dashboard).
fn gauge_name(metric: Metric) -> &'static str {
    match metric {
        Metric::Entities => "entities",
        other => other.key(),
    }
}

/// The distributions as Prometheus gauges, one family per metric labelled by distribution:
/// `deai_distribution_gini{distribution="stake per hotkey"} 0.42`.
pub fn prometheus_text(distributions: &[Distribution]) -> String {
    let mut text = String::new();
    for metric in GAUGES {
        let (key, help) = (gauge_name(metric), metric.label());
        text.push_str(&format!(
            "# HELP deai_distribution_{key} {help} of a ledger distribution\n\
             # TYPE deai_distribution_{key} gauge\n"
        ));
        for d in distributions {
            let label = d.name.replace('\\', "\\\\").replace('"', "\\\"");
            text.push_str(&format!(
                "deai_distribution_{key}{{distribution=\"{label}\"}} {}\n",
                metric.of(&d.metrics)
            ));
        }
    }
    text
}
