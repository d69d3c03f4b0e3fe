//! The mempool: signed transactions waiting for a block.
//!
//! Admission ([`Mempool::insert`], [`Mempool::insert_batch`]) rejects, with a typed
//! [`MempoolError`], a transaction that
//! - is signed for another chain id,
//! - offers a fee below the chain's minimum, or more than the signer's balance can pay now (it
//!   would only be dropped when a block is built),
//! - has a nonce the signer already used (stale: below the account's next nonce in the state),
//!   or one too far ahead of it (more than `max_nonce_gap`),
//! - repeats the nonce of a transaction of the same signer already waiting,
//! - would overflow the pool (`max_txs`) or the signer's share of it (`max_per_sender`),
//! - carries an invalid signature (the expensive check; the batch path verifies a whole
//!   [`VerifiedBatch`] in parallel with a [`SigVerifier`], possibly on another thread while the
//!   previous block executes — same verdicts as `SignedTx::verify`).
//!
//! Ordering: transactions leave the pool ([`Mempool::take_ready`]) in arrival order, except that
//! a signer's transactions always leave in nonce order and only when contiguous with the
//! account's next nonce: a transaction whose predecessor has not arrived waits for it.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;

use deai_chain::State;
use deai_types::{AccountId, ChainId, Hash32, SignedTx};

use crate::account_nonce;
use crate::sigs::SigVerifier;

/// Transactions whose signatures were checked by a [`SigVerifier`]; built on any thread, then
/// handed to [`Mempool::insert_verified`]. It can only be made by verifying, so a verdict
/// cannot be forged.
#[derive(Debug, Clone)]
pub struct VerifiedBatch {
    txs: Vec<SignedTx>,
    sig_ok: Vec<bool>,
}

impl VerifiedBatch {
    /// Verifies the signatures of `txs` (in parallel).
    pub fn new(txs: Vec<SignedTx>, verifier: &SigVerifier) -> Self {
        let sig_ok = verifier.verify(&txs);
        Self { txs, sig_ok }
    }

    /// Number of transactions.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// Number of transactions whose signature verified.
    pub fn valid(&self) -> usize {
        self.sig_ok.iter().filter(|ok| **ok).count()
    }
}

/// Limits of a [`Mempool`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MempoolConfig {
    /// Most transactions held at once.
    pub max_txs: usize,
    /// Most transactions held for one signer.
    pub max_per_sender: usize,
    /// Largest accepted distance between a transaction's nonce and the signer's next nonce.
    pub max_nonce_gap: u64,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        Self {
            max_txs: 200_000,
            max_per_sender: 1024,
            max_nonce_gap: 1024,
        }
    }
}

/// Why a transaction was refused admission.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    /// The transaction is signed for another chain.
    #[error("transaction is for chain {got:?}, but this chain is {expected:?}")]
    WrongChain {
        /// This chain's id.
        expected: String,
        /// The transaction's chain id.
        got: String,
    },
    /// The signature does not verify against the signer's key.
    #[error(
        "invalid signature from {signer}: the transaction must be signed by the key of its signer"
    )]
    BadSignature {
        /// The claimed signer (hex).
        signer: String,
    },
    /// The nonce was already used.
    #[error("stale nonce {nonce} from {signer}: the next nonce of this account is {expected}")]
    StaleNonce {
        /// The signer (hex).
        signer: String,
        /// The transaction's nonce.
        nonce: u64,
        /// The account's next nonce.
        expected: u64,
    },
    /// The nonce is too far ahead of the account's next nonce.
    #[error("nonce {nonce} from {signer} is too far ahead: the next nonce is {expected} and at most {max_gap} ahead is accepted")]
    NonceTooFar {
        /// The signer (hex).
        signer: String,
        /// The transaction's nonce.
        nonce: u64,
        /// The account's next nonce.
        expected: u64,
        /// Largest accepted gap.
        max_gap: u64,
    },
    /// A transaction of this signer with this nonce is already waiting.
    #[error("a transaction from {signer} with nonce {nonce} is already in the mempool")]
    DuplicateNonce {
        /// The signer (hex).
        signer: String,
        /// The nonce.
        nonce: u64,
    },
    /// The fee is below the chain's minimum fee.
    #[error("fee {offered} from {signer} is below the chain's minimum fee {min}")]
    FeeTooLow {
        /// The signer (hex).
        signer: String,
        /// The transaction's fee.
        offered: u128,
        /// The minimum fee.
        min: u128,
    },
    /// The signer's balance cannot pay the fee.
    #[error("{signer} has balance {balance} and cannot pay the fee {fee}; fund the account first")]
    CannotPayFee {
        /// The signer (hex).
        signer: String,
        /// The signer's free balance.
        balance: u128,
        /// The transaction's fee.
        fee: u128,
    },
    /// The pool is full.
    #[error("the mempool is full ({capacity} transactions); retry after the next block")]
    Full {
        /// Its capacity.
        capacity: usize,
    },
    /// The signer already has the most transactions allowed waiting.
    #[error("{signer} already has {capacity} transactions waiting; retry after the next block")]
    SenderFull {
        /// The signer (hex).
        signer: String,
        /// The per-signer capacity.
        capacity: usize,
    },
}

