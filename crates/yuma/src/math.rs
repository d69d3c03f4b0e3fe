//! I32F32 arithmetic with subtensor's rounding, and the building blocks of the epoch.
//!
//! Every operation is integer arithmetic on the raw `i64` bits of an [`I32F32`]
//! (`value = bits / 2^32`), so results are identical on every machine:
//!
//! - `a * b` is `floor(a·b)` on the bits (the `fixed` crate and `substrate-fixed` both shift the
//!   `i128` product right, rounding toward −∞); saturating where subtensor saturates.
//! - `a / b` is `trunc(a·2^32 / b)`; [`safe_div`] returns 0 on a zero divisor or an overflow,
//!   as subtensor's `SafeDiv`.
//! - Additions of non-negative values are exact, so sums do not depend on their order.
//!
//! [`Recip`] divides many numerators by one divisor with a precomputed reciprocal and an exact
//! integer correction step: it returns the same bits as [`safe_div`], only faster.

use fixed::types::{I32F32, I64F64};

/// The fixed-point type of the epoch, as on chain.
pub type Fx = I32F32;

/// 0.
pub const ZERO: Fx = Fx::ZERO;
/// 1.
pub const ONE: Fx = Fx::ONE;

/// `u16::MAX` as a fixed-point number.
pub const U16_MAX: Fx = Fx::const_from_int(65535);

/// `a · b` saturating, rounded toward −∞: the same bits as `I32F32::saturating_mul` (and
/// subtensor's), from one 64×64→128-bit product instead of the generic widening path.
#[inline]
pub fn mul(a: Fx, b: Fx) -> Fx {
    let p = (i128::from(a.to_bits()) * i128::from(b.to_bits())) >> 32;
    match i64::try_from(p) {
        Ok(bits) => Fx::from_bits(bits),
        Err(_) if p < 0 => Fx::MIN,
        Err(_) => Fx::MAX,
    }
}

/// `a · b` rounded toward −∞, `None` on overflow (`I32F32::checked_mul`).
#[inline]
pub fn checked_mul(a: Fx, b: Fx) -> Option<Fx> {
    let p = (i128::from(a.to_bits()) * i128::from(b.to_bits())) >> 32;
    i64::try_from(p).ok().map(Fx::from_bits)
}

/// `a / b`, 0 when `b == 0` or the quotient overflows (subtensor's `safe_div`).
#[inline]
pub fn safe_div(a: Fx, b: Fx) -> Fx {
    a.checked_div(b).unwrap_or(ZERO)
}

/// `a / b` saturating on overflow, 0 on a zero divisor (`substrate-fixed`'s `saturating_div`,
/// which would panic on zero; callers only pass non-zero divisors).
#[inline]
pub fn saturating_div(a: Fx, b: Fx) -> Fx {
    if b == ZERO {
        return ZERO;
    }
    match a.checked_div(b) {
        Some(q) => q,
        None if (a < ZERO) != (b < ZERO) => Fx::MIN,
        None => Fx::MAX,
    }
}

/// Saturating sum (exact unless it saturates, so independent of order for non-negative terms).
#[inline]
pub fn sum(x: &[Fx]) -> Fx {
    x.iter().fold(ZERO, |acc, &v| acc.saturating_add(v))
}

/// `x / Σx` in place; unchanged when the sum is 0 (subtensor's `inplace_normalize`).
pub fn inplace_normalize(x: &mut [Fx]) {
    let total = sum(x);
    if total == ZERO {
        return;
    }
    let recip = Recip::new(total);
    for v in x.iter_mut() {
        *v = recip.div(*v);
    }
}

/// `x / total` in place; unchanged when `total` is 0 (subtensor's `inplace_normalize_using_sum`).
pub fn inplace_normalize_using_sum(x: &mut [Fx], total: Fx) {
    if total == ZERO {
        return;
    }
    let recip = Recip::new(total);
    for v in x.iter_mut() {
        *v = recip.div(*v);
    }
}

