//! ed25519 keys and signatures, and the verification rule the ledger uses.
//!
//! # Verification rule
//! Every node must reach the same verdict on every signature, whatever path checks it (one
//! transaction alone, a block's batch, the mempool's batch with its key cache) and however the
//! list is split into batches. The rule is therefore fixed here, in one place, and every path
//! calls it. For a signer `A` (32 bytes), signature `R || s` (32 + 32 bytes) and message `M`
//! (the transaction's 32-byte `signing_hash`), the signature is valid iff, in this order:
//!
//! 1. `A` is the canonical encoding of a curve point (`y < p`, and not the sign bit set on
//!    `x = 0`), else [`SigError::BadKey`];
//! 2. `A` is not of small order (`[8]A != 0`, i.e. not one of the eight 8-torsion points, in
//!    any encoding), else [`SigError::WeakKey`];
//! 3. `R` is the canonical encoding of a curve point, else [`SigError::MalformedR`];
//! 4. `R` is not of small order, else [`SigError::SmallOrderR`];
//! 5. `s` is canonical (`s < ℓ`), else [`SigError::NonCanonicalS`];
//! 6. the **cofactored** equation holds: `[8](s·B − R − k·A) = 0` with
//!    `k = SHA-512(R || A || M) mod ℓ` over the bytes as given, else
//!    [`SigError::BadSignature`].
//!
//! [`SignedTx::verify`] checks exactly this. [`verify_batch`] (and
//! [`verify_batch_with_keys`], which the mempool's cached verifier uses) check the same rule
//! for many transactions: rules 1–5 per transaction, then rule 6 for a whole batch at once as
//! `[8](Σ zᵢsᵢ·B − Σ zᵢ·Rᵢ − Σ zᵢkᵢ·Aᵢ) = 0`, with 128-bit coefficients `zᵢ` derived
//! deterministically (blake3) from every input of the batch. If the batch equation fails, each
//! member is checked alone with the single equation.
//!
//! # Why this rule
//! - *Small-order keys and `R` are rejected.* With a small-order `A`, `[8]k·A = 0` for every
//!   `k`, so `R = 0, s = 0` (or any small-order `R` with `s = 0`) verifies under every message:
//!   anyone could spend what is sent to such an account. ZIP-215, which fixes the cofactored
//!   equation for consensus, still accepts these keys, so rules 2 and 4 are added on top.
//! - *Cofactored, not cofactorless.* A batch check sums random multiples of each member's
//!   residual `s·B − R − k·A`; a residual with a torsion component cancels or not depending on
//!   `zᵢ mod 8`, so a cofactorless batch can accept what the cofactorless single check rejects
//!   (and the verdict would depend on how the list was chunked). Multiplying by the cofactor
//!   removes torsion: each `[8]`-residual lies in the prime-order subgroup, so the batch
//!   equation holds iff every member's single equation holds, except with probability at most
//!   2⁻¹²⁸ per batch (a failing member slipping through; the coefficients are fixed by the
//!   inputs, so a forger would have to grind about 2¹²⁸ batches). ed25519-dalek's own
//!   `verify_batch` is cofactorless and `verify_strict` is cofactorless; neither is used.
//! - *Canonical encodings and `s`.* Encodings are hashed as given, so accepting two encodings
//!   of one point, or `s + ℓ` for `s`, would make signatures malleable (two valid byte strings
//!   for one authorisation). Rejecting them is a byte check and costs nothing.
//!
//! Keys the owner generated honestly (`A = a·B`) are unaffected by any of this: their
//! signatures pass under every rule above.
//!
//! # Keys cached by callers
//! [`ValidKey::parse`] applies rules 1–2 and keeps the decompressed point; a verdict computed
//! from a cached `Result<ValidKey, SigError>` equals the one computed from the bytes, because
//! the result is a plain function of the 32 key bytes.

use borsh::{BorshDeserialize, BorshSerialize};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signer, SigningKey};
use rand_core::CryptoRngCore;
use rayon::prelude::*;
use sha2::{Digest, Sha512};

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

