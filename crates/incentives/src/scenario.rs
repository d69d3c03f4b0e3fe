//! Scenario files: the population, the emission, Yuma's parameters and one mechanism.
//!
//! A scenario is TOML; unknown keys are errors that name the key, and every range is checked
//! by [`StudyScenario::validate`] with the dotted key in the message. Example:
//!
//! ```toml
//! name = "stake-cap"
//! seed = 7
//! epochs = 100
//!
//! [population]
//! validators = 64
//! miners = 256
//! validator_stake = { kind = "pareto", alpha = 1.16, scale = 1000.0 }
//!
//! [mechanism]
//! kind = "stake_cap"
//! percentile = 75.0
//! ```

use serde::{Deserialize, Serialize};

use crate::engine::StudyYumaParams;
use crate::mechanism::RewardMechanism;
use crate::IncentiveError;

/// One run: who takes part, how much is emitted, and the mechanism that pays them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyScenario {
    /// Short name, used for output folders and table rows.
    pub name: String,
    /// One line on what the run shows.
    #[serde(default)]
    pub description: String,
    /// Seed of every random draw; runs with the same seed and population see the same
    /// validators, miners and observation noise whatever the mechanism.
    pub seed: u64,
    /// Number of epochs.
    pub epochs: u32,
    /// Validators, miners and how they behave.
    pub population: Population,
    /// What each epoch pays out.
    #[serde(default)]
    pub emission: Emission,
    /// Parameters of the Yuma consensus step (unused by `flock_arena`).
    #[serde(default)]
    pub yuma: StudyYumaParams,
    /// The incentive mechanism.
    pub mechanism: RewardMechanism,
}

/// Validators, miners, their stakes and how validators observe miners.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Population {
    /// Number of validators (UIDs `0..validators`).
    pub validators: usize,
    /// Number of miners (UIDs after the validators).
    pub miners: usize,
    /// Initial validator stake.
    pub validator_stake: StakeSource,
    /// Initial miner (trainer) stake; only `flock_arena` uses it.
    #[serde(default = "default_miner_stake")]
    pub miner_stake: StakeSource,
    /// Each miner's true quality in `[0, 1]`, fixed for the run.
    #[serde(default)]
    pub miner_quality: QualityDistribution,
    /// Per-validator observation noise: σ drawn uniformly from `[min, max]`, then every epoch a
    /// validator sees `quality + σ·N(0, 1)`.
    #[serde(default)]
    pub observation_noise: NoiseRange,
    /// Validators weight miners by `max(observed, 0)^sharpness`, scaled to `u16` (max → 65535).
    #[serde(default = "default_sharpness")]
    pub weight_sharpness: f64,
    /// Miners run by one owner (Sybil identities), grouped as one entity in the rewards.
    #[serde(default)]
    pub sybil: Sybil,
    /// Largest share of a validator's stake that is delegated rather than its own; the share
    /// grows with the validator's stake rank (the largest gets all of it, the smallest none).
    #[serde(default)]
    pub delegated_share: f64,
    /// Fraction of miners, by true quality, counted as "the best miners" in the report.
    #[serde(default = "default_best_fraction")]
    pub best_miner_fraction: f64,
}

fn default_miner_stake() -> StakeSource {
    StakeSource::Pareto {
        alpha: 1.5,
        scale: 500.0,
    }
}
fn default_sharpness() -> f64 {
    4.0
}
fn default_best_fraction() -> f64 {
    0.1
}

/// Where stakes come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StakeSource {
    /// Independent Pareto draws: `scale · U^(−1/alpha)` (heavy-tailed for small `alpha`).
    Pareto {
        /// Tail index (> 0); 1.16 is the "80/20" tail.
        alpha: f64,
        /// Minimum stake (> 0).
        scale: f64,
    },
    /// The largest entries of the `stake` array of a JSON file (a path relative to the
    /// scenario file), e.g. the 64 largest stakes of a Bittensor subnet, which are the ones
    /// that hold validator permits. Replaced by `values` when the file is loaded.
    File {
        /// Path of the JSON file, relative to the scenario file.
        path: String,
    },
    /// Explicit stakes, used in the given order (padded with the smallest given value or
    /// truncated to the population size).
    Values {
        /// The stakes.
        values: Vec<f64>,
    },
}