/// Exact `a / b` for many `a` and one `b`, bit-identical to [`safe_div`].
///
/// For `b > 0` and `0 <= a < b·2^31` it computes `q = floor(a·2^32 / b)` as
/// `(a·m) >> s` with `m = floor(2^(62+len(b)) / b)`, which undershoots `q` by at most 1, and then
/// corrects with the exact remainder `a·2^32 − q·b` (all in `u128`). Anything else — negative
/// operands, a zero divisor, an overflowing quotient — goes through [`safe_div`].
#[derive(Clone, Copy, Debug)]
pub struct Recip {
    divisor: Fx,
    /// Divisor bits (0 when the divisor is not positive: every division takes the slow path).
    b: u64,
    /// `floor(2^(shift + 32) / b)`, in `(2^62, 2^63]`.
    m: u64,
    shift: u32,
}

impl Recip {
    /// Prepares division by `divisor`.
    pub fn new(divisor: Fx) -> Recip {
        let bits = divisor.to_bits();
        if bits <= 0 {
            return Recip {
                divisor,
                b: 0,
                m: 0,
                shift: 0,
            };
        }
        let b = bits as u64;
        let len = 64 - b.leading_zeros(); // 1..=63
        let k = 62 + len; // 63..=125
        let m = ((1u128 << k) / u128::from(b)) as u64; // in (2^62, 2^63]
        Recip {
            divisor,
            b,
            m,
            shift: k - 32,
        }
    }

    /// `a / divisor` with [`safe_div`] semantics.
    #[inline]
    pub fn div(&self, a: Fx) -> Fx {
        let bits = a.to_bits();
        if bits == 0 && self.b != 0 {
            return ZERO;
        }
        // Fast path needs 0 <= a < b·2^31, i.e. floor(a / 2^31) < b.
        if self.b == 0 || bits < 0 || ((bits as u64) >> 31) >= self.b {
            return safe_div(a, self.divisor);
        }
        let a = bits as u64;
        // q0 = floor(a·m / 2^(shift)) undershoots floor(a·2^32 / b) by at most 1.
        let mut q = ((u128::from(a) * u128::from(self.m)) >> self.shift) as u64;
        // The remainder a·2^32 − q0·b is in [0, 2b) ⊂ [0, 2^64), so it is exact modulo 2^64.
        let b = self.b;
        let mut r = (a << 32).wrapping_sub(q.wrapping_mul(b));
        while r >= b {
            q += 1;
            r -= b;
        }
        // a < b·2^31 ⇒ q < 2^63.
        Fx::from_bits(q as i64)
    }
}

/// `x / 65535`: a stored `u16` proportion as a fixed-point number
/// (subtensor's `u16_proportion_to_fixed`, `get_float_kappa`, `get_float_bonds_penalty`).
pub fn u16_proportion(x: u16) -> Fx {
    safe_div(Fx::from_num(x), U16_MAX)
}

/// `floor(x · 65535)` saturated to `u16` (subtensor's `fixed_proportion_to_u16`).
pub fn fixed_proportion_to_u16(x: Fx) -> u16 {
    x.saturating_mul(U16_MAX).saturating_to_num::<u16>()
}

/// `bonds_moving_average / 10^6` as subtensor reads it (`I64F64` division, then truncated to
/// `I32F32`); the EMA weight of the new value is `1 − this`.
pub fn moving_average_from_millionths(bonds_moving_average: u64) -> Fx {
    let bma = I64F64::saturating_from_num(bonds_moving_average)
        .checked_div(I64F64::from_num(1_000_000))
        .unwrap_or(I64F64::ZERO);
    Fx::saturating_from_num(bma)
}

