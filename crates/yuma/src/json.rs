//! The JSON boundary: the shape of `tests/vectors/yuma.json`, converted to and from the
//! fixed-point core. Floats exist only here.
//!
//! Input conversions, chosen so that values the chain can represent come out bit-identical to
//! the chain's own conversion:
//!
//! - `stake`: scaled by the largest power of two `2^k` (k ≤ 64) that keeps every stake below
//!   2^100, then truncated to `u128` — exact for integer stakes and for any stake with no bits
//!   below 2^−k. Normalization is scale-invariant, so this equals normalizing the raw numbers.
//!   `stake_threshold` is scaled the same way (rounded up, so `stake < threshold` is kept).
//! - `kappa`, `bonds_penalty`, `alpha_low`, `alpha_high`, and Yuma3 `bonds_prev`: a value that
//!   is `u/65535` for an integer `u` (within 10^−9) is read as the chain reads the stored `u16`
//!   (`I32F32(u) / 65535`); anything else is rounded to the nearest `I32F32`.
//! - `bonds_moving_average`: `m/10^6` for an integer `m` is read as the chain reads its `u64`
//!   (per million); anything else is rounded to the nearest `I32F32`.
//! - weights, classic bonds, steepness: rounded to the nearest `I32F32` (exact for integers).

use fixed::types::I96F32;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

use crate::epoch::{epoch_fixed, FixedEpochOutput, FixedInput, FixedParams, Masks, Outdated};
use crate::error::YumaError;
use crate::math::{moving_average_from_millionths, u16_proportion, Fx};
use crate::matrix::UidMatrix;

/// One epoch's input, as the `inputs` object of a case in `tests/vectors/yuma.json`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EpochInput {
    /// Stake of each UID (any unit, finite, ≥ 0); its length is the number of UIDs n.
    pub stake: Vec<f64>,
    /// `weights[i][j]`: raw weight UID i sets on UID j, in [0, 65535]; n×n.
    pub weights: Vec<Vec<f64>>,
    /// `bonds_prev[i][j]`: stored bond (classic: the `u16` value in [0, 65535]; Yuma3: the
    /// `u16` divided by 65535, in [0, 1]); n×n. Absent or `null` = no bonds.
    #[serde(default)]
    pub bonds_prev: Option<Vec<Vec<f64>>>,
    /// Parameters; absent fields take subtensor's defaults.
    #[serde(default)]
    pub params: YumaParams,
}

/// Epoch parameters with the JSON field names of the vectors file.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct YumaParams {
    /// κ in [0, 1] (chain default 32767/65535).
    pub kappa: f64,
    /// Bonds penalty in [0, 1] (default 1).
    pub bonds_penalty: f64,
    /// Bonds moving average in [0, 1] (default 0.9).
    pub bonds_moving_average: f64,
    /// Maximum number of validator permits (`null` = no limit).
    pub max_allowed_validators: Option<u64>,
    /// Stakes strictly below this count as 0 (default 0).
    pub stake_threshold: f64,
    /// Permits held before this epoch (`null` = this epoch's new permits).
    pub validator_permits: Option<Vec<bool>>,
    /// Activity per UID (`null` = all active).
    pub active: Option<Vec<bool>>,
    /// Outdated weights: per column `[bool; n]` or per entry `[[bool; n]; n]` (`null` = none).
    pub outdated: Option<OutdatedMask>,
    /// UIDs registered since the last epoch, whose bonds are dropped (`null` = none).
    pub recently_registered: Option<Vec<bool>>,
    /// Subnet owner UID (`null` = none).
    pub owner_uid: Option<u64>,
    /// Yuma3 bonds (default false).
    pub yuma3: bool,
    /// Liquid alpha for Yuma3 bonds (default false).
    pub liquid_alpha: bool,
    /// Lowest liquid alpha (default 0.7).
    pub alpha_low: f64,
    /// Highest liquid alpha (default 0.9).
    pub alpha_high: f64,
    /// Liquid alpha sigmoid steepness (default 1000).
    pub alpha_sigmoid_steepness: f64,
    /// Emission of the epoch (default 1).
    pub emission: f64,
}

