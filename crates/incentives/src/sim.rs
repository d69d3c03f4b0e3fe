//! The epoch loop: observe, weigh, reach consensus, pay, restake, measure.
//!
//! Every epoch:
//! 1. the mechanism turns validators' stake, delegation, past agreement and agreement streaks
//!    into the stake each validator votes with;
//! 2. each validator `v` observes each miner `m` as `q_m + σ_v·z` (z standard normal, from the
//!    noise stream) and sets the `u16` weight `round(65535 · max(obs, 0)^k / max_m(…))`;
//! 3. the engine (Yuma) or the FLock rule turns voting stake and weights into miner and
//!    validator rewards out of an emission of `rate × initial total validator stake`;
//! 4. rewards are restaked: a validator's reward is added to its stake, split between own and
//!    delegated stake in their current proportion (delegators get their share); a miner's reward
//!    is added to its trainer stake; so concentration can compound;
//! 5. deai-metrics measures stake, voting power, miner and validator rewards (per epoch and
//!    cumulative) and rewards per controlling entity (Sybil miners grouped by owner).

use std::collections::BTreeMap;

use deai_metrics::Metrics;
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;

use crate::engine::{EngineInput, EpochEngine};
use crate::mechanism::{flock_rewards, scale_to, FlockParams, RewardMechanism, ValidatorView};
use crate::population::{rng, World, NOISE_STREAM};
use crate::scenario::StudyScenario;
use crate::IncentiveError;

/// Names of the distributions measured every epoch.
pub mod dist {
    /// Validator stake (own + delegated).
    pub const STAKE: &str = "stake";
    /// Stake each validator votes with in consensus (after the mechanism).
    pub const VOTING_POWER: &str = "voting_power";
    /// Miner rewards this epoch.
    pub const MINER_REWARDS: &str = "miner_rewards";
    /// Miner rewards since the start.
    pub const MINER_REWARDS_CUMULATIVE: &str = "miner_rewards_cumulative";
    /// Validator rewards (dividends) this epoch.
    pub const VALIDATOR_REWARDS: &str = "validator_rewards";
    /// Validator rewards since the start.
    pub const VALIDATOR_REWARDS_CUMULATIVE: &str = "validator_rewards_cumulative";
    /// All rewards this epoch per controlling entity.
    pub const ENTITY_REWARDS: &str = "entity_rewards";
    /// All rewards since the start per controlling entity.
    pub const ENTITY_REWARDS_CUMULATIVE: &str = "entity_rewards_cumulative";
    /// Every distribution, in report order.
    pub const ALL: [&str; 8] = [
        STAKE,
        VOTING_POWER,
        MINER_REWARDS,
        MINER_REWARDS_CUMULATIVE,
        VALIDATOR_REWARDS,
        VALIDATOR_REWARDS_CUMULATIVE,
        ENTITY_REWARDS,
        ENTITY_REWARDS_CUMULATIVE,
    ];
}

/// What one epoch looked like.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StudyEpoch {
    /// Epoch number, from 1.
    pub epoch: u32,
    /// Metrics of every distribution in [`dist::ALL`].
    pub metrics: BTreeMap<String, Metrics>,
    /// Share of this epoch's miner rewards paid to the best miners (by true quality).
    pub best_miner_share: f64,
    /// Rewards paid to the best miners since the start.
    pub best_miner_rewards_cumulative: f64,
    /// Rewards paid to all miners since the start.
    pub miner_rewards_cumulative: f64,
    /// Share of this epoch's emission paid to validators.
    pub validator_emission_share: f64,
    /// Stake-weighted mean agreement of validators with consensus this epoch.
    pub mean_agreement: f64,
    /// Median agreement (validator trust, or FLock closeness) over validators this epoch.
    pub median_agreement: f64,
}

/// Final vectors of a run, for the JSON output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FinalState {
    /// Validator stake (own + delegated).
    pub stake: Vec<f64>,
    /// Cumulative reward per miner.
    pub miner_rewards_cumulative: Vec<f64>,
    /// Cumulative reward per validator.
    pub validator_rewards_cumulative: Vec<f64>,
    /// Cumulative reward per controlling entity.
    pub entity_rewards_cumulative: Vec<f64>,
    /// True quality per miner.
    pub miner_quality: Vec<f64>,
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunResult {
    /// The scenario as run.
    pub scenario: StudyScenario,
    /// Which consensus engine computed the Yuma epochs.
    pub engine: String,
    /// Number of controlling entities.
    pub entities: usize,
    /// Number of miners counted as best.
    pub best_miners: usize,
    /// Emission per epoch.
    pub emission_per_epoch: f64,
    /// One record per epoch.
    pub epochs: Vec<StudyEpoch>,
    /// Vectors at the end of the run.
    pub final_state: FinalState,
}