/// Top-`k` non-zero entries, ties broken toward the higher index (subtensor's
/// `is_topk_nonzero`: a stable ascending sort, then the `n − k` first are dropped).
pub fn is_topk_nonzero(vector: &[Fx], k: usize) -> Vec<bool> {
    let n = vector.len();
    let mut result: Vec<bool> = vector.iter().map(|&v| v != ZERO).collect();
    if n < k {
        return result;
    }
    let mut idxs: Vec<usize> = (0..n).collect();
    idxs.sort_by_key(|&i| vector.get(i).copied().unwrap_or(ZERO));
    for &i in idxs.iter().take(n - k) {
        if let Some(cell) = result.get_mut(i) {
            *cell = false;
        }
    }
    result
}

/// Stake-weighted median by subtensor's partition algorithm, verbatim (`weighted_median` in
/// `epoch/math.rs`).
///
/// Returns the score `v` at which the stake of scores `<= v` first exceeds `minority`
/// (scanning scores upward), the largest score if it never does, and 0 for an empty partition.
/// `partition_lo`/`partition_hi` are the stake below and up to the partition (0 and the total
/// stake on the first call).
pub fn weighted_median(
    stake: &[Fx],
    score: &[Fx],
    partition_idx: &[usize],
    minority: Fx,
    mut partition_lo: Fx,
    mut partition_hi: Fx,
) -> Fx {
    if stake.len() != score.len() {
        return ZERO;
    }
    let get = |v: &[Fx], i: usize| v.get(i).copied().unwrap_or(ZERO);
    let mut current: Vec<usize> = partition_idx.to_vec();
    let mut lower: Vec<usize> = Vec::new();
    let mut upper: Vec<usize> = Vec::new();
    let limit = partition_idx.len();
    let mut iterations = 0usize;
    loop {
        let n = current.len();
        if n == 0 {
            return ZERO;
        }
        if n == 1 {
            return current.first().map(|&i| get(score, i)).unwrap_or(ZERO);
        }
        let pivot = get(score, current.get(n / 2).copied().unwrap_or(0));
        let mut lo_stake = ZERO;
        let mut hi_stake = ZERO;
        for &idx in &current {
            let s = get(score, idx);
            if s == pivot {
                continue;
            }
            if s < pivot {
                lo_stake = lo_stake.saturating_add(get(stake, idx));
                lower.push(idx);
            } else {
                hi_stake = hi_stake.saturating_add(get(stake, idx));
                upper.push(idx);
            }
        }
        if minority < partition_lo.saturating_add(lo_stake) && !lower.is_empty() {
            std::mem::swap(&mut current, &mut lower);
            partition_hi = partition_lo.saturating_add(lo_stake);
        } else if partition_hi.saturating_sub(hi_stake) <= minority && !upper.is_empty() {
            std::mem::swap(&mut current, &mut upper);
            partition_lo = partition_hi.saturating_sub(hi_stake);
        } else {
            return pivot;
        }
        lower.clear();
        upper.clear();
        iterations += 1;
        if iterations > limit {
            return ZERO;
        }
    }
}

/// The same median as [`weighted_median`] over all entries, by sorting: `keyed` holds
/// `(score bits << 16) | index` for non-negative scores below 2^47 and `stake[index]`; it is
/// sorted in place. Additions of the non-negative stakes are exact, so scanning the sorted
/// scores and returning the first whose cumulative stake exceeds `minority` reproduces the
/// partition algorithm bit for bit.
pub(crate) fn weighted_median_sorted(keyed: &mut [u64], stake: &[Fx], minority: Fx) -> Fx {
    if keyed.is_empty() {
        return ZERO;
    }
    keyed.sort_unstable();
    let score_of = |k: u64| Fx::from_bits((k >> 16) as i64);
    let mut cumulative = ZERO;
    let mut i = 0;
    let len = keyed.len();
    while i < len {
        let value = keyed[i] >> 16;
        while i < len && keyed[i] >> 16 == value {
            let idx = (keyed[i] & 0xFFFF) as usize;
            cumulative = cumulative.saturating_add(stake.get(idx).copied().unwrap_or(ZERO));
            i += 1;
        }
        if cumulative > minority {
            return score_of(value << 16);
        }
    }
    score_of(keyed[len - 1])
}

