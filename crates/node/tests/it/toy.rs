//! A toy executor over opaque payloads: the state is a hash chain of payloads, so any
//! divergence in the order or content of finalized blocks shows up as different roots.
//!
//! Payload = previous state root (32 bytes) ‖ timestamp (8) ‖ block number of "transactions"
//! (8 bytes each, a per-node counter). Post-state root = SHA-256(previous root ‖ payload).

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use bytes::{BufMut, Bytes, BytesMut};
use commonware_cryptography::{Hasher, Sha256};
use deai_node::engine::{ConsensusBlock, Digest, Executor};

pub type Root = [u8; 32];

fn post_root(prev: &Root, payload: &[u8]) -> Root {
    let digest = Sha256::hash(&[prev.as_slice(), payload]);
    let mut root = [0u8; 32];
    root.copy_from_slice(digest.as_ref());
    root
}

/// What survives a crash: the applied blocks.
#[derive(Clone, Default)]
pub struct Disk {
    pub applied: Vec<(u64, Digest, Root)>,
}

pub struct ToyExecutor {
    disk: Arc<Mutex<Disk>>,
    speculative: Mutex<BTreeMap<Digest, Root>>,
    counter: Mutex<u64>,
    txs_per_block: u64,
}

impl ToyExecutor {
    pub fn new(txs_per_block: u64) -> Arc<Self> {
        Self::open(Arc::new(Mutex::new(Disk::default())), txs_per_block)
    }

    /// Reopens from the disk of a crashed executor (memory is lost).
    pub fn open(disk: Arc<Mutex<Disk>>, txs_per_block: u64) -> Arc<Self> {
        Arc::new(Self {
            disk,
            speculative: Mutex::new(BTreeMap::new()),
            counter: Mutex::new(0),
            txs_per_block,
        })
    }

    pub fn disk(&self) -> Arc<Mutex<Disk>> {
        self.disk.clone()
    }

    pub fn roots(&self) -> Vec<(u64, Root)> {
        self.disk
            .lock()
            .unwrap()
            .applied
            .iter()
            .map(|(h, _, r)| (*h, *r))
            .collect()
    }

    fn genesis_root() -> Root {
        post_root(&[0u8; 32], b"toy-genesis")
    }

    fn root_of(&self, digest: &Digest) -> Option<Root> {
        if let Some(root) = self.speculative.lock().unwrap().get(digest) {
            return Some(*root);
        }
        let disk = self.disk.lock().unwrap();
        match disk.applied.last() {
            Some((_, d, r)) if d == digest => Some(*r),
            None if *digest == ConsensusBlock::genesis(self.genesis_payload()).id() => {
                Some(Self::genesis_root())
            }
            _ => None,
        }
    }

    /// Executes `chain[1..]` on top of the known `chain[0]`; returns the last post-root.
    fn execute_chain(&self, chain: &[ConsensusBlock]) -> Option<Root> {
        let mut root = self.root_of(&chain.first()?.id())?;
        for block in &chain[1..] {
            root = self.check_and_execute(&root, block)?;
        }
        Some(root)
    }

    fn check_and_execute(&self, prev: &Root, block: &ConsensusBlock) -> Option<Root> {
        let payload = block.payload();
        if payload.len() < 40 || !(payload.len() - 40).is_multiple_of(8) || &payload[..32] != prev {
            return None;
        }
        let root = post_root(prev, payload);
        self.speculative.lock().unwrap().insert(block.id(), root);
        Some(root)
    }
}

/// Why the toy executor refuses a finalized block.
#[derive(Debug, thiserror::Error)]
pub enum ToyError {
    /// Not the child of the applied block.
    #[error("block {height} does not extend applied height {applied}")]
    NotNext {
        /// Height of the block.
        height: u64,
        /// Applied height.
        applied: u64,
    },
    /// The payload's previous root is not the applied root.
    #[error("previous state root mismatch")]
    RootMismatch,
}

impl Executor for ToyExecutor {
    fn genesis_payload(&self) -> Bytes {
        Bytes::from_static(b"toy-genesis")
    }

    fn knows(&self, digest: &Digest) -> bool {
        self.root_of(digest).is_some()
    }

    fn last_applied_height(&self) -> u64 {
        self.disk
            .lock()
            .unwrap()
            .applied
            .last()
            .map_or(0, |(h, _, _)| *h)
    }

    fn build(&self, chain: &[ConsensusBlock], timestamp_ms: u64) -> Option<Bytes> {
        let prev = self.execute_chain(chain)?;
        let mut payload = BytesMut::new();
        payload.put_slice(&prev);
        payload.put_u64(timestamp_ms);
        let mut counter = self.counter.lock().unwrap();
        for _ in 0..self.txs_per_block {
            *counter += 1;
            payload.put_u64(*counter);
        }
        Some(payload.freeze())
    }

    fn verify(&self, chain: &[ConsensusBlock], block: &ConsensusBlock) -> bool {
        match self.execute_chain(chain) {
            Some(prev) => self.check_and_execute(&prev, block).is_some(),
            None => false,
        }
    }

    type Error = ToyError;

    fn finalize(&self, block: &ConsensusBlock) -> Result<bool, ToyError> {
        let mut disk = self.disk.lock().unwrap();
        let (last_height, last_digest, last_root) = disk.applied.last().copied().unwrap_or((
            0,
            ConsensusBlock::genesis(self.genesis_payload()).id(),
            Self::genesis_root(),
        ));
        if block.height_u64() <= last_height {
            return Ok(false);
        }
        if block.height_u64() != last_height + 1 || block.parent_digest() != last_digest {
            return Err(ToyError::NotNext {
                height: block.height_u64(),
                applied: last_height,
            });
        }
        let payload = block.payload();
        if payload.len() < 32 || payload[..32] != last_root {
            return Err(ToyError::RootMismatch);
        }
        let root = post_root(&last_root, payload);
        disk.applied.push((block.height_u64(), block.id(), root));
        drop(disk);
        // Blocks at or below the applied height can no longer be built on.
        let mut spec = self.speculative.lock().unwrap();
        if spec.len() > 256 {
            spec.clear();
        }
        Ok(true)
    }
}
