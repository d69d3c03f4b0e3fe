//! The outcomes of recent transactions, by hash, in bounded memory.
//!
//! The store indexes where every transaction was included ([`crate::Store::tx_location`]) but
//! not what it did: outcomes are not part of a block, and re-deriving one needs the state
//! before its block. A node answering "what became of my transaction?" therefore keeps the
//! outcomes of the transactions of the last blocks it applied, and the fact that it accepted a
//! transaction not yet in a block, in a [`ReceiptIndex`]: at most `capacity` transactions,
//! forgetting the oldest first. A transaction is remembered from its admission (`submitted`)
//! or, if another node admitted it, from its block (`included`); its position in the window is
//! that first record. The index is derived data, lost on restart; transactions older than its
//! window are still found, without their outcome, through the store's transaction index.

use std::collections::{HashMap, VecDeque};

use deai_chain::TxOutcome;
use deai_types::{AccountId, Block, Hash32, Nonce};

use crate::TxLocation;

/// Transactions a node remembers by default: the outcomes of about the last minute of blocks
/// under load, and of hours of blocks at the pace a few role processes give.
pub const DEFAULT_RECEIPT_CAPACITY: usize = 65_536;

/// What the index holds about one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxRecord {
    /// Admitted to this node's mempool; not seen in a block yet.
    Submitted {
        /// Its signer.
        signer: AccountId,
        /// Its nonce (with the signer, where the mempool keeps it).
        nonce: Nonce,
    },
    /// Executed in a final block.
    Included {
        /// Where.
        location: TxLocation,
        /// What it did, or why it failed.
        outcome: TxOutcome,
    },
}

/// What a node knows of a transaction (see [`ReceiptIndex`] and the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxState {
    /// Waiting in the mempool or in a block not final yet.
    Pending,
    /// In a final block; the outcome unless it is older than the index's window.
    Included {
        /// Where.
        location: TxLocation,
        /// What it did, if still remembered.
        outcome: Option<TxOutcome>,
    },
}

/// Recent transactions by hash, at most `capacity` of them (see the module docs).
#[derive(Debug)]
pub struct ReceiptIndex {
    capacity: usize,
    records: HashMap<Hash32, TxRecord>,
    /// Hashes in the order they were first recorded; each appears once.
    order: VecDeque<Hash32>,
}

impl Default for ReceiptIndex {
    fn default() -> Self {
        Self::new(DEFAULT_RECEIPT_CAPACITY)
    }
}

impl ReceiptIndex {
    /// An empty index of at most `capacity` transactions (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            records: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Most transactions remembered.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Transactions remembered now.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Records that the transaction `hash`, signed by `signer` with `nonce`, was admitted to
    /// the mempool. A transaction already recorded keeps its record.
    pub fn submitted(&mut self, hash: Hash32, signer: AccountId, nonce: Nonce) {
        if self.records.contains_key(&hash) {
            return;
        }
        self.insert_new(hash, TxRecord::Submitted { signer, nonce });
    }

    /// Records the outcomes of a final block's transactions (`outcomes[i]` of `block.txs[i]`).
    pub fn included(&mut self, block: &Block, outcomes: &[TxOutcome]) {
        let height = block.header.height;
        for (i, (tx, outcome)) in block.txs.iter().zip(outcomes).enumerate() {
            let Ok(index) = u32::try_from(i) else { break };
            let record = TxRecord::Included {
                location: TxLocation { height, index },
                outcome: outcome.clone(),
            };
            let hash = tx.hash();
            match self.records.get_mut(&hash) {
                Some(existing) => *existing = record,
                None => self.insert_new(hash, record),
            }
        }
    }

    /// The record of a transaction, if remembered.
    pub fn get(&self, hash: &Hash32) -> Option<&TxRecord> {
        self.records.get(hash)
    }