/// Stake-weighted median of each column of a dense score matrix at `majority` (subtensor's
/// `weighted_median_col`): rows with zero stake are skipped, the remaining stakes are
/// renormalized, and each column's median is taken at `minority = Σstake − majority`.
pub fn weighted_median_col(stake: &[Fx], score: &[Vec<Fx>], majority: Fx) -> Vec<Fx> {
    let columns = score.first().map_or(0, |r| r.len());
    (0..columns)
        .map(|c| {
            let mut use_stake = Vec::new();
            let mut use_score = Vec::new();
            for (r, &st) in stake.iter().enumerate() {
                if st > ZERO {
                    match score.get(r) {
                        Some(row) if row.len() == columns => {
                            use_stake.push(st);
                            use_score.push(row.get(c).copied().unwrap_or(ZERO));
                        }
                        _ => {
                            use_stake.push(ZERO);
                            use_score.push(ZERO);
                        }
                    }
                }
            }
            if use_stake.is_empty() {
                return ZERO;
            }
            inplace_normalize(&mut use_stake);
            let stake_sum = sum(&use_stake);
            let minority = stake_sum.saturating_sub(majority);
            median_of(&use_stake, &use_score, minority, stake_sum)
        })
        .collect()
}

/// One weighted median: by sorting when every score is in `[0, 2^15)` (the epoch's case),
/// otherwise by the partition algorithm. Both give the same value.
pub(crate) fn median_of(stake: &[Fx], score: &[Fx], minority: Fx, stake_sum: Fx) -> Fx {
    let sortable = score.len() <= 1 << 16
        && score.iter().all(|s| (0..1i64 << 47).contains(&s.to_bits()))
        && stake.iter().all(|s| *s >= ZERO);
    if sortable {
        let mut keys: Vec<u64> = score
            .iter()
            .enumerate()
            .map(|(k, s)| ((s.to_bits() as u64) << 16) | k as u64)
            .collect();
        weighted_median_sorted(&mut keys, stake, minority)
    } else {
        let idx: Vec<usize> = (0..score.len()).collect();
        weighted_median(stake, score, &idx, minority, ZERO, stake_sum)
    }
}

/// `exp(x)` exactly as `substrate_fixed::transcendental::exp::<I32F32, I32F32>`: the Taylor
/// series to the 31st term with truncating fixed-point steps, `1/exp(−x)` for negative `x`.
/// `None` where that function returns an error (overflow).
pub fn exp(x: Fx) -> Option<Fx> {
    if x == ZERO {
        return Some(ONE);
    }
    if x == ONE {
        // substrate-fixed returns its I9F23 constant E: floor(e·2^23)/2^23.
        return Some(Fx::from_bits(22_802_600_i64 << 9));
    }
    let neg = x < ZERO;
    let operand = if neg { x.checked_neg()? } else { x };
    let mut result = operand.checked_add(ONE)?;
    let mut term = operand;
    for i in 2..32i64 {
        term = checked_mul(term, operand)?;
        // Division by the integer i: (t·2^32)/(i·2^32) truncates exactly like t/i on the bits.
        term = Fx::from_bits(div_small(term.to_bits(), i));
        result = result.checked_add(term)?;
        if term == ZERO {
            // Every later term is 0 too (0·x = 0, 0/i = 0).
            break;
        }
    }
    if neg {
        result = ONE.checked_div(result)?;
    }
    Some(result)
}

/// `floor(2^64 / d)` for the divisors of the exp series.
const SMALL_RECIPROCALS: [u64; 32] = {
    let mut table = [0u64; 32];
    let mut d = 2;
    while d < 32 {
        table[d] = (u64::MAX / d as u64)
            + if u64::MAX % d as u64 == d as u64 - 1 {
                1
            } else {
                0
            };
        d += 1;
    }
    table
};