/// Distribution of miners' true quality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum QualityDistribution {
    /// Beta(a, b) on `[0, 1]`.
    Beta {
        /// Shape a > 0.
        a: f64,
        /// Shape b > 0.
        b: f64,
    },
    /// Uniform on `[low, high]` within `[0, 1]`.
    Uniform {
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
    },
}

impl Default for QualityDistribution {
    fn default() -> Self {
        Self::Beta { a: 2.0, b: 5.0 }
    }
}

/// Range of per-validator observation noise σ.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseRange {
    /// Smallest σ.
    pub min: f64,
    /// Largest σ.
    pub max: f64,
}

impl Default for NoiseRange {
    fn default() -> Self {
        Self {
            min: 0.02,
            max: 0.2,
        }
    }
}

/// Sybil miners: `owners` owners each run `miners_per_owner` copies of one model.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sybil {
    /// Number of owners running several miners.
    pub owners: usize,
    /// Miners per owner.
    pub miners_per_owner: usize,
    /// Each copy's quality is the owner's ± up to this much (uniform).
    #[serde(default)]
    pub quality_spread: f64,
}

/// Emission per epoch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Emission {
    /// Emission per epoch as a fraction of the initial total validator stake.
    pub rate: f64,
    /// Share of the emission paid to miners under Yuma-based mechanisms (Bittensor: ½).
    pub miner_share: f64,
}

impl Default for Emission {
    fn default() -> Self {
        Self {
            rate: 0.01,
            miner_share: 0.5,
        }
    }
}

fn invalid(key: &str, value: impl std::fmt::Display, expected: &str) -> IncentiveError {
    IncentiveError::InvalidParameter {
        key: key.to_string(),
        value: value.to_string(),
        expected: expected.to_string(),
    }
}

/// Checks `lo ≤ x ≤ hi` (and finiteness) for the named key.
pub(crate) fn check_range(key: &str, x: f64, lo: f64, hi: f64) -> Result<(), IncentiveError> {
    if x.is_finite() && x >= lo && x <= hi {
        Ok(())
    } else {
        Err(invalid(key, x, &format!("a number in [{lo}, {hi}]")))
    }
}

/// Checks `x > 0` (and finiteness) for the named key.
pub(crate) fn check_positive(key: &str, x: f64) -> Result<(), IncentiveError> {
    if x.is_finite() && x > 0.0 {
        Ok(())
    } else {
        Err(invalid(key, x, "a finite number > 0"))
    }
}

impl StakeSource {
    fn validate(&self, key: &str) -> Result<(), IncentiveError> {
        match self {
            Self::Pareto { alpha, scale } => {
                check_positive(&format!("{key}.alpha"), *alpha)?;
                check_positive(&format!("{key}.scale"), *scale)
            }
            Self::File { .. } => Ok(()),
            Self::Values { values } => {
                if values.is_empty() {
                    return Err(invalid(
                        &format!("{key}.values"),
                        "[]",
                        "at least one value",
                    ));
                }
                for (i, v) in values.iter().enumerate() {
                    if !(v.is_finite() && *v >= 0.0) {
                        return Err(invalid(
                            &format!("{key}.values[{i}]"),
                            v,
                            "a finite number ≥ 0",
                        ));
                    }
                }
                if !values.iter().any(|v| *v > 0.0) {
                    return Err(invalid(
                        &format!("{key}.values"),
                        "all zero",
                        "some positive stake",
                    ));
                }
                Ok(())
            }
        }
    }
}

