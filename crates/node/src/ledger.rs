//! The deai ledger as a replicated state machine: the [`Executor`] the consensus engine drives.
//!
//! # What consensus orders
//!
//! The payload of every consensus block is the canonical encoding of a ledger
//! [`Block`](deai_types::Block) built by `deai_chain::build_block` — the same block format the
//! embedded producer writes, so `deai chain verify` replays a replicated chain unchanged. Its
//! header links to the parent block by hash (and so to the previous state root, which the
//! parent header carries) and carries its own post-state root.
//!
//! # Checks before a vote
//!
//! A validator notarizes a block only after it decoded it (size-limited, canonical encoding),
//! checked the parent link (height + 1 and the parent header hash) and re-executed it with
//! `deai_chain::apply_block_with_sigs` on the parent's post-state: every signature valid
//! (verified in a parallel batch, skipping those this node already verified at admission),
//! every nonce the next one, no rejected transaction inside, transaction root and post-state
//! root equal. Parents that are notarized but not final are executed speculatively and their
//! post-states kept by block digest until finalization passes them.
//!
//! # Finalization
//!
//! A finalized block is applied with the same `apply_block_with_sigs` on the last applied
//! state and committed with its post-state and the new head (the last applied height) in one
//! redb transaction (`deai_store::Store::commit_block`), then acknowledged to marshal. A block
//! at or below the applied height (redelivered after a restart) is skipped. The consensus digest
//! of every applied height is kept in a side file (`consensus-digests.bin`) that is recomputed
//! from the store when it lags (it is derived data, never a source of truth).
//!
//! # Validator sets
//!
//! With a [`ValidatorRule`] (`seats` N, `epoch_length` K), the validators of consensus epoch
//! `e + 1` are the **top-N self-stakers of the finalized state after the last block of epoch
//! `e`** (height `(e+1)·K − 1`): accounts ordered by the stake bonded on themselves
//! (descending), ties broken by account id (ascending), the first N with non-zero stake, all
//! with equal weight — the genesis rule of `config::validator_set`, re-read from the ledger. If
//! no account stakes, the set stays as it was. The set is recorded when the boundary block is
//! applied and, after a restart, recomputed by replaying the stored blocks (derived data). Yuma
//! weights, rewards and stake-weighted governance stay in the ledger's own logic; consensus
//! votes are one per validator.
//!
//! # Transactions
//!
//! Each node keeps its own bounded mempool (`deai_store::Mempool`) and gossips the transactions
//! its clients submit to the other nodes ([`gossip`] here, `engine::gossip` for the wire):
//! peers decode them canonically, drop those they have seen by hash, and admit the rest through
//! the same mempool checks, so whichever node leads the next view can propose a transaction
//! wherever a client sent it. Transactions taken for a proposal that is not finalized are put
//! back after the next finalization.
//!
//! # Blobs
//!
//! With a blob store ([`ReplicatedLedger::with_blobs`]) the node serves its blobs to peers and
//! fetches those it lacks from them on demand ([`ReplicatedLedger::fetch_blob`]; the wire and
//! its checks are `engine::blobs`).
//!
//! # Receipts and heads
//!
//! The outcomes of every executed block are kept with its speculative post-state; when the
//! block is final they go to a bounded [`ReceiptIndex`] (with the transactions this node
//! admitted), and only then is the new height announced on [`ReplicatedLedger::heads`], so a
//! client woken by it finds its receipt ([`ReplicatedLedger::tx_state`]).

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    fs::OpenOptions,
    io::{Read as _, Write as _},
    path::{Path, PathBuf},
    sync::{mpsc, Arc, Mutex, MutexGuard},
};

use bytes::Bytes;
use deai_chain::{apply_block_with_sigs, build_block_preverified, GenesisConfig, State, TxOutcome};
use deai_store::{
    BlobStore, Mempool, MempoolConfig, MempoolError, PreparedCommit, ReceiptIndex, Store,
    StoreError, TxState,
};
use deai_types::{
    decode, encode, verify_batch, AccountId, Amount, Block, Hash32, Header, Height, SignedTx,
};

