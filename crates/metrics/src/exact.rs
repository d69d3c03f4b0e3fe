//! Exact sums of non-negative `f64` and `u128` holdings, for the Nakamoto thresholds.
//!
//! Every finite non-negative `f64` is a dyadic rational `m · 2^(e − 1074)` with `m < 2^53` and
//! `0 ≤ e ≤ 2045`; every `u128` is `v · 2^(1074 − 1074)`. Both are therefore integers once
//! multiplied by `2^1074`, and fit below bit 2099 (a `u128` below bit 1202). [`ExactSum`] keeps
//! that integer in 35 little-endian 64-bit limbs (2240 bits): enough for 2^64 holdings (64 bits
//! of headroom) multiplied by 3 (2 more bits), so no sum or comparison this crate makes can
//! overflow or round. Comparing `c · prefix > total` on these integers is the exact rational
//! comparison the definition asks for.

use core::cmp::Ordering;

/// Number of 64-bit limbs: 2099 value bits + 64 bits for the count + 2 bits for `× 3`.
const LIMBS: usize = 35;
/// Bit position of the unit (`2^0`) in the fixed-point integer.
const UNIT_BIT: u32 = 1074;

/// An exact, non-negative sum of holdings (a 2240-bit fixed-point integer, unit at bit 1074).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExactSum {
    limbs: [u64; LIMBS],
}

impl ExactSum {
    /// The empty sum.
    pub(crate) const ZERO: Self = Self { limbs: [0; LIMBS] };

    /// Adds `value · 2^shift` (value below 2^128, shift ≤ 2046) to the sum.
    fn add_shifted(&mut self, value: u128, shift: u32) {
        let limb = (shift / 64) as usize;
        let bit = shift % 64;
        // Spread `value << bit` (at most 191 bits) over three limbs.
        let lo = (value as u64 as u128) << bit;
        let hi = (value >> 64) << bit;
        let parts = [
            lo as u64,
            ((lo >> 64) as u64).wrapping_add(hi as u64),
            (hi >> 64) as u64,
        ];
        // `(lo >> 64)` has at most `bit` bits and `hi as u64` has its low `bit` bits clear,
        // so the addition above never carries: it is a bitwise or.
        let mut carry = 0u64;
        for (offset, part) in parts.iter().enumerate() {
            let i = limb + offset;
            if i >= LIMBS {
                break;
            }
            let (s1, c1) = self.limbs[i].overflowing_add(*part);
            let (s2, c2) = s1.overflowing_add(carry);
            self.limbs[i] = s2;
            carry = u64::from(c1) + u64::from(c2);
        }
        let mut i = limb + parts.len();
        while carry != 0 && i < LIMBS {
            let (s, c) = self.limbs[i].overflowing_add(carry);
            self.limbs[i] = s;
            carry = u64::from(c);
            i += 1;
        }
    }

    /// Adds one finite non-negative `f64` exactly. Negative zero counts as zero; callers
    /// validate the sign and finiteness first (other inputs are ignored).
    pub(crate) fn add_f64(&mut self, x: f64) {
        if !(x.is_finite() && x > 0.0) {
            return;
        }
        let bits = x.to_bits();
        let exp = ((bits >> 52) & 0x7ff) as u32;
        let frac = bits & ((1u64 << 52) - 1);
        let (mantissa, shift) = if exp == 0 {
            (frac, 0)
        } else {
            (frac | (1u64 << 52), exp - 1)
        };
        self.add_shifted(u128::from(mantissa), shift);
    }

    /// Adds one `u128` exactly.
    pub(crate) fn add_u128(&mut self, x: u128) {
        self.add_shifted(x, UNIT_BIT);
    }

    /// Returns `factor · self` (factor ≤ 3 in this crate; the headroom covers it).
    pub(crate) fn times(&self, factor: u64) -> Self {
        let mut out = Self::ZERO;
        let mut carry = 0u128;
        for (o, l) in out.limbs.iter_mut().zip(self.limbs.iter()) {
            let p = u128::from(*l) * u128::from(factor) + carry;
            *o = p as u64;
            carry = p >> 64;
        }
        out
    }

    /// Whether the sum is zero.
    pub(crate) fn is_zero(&self) -> bool {
        self.limbs.iter().all(|l| *l == 0)
    }
}

impl PartialOrd for ExactSum {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ExactSum {
    fn cmp(&self, other: &Self) -> Ordering {
        self.limbs.iter().rev().cmp(other.limbs.iter().rev())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of_f64(xs: &[f64]) -> ExactSum {
        let mut s = ExactSum::ZERO;
        for x in xs {
            s.add_f64(*x);
        }
        s
    }

    #[test]
    fn one_tenth_three_times_is_not_three_tenths() {
        // 0.1 + 0.1 + 0.1 ≠ 0.3 as rationals (nor in f64), and the exact sum knows which is
        // bigger: the three rounded 0.1 sum to 0.3000000000000000166…, above f64 0.3
        // (0.299999999999999988…).
        assert!(of_f64(&[0.1, 0.1, 0.1]) > of_f64(&[0.3]));
        // f64 addition rounds 2^53 + 1 down to 2^53; the exact sum does not.
        let big = 2f64.powi(53);
        assert!(of_f64(&[big, 1.0]) > of_f64(&[big]));
        assert_eq!(of_f64(&[big, 1.0, 1.0]), of_f64(&[big + 2.0, -0.0]));
    }

    #[test]
    fn extremes_do_not_overflow_and_order_correctly() {
        let tiny = f64::from_bits(1); // smallest subnormal
        let huge = f64::MAX;
        let mut s = of_f64(&[huge, huge, huge, tiny]);
        assert!(s > of_f64(&[huge, huge, huge]));
        s.add_u128(u128::MAX);
        let tripled = s.times(3);
        assert!(tripled > s);
        let mut ints = ExactSum::ZERO;
        ints.add_u128(u128::MAX);
        ints.add_u128(1);
        let mut f = ExactSum::ZERO;
        f.add_f64(2f64.powi(128));
        assert_eq!(ints, f);
        assert!(ExactSum::ZERO.is_zero());
        assert!(!ints.is_zero());
    }
}
