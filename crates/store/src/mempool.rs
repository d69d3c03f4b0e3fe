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
//! - would overflow the signer's share of the pool (`max_per_sender`),
//! - would commit the signer to more fees than its balance: the fees of everything it has
//!   waiting plus this one must not exceed its balance (see *Balance bound*),
//! - would overflow the pool (`max_txs`) without outbidding a waiting transaction (see
//!   *Eviction*),
//! - carries an invalid signature (the expensive check; the batch path verifies a whole
//!   [`VerifiedBatch`] in parallel with a [`SigVerifier`], possibly on another thread while the
//!   previous block executes — same verdicts as `SignedTx::verify`).
//!
//! # Balance bound
//!
//! The fee is the one charge a transaction is certain to pay once included (a failed call
//! still burns it), so a signer's waiting transactions may together offer at most its free
//! balance in fees. An account holding `b` can therefore keep at most `b / min_fee`
//! transactions waiting, whatever `max_per_sender` says. The amounts a call moves (transfer,
//! stake, task reward) are not counted: an earlier waiting call (unstake, withdraw) may provide
//! them, and a call that cannot pay them fails in its block and still pays its fee. When the
//! balance drops after admission (a block executed), [`Mempool::prune`] drops the signer's
//! highest nonces until its waiting fees fit its balance again.
//!
//! # Gapped transactions expire
//!
//! A transaction whose nonce is ahead of its signer's next nonce waits for its predecessors.
//! Such a *gapped* transaction — one not reachable from the next nonce through waiting
//! transactions of consecutive nonces — is dropped by [`Mempool::prune`] once
//! `gap_expiry_blocks` blocks have been executed since its admission (block heights of the
//! state passed in, so the rule is deterministic and needs no clock). A transaction that
//! arrived early and whose predecessors arrived since is not gapped and never expires this way.
//!
//! # Eviction
//!
//! When the pool holds `max_txs` transactions, a new transaction is admitted only if it offers
//! a strictly higher fee than the cheapest *evictable* transaction, which it then replaces.
//! Only the last transaction (highest nonce) of each signer is evictable, so eviction never
//! opens a gap in a signer's nonce sequence; among equal fees the latest arrival goes first.
//! A transaction offering an equal or lower fee is refused with [`MempoolError::Full`].
//!
//! # Limits and their defaults
//!
//! | limit | default | where |
//! |---|---|---|
//! | `max_txs` | 200 000 | [`MempoolConfig`] |
//! | `max_per_sender` | 1 024 | [`MempoolConfig`] |
//! | `max_nonce_gap` | 1 024 | [`MempoolConfig`] |
//! | `gap_expiry_blocks` | [`DEFAULT_GAP_EXPIRY_BLOCKS`] = 64 | [`Mempool::with_gap_expiry`] |
//! | waiting fees per signer | its free balance | (not configurable) |
//!
//! 64 blocks is about two minutes of an idle embedded node (one empty block every 2 s) and a
//! few seconds under load: long enough for transactions sent out of order, or to another node
//! of a testnet first, to meet their predecessors.
//!
//! # Ordering
//!
//! Transactions leave the pool ([`Mempool::take_ready`]) in arrival order, except that a
//! signer's transactions always leave in nonce order and only when contiguous with the
//! account's next nonce: a transaction whose predecessor has not arrived waits for it.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::sync::Arc;

use deai_chain::{State, Tip};
use deai_types::{AccountId, ChainId, Hash32, SignedTx};

use crate::account_nonce;
use crate::sigs::SigVerifier;

/// Blocks after which a transaction still waiting behind a nonce gap is dropped (see the module
/// docs).
pub const DEFAULT_GAP_EXPIRY_BLOCKS: u64 = 64;

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
    /// The signer's waiting transactions and this one together offer more fees than its
    /// balance.
    #[error("{signer} has balance {balance} and its {queued} waiting transactions already offer {queued_fees} in fees, so it cannot also pay the fee {fee}; wait for them to be included or fund the account")]
    QueuedFeesExceedBalance {
        /// The signer (hex).
        signer: String,
        /// The signer's free balance.
        balance: u128,
        /// Number of the signer's transactions waiting.
        queued: usize,
        /// Sum of their fees.
        queued_fees: u128,
        /// The transaction's fee.
        fee: u128,
    },
    /// The pool is full and this transaction does not outbid any evictable one.
    #[error("the mempool is full ({capacity} transactions) and the fee {offered} does not exceed the lowest evictable fee {lowest_fee}; offer more or retry after the next block")]
    Full {
        /// Its capacity.
        capacity: usize,
        /// The transaction's fee.
        offered: u128,
        /// The lowest fee of a transaction that could be evicted (the last of its signer's).
        lowest_fee: u128,
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
    /// Arrival number (orders the pool).
    seq: u64,
    /// Height of the state the transaction was admitted against.
    since: u64,
    tx: SignedTx,
}