impl Default for YumaParams {
    fn default() -> YumaParams {
        YumaParams {
            kappa: 32767.0 / 65535.0,
            bonds_penalty: 1.0,
            bonds_moving_average: 0.9,
            max_allowed_validators: None,
            stake_threshold: 0.0,
            validator_permits: None,
            active: None,
            outdated: None,
            recently_registered: None,
            owner_uid: None,
            yuma3: false,
            liquid_alpha: false,
            alpha_low: 0.7,
            alpha_high: 0.9,
            alpha_sigmoid_steepness: 1000.0,
            emission: 1.0,
        }
    }
}

/// The `outdated` mask: one flag per column, or one per entry.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum OutdatedMask {
    /// `[bool; n]`: every weight on UID j is outdated.
    Columns(Vec<bool>),
    /// `[[bool; n]; n]`: the weight of UID i on UID j is outdated.
    Matrix(Vec<Vec<bool>>),
}

impl<'de> Deserialize<'de> for OutdatedMask {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        let expected = "an array of booleans (one per UID) or an n×n array of booleans";
        let serde_json::Value::Array(items) = value else {
            return Err(D::Error::custom(format!(
                "expected {expected}, got {value}"
            )));
        };
        if items.iter().all(|v| v.is_array()) && !items.is_empty() {
            let rows = items
                .iter()
                .map(|row| {
                    row.as_array()
                        .map(|r| r.iter().map(|v| v.as_bool()).collect::<Option<Vec<bool>>>())
                        .unwrap_or(None)
                })
                .collect::<Option<Vec<Vec<bool>>>>()
                .ok_or_else(|| D::Error::custom(format!("expected {expected}")))?;
            Ok(OutdatedMask::Matrix(rows))
        } else {
            let cols = items
                .iter()
                .map(|v| v.as_bool())
                .collect::<Option<Vec<bool>>>()
                .ok_or_else(|| D::Error::custom(format!("expected {expected}")))?;
            Ok(OutdatedMask::Columns(cols))
        }
    }
}

/// Every output of one epoch, with the field names of `expected` in the vectors file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochOutput {
    /// Stake after the threshold, normalized.
    pub stake_normalized: Vec<f64>,
    /// Permits the epoch used.
    pub validator_permits_used: Vec<bool>,
    /// Permits for the next epoch.
    pub new_validator_permits: Vec<bool>,
    /// Active permitted stake, normalized.
    pub active_stake: Vec<f64>,
    /// Masked, row-normalized weights.
    pub weights_normalized: Vec<Vec<f64>>,
    /// Stake-weighted median per column at κ.
    pub consensus: Vec<f64>,
    /// Weights clipped at consensus.
    pub clipped_weights: Vec<Vec<f64>>,
    /// Row sums of clipped weights.
    pub validator_trust: Vec<f64>,
    /// Ranks before clipping.
    pub preranks: Vec<f64>,
    /// Ranks after clipping (not normalized).
    pub ranks: Vec<f64>,
    /// `ranks / preranks`.
    pub trust_legacy: Vec<f64>,
    /// Normalized ranks.
    pub incentive: Vec<f64>,
    /// Weights the bonds are computed from.
    pub weights_for_bonds: Vec<Vec<f64>>,
    /// Classic bonds delta (`null` for Yuma3).
    pub bonds_delta: Option<Vec<Vec<f64>>>,
    /// Liquid alphas (`null` unless Yuma3 with liquid alpha and some consensus).
    pub liquid_alphas: Option<Vec<Vec<f64>>>,
    /// EMA bonds (classic: column-normalized).
    pub ema_bonds: Vec<Vec<f64>>,
    /// Bonds as stored (classic: column max-upscaled), in [0, 1].
    pub bonds_out: Vec<Vec<f64>>,
    /// Normalized dividends.
    pub dividends: Vec<f64>,
    /// Incentive share of the emission.
    pub normalized_server_emission: Vec<f64>,
    /// Dividend share of the emission.
    pub normalized_validator_emission: Vec<f64>,
    /// Combined share.
    pub normalized_combined_emission: Vec<f64>,
    /// Server emission.
    pub server_emission: Vec<f64>,
    /// Validator emission.
    pub validator_emission: Vec<f64>,
    /// Combined emission.
    pub combined_emission: Vec<f64>,
    /// Stored bonds, `floor(65535 · bonds_out)`.
    pub bonds_out_u16: Vec<Vec<u16>>,
}