/// `t / d` truncated, for `2 <= d < 32`: a multiply by `floor(2^64/d)` undershoots `t/d` by
/// less than 1, and one remainder check corrects it. Other inputs use the `/` operator.
#[inline]
fn div_small(t: i64, d: i64) -> i64 {
    let (Ok(du), true) = (usize::try_from(d), t >= 0) else {
        return t.checked_div(d).unwrap_or(0);
    };
    let Some(&m) = SMALL_RECIPROCALS.get(du).filter(|&&m| m != 0) else {
        return t.checked_div(d).unwrap_or(0);
    };
    let mut q = ((u128::from(t as u64) * u128::from(m)) >> 64) as i64;
    if t - q * d >= d {
        q += 1;
    }
    q
}

/// Inputs evaluated together by [`exp_safe_lanes`] and [`alpha_from_diff_lanes`]: their
/// Taylor chains are independent, so the CPU overlaps the multiply latencies of the lanes.
pub(crate) const LANES: usize = 4;

/// `floor(2^64 / d)` for `d >= 2^32`: the bits of `1 / D` for an `I32F32` `D >= 1`, exactly as
/// `ONE.checked_div(D)` (truncating; the quotient is at most `2^32`, so it cannot overflow).
#[inline]
fn one_over(d: u64) -> u64 {
    debug_assert!(d >= 1 << 32);
    // floor((2^64 − 1) / d) is one less than floor(2^64 / d) exactly when d divides 2^64.
    u64::MAX / d + u64::from(d.is_power_of_two())
}

/// [`exp_safe`] of `LANES` inputs, bit-identical to it lane by lane.
///
/// After the clamp to [−20, 20] the Taylor series cannot overflow: every truncated term is at
/// most the true term `20^i / i! < 2^26`, a product before its division is below
/// `20 · 2^26 · 2^32 < 2^63`, and the sum is below `e^20 < 2^29`. So the steps run on `u64`
/// without the checks of [`exp`]; lanes whose series has ended add zero terms until all have.
pub(crate) fn exp_safe_lanes(x: [Fx; LANES]) -> [Fx; LANES] {
    let limit = Fx::from_num(20);
    let mut operand = [0u64; LANES];
    let mut neg = [false; LANES];
    let mut is_one = [false; LANES];
    for l in 0..LANES {
        let v = x[l].clamp(-limit, limit);
        is_one[l] = v == ONE;
        neg[l] = v < ZERO;
        operand[l] = v.to_bits().unsigned_abs();
    }
    let mut result = [0u64; LANES];
    let mut term = operand;
    for l in 0..LANES {
        result[l] = operand[l] + (1 << 32);
    }
    for (i, &m) in SMALL_RECIPROCALS.iter().enumerate().skip(2) {
        let d = i as u64;
        let mut any = 0u64;
        for l in 0..LANES {
            let p = ((u128::from(term[l]) * u128::from(operand[l])) >> 32) as u64;
            let mut q = ((u128::from(p) * u128::from(m)) >> 64) as u64;
            if p - q * d >= d {
                q += 1;
            }
            term[l] = q;
            result[l] += q;
            any |= q;
        }
        if any == 0 {
            break;
        }
    }
    let mut out = [ZERO; LANES];
    for l in 0..LANES {
        let bits = if is_one[l] {
            // substrate-fixed returns its I9F23 constant E at exactly 1 (see `exp`).
            22_802_600_u64 << 9
        } else if neg[l] {
            one_over(result[l])
        } else {
            result[l]
        };
        out[l] = Fx::from_bits(bits as i64);
    }
    out
}

/// [`alpha_from_diff`] of `LANES` combined distances, bit-identical to it lane by lane.
pub(crate) fn alpha_from_diff_lanes(
    combined: [Fx; LANES],
    alpha_low: Fx,
    alpha_high: Fx,
    slope: Fx,
) -> [Fx; LANES] {
    let half = Fx::from_bits(1 << 31);
    let exponents = combined.map(|c| mul(slope, c.saturating_sub(half)));
    let exps = exp_safe_lanes(exponents);
    let span = alpha_high.saturating_sub(alpha_low);
    exps.map(|e| {
        // e >= 0 is below 2^61 bits, so 1 + e neither saturates nor falls below 1.
        let sigmoid = Fx::from_bits(one_over((ONE + e).to_bits() as u64) as i64);
        let alpha = alpha_low.saturating_add(mul(sigmoid, span));
        alpha.min(alpha_high).max(alpha_low)
    })
}