    /// What a node knows of `hash`: its remembered outcome; else pending if it was admitted
    /// and `waiting(signer, nonce)` says the node still holds it; else its location in the
    /// store if `stored` finds one; else nothing.
    pub fn state<E>(
        &self,
        hash: &Hash32,
        waiting: impl FnOnce(&AccountId, Nonce) -> bool,
        stored: impl FnOnce(&Hash32) -> Result<Option<TxLocation>, E>,
    ) -> Result<Option<TxState>, E> {
        match self.records.get(hash) {
            Some(TxRecord::Included { location, outcome }) => {
                return Ok(Some(TxState::Included {
                    location: *location,
                    outcome: Some(outcome.clone()),
                }))
            }
            Some(TxRecord::Submitted { signer, nonce }) if waiting(signer, *nonce) => {
                return Ok(Some(TxState::Pending))
            }
            _ => {}
        }
        Ok(stored(hash)?.map(|location| TxState::Included {
            location,
            outcome: None,
        }))
    }

    fn insert_new(&mut self, hash: Hash32, record: TxRecord) {
        while self.records.len() >= self.capacity {
            match self.order.pop_front() {
                Some(oldest) => {
                    self.records.remove(&oldest);
                }
                None => break,
            }
        }
        self.records.insert(hash, record);
        self.order.push_back(hash);
    }
}

#[cfg(test)]
mod tests {
    use deai_chain::{Receipt, TxError};
    use deai_types::{Amount, Call, ChainId, Hash32, Header, Height, Keypair, SignedTx, Tx};

    use super::*;

    fn tx(nonce: u64) -> SignedTx {
        Keypair::from_seed([1; 32]).sign_tx(Tx {
            chain_id: ChainId::new("deai-test").unwrap(),
            nonce: Nonce(nonce),
            fee: Amount(1),
            call: Call::Withdraw,
        })
    }

    fn block(height: u64, txs: Vec<SignedTx>) -> Block {
        Block {
            header: Header {
                height: Height(height),
                parent_hash: Hash32::ZERO,
                timestamp_ms: 0,
                tx_root: Hash32::ZERO,
                state_root: Hash32::ZERO,
            },
            txs,
        }
    }

    fn none(_: &Hash32) -> Result<Option<TxLocation>, ()> {
        Ok(None)
    }

    #[test]
    fn a_transaction_goes_from_pending_to_its_outcome() {
        let mut index = ReceiptIndex::new(8);
        let (a, b) = (tx(0), tx(1));
        index.submitted(a.hash(), a.signer, a.tx.nonce);
        assert_eq!(
            index.state(&a.hash(), |_, _| true, none),
            Ok(Some(TxState::Pending))
        );
        // Dropped from the mempool and never included: unknown.
        assert_eq!(index.state(&a.hash(), |_, _| false, none), Ok(None));
        let outcomes = vec![Ok(Receipt::default()), Err(TxError::ZeroAmount)];
        index.included(&block(3, vec![a.clone(), b.clone()]), &outcomes);
        assert_eq!(index.len(), 2);
        let location = TxLocation {
            height: Height(3),
            index: 1,
        };
        assert_eq!(
            index.state(&b.hash(), |_, _| true, none),
            Ok(Some(TxState::Included {
                location,
                outcome: Some(Err(TxError::ZeroAmount)),
            }))
        );
    }

    #[test]
    fn the_oldest_are_forgotten_and_found_in_the_store_without_outcome() {
        let mut index = ReceiptIndex::new(2);
        let txs: Vec<SignedTx> = (0..3).map(tx).collect();
        for t in &txs {
            index.submitted(t.hash(), t.signer, t.tx.nonce);
        }
        assert_eq!(index.len(), 2);
        assert!(index.get(&txs[0].hash()).is_none());
        assert!(index.get(&txs[2].hash()).is_some());
        let stored = TxLocation {
            height: Height(1),
            index: 0,
        };
        assert_eq!(
            index.state(&txs[0].hash(), |_, _| true, |_| Ok::<_, ()>(Some(stored))),
            Ok(Some(TxState::Included {
                location: stored,
                outcome: None
            }))
        );
    }
}
