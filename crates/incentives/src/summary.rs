//! End-of-run numbers per mechanism, and their change against the baseline on the same
//! population.

use serde::Serialize;

use crate::mechanism::RewardMechanism;
use crate::scenario::StudyScenario;
use crate::sim::{dist, RunResult};

/// The numbers the report tables show for one run, at the end of the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StudySummary {
    /// Scenario name.
    pub name: String,
    /// Mechanism with parameters.
    pub mechanism: String,
    /// Name of the baseline (`yuma`) run on the same population, if any.
    pub baseline: Option<String>,
    /// Nakamoto ½ of cumulative rewards per controlling entity.
    pub reward_nakamoto: usize,
    /// Nakamoto ½ of the last epoch's rewards per entity.
    pub reward_nakamoto_last_epoch: usize,
    /// Gini of cumulative rewards per entity.
    pub reward_gini: f64,
    /// Share of cumulative rewards held by the top 10 entities.
    pub reward_top_10_share: f64,
    /// Nakamoto ½ of cumulative validator rewards.
    pub validator_reward_nakamoto: usize,
    /// Nakamoto ½ of validator stake.
    pub stake_nakamoto: usize,
    /// Gini of validator stake.
    pub stake_gini: f64,
    /// Nakamoto ½ of voting power in consensus.
    pub voting_nakamoto: usize,
    /// Nakamoto ⅓ of voting power in consensus.
    pub voting_nakamoto_1_3: usize,
    /// Share of cumulative miner rewards paid to the best miners (by true quality).
    pub best_miner_share: f64,
    /// Cumulative rewards paid to the best miners.
    pub best_miner_rewards: f64,
    /// Relative change of `best_miner_rewards` against the baseline (−0.1 = 10% less).
    pub best_miner_rewards_change: Option<f64>,
    /// Change of `reward_nakamoto` against the baseline.
    pub reward_nakamoto_change: Option<i64>,
    /// Share of the last epoch's emission paid to validators.
    pub validator_emission_share: f64,
}

/// Whether `a` and `b` differ only in name, description and mechanism.
fn same_population(a: &StudyScenario, b: &StudyScenario) -> bool {
    a.seed == b.seed
        && a.epochs == b.epochs
        && a.population == b.population
        && a.emission == b.emission
        && a.yuma == b.yuma
}

/// Summaries of `runs`, each compared with the `yuma` run on the same population (seed,
/// population, emission and Yuma parameters all equal), when there is one.
pub fn compare(runs: &[RunResult]) -> Vec<StudySummary> {
    let pick = |r: &RunResult, d: &str| {
        r.last()
            .and_then(|e| e.metrics.get(d))
            .copied()
            .unwrap_or(deai_metrics::Metrics {
                gini: 0.0,
                nakamoto_1_2: 0,
                nakamoto_1_3: 0,
                hhi: 0.0,
                entropy_normalized: 0.0,
                theil: 0.0,
                top_1_share: 0.0,
                top_3_share: 0.0,
                top_5_share: 0.0,
                top_10_share: 0.0,
                n: 0,
            })
    };
    let best = |r: &RunResult| r.last().map_or(0.0, |e| e.best_miner_rewards_cumulative);
    runs.iter()
        .map(|r| {
            let base = runs.iter().find(|b| {
                b.scenario.mechanism == RewardMechanism::Yuma
                    && same_population(&b.scenario, &r.scenario)
            });
            let rewards = pick(r, dist::ENTITY_REWARDS_CUMULATIVE);
            let miner_total = r.last().map_or(0.0, |e| e.miner_rewards_cumulative);
            StudySummary {
                name: r.scenario.name.clone(),
                mechanism: r.scenario.mechanism.label(),
                baseline: base.map(|b| b.scenario.name.clone()),
                reward_nakamoto: rewards.nakamoto_1_2,
                reward_nakamoto_last_epoch: pick(r, dist::ENTITY_REWARDS).nakamoto_1_2,
                reward_gini: rewards.gini,
                reward_top_10_share: rewards.top_10_share,
                validator_reward_nakamoto: pick(r, dist::VALIDATOR_REWARDS_CUMULATIVE).nakamoto_1_2,
                stake_nakamoto: pick(r, dist::STAKE).nakamoto_1_2,
                stake_gini: pick(r, dist::STAKE).gini,
                voting_nakamoto: pick(r, dist::VOTING_POWER).nakamoto_1_2,
                voting_nakamoto_1_3: pick(r, dist::VOTING_POWER).nakamoto_1_3,
                best_miner_share: if miner_total > 0.0 {
                    best(r) / miner_total
                } else {
                    0.0
                },
                best_miner_rewards: best(r),
                best_miner_rewards_change: base.and_then(|b| {
                    let x = best(b);
                    (x > 0.0).then(|| best(r) / x - 1.0)
                }),
                reward_nakamoto_change: base.map(|b| {
                    rewards.nakamoto_1_2 as i64
                        - pick(b, dist::ENTITY_REWARDS_CUMULATIVE).nakamoto_1_2 as i64
                }),
                validator_emission_share: r.last().map_or(0.0, |e| e.validator_emission_share),
            }
        })
        .collect()
}