use crate::engine::{
    blobs::BlobFetcher,
    gossip::{GossipFault, GossipReceipt, Outbox},
    ConsensusBlock, Digest, Executor, PublicKey,
};

mod blobs;
mod finalize_error;
mod gossip;
pub use blobs::PEER_BLOB_WAIT;
pub use finalize_error::FinalizeError;
pub use gossip::GossipError;

/// Name of the side file with the consensus digest of every applied height.
pub const DIGESTS_FILE: &str = "consensus-digests.bin";

/// Errors of the replicated ledger.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The block store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The side file of consensus digests could not be read or written.
    #[error("consensus digest file {path}: {source}")]
    Digests {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A stored block could not be read back.
    #[error("stored block at height {height} is missing")]
    MissingBlock {
        /// Height.
        height: u64,
    },
    /// A transaction was refused by the mempool.
    #[error(transparent)]
    Mempool(#[from] MempoolError),
    /// Replaying the stored chain (to recompute validator sets) failed.
    #[error("replaying stored block {height} failed: {reason}")]
    Replay {
        /// Height of the block.
        height: u64,
        /// What failed.
        reason: String,
    },
}

/// How consensus validator sets follow the ledger (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidatorRule {
    /// N: validators per epoch.
    pub seats: usize,
    /// K: heights per consensus epoch (at least 2).
    pub epoch_length: u64,
}

impl ValidatorRule {
    fn is_boundary(&self, height: u64) -> bool {
        self.epoch_length >= 2 && (height + 1).is_multiple_of(self.epoch_length)
    }
}

/// The top-`n` self-stakers of `state`: stake bonded on the account itself, descending, ties by
/// account id; accounts with zero stake never count.
pub fn top_stakers(state: &State, n: usize) -> Vec<AccountId> {
    let mut stakers: Vec<(AccountId, Amount)> = state
        .accounts()
        .map(|(id, _)| (*id, state.stake(id, id)))
        .filter(|(_, stake)| !stake.is_zero())
        .collect();
    stakers.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    stakers.into_iter().take(n).map(|(id, _)| id).collect()
}

/// The consensus keys of `accounts` (an account id is an ed25519 public key); ids that are not
/// valid keys are skipped.
fn consensus_keys(accounts: &[AccountId]) -> Vec<PublicKey> {
    accounts
        .iter()
        .filter_map(|a| crate::daemon::consensus_key(a).ok())
        .collect()
}

/// Limits of blocks this node builds and accepts.
#[derive(Clone, Copy, Debug)]
pub struct BlockLimits {
    /// Most transactions in one block.
    pub max_txs: usize,
    /// Largest encoded block, in bytes (must match the engine's payload limit).
    pub max_bytes: usize,
}

impl Default for BlockLimits {
    fn default() -> Self {
        Self {
            max_txs: 4_096,
            max_bytes: 4 << 20,
        }
    }
}

/// A block as the rest of the node sees it once it is final.
#[derive(Clone, Debug)]
pub struct Finalized {
    /// The ledger block.
    pub block: Arc<Block>,
    /// Its consensus digest.
    pub digest: Digest,
    /// Wall-clock time this node applied it (ms since the Unix epoch).
    pub finalized_at_ms: u64,
}

struct Speculative {
    state: State,
    header: Header,
    /// The outcome of each of the block's transactions (empty for the applied head).
    outcomes: Vec<TxOutcome>,
}

struct Inner {
    state: State,
    head: Header,
    digests: Vec<Digest>,
    speculative: HashMap<Digest, Arc<Speculative>>,
    inflight: Vec<SignedTx>,
}

