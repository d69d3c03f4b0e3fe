//! The consensus step of an epoch, behind a small trait so the chain's Yuma can be plugged in.
//!
//! An [`EpochEngine`] turns the stake each UID votes with, the `u16` weights every UID sets on
//! every other UID, and the previous bonds into per-UID consensus, validator trust, miner
//! incentive, validator dividends and new bonds. [`FloatYuma`] is classic Yuma (subtensor
//! `epoch_mechanism` without masks, liquid alpha or Yuma3) in `f64`, checked against the classic
//! cases of `tests/vectors/yuma.json`:
//!
//! 1. `S = stake / Σ stake`; `W` = weights with the diagonal zeroed, each row normalized.
//! 2. consensus `cⱼ` = stake-weighted median of column `j` at `κ`: the smallest weight `v` such
//!    that the stake of validators weighting `j` at `v` or below is more than `1 − κ`
//!    (validators with zero stake take no part).
//! 3. clipped weights `W̄ᵢⱼ = min(Wᵢⱼ, cⱼ)`; validator trust `Tᵢ = Σⱼ W̄ᵢⱼ`;
//!    ranks `Rⱼ = Σᵢ Sᵢ W̄ᵢⱼ`; incentive `I = R / Σ R`.
//! 4. bonds: `ΔB = S ∘ (W − β (W − W̄))` column-normalized (β = bonds penalty),
//!    `B = α ΔB + (1 − α) B_prev` with `α = 1 − bonds_moving_average` and `B_prev`
//!    column-normalized, then `B` column-normalized.
//! 5. dividends `Dᵢ = Σⱼ Bᵢⱼ Iⱼ`, normalized.

use serde::{Deserialize, Serialize};

use crate::IncentiveError;

/// Yuma parameters the simulation varies.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyYumaParams {
    /// Consensus majority κ (subtensor default 32767/65535 ≈ 0.5).
    #[serde(default = "default_kappa")]
    pub kappa: f64,
    /// Bonds penalty β in `[0, 1]`: how much bonds follow clipped rather than raw weights.
    #[serde(default = "default_bonds_penalty")]
    pub bonds_penalty: f64,
    /// Bonds moving average in `[0, 1)`: weight of the previous bonds in the EMA.
    #[serde(default = "default_bonds_moving_average")]
    pub bonds_moving_average: f64,
}

fn default_kappa() -> f64 {
    32767.0 / 65535.0
}
fn default_bonds_penalty() -> f64 {
    1.0
}
fn default_bonds_moving_average() -> f64 {
    0.9
}

impl Default for StudyYumaParams {
    fn default() -> Self {
        Self {
            kappa: default_kappa(),
            bonds_penalty: default_bonds_penalty(),
            bonds_moving_average: default_bonds_moving_average(),
        }
    }
}

/// One epoch's input, over UIDs `0..n`.
#[derive(Debug, Clone, Copy)]
pub struct EngineInput<'a> {
    /// Stake each UID votes with (any non-negative scale).
    pub stake: &'a [f64],
    /// `weights[i][j]`: raw `u16` weight UID `i` sets on UID `j` (n × n).
    pub weights: &'a [Vec<u16>],
    /// Bonds from the previous epoch (n × n; any column scale, zeros at start).
    pub bonds_prev: &'a [Vec<f64>],
    /// Parameters.
    pub params: &'a StudyYumaParams,
}

/// One epoch's output, over UIDs `0..n`.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineOutput {
    /// Consensus weight per UID (stake-weighted median).
    pub consensus: Vec<f64>,
    /// Validator trust per UID: the part of its weight inside consensus, in `[0, 1]`.
    pub validator_trust: Vec<f64>,
    /// Incentive per UID (sums to 1 unless nobody is in consensus).
    pub incentive: Vec<f64>,
    /// Dividends per UID (sums to 1 unless there are no bonds on incentive).
    pub dividends: Vec<f64>,
    /// New bonds (n × n, column-normalized).
    pub bonds: Vec<Vec<f64>>,
}