#[derive(Debug)]
struct Entry {
    seq: u64,
    tx: SignedTx,
}

/// Signed transactions waiting for a block; see the module docs for admission and ordering.
#[derive(Debug)]
pub struct Mempool {
    chain_id: ChainId,
    config: MempoolConfig,
    next_seq: u64,
    len: usize,
    by_sender: BTreeMap<AccountId, BTreeMap<u64, Entry>>,
    verifier: Arc<SigVerifier>,
}

impl Mempool {
    /// An empty pool for transactions of `chain_id`.
    pub fn new(chain_id: ChainId, config: MempoolConfig) -> Self {
        Self {
            chain_id,
            config,
            next_seq: 0,
            len: 0,
            by_sender: BTreeMap::new(),
            verifier: Arc::new(SigVerifier::default()),
        }
    }

    /// The signature verifier (with its key cache) this pool uses; share it to build
    /// [`VerifiedBatch`]es on other threads.
    pub fn verifier(&self) -> Arc<SigVerifier> {
        Arc::clone(&self.verifier)
    }

    /// Number of transactions waiting.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no transaction is waiting.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The pool's limits.
    pub fn config(&self) -> MempoolConfig {
        self.config
    }

    /// Admits one transaction, verifying its signature; returns its hash.
    pub fn insert(&mut self, tx: SignedTx, state: &State) -> Result<Hash32, MempoolError> {
        self.check_stateless(&tx, state)?;
        if self.verifier.verify(std::slice::from_ref(&tx)) != [true] {
            return Err(MempoolError::BadSignature {
                signer: tx.signer.to_string(),
            });
        }
        self.admit(tx)
    }

    /// Admits many transactions, verifying their signatures in parallel; returns one result per
    /// transaction, in order. Equivalent to calling [`Mempool::insert`] on each in order.
    pub fn insert_batch(
        &mut self,
        txs: Vec<SignedTx>,
        state: &State,
    ) -> Vec<Result<Hash32, MempoolError>> {
        let batch = VerifiedBatch::new(txs, &self.verifier);
        self.insert_verified(batch, state)
    }

    /// Admits an already verified batch; one result per transaction, in order. Equivalent to
    /// calling [`Mempool::insert`] on each in order.
    pub fn insert_verified(
        &mut self,
        batch: VerifiedBatch,
        state: &State,
    ) -> Vec<Result<Hash32, MempoolError>> {
        let VerifiedBatch { txs, sig_ok } = batch;
        txs.into_iter()
            .zip(sig_ok)
            .map(|(tx, ok)| {
                self.check_stateless(&tx, state)?;
                if !ok {
                    return Err(MempoolError::BadSignature {
                        signer: tx.signer.to_string(),
                    });
                }
                self.admit(tx)
            })
            .collect()
    }

