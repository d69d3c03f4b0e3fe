//! The two ledgers the HTTP API can serve: the embedded single-node chain (default) and the
//! replicated ledger driven by consensus.

use std::sync::{Mutex, MutexGuard};

use deai_chain::State;
use deai_store::{EmbeddedChain, NodeError, ProducedBlock};
use deai_types::{Block, Hash32, Header, Height, SignedTx};

use crate::{
    http::{Backend, SubmitError},
    ledger::{LedgerError, ReplicatedLedger},
};

/// The embedded chain behind a lock, with a block producer the node calls on a timer.
pub struct Embedded {
    chain: Mutex<EmbeddedChain>,
}

impl Embedded {
    /// Wraps an opened chain.
    pub fn new(chain: EmbeddedChain) -> Self {
        Self {
            chain: Mutex::new(chain),
        }
    }

    fn lock(&self) -> MutexGuard<'_, EmbeddedChain> {
        self.chain.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Produces a block if transactions are waiting; `None` otherwise.
    pub fn produce(&self, timestamp_ms: u64) -> Result<Option<ProducedBlock>, NodeError> {
        let mut chain = self.lock();
        if chain.mempool().is_empty() {
            return Ok(None);
        }
        chain.produce_block(timestamp_ms).map(Some)
    }

    /// Head height and number of transactions stored in blocks.
    pub fn height_and_tx_count(&self) -> (u64, u64) {
        let chain = self.lock();
        (chain.head().height.0, chain.store().tx_count().unwrap_or(0))
    }

    /// Makes every produced block durable (for shutdown).
    pub fn flush(&self) -> Result<(), NodeError> {
        self.lock().flush()
    }
}

impl Backend for Embedded {
    fn mode(&self) -> &'static str {
        "embedded"
    }

    fn submit(&self, tx: SignedTx) -> Result<Hash32, SubmitError> {
        match self.lock().submit(tx) {
            Ok(hash) => Ok(hash),
            Err(NodeError::Rejected(e)) => Err(SubmitError::Rejected(e.to_string())),
            Err(other) => Err(SubmitError::Internal(other.to_string())),
        }
    }

    fn read<R>(&self, f: impl FnOnce(&State, &Header) -> R) -> R {
        let chain = self.lock();
        f(chain.state(), chain.head())
    }

    fn block(&self, height: Height) -> Result<Option<Block>, String> {
        self.lock().store().block(height).map_err(|e| e.to_string())
    }

    fn mempool_len(&self) -> usize {
        self.lock().mempool().len()
    }
}

impl Backend for ReplicatedLedger {
    fn mode(&self) -> &'static str {
        "replicated"
    }

    fn submit(&self, tx: SignedTx) -> Result<Hash32, SubmitError> {
        match ReplicatedLedger::submit(self, tx) {
            Ok(hash) => Ok(hash),
            Err(LedgerError::Mempool(e)) => Err(SubmitError::Rejected(e.to_string())),
            Err(other) => Err(SubmitError::Internal(other.to_string())),
        }
    }

    fn read<R>(&self, f: impl FnOnce(&State, &Header) -> R) -> R {
        self.with_state(f)
    }

    fn block(&self, height: Height) -> Result<Option<Block>, String> {
        self.store().block(height).map_err(|e| e.to_string())
    }

    fn mempool_len(&self) -> usize {
        ReplicatedLedger::mempool_len(self)
    }
}
