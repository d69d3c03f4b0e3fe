//! ed25519 keys and signatures, and the verification rule the ledger uses.
//!
//! # Verification rule
//! A signature is valid iff it passes ed25519-dalek's *batch* verification equation on its own
//! (the cofactored equation `[8](s·B − R − k·A) = 0`, with `s` canonical). [`SignedTx::verify`]
//! checks exactly that for one transaction. [`verify_batch`] checks many: it splits the list
//! into chunks of [`BATCH_CHUNK`] consecutive transactions, verifies the chunks in parallel
//! (rayon), and batch-verifies each chunk; if a chunk fails it falls back to checking each of
//! its transactions alone. Because batch verification accepts a set iff (up to a 2^-128
//! probability, with deterministic transcript-derived coefficients) every member passes the same
//! cofactored equation, the result for a transaction does not depend on its neighbours or on
//! the number of threads: producers, replayers and the mempool agree.

use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rand_core::CryptoRngCore;
use rayon::prelude::*;

use crate::hex::hex_newtype;
use crate::ids::AccountId;
use crate::tx::{SignedTx, Tx};

/// An ed25519 signature (R || s).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct Signature(pub [u8; 64]);

hex_newtype!(Signature, 64);

impl Default for Signature {
    fn default() -> Self {
        Signature([0; 64])
    }
}

/// Why a signature does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    /// The signer's 32 bytes are not a valid ed25519 public key.
    #[error("signer is not a valid ed25519 public key")]
    BadKey,
    /// The signature does not verify for this signer and transaction.
    #[error("signature does not verify for this signer, chain id and transaction")]
    BadSignature,
}

/// Transactions per batch in [`verify_batch`].
pub const BATCH_CHUNK: usize = 64;

/// An ed25519 signing key.
#[derive(Clone)]
pub struct Keypair {
    key: SigningKey,
}

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keypair({})", self.account())
    }
}

impl Keypair {
    /// The key with this 32-byte secret seed.
    pub fn from_seed(seed: [u8; 32]) -> Keypair {
        Keypair {
            key: SigningKey::from_bytes(&seed),
        }
    }
    /// A fresh key from a cryptographic RNG.
    pub fn generate<R: CryptoRngCore + ?Sized>(rng: &mut R) -> Keypair {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        Keypair::from_seed(seed)
    }
    /// The secret seed (store it with care).
    pub fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
    /// The account id (verifying key bytes).
    pub fn account(&self) -> AccountId {
        AccountId(self.key.verifying_key().to_bytes())
    }
    /// Sign arbitrary bytes.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.key.sign(msg).to_bytes())
    }
    /// Sign a transaction.
    pub fn sign_tx(&self, tx: Tx) -> SignedTx {
        let signature = self.sign(tx.signing_hash().as_bytes());
        SignedTx {
            tx,
            signer: self.account(),
            signature,
        }
    }
}

fn parts(stx: &SignedTx) -> Result<(VerifyingKey, ed25519_dalek::Signature, [u8; 32]), SigError> {
    let key = VerifyingKey::from_bytes(&stx.signer.0).map_err(|_| SigError::BadKey)?;
    let sig = ed25519_dalek::Signature::from_bytes(&stx.signature.0);
    Ok((key, sig, stx.tx.signing_hash().0))
}

impl SignedTx {
    /// Check the signature under the ledger's verification rule (see the module docs).
    pub fn verify(&self) -> Result<(), SigError> {
        let (key, sig, msg) = parts(self)?;
        ed25519_dalek::verify_batch(&[&msg[..]], &[sig], &[key]).map_err(|_| SigError::BadSignature)
    }
}

fn verify_chunk(chunk: &[SignedTx]) -> Vec<bool> {
    let parsed: Vec<_> = chunk.iter().map(parts).collect();
    if parsed.iter().all(Result::is_ok) {
        let mut keys = Vec::with_capacity(chunk.len());
        let mut sigs = Vec::with_capacity(chunk.len());
        let mut msgs = Vec::with_capacity(chunk.len());
        for (k, s, m) in parsed.iter().flatten() {
            keys.push(*k);
            sigs.push(*s);
            msgs.push(&m[..]);
        }
        if ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok() {
            return vec![true; chunk.len()];
        }
    }
    parsed
        .iter()
        .map(|p| match p {
            Ok((k, s, m)) => ed25519_dalek::verify_batch(&[&m[..]], &[*s], &[*k]).is_ok(),
            Err(_) => false,
        })
        .collect()
}

/// Verify many signed transactions: `out[i]` is `txs[i].verify().is_ok()`, computed in parallel
/// chunks of batch verification (see the module docs).
pub fn verify_batch(txs: &[SignedTx]) -> Vec<bool> {
    txs.par_chunks(BATCH_CHUNK)
        .map(verify_chunk)
        .collect::<Vec<_>>()
        .into_iter()
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{Amount, ChainId, Nonce};
    use crate::tx::Call;

    fn tx(n: u64) -> Tx {
        Tx {
            chain_id: ChainId::new("t").unwrap(),
            nonce: Nonce(n),
            fee: Amount(1),
            call: Call::Withdraw,
        }
    }

    #[test]
    fn sign_verify_tamper() {
        let k = Keypair::from_seed([7; 32]);
        let s = k.sign_tx(tx(0));
        assert_eq!(s.verify(), Ok(()));
        let mut bad = s.clone();
        bad.tx.nonce = Nonce(1);
        assert_eq!(bad.verify(), Err(SigError::BadSignature));
        let mut bad = s.clone();
        bad.signer = Keypair::from_seed([8; 32]).account();
        assert_eq!(bad.verify(), Err(SigError::BadSignature));
        let mut bad = s;
        bad.signature.0[63] ^= 0xf0; // non-canonical s
        assert_eq!(bad.verify(), Err(SigError::BadSignature));
    }

    #[test]
    fn batch_matches_single_with_bad_ones_anywhere() {
        let k = Keypair::from_seed([9; 32]);
        let mut txs: Vec<SignedTx> = (0..200).map(|n| k.sign_tx(tx(n))).collect();
        for i in [0usize, 63, 64, 130, 199] {
            txs[i].signature.0[0] ^= 1;
        }
        txs[5].signer = AccountId([0xff; 32]); // likely not a point; either way invalid
        let got = verify_batch(&txs);
        let want: Vec<bool> = txs.iter().map(|t| t.verify().is_ok()).collect();
        assert_eq!(got, want);
        assert_eq!(got.iter().filter(|b| !**b).count(), 6);
    }
}
