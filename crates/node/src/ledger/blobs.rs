//! The ledger's side of blob availability: it hands the engine its blob store and keeps the
//! fetcher the engine gives back, so the HTTP API can ask peers for a blob this node lacks.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use deai_store::BlobStore;
use deai_types::Hash32;

use super::{lock, ReplicatedLedger};

/// How long `GET /v1/blob/{hash}` on a node that lacks the blob waits for a peer to send it.
pub const PEER_BLOB_WAIT: Duration = Duration::from_secs(3);
use crate::engine::blobs::BlobFetcher;

impl ReplicatedLedger {
    /// Serves `store`'s blobs to peers and fills it from them (see `engine::blobs`); its
    /// [`max_bytes`](BlobStore::max_bytes) bounds what a peer may send.
    pub fn with_blobs(mut self, store: Arc<BlobStore>) -> Self {
        self.blobs = Some(store);
        self
    }

    /// The engine's blob fetcher, once the engine started with this ledger's blob store (for
    /// callers on another clock than tokio's: `BlobFetcher::fetch_within`).
    pub fn blob_fetcher(&self) -> Option<BlobFetcher> {
        lock(&self.fetcher).clone()
    }

    /// The blob of `hash`: from the local store, else from a peer (hash- and size-checked, then
    /// stored), waiting at most `wait` on the tokio clock. `None` if no peer answered with it in
    /// time, or the engine has not started blob fetching.
    pub async fn fetch_blob(&self, hash: &Hash32, wait: Duration) -> Option<Bytes> {
        if let Some(bytes) = self.blobs.as_ref().and_then(|s| s.get(hash).ok()) {
            return Some(Bytes::from(bytes));
        }
        let fetcher = self.blob_fetcher()?;
        match tokio::time::timeout(wait, fetcher.fetch(hash)).await {
            Ok(found) => found,
            Err(_) => {
                fetcher.cancel(hash);
                None
            }
        }
    }
}
