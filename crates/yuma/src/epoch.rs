//! The fixed-point epoch: integer stakes, `I32F32` weights and bonds in, `I32F32` consensus,
//! incentive, dividends, emission shares and new bonds out. See the crate docs for the steps.

use fixed::types::I96F32;
use rayon::prelude::*;

use crate::error::YumaError;
use crate::math::{
    alpha_from_diff, alpha_from_diff_lanes, alpha_sigmoid, checked_mul, fixed_proportion_to_u16,
    inplace_normalize, inplace_normalize_using_sum, is_topk_nonzero,
    moving_average_from_millionths, mul, safe_div, sigmoid_slope, u16_proportion,
    weighted_median_sorted, Fx, Recip, LANES, ONE, ZERO,
};
use crate::matrix::UidMatrix;

/// Epoch parameters in the chain's own representation.
#[derive(Clone, Debug, PartialEq)]
pub struct FixedParams {
    /// Consensus majority ratio κ in [0, 1]: the stake share that must support a weight.
    pub kappa: Fx,
    /// Bonds penalty in [0, 1]: 0 bonds on raw weights, 1 on weights clipped at consensus.
    pub bonds_penalty: Fx,
    /// Bonds moving average in [0, 1]; the EMA weight of the new bonds is `1 − this`.
    pub bonds_moving_average: Fx,
    /// Validator permits go to the `k` largest non-zero stakes; `None` = no limit.
    pub max_allowed_validators: Option<usize>,
    /// Stakes strictly below this (same unit as the stakes) count as 0, except the owner's.
    pub stake_threshold: u128,
    /// Subnet owner UID: keeps its self-weight, its permit and its stake below the threshold.
    pub owner_uid: Option<usize>,
    /// Yuma3 bonds (absolute per validator, in [0, 1]) instead of classic column-normalized bonds.
    pub yuma3: bool,
    /// Liquid alpha: per-bond EMA rate from the buy/sell distance (Yuma3 only).
    pub liquid_alpha: bool,
    /// Lowest liquid alpha, in [0, 1].
    pub alpha_low: Fx,
    /// Highest liquid alpha, in [alpha_low, 1].
    pub alpha_high: Fx,
    /// Sigmoid steepness of liquid alpha (the chain stores an `i16`; divided by −100 inside).
    pub alpha_sigmoid_steepness: Fx,
    /// Total emission of the epoch; absolute emissions are `normalized × emission`.
    pub emission: I96F32,
}

impl FixedParams {
    /// Subtensor's defaults: κ = 32767/65535, bonds penalty 1, bonds moving average 0.9, no
    /// validator limit, no stake threshold, classic bonds, alpha (45875, 58982)/65535,
    /// steepness 1000, emission 1.
    pub fn chain_defaults() -> FixedParams {
        FixedParams {
            kappa: u16_proportion(32767),
            bonds_penalty: u16_proportion(u16::MAX),
            bonds_moving_average: moving_average_from_millionths(900_000),
            max_allowed_validators: None,
            stake_threshold: 0,
            owner_uid: None,
            yuma3: false,
            liquid_alpha: false,
            alpha_low: u16_proportion(45875),
            alpha_high: u16_proportion(58982),
            alpha_sigmoid_steepness: Fx::from_num(1000),
            emission: I96F32::ONE,
        }
    }
}

/// Which weights refer to a UID that re-registered after the weight was set.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Outdated {
    /// No weight is outdated.
    #[default]
    None,
    /// `columns[j]`: every weight on UID j is outdated.
    Columns(Vec<bool>),
    /// `matrix[i][j]`: the weight of UID i on UID j is outdated.
    Matrix(Vec<Vec<bool>>),
    /// As on chain: weight (i, j) is outdated when `last_update[i] <= block_at_registration[j]`.
    Blocks {
        /// Block at which each UID last set weights.
        last_update: Vec<u64>,
        /// Block at which each UID last registered.
        block_at_registration: Vec<u64>,
    },
}

