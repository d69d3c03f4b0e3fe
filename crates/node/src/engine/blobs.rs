//! Blob availability: any node fetches a blob (a model update, a model) by its hash from the
//! peers that hold it, on a seventh p2p channel.
//!
//! # Why commonware's resolver
//!
//! Blobs are content-addressed, so "get the value of this key from whichever peer has it" is
//! the whole protocol — exactly what `commonware_resolver::p2p::Engine` does for marshal's
//! block backfill. It picks peers by their past performance, retries on timeouts and "not
//! found" answers, deduplicates concurrent fetches of one key, and blocks (through the network's
//! [`Blocker`]) a peer whose answer the consumer calls invalid. A home-made request/response
//! channel would re-implement all of it. The engine runs one resolver instance on its own
//! channel ([`Channels::blobs`](super::Channels::blobs)), so blob traffic has its own per-peer
//! quota and never queues behind consensus messages.
//!
//! # Protocol
//!
//! - **Key:** the blob's blake3 hash ([`BlobKey`], 32 bytes), the address the ledger records
//!   and [`BlobStore`] files it under.
//! - **Serving** ([`Producer`]): a request for a key the local [`BlobStore`] holds is answered
//!   with its bytes if they are within the limit; otherwise the sender of the answer is dropped
//!   and the resolver answers "no data", so the requester asks another peer.
//! - **Receiving** ([`Consumer`]): an answer is accepted only if it is at most
//!   [`BlobStore::max_bytes`] long (the same limit an HTTP upload obeys) and its blake3 hash
//!   equals the key. Anything else is invalid: nothing is stored and the resolver blocks the
//!   peer. An accepted blob is written to the local store (which checks the hash once more) and
//!   handed to every local waiter.
//! - **Limit:** there is no chain parameter for blob size yet, so the limit is each node's
//!   configured maximum blob size ([`BlobStore::max_bytes`], `[http] max_blob_bytes`); nodes of
//!   one network should configure the same value. A blob must also fit in one p2p message
//!   (the network's maximum message size minus the resolver's framing): [`wire_limit`] is the
//!   smaller of the two, and a producer checks a blob's size on disk before it reads it.
//! - **Fetching** ([`BlobFetcher`]): a local blob is returned at once; otherwise the key is
//!   fetched from every peer of the latest set until one answers validly or the caller stops
//!   waiting ([`BlobFetcher::fetch_within`] bounds the wait and cancels the fetch).
//!
//! The producer reads the store synchronously on the resolver's task; blobs are bounded by the
//! limit above, and one read at a time is the per-peer quota's business.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use bytes::Bytes;
use commonware_cryptography::{blake3, Blake3, Hasher as _};
use commonware_resolver::{p2p, Consumer as ConsumerTrait, Delivery, Resolver as _};
use commonware_runtime::Clock;
use commonware_utils::channel::oneshot;
use deai_store::BlobStore;
use deai_types::Hash32;
use futures::{future::Either, pin_mut};
use tracing::{debug, warn};

use super::PublicKey;

/// The key of a blob on the wire: its blake3 hash.
pub type BlobKey = blake3::Digest;

/// The resolver's mailbox for blob keys.
pub type BlobMailbox = p2p::Mailbox<BlobKey, PublicKey>;

/// The ledger's hash of a blob as a wire key.
pub fn key_of(hash: &Hash32) -> BlobKey {
    blake3::Digest(hash.0)
}

type Waiters = Arc<Mutex<HashMap<BlobKey, Vec<futures::channel::oneshot::Sender<Bytes>>>>>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The largest blob that travels: the store's limit, and what fits one p2p message of
/// `max_message_bytes` after the resolver's framing.
pub fn wire_limit(store: &BlobStore, max_message_bytes: usize) -> u64 {
    let fits = max_message_bytes.saturating_sub(p2p::MAX_RESPONSE_OVERHEAD) as u64;
    store.max_bytes().min(fits)
}

/// Serves blobs of the local store to peers.
#[derive(Clone)]
pub struct Producer {
    store: Arc<BlobStore>,
    limit: u64,
}

impl Producer {
    /// Serves from `store` the blobs of at most `limit` bytes.
    pub fn new(store: Arc<BlobStore>, limit: u64) -> Self {
        Self { store, limit }
    }
}

impl p2p::Producer for Producer {
    type Key = BlobKey;