/// Why a signature does not verify; one variant per rule of the module docs, in their order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    /// Rule 1: the signer's 32 bytes are not the canonical encoding of a curve point.
    #[error("signer is not the canonical encoding of an ed25519 point")]
    BadKey,
    /// Rule 2: the signer is a point of small order (an 8-torsion point, in any encoding).
    #[error("signer is a small-order ed25519 point; such keys are rejected (forgeable)")]
    WeakKey,
    /// Rule 3: the signature's `R` is not the canonical encoding of a curve point.
    #[error("signature R is not the canonical encoding of an ed25519 point")]
    MalformedR,
    /// Rule 4: the signature's `R` is a point of small order.
    #[error("signature R is a small-order ed25519 point; such signatures are rejected")]
    SmallOrderR,
    /// Rule 5: the signature's `s` is not reduced modulo the group order ℓ.
    #[error("signature s is not canonical; it must be less than the group order")]
    NonCanonicalS,
    /// Rule 6: the cofactored verification equation does not hold.
    #[error("signature does not verify for this signer, chain id and transaction")]
    BadSignature,
}

/// Transactions per batch in [`verify_batch`].
pub const BATCH_CHUNK: usize = 64;

/// The canonical encodings of the eight points of small order (the 8-torsion subgroup), in the
/// order `k·T` for `k = 0..8` and a generator `T`: the identity, the point of order 2, the two
/// of order 4 and the four of order 8 (`k = 1, 3, 5, 7`). Rule 2 rejects them as keys
/// ([`SigError::WeakKey`]) and rule 4 as `R` ([`SigError::SmallOrderR`]).
pub const SMALL_ORDER_ENCODINGS: [[u8; 32]; 8] = [
    // order 1: y = 1
    [
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00,
    ],
    // order 8
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
    // order 4: y = 0, odd x
    [
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x80,
    ],
    // order 8
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    // order 2: y = -1
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    // order 8
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x85,
    ],
    // order 4: y = 0, even x
    [
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00,
    ],
    // order 8
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0xfa,
    ],
];

/// The non-canonical encodings that decompress to small-order points: `y = 1` and `y = -1`
/// with the sign bit set, and `y + p` for `y = 0, 1` with either sign bit. Rule 1 rejects them
/// as keys ([`SigError::BadKey`]) and rule 3 as `R` ([`SigError::MalformedR`]).
pub const NON_CANONICAL_SMALL_ORDER_ENCODINGS: [[u8; 32]; 6] = [
    [
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x80,
    ],
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff,
    ],
    [
        0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    [
        0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff,
    ],
    [
        0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    [
        0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff,
    ],
];

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

/// A signer key that passed rules 1–2 (canonical encoding, not of small order), with its
/// decompressed point. Callers that see the same signers again may cache
/// `ValidKey::parse(account)` per account (see [`verify_batch_with_keys`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidKey {
    bytes: [u8; 32],
    point: EdwardsPoint,
}

impl ValidKey {
    /// Apply rules 1–2 to a signer's bytes.
    pub fn parse(account: &AccountId) -> Result<ValidKey, SigError> {
        let point = decode_point(&account.0).ok_or(SigError::BadKey)?;
        if point.is_small_order() {
            return Err(SigError::WeakKey);
        }
        Ok(ValidKey {
            bytes: account.0,
            point,
        })
    }

    /// The account these key bytes are.
    pub fn account(&self) -> AccountId {
        AccountId(self.bytes)
    }
}

/// Whether `bytes` is the canonical encoding of a field element `y` and sign bit: `y < p`
/// (`p = 2^255 − 19`), and the sign bit is clear when `x = 0` (`y = ±1`). Equivalent to
/// `decompress(bytes).compress() == bytes` for every decompressible `bytes`, without the field
/// inversion.
pub fn is_canonical_encoding(bytes: &[u8; 32]) -> bool {
    let [low, middle @ .., high] = *bytes;
    let y_high = high & 0x7f;
    let sign = high & 0x80 != 0;
    let middle_ones = middle.iter().all(|b| *b == 0xff);
    let middle_zeros = middle.iter().all(|b| *b == 0);
    // y >= p iff y = 2^255 - 19 + t, t in 0..19: all ones except the low byte >= 0xed.
    let y_at_least_p = y_high == 0x7f && middle_ones && low >= 0xed;
    // y = 1, or y = p - 1 = 2^255 - 20 (low byte 0xec).
    let y_is_one = y_high == 0 && middle_zeros && low == 1;
    let y_is_minus_one = y_high == 0x7f && middle_ones && low == 0xec;
    !y_at_least_p && !(sign && (y_is_one || y_is_minus_one))
}

