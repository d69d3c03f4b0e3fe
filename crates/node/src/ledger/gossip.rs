//! The ledger's side of transaction gossip (`engine::gossip`): what it forwards, and how it
//! admits what peers forward.
//!
//! - **Forwarding.** A transaction admitted from a client ([`ReplicatedLedger::submit`],
//!   [`ReplicatedLedger::submit_batch`]) goes, canonically encoded, to the engine's outbox. One
//!   received by gossip never does, so a transaction crosses each link once.
//! - **Receiving.** Each transaction of a batch is decoded with the canonical codec
//!   (`deai_types::decode`: exactly the bytes `encode` writes, allocation bounded by the input).
//!   Before any signature check it is dropped as a duplicate if its hash is one this node has
//!   already verified (it admitted the transaction, or checked it in a block) or came earlier
//!   in the batch, and refused if the finalized state has used its nonce. The rest go through
//!   the mempool's batch admission, as a client's batch does: signatures verified in parallel,
//!   then every mempool limit (pool size with fee eviction, per-sender count, queued fees within
//!   the balance, nonce gap).
//! - **Faults.** An undecodable transaction, a bad signature or another chain's id is something
//!   no honest node forwards — it admitted the transaction through the same checks — so the
//!   answer is a [`GossipFault`] and the engine blocks the peer. Every other refusal (a nonce
//!   used meanwhile, a full pool, a balance this node has not seen yet) is a race an honest peer
//!   can lose, and is only counted.

use std::collections::HashSet;

use bytes::Bytes;
use deai_store::MempoolError;
use deai_types::{decode, encode, DecodeError, SignedTx};
use tracing::debug;

use super::{lock, ReplicatedLedger};
use crate::engine::gossip::{GossipFault, GossipReceipt, Outbox};

/// Why a gossiped transaction proves its sender faulty.
#[derive(Debug, thiserror::Error)]
pub enum GossipError {
    /// Not the canonical encoding of a signed transaction.
    #[error("not the canonical encoding of a signed transaction")]
    Malformed(#[source] DecodeError),
    /// Refused for a reason every node sees alike (a bad signature, another chain's id).
    #[error("refused for a reason every node sees alike")]
    Invalid(#[source] MempoolError),
}

impl ReplicatedLedger {
    /// Routes the transactions clients submit from now on to `outbox`.
    pub(super) fn connect_outbox(&self, outbox: Outbox) {
        *lock(&self.outbox) = Some(outbox);
    }

    /// The canonical encodings of `txs` if an engine gossips them (`None` otherwise, so a
    /// ledger without one encodes nothing).
    pub(super) fn encode_for_gossip(&self, txs: &[SignedTx]) -> Option<Vec<Bytes>> {
        let mut outbox = lock(&self.outbox);
        if outbox.as_ref().is_some_and(|o| !o.is_open()) {
            *outbox = None;
        }
        outbox.as_ref()?;
        Some(txs.iter().map(|tx| Bytes::from(encode(tx))).collect())
    }

    /// Hands encoded transactions a client submitted to the gossip outbox.
    pub(super) fn forward(&self, txs: impl IntoIterator<Item = Bytes>) {
        let mut outbox = lock(&self.outbox);
        let Some(outbox) = outbox.as_mut() else {
            return;
        };
        let dropped = txs
            .into_iter()
            .filter(|tx| !outbox.forward(tx.clone()))
            .count();
        if dropped > 0 {
            debug!(
                dropped,
                "gossip outbox full or closed; transactions stay in the local mempool"
            );
        }
    }

    /// Admits a batch a peer gossiped (see the module docs).
    pub(super) fn receive_gossiped(&self, txs: Vec<Bytes>) -> Result<GossipReceipt, GossipFault> {
        let fault = |index, error: GossipError| GossipFault {
            index,
            source: Box::new(error),
        };
        let mut receipt = GossipReceipt::default();
        let mut fresh = Vec::with_capacity(txs.len());
        {
            let verified = lock(&self.verified);
            let mut in_batch = HashSet::with_capacity(txs.len());
            for (index, bytes) in txs.iter().enumerate() {
                let tx: SignedTx =
                    decode(bytes).map_err(|e| fault(index, GossipError::Malformed(e)))?;
                let hash = tx.hash();
                if verified.contains(&hash) || !in_batch.insert(hash) {
                    receipt.duplicates += 1;
                } else {
                    fresh.push((index, tx));
                }
            }
        }
        let (positions, fresh): (Vec<usize>, Vec<SignedTx>) = {
            let inner = lock(&self.inner);
            fresh
                .into_iter()
                .filter(|(_, tx)| {
                    let unused = tx.tx.nonce >= inner.state.nonce_of(&tx.signer);
                    receipt.refused += usize::from(!unused);
                    unused
                })
                .unzip()
        };
        for (index, result) in positions.into_iter().zip(self.admit_batch(fresh)) {
            match result {
                Ok(_) => receipt.admitted += 1,
                Err(
                    err @ (MempoolError::BadSignature { .. } | MempoolError::WrongChain { .. }),
                ) => return Err(fault(index, GossipError::Invalid(err))),
                Err(_) => receipt.refused += 1,
            }
        }
        Ok(receipt)
    }
}