/// `exp` with the input clamped to [−20, 20] and errors mapped to 0 or the maximum
/// (subtensor's `exp_safe`).
pub fn exp_safe(input: Fx) -> Fx {
    let min = Fx::from_num(-20);
    let max = Fx::from_num(20);
    let safe = input.clamp(min, max);
    match exp(safe) {
        Some(v) => v,
        None if safe <= ZERO => ZERO,
        None => Fx::MAX,
    }
}

/// Liquid alpha of one (validator, miner) bond (subtensor's `alpha_sigmoid`).
///
/// `combined_diff` is the buy distance `clamp(w − c, 0, 1)` when the weight `w` is at least the
/// bond `b`, the sell distance `clamp(b − w, 0, 1)` otherwise;
/// `alpha = low + sigmoid·(high − low)` with `sigmoid = 1 / (1 + exp(−steepness/100 ·
/// (combined_diff − 0.5)))`, clamped to `[low, high]`.
pub fn alpha_sigmoid(
    consensus: Fx,
    weight: Fx,
    bond: Fx,
    alpha_low: Fx,
    alpha_high: Fx,
    steepness: Fx,
) -> Fx {
    let diff_buy = weight.saturating_sub(consensus).min(ONE).max(ZERO);
    let diff_sell = bond.saturating_sub(weight).min(ONE).max(ZERO);
    let combined = if weight >= bond { diff_buy } else { diff_sell };
    alpha_from_diff(combined, alpha_low, alpha_high, sigmoid_slope(steepness))
}

/// `steepness / −100`, the slope of the liquid-alpha sigmoid (computed once per epoch).
pub(crate) fn sigmoid_slope(steepness: Fx) -> Fx {
    saturating_div(steepness, Fx::from_num(-100))
}

/// The sigmoid part of [`alpha_sigmoid`] for a given combined distance; `slope` is
/// [`sigmoid_slope`] of the steepness.
pub(crate) fn alpha_from_diff(combined: Fx, alpha_low: Fx, alpha_high: Fx, slope: Fx) -> Fx {
    let half = Fx::from_bits(1 << 31);
    let exponent = mul(slope, combined.saturating_sub(half));
    let sigmoid = saturating_div(ONE, ONE.saturating_add(exp_safe(exponent)));
    let alpha = alpha_low.saturating_add(mul(sigmoid, alpha_high.saturating_sub(alpha_low)));
    // clamp_value(alpha, low, high) = alpha.min(high).max(low)
    alpha.min(alpha_high).max(alpha_low)
}

/// Max-upscales `u16` weights so the largest becomes 65535 (subtensor's
/// `vec_u16_max_upscale_to_u16`, applied by `set_weights` before weights are stored).
pub fn max_upscale_u16(vec: &[u16]) -> Vec<u16> {
    let fixed: Vec<Fx> = vec.iter().map(|&e| Fx::from_num(e)).collect();
    let threshold = Fx::from_num(32768);
    let Some(&max) = fixed.iter().max() else {
        return Vec::new();
    };
    if max == ZERO {
        return fixed
            .iter()
            .map(|e| e.saturating_mul(U16_MAX).saturating_to_num::<u16>())
            .collect();
    }
    if max > threshold {
        let scale = safe_div(U16_MAX, max);
        return fixed
            .iter()
            .map(|e| round_away(e.saturating_mul(scale)).saturating_to_num::<u16>())
            .collect();
    }
    fixed
        .iter()
        .map(|e| round_away(safe_div(e.saturating_mul(U16_MAX), max)).saturating_to_num::<u16>())
        .collect()
}