impl Outdated {
    fn validate(&self, n: usize) -> Result<(), YumaError> {
        match self {
            Outdated::None => Ok(()),
            Outdated::Columns(c) => check_len("outdated", c.len(), n),
            Outdated::Matrix(m) => {
                check_len("outdated", m.len(), n)?;
                for (row, r) in m.iter().enumerate() {
                    if r.len() != n {
                        return Err(YumaError::RaggedMatrix {
                            name: "outdated",
                            row,
                            len: r.len(),
                            expected: n,
                        });
                    }
                }
                Ok(())
            }
            Outdated::Blocks {
                last_update,
                block_at_registration,
            } => {
                check_len("last_update", last_update.len(), n)?;
                check_len("block_at_registration", block_at_registration.len(), n)
            }
        }
    }

    /// Clears the outdated entries of the weight row of `uid`.
    fn mask_row(&self, uid: usize, row: &mut [Fx]) {
        match self {
            Outdated::None => {}
            Outdated::Columns(c) => {
                for (v, &o) in row.iter_mut().zip(c) {
                    if o {
                        *v = ZERO;
                    }
                }
            }
            Outdated::Matrix(m) => {
                if let Some(mask) = m.get(uid) {
                    for (v, &o) in row.iter_mut().zip(mask) {
                        if o {
                            *v = ZERO;
                        }
                    }
                }
            }
            Outdated::Blocks {
                last_update,
                block_at_registration,
            } => {
                let updated = last_update.get(uid).copied().unwrap_or(0);
                for (v, &registered) in row.iter_mut().zip(block_at_registration) {
                    if updated <= registered {
                        *v = ZERO;
                    }
                }
            }
        }
    }
}

/// The masks the chain derives from blocks and registrations.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Masks {
    /// Validator permits held before this epoch; `None` = this epoch's new permits (steady
    /// state). Rows without a permit have their weights ignored and no active stake.
    pub validator_permits: Option<Vec<bool>>,
    /// Whether each UID set weights within the activity cutoff; `None` = all active.
    pub active: Option<Vec<bool>>,
    /// Weights on UIDs that re-registered since they were set.
    pub outdated: Outdated,
    /// UIDs registered since the last epoch: bonds on them are dropped. `None` = none.
    pub recently_registered: Option<Vec<bool>>,
}

/// Everything one epoch reads, in integer / fixed-point form.
#[derive(Clone, Debug, PartialEq)]
pub struct FixedInput {
    /// Stake of each UID in any integer unit (e.g. the ledger's `Amount`); its length is n.
    pub stake: Vec<u128>,
    /// Raw weights `w[i][j]` that UID i set on UID j (the chain's stored `u16` values, any row
    /// scale); non-negative.
    pub weights: UidMatrix<Fx>,
    /// Bonds as the epoch reads them: classic — the stored `u16` value as an integer (any
    /// column scale); Yuma3 — the stored `u16` divided by 65535 (see [`bonds_from_u16`]).
    pub bonds: UidMatrix<Fx>,
    /// Validator permits and activity/registration masks.
    pub masks: Masks,
    /// Parameters.
    pub params: FixedParams,
}

/// Liquid alphas used for the Yuma3 bond EMA.
#[derive(Clone, Debug, PartialEq)]
pub struct LiquidAlphas {
    /// Alphas of the rows the epoch worked on.
    pub rows: UidMatrix<Fx>,
    /// Alpha of column j for every other row (weight 0, bond 0).
    pub other_rows: Vec<Fx>,
}