/// One signer's waiting transactions, by nonce, and the sum of their fees.
#[derive(Debug, Default)]
struct Queue {
    txs: BTreeMap<u64, Entry>,
    fees: u128,
}

/// Orders evictable transactions (each signer's last): lowest fee first, then latest arrival.
type TailKey = (u128, Reverse<u64>, AccountId);

fn tail_key(signer: &AccountId, queue: &Queue) -> Option<TailKey> {
    let (_, entry) = queue.txs.last_key_value()?;
    Some((entry.tx.tx.fee.0, Reverse(entry.seq), *signer))
}

/// What [`Mempool::has_ready`] found last, so a producer polling it does not rescan the pool.
/// Against a fixed state only an admission can make a signer ready, and only removing its
/// ready transaction can end that.
#[derive(Debug, Default)]
struct ReadyMemo {
    /// The state the answer holds for (`None`: no answer).
    tip: Option<Tip>,
    ready: bool,
    /// Signers admitted since, while `ready` is false: the only ones that can change it.
    admitted: Vec<AccountId>,
}

/// Most signers [`ReadyMemo`] remembers before it forgets its answer.
const MEMO_SIGNERS: usize = 4096;

/// Signed transactions waiting for a block; see the module docs for admission and ordering.
#[derive(Debug)]
pub struct Mempool {
    chain_id: ChainId,
    config: MempoolConfig,
    gap_expiry_blocks: u64,
    next_seq: u64,
    len: usize,
    by_sender: BTreeMap<AccountId, Queue>,
    /// The last transaction of every signer, cheapest first: the eviction candidates.
    tails: BTreeSet<TailKey>,
    ready_memo: ReadyMemo,
    verifier: Arc<SigVerifier>,
}

impl Mempool {
    /// An empty pool for transactions of `chain_id`; gapped transactions expire after
    /// [`DEFAULT_GAP_EXPIRY_BLOCKS`].
    pub fn new(chain_id: ChainId, config: MempoolConfig) -> Self {
        Self {
            chain_id,
            config,
            gap_expiry_blocks: DEFAULT_GAP_EXPIRY_BLOCKS,
            next_seq: 0,
            len: 0,
            by_sender: BTreeMap::new(),
            tails: BTreeSet::new(),
            ready_memo: ReadyMemo::default(),
            verifier: Arc::new(SigVerifier::default()),
        }
    }

    /// The same pool, dropping gapped transactions `blocks` blocks after their admission (at
    /// least 1).
    pub fn with_gap_expiry(mut self, blocks: u64) -> Self {
        self.set_gap_expiry(blocks);
        self
    }

    /// Sets the blocks after which gapped transactions are dropped (at least 1).
    pub fn set_gap_expiry(&mut self, blocks: u64) {
        self.gap_expiry_blocks = blocks.max(1);
    }