/// Round to nearest, ties away from zero (saturating).
fn round_away(x: Fx) -> Fx {
    x.checked_round()
        .unwrap_or(if x < ZERO { Fx::MIN } else { Fx::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(x: f64) -> Fx {
        Fx::from_num(x)
    }

    #[test]
    fn recip_matches_checked_div_on_edges() {
        let divisors = [
            1i64,
            2,
            3,
            7,
            65535,
            1 << 31,
            (1 << 32) + 1,
            1 << 40,
            i64::MAX,
        ];
        let numerators = [
            0i64,
            1,
            2,
            12345,
            (1 << 32) - 1,
            1 << 32,
            1 << 40,
            1 << 62,
            i64::MAX,
        ];
        for &b in &divisors {
            let r = Recip::new(Fx::from_bits(b));
            for &a in &numerators {
                let a = Fx::from_bits(a);
                assert_eq!(r.div(a), safe_div(a, Fx::from_bits(b)), "{a:?}/{b}");
                assert_eq!(r.div(-a), safe_div(-a, Fx::from_bits(b)));
            }
        }
        let zero = Recip::new(ZERO);
        assert_eq!(zero.div(ONE), ZERO);
    }

    #[test]
    fn exp_matches_known_values() {
        // exp(0) = 1, exp(1) = substrate-fixed's E constant.
        assert_eq!(exp(ZERO), Some(ONE));
        assert!((exp(ONE).map(|v| v.to_num::<f64>()).unwrap_or(0.0) - 2.718_281_7).abs() < 1e-6);
        for x in [-5.0, -1.5, -0.25, 0.3, 2.0, 5.0] {
            let got = exp(f(x)).map(|v| v.to_num::<f64>()).unwrap_or(f64::NAN);
            assert!(
                (got - x.exp()).abs() < 1e-6 * x.exp().max(1.0),
                "exp({x}) = {got}"
            );
        }
        assert_eq!(exp_safe(f(-1000.0)), exp_safe(f(-20.0)));
    }

    /// splitmix64, for test inputs.
    fn next(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    #[test]
    fn recip_matches_safe_div_on_random_operands() {
        let mut state = 3u64;
        for _ in 0..2_000 {
            // Divisors of every magnitude, numerators around and beyond the fast-path bound.
            let b = (next(&mut state) >> (next(&mut state) % 64)) as i64;
            let r = Recip::new(Fx::from_bits(b));
            for _ in 0..50 {
                let a = (next(&mut state) >> (next(&mut state) % 64)) as i64;
                let a = Fx::from_bits(a);
                assert_eq!(r.div(a), safe_div(a, Fx::from_bits(b)), "{a:?}/{b}");
            }
        }
    }

    #[test]
    fn exp_lanes_match_exp_safe_bit_for_bit() {
        let mut inputs: Vec<Fx> = Vec::new();
        for edge in [
            0i64,
            1,
            -1,
            1 << 32,
            (1 << 32) - 1,
            (1 << 32) + 1,
            -(1 << 32),
            1 << 31,
            -(1 << 31),
            5 << 32,
            -(5 << 32),
            (20 << 32) - 1,
            20 << 32,
            (20 << 32) + 1,
            -(20 << 32),
            -(20 << 32) + 1,
            i64::MAX,
            i64::MIN,
        ] {
            inputs.push(Fx::from_bits(edge));
        }
        let mut state = 7u64;
        for _ in 0..40_000 {
            let r = next(&mut state);
            // Mostly inside the clamp range, some anywhere.
            let bits = if r.is_multiple_of(8) {
                r as i64
            } else {
                ((r >> 3) % (42u64 << 32)) as i64 - (21i64 << 32)
            };
            inputs.push(Fx::from_bits(bits));
        }
        for chunk in inputs.chunks(LANES) {
            let mut x = [ZERO; LANES];
            x[..chunk.len()].copy_from_slice(chunk);
            let got = exp_safe_lanes(x);
            for (l, &v) in x.iter().enumerate() {
                assert_eq!(got[l], exp_safe(v), "exp_safe({v:?})");
            }
        }
    }

    #[test]
    fn alpha_lanes_match_alpha_from_diff_bit_for_bit() {
        let mut state = 11u64;
        for steepness in [1000i64, 1, 0, -1000, 50, 32767, -32768, 7777] {
            let slope = sigmoid_slope(Fx::from_num(steepness));
            for (low, high) in [(45875u16, 58982u16), (6553, 19660), (0, 65535), (100, 100)] {
                let (low, high) = (u16_proportion(low), u16_proportion(high));
                for _ in 0..2_000 {
                    let mut diffs = [ZERO; LANES];
                    for d in diffs.iter_mut() {
                        let r = next(&mut state);
                        *d = match r % 5 {
                            0 => ZERO,
                            1 => ONE,
                            2 => Fx::from_bits(1 << 31),
                            _ => Fx::from_bits(((r >> 3) % ((1 << 32) + 1)) as i64),
                        };
                    }
                    let got = alpha_from_diff_lanes(diffs, low, high, slope);
                    for (l, &d) in diffs.iter().enumerate() {
                        assert_eq!(got[l], alpha_from_diff(d, low, high, slope), "{d:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn mul_matches_saturating_mul() {
        let values = [
            0i64,
            1,
            -1,
            3,
            -3,
            1 << 31,
            1 << 32,
            -(1 << 32),
            1 << 40,
            -(1 << 45),
            i64::MAX,
            i64::MIN,
        ];
        for &a in &values {
            for &b in &values {
                let (a, b) = (Fx::from_bits(a), Fx::from_bits(b));
                assert_eq!(mul(a, b), a.saturating_mul(b), "{a:?} * {b:?}");
                assert_eq!(checked_mul(a, b), a.checked_mul(b), "{a:?} * {b:?}");
            }
        }
    }

    #[test]
    fn div_small_is_exact() {
        for d in 2..32i64 {
            for t in [
                0i64,
                1,
                d - 1,
                d,
                d + 1,
                12345,
                1 << 40,
                i64::MAX - 1,
                i64::MAX,
            ] {
                assert_eq!(div_small(t, d), t / d, "{t}/{d}");
            }
        }
        assert_eq!(div_small(-7, 2), -3);
    }

    #[test]
    fn proportions_round_trip() {
        assert_eq!(fixed_proportion_to_u16(ONE), 65535);
        assert_eq!(fixed_proportion_to_u16(u16_proportion(32767)), 32766);
        assert_eq!(fixed_proportion_to_u16(ZERO), 0);
        // kappa = 32767 / 65535 as subtensor computes it.
        assert_eq!(
            u16_proportion(32767).to_bits(),
            (32767i128 << 32) as i64 / 65535
        );
        assert_eq!(
            moving_average_from_millionths(900_000).to_bits(),
            3_865_470_566
        );
    }

    #[test]
    fn topk_drops_smallest_and_zero() {
        let v = [f(0.1), f(0.0), f(0.3), f(0.3), f(0.2)];
        assert_eq!(
            is_topk_nonzero(&v, 2),
            vec![false, false, true, true, false]
        );
        assert_eq!(is_topk_nonzero(&v, 10), vec![true, false, true, true, true]);
        assert_eq!(is_topk_nonzero(&v, 5), vec![true, false, true, true, true]);
    }

    #[test]
    fn max_upscale_matches_set_weights() {
        assert_eq!(max_upscale_u16(&[32767, 0, 32767]), vec![65535, 0, 65535]);
        assert_eq!(max_upscale_u16(&[1, 2]), vec![32768, 65535]);
        assert_eq!(max_upscale_u16(&[0, 0]), vec![0, 0]);
        assert_eq!(max_upscale_u16(&[]), Vec::<u16>::new());
    }
}
