//! Derivation of independent random streams from one run seed.
//!
//! Every random choice (partition, initial weights, each client's batch order in each round)
//! draws from its own ChaCha8 stream whose 32-byte key is
//! `blake3("deai-ml/seed/v1" ‖ domain ‖ 0x00 ‖ seed_le ‖ part_le…)`. Streams therefore do not
//! depend on how many threads run or in which order clients are scheduled.

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The 32-byte key of the stream `(seed, domain, parts)`.
pub fn key(seed: u64, domain: &str, parts: &[u64]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(b"deai-ml/seed/v1");
    h.update(domain.as_bytes());
    h.update(&[0]);
    h.update(&seed.to_le_bytes());
    for p in parts {
        h.update(&p.to_le_bytes());
    }
    *h.finalize().as_bytes()
}

/// A `u64` seed for the stream `(seed, domain, parts)` (first 8 key bytes, little-endian).
pub fn derive(seed: u64, domain: &str, parts: &[u64]) -> u64 {
    let k = key(seed, domain, parts);
    u64::from_le_bytes([k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7]])
}

/// The generator of the stream `(seed, domain, parts)`.
pub fn rng(seed: u64, domain: &str, parts: &[u64]) -> ChaCha8Rng {
    ChaCha8Rng::from_seed(key(seed, domain, parts))
}

/// The local-training seed of `client` in `round` of a run seeded with `seed`.
pub fn client_seed(seed: u64, round: u64, client: u64) -> u64 {
    derive(seed, "client", &[round, client])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ() {
        assert_ne!(client_seed(0, 0, 1), client_seed(0, 1, 0));
        assert_ne!(derive(0, "a", &[]), derive(0, "b", &[]));
        assert_eq!(derive(7, "a", &[1]), derive(7, "a", &[1]));
    }
}