/// The replicated ledger of one node.
pub struct ReplicatedLedger {
    store: Store,
    dir: PathBuf,
    genesis_payload: Bytes,
    limits: BlockLimits,
    inner: Mutex<Inner>,
    mempool: Mutex<Mempool>,
    verified: Mutex<HashSet<Hash32>>,
    subscribers: Mutex<Vec<mpsc::Sender<Finalized>>>,
    rule: Option<ValidatorRule>,
    sets: Mutex<BTreeMap<u64, Vec<PublicKey>>>,
    /// Where transactions admitted from clients go to be gossiped (set by the engine).
    outbox: Mutex<Option<Outbox>>,
    /// The node's blob store, served to peers and filled from them ([`blobs`]).
    blobs: Option<Arc<BlobStore>>,
    /// Fetches blobs this node lacks from peers (set by the engine).
    fetcher: Mutex<Option<BlobFetcher>>,
    /// Locked after `inner` and `mempool` when together.
    receipts: Mutex<ReceiptIndex>,
    heads: tokio::sync::watch::Sender<Height>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn genesis_payload_of(store: &Store) -> Result<Bytes, LedgerError> {
    let block = store
        .block(Height(0))?
        .ok_or(LedgerError::MissingBlock { height: 0 })?;
    Ok(Bytes::from(encode(&block)))
}

impl ReplicatedLedger {
    /// Creates the chain in `dir` from `genesis` (fails if one exists) and opens it.
    pub fn init(
        dir: impl AsRef<Path>,
        genesis: &GenesisConfig,
        limits: BlockLimits,
    ) -> Result<Self, LedgerError> {
        let (store, _) = Store::init(dir.as_ref(), genesis)?;
        drop(store);
        Self::open(dir, limits)
    }

    /// Opens the chain in `dir`, recovering to its last committed block.
    pub fn open(dir: impl AsRef<Path>, limits: BlockLimits) -> Result<Self, LedgerError> {
        let dir = dir.as_ref().to_path_buf();
        let store = Store::open(&dir)?;
        let state = store.state()?;
        let head = store.head()?;
        let genesis_payload = genesis_payload_of(&store)?;
        let chain_id = state.chain_id().clone();
        let digests = load_digests(&dir, &store, head.height.0, &genesis_payload)?;
        let heads = tokio::sync::watch::Sender::new(head.height);
        Ok(Self {
            store,
            dir,
            genesis_payload,
            limits,
            inner: Mutex::new(Inner {
                state,
                head,
                digests,
                speculative: HashMap::new(),
                inflight: Vec::new(),
            }),
            mempool: Mutex::new(Mempool::new(chain_id, MempoolConfig::default())),
            verified: Mutex::new(HashSet::new()),
            subscribers: Mutex::new(Vec::new()),
            rule: None,
            sets: Mutex::new(BTreeMap::new()),
            outbox: Mutex::new(None),
            blobs: None,
            fetcher: Mutex::new(None),
            receipts: Mutex::new(ReceiptIndex::default()),
            heads,
        })
    }

    /// Makes the validator set follow the ledger under `rule`; recomputes the sets of the
    /// boundaries already applied by replaying the stored blocks.
    pub fn with_validator_rule(mut self, rule: ValidatorRule) -> Result<Self, LedgerError> {
        self.rule = Some(rule);
        let head = lock(&self.inner).head.height.0;
        let mut sets = BTreeMap::new();
        if rule.epoch_length >= 2 && head + 1 >= rule.epoch_length {
            let replay = |height: u64, reason: String| LedgerError::Replay { height, reason };
            let mut state =
                State::genesis(&self.store.genesis()?).map_err(|e| replay(0, e.to_string()))?;
            for height in 1..=head {
                let block = self
                    .store
                    .block(Height(height))?
                    .ok_or(LedgerError::MissingBlock { height })?;
                // Stored blocks were checked when they were finalized.
                let sigs = vec![true; block.txs.len()];
                apply_block_with_sigs(&mut state, &block, &sigs)
                    .map_err(|e| replay(height, e.to_string()))?;
                if rule.is_boundary(height) {
                    sets.insert(height, consensus_keys(&top_stakers(&state, rule.seats)));
                }
            }
        }
        self.sets = Mutex::new(sets);
        Ok(self)
    }