    /// Blocks after which a gapped transaction is dropped.
    pub fn gap_expiry_blocks(&self) -> u64 {
        self.gap_expiry_blocks
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

    /// Whether the transaction with hash `hash`, signed by `signer` with `nonce`, is waiting.
    pub fn contains(&self, signer: &AccountId, nonce: deai_types::Nonce, hash: &Hash32) -> bool {
        self.by_sender
            .get(signer)
            .and_then(|queue| queue.txs.get(&nonce.0))
            .is_some_and(|entry| entry.tx.hash() == *hash)
    }

    /// Whether no transaction is waiting.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The pool's limits.
    pub fn config(&self) -> MempoolConfig {
        self.config
    }

    /// Whether some transaction can execute next against `state` (its nonce is its signer's
    /// next nonce): what a producer waits for before it makes a non-empty block. Polling it
    /// against the same state costs only the signers admitted since the last call (the state
    /// is recognised by its [`Tip`]; two sibling blocks with the same parent and timestamp
    /// would share one, which can only delay or hasten an empty block).
    pub fn has_ready(&mut self, state: &State) -> bool {
        let ready_signer = |signer: &AccountId, queue: &Queue| {
            queue.txs.contains_key(&account_nonce(state, signer))
        };
        let memo = &mut self.ready_memo;
        let ready = if memo.tip == Some(state.tip()) {
            memo.ready
                || memo.admitted.iter().any(|signer| {
                    self.by_sender
                        .get(signer)
                        .is_some_and(|queue| ready_signer(signer, queue))
                })
        } else {
            self.by_sender
                .iter()
                .any(|(signer, queue)| ready_signer(signer, queue))
        };
        *memo = ReadyMemo {
            tip: Some(state.tip()),
            ready,
            admitted: Vec::new(),
        };
        ready
    }

    /// Admits one transaction, verifying its signature; returns its hash.
    pub fn insert(&mut self, tx: SignedTx, state: &State) -> Result<Hash32, MempoolError> {
        self.check_stateless(&tx, state)?;
        if self.verifier.verify(std::slice::from_ref(&tx)) != [true] {
            return Err(MempoolError::BadSignature {
                signer: tx.signer.to_string(),
            });
        }
        self.admit(tx, state)
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
                self.admit(tx, state)
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
            if queue.txs.contains_key(&nonce) {
                return Err(MempoolError::DuplicateNonce {
                    signer: tx.signer.to_string(),
                    nonce,
                });
            }
            if queue.txs.len() >= self.config.max_per_sender {
                return Err(MempoolError::SenderFull {
                    signer: tx.signer.to_string(),
                    capacity: self.config.max_per_sender,
                });
            }
            let fits = queue
                .fees
                .checked_add(tx.tx.fee.0)
                .is_some_and(|total| total <= balance.0);
            if !fits {
                return Err(MempoolError::QueuedFeesExceedBalance {
                    signer: tx.signer.to_string(),
                    balance: balance.0,
                    queued: queue.txs.len(),
                    queued_fees: queue.fees,
                    fee: tx.tx.fee.0,
                });
            }
        }
        if self.len >= self.config.max_txs {
            self.eviction_victim(tx)?;
        }
        Ok(())
    }

    /// The transaction `tx` would evict from a full pool, or why it cannot enter.
    fn eviction_victim(&self, tx: &SignedTx) -> Result<(AccountId, u64), MempoolError> {
        let offered = tx.tx.fee.0;
        let full = |lowest_fee| MempoolError::Full {
            capacity: self.config.max_txs,
            offered,
            lowest_fee,
        };
        let Some(&(lowest_fee, _, signer)) = self.tails.first() else {
            return Err(full(0));
        };
        if offered <= lowest_fee {
            return Err(full(lowest_fee));
        }
        let nonce = self
            .by_sender
            .get(&signer)
            .and_then(|q| q.txs.last_key_value())
            .map(|(&n, _)| n)
            .ok_or(full(lowest_fee))?;
        // Evicting the signer's own predecessor would leave this transaction behind a gap.
        if signer == tx.signer && nonce < tx.tx.nonce.0 {
            return Err(full(lowest_fee));
        }
        Ok((signer, nonce))
    }

    fn admit(&mut self, tx: SignedTx, state: &State) -> Result<Hash32, MempoolError> {
        if self.len >= self.config.max_txs {
            let (signer, nonce) = self.eviction_victim(&tx)?;
            self.remove(&signer, nonce);
        }
        let hash = tx.hash();
        let seq = self.next_seq;
        self.next_seq += 1;
        let signer = tx.signer;
        let entry = Entry {
            seq,
            since: state.height().0,
            tx,
        };
        let queue = self.by_sender.entry(signer).or_default();
        if let Some(old) = tail_key(&signer, queue) {
            self.tails.remove(&old);
        }
        queue.fees = queue.fees.saturating_add(entry.tx.tx.fee.0);
        queue.txs.insert(entry.tx.tx.nonce.0, entry);
        if let Some(new) = tail_key(&signer, queue) {
            self.tails.insert(new);
        }
        self.len += 1;
        let memo = &mut self.ready_memo;
        if memo.tip.is_some() && !memo.ready {
            if memo.admitted.len() < MEMO_SIGNERS {
                memo.admitted.push(signer);
            } else {
                *memo = ReadyMemo::default();
            }
        }
        Ok(hash)
    }

