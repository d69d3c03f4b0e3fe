//! Newtypes for every domain quantity on the ledger.
//!
//! No bare integer crosses a crate boundary: a height is a [`Height`], a balance an [`Amount`].
//! [`Amount`] only offers checked arithmetic; callers turn `None` into a typed error.

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::hex::hex_newtype;

/// An account: the 32 bytes of an ed25519 verifying key (compressed Edwards point).
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize, BorshDeserialize,
)]
pub struct AccountId(pub [u8; 32]);

hex_newtype!(AccountId, 32);

impl AccountId {
    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    /// First 8 hex characters, for logs and tables.
    pub fn short(&self) -> String {
        let s = self.to_string();
        s.chars().take(8).collect()
    }
}

/// An amount of the native token in its smallest unit.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(transparent)]
pub struct Amount(pub u128);

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount(0);
    /// The largest representable amount.
    pub const MAX: Amount = Amount(u128::MAX);

    /// `self + rhs`, `None` on overflow.
    #[must_use]
    pub fn checked_add(self, rhs: Amount) -> Option<Amount> {
        self.0.checked_add(rhs.0).map(Amount)
    }
    /// `self - rhs`, `None` if `rhs > self`.
    #[must_use]
    pub fn checked_sub(self, rhs: Amount) -> Option<Amount> {
        self.0.checked_sub(rhs.0).map(Amount)
    }
    /// `self - rhs`, or zero.
    #[must_use]
    pub fn saturating_sub(self, rhs: Amount) -> Amount {
        Amount(self.0.saturating_sub(rhs.0))
    }
    /// Whether this is zero.
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
    /// `floor(self * num / den)` computed exactly with a 256-bit intermediate; `None` if
    /// `den == 0` or the result does not fit in `u128`.
    #[must_use]
    pub fn mul_div_floor(self, num: Amount, den: Amount) -> Option<Amount> {
        mul_div_floor(self.0, num.0, den.0).map(Amount)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amount({})", self.0)
    }
}
impl std::str::FromStr for Amount {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Amount)
    }
}
impl From<u128> for Amount {
    fn from(v: u128) -> Self {
        Amount(v)
    }
}

/// `floor(a * b / c)` exactly (256-bit product, restoring long division).
pub(crate) fn mul_div_floor(a: u128, b: u128, c: u128) -> Option<u128> {
    if c == 0 {
        return None;
    }
    if let Some(p) = a.checked_mul(b) {
        return Some(p / c);
    }
    // 256-bit product (hi, lo) from 64-bit limbs.
    let mask = u128::from(u64::MAX);
    let (a1, a0) = (a >> 64, a & mask);
    let (b1, b0) = (b >> 64, b & mask);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 64) + (p01 & mask) + (p10 & mask);
    let lo = (p00 & mask) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    if hi >= c {
        return None; // quotient does not fit in 128 bits
    }
    // Divide (hi, lo) by c, bit by bit; the remainder stays below c < 2^128 but may need a
    // 129th bit while shifting, tracked in `carry`.
    let mut rem = hi;
    let mut q: u128 = 0;
    for i in (0..128).rev() {
        let carry = rem >> 127;
        rem = (rem << 1) | ((lo >> i) & 1);
        q <<= 1;
        if carry == 1 || rem >= c {
            rem = rem.wrapping_sub(c);
            q |= 1;
        }
    }
    Some(q)
}

macro_rules! int_newtype {
    ($(#[$doc:meta])* $name:ident($t:ty)) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default,
            BorshSerialize, BorshDeserialize, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub $t);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }
    };
}

int_newtype!(
    /// A block height; genesis is height 0, the first block height 1.
    Height(u64)
);
int_newtype!(
    /// An epoch index of a task (a run of `epoch_rounds` rounds).
    Epoch(u64)
);
int_newtype!(
    /// A round index of a task, counted from the task's start height.
    Round(u64)
);
int_newtype!(
    /// A task (subnet) id, assigned sequentially from 0.
    TaskId(u64)
);
int_newtype!(
    /// A participant's slot inside one task, assigned sequentially from 0.
    Uid(u16)
);
int_newtype!(
    /// The number of transactions an account has had executed; the next tx must carry it.
    Nonce(u64)
);
int_newtype!(
    /// A governance proposal id, assigned sequentially from 0.
    ProposalId(u64)
);
int_newtype!(
    /// An id of a recorded offence (evidence the state holds), assigned sequentially from 0.
    OffenceId(u64)
);

impl Height {
    /// `self + blocks`, `None` on overflow.
    #[must_use]
    pub fn checked_add(self, blocks: u64) -> Option<Height> {
        self.0.checked_add(blocks).map(Height)
    }
    /// The next height, `None` on overflow.
    #[must_use]
    pub fn next(self) -> Option<Height> {
        self.checked_add(1)
    }
}

impl Nonce {
    /// The next nonce, `None` on overflow.
    #[must_use]
    pub fn next(self) -> Option<Nonce> {
        self.0.checked_add(1).map(Nonce)
    }
}

/// The name of a chain; every transaction signs it so a signature is valid on one chain only.
///
/// 1 to [`ChainId::MAX_LEN`] bytes of ASCII letters, digits, `-`, `_` and `.`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, Serialize)]
#[serde(transparent)]
pub struct ChainId(String);

/// A chain id that breaks the naming rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid chain id {given:?}: expected 1 to {max} ASCII letters, digits, '-', '_' or '.'", max = ChainId::MAX_LEN)]
pub struct ChainIdError {
    /// The rejected string (truncated to 80 characters).
    pub given: String,
}

impl ChainId {
    /// Longest accepted chain id, in bytes.
    pub const MAX_LEN: usize = 64;

    /// Validate and wrap a chain id.
    pub fn new(s: impl Into<String>) -> Result<ChainId, ChainIdError> {
        let s: String = s.into();
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if ok {
            Ok(ChainId(s))
        } else {
            Err(ChainIdError {
                given: s.chars().take(80).collect(),
            })
        }
    }
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainId({:?})", self.0)
    }
}
impl std::str::FromStr for ChainId {
    type Err = ChainIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ChainId::new(s)
    }
}
impl BorshDeserialize for ChainId {
    fn deserialize_reader<R: std::io::Read>(reader: &mut R) -> std::io::Result<Self> {
        let s = String::deserialize_reader(reader)?;
        ChainId::new(s)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))
    }
}
impl<'de> Deserialize<'de> for ChainId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <String as Deserialize>::deserialize(d)?;
        ChainId::new(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mul_div_matches_small_cases_and_big_ones() {
        assert_eq!(mul_div_floor(10, 3, 4), Some(7));
        assert_eq!(mul_div_floor(1, 1, 0), None);
        let m = u128::MAX;
        assert_eq!(mul_div_floor(m, m, m), Some(m));
        assert_eq!(mul_div_floor(m, 3, 4), Some(m / 4 * 3 + (m % 4) * 3 / 4));
        assert_eq!(mul_div_floor(m, m, 1), None);
        assert_eq!(mul_div_floor(m, 2, 3), Some(m / 3 * 2 + (m % 3) * 2 / 3));
        assert_eq!(mul_div_floor(1 << 100, 1 << 100, 1 << 90), Some(1 << 110));
    }

    #[test]
    fn chain_id_rules() {
        assert!(ChainId::new("deai-dev.1").is_ok());
        assert!(ChainId::new("").is_err());
        assert!(ChainId::new("a b").is_err());
        assert!(ChainId::new("x".repeat(65)).is_err());
        assert!(ChainId::new("x".repeat(64)).is_ok());
    }
}