    /// The same ledger, its mempool dropping transactions stuck behind a nonce gap `blocks`
    /// blocks after their admission (see `deai_store::Mempool::with_gap_expiry`).
    pub fn with_gap_expiry(self, blocks: u64) -> Self {
        lock(&self.mempool).set_gap_expiry(blocks);
        self
    }

    /// The recorded validator sets, by boundary height (empty without a [`ValidatorRule`]).
    pub fn validator_sets(&self) -> BTreeMap<u64, Vec<PublicKey>> {
        lock(&self.sets).clone()
    }

    /// The block store (blocks, indexes, genesis).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs `f` on the last applied (finalized) state.
    pub fn with_state<R>(&self, f: impl FnOnce(&State, &Header) -> R) -> R {
        let inner = lock(&self.inner);
        f(&inner.state, &inner.head)
    }

    /// Number of transactions waiting in this node's mempool.
    pub fn mempool_len(&self) -> usize {
        lock(&self.mempool).len()
    }

    /// The same ledger remembering the outcomes of at most `capacity` transactions.
    pub fn with_receipt_capacity(self, capacity: usize) -> Self {
        *lock(&self.receipts) = ReceiptIndex::new(capacity);
        self
    }

    /// Admits a signed transaction from a client into this node's mempool and gossips it to
    /// the other nodes.
    pub fn submit(&self, tx: SignedTx) -> Result<Hash32, LedgerError> {
        let hash = tx.hash();
        let encoded = self.encode_for_gossip(std::slice::from_ref(&tx));
        let (signer, nonce) = (tx.signer, tx.tx.nonce);
        let result = {
            let inner = lock(&self.inner);
            lock(&self.mempool).insert(tx, &inner.state)
        };
        let hash_in = result?;
        debug_assert_eq!(hash, hash_in);
        lock(&self.verified).insert(hash);
        lock(&self.receipts).submitted(hash, signer, nonce);
        self.forward(encoded.into_iter().flatten());
        Ok(hash)
    }

    /// Admits many transactions from a client, verifying signatures in a parallel batch, and
    /// gossips the admitted ones to the other nodes.
    pub fn submit_batch(&self, txs: Vec<SignedTx>) -> Vec<Result<Hash32, MempoolError>> {
        let encoded = self.encode_for_gossip(&txs);
        let results = self.admit_batch(txs);
        if let Some(encoded) = encoded {
            let admitted = encoded.into_iter().zip(&results);
            self.forward(admitted.filter(|(_, r)| r.is_ok()).map(|(tx, _)| tx));
        }
        results
    }

    /// Admits many transactions (a client's or a peer's), verifying signatures in a parallel
    /// batch; forwards nothing.
    fn admit_batch(&self, txs: Vec<SignedTx>) -> Vec<Result<Hash32, MempoolError>> {
        let senders: Vec<_> = txs.iter().map(|tx| (tx.signer, tx.tx.nonce)).collect();
        let results = {
            let inner = lock(&self.inner);
            lock(&self.mempool).insert_batch(txs, &inner.state)
        };
        let mut verified = lock(&self.verified);
        let mut receipts = lock(&self.receipts);
        for (result, (signer, nonce)) in results.iter().zip(senders) {
            if let Ok(hash) = result {
                verified.insert(*hash);
                receipts.submitted(*hash, signer, nonce);
            }
        }
        results
    }

    /// What this node knows of a transaction: pending (in its mempool or in a block being
    /// ordered), or included with its outcome while the [`ReceiptIndex`] remembers it (else
    /// its location from the store); `None` if nothing.
    pub fn tx_state(&self, hash: &Hash32) -> Result<Option<TxState>, StoreError> {
        let inner = lock(&self.inner);
        let mempool = lock(&self.mempool);
        let receipts = lock(&self.receipts);
        receipts.state(
            hash,
            |signer, nonce| {
                mempool.contains(signer, nonce, hash)
                    || inner.inflight.iter().any(|tx| tx.hash() == *hash)
            },
            |hash| self.store.tx_location(hash),
        )
    }

