//! Signature verification for admission: the ledger's rule, faster.
//!
//! The verdict for every transaction is exactly `SignedTx::verify(tx).is_ok()` — the ledger's
//! rule, defined once in `deai_types::crypto` (canonical encodings, no small-order key or `R`,
//! canonical `s`, the cofactored equation), which this module does not re-implement: it calls
//! `deai_types::verify_batch_with_keys`, whose batch equation holds iff every member's single
//! equation does, so chunking changes no verdict. Two things make it cheaper than
//! `deai_types::verify_batch`:
//! - a cache of parsed signer keys (`ValidKey::parse`: the canonical-encoding and small-order
//!   checks and the decompression, about a seventh of a verification; active accounts sign
//!   again and again); entries are plain functions of the 32 key bytes, rejections included, so
//!   the cache can never change a verdict; it is cleared when full;
//! - larger batches ([`CHUNK`] signatures), verified in parallel with rayon; a failing chunk
//!   falls back to checking each signature alone.

use std::collections::HashMap;
use std::sync::Mutex;

use deai_types::{AccountId, SigError, SignedTx, ValidKey};
use rayon::prelude::*;

/// Signatures per batch.
pub const CHUNK: usize = 128;

/// Default number of cached keys (about 200 bytes each).
pub const DEFAULT_KEY_CACHE: usize = 1 << 16;

/// A signer key as parsed by the ledger's rule: the key, or why it is rejected.
type ParsedKey = Result<ValidKey, SigError>;

/// A signature verifier with a parsed-key cache; share it with `Arc`.
#[derive(Debug)]
pub struct SigVerifier {
    keys: Mutex<HashMap<AccountId, ParsedKey>>,
    capacity: usize,
}

impl Default for SigVerifier {
    fn default() -> Self {
        Self::new(DEFAULT_KEY_CACHE)
    }
}

impl SigVerifier {
    /// A verifier caching up to `capacity` keys.
    pub fn new(capacity: usize) -> Self {
        Self {
            keys: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// `out[i] == txs[i].verify().is_ok()`, computed in parallel batches.
    pub fn verify(&self, txs: &[SignedTx]) -> Vec<bool> {
        let keys = self.keys_of(txs);
        txs.par_chunks(CHUNK)
            .zip(keys.par_chunks(CHUNK))
            .map(|(chunk, keys)| deai_types::verify_batch_with_keys(chunk, keys))
            .collect::<Vec<_>>()
            .into_iter()
            .flatten()
            .collect()
    }

    /// The parsed key of every signer, from the cache or parsed in parallel.
    fn keys_of(&self, txs: &[SignedTx]) -> Vec<ParsedKey> {
        let mut out: Vec<Option<ParsedKey>> = {
            let cache = self
                .keys
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            txs.iter().map(|t| cache.get(&t.signer).copied()).collect()
        };
        let missing: Vec<usize> = (0..txs.len()).filter(|&i| out[i].is_none()).collect();
        if missing.is_empty() {
            return out.into_iter().flatten().collect();
        }
        let fresh: Vec<(usize, ParsedKey)> = missing
            .par_iter()
            .map(|&i| (i, ValidKey::parse(&txs[i].signer)))
            .collect();
        let mut cache = self
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() + fresh.len() > self.capacity {
            cache.clear();
        }
        for (i, key) in fresh {
            if cache.len() < self.capacity {
                cache.insert(txs[i].signer, key);
            }
            out[i] = Some(key);
        }
        out.into_iter()
            .zip(txs)
            .map(|(key, tx)| key.unwrap_or_else(|| ValidKey::parse(&tx.signer)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deai_types::{Amount, Call, ChainId, Keypair, Nonce, Tx};

    #[test]
    fn verdicts_equal_the_ledger_rule_with_and_without_cache() {
        let keys: Vec<Keypair> = (0..5u8).map(|i| Keypair::from_seed([i + 1; 32])).collect();
        let mut txs: Vec<SignedTx> = (0..300u64)
            .map(|n| {
                let k = &keys[(n % 5) as usize];
                k.sign_tx(Tx {
                    chain_id: ChainId::new("t").unwrap(),
                    nonce: Nonce(n),
                    fee: Amount(1),
                    call: Call::Withdraw,
                })
            })
            .collect();
        txs[3].signature.0[0] ^= 1;
        txs[130].tx.nonce = Nonce(9_999);
        txs[299].signature.0[63] ^= 0xf0;
        // A signer that is not a valid curve point (y = 2 is not on the curve).
        let mut bad_key = [0u8; 32];
        bad_key[0] = 2;
        txs[200].signer = AccountId(bad_key);
        let want: Vec<bool> = txs.iter().map(|t| t.verify().is_ok()).collect();
        assert_eq!(want.iter().filter(|b| !**b).count(), 4);
        let v = SigVerifier::new(3); // smaller than the number of signers: cache churns
        assert_eq!(v.verify(&txs), want);
        assert_eq!(v.verify(&txs), want);
        let v = SigVerifier::default();
        assert_eq!(v.verify(&txs), want);
        assert_eq!(v.verify(&txs), want); // all keys cached now
        assert_eq!(deai_types::verify_batch(&txs), want);
    }
}