/// The point `bytes` canonically encodes, if any.
fn decode_point(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    if !is_canonical_encoding(bytes) {
        return None;
    }
    CompressedEdwardsY(*bytes).decompress()
}

/// One signature after rules 1–5: the points and scalars of the verification equation.
struct Prepared {
    a: EdwardsPoint,
    r: EdwardsPoint,
    s: Scalar,
    /// `k = SHA-512(R || A || M) mod ℓ`.
    k: Scalar,
}

fn prepare(stx: &SignedTx, key: Result<ValidKey, SigError>) -> Result<Prepared, SigError> {
    let key = key?;
    let sig = ed25519_dalek::Signature::from_bytes(&stx.signature.0);
    let r_bytes = sig.r_bytes();
    let r = decode_point(r_bytes).ok_or(SigError::MalformedR)?;
    if r.is_small_order() {
        return Err(SigError::SmallOrderR);
    }
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(*sig.s_bytes()))
        .ok_or(SigError::NonCanonicalS)?;
    let mut h = Sha512::new();
    h.update(r_bytes);
    h.update(key.bytes);
    h.update(stx.tx.signing_hash().0);
    let wide: [u8; 64] = h.finalize().into();
    Ok(Prepared {
        a: key.point,
        r,
        s,
        k: Scalar::from_bytes_mod_order_wide(&wide),
    })
}

/// Rule 6 for one signature: `[8](s·B − k·A − R) = 0`.
fn equation_holds(p: &Prepared) -> bool {
    let sb_minus_ka = EdwardsPoint::vartime_double_scalar_mul_basepoint(&-p.k, &p.a, &p.s);
    (sb_minus_ka - p.r).mul_by_cofactor().is_identity()
}

/// Rule 6 for all of `ps` at once: `[8](Σ zᵢsᵢ·B − Σ zᵢ·Rᵢ − Σ zᵢkᵢ·Aᵢ) = 0`, the 128-bit
/// `zᵢ` read from blake3 over every `(kᵢ, sᵢ)` (`kᵢ` binds `Rᵢ`, `Aᵢ` and the message).
fn batch_equation_holds(ps: &[&Prepared]) -> bool {
    let mut transcript = blake3::Hasher::new_derive_key("deai ed25519 batch coefficients v1");
    transcript.update(&(ps.len() as u64).to_le_bytes());
    for p in ps {
        transcript.update(p.k.as_bytes());
        transcript.update(p.s.as_bytes());
    }
    let mut xof = transcript.finalize_xof();
    let zs: Vec<Scalar> = ps
        .iter()
        .map(|_| {
            let mut z = [0u8; 16];
            xof.fill(&mut z);
            Scalar::from(u128::from_le_bytes(z))
        })
        .collect();
    let b_coefficient: Scalar = ps.iter().zip(&zs).map(|(p, z)| z * p.s).sum();
    let scalars = std::iter::once(b_coefficient)
        .chain(zs.iter().map(|z| -z))
        .chain(ps.iter().zip(&zs).map(|(p, z)| -(z * p.k)));
    let points = std::iter::once(curve25519_dalek::constants::ED25519_BASEPOINT_POINT)
        .chain(ps.iter().map(|p| p.r))
        .chain(ps.iter().map(|p| p.a));
    EdwardsPoint::vartime_multiscalar_mul(scalars, points)
        .mul_by_cofactor()
        .is_identity()
}