    fn check_stateless(&self, tx: &SignedTx, state: &State) -> Result<(), MempoolError> {
        if tx.tx.chain_id != self.chain_id {
            return Err(MempoolError::WrongChain {
                expected: self.chain_id.to_string(),
                got: tx.tx.chain_id.to_string(),
            });
        }
        if tx.tx.fee < state.params().min_fee {
            return Err(MempoolError::FeeTooLow {
                signer: tx.signer.to_string(),
                offered: tx.tx.fee.0,
                min: state.params().min_fee.0,
            });
        }
        let balance = state.balance_of(&tx.signer);
        if balance < tx.tx.fee {
            return Err(MempoolError::CannotPayFee {
                signer: tx.signer.to_string(),
                balance: balance.0,
                fee: tx.tx.fee.0,
            });
        }
        let expected = account_nonce(state, &tx.signer);
        let nonce = tx.tx.nonce.0;
        if nonce < expected {
            return Err(MempoolError::StaleNonce {
                signer: tx.signer.to_string(),
                nonce,
                expected,
            });
        }
        if nonce - expected > self.config.max_nonce_gap {
            return Err(MempoolError::NonceTooFar {
                signer: tx.signer.to_string(),
                nonce,
                expected,
                max_gap: self.config.max_nonce_gap,
            });
        }
        if let Some(queue) = self.by_sender.get(&tx.signer) {
            if queue.contains_key(&nonce) {
                return Err(MempoolError::DuplicateNonce {
                    signer: tx.signer.to_string(),
                    nonce,
                });
            }
            if queue.len() >= self.config.max_per_sender {
                return Err(MempoolError::SenderFull {
                    signer: tx.signer.to_string(),
                    capacity: self.config.max_per_sender,
                });
            }
        }
        if self.len >= self.config.max_txs {
            return Err(MempoolError::Full {
                capacity: self.config.max_txs,
            });
        }
        Ok(())
    }

    fn admit(&mut self, tx: SignedTx) -> Result<Hash32, MempoolError> {
        let hash = tx.hash();
        let seq = self.next_seq;
        self.next_seq += 1;
        self.len += 1;
        self.by_sender
            .entry(tx.signer)
            .or_default()
            .insert(tx.tx.nonce.0, Entry { seq, tx });
        Ok(hash)
    }

    /// Drops every transaction whose nonce is below its signer's next nonce in `state`.
    pub fn prune(&mut self, state: &State) {
        let mut removed = 0usize;
        self.by_sender.retain(|signer, queue| {
            let next = account_nonce(state, signer);
            while queue.first_key_value().is_some_and(|(n, _)| *n < next) {
                queue.pop_first();
                removed += 1;
            }
            !queue.is_empty()
        });
        self.len -= removed;
    }

    /// Removes and returns up to `max` transactions that can execute next against `state`, in
    /// arrival order, each signer's in nonce order starting at its next nonce. Stale
    /// transactions are dropped first (see [`Mempool::prune`]).
    pub fn take_ready(&mut self, state: &State, max: usize) -> Vec<SignedTx> {
        self.prune(state);
        // Heads of line: for each signer whose lowest waiting nonce is its next nonce, the
        // arrival number of that transaction.
        let mut ready: BinaryHeap<Reverse<(u64, AccountId)>> = self
            .by_sender
            .iter()
            .filter_map(|(signer, queue)| {
                let (&nonce, entry) = queue.first_key_value()?;
                (nonce == account_nonce(state, signer)).then_some(Reverse((entry.seq, *signer)))
            })
            .collect();
        let mut out = Vec::with_capacity(max.min(self.len));
        while out.len() < max {
            let Some(Reverse((_, signer))) = ready.pop() else {
                break;
            };
            let Some(queue) = self.by_sender.get_mut(&signer) else {
                continue;
            };
            let Some((nonce, entry)) = queue.pop_first() else {
                continue;
            };
            out.push(entry.tx);
            self.len -= 1;
            match queue.first_key_value() {
                Some((&next, next_entry)) if Some(next) == nonce.checked_add(1) => {
                    ready.push(Reverse((next_entry.seq, signer)));
                }
                Some(_) => {}
                None => {
                    self.by_sender.remove(&signer);
                }
            }
        }
        out
    }
}