/// Every quantity of one epoch, named as in subtensor's `epoch_mechanism`.
///
/// Matrices hold the rows of the UIDs that can be non-zero anywhere in the epoch (permitted
/// validators with weights, UIDs with active stake, UIDs with bonds); all other rows are zero.
#[derive(Clone, Debug, PartialEq)]
pub struct FixedEpochOutput {
    /// Stake after the threshold, normalized to sum 1.
    pub stake: Vec<Fx>,
    /// Validator permits the epoch used (input permits, owner forced on).
    pub validator_permits: Vec<bool>,
    /// Permits for the next epoch: top-k non-zero stake, owner forced on.
    pub new_validator_permits: Vec<bool>,
    /// Stake of active permitted validators, normalized.
    pub active_stake: Vec<Fx>,
    /// Weights after masking (permits, self-weight, outdated), row-normalized.
    pub weights: UidMatrix<Fx>,
    /// Stake-weighted median of each column at κ.
    pub consensus: Vec<Fx>,
    /// Weights clipped at consensus.
    pub clipped_weights: UidMatrix<Fx>,
    /// Row sums of the clipped weights.
    pub validator_trust: Vec<Fx>,
    /// `Σ_i active_stake_i · w_ij` before clipping (legacy, not used on chain).
    pub preranks: Vec<Fx>,
    /// `Σ_i active_stake_i · clipped_ij`, not normalized.
    pub ranks: Vec<Fx>,
    /// `ranks / preranks` (legacy server trust, 0 where preranks is 0).
    pub trust: Vec<Fx>,
    /// Ranks normalized to sum 1 (or all 0).
    pub incentive: Vec<Fx>,
    /// `weights + bonds_penalty · (clipped − weights)`.
    pub weights_for_bonds: UidMatrix<Fx>,
    /// Classic only: `weights_for_bonds ∘ active_stake`, column-normalized.
    pub bonds_delta: Option<UidMatrix<Fx>>,
    /// Yuma3 with liquid alpha (and some non-zero consensus) only.
    pub liquid_alphas: Option<LiquidAlphas>,
    /// New bonds: classic — EMA column-normalized; Yuma3 — EMA (absolute).
    pub ema_bonds: UidMatrix<Fx>,
    /// Bonds to store: classic — `ema_bonds` column max-upscaled; Yuma3 — `ema_bonds`. Rows
    /// without a new validator permit are cleared.
    pub bonds_out: UidMatrix<Fx>,
    /// `bonds_out` as stored on chain: `floor(65535 · b)`.
    pub bonds_out_u16: UidMatrix<u16>,
    /// Dividends, normalized to sum 1 (or all 0).
    pub dividends: Vec<Fx>,
    /// Incentive share of the emission.
    pub normalized_server_emission: Vec<Fx>,
    /// Dividend share of the emission (stake share when nothing was earned).
    pub normalized_validator_emission: Vec<Fx>,
    /// Total share of each UID.
    pub normalized_combined_emission: Vec<Fx>,
    /// `normalized_server_emission × emission`.
    pub server_emission: Vec<I96F32>,
    /// `normalized_validator_emission × emission`.
    pub validator_emission: Vec<I96F32>,
    /// `normalized_combined_emission × emission`.
    pub combined_emission: Vec<I96F32>,
}

/// Reads stored `u16` bonds the way the epoch does: classic keeps the integer value, Yuma3
/// divides by 65535.
pub fn bonds_from_u16(stored: &UidMatrix<u16>, yuma3: bool) -> UidMatrix<Fx> {
    if yuma3 {
        stored.map(u16_proportion)
    } else {
        stored.map(Fx::from_num)
    }
}

/// Raw `u16` weights as the epoch reads them.
pub fn weights_from_u16(stored: &UidMatrix<u16>) -> UidMatrix<Fx> {
    stored.map(Fx::from_num)
}

fn check_len(name: &'static str, len: usize, expected: usize) -> Result<(), YumaError> {
    if len == expected {
        Ok(())
    } else {
        Err(YumaError::LengthMismatch {
            name,
            len,
            expected,
        })
    }
}

fn check_unit(name: &'static str, v: Fx) -> Result<(), YumaError> {
    if v < ZERO || v > ONE {
        return Err(YumaError::ParamOutOfRange {
            name,
            value: v.to_num::<f64>(),
            accepted: "a number in [0, 1]",
        });
    }
    Ok(())
}

fn check_non_negative(name: &'static str, m: &UidMatrix<Fx>) -> Result<(), YumaError> {
    for (row, values) in m.rows() {
        if let Some(col) = values.iter().position(|&v| v < ZERO) {
            let value = values.get(col).copied().unwrap_or(ZERO).to_num::<f64>();
            return Err(YumaError::InvalidEntry {
                name,
                row,
                col,
                value,
                min: 0.0,
                max: Fx::MAX.to_num::<f64>(),
            });
        }
    }
    Ok(())
}