/// Verdicts for prepared signatures: one batch equation over those that passed rules 1–5; if
/// it fails, the single equation for each.
fn verdicts(prepared: &[Result<Prepared, SigError>]) -> Vec<bool> {
    let candidates: Vec<&Prepared> = prepared.iter().filter_map(|p| p.as_ref().ok()).collect();
    if batch_equation_holds(&candidates) {
        return prepared.iter().map(Result::is_ok).collect();
    }
    prepared
        .iter()
        .map(|p| p.as_ref().is_ok_and(equation_holds))
        .collect()
}

impl SignedTx {
    /// Check the signature under the ledger's verification rule (see the module docs); the
    /// error names the first rule that fails.
    pub fn verify(&self) -> Result<(), SigError> {
        let p = prepare(self, ValidKey::parse(&self.signer))?;
        if equation_holds(&p) {
            Ok(())
        } else {
            Err(SigError::BadSignature)
        }
    }
}

/// Verify `txs` as one batch (no chunking, no threads) with their signers' keys already
/// parsed: `out[i] == txs[i].verify().is_ok()`.
///
/// `keys[i]` must be `ValidKey::parse(&txs[i].signer)`, e.g. from a cache. An `Ok` key whose
/// bytes are not `txs[i].signer`, and a missing entry, are parsed again from the signer, so a
/// misaligned cache can reject a valid transaction but never accept an invalid one.
pub fn verify_batch_with_keys(txs: &[SignedTx], keys: &[Result<ValidKey, SigError>]) -> Vec<bool> {
    let prepared: Vec<Result<Prepared, SigError>> = txs
        .iter()
        .enumerate()
        .map(|(i, tx)| {
            let key = match keys.get(i) {
                Some(Ok(k)) if k.bytes == tx.signer.0 => Ok(*k),
                Some(Err(e)) => Err(*e),
                _ => ValidKey::parse(&tx.signer),
            };
            prepare(tx, key)
        })
        .collect();
    verdicts(&prepared)
}

