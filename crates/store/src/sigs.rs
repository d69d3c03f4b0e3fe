//! Signature verification for admission: the ledger's rule, faster.
//!
//! The verdict for every transaction is exactly `SignedTx::verify(tx).is_ok()` — the ledger's
//! rule (see `deai_types::crypto`): ed25519-dalek's batch equation, which accepts a set iff each
//! member passes it alone, so chunking changes no verdict. Two things make it cheaper than
//! `deai_types::verify_batch`:
//! - a cache of decompressed public keys (decompressing a key costs about a seventh of a
//!   verification, and active accounts sign again and again); entries are plain functions of
//!   the 32 key bytes, so the cache can never change a verdict; it is cleared when full;
//! - larger batches ([`CHUNK`] signatures), verified in parallel with rayon; a failing chunk
//!   falls back to checking each signature alone.

use std::collections::HashMap;
use std::sync::Mutex;

use deai_types::{AccountId, SignedTx};
use ed25519_dalek::{Signature as DalekSignature, VerifyingKey};
use rayon::prelude::*;

/// Signatures per batch.
pub const CHUNK: usize = 128;

/// Default number of cached keys (about 200 bytes each).
pub const DEFAULT_KEY_CACHE: usize = 1 << 16;

/// A signature verifier with a decompressed-key cache; share it with `Arc`.
#[derive(Debug)]
pub struct SigVerifier {
    keys: Mutex<HashMap<AccountId, Option<VerifyingKey>>>,
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
            .map(|(chunk, keys)| verify_chunk(chunk, keys))
            .collect::<Vec<_>>()
            .into_iter()
            .flatten()
            .collect()
    }

    /// The decompressed key of every signer (`None`: not a valid key), from the cache or
    /// decompressed in parallel.
    fn keys_of(&self, txs: &[SignedTx]) -> Vec<Option<VerifyingKey>> {
        let mut out: Vec<Option<Option<VerifyingKey>>> = {
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
        let fresh: Vec<(usize, Option<VerifyingKey>)> = missing
            .par_iter()
            .map(|&i| (i, VerifyingKey::from_bytes(&txs[i].signer.0).ok()))
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
        out.into_iter().map(Option::flatten).collect()
    }
}

fn verify_one(key: &VerifyingKey, sig: &DalekSignature, msg: &[u8]) -> bool {
    ed25519_dalek::verify_batch(&[msg], &[*sig], &[*key]).is_ok()
}

fn verify_chunk(txs: &[SignedTx], keys: &[Option<VerifyingKey>]) -> Vec<bool> {
    let msgs: Vec<[u8; 32]> = txs.iter().map(|t| t.tx.signing_hash().0).collect();
    let sigs: Vec<DalekSignature> = txs
        .iter()
        .map(|t| DalekSignature::from_bytes(&t.signature.0))
        .collect();
    let all_keys: Option<Vec<VerifyingKey>> = keys.iter().copied().collect();
    if let Some(all_keys) = all_keys {
        let refs: Vec<&[u8]> = msgs.iter().map(|m| &m[..]).collect();
        if ed25519_dalek::verify_batch(&refs, &sigs, &all_keys).is_ok() {
            return vec![true; txs.len()];
        }
    }
    keys.iter()
        .zip(sigs.iter().zip(msgs.iter()))
        .map(|(key, (sig, msg))| key.as_ref().is_some_and(|k| verify_one(k, sig, msg)))
        .collect()
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
