//! The incentive mechanisms compared, each a pure function of the epoch's state.
//!
//! | kind | voting power in consensus | validator pay | miner pay |
//! |---|---|---|---|
//! | `yuma` | stake | Yuma dividends (bonds × incentive) | Yuma incentive |
//! | `performance_split` | stake | `(1−λ)·dividends + λ·trust/Σtrust` | Yuma incentive |
//! | `stake_cap` | `min(stake, p-th percentile of validator stake)` | Yuma dividends under capped stake | Yuma incentive |
//! | `composite_score` | `(1−λ)·stake share + λ·agreement share` | Yuma dividends under that power | Yuma incentive |
//! | `trust_bonus` | `stake · (1 + β·min(streak, T)/T)` | Yuma dividends under that power | Yuma incentive |
//! | `flock_arena` | `own + ε·delegated` | pool `R₀(γ + (1−2γ)Σs/(Σt+Σs))` by closeness × stake | the rest, geometric in rank × trainer stake |
//!
//! See the crate docs for the problem each one addresses.

use serde::{Deserialize, Serialize};

use crate::scenario::{check_positive, check_range};
use crate::IncentiveError;

/// An incentive mechanism and its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RewardMechanism {
    /// Baseline Yuma: stake votes, dividends follow stake × bonds.
    Yuma,
    /// Validator emission split by performance (validator trust) instead of by stake.
    PerformanceSplit {
        /// λ in `[0, 1]`: weight of performance in the validator split (1 = performance only).
        performance_weight: f64,
    },
    /// Voting stake capped at a percentile of the validator stake distribution.
    StakeCap {
        /// Percentile in `[0, 100]` (linear interpolation between order statistics).
        percentile: f64,
    },
    /// Voting power mixes stake share with agreement share (previous epoch's validator trust).
    CompositeScore {
        /// λ in `[0, 1]`: weight of agreement (0 = baseline).
        agreement_weight: f64,
    },
    /// Voting stake multiplied for long, consistent agreement with consensus.
    TrustBonus {
        /// β ≥ 0: largest extra multiplier (1 = up to double).
        bonus: f64,
        /// T ≥ 1: epochs of agreement needed for the full bonus.
        window: u32,
        /// Validator trust at or above which an epoch counts as agreeing.
        agreement_threshold: f64,
    },
    /// FLock AI Arena style rewards.
    FlockArena {
        /// γ in `[0, ½]`: fixed part of the validators' pool.
        gamma: f64,
        /// ρ in `(0, 1]`: trainer at rank r (0 = best) is weighted `ρ^r`.
        rank_ratio: f64,
        /// ε in `[0, 1]`: weight of delegated stake in a validator's stake.
        epsilon: f64,
        /// τ > 0: validator closeness is `exp(−d/τ)`, d = mean |score − consensus|.
        closeness_scale: f64,
        /// θ ≥ 0: trainer weight is `ρ^rank · stake^θ` (FLock: 1).
        #[serde(default = "one")]
        trainer_stake_exponent: f64,
        /// φ ≥ 0: validator weight is `closeness · stake^φ` (FLock: 1).
        #[serde(default = "one")]
        validator_stake_exponent: f64,
    },
}

fn one() -> f64 {
    1.0
}

impl RewardMechanism {
    /// The `kind` string.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Yuma => "yuma",
            Self::PerformanceSplit { .. } => "performance_split",
            Self::StakeCap { .. } => "stake_cap",
            Self::CompositeScore { .. } => "composite_score",
            Self::TrustBonus { .. } => "trust_bonus",
            Self::FlockArena { .. } => "flock_arena",
        }
    }

    /// The kind with its parameters, for tables.
    pub fn label(&self) -> String {
        match self {
            Self::Yuma => "yuma".into(),
            Self::PerformanceSplit { performance_weight } => {
                format!("performance_split λ={performance_weight}")
            }
            Self::StakeCap { percentile } => format!("stake_cap p{percentile}"),
            Self::CompositeScore { agreement_weight } => {
                format!("composite_score λ={agreement_weight}")
            }
            Self::TrustBonus {
                bonus,
                window,
                agreement_threshold,
            } => format!("trust_bonus β={bonus} T={window} τ={agreement_threshold}"),
            Self::FlockArena {
                gamma,
                rank_ratio,
                epsilon,
                ..
            } => format!("flock_arena γ={gamma} ρ={rank_ratio} ε={epsilon}"),
        }
    }

    /// Checks parameter ranges; errors name `mechanism.<key>`.
    pub fn validate(&self) -> Result<(), IncentiveError> {
        match *self {
            Self::Yuma => Ok(()),
            Self::PerformanceSplit { performance_weight } => {
                check_range("mechanism.performance_weight", performance_weight, 0.0, 1.0)
            }
            Self::StakeCap { percentile } => {
                check_range("mechanism.percentile", percentile, 0.0, 100.0)
            }
            Self::CompositeScore { agreement_weight } => {
                check_range("mechanism.agreement_weight", agreement_weight, 0.0, 1.0)
            }
            Self::TrustBonus {
                bonus,
                window,
                agreement_threshold,
            } => {
                check_range("mechanism.bonus", bonus, 0.0, 100.0)?;
                check_range("mechanism.window", f64::from(window), 1.0, 1e6)?;
                check_range(
                    "mechanism.agreement_threshold",
                    agreement_threshold,
                    0.0,
                    1.0,
                )
            }
            Self::FlockArena {
                gamma,
                rank_ratio,
                epsilon,
                closeness_scale,
                trainer_stake_exponent,
                validator_stake_exponent,
            } => {
                check_range("mechanism.gamma", gamma, 0.0, 0.5)?;
                check_range("mechanism.rank_ratio", rank_ratio, 0.0, 1.0)?;
                check_positive("mechanism.rank_ratio", rank_ratio)?;
                check_range("mechanism.epsilon", epsilon, 0.0, 1.0)?;
                check_positive("mechanism.closeness_scale", closeness_scale)?;
                check_range(
                    "mechanism.trainer_stake_exponent",
                    trainer_stake_exponent,
                    0.0,
                    4.0,
                )?;
                check_range(
                    "mechanism.validator_stake_exponent",
                    validator_stake_exponent,
                    0.0,
                    4.0,
                )
            }
        }
    }
}

