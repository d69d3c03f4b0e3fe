//! Drawing the population of a scenario from its seed.
//!
//! All draws use ChaCha8 streams derived from the scenario seed: stream 0 draws the population
//! (stakes, qualities, noise levels), stream 1 the per-epoch observation noise. The mechanism
//! never touches either stream, so two scenarios that differ only in their mechanism simulate
//! the same validators and miners seeing the same noise.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution};

use crate::scenario::{QualityDistribution, StakeSource, StudyScenario};
use crate::IncentiveError;

/// Stream of the population draws.
pub(crate) const POPULATION_STREAM: u64 = 0;
/// Stream of the per-epoch observation noise.
pub(crate) const NOISE_STREAM: u64 = 1;

/// A ChaCha8 generator for `seed` on `stream`.
pub(crate) fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

/// Who takes part, drawn from the scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct World {
    /// Validators' own stake at the start.
    pub own_stake: Vec<f64>,
    /// Stake delegated to each validator at the start.
    pub delegated_stake: Vec<f64>,
    /// Each validator's observation noise σ.
    pub noise: Vec<f64>,
    /// Each miner's true quality.
    pub quality: Vec<f64>,
    /// Each miner's (trainer's) stake at the start.
    pub miner_stake: Vec<f64>,
    /// Entity controlling each miner (validators are entities `0..V`).
    pub miner_owner: Vec<usize>,
    /// Number of controlling entities (validators + miner owners).
    pub entities: usize,
    /// Whether each miner is among the best by true quality.
    pub best: Vec<bool>,
}

fn draw_stakes(
    source: &StakeSource,
    n: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<f64>, IncentiveError> {
    match source {
        StakeSource::Pareto { alpha, scale } => Ok((0..n)
            .map(|_| {
                // Inverse CDF: scale · U^(−1/α) with U in (0, 1].
                let u: f64 = 1.0 - rng.gen::<f64>();
                scale * u.powf(-1.0 / alpha)
            })
            .collect()),
        StakeSource::Values { values } => {
            let pad = values.iter().copied().fold(f64::INFINITY, f64::min);
            Ok((0..n)
                .map(|i| values.get(i).copied().unwrap_or(pad))
                .collect())
        }
        StakeSource::File { path } => {
            Err(IncentiveError::UnresolvedStakeFile { path: path.clone() })
        }
    }
}

impl World {
    /// Draws the population of `scenario` (stream 0 of its seed).
    pub fn draw(scenario: &StudyScenario) -> Result<Self, IncentiveError> {
        let p = &scenario.population;
        let mut r = rng(scenario.seed, POPULATION_STREAM);
        let stake = draw_stakes(&p.validator_stake, p.validators, &mut r)?;
        let noise: Vec<f64> = (0..p.validators)
            .map(|_| {
                p.observation_noise.min
                    + r.gen::<f64>() * (p.observation_noise.max - p.observation_noise.min)
            })
            .collect();
        let beta = match p.miner_quality {
            QualityDistribution::Beta { a, b } => {
                Some(
                    Beta::new(a, b).map_err(|e| IncentiveError::InvalidParameter {
                        key: "population.miner_quality".into(),
                        value: format!("a = {a}, b = {b}"),
                        expected: format!("valid Beta shapes ({e})"),
                    })?,
                )
            }
            QualityDistribution::Uniform { .. } => None,
        };
        let draw_quality = |r: &mut ChaCha8Rng| match (&beta, &p.miner_quality) {
            (Some(b), _) => b.sample(r),
            (None, QualityDistribution::Uniform { low, high }) => {
                low + r.gen::<f64>() * (high - low)
            }
            (None, QualityDistribution::Beta { .. }) => 0.0,
        };
        let sybil_miners = p.sybil.owners * p.sybil.miners_per_owner;
        let owner_quality: Vec<f64> = (0..p.sybil.owners).map(|_| draw_quality(&mut r)).collect();
        let mut quality = Vec::with_capacity(p.miners);
        let mut miner_owner = Vec::with_capacity(p.miners);
        for m in 0..p.miners {
            if m < sybil_miners {
                let o = m / p.sybil.miners_per_owner.max(1);
                let jitter = (2.0 * r.gen::<f64>() - 1.0) * p.sybil.quality_spread;
                quality.push((owner_quality[o] + jitter).clamp(0.0, 1.0));
                miner_owner.push(p.validators + o);
            } else {
                quality.push(draw_quality(&mut r));
                miner_owner.push(p.validators + p.sybil.owners + (m - sybil_miners));
            }
        }
        let entities = p.validators + p.sybil.owners + (p.miners - sybil_miners);
        let miner_stake = draw_stakes(&p.miner_stake, p.miners, &mut r)?;
        // Delegated share grows with stake rank: 0 for the smallest, `delegated_share` for the
        // largest (ties share a rank by index order).
        let mut order: Vec<usize> = (0..p.validators).collect();
        order.sort_by(|a, b| stake[*a].total_cmp(&stake[*b]).then(a.cmp(b)));
        let mut delegated_fraction = vec![0.0; p.validators];
        for (rank, &v) in order.iter().enumerate() {
            let f = if p.validators > 1 {
                rank as f64 / (p.validators - 1) as f64
            } else {
                1.0
            };
            delegated_fraction[v] = p.delegated_share * f;
        }
        let delegated_stake: Vec<f64> = stake
            .iter()
            .zip(&delegated_fraction)
            .map(|(s, f)| s * f)
            .collect();
        let own_stake: Vec<f64> = stake
            .iter()
            .zip(&delegated_stake)
            .map(|(s, d)| s - d)
            .collect();
        let n_best = ((p.best_miner_fraction * p.miners as f64).ceil() as usize).clamp(1, p.miners);
        let mut by_quality: Vec<usize> = (0..p.miners).collect();
        by_quality.sort_by(|a, b| quality[*b].total_cmp(&quality[*a]).then(a.cmp(b)));
        let mut best = vec![false; p.miners];
        for &m in &by_quality[..n_best] {
            best[m] = true;
        }
        Ok(Self {
            own_stake,
            delegated_stake,
            noise,
            quality,
            miner_stake,
            miner_owner,
            entities,
            best,
        })
    }
}
