//! The two ledgers the HTTP API can serve: the embedded single-node chain (default) and the
//! replicated ledger driven by consensus; and the periodic blob garbage collection that reads
//! the ledger to know which blobs are still referenced.
//!
//! Each keeps, besides its chain, what the API's waiting and receipt endpoints need: a
//! [`ReceiptIndex`] of recent transactions (recorded at admission and when their block is
//! final) and a `watch` of the last final height, sent after the block's receipts are recorded
//! so a client woken by a new head finds its receipt.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, SystemTime},
};

use deai_api::NodeMode;
use deai_chain::State;
use deai_store::{
    blob::{referenced_blobs, GcReport},
    BlobError, BlobStore, EmbeddedChain, EmbeddedError, ProducedBlock, ReceiptIndex, StoreError,
    TxState,
};
use deai_types::{Block, Hash32, Header, Height, SignedTx};
use tokio::sync::watch;
use tracing::{error, info};

use crate::{
    http::{Backend, SubmitError},
    ledger::{LedgerError, ReplicatedLedger, PEER_BLOB_WAIT},
};

/// The embedded chain behind a lock, with a block producer the node calls on a timer.
pub struct Embedded {
    /// Locked before `receipts` when both are.
    chain: Mutex<EmbeddedChain>,
    receipts: Mutex<ReceiptIndex>,
    heads: watch::Sender<Height>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Embedded {
    /// Wraps an opened chain; remembers the outcomes of the last
    /// [`deai_store::DEFAULT_RECEIPT_CAPACITY`] transactions.
    pub fn new(chain: EmbeddedChain) -> Self {
        let heads = watch::Sender::new(chain.head().height);
        Self {
            chain: Mutex::new(chain),
            receipts: Mutex::new(ReceiptIndex::default()),
            heads,
        }
    }

    /// The same node remembering the outcomes of at most `capacity` transactions.
    pub fn with_receipt_capacity(self, capacity: usize) -> Self {
        *lock(&self.receipts) = ReceiptIndex::new(capacity);
        self
    }

    fn lock(&self) -> MutexGuard<'_, EmbeddedChain> {
        lock(&self.chain)
    }

    /// Produces a block if one is due at `timestamp_ms` (a transaction is ready, or the idle
    /// interval has passed: `EmbeddedChain::produce_if_due`); `None` otherwise. Records the
    /// block's outcomes, then announces its height.
    pub fn produce(&self, timestamp_ms: u64) -> Result<Option<ProducedBlock>, EmbeddedError> {
        let mut chain = self.lock();
        let produced = chain.produce_if_due(timestamp_ms)?;
        if let Some(p) = &produced {
            lock(&self.receipts).included(&p.block, &p.outcomes);
            self.heads.send_replace(p.block.header.height);
        }
        Ok(produced)
    }

    /// Head height and number of transactions stored in blocks.
    pub fn height_and_tx_count(&self) -> (u64, u64) {
        let chain = self.lock();
        (chain.head().height.0, chain.store().tx_count().unwrap_or(0))
    }

    /// Makes every produced block durable (for shutdown).
    pub fn flush(&self) -> Result<(), EmbeddedError> {
        self.lock().flush()
    }
}

impl Backend for Embedded {
    fn mode(&self) -> NodeMode {
        NodeMode::Embedded
    }

    fn submit(&self, tx: SignedTx) -> Result<Hash32, SubmitError> {
        let (signer, nonce) = (tx.signer, tx.tx.nonce);
        let mut chain = self.lock();
        match chain.submit(tx) {
            Ok(hash) => {
                lock(&self.receipts).submitted(hash, signer, nonce);
                Ok(hash)
            }
            Err(EmbeddedError::Rejected(e)) => Err(SubmitError::Rejected(e.to_string())),
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

    fn tx_state(&self, hash: &Hash32) -> Result<Option<TxState>, StoreError> {
        let chain = self.lock();
        let receipts = lock(&self.receipts);
        receipts.state(
            hash,
            |signer, nonce| chain.mempool().contains(signer, nonce, hash),
            |hash| chain.store().tx_location(hash),
        )
    }

    fn heads(&self) -> watch::Receiver<Height> {
        self.heads.subscribe()
    }
}

impl Backend for ReplicatedLedger {
    fn mode(&self) -> NodeMode {
        NodeMode::Replicated
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

    fn tx_state(&self, hash: &Hash32) -> Result<Option<TxState>, StoreError> {
        ReplicatedLedger::tx_state(self, hash)
    }

    fn heads(&self) -> watch::Receiver<Height> {
        ReplicatedLedger::heads(self)
    }

    async fn fetch_blob(&self, hash: Hash32) -> Option<bytes::Bytes> {
        ReplicatedLedger::fetch_blob(self, &hash, PEER_BLOB_WAIT).await
    }
}

/// One garbage collection of the blob store: every blob the ledger does not reference
/// ([`deai_store::blob::referenced_blobs`] of the latest state) whose last upload is at least
/// `retention` before `now` is deleted. The file-system walk runs on a blocking thread.
pub async fn collect_blob_garbage<B: Backend>(
    backend: &B,
    blobs: Arc<BlobStore>,
    now: SystemTime,
    retention: Duration,
) -> Result<GcReport, BlobError> {
    let referenced = backend.read(|state, _| referenced_blobs(state));
    match tokio::task::spawn_blocking(move || blobs.collect_garbage(&referenced, now, retention))
        .await
    {
        Ok(result) => result,
        Err(err) => Err(BlobError::Io {
            path: PathBuf::new(),
            source: std::io::Error::other(format!("blob garbage collection task failed: {err}")),
        }),
    }
}

/// Collects blob garbage every `interval` (see [`collect_blob_garbage`]) until `stop` resolves.
pub async fn collect_blobs_periodically<B: Backend>(
    backend: Arc<B>,
    blobs: Arc<BlobStore>,
    interval: Duration,
    retention: Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            () = tokio::time::sleep(interval.max(Duration::from_secs(1))) => {}
        }
        match collect_blob_garbage(&*backend, blobs.clone(), SystemTime::now(), retention).await {
            Ok(report) if !report.deleted.is_empty() => info!(
                deleted = report.deleted.len(),
                freed_bytes = report.freed_bytes,
                "deleted unreferenced blobs past their retention"
            ),
            Ok(_) => {}
            Err(err) => error!(%err, "blob garbage collection failed"),
        }
    }
}
