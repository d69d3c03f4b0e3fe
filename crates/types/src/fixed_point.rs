//! Fixed-point numbers for scores, shares and rates: `I32F32`, as in subtensor.
//!
//! A [`Fixed`] is a signed 64-bit integer read as `bits / 2^32`. All arithmetic is integer
//! arithmetic, so every machine gets the same bits. On the wire (borsh) it is its raw `i64` bits;
//! in JSON it is an exact decimal string (the shortest one that parses back to the same bits).
//! Floats never enter the ledger: off-chain code quantizes with [`Fixed::saturating_from_f64`].

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use fixed::types::I32F32;
use serde::{Deserialize, Serialize};

use crate::ids::Amount;

/// An `I32F32` fixed-point number.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Fixed(pub I32F32);

/// A fixed-point value outside the accepted range, or text that is not a number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FixedError {
    /// Text that does not parse as an `I32F32` decimal.
    #[error(
        "invalid fixed-point number {given:?}: expected a decimal like \"0.18\" in [-2^31, 2^31)"
    )]
    Parse {
        /// The rejected text (truncated to 80 characters).
        given: String,
    },
}

impl Fixed {
    /// 0.
    pub const ZERO: Fixed = Fixed(I32F32::ZERO);
    /// 1.
    pub const ONE: Fixed = Fixed(I32F32::ONE);

    /// From raw bits (`value = bits / 2^32`).
    pub const fn from_bits(bits: i64) -> Fixed {
        Fixed(I32F32::from_bits(bits))
    }
    /// Raw bits.
    pub const fn to_bits(self) -> i64 {
        self.0.to_bits()
    }
    /// An integer value.
    pub fn from_int(v: i32) -> Fixed {
        Fixed(I32F32::from_num(v))
    }
    /// `num / den`, rounded to the nearest representable value (ties away from zero); `None`
    /// if `den == 0` or the result overflows.
    pub fn from_ratio(num: i64, den: i64) -> Option<Fixed> {
        if den == 0 {
            return None;
        }
        // (num << 32) / den in i128 is exact before rounding.
        let n = i128::from(num) << 32;
        let d = i128::from(den);
        let mut q = n.checked_div(d)?;
        let r = n.checked_rem(d)?;
        if 2 * r.abs() >= d.abs() {
            q += if (n < 0) == (d < 0) { 1 } else { -1 };
        }
        i64::try_from(q).ok().map(Fixed::from_bits)
    }
    /// Per-myriad (basis points): `bps / 10_000`.
    pub fn from_bps(bps: u16) -> Fixed {
        // 10_000 fits, so this never fails; fall back to ZERO defensively.
        Fixed::from_ratio(i64::from(bps), 10_000).unwrap_or(Fixed::ZERO)
    }
    /// Nearest representable value of a float (saturating; NaN maps to 0). Off-chain only.
    pub fn saturating_from_f64(x: f64) -> Fixed {
        if x.is_nan() {
            Fixed::ZERO
        } else {
            Fixed(I32F32::saturating_from_num(x))
        }
    }
    /// The value as a float (lossless: 64 bits fit in an f64 mantissa only up to 2^53, so tiny
    /// rounding is possible; for display and off-chain use only).
    pub fn to_f64(self) -> f64 {
        self.0.to_num::<f64>()
    }
    /// `self + rhs`, `None` on overflow.
    pub fn checked_add(self, rhs: Fixed) -> Option<Fixed> {
        self.0.checked_add(rhs.0).map(Fixed)
    }
    /// `self - rhs`, `None` on overflow.
    pub fn checked_sub(self, rhs: Fixed) -> Option<Fixed> {
        self.0.checked_sub(rhs.0).map(Fixed)
    }
    /// `self * rhs` (rounded toward negative infinity by `fixed`), `None` on overflow.
    pub fn checked_mul(self, rhs: Fixed) -> Option<Fixed> {
        self.0.checked_mul(rhs.0).map(Fixed)
    }
    /// `self / rhs`, `None` on division by zero or overflow.
    pub fn checked_div(self, rhs: Fixed) -> Option<Fixed> {
        self.0.checked_div(rhs.0).map(Fixed)
    }
    /// Whether `0 <= self <= 1` (a share or rate).
    pub fn is_unit(self) -> bool {
        self >= Fixed::ZERO && self <= Fixed::ONE
    }
    /// `amount * self` rounded to the nearest integer (ties up) for a share `0 <= self <= 1`,
    /// computed exactly; `None` outside that range. The result never exceeds `amount`.
    ///
    /// Rounding to nearest makes decimal shares behave as written for amounts below 2^32
    /// (e.g. 20% of 950 is 190 although 0.2 is not exactly representable in I32F32).
    pub fn mul_amount(self, amount: Amount) -> Option<Amount> {
        if !self.is_unit() {
            return None;
        }
        let bits = u128::try_from(self.to_bits()).ok()?; // <= 2^32
        let hi = amount.0 >> 32;
        let lo = amount.0 & u128::from(u32::MAX);
        // hi < 2^96 and bits <= 2^32, so hi * bits < 2^128; lo * bits + 2^31 < 2^65.
        let low = (lo * bits + (1u128 << 31)) >> 32;
        let r = hi.checked_mul(bits)?.checked_add(low)?;
        Some(Amount(r.min(amount.0)))
    }
    /// `floor(amount * self)` for a share `0 <= self <= 1`, computed exactly; `None` outside
    /// that range. Use it to split a pool by shares that sum to at most 1: the parts never sum
    /// to more than the pool.
    pub fn mul_amount_floor(self, amount: Amount) -> Option<Amount> {
        if !self.is_unit() {
            return None;
        }
        let bits = u128::try_from(self.to_bits()).ok()?; // <= 2^32
        let hi = amount.0 >> 32;
        let lo = amount.0 & u128::from(u32::MAX);
        let low = (lo * bits) >> 32;
        let r = hi.checked_mul(bits)?.checked_add(low)?;
        Some(Amount(r.min(amount.0)))
    }
}