/// The `p`-th percentile (0..=100) with linear interpolation between order statistics
/// (NumPy's default); `0` for an empty slice.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let pos = (p / 100.0).clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    v[lo] + (v[hi] - v[lo]) * frac
}

/// Validator state a mechanism may read when computing voting power.
#[derive(Debug, Clone, Copy)]
pub struct ValidatorView<'a> {
    /// Own stake per validator.
    pub own: &'a [f64],
    /// Delegated stake per validator.
    pub delegated: &'a [f64],
    /// Agreement with consensus in the previous epoch (validator trust; 1 before the first).
    pub agreement: &'a [f64],
    /// Consecutive epochs each validator has agreed (trust ≥ threshold).
    pub streak: &'a [u32],
}

impl RewardMechanism {
    /// Stake each validator votes with in consensus this epoch.
    pub fn voting_stake(&self, v: &ValidatorView<'_>) -> Vec<f64> {
        let stake: Vec<f64> = v.own.iter().zip(v.delegated).map(|(o, d)| o + d).collect();
        match *self {
            Self::Yuma | Self::PerformanceSplit { .. } => stake,
            Self::StakeCap { percentile: p } => {
                let cap = percentile(&stake, p);
                stake.iter().map(|s| s.min(cap)).collect()
            }
            Self::CompositeScore { agreement_weight } => {
                let total: f64 = stake.iter().sum();
                let agree: f64 = v.agreement.iter().sum();
                stake
                    .iter()
                    .zip(v.agreement)
                    .map(|(s, a)| {
                        let s_share = if total > 0.0 { s / total } else { 0.0 };
                        let a_share = if agree > 0.0 { a / agree } else { 0.0 };
                        (1.0 - agreement_weight) * s_share + agreement_weight * a_share
                    })
                    .collect()
            }
            Self::TrustBonus { bonus, window, .. } => stake
                .iter()
                .zip(v.streak)
                .map(|(s, k)| {
                    let progress = f64::from((*k).min(window)) / f64::from(window);
                    s * (1.0 + bonus * progress)
                })
                .collect(),
            Self::FlockArena { epsilon, .. } => v
                .own
                .iter()
                .zip(v.delegated)
                .map(|(o, d)| o + epsilon * d)
                .collect(),
        }
    }
}

/// Normalizes `w` to sum to `total` (all zero stays zero).
pub(crate) fn scale_to(w: &[f64], total: f64) -> Vec<f64> {
    let s: f64 = w.iter().sum();
    if s > 0.0 {
        w.iter().map(|x| x / s * total).collect()
    } else {
        vec![0.0; w.len()]
    }
}

/// FLock AI Arena rewards for one epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct FlockRewards {
    /// Reward per trainer (miner).
    pub trainers: Vec<f64>,
    /// Reward per validator.
    pub validators: Vec<f64>,
    /// Closeness of each validator's scores to consensus, in `(0, 1]`.
    pub closeness: Vec<f64>,
    /// Consensus score per trainer (stake-weighted mean of validator scores).
    pub consensus: Vec<f64>,
}

/// Parameters of [`flock_rewards`].
#[derive(Debug, Clone, Copy)]
pub struct FlockParams {
    /// γ.
    pub gamma: f64,
    /// ρ.
    pub rank_ratio: f64,
    /// τ.
    pub closeness_scale: f64,
    /// θ.
    pub trainer_stake_exponent: f64,
    /// φ.
    pub validator_stake_exponent: f64,
}