/// Verify many signed transactions: `out[i]` is `txs[i].verify().is_ok()`, computed in parallel
/// chunks of [`BATCH_CHUNK`] batch verifications (see the module docs).
pub fn verify_batch(txs: &[SignedTx]) -> Vec<bool> {
    txs.par_chunks(BATCH_CHUNK)
        .map(|chunk| {
            let prepared: Vec<Result<Prepared, SigError>> = chunk
                .iter()
                .map(|tx| prepare(tx, ValidKey::parse(&tx.signer)))
                .collect();
            verdicts(&prepared)
        })
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
    use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
    use proptest::prelude::*;

    fn tx(n: u64) -> Tx {
        Tx {
            chain_id: ChainId::new("t").unwrap(),
            nonce: Nonce(n),
            fee: Amount(1),
            call: Call::Withdraw,
        }
    }

    /// A transaction "signed" with arbitrary key bytes, `R` bytes and `s`.
    fn raw(n: u64, signer: [u8; 32], r: [u8; 32], s: [u8; 32]) -> SignedTx {
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&r);
        signature[32..].copy_from_slice(&s);
        SignedTx {
            tx: tx(n),
            signer: AccountId(signer),
            signature: Signature(signature),
        }
    }

    /// Today's rule before the fix: dalek's cofactorless `verify_batch` on one signature.
    fn old_rule_accepts(stx: &SignedTx) -> bool {
        let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&stx.signer.0) else {
            return false;
        };
        let sig = ed25519_dalek::Signature::from_bytes(&stx.signature.0);
        let msg = stx.tx.signing_hash().0;
        ed25519_dalek::verify_batch(&[&msg[..]], &[sig], &[key]).is_ok()
    }

    /// The secret scalar `a` of a seed (`A = a·B`).
    fn secret(seed: [u8; 32]) -> Scalar {
        let h: [u8; 64] = Sha512::digest(seed).into();
        let mut lower = [0u8; 32];
        lower.copy_from_slice(&h[..32]);
        Scalar::from_bytes_mod_order(curve25519_dalek::scalar::clamp_integer(lower))
    }

    /// Signs `tx(n)` for the key point `a_point` (secret `a`, plus any torsion) with nonce
    /// point `r_point` (secret `r`, plus any torsion): `s = r + k·a`.
    fn sign_with(
        n: u64,
        a: Scalar,
        a_point: EdwardsPoint,
        r: Scalar,
        r_point: EdwardsPoint,
    ) -> SignedTx {
        let a_bytes = a_point.compress().0;
        let r_bytes = r_point.compress().0;
        let t = tx(n);
        let mut h = Sha512::new();
        h.update(r_bytes);
        h.update(a_bytes);
        h.update(t.signing_hash().0);
        let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
        raw(n, a_bytes, r_bytes, (r + k * a).to_bytes())
    }

    #[test]
    fn small_order_tables_are_the_eight_torsion_points_and_their_aliases() {
        let want: Vec<[u8; 32]> = EIGHT_TORSION.iter().map(|p| p.compress().0).collect();
        assert_eq!(SMALL_ORDER_ENCODINGS.to_vec(), want);
        for enc in SMALL_ORDER_ENCODINGS {
            assert!(is_canonical_encoding(&enc));
            let p = CompressedEdwardsY(enc).decompress().unwrap();
            assert!(p.is_small_order());
        }
        for enc in NON_CANONICAL_SMALL_ORDER_ENCODINGS {
            assert!(!is_canonical_encoding(&enc));
            let p = CompressedEdwardsY(enc).decompress().unwrap();
            assert!(p.is_small_order());
            assert!(SMALL_ORDER_ENCODINGS.contains(&p.compress().0));
        }
    }

    #[test]
    fn canonical_encoding_check_equals_the_compression_round_trip_at_the_edges() {
        // Every y in p..2^255 (the only non-canonical y), y = ±1, and y just below p, with
        // both sign bits.
        let mut cases = Vec::new();
        for low in 0xd0..=0xffu8 {
            let mut b = [0xffu8; 32];
            b[0] = low;
            b[31] = 0x7f;
            cases.push(b);
        }
        let mut one = [0u8; 32];
        one[0] = 1;
        cases.push(one);
        for b in cases.clone() {
            let mut signed = b;
            signed[31] |= 0x80;
            cases.push(signed);
        }
        for b in cases {
            let round_trip = CompressedEdwardsY(b)
                .decompress()
                .map(|p| p.compress().0 == b);
            if let Some(rt) = round_trip {
                assert_eq!(is_canonical_encoding(&b), rt, "{b:02x?}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn canonical_encoding_check_equals_the_compression_round_trip(b in any::<[u8; 32]>()) {
            if let Some(p) = CompressedEdwardsY(b).decompress() {
                prop_assert_eq!(is_canonical_encoding(&b), p.compress().0 == b);
            }
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
        let mut bad = s.clone();
        bad.signature.0[63] ^= 0xf0; // s >= 2^252 + ... : not reduced
        assert_eq!(bad.verify(), Err(SigError::NonCanonicalS));
        // s + ℓ is the same scalar, not the same bytes: rejected (no malleability).
        let mut bad = s;
        let s_plus_l = {
            let mut out = [0u8; 32];
            let mut carry = 0u16;
            let mut l = (-Scalar::ONE).to_bytes(); // ℓ − 1, low byte 0xec
            l[0] += 1;
            for i in 0..32 {
                let v = u16::from(bad.signature.0[32 + i]) + u16::from(l[i]) + carry;
                out[i] = v as u8;
                carry = v >> 8;
            }
            out
        };
        if s_plus_l[31] < 0x20 {
            bad.signature.0[32..].copy_from_slice(&s_plus_l);
            assert_eq!(bad.verify(), Err(SigError::NonCanonicalS));
        }
    }

    #[test]
    fn forged_spend_from_the_identity_key_is_rejected() {
        // Signer 01 00..00 (the identity point), R = identity, s = 0: [8](0·B − 0 − k·0) = 0
        // for every message. Accepted before this rule existed; rejected by every path now.
        let forged = raw(
            0,
            SMALL_ORDER_ENCODINGS[0],
            SMALL_ORDER_ENCODINGS[0],
            [0; 32],
        );
        assert!(
            old_rule_accepts(&forged),
            "the forgery this test guards against"
        );
        assert_eq!(forged.verify(), Err(SigError::WeakKey));
        assert_eq!(verify_batch(std::slice::from_ref(&forged)), vec![false]);
        assert_eq!(
            verify_batch_with_keys(
                std::slice::from_ref(&forged),
                &[ValidKey::parse(&forged.signer)]
            ),
            vec![false]
        );
        assert_eq!(ValidKey::parse(&forged.signer), Err(SigError::WeakKey));
    }

    #[test]
    fn every_small_order_key_is_rejected_with_every_small_order_r_in_every_path() {
        let honest = Keypair::from_seed([3; 32]);
        let mut txs = Vec::new();
        let mut accepted_before = 0;
        for (i, a) in SMALL_ORDER_ENCODINGS.iter().enumerate() {
            for (j, r) in SMALL_ORDER_ENCODINGS.iter().enumerate() {
                let forged = raw((8 * i + j) as u64, *a, *r, [0; 32]);
                accepted_before += usize::from(old_rule_accepts(&forged));
                assert_eq!(forged.verify(), Err(SigError::WeakKey), "A #{i}, R #{j}");
                txs.push(forged);
            }
            // Rule 2 comes before any look at the signature.
            let mut with_honest_sig = honest.sign_tx(tx(i as u64));
            with_honest_sig.signer = AccountId(*a);
            assert_eq!(with_honest_sig.verify(), Err(SigError::WeakKey));
            txs.push(with_honest_sig);
        }
        for a in NON_CANONICAL_SMALL_ORDER_ENCODINGS {
            let forged = raw(0, a, SMALL_ORDER_ENCODINGS[0], [0; 32]);
            assert_eq!(forged.verify(), Err(SigError::BadKey), "{a:02x?}");
            txs.push(forged);
        }
        // The identity pairs at least were accepted before.
        assert!(accepted_before >= 8, "{accepted_before}");
        // Batches of forgeries alone, and mixed among valid transactions, in every path.
        assert_eq!(verify_batch(&txs), vec![false; txs.len()]);
        let mut mixed = Vec::new();
        for (n, f) in txs.iter().enumerate() {
            mixed.push(honest.sign_tx(tx(1_000 + n as u64)));
            mixed.push(f.clone());
        }
        let want: Vec<bool> = mixed.iter().map(|t| t.verify().is_ok()).collect();
        assert_eq!(want.iter().filter(|b| **b).count(), txs.len());
        assert_eq!(verify_batch(&mixed), want);
        let keys: Vec<_> = mixed.iter().map(|t| ValidKey::parse(&t.signer)).collect();
        assert_eq!(verify_batch_with_keys(&mixed, &keys), want);
    }

    #[test]
    fn small_order_r_is_rejected_even_when_the_cofactored_equation_holds() {
        // An honest key, R a small-order point and s = k·a: [8](s·B − R − k·A) = [8](−R) = 0,
        // so the equation alone would accept; rule 4 rejects.
        let seed = [5; 32];
        let a = secret(seed);
        let a_point = a * ED25519_BASEPOINT_POINT;
        assert_eq!(Keypair::from_seed(seed).account().0, a_point.compress().0);
        let mut txs = Vec::new();
        for (j, t) in EIGHT_TORSION.iter().enumerate() {
            let stx = sign_with(j as u64, a, a_point, Scalar::ZERO, *t);
            assert_eq!(stx.verify(), Err(SigError::SmallOrderR), "R #{j}");
            let p = prepare(&stx, ValidKey::parse(&stx.signer));
            assert!(matches!(p, Err(SigError::SmallOrderR)));
            txs.push(stx);
        }
        // R = identity, s = k·a: today's rule accepted it.
        assert!(old_rule_accepts(&txs[0]));
        for r in NON_CANONICAL_SMALL_ORDER_ENCODINGS {
            let mut stx = txs[0].clone();
            stx.signature.0[..32].copy_from_slice(&r);
            assert_eq!(stx.verify(), Err(SigError::MalformedR));
            txs.push(stx);
        }
        assert_eq!(verify_batch(&txs), vec![false; txs.len()]);
    }

    #[test]
    fn mixed_order_keys_and_r_verify_alike_in_single_and_every_batching() {
        // A = a·B + T and R = r·B + T' with T, T' of order 8: the residual s·B − R − k·A is a
        // torsion point, which the cofactored equation ignores. The cofactorless rule accepted
        // such a signature or not depending on the batch's random coefficients mod 8, so a
        // verdict could change with the chunking; here every path agrees.
        let honest = Keypair::from_seed([11; 32]);
        let mut txs = Vec::new();
        for n in 0..40u64 {
            let a = secret([n as u8 + 20; 32]);
            let r = Scalar::from(1_000 + n);
            let ta = EIGHT_TORSION[(n % 8) as usize];
            let tr = EIGHT_TORSION[((n / 8) % 8) as usize];
            let a_point = a * ED25519_BASEPOINT_POINT + ta;
            let r_point = r * ED25519_BASEPOINT_POINT + tr;
            let stx = sign_with(n, a, a_point, r, r_point);
            assert_eq!(stx.verify(), Ok(()), "n = {n}");
            txs.push(stx);
            txs.push(honest.sign_tx(tx(n)));
            // The same torsion-carrying signature with a bad s fails everywhere.
            let mut bad = sign_with(n + 100, a, a_point, r, r_point);
            bad.signature.0[32] ^= 1;
            assert_eq!(bad.verify(), Err(SigError::BadSignature));
            txs.push(bad);
        }
        let want: Vec<bool> = txs.iter().map(|t| t.verify().is_ok()).collect();
        assert_eq!(verify_batch(&txs), want);
        let keys: Vec<_> = txs.iter().map(|t| ValidKey::parse(&t.signer)).collect();
        for size in [1, 2, 3, 7, 16, 64, txs.len()] {
            let got: Vec<bool> = txs
                .chunks(size)
                .zip(keys.chunks(size))
                .flat_map(|(t, k)| verify_batch_with_keys(t, k))
                .collect();
            assert_eq!(got, want, "chunks of {size}");
        }
        // Only the valid ones together: the batch equation itself accepts (no fallback).
        let valid: Vec<&Prepared> = Vec::new();
        assert!(batch_equation_holds(&valid));
        let prepared: Vec<Prepared> = txs
            .iter()
            .filter(|t| t.verify().is_ok())
            .map(|t| prepare(t, ValidKey::parse(&t.signer)).unwrap())
            .collect();
        let refs: Vec<&Prepared> = prepared.iter().collect();
        assert!(batch_equation_holds(&refs));
    }

    #[test]
    fn misaligned_cached_keys_never_accept_more() {
        let k = Keypair::from_seed([9; 32]);
        let other = Keypair::from_seed([10; 32]);
        let txs = vec![k.sign_tx(tx(0)), k.sign_tx(tx(1))];
        let wrong = ValidKey::parse(&other.account());
        // A key for another account is parsed again from the signer: still valid.
        assert_eq!(verify_batch_with_keys(&txs, &[wrong, wrong]), vec![true; 2]);
        // Missing entries are parsed from the signer.
        assert_eq!(verify_batch_with_keys(&txs, &[]), vec![true; 2]);
        // A cached rejection stays a rejection.
        assert_eq!(
            verify_batch_with_keys(&txs, &[Err(SigError::BadKey), wrong]),
            vec![false, true]
        );
    }

    #[test]
    fn batch_matches_single_with_bad_ones_anywhere() {
        let k = Keypair::from_seed([9; 32]);
        let mut txs: Vec<SignedTx> = (0..200).map(|n| k.sign_tx(tx(n))).collect();
        for i in [0usize, 63, 64, 130, 199] {
            txs[i].signature.0[0] ^= 1;
        }
        txs[5].signer = AccountId([0xff; 32]); // not canonical (y >= p)
        let got = verify_batch(&txs);
        let want: Vec<bool> = txs.iter().map(|t| t.verify().is_ok()).collect();
        assert_eq!(got, want);
        assert_eq!(got.iter().filter(|b| !**b).count(), 6);
        assert_eq!(txs[5].verify(), Err(SigError::BadKey));
    }
}