/// A consensus step: stake + weights + previous bonds → incentive, dividends, trust, bonds.
pub trait EpochEngine {
    /// Short name for reports.
    fn name(&self) -> &'static str;
    /// Runs one epoch.
    fn epoch(&mut self, input: &EngineInput<'_>) -> Result<EngineOutput, IncentiveError>;
}

/// Classic Yuma in `f64` (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct FloatYuma;

fn normalize(v: &mut [f64]) {
    let s: f64 = v.iter().sum();
    if s > 0.0 {
        v.iter_mut().for_each(|x| *x /= s);
    }
}

fn col_normalize(m: &mut [Vec<f64>]) {
    let cols = m.first().map_or(0, Vec::len);
    for j in 0..cols {
        let s: f64 = m.iter().map(|r| r[j]).sum();
        if s > 0.0 {
            m.iter_mut().for_each(|r| r[j] /= s);
        }
    }
}

/// Stake-weighted median of `scores` at majority `kappa` (subtensor `weighted_median`):
/// the smallest value whose cumulative stake, in ascending order of value, exceeds `1 − κ` of
/// the total. Entries with zero stake are ignored.
pub fn weighted_median(stake: &[f64], scores: &[f64], kappa: f64) -> f64 {
    let mut pairs: Vec<(f64, f64)> = stake
        .iter()
        .zip(scores)
        .filter(|(s, _)| **s > 0.0)
        .map(|(s, v)| (*v, *s))
        .collect();
    if pairs.is_empty() {
        return 0.0;
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = pairs.iter().map(|p| p.1).sum();
    let minority = total - kappa * total;
    let mut cum = 0.0;
    let mut i = 0;
    while i < pairs.len() {
        let v = pairs[i].0;
        while i < pairs.len() && pairs[i].0 == v {
            cum += pairs[i].1;
            i += 1;
        }
        if cum > minority {
            return v;
        }
    }
    pairs[pairs.len() - 1].0
}

impl EpochEngine for FloatYuma {
    fn name(&self) -> &'static str {
        "float-yuma"
    }

    fn epoch(&mut self, input: &EngineInput<'_>) -> Result<EngineOutput, IncentiveError> {
        let n = input.stake.len();
        if input.weights.len() != n
            || input.bonds_prev.len() != n
            || input.weights.iter().any(|r| r.len() != n)
            || input.bonds_prev.iter().any(|r| r.len() != n)
        {
            return Err(IncentiveError::Shape {
                what: "engine input",
                expected: format!("stake of length n and n×n weights and bonds (n = {n})"),
            });
        }
        let p = input.params;
        let mut s: Vec<f64> = input.stake.iter().map(|x| x.max(0.0)).collect();
        normalize(&mut s);
        let mut w: Vec<Vec<f64>> = input
            .weights
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let mut r: Vec<f64> = row
                    .iter()
                    .enumerate()
                    .map(|(j, x)| if i == j { 0.0 } else { f64::from(*x) })
                    .collect();
                normalize(&mut r);
                r
            })
            .collect();
        let consensus: Vec<f64> = (0..n)
            .map(|j| {
                let col: Vec<f64> = w.iter().map(|r| r[j]).collect();
                weighted_median(&s, &col, p.kappa)
            })
            .collect();
        let clipped: Vec<Vec<f64>> = w
            .iter()
            .map(|r| r.iter().zip(&consensus).map(|(x, c)| x.min(*c)).collect())
            .collect();
        let validator_trust: Vec<f64> = clipped.iter().map(|r| r.iter().sum()).collect();
        let mut incentive = vec![0.0; n];
        for (si, row) in s.iter().zip(&clipped) {
            for (acc, x) in incentive.iter_mut().zip(row) {
                *acc += si * x;
            }
        }
        normalize(&mut incentive);
        // Bonds.
        for (wi, ci) in w.iter_mut().zip(&clipped) {
            for (x, c) in wi.iter_mut().zip(ci) {
                *x -= p.bonds_penalty * (*x - c);
            }
        }
        let mut delta: Vec<Vec<f64>> = w
            .iter()
            .zip(&s)
            .map(|(r, si)| r.iter().map(|x| x * si).collect())
            .collect();
        col_normalize(&mut delta);
        let mut prev: Vec<Vec<f64>> = input.bonds_prev.to_vec();
        col_normalize(&mut prev);
        let alpha = 1.0 - p.bonds_moving_average;
        let mut bonds: Vec<Vec<f64>> = delta
            .iter()
            .zip(&prev)
            .map(|(d, b)| {
                d.iter()
                    .zip(b)
                    .map(|(d, b)| alpha * d + (1.0 - alpha) * b)
                    .collect()
            })
            .collect();
        col_normalize(&mut bonds);
        let mut dividends: Vec<f64> = bonds
            .iter()
            .map(|r| r.iter().zip(&incentive).map(|(b, i)| b * i).sum())
            .collect();
        normalize(&mut dividends);
        Ok(EngineOutput {
            consensus,
            validator_trust,
            incentive,
            dividends,
            bonds,
        })
    }
}

/// The chain's Yuma (`deai-yuma`, I32F32 fixed point, bit-identical on every machine) behind
/// the engine trait. Bonds are carried between epochs as the chain stores them
/// (`bonds_out_u16`, column max-upscaled `u16`), which classic Yuma column-normalizes on read.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChainYuma;

impl EpochEngine for ChainYuma {
    fn name(&self) -> &'static str {
        "deai-yuma"
    }

    fn epoch(&mut self, input: &EngineInput<'_>) -> Result<EngineOutput, IncentiveError> {
        let p = input.params;
        let epoch_input = deai_yuma::EpochInput {
            stake: input.stake.to_vec(),
            weights: input
                .weights
                .iter()
                .map(|r| r.iter().map(|x| f64::from(*x)).collect())
                .collect(),
            bonds_prev: Some(input.bonds_prev.to_vec()),
            params: deai_yuma::YumaParams {
                kappa: p.kappa,
                bonds_penalty: p.bonds_penalty,
                bonds_moving_average: p.bonds_moving_average,
                ..deai_yuma::YumaParams::default()
            },
        };
        let out = deai_yuma::run_epoch(&epoch_input).map_err(|e| IncentiveError::Engine {
            engine: "deai-yuma",
            message: e.to_string(),
        })?;
        Ok(EngineOutput {
            consensus: out.consensus,
            validator_trust: out.validator_trust,
            incentive: out.incentive,
            dividends: out.dividends,
            bonds: out
                .bonds_out_u16
                .iter()
                .map(|r| r.iter().map(|x| f64::from(*x)).collect())
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_median_takes_the_majority_side() {
        // Stake 0.6 says 1.0, 0.4 says 0.0: at κ = ½ the consensus is 1.0.
        assert_eq!(weighted_median(&[0.6, 0.4], &[1.0, 0.0], 0.5), 1.0);
        assert_eq!(weighted_median(&[0.4, 0.6], &[1.0, 0.0], 0.5), 0.0);
        // Zero-stake voters are ignored.
        assert_eq!(weighted_median(&[0.0, 1.0], &[1.0, 0.25], 0.5), 0.25);
        assert_eq!(weighted_median(&[0.0], &[1.0], 0.5), 0.0);
    }
}