impl fmt::Display for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}
impl fmt::Debug for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fixed({})", self.0)
    }
}
impl std::str::FromStr for Fixed {
    type Err = FixedError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .parse::<I32F32>()
            .map(Fixed)
            .map_err(|_| FixedError::Parse {
                given: s.chars().take(80).collect(),
            })
    }
}

impl BorshSerialize for Fixed {
    fn serialize<W: std::io::Write>(&self, writer: &mut W) -> std::io::Result<()> {
        BorshSerialize::serialize(&self.to_bits(), writer)
    }
}
impl BorshDeserialize for Fixed {
    fn deserialize_reader<R: std::io::Read>(reader: &mut R) -> std::io::Result<Self> {
        i64::deserialize_reader(reader).map(Fixed::from_bits)
    }
}
impl Serialize for Fixed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}
impl<'de> Deserialize<'de> for Fixed {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// Accept "0.18" (exact) or a JSON number (parsed from its decimal text).
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Text(String),
            Int(i64),
            Float(f64),
        }
        match Repr::deserialize(d)? {
            Repr::Text(s) => s.parse().map_err(serde::de::Error::custom),
            Repr::Int(i) => i32::try_from(i)
                .map(Fixed::from_int)
                .map_err(|_| serde::de::Error::custom("fixed-point integer out of range")),
            Repr::Float(x) => {
                // Re-parse the shortest decimal text of the float: exact decimal rounding.
                x.to_string().parse().map_err(serde::de::Error::custom)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_bps_and_mul_amount() {
        assert_eq!(Fixed::from_ratio(1, 2), Some(Fixed::from_bits(1 << 31)));
        assert_eq!(Fixed::from_ratio(1, 0), None);
        assert_eq!(Fixed::from_bps(10_000), Fixed::ONE);
        assert_eq!(Fixed::ONE.mul_amount(Amount::MAX), Some(Amount::MAX));
        assert_eq!(Fixed::ZERO.mul_amount(Amount::MAX), Some(Amount::ZERO));
        let half = Fixed::from_ratio(1, 2).unwrap();
        assert_eq!(half.mul_amount(Amount(7)), Some(Amount(4))); // 3.5 rounds up
        assert_eq!(half.mul_amount(Amount(6)), Some(Amount(3)));
        assert_eq!(
            half.mul_amount(Amount::MAX),
            Some(Amount(u128::MAX / 2 + 1))
        );
        let fifth = Fixed::from_bps(2_000);
        assert_eq!(fifth.mul_amount(Amount(950)), Some(Amount(190)));
        assert_eq!(
            Fixed::from_bps(1_000).mul_amount(Amount(1_000)),
            Some(Amount(100))
        );
        // Ratios round to nearest: 1/3 -> 1431655765.33 -> 1431655765; 2/3 -> ...66.67 -> ...67.
        assert_eq!(
            Fixed::from_ratio(1, 3),
            Some(Fixed::from_bits(1_431_655_765))
        );
        assert_eq!(
            Fixed::from_ratio(2, 3),
            Some(Fixed::from_bits(2_863_311_531))
        );
        assert_eq!(
            Fixed::from_ratio(-2, 3),
            Some(Fixed::from_bits(-2_863_311_531))
        );
        assert_eq!(Fixed::from_int(2).mul_amount(Amount(1)), None);
        assert_eq!(half.mul_amount_floor(Amount(7)), Some(Amount(3)));
        assert_eq!(Fixed::ONE.mul_amount_floor(Amount::MAX), Some(Amount::MAX));
        assert_eq!(
            half.mul_amount_floor(Amount::MAX),
            Some(Amount(u128::MAX / 2))
        );
        // floor(2^-32 * (2^32 - 1)) = 0; floor(1/3 * 3) = 0 since 1/3 rounds down in I32F32.
        assert_eq!(
            Fixed::from_bits(1).mul_amount_floor(Amount(u128::from(u32::MAX))),
            Some(Amount(0))
        );
        assert_eq!(
            Fixed::from_ratio(1, 3).unwrap().mul_amount_floor(Amount(3)),
            Some(Amount(0))
        );
        assert_eq!(Fixed::from_int(-1).mul_amount_floor(Amount(1)), None);
        assert_eq!(Fixed::from_int(-1).mul_amount(Amount(1)), None);
    }

    #[test]
    fn text_round_trip() {
        for bits in [0i64, 1, -1, 1 << 31, i64::MAX, i64::MIN, 773_094_113] {
            let f = Fixed::from_bits(bits);
            assert_eq!(f.to_string().parse::<Fixed>(), Ok(f), "bits {bits}");
        }
        assert!("abc".parse::<Fixed>().is_err());
    }
}