    /// Removes one transaction, keeping the count, the signer's fee sum and the eviction index
    /// in step.
    fn remove(&mut self, signer: &AccountId, nonce: u64) -> Option<Entry> {
        let queue = self.by_sender.get_mut(signer)?;
        let old_tail = tail_key(signer, queue);
        let entry = queue.txs.remove(&nonce)?;
        queue.fees = queue.fees.saturating_sub(entry.tx.tx.fee.0);
        let new_tail = tail_key(signer, queue);
        if queue.txs.is_empty() {
            self.by_sender.remove(signer);
        }
        if old_tail != new_tail {
            if let Some(old) = old_tail {
                self.tails.remove(&old);
            }
            if let Some(new) = new_tail {
                self.tails.insert(new);
            }
        }
        self.len -= 1;
        if self.ready_memo.ready {
            self.ready_memo = ReadyMemo::default();
        }
        Some(entry)
    }

    /// Drops, for every signer, against `state`: the transactions whose nonce is below its next
    /// nonce; the gapped ones admitted at least `gap_expiry_blocks` blocks ago; and its highest
    /// nonces while its waiting fees exceed its balance (see the module docs).
    pub fn prune(&mut self, state: &State) {
        let height = state.height().0;
        let signers: Vec<AccountId> = self.by_sender.keys().copied().collect();
        for signer in signers {
            let next = account_nonce(state, &signer);
            let balance = state.balance_of(&signer).0;
            let mut drop = Vec::new();
            if let Some(queue) = self.by_sender.get(&signer) {
                let mut expected = Some(next);
                for (&nonce, entry) in &queue.txs {
                    if nonce < next {
                        drop.push(nonce);
                    } else if Some(nonce) == expected {
                        expected = nonce.checked_add(1);
                    } else {
                        expected = None;
                        if height.saturating_sub(entry.since) >= self.gap_expiry_blocks {
                            drop.push(nonce);
                        }
                    }
                }
            }
            for nonce in drop {
                self.remove(&signer, nonce);
            }
            while let Some(queue) = self.by_sender.get(&signer) {
                if queue.fees <= balance {
                    break;
                }
                let Some((&last, _)) = queue.txs.last_key_value() else {
                    break;
                };
                self.remove(&signer, last);
            }
        }
    }

    /// Removes and returns up to `max` transactions that can execute next against `state`, in
    /// arrival order, each signer's in nonce order starting at its next nonce. Stale, expired
    /// and unaffordable transactions are dropped first (see [`Mempool::prune`]).
    pub fn take_ready(&mut self, state: &State, max: usize) -> Vec<SignedTx> {
        self.prune(state);
        // Heads of line: for each signer whose lowest waiting nonce is its next nonce, the
        // arrival number of that transaction.
        let mut ready: BinaryHeap<Reverse<(u64, AccountId)>> = self
            .by_sender
            .iter()
            .filter_map(|(signer, queue)| {
                let (&nonce, entry) = queue.txs.first_key_value()?;
                (nonce == account_nonce(state, signer)).then_some(Reverse((entry.seq, *signer)))
            })
            .collect();
        let mut out = Vec::with_capacity(max.min(self.len));
        while out.len() < max {
            let Some(Reverse((_, signer))) = ready.pop() else {
                break;
            };
            let Some(nonce) = self
                .by_sender
                .get(&signer)
                .and_then(|q| q.txs.first_key_value())
                .map(|(&n, _)| n)
            else {
                continue;
            };
            let Some(entry) = self.remove(&signer, nonce) else {
                continue;
            };
            out.push(entry.tx);
            let successor = self
                .by_sender
                .get(&signer)
                .and_then(|q| q.txs.first_key_value())
                .filter(|(&n, _)| Some(n) == nonce.checked_add(1))
                .map(|(_, e)| e.seq);
            if let Some(seq) = successor {
                ready.push(Reverse((seq, signer)));
            }
        }
        out
    }
}