impl StudyScenario {
    /// Parses and validates a scenario; parse errors name the line and the key.
    pub fn from_toml_str(text: &str) -> Result<Self, IncentiveError> {
        let scenario: Self = toml::from_str(text).map_err(|e| IncentiveError::Parse {
            message: e.to_string(),
        })?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// Paths of stake files the scenario names (relative to the scenario file).
    pub fn stake_files(&self) -> Vec<String> {
        [
            &self.population.validator_stake,
            &self.population.miner_stake,
        ]
        .iter()
        .filter_map(|s| match s {
            StakeSource::File { path } => Some(path.clone()),
            _ => None,
        })
        .collect()
    }

    /// Replaces every `File` stake source by the values `load(path)` returns (the caller does
    /// the I/O; this crate does none). The largest values are kept, as many as there are
    /// validators (or miners).
    pub fn resolve_stake_files<E>(
        &mut self,
        mut load: impl FnMut(&str) -> Result<Vec<f64>, E>,
    ) -> Result<(), E> {
        let p = &mut self.population;
        for (source, count) in [
            (&mut p.validator_stake, p.validators),
            (&mut p.miner_stake, p.miners),
        ] {
            if let StakeSource::File { path } = source {
                let mut values = load(path)?;
                values.sort_by(|a, b| b.total_cmp(a));
                values.truncate(count);
                *source = StakeSource::Values { values };
            }
        }
        Ok(())
    }

    /// Checks every parameter's range; the error names the key.
    pub fn validate(&self) -> Result<(), IncentiveError> {
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(invalid(
                "name",
                &self.name,
                "a non-empty name of letters, digits, '-' and '_'",
            ));
        }
        if self.epochs == 0 || self.epochs > 100_000 {
            return Err(invalid("epochs", self.epochs, "1 ..= 100000"));
        }
        let p = &self.population;
        if p.validators == 0 || p.validators > 4096 {
            return Err(invalid("population.validators", p.validators, "1 ..= 4096"));
        }
        if p.miners == 0 || p.miners > 16384 {
            return Err(invalid("population.miners", p.miners, "1 ..= 16384"));
        }
        p.validator_stake.validate("population.validator_stake")?;
        p.miner_stake.validate("population.miner_stake")?;
        match p.miner_quality {
            QualityDistribution::Beta { a, b } => {
                check_positive("population.miner_quality.a", a)?;
                check_positive("population.miner_quality.b", b)?;
            }
            QualityDistribution::Uniform { low, high } => {
                check_range("population.miner_quality.low", low, 0.0, 1.0)?;
                check_range("population.miner_quality.high", high, low, 1.0)?;
            }
        }
        check_range(
            "population.observation_noise.min",
            p.observation_noise.min,
            0.0,
            10.0,
        )?;
        check_range(
            "population.observation_noise.max",
            p.observation_noise.max,
            p.observation_noise.min,
            10.0,
        )?;
        check_range("population.weight_sharpness", p.weight_sharpness, 0.0, 64.0)?;
        if p.sybil.owners * p.sybil.miners_per_owner > p.miners {
            return Err(invalid(
                "population.sybil",
                format!("{} × {}", p.sybil.owners, p.sybil.miners_per_owner),
                "owners × miners_per_owner ≤ population.miners",
            ));
        }
        check_range(
            "population.sybil.quality_spread",
            p.sybil.quality_spread,
            0.0,
            1.0,
        )?;
        check_range("population.delegated_share", p.delegated_share, 0.0, 1.0)?;
        check_range(
            "population.best_miner_fraction",
            p.best_miner_fraction,
            0.0,
            1.0,
        )?;
        if p.best_miner_fraction <= 0.0 {
            return Err(invalid(
                "population.best_miner_fraction",
                p.best_miner_fraction,
                "a fraction in (0, 1]",
            ));
        }
        check_range("emission.rate", self.emission.rate, 0.0, 1.0)?;
        check_range("emission.miner_share", self.emission.miner_share, 0.0, 1.0)?;
        check_range("yuma.kappa", self.yuma.kappa, 0.0, 1.0)?;
        check_range("yuma.bonds_penalty", self.yuma.bonds_penalty, 0.0, 1.0)?;
        check_range(
            "yuma.bonds_moving_average",
            self.yuma.bonds_moving_average,
            0.0,
            1.0,
        )?;
        self.mechanism.validate()
    }
}