/// A whole case of the vectors file (`inputs` is the only field read).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    #[serde(default)]
    #[allow(dead_code)]
    name: Option<serde_json::Value>,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<serde_json::Value>,
    inputs: EpochInput,
    #[serde(default)]
    #[allow(dead_code)]
    expected: Option<serde_json::Value>,
    #[serde(default)]
    #[allow(dead_code)]
    robustness: Option<serde_json::Value>,
}

/// Parses one case of the vectors file (`{"name", "inputs", "expected", ...}`) or just its
/// `inputs` object. Errors name the offending path, e.g. `inputs.weights[2][1]`.
pub fn parse_epoch_input(text: &str) -> Result<EpochInput, YumaError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| YumaError::Json {
        path: ".".into(),
        message: e.to_string(),
    })?;
    let is_case = value.get("inputs").is_some();
    let to_error = |e: serde_path_to_error::Error<serde_json::Error>| YumaError::Json {
        path: e.path().to_string(),
        message: e.inner().to_string(),
    };
    if is_case {
        serde_path_to_error::deserialize::<_, Case>(value)
            .map(|c| c.inputs)
            .map_err(to_error)
    } else {
        serde_path_to_error::deserialize::<_, EpochInput>(value).map_err(to_error)
    }
}

fn ratio_or_nearest(x: f64, denominator: f64) -> Option<u64> {
    let scaled = x * denominator;
    let rounded = scaled.round();
    ((scaled - rounded).abs() <= 1e-9 * denominator.max(1.0) && rounded >= 0.0)
        .then_some(rounded as u64)
}

/// A [0, 1] parameter: the chain's `u16/65535` when it is one, else the nearest `I32F32`.
fn unit_param(name: &'static str, x: f64) -> Result<Fx, YumaError> {
    if !(x.is_finite() && (0.0..=1.0).contains(&x)) {
        return Err(YumaError::ParamOutOfRange {
            name,
            value: x,
            accepted: "a finite number in [0, 1]",
        });
    }
    Ok(match ratio_or_nearest(x, 65535.0) {
        Some(u) => u16_proportion(u16::try_from(u).unwrap_or(u16::MAX)),
        None => Fx::from_num(x),
    })
}

fn moving_average_param(x: f64) -> Result<Fx, YumaError> {
    if !(x.is_finite() && (0.0..=1.0).contains(&x)) {
        return Err(YumaError::ParamOutOfRange {
            name: "bonds_moving_average",
            value: x,
            accepted: "a finite number in [0, 1]",
        });
    }
    Ok(match ratio_or_nearest(x, 1e6) {
        Some(m) => moving_average_from_millionths(m),
        None => Fx::from_num(x),
    })
}

fn matrix_param(
    name: &'static str,
    rows: &[Vec<f64>],
    n: usize,
    max: f64,
    convert: impl Fn(f64) -> Fx,
) -> Result<UidMatrix<Fx>, YumaError> {
    if rows.len() != n {
        return Err(YumaError::LengthMismatch {
            name,
            len: rows.len(),
            expected: n,
        });
    }
    let mut m = UidMatrix::new(n);
    for (row, values) in rows.iter().enumerate() {
        if values.len() != n {
            return Err(YumaError::RaggedMatrix {
                name,
                row,
                len: values.len(),
                expected: n,
            });
        }
        for (col, &v) in values.iter().enumerate() {
            if !(v.is_finite() && (0.0..=max).contains(&v)) {
                return Err(YumaError::InvalidEntry {
                    name,
                    row,
                    col,
                    value: v,
                    min: 0.0,
                    max,
                });
            }
        }
        if values.iter().any(|&v| v != 0.0) {
            let fixed: Vec<Fx> = values.iter().map(|&v| convert(v)).collect();
            m.push_row(name, row, &fixed)?;
        }
    }
    Ok(m)
}