    fn produce(&mut self, key: BlobKey) -> oneshot::Receiver<Bytes> {
        let (tx, rx) = oneshot::channel();
        let hash = Hash32(key.0);
        // The size first, so a blob too big to travel is never read.
        let fits =
            std::fs::metadata(self.store.path_of(&hash)).is_ok_and(|m| m.len() <= self.limit);
        if let Some(bytes) = fits.then(|| self.store.get(&hash).ok()).flatten() {
            let _ = tx.send(Bytes::from(bytes));
        }
        // Otherwise the sender is dropped: the resolver answers "no data".
        rx
    }
}

/// Checks and stores blobs peers answered with (see the module docs).
#[derive(Clone)]
pub struct Consumer {
    store: Arc<BlobStore>,
    limit: u64,
    waiters: Waiters,
}

impl Consumer {
    /// Whether `value` is the blob of `key` within the limit; stores it and wakes the waiters.
    fn accept(&self, key: &BlobKey, value: &Bytes) -> bool {
        let max = self.limit;
        if value.len() as u64 > max {
            warn!(
                len = value.len(),
                max, "peer sent a blob over the size limit"
            );
            return false;
        }
        if Blake3::hash(&[value.as_ref()]) != *key {
            warn!(%key, "peer sent bytes that do not hash to the requested blob");
            return false;
        }
        if let Err(err) = self.store.put(value) {
            // Our fault, not the peer's: keep the fetch going without blaming it.
            warn!(%key, error = %err, "cannot store a fetched blob");
            return true;
        }
        debug!(%key, len = value.len(), "fetched blob from a peer");
        for waiter in lock(&self.waiters).remove(key).unwrap_or_default() {
            let _ = waiter.send(value.clone());
        }
        true
    }
}

impl ConsumerTrait for Consumer {
    type Key = BlobKey;
    type Value = Bytes;
    type Subscriber = ();
    type Outcome = bool;

    fn deliver(
        &mut self,
        delivery: Delivery<BlobKey, ()>,
        value: Bytes,
    ) -> oneshot::Receiver<bool> {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(self.accept(&delivery.key, &value));
        rx
    }
}

/// Fetches blobs this node lacks from its peers; cloneable.
#[derive(Clone)]
pub struct BlobFetcher {
    store: Arc<BlobStore>,
    mailbox: BlobMailbox,
    waiters: Waiters,
}

impl BlobFetcher {
    /// The blob of `hash`: from the local store, or from the first peer that answers with it
    /// (checked and stored). Waits as long as it takes; see [`fetch_within`](Self::fetch_within).
    pub async fn fetch(&self, hash: &Hash32) -> Option<Bytes> {
        if let Ok(bytes) = self.store.get(hash) {
            return Some(Bytes::from(bytes));
        }
        let key = key_of(hash);
        let (tx, rx) = futures::channel::oneshot::channel();
        lock(&self.waiters).entry(key).or_default().push(tx);
        // The blob may have arrived between the look-up and the registration.
        if let Ok(bytes) = self.store.get(hash) {
            lock(&self.waiters).remove(&key);
            return Some(Bytes::from(bytes));
        }
        let _ = self.mailbox.clone().fetch(key);
        rx.await.ok()
    }

    /// [`fetch`](Self::fetch), waiting at most `wait` on `clock`; on timeout the fetch is
    /// cancelled and `None` returned (no peer had the blob, or none answered with it in time).
    pub async fn fetch_within<C: Clock>(
        &self,
        clock: &C,
        hash: &Hash32,
        wait: Duration,
    ) -> Option<Bytes> {
        let fetch = self.fetch(hash);
        let timeout = clock.sleep(wait);
        pin_mut!(fetch);
        pin_mut!(timeout);
        match futures::future::select(fetch, timeout).await {
            Either::Left((found, _)) => found,
            Either::Right(((), _)) => {
                self.cancel(hash);
                None
            }
        }
    }

    /// Stops fetching `hash` and drops its waiters.
    pub fn cancel(&self, hash: &Hash32) {
        let key = key_of(hash);
        lock(&self.waiters).remove(&key);
        let _ = self.mailbox.clone().retain(move |k, _| *k != key);
    }
}

/// Builds the producer and the consumer over `store` (blobs of at most `limit` bytes, see
/// [`wire_limit`]), and the function that makes the fetcher from the resolver's mailbox.
pub fn parts(
    store: Arc<BlobStore>,
    limit: u64,
) -> (Producer, Consumer, impl FnOnce(BlobMailbox) -> BlobFetcher) {
    let waiters = Waiters::default();
    let consumer = Consumer {
        store: store.clone(),
        limit,
        waiters: waiters.clone(),
    };
    let producer = Producer::new(store.clone(), limit);
    let fetcher = move |mailbox| BlobFetcher {
        store,
        mailbox,
        waiters,
    };
    (producer, consumer, fetcher)
}