    /// The height of the last applied (final) block, announced after its receipts are
    /// recorded.
    pub fn heads(&self) -> tokio::sync::watch::Receiver<Height> {
        self.heads.subscribe()
    }

    /// Receives every block finalized from now on, in height order.
    pub fn subscribe(&self) -> mpsc::Receiver<Finalized> {
        let (tx, rx) = mpsc::channel();
        lock(&self.subscribers).push(tx);
        rx
    }

    fn sig_ok(&self, txs: &[SignedTx]) -> Vec<bool> {
        let hashes: Vec<Hash32> = txs.iter().map(SignedTx::hash).collect();
        let mut ok = vec![false; txs.len()];
        let mut missing = Vec::new();
        {
            let verified = lock(&self.verified);
            for (i, h) in hashes.iter().enumerate() {
                if verified.contains(h) {
                    ok[i] = true;
                } else {
                    missing.push(i);
                }
            }
        }
        if !missing.is_empty() {
            let batch: Vec<SignedTx> = missing.iter().map(|&i| txs[i].clone()).collect();
            let results = verify_batch(&batch);
            let mut verified = lock(&self.verified);
            if verified.len() > 1 << 20 {
                verified.clear();
            }
            for (&i, good) in missing.iter().zip(results) {
                ok[i] = good;
                if good {
                    verified.insert(hashes[i]);
                }
            }
        }
        ok
    }

    /// The post-state (and header) of a block this node knows, by consensus digest.
    fn known(&self, digest: &Digest) -> Option<Arc<Speculative>> {
        let inner = lock(&self.inner);
        if let Some(spec) = inner.speculative.get(digest) {
            return Some(spec.clone());
        }
        if inner.digests.last() == Some(digest) {
            return Some(Arc::new(Speculative {
                state: inner.state.clone(),
                header: inner.head.clone(),
                outcomes: Vec::new(),
            }));
        }
        None
    }

    /// Decodes and checks `block` against its parent's post-state; returns its post-state.
    fn execute(&self, parent: &Speculative, block: &ConsensusBlock) -> Option<Arc<Speculative>> {
        if block.payload().len() > self.limits.max_bytes {
            return None;
        }
        let ledger_block: Block = decode(block.payload()).ok()?;
        if ledger_block.txs.len() > self.limits.max_txs
            || ledger_block.header.height.0 != block.height_u64()
            || ledger_block.header.parent_hash != parent.header.hash()
        {
            return None;
        }
        let sig_ok = self.sig_ok(&ledger_block.txs);
        let mut state = parent.state.clone();
        let outcomes = apply_block_with_sigs(&mut state, &ledger_block, &sig_ok).ok()?;
        let spec = Arc::new(Speculative {
            state,
            header: ledger_block.header,
            outcomes,
        });
        lock(&self.inner)
            .speculative
            .insert(block.id(), spec.clone());
        Some(spec)
    }

    /// Executes `chain[1..]` on top of the known `chain[0]`; returns the last post-state.
    fn execute_chain(&self, chain: &[ConsensusBlock]) -> Option<Arc<Speculative>> {
        let mut post = self.known(&chain.first()?.id())?;
        for block in chain.iter().skip(1) {
            post = match self.known(&block.id()) {
                Some(known) => known,
                None => self.execute(&post, block)?,
            };
        }
        Some(post)
    }