/// Binary exponent `e` with `x < 2^e` for finite `x > 0`.
fn exponent_bound(x: f64) -> i32 {
    let biased = ((x.to_bits() >> 52) & 0x7ff) as i32;
    if biased == 0 {
        -1022 // subnormal: below 2^-1022
    } else {
        biased - 1022
    }
}

fn stakes_to_amounts(stake: &[f64], threshold: f64) -> Result<(Vec<u128>, u128), YumaError> {
    let mut max = 0.0f64;
    for (uid, &s) in stake.iter().enumerate() {
        if !(s.is_finite() && s >= 0.0 && s < 2f64.powi(100)) {
            return Err(YumaError::InvalidStake { uid, value: s });
        }
        max = max.max(s);
    }
    if !(threshold.is_finite() && threshold >= 0.0) {
        return Err(YumaError::ParamOutOfRange {
            name: "stake_threshold",
            value: threshold,
            accepted: "a finite number >= 0",
        });
    }
    let k = if max > 0.0 {
        (100 - exponent_bound(max)).clamp(0, 64)
    } else {
        64
    };
    let scale = 2f64.powi(k);
    // Multiplying by a power of two is exact; the cast truncates bits below 2^-k.
    let amounts = stake.iter().map(|&s| (s * scale) as u128).collect();
    let t = (threshold * scale).ceil();
    let threshold = if t >= 2f64.powi(128) {
        u128::MAX
    } else {
        t as u128
    };
    Ok((amounts, threshold))
}

impl EpochInput {
    /// Converts to the fixed-point core's input, validating every field.
    pub fn to_fixed(&self) -> Result<FixedInput, YumaError> {
        let n = self.stake.len();
        if n > 1 << 16 {
            return Err(YumaError::TooManyUids { n });
        }
        let p = &self.params;
        let (stake, stake_threshold) = stakes_to_amounts(&self.stake, p.stake_threshold)?;
        let weights = matrix_param("weights", &self.weights, n, 65535.0, Fx::from_num)?;
        let bonds = match &self.bonds_prev {
            None => UidMatrix::new(n),
            Some(rows) if p.yuma3 => matrix_param("bonds_prev", rows, n, 1.0, |b| {
                match ratio_or_nearest(b, 65535.0) {
                    Some(u) => u16_proportion(u16::try_from(u).unwrap_or(u16::MAX)),
                    None => Fx::from_num(b),
                }
            })?,
            Some(rows) => matrix_param("bonds_prev", rows, n, 65535.0, Fx::from_num)?,
        };
        let steep = p.alpha_sigmoid_steepness;
        if !(steep.is_finite() && steep.abs() <= 1e6) {
            return Err(YumaError::ParamOutOfRange {
                name: "alpha_sigmoid_steepness",
                value: steep,
                accepted: "a finite number in [-1e6, 1e6] (the chain uses an i16)",
            });
        }
        if !(p.emission.is_finite() && p.emission >= 0.0 && p.emission < 2f64.powi(95)) {
            return Err(YumaError::ParamOutOfRange {
                name: "emission",
                value: p.emission,
                accepted: "a finite number in [0, 2^95)",
            });
        }
        let owner_uid = p
            .owner_uid
            .map(|o| usize::try_from(o).unwrap_or(usize::MAX));
        let params = FixedParams {
            kappa: unit_param("kappa", p.kappa)?,
            bonds_penalty: unit_param("bonds_penalty", p.bonds_penalty)?,
            bonds_moving_average: moving_average_param(p.bonds_moving_average)?,
            max_allowed_validators: p
                .max_allowed_validators
                .map(|k| usize::try_from(k).unwrap_or(usize::MAX)),
            stake_threshold,
            owner_uid,
            yuma3: p.yuma3,
            liquid_alpha: p.liquid_alpha,
            alpha_low: unit_param("alpha_low", p.alpha_low)?,
            alpha_high: unit_param("alpha_high", p.alpha_high)?,
            alpha_sigmoid_steepness: Fx::from_num(steep),
            emission: I96F32::from_num(p.emission),
        };
        let outdated = match &p.outdated {
            None => Outdated::None,
            Some(OutdatedMask::Columns(c)) => Outdated::Columns(c.clone()),
            Some(OutdatedMask::Matrix(m)) => Outdated::Matrix(m.clone()),
        };
        Ok(FixedInput {
            stake,
            weights,
            bonds,
            masks: Masks {
                validator_permits: p.validator_permits.clone(),
                active: p.active.clone(),
                outdated,
                recently_registered: p.recently_registered.clone(),
            },
            params,
        })
    }
}