fn validate(input: &FixedInput) -> Result<usize, YumaError> {
    let n = input.stake.len();
    if n > 1 << 16 {
        return Err(YumaError::TooManyUids { n });
    }
    check_len("weights", input.weights.n(), n)?;
    check_len("bonds_prev", input.bonds.n(), n)?;
    check_non_negative("weights", &input.weights)?;
    check_non_negative("bonds_prev", &input.bonds)?;
    let m = &input.masks;
    if let Some(v) = &m.validator_permits {
        check_len("validator_permits", v.len(), n)?;
    }
    if let Some(v) = &m.active {
        check_len("active", v.len(), n)?;
    }
    if let Some(v) = &m.recently_registered {
        check_len("recently_registered", v.len(), n)?;
    }
    m.outdated.validate(n)?;
    let p = &input.params;
    check_unit("kappa", p.kappa)?;
    check_unit("bonds_penalty", p.bonds_penalty)?;
    check_unit("bonds_moving_average", p.bonds_moving_average)?;
    check_unit("alpha_low", p.alpha_low)?;
    check_unit("alpha_high", p.alpha_high)?;
    if p.alpha_low > p.alpha_high {
        return Err(YumaError::ParamOutOfRange {
            name: "alpha_low",
            value: p.alpha_low.to_num::<f64>(),
            accepted: "a number in [0, alpha_high]",
        });
    }
    if p.emission < I96F32::ZERO {
        return Err(YumaError::ParamOutOfRange {
            name: "emission",
            value: p.emission.to_num::<f64>(),
            accepted: "a number >= 0",
        });
    }
    if let Some(owner) = p.owner_uid {
        if owner >= n {
            return Err(YumaError::UidOutOfRange {
                name: "owner_uid",
                uid: owner,
                n,
            });
        }
    }
    Ok(n)
}

/// `floor(s · 2^32 / total)` as `I32F32` bits for `s <= total`, `total > 0`: the chain's
/// `I64F64` normalization followed by truncation to `I32F32`, computed exactly.
fn amount_share(s: u128, total: u128) -> Fx {
    if s >= total {
        return ONE;
    }
    let mut r = s;
    let mut q: i64 = 0;
    for _ in 0..32 {
        q <<= 1;
        // 2r >= total, without overflow.
        if r >= total - r {
            r -= total - r;
            q |= 1;
        } else {
            r += r;
        }
    }
    Fx::from_bits(q)
}

/// Columns handled by one parallel task in column-wise passes.
const COL_CHUNK: usize = 256;

/// Folds every column of the row-major `rows × n` matrix over its rows, top to bottom.
/// Columns are independent, so splitting them across threads cannot change any result.
fn col_fold(m: &[Fx], n: usize, init: Fx, f: impl Fn(Fx, Fx) -> Fx + Sync) -> Vec<Fx> {
    let mut out = vec![init; n];
    if n == 0 {
        return out;
    }
    out.par_chunks_mut(COL_CHUNK)
        .enumerate()
        .for_each(|(ci, acc)| {
            let j0 = ci * COL_CHUNK;
            for row in m.chunks_exact(n) {
                if let Some(seg) = row.get(j0..j0 + acc.len()) {
                    for (a, &v) in acc.iter_mut().zip(seg) {
                        *a = f(*a, v);
                    }
                }
            }
        });
    out
}

/// Column sums (saturating, top to bottom, as subtensor's `inplace_col_normalize`).
fn col_sums(m: &[Fx], n: usize) -> Vec<Fx> {
    col_fold(m, n, ZERO, |a, v| a.saturating_add(v))
}

/// Divides every column by its divisor; columns whose divisor is 0 are left unchanged.
fn divide_cols(m: &mut [Fx], n: usize, divisors: &[Fx]) {
    if n == 0 {
        return;
    }
    let recips: Vec<Option<Recip>> = divisors
        .iter()
        .map(|&s| (s != ZERO).then(|| Recip::new(s)))
        .collect();
    m.par_chunks_mut(n).for_each(|row| {
        for (v, r) in row.iter_mut().zip(&recips) {
            if let Some(r) = r {
                *v = r.div(*v);
            }
        }
    });
}

/// Sets every column to sum 1 (subtensor's `inplace_col_normalize`).
fn col_normalize(m: &mut [Fx], n: usize) {
    let sums = col_sums(m, n);
    divide_cols(m, n, &sums);
}