    fn finalize_inner(&self, block: &ConsensusBlock) -> Result<bool, FinalizeError> {
        let inner = lock(&self.inner);
        let applied = inner.head.height.0;
        let height = block.height_u64();
        if height <= applied {
            return Ok(false);
        }
        if height != applied + 1 || inner.digests.last() != Some(&block.parent_digest()) {
            return Err(FinalizeError::NotNext { height, applied });
        }
        let ledger_block: Block =
            decode(block.payload()).map_err(|source| FinalizeError::Decode { height, source })?;
        if ledger_block.header.parent_hash != inner.head.hash() {
            return Err(FinalizeError::ParentLink { height });
        }
        // This node usually executed the block already (it verified or built it): reuse that
        // post-state, which `execute` checked against the header's state root. Otherwise (a
        // block backfilled after a restart) execute it now.
        let checked = inner
            .speculative
            .get(&block.id())
            .filter(|spec| spec.header == ledger_block.header)
            .cloned();
        drop(inner);
        let (state, outcomes) = match checked {
            Some(spec) => Arc::try_unwrap(spec).map_or_else(
                |shared| (shared.state.clone(), shared.outcomes.clone()),
                |s| (s.state, s.outcomes),
            ),
            None => {
                let sig_ok = self.sig_ok(&ledger_block.txs);
                let mut state = lock(&self.inner).state.clone();
                let outcomes = apply_block_with_sigs(&mut state, &ledger_block, &sig_ok)
                    .map_err(|source| FinalizeError::Execute { height, source })?;
                (state, outcomes)
            }
        };
        let mut inner = lock(&self.inner);
        // The post-state root was checked against the header when the block was executed.
        self.store
            .commit_prepared(&PreparedCommit::new(ledger_block.clone(), &state))
            .map_err(|source| FinalizeError::Store { height, source })?;
        append_digest(&self.dir, &block.id()).map_err(|source| FinalizeError::Digests {
            height,
            path: digests_path(&self.dir),
            source,
        })?;
        inner.state = state;
        inner.head = ledger_block.header.clone();
        inner.digests.push(block.id());
        // Before the block's transactions leave the mempool and the in-flight list, so a
        // receipt query never finds them in neither.
        lock(&self.receipts).included(&ledger_block, &outcomes);
        if let Some(rule) = self.rule.filter(|r| r.is_boundary(height)) {
            let set = consensus_keys(&top_stakers(&inner.state, rule.seats));
            lock(&self.sets).insert(height, set);
        }
        inner
            .speculative
            .retain(|_, spec| spec.header.height.0 > height);
        let inflight = std::mem::take(&mut inner.inflight);
        {
            let mut mempool = lock(&self.mempool);
            mempool.prune(&inner.state);
            for tx in inflight {
                if tx.tx.nonce >= inner.state.nonce_of(&tx.signer) {
                    let _ = mempool.insert(tx, &inner.state);
                }
            }
        }
        drop(inner);
        self.heads.send_replace(Height(height));
        let finalized = Finalized {
            block: Arc::new(ledger_block),
            digest: block.id(),
            finalized_at_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                .unwrap_or(0),
        };
        lock(&self.subscribers).retain(|s| s.send(finalized.clone()).is_ok());
        Ok(true)
    }
}

impl Executor for ReplicatedLedger {
    fn genesis_payload(&self) -> Bytes {
        self.genesis_payload.clone()
    }

    fn knows(&self, digest: &Digest) -> bool {
        let inner = lock(&self.inner);
        inner.speculative.contains_key(digest) || inner.digests.last() == Some(digest)
    }

    fn last_applied_height(&self) -> u64 {
        lock(&self.inner).head.height.0
    }

    fn has_pending(&self, chain: &[ConsensusBlock]) -> bool {
        // Ready against the proposal's parent: transactions stuck behind a nonce gap do not
        // count, or one of them would make every view propose an empty block.
        let Some(parent) = chain.last() else {
            return true;
        };
        let id = parent.id();
        let inner = lock(&self.inner);
        let state = match inner.speculative.get(&id) {
            Some(spec) => &spec.state,
            None if inner.digests.last() == Some(&id) => &inner.state,
            // Ancestors not executed yet: let `build` find out.
            None => return true,
        };
        lock(&self.mempool).has_ready(state)
    }