fn vec_f64(v: &[Fx]) -> Vec<f64> {
    v.iter().map(|x| x.to_num::<f64>()).collect()
}

fn dense_f64(m: &UidMatrix<Fx>) -> Vec<Vec<f64>> {
    m.to_dense().iter().map(|row| vec_f64(row)).collect()
}

impl EpochOutput {
    /// Converts the fixed-point output to floats (exact: every `I32F32` in range is an `f64`).
    pub fn from_fixed(out: &FixedEpochOutput) -> EpochOutput {
        let emission = |v: &[I96F32]| v.iter().map(|x| x.to_num::<f64>()).collect::<Vec<f64>>();
        let liquid_alphas = out.liquid_alphas.as_ref().map(|la| {
            let n = la.rows.n();
            (0..n)
                .map(|i| match la.rows.row(i) {
                    Some(row) => vec_f64(row),
                    None => vec_f64(&la.other_rows),
                })
                .collect()
        });
        EpochOutput {
            stake_normalized: vec_f64(&out.stake),
            validator_permits_used: out.validator_permits.clone(),
            new_validator_permits: out.new_validator_permits.clone(),
            active_stake: vec_f64(&out.active_stake),
            weights_normalized: dense_f64(&out.weights),
            consensus: vec_f64(&out.consensus),
            clipped_weights: dense_f64(&out.clipped_weights),
            validator_trust: vec_f64(&out.validator_trust),
            preranks: vec_f64(&out.preranks),
            ranks: vec_f64(&out.ranks),
            trust_legacy: vec_f64(&out.trust),
            incentive: vec_f64(&out.incentive),
            weights_for_bonds: dense_f64(&out.weights_for_bonds),
            bonds_delta: out.bonds_delta.as_ref().map(dense_f64),
            liquid_alphas,
            ema_bonds: dense_f64(&out.ema_bonds),
            bonds_out: dense_f64(&out.bonds_out),
            dividends: vec_f64(&out.dividends),
            normalized_server_emission: vec_f64(&out.normalized_server_emission),
            normalized_validator_emission: vec_f64(&out.normalized_validator_emission),
            normalized_combined_emission: vec_f64(&out.normalized_combined_emission),
            server_emission: emission(&out.server_emission),
            validator_emission: emission(&out.validator_emission),
            combined_emission: emission(&out.combined_emission),
            bonds_out_u16: out.bonds_out_u16.to_dense(),
        }
    }
}

/// Runs one epoch on a JSON-shaped input: validates and converts it to fixed point, runs
/// [`epoch_fixed`], and converts every output back to `f64`.
pub fn run_epoch(input: &EpochInput) -> Result<EpochOutput, YumaError> {
    let fixed = input.to_fixed()?;
    let out = epoch_fixed(&fixed)?;
    Ok(EpochOutput::from_fixed(&out))
}