impl RunResult {
    /// The last epoch's record.
    pub fn last(&self) -> Option<&StudyEpoch> {
        self.epochs.last()
    }
}

/// Validators' weights on miners for one epoch (rows: validators, columns: miners).
fn observe(world: &World, sharpness: f64, noise: &mut rand_chacha::ChaCha8Rng) -> Vec<Vec<u16>> {
    world
        .noise
        .iter()
        .map(|sigma| {
            let scores: Vec<f64> = world
                .quality
                .iter()
                .map(|q| {
                    let z: f64 = StandardNormal.sample(noise);
                    (q + sigma * z).max(0.0).powf(sharpness)
                })
                .collect();
            let max = scores.iter().copied().fold(0.0, f64::max);
            scores
                .iter()
                .map(|s| {
                    if max > 0.0 {
                        (65535.0 * s / max).round() as u16
                    } else {
                        0
                    }
                })
                .collect()
        })
        .collect()
}

fn measure(values: &[f64]) -> Result<Metrics, IncentiveError> {
    Ok(deai_metrics::metrics(values)?)
}

/// Runs `scenario` with `engine` computing the Yuma epochs. Deterministic in the seed.
pub fn run(
    scenario: &StudyScenario,
    engine: &mut dyn EpochEngine,
) -> Result<RunResult, IncentiveError> {
    scenario.validate()?;
    let world = World::draw(scenario)?;
    let nv = scenario.population.validators;
    let nm = scenario.population.miners;
    let n = nv + nm;
    let mut own = world.own_stake.clone();
    let mut delegated = world.delegated_stake.clone();
    let mut miner_stake = world.miner_stake.clone();
    let initial_total: f64 = own.iter().sum::<f64>() + delegated.iter().sum::<f64>();
    let emission = scenario.emission.rate * initial_total;
    let mut agreement = vec![1.0; nv];
    let mut streak = vec![0u32; nv];
    let mut bonds = vec![vec![0.0; n]; n];
    let mut cum_miner = vec![0.0; nm];
    let mut cum_validator = vec![0.0; nv];
    let mut cum_entity = vec![0.0; world.entities];
    let mut best_cum = 0.0;
    let mut noise = rng(scenario.seed, NOISE_STREAM);
    let mut epochs = Vec::with_capacity(scenario.epochs as usize);
    let threshold = match scenario.mechanism {
        RewardMechanism::TrustBonus {
            agreement_threshold,
            ..
        } => agreement_threshold,
        _ => 1.0,
    };

    for epoch in 1..=scenario.epochs {
        let voting = scenario.mechanism.voting_stake(&ValidatorView {
            own: &own,
            delegated: &delegated,
            agreement: &agreement,
            streak: &streak,
        });
        let w = observe(&world, scenario.population.weight_sharpness, &mut noise);
        let (miner_rewards, validator_rewards, new_agreement) = match scenario.mechanism {
            RewardMechanism::FlockArena {
                gamma,
                rank_ratio,
                closeness_scale,
                trainer_stake_exponent,
                validator_stake_exponent,
                ..
            } => {
                let scores: Vec<Vec<f64>> = w
                    .iter()
                    .map(|r| r.iter().map(|x| f64::from(*x) / 65535.0).collect())
                    .collect();
                let r = flock_rewards(
                    emission,
                    &scores,
                    &voting,
                    &miner_stake,
                    &FlockParams {
                        gamma,
                        rank_ratio,
                        closeness_scale,
                        trainer_stake_exponent,
                        validator_stake_exponent,
                    },
                )?;
                (r.trainers, r.validators, r.closeness)
            }
            _ => {
                let mut stake_uid = voting.clone();
                stake_uid.resize(n, 0.0);
                let mut weights = vec![vec![0u16; n]; n];
                for (row, wv) in weights.iter_mut().zip(&w) {
                    row[nv..].copy_from_slice(wv);
                }
                let out = engine.epoch(&EngineInput {
                    stake: &stake_uid,
                    weights: &weights,
                    bonds_prev: &bonds,
                    params: &scenario.yuma,
                })?;
                bonds = out.bonds;
                let miner_pool = emission * scenario.emission.miner_share;
                let validator_pool = emission - miner_pool;
                let miners = scale_to(&out.incentive[nv..], miner_pool);
                let trust = out.validator_trust[..nv].to_vec();
                let mut dividends = scale_to(&out.dividends[..nv], validator_pool);
                if dividends.iter().all(|d| *d == 0.0) {
                    dividends = scale_to(&voting, validator_pool);
                }
                let validators = match scenario.mechanism {
                    RewardMechanism::PerformanceSplit { performance_weight } => {
                        let perf = scale_to(&trust, validator_pool);
                        dividends
                            .iter()
                            .zip(&perf)
                            .map(|(d, p)| (1.0 - performance_weight) * d + performance_weight * p)
                            .collect()
                    }
                    _ => dividends,
                };
                (miners, validators, trust)
            }
        };

        // Agreement streaks (trust ≥ threshold) and next epoch's agreement.
        for (k, a) in streak.iter_mut().zip(&new_agreement) {
            *k = if *a >= threshold { *k + 1 } else { 0 };
        }
        let vote_total: f64 = voting.iter().sum();
        let mean_agreement = if vote_total > 0.0 {
            voting
                .iter()
                .zip(&new_agreement)
                .map(|(s, a)| s * a)
                .sum::<f64>()
                / vote_total
        } else {
            0.0
        };
        let median_agreement = crate::mechanism::percentile(&new_agreement, 50.0);
        agreement = new_agreement;

        // Restake.
        for ((o, d), r) in own
            .iter_mut()
            .zip(delegated.iter_mut())
            .zip(&validator_rewards)
        {
            let total = *o + *d;
            let share = if total > 0.0 { *d / total } else { 0.0 };
            *d += r * share;
            *o += r * (1.0 - share);
        }
        for (t, r) in miner_stake.iter_mut().zip(&miner_rewards) {
            *t += r;
        }

        // Accumulate and group by entity.
        let mut entity = vec![0.0; world.entities];
        entity[..nv].copy_from_slice(&validator_rewards);
        for (m, r) in miner_rewards.iter().enumerate() {
            entity[world.miner_owner[m]] += r;
        }
        for (c, r) in cum_miner.iter_mut().zip(&miner_rewards) {
            *c += r;
        }
        for (c, r) in cum_validator.iter_mut().zip(&validator_rewards) {
            *c += r;
        }
        for (c, r) in cum_entity.iter_mut().zip(&entity) {
            *c += r;
        }
        let best_now: f64 = miner_rewards
            .iter()
            .zip(&world.best)
            .filter(|(_, b)| **b)
            .map(|(r, _)| r)
            .sum();
        best_cum += best_now;
        let miner_total: f64 = miner_rewards.iter().sum();
        let validator_total: f64 = validator_rewards.iter().sum();

        let stake: Vec<f64> = own.iter().zip(&delegated).map(|(o, d)| o + d).collect();
        let mut metrics = BTreeMap::new();
        for (name, values) in [
            (dist::STAKE, &stake),
            (dist::VOTING_POWER, &voting),
            (dist::MINER_REWARDS, &miner_rewards),
            (dist::MINER_REWARDS_CUMULATIVE, &cum_miner),
            (dist::VALIDATOR_REWARDS, &validator_rewards),
            (dist::VALIDATOR_REWARDS_CUMULATIVE, &cum_validator),
            (dist::ENTITY_REWARDS, &entity),
            (dist::ENTITY_REWARDS_CUMULATIVE, &cum_entity),
        ] {
            metrics.insert(name.to_string(), measure(values)?);
        }
        epochs.push(StudyEpoch {
            epoch,
            metrics,
            best_miner_share: if miner_total > 0.0 {
                best_now / miner_total
            } else {
                0.0
            },
            best_miner_rewards_cumulative: best_cum,
            miner_rewards_cumulative: cum_miner.iter().sum(),
            validator_emission_share: if miner_total + validator_total > 0.0 {
                validator_total / (miner_total + validator_total)
            } else {
                0.0
            },
            mean_agreement,
            median_agreement,
        });
    }

    let stake: Vec<f64> = own.iter().zip(&delegated).map(|(o, d)| o + d).collect();
    Ok(RunResult {
        scenario: scenario.clone(),
        engine: match scenario.mechanism {
            RewardMechanism::FlockArena { .. } => "flock".to_string(),
            _ => engine.name().to_string(),
        },
        entities: world.entities,
        best_miners: world.best.iter().filter(|b| **b).count(),
        emission_per_epoch: emission,
        epochs,
        final_state: FinalState {
            stake,
            miner_rewards_cumulative: cum_miner,
            validator_rewards_cumulative: cum_validator,
            entity_rewards_cumulative: cum_entity,
            miner_quality: world.quality,
        },
    })
}