/// FLock AI Arena: the task reward `r0` is split into a validator pool
/// `r0·(γ + (1−2γ)·Σs/(Σt+Σs))` and a trainer pool (the rest). Trainers are ranked by the
/// consensus score (stake-weighted mean of validator scores, ties to the lower index) and paid
/// in proportion to `ρ^rank · tᵢ^θ`. Validators are paid in proportion to
/// `exp(−dⱼ/τ) · sⱼ^φ`, where `dⱼ` is the mean absolute distance of their scores from consensus.
/// `scores[v][m]` in `[0, 1]`; `s` = validator stakes (delegation already weighted by ε),
/// `t` = trainer stakes.
pub fn flock_rewards(
    r0: f64,
    scores: &[Vec<f64>],
    s: &[f64],
    t: &[f64],
    p: &FlockParams,
) -> Result<FlockRewards, IncentiveError> {
    let m = t.len();
    if scores.len() != s.len() || scores.iter().any(|r| r.len() != m) {
        return Err(IncentiveError::Shape {
            what: "FLock scores",
            expected: format!("{} validators × {m} trainers", s.len()),
        });
    }
    let sum_s: f64 = s.iter().sum();
    let sum_t: f64 = t.iter().sum();
    let stake_part = if sum_s + sum_t > 0.0 {
        sum_s / (sum_s + sum_t)
    } else {
        0.5
    };
    let pool_v = r0 * (p.gamma + (1.0 - 2.0 * p.gamma) * stake_part);
    let pool_t = r0 - pool_v;
    let consensus: Vec<f64> = (0..m)
        .map(|j| {
            if sum_s > 0.0 {
                scores.iter().zip(s).map(|(r, w)| r[j] * w).sum::<f64>() / sum_s
            } else {
                0.0
            }
        })
        .collect();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|a, b| consensus[*b].total_cmp(&consensus[*a]).then(a.cmp(b)));
    let mut trainer_w = vec![0.0; m];
    let mut geometric = 1.0;
    for &j in &order {
        trainer_w[j] = geometric * t[j].max(0.0).powf(p.trainer_stake_exponent);
        geometric *= p.rank_ratio;
    }
    let closeness: Vec<f64> = scores
        .iter()
        .map(|r| {
            let d = if m > 0 {
                r.iter()
                    .zip(&consensus)
                    .map(|(x, c)| (x - c).abs())
                    .sum::<f64>()
                    / m as f64
            } else {
                0.0
            };
            (-d / p.closeness_scale).exp()
        })
        .collect();
    let validator_w: Vec<f64> = closeness
        .iter()
        .zip(s)
        .map(|(f, sj)| f * sj.max(0.0).powf(p.validator_stake_exponent))
        .collect();
    Ok(FlockRewards {
        trainers: scale_to(&trainer_w, pool_t),
        validators: scale_to(&validator_w, pool_v),
        closeness,
        consensus,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_interpolates_like_numpy() {
        // numpy.percentile([1, 2, 3, 4], 75) = 3.25
        assert_eq!(percentile(&[4.0, 1.0, 3.0, 2.0], 75.0), 3.25);
        assert_eq!(percentile(&[5.0], 10.0), 5.0);
        assert_eq!(percentile(&[1.0, 9.0], 100.0), 9.0);
    }

    #[test]
    fn flock_split_follows_the_formula() {
        let p = FlockParams {
            gamma: 0.1,
            rank_ratio: 0.5,
            closeness_scale: 0.1,
            trainer_stake_exponent: 0.0,
            validator_stake_exponent: 1.0,
        };
        // Two validators agree exactly; three trainers with equal stake.
        let scores = vec![vec![1.0, 0.5, 0.0], vec![1.0, 0.5, 0.0]];
        let r = flock_rewards(100.0, &scores, &[3.0, 1.0], &[2.0, 2.0, 2.0], &p).unwrap();
        // Validators' pool: 100·(0.1 + 0.8·4/10) = 42, split 3:1 (closeness 1 for both).
        let v: f64 = r.validators.iter().sum();
        assert!((v - 42.0).abs() < 1e-12);
        assert!((r.validators[0] - 31.5).abs() < 1e-12);
        // Trainers: 58 split 1 : ½ : ¼.
        assert!((r.trainers[0] - 58.0 * 4.0 / 7.0).abs() < 1e-12);
        assert!((r.trainers[2] - 58.0 / 7.0).abs() < 1e-12);
        assert_eq!(r.closeness, vec![1.0, 1.0]);
    }

    #[test]
    fn stake_cap_caps_at_the_percentile() {
        let m = RewardMechanism::StakeCap { percentile: 50.0 };
        let own = [10.0, 1.0, 2.0, 100.0, 3.0];
        let zeros = [0.0; 5];
        let v = ValidatorView {
            own: &own,
            delegated: &zeros,
            agreement: &[1.0; 5],
            streak: &[0; 5],
        };
        assert_eq!(m.voting_stake(&v), vec![3.0, 1.0, 2.0, 3.0, 3.0]);
    }
}