    fn build(&self, chain: &[ConsensusBlock], timestamp_ms: u64) -> Option<Bytes> {
        let parent = self.execute_chain(chain)?;
        let txs = lock(&self.mempool).take_ready(&parent.state, self.limits.max_txs);
        lock(&self.inner).inflight.extend(txs.iter().cloned());
        let mut state = parent.state.clone();
        // Admission verified every signature in the pool.
        let (block, outcomes) =
            build_block_preverified(&mut state, &parent.header, timestamp_ms, txs);
        let bytes = Bytes::from(encode(&block));
        if bytes.len() > self.limits.max_bytes {
            return None;
        }
        // Keep the post-state, so finalizing this block does not execute it again.
        let parent_block = chain.last()?;
        let digest = ConsensusBlock::new(
            parent_block.id(),
            parent_block.height_u64() + 1,
            bytes.clone(),
        )
        .id();
        lock(&self.inner).speculative.insert(
            digest,
            Arc::new(Speculative {
                state,
                header: block.header,
                outcomes,
            }),
        );
        Some(bytes)
    }

    fn verify(&self, chain: &[ConsensusBlock], block: &ConsensusBlock) -> bool {
        match self.execute_chain(chain) {
            Some(parent) => self.execute(&parent, block).is_some(),
            None => false,
        }
    }

    type Error = FinalizeError;

    fn finalize(&self, block: &ConsensusBlock) -> Result<bool, FinalizeError> {
        self.finalize_inner(block)
    }

    fn blob_store(&self) -> Option<Arc<BlobStore>> {
        self.blobs.clone()
    }

    fn connect_blobs(&self, fetcher: BlobFetcher) {
        *lock(&self.fetcher) = Some(fetcher);
    }

    fn connect_gossip(&self, outbox: Outbox) {
        self.connect_outbox(outbox);
    }

    fn receive_gossip(&self, txs: Vec<Bytes>) -> Result<GossipReceipt, GossipFault> {
        self.receive_gossiped(txs)
    }

    fn validators_after(&self, boundary_height: u64) -> Option<Vec<PublicKey>> {
        lock(&self.sets)
            .get(&boundary_height)
            .filter(|set| !set.is_empty())
            .cloned()
    }
}

fn digests_path(dir: &Path) -> PathBuf {
    dir.join(DIGESTS_FILE)
}

fn append_digest(dir: &Path, digest: &Digest) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(digests_path(dir))?;
    file.write_all(digest.as_ref())
}

/// Reads the digest side file, truncated to the store's head, and recomputes any missing tail
/// from the stored blocks.
fn load_digests(
    dir: &Path,
    store: &Store,
    head: u64,
    genesis_payload: &Bytes,
) -> Result<Vec<Digest>, LedgerError> {
    let path = digests_path(dir);
    let io = |source| LedgerError::Digests {
        path: path.clone(),
        source,
    };
    let mut bytes = Vec::new();
    match std::fs::File::open(&path) {
        Ok(mut file) => {
            file.read_to_end(&mut bytes).map_err(io)?;
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(io(err)),
    }
    let genesis = ConsensusBlock::genesis(genesis_payload.clone()).id();
    let mut digests = vec![genesis];
    for chunk in bytes.chunks_exact(32).skip(1) {
        if digests.len() as u64 > head {
            break;
        }
        let mut raw = [0u8; 32];
        raw.copy_from_slice(chunk);
        digests.push(Digest::from(raw));
    }
    while (digests.len() as u64) <= head {
        let height = digests.len() as u64;
        let block = store
            .block(Height(height))?
            .ok_or(LedgerError::MissingBlock { height })?;
        let parent = digests[digests.len() - 1];
        digests.push(ConsensusBlock::new(parent, height, Bytes::from(encode(&block))).id());
    }
    // Rewrite the file so it matches the store exactly.
    let mut out = Vec::with_capacity(digests.len() * 32);
    for d in &digests {
        out.extend_from_slice(d.as_ref());
    }
    std::fs::write(&path, out).map_err(io)?;
    Ok(digests)
}