/// Stake-weighted median of every column over the rows `rows` (positions in the row-major
/// matrix) with normalized stakes `use_stake`. Columns are independent (one result each), so
/// they are computed in parallel blocks.
fn consensus_columns(
    w: &[Fx],
    n: usize,
    rows: &[usize],
    use_stake: &[Fx],
    minority: Fx,
) -> Vec<Fx> {
    const BLOCK: usize = 64;
    let mut consensus = vec![ZERO; n];
    if rows.is_empty() || n == 0 {
        return consensus;
    }
    let u = rows.len();
    consensus.par_chunks_mut(BLOCK).enumerate().for_each_init(
        || vec![0u64; BLOCK * u],
        |keys, (bi, out)| {
            let j0 = bi * BLOCK;
            let width = out.len();
            for (k, &pos) in rows.iter().enumerate() {
                let start = pos * n + j0;
                let Some(segment) = w.get(start..start + width) else {
                    continue;
                };
                for (jj, &v) in segment.iter().enumerate() {
                    // Normalized weights are in [0, 1]: bits in [0, 2^32], so the key fits.
                    let bits = v.to_bits().max(0) as u64;
                    if let Some(slot) = keys.get_mut(jj * u + k) {
                        *slot = (bits << 16) | k as u64;
                    }
                }
            }
            for (jj, c) in out.iter_mut().enumerate() {
                if let Some(col_keys) = keys.get_mut(jj * u..(jj + 1) * u) {
                    *c = weighted_median_sorted(col_keys, use_stake, minority);
                }
            }
        },
    );
    consensus
}

