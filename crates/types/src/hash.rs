//! 32-byte blake3 digests.
//!
//! Every hash the ledger stores is `blake3(tag || bytes)` where `tag` is a short ASCII
//! domain-separation string (`b"deai/tx/v1"`, `b"deai/state/v1"`, …), so a digest of one kind can
//! never be replayed as a digest of another.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::hex::hex_newtype;

/// A 32-byte blake3 digest.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize, BorshDeserialize,
)]
pub struct Hash32(pub [u8; 32]);

hex_newtype!(Hash32, 32);

impl Hash32 {
    /// The all-zero digest (parent of the genesis block, "no hash").
    pub const ZERO: Hash32 = Hash32([0; 32]);

    /// blake3 of `bytes` (no domain tag; use [`Hash32::tagged`] for ledger objects).
    pub fn of(bytes: &[u8]) -> Hash32 {
        Hash32(*blake3::hash(bytes).as_bytes())
    }

    /// blake3 of `tag || parts[0] || parts[1] || …`.
    pub fn tagged(tag: &[u8], parts: &[&[u8]]) -> Hash32 {
        let mut h = blake3::Hasher::new();
        h.update(tag);
        for p in parts {
            h.update(p);
        }
        Hash32(*h.finalize().as_bytes())
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_tagging() {
        let h = Hash32::of(b"abc");
        assert_eq!(h.to_string().parse::<Hash32>(), Ok(h));
        assert_eq!(h.0, *blake3::hash(b"abc").as_bytes());
        assert_ne!(
            Hash32::tagged(b"a", &[b"bc"]),
            Hash32::tagged(b"ab", &[b"d"])
        );
        assert_eq!(Hash32::tagged(b"ab", &[b"c"]), h);
    }
}
