//! Blocks: an ordered list of signed transactions and a header that commits to them and to the
//! state after executing them.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::codec::encode;
use crate::hash::Hash32;
use crate::ids::Height;
use crate::tx::SignedTx;

/// A block header.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Header {
    /// Height of this block (genesis is 0).
    pub height: Height,
    /// Hash of the parent header ([`Hash32::ZERO`] for genesis).
    pub parent_hash: Hash32,
    /// Block time in milliseconds, given as input by the producer (never read from a clock
    /// inside the ledger).
    pub timestamp_ms: u64,
    /// [`tx_root`] of the block's transactions.
    pub tx_root: Hash32,
    /// State root after executing the block.
    pub state_root: Hash32,
}

impl Header {
    /// `blake3("deai/header/v1" || encode(self))`.
    pub fn hash(&self) -> Hash32 {
        Hash32::tagged(b"deai/header/v1", &[&encode(self)])
    }
}

/// A block.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Block {
    /// The header.
    pub header: Header,
    /// The transactions, in execution order.
    pub txs: Vec<SignedTx>,
}

/// `blake3("deai/txs/v1" || count as u64 LE || hash(tx_0) || hash(tx_1) || …)`.
pub fn tx_root(txs: &[SignedTx]) -> Hash32 {
    let mut h = blake3::Hasher::new();
    h.update(b"deai/txs/v1");
    h.update(&(txs.len() as u64).to_le_bytes());
    for t in txs {
        h.update(t.hash().as_bytes());
    }
    Hash32(*h.finalize().as_bytes())
}