/// Runs one epoch in fixed point.
///
/// Validation errors are returned before any computation; the computation itself cannot fail.
/// Work is spread over rayon's threads only where every result is computed independently (per
/// row, per column, per entry), so the output is the same for any number of threads.
pub fn epoch_fixed(input: &FixedInput) -> Result<FixedEpochOutput, YumaError> {
    let n = validate(input)?;
    let p = &input.params;
    let masks = &input.masks;
    let owner = p.owner_uid;
    let width = n.max(1);

    // == Stake ==
    let filtered: Vec<u128> = input
        .stake
        .iter()
        .enumerate()
        .map(|(uid, &s)| {
            if owner != Some(uid) && s < p.stake_threshold {
                0
            } else {
                s
            }
        })
        .collect();
    let total = filtered
        .iter()
        .try_fold(0u128, |acc, &s| acc.checked_add(s))
        .ok_or(YumaError::StakeOverflow)?;
    let stake: Vec<Fx> = if total == 0 {
        vec![ZERO; n]
    } else {
        filtered.iter().map(|&s| amount_share(s, total)).collect()
    };

    // == Validator permits ==
    let mut new_validator_permits = is_topk_nonzero(&stake, p.max_allowed_validators.unwrap_or(n));
    let mut validator_permits = masks
        .validator_permits
        .clone()
        .unwrap_or_else(|| new_validator_permits.clone());
    if let Some(o) = owner {
        for permits in [&mut validator_permits, &mut new_validator_permits] {
            if let Some(cell) = permits.get_mut(o) {
                *cell = true;
            }
        }
    }
    let permitted = |uid: usize| validator_permits.get(uid).copied().unwrap_or(false);

    // == Active stake ==
    let mut active_stake: Vec<Fx> = stake
        .iter()
        .enumerate()
        .map(|(uid, &s)| {
            let active = masks
                .active
                .as_ref()
                .is_none_or(|a| a.get(uid).copied().unwrap_or(false));
            if active && permitted(uid) {
                s
            } else {
                ZERO
            }
        })
        .collect();
    inplace_normalize(&mut active_stake);

    // == Rows the epoch works on: every other row is zero in every matrix ==
    let mut in_rows = vec![false; n];
    for (uid, &s) in active_stake.iter().enumerate() {
        in_rows[uid] |= s > ZERO;
    }
    for &uid in input.weights.row_uids() {
        in_rows[uid] |= permitted(uid);
    }
    for &uid in input.bonds.row_uids() {
        in_rows[uid] = true;
    }
    let row_uids: Vec<usize> = (0..n).filter(|&uid| in_rows[uid]).collect();
    let r_count = row_uids.len();
    let row_stake: Vec<Fx> = row_uids.iter().map(|&uid| active_stake[uid]).collect();

    // == Weights: permit, self-weight and outdated masks, row normalization ==
    let mut w = vec![ZERO; r_count * n];
    w.par_chunks_mut(width)
        .zip(row_uids.par_iter())
        .for_each(|(row, &uid)| {
            if !permitted(uid) {
                return;
            }
            let Some(values) = input.weights.row(uid) else {
                return;
            };
            row.copy_from_slice(values);
            if owner != Some(uid) {
                row[uid] = ZERO;
            }
            masks.outdated.mask_row(uid, row);
            let row_sum = row.iter().fold(ZERO, |a, &v| a.saturating_add(v));
            if row_sum > ZERO {
                let recip = Recip::new(row_sum);
                for v in row.iter_mut() {
                    *v = recip.div(*v);
                }
            }
        });

    // == Consensus: stake-weighted median at κ ==
    let median_rows: Vec<usize> = (0..r_count).filter(|&pos| row_stake[pos] > ZERO).collect();
    let mut use_stake: Vec<Fx> = median_rows.iter().map(|&pos| row_stake[pos]).collect();
    inplace_normalize(&mut use_stake);
    let stake_sum = use_stake.iter().fold(ZERO, |a, &v| a.saturating_add(v));
    let minority = stake_sum.saturating_sub(p.kappa);
    let consensus = consensus_columns(&w, n, &median_rows, &use_stake, minority);

    // == Clipping and validator trust ==
    let mut clipped = vec![ZERO; r_count * n];
    let row_trust: Vec<Fx> = clipped
        .par_chunks_mut(width)
        .zip(w.par_chunks(width))
        .map(|(c_row, w_row)| {
            let mut trust = ZERO;
            for ((c, &v), &cj) in c_row.iter_mut().zip(w_row).zip(&consensus) {
                *c = v.min(cj);
                trust = trust.saturating_add(*c);
            }
            trust
        })
        .collect();
    let mut validator_trust = vec![ZERO; n];
    for (&uid, &t) in row_uids.iter().zip(&row_trust) {
        validator_trust[uid] = t;
    }

    // == Ranks and incentive: r_j = Σ_i s_i · w_ij over rows with active stake ==
    let mut preranks = vec![ZERO; n];
    let mut ranks = vec![ZERO; n];
    preranks
        .par_chunks_mut(COL_CHUNK)
        .zip(ranks.par_chunks_mut(COL_CHUNK))
        .enumerate()
        .for_each(|(ci, (pre, post))| {
            let j0 = ci * COL_CHUNK;
            for &pos in &median_rows {
                let s = row_stake[pos];
                let start = pos * n + j0;
                let (Some(wr), Some(cr)) = (
                    w.get(start..start + pre.len()),
                    clipped.get(start..start + pre.len()),
                ) else {
                    continue;
                };
                for (((a, b), &wv), &cv) in pre.iter_mut().zip(post.iter_mut()).zip(wr).zip(cr) {
                    *a = a.saturating_add(mul(s, wv));
                    *b = b.saturating_add(mul(s, cv));
                }
            }
        });
    let trust: Vec<Fx> = ranks
        .iter()
        .zip(&preranks)
        .map(|(&r, &pr)| safe_div(r, pr))
        .collect();
    let mut incentive = ranks.clone();
    inplace_normalize(&mut incentive);

    // == Bonds ==
    let penalty = p.bonds_penalty;
    let wfb: Vec<Fx> = if penalty == ZERO {
        w.clone()
    } else if penalty == ONE {
        clipped.clone()
    } else {
        w.par_iter()
            .zip(clipped.par_iter())
            .map(|(&a, &c)| a.saturating_add(mul(penalty, c.saturating_sub(a))))
            .collect()
    };
    let mut bonds = vec![ZERO; r_count * n];
    bonds
        .par_chunks_mut(width)
        .zip(row_uids.par_iter())
        .for_each(|(row, &uid)| {
            let Some(values) = input.bonds.row(uid) else {
                return;
            };
            row.copy_from_slice(values);
            if let Some(recent) = &masks.recently_registered {
                for (v, &r) in row.iter_mut().zip(recent) {
                    if r {
                        *v = ZERO;
                    }
                }
            }
        });
    let ema_alpha = ONE.saturating_sub(p.bonds_moving_average);
    let one_minus_alpha = ONE.saturating_sub(ema_alpha);
    let mut row_dividends = vec![ZERO; r_count];
    let mut bonds_delta = None;
    let mut liquid_alphas = None;
    let ema: Vec<Fx>;
    let mut bonds_out: Vec<Fx>;
    if p.yuma3 {
        let use_liquid = p.liquid_alpha && consensus.iter().any(|&c| c != ZERO);
        if use_liquid {
            let (low, high, steep) = (p.alpha_low, p.alpha_high, p.alpha_sigmoid_steepness);
            let slope = sigmoid_slope(steep);
            // Alpha at a zero distance is by far the most common value: compute it once.
            let alpha_zero = alpha_from_diff(ZERO, low, high, slope);
            let mut alphas = vec![ZERO; r_count * n];
            let mut e = vec![ZERO; r_count * n];
            alphas
                .par_chunks_mut(width)
                .zip(e.par_chunks_mut(width))
                .zip(wfb.par_chunks(width).zip(bonds.par_chunks(width)))
                .for_each_init(Vec::new, |pending, ((a_row, e_row), (w_row, b_row))| {
                    // Distances that need the sigmoid are gathered and evaluated LANES at a time.
                    pending.clear();
                    for (j, ((a, &wv), (&bv, &c))) in a_row
                        .iter_mut()
                        .zip(w_row)
                        .zip(b_row.iter().zip(&consensus))
                        .enumerate()
                    {
                        let diff = if wv >= bv {
                            wv.saturating_sub(c).min(ONE).max(ZERO)
                        } else {
                            bv.saturating_sub(wv).min(ONE).max(ZERO)
                        };
                        if diff == ZERO {
                            *a = alpha_zero;
                        } else {
                            pending.push((j, diff));
                        }
                    }
                    for batch in pending.chunks(LANES) {
                        let mut diffs = [ZERO; LANES];
                        for (d, &(_, diff)) in diffs.iter_mut().zip(batch) {
                            *d = diff;
                        }
                        let batch_alphas = alpha_from_diff_lanes(diffs, low, high, slope);
                        for (&(j, _), &a) in batch.iter().zip(&batch_alphas) {
                            if let Some(cell) = a_row.get_mut(j) {
                                *cell = a;
                            }
                        }
                    }
                    for ((ev, &a), (&wv, &bv)) in e_row
                        .iter_mut()
                        .zip(a_row.iter())
                        .zip(w_row.iter().zip(b_row))
                    {
                        let decayed = mul(ONE.saturating_sub(a), bv);
                        let inc = mul(a, wv).max(ZERO);
                        *ev = decayed.saturating_add(inc).min(ONE);
                    }
                });
            let other_rows = consensus
                .iter()
                .map(|&c| alpha_sigmoid(c, ZERO, ZERO, low, high, steep))
                .collect();
            liquid_alphas = Some(LiquidAlphas {
                rows: UidMatrix::from_parts(n, row_uids.clone(), alphas),
                other_rows,
            });
            ema = e;
        } else {
            ema = wfb
                .par_iter()
                .zip(bonds.par_iter())
                .map(|(&nw, &o)| mul(ema_alpha, nw).saturating_add(mul(one_minus_alpha, o)))
                .collect();
        }
        let mut ema_norm = ema.clone();
        col_normalize(&mut ema_norm, n);
        // d_i = s_i · Σ_j ema_norm_ij · incentive_j
        ema_norm
            .par_chunks(width)
            .zip(row_dividends.par_iter_mut())
            .zip(row_stake.par_iter())
            .for_each(|((row, d), &s)| {
                let total = row
                    .iter()
                    .zip(&incentive)
                    .fold(ZERO, |a, (&b, &i)| a.saturating_add(mul(b, i)));
                *d = checked_mul(total, s).unwrap_or(ZERO);
            });
        bonds_out = ema.clone();
    } else {
        col_normalize(&mut bonds, n);
        // ΔB = W ∘ S, column-normalized.
        let mut delta = vec![ZERO; r_count * n];
        delta
            .par_chunks_mut(width)
            .zip(wfb.par_chunks(width))
            .zip(row_stake.par_iter())
            .for_each(|((d_row, w_row), &s)| {
                for (d, &v) in d_row.iter_mut().zip(w_row) {
                    *d = mul(v, s);
                }
            });
        col_normalize(&mut delta, n);
        // EMA into the bonds buffer, column-normalized.
        bonds
            .par_chunks_mut(width)
            .zip(delta.par_chunks(width))
            .for_each(|(o_row, d_row)| {
                for (o, &d) in o_row.iter_mut().zip(d_row) {
                    *o = mul(ema_alpha, d).saturating_add(mul(one_minus_alpha, *o));
                }
            });
        col_normalize(&mut bonds, n);
        // d_i = Σ_j ema_ij · incentive_j
        bonds
            .par_chunks(width)
            .zip(row_dividends.par_iter_mut())
            .for_each(|(row, d)| {
                *d = row
                    .iter()
                    .zip(&incentive)
                    .fold(ZERO, |a, (&b, &i)| a.saturating_add(mul(i, b)));
            });
        // Column max-upscale for storage.
        let maxes = col_fold(&bonds, n, ZERO, |m, v| if m < v { v } else { m });
        bonds_out = bonds.clone();
        divide_cols(&mut bonds_out, n, &maxes);
        bonds_delta = Some(UidMatrix::from_parts(n, row_uids.clone(), delta));
        ema = bonds;
    }
    let mut dividends = vec![ZERO; n];
    for (&uid, &d) in row_uids.iter().zip(&row_dividends) {
        dividends[uid] = d;
    }
    inplace_normalize(&mut dividends);
    // Rows that lose (or never had) a permit store no bonds.
    let mut bonds_out_u16 = vec![0u16; r_count * n];
    bonds_out
        .par_chunks_mut(width)
        .zip(bonds_out_u16.par_chunks_mut(width))
        .zip(row_uids.par_iter())
        .for_each(|((row, row_u16), &uid)| {
            if new_validator_permits[uid] {
                for (u, &b) in row_u16.iter_mut().zip(row.iter()) {
                    *u = fixed_proportion_to_u16(b);
                }
            } else {
                row.fill(ZERO);
            }
        });

    // == Emission ==
    let combined: Vec<Fx> = incentive
        .iter()
        .zip(&dividends)
        .map(|(&i, &d)| i.saturating_add(d))
        .collect();
    let emission_sum = combined.iter().fold(ZERO, |a, &v| a.saturating_add(v));
    let mut normalized_server_emission = incentive.clone();
    let mut normalized_validator_emission = dividends.clone();
    let mut normalized_combined_emission = combined;
    inplace_normalize_using_sum(&mut normalized_server_emission, emission_sum);
    inplace_normalize_using_sum(&mut normalized_validator_emission, emission_sum);
    inplace_normalize(&mut normalized_combined_emission);
    if emission_sum == ZERO {
        let fallback = if active_stake.iter().all(|&s| s == ZERO) {
            &stake
        } else {
            &active_stake
        };
        normalized_validator_emission.clone_from(fallback);
        normalized_combined_emission.clone_from(fallback);
    }
    let scale = |v: &[Fx]| -> Vec<I96F32> {
        v.iter()
            .map(|&x| I96F32::saturating_from_num(x).saturating_mul(p.emission))
            .collect()
    };
    let server_emission = scale(&normalized_server_emission);
    let validator_emission = scale(&normalized_validator_emission);
    let combined_emission = scale(&normalized_combined_emission);

    let matrix = |data: Vec<Fx>| UidMatrix::from_parts(n, row_uids.clone(), data);
    Ok(FixedEpochOutput {
        stake,
        validator_permits,
        new_validator_permits,
        active_stake,
        weights: matrix(w),
        consensus,
        clipped_weights: matrix(clipped),
        validator_trust,
        preranks,
        ranks,
        trust,
        incentive,
        weights_for_bonds: matrix(wfb),
        bonds_delta,
        liquid_alphas,
        ema_bonds: matrix(ema),
        bonds_out: matrix(bonds_out),
        bonds_out_u16: UidMatrix::from_parts(n, row_uids.clone(), bonds_out_u16),
        dividends,
        normalized_server_emission,
        normalized_validator_emission,
        normalized_combined_emission,
        server_emission,
        validator_emission,
        combined_emission,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amount_share_is_exact_floor() {
        for (s, t) in [
            (1u128, 3u128),
            (2, 3),
            (0, 5),
            (5, 5),
            (7, 1 << 90),
            (12345, 1 << 64),
        ] {
            assert_eq!(
                amount_share(s, t).to_bits() as u128,
                (s << 32) / t,
                "{s}/{t}"
            );
        }
        // 2^128 − 1 is divisible by 3, so this share is exactly 1/3.
        assert_eq!(
            amount_share(u128::MAX / 3, u128::MAX).to_bits(),
            (1i64 << 32) / 3
        );
    }
}
