//! The embedded chain: a single-node block producer over a [`Store`].
//!
//! Life of a transaction: [`EmbeddedChain::submit`] admits it to the [`Mempool`] (signature,
//! chain id and nonce checked there); [`EmbeddedChain::produce_block`] takes the ready
//! transactions in arrival order, executes them with [`deai_chain::build_block`] on the
//! in-memory state (which fills in the tx root and post-state root), and commits the block and
//! its post-state to the store in one write transaction. Time enters only as the
//! `timestamp_ms` argument, so a scripted run is reproducible.
//!
//! Pacing: a daemon calls [`EmbeddedChain::produce_if_due`] on every tick of its timer. A
//! block is due at once when a transaction is ready (its nonce is its signer's next nonce);
//! while idle — nothing waiting, or only transactions stuck behind a nonce gap — at most one
//! empty block is made per idle interval, measured from the head block's timestamp (so the rule
//! is a function of the chain and the `now_ms` input). `deai node` sets the interval to
//! [`DEFAULT_IDLE_BLOCK_MS`] = 2 000 ms unless told otherwise
//! ([`EmbeddedChain::with_idle_block_interval`]); a chain opened without one makes no empty
//! blocks in `produce_if_due`. Empty blocks keep windows counted in blocks (commit, reveal,
//! unbonding, gapped-transaction expiry) closing on an idle chain; 2 s closes a 10-block window
//! in 20 s while costing one fsync every 2 s instead of one per tick.
//! [`EmbeddedChain::produce_block`] (used by scripted runs such as `deai demo`) always makes a
//! block and ignores pacing.
//!
//! Commit modes: [`CommitMode::Sync`] makes each block durable before `produce_block` returns;
//! [`CommitMode::Pipelined`] hands the block to a background [`Committer`] and returns at once,
//! so the next block executes while this one is written — a block then counts as committed only
//! when [`EmbeddedChain::durable_height`] reaches it. Either way a crash loses no committed block,
//! and reopening resumes from the last one.

use std::path::Path;
use std::sync::Arc;

use deai_chain::{GenesisConfig, State, TxOutcome};
use deai_types::{Block, Hash32, Header, Height, SignedTx};

use crate::committer::Committer;
use crate::error::StoreError;
use crate::mempool::{Mempool, MempoolConfig, MempoolError, VerifiedBatch};
use crate::sigs::SigVerifier;
use crate::store::{PreparedCommit, Store};

/// How produced blocks reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitMode {
    /// Durable before `produce_block` returns.
    Sync,
    /// Written by a background thread with up to `depth` blocks queued.
    Pipelined {
        /// Blocks that may wait behind the one being written.
        depth: usize,
    },
}

/// The idle interval `deai node` gives [`EmbeddedChain::with_idle_block_interval`]: while
/// idle, at most one empty block every 2 s (see the module docs).
pub const DEFAULT_IDLE_BLOCK_MS: u64 = 2_000;

/// Settings of an [`EmbeddedChain`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddedConfig {
    /// Mempool limits.
    pub mempool: MempoolConfig,
    /// Most transactions per block.
    pub max_block_txs: usize,
    /// How blocks are committed.
    pub commit: CommitMode,
}

impl Default for EmbeddedConfig {
    fn default() -> Self {
        Self {
            mempool: MempoolConfig::default(),
            max_block_txs: 10_000,
            commit: CommitMode::Sync,
        }
    }
}

/// Errors of the embedded chain.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The mempool refused a transaction.
    #[error("transaction rejected: {0}")]
    Rejected(#[from] MempoolError),
    /// The stored state does not match the head block: the database is inconsistent.
    #[error("stored state root {actual} does not match head block {height}'s state root {expected}; run `deai chain verify`")]
    StateMismatch {
        /// Head height.
        height: u64,
        /// Root in the head header (hex).
        expected: String,
        /// Root of the stored state (hex).
        actual: String,
    },
}

/// A block just produced, with the outcome of each of its transactions.
#[derive(Debug, Clone)]
pub struct ProducedBlock {
    /// The block.
    pub block: Arc<Block>,
    /// One outcome per transaction in the block, in order.
    pub outcomes: Vec<TxOutcome>,
}

/// A single-node chain: state in memory, blocks and state persisted in a [`Store`].
#[derive(Debug)]
pub struct EmbeddedChain {
    store: Arc<Store>,
    state: State,
    head: Header,
    mempool: Mempool,
    committer: Option<Committer>,
    config: EmbeddedConfig,
    idle_block_ms: Option<u64>,
}

impl EmbeddedChain {
    /// Creates a new chain in `dir` (see [`Store::init`]) and starts it.
    pub fn init(
        dir: impl AsRef<Path>,
        genesis: &GenesisConfig,
        config: EmbeddedConfig,
    ) -> Result<Self, EmbeddedError> {
        let (store, state) = Store::init(dir, genesis)?;
        Self::start(store, state, config)
    }

    /// Opens the chain in `dir`, recovering to its last committed block.
    pub fn open(dir: impl AsRef<Path>, config: EmbeddedConfig) -> Result<Self, EmbeddedError> {
        let store = Store::open(dir)?;
        let state = store.state()?;
        Self::start(store, state, config)
    }

    fn start(store: Store, state: State, config: EmbeddedConfig) -> Result<Self, EmbeddedError> {
        let head = store.head()?;
        let root = state.root();
        if root != head.state_root {
            return Err(EmbeddedError::StateMismatch {
                height: head.height.0,
                expected: head.state_root.to_string(),
                actual: root.to_string(),
            });
        }
        tracing::info!(
            height = head.height.0,
            state_root = %head.state_root,
            "opened chain at {}",
            store.path().display()
        );
        let store = Arc::new(store);
        let committer = match config.commit {
            CommitMode::Sync => None,
            CommitMode::Pipelined { depth } => {
                Some(Committer::start(Arc::clone(&store), head.height, depth))
            }
        };
        let mempool = Mempool::new(state.chain_id().clone(), config.mempool);
        Ok(Self {
            store,
            state,
            head,
            mempool,
            committer,
            config,
            idle_block_ms: None,
        })
    }

    /// The same chain, making at most one empty block per `ms` milliseconds while idle in
    /// [`EmbeddedChain::produce_if_due`] (at least 1).
    pub fn with_idle_block_interval(mut self, ms: u64) -> Self {
        self.idle_block_ms = Some(ms.max(1));
        self
    }

    /// The same chain, its mempool dropping gapped transactions `blocks` blocks after their
    /// admission (see [`Mempool::with_gap_expiry`]).
    pub fn with_gap_expiry(mut self, blocks: u64) -> Self {
        self.mempool.set_gap_expiry(blocks);
        self
    }

    /// Milliseconds between empty blocks while idle (`None`: no empty blocks).
    pub fn idle_block_interval_ms(&self) -> Option<u64> {
        self.idle_block_ms
    }

    /// The store (for reads; writes go through `produce_block`).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The state after the last produced block (which may not be durable yet when pipelined).
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Header of the last produced block.
    pub fn head(&self) -> &Header {
        &self.head
    }

    /// The mempool.
    pub fn mempool(&self) -> &Mempool {
        &self.mempool
    }

    /// Height of the last block known to be durable.
    pub fn durable_height(&self) -> Height {
        match &self.committer {
            Some(c) => c.durable_height(),
            None => self.head.height,
        }
    }

    /// Heights that became durable since the last call (pipelined mode; in sync mode every
    /// produced block is durable when `produce_block` returns, and this is empty).
    pub fn drain_committed(&self) -> Vec<Height> {
        self.committer
            .as_ref()
            .map(Committer::drain_committed)
            .unwrap_or_default()
    }

    /// Waits until every produced block is durable.
    pub fn flush(&self) -> Result<(), EmbeddedError> {
        if let Some(c) = &self.committer {
            c.wait_durable(self.head.height)?;
        }
        Ok(())
    }

    /// Admits a transaction to the mempool; returns its hash.
    pub fn submit(&mut self, tx: SignedTx) -> Result<Hash32, EmbeddedError> {
        Ok(self.mempool.insert(tx, &self.state)?)
    }

    /// Admits many transactions, verifying signatures in parallel; one result per transaction.
    pub fn submit_batch(&mut self, txs: Vec<SignedTx>) -> Vec<Result<Hash32, MempoolError>> {
        self.mempool.insert_batch(txs, &self.state)
    }

    /// Admits a batch verified beforehand (e.g. on another thread while the previous block was
    /// produced) with [`EmbeddedChain::verifier`]; one result per transaction.
    pub fn submit_verified(&mut self, batch: VerifiedBatch) -> Vec<Result<Hash32, MempoolError>> {
        self.mempool.insert_verified(batch, &self.state)
    }

    /// The mempool's signature verifier, to build [`VerifiedBatch`]es on other threads.
    pub fn verifier(&self) -> Arc<SigVerifier> {
        self.mempool.verifier()
    }

    /// Whether a block is due at `now_ms`: a transaction is ready, or an idle interval is set
    /// and has passed since the head block's timestamp (see the module docs).
    pub fn block_due(&mut self, now_ms: u64) -> bool {
        let idle_over = self
            .idle_block_ms
            .is_some_and(|idle| now_ms.saturating_sub(self.head.timestamp_ms) >= idle);
        idle_over || self.mempool.has_ready(&self.state)
    }

    /// Produces a block at `now_ms` if one is due ([`EmbeddedChain::block_due`]); `None`
    /// otherwise.
    pub fn produce_if_due(&mut self, now_ms: u64) -> Result<Option<ProducedBlock>, EmbeddedError> {
        if !self.block_due(now_ms) {
            return Ok(None);
        }
        self.produce_block(now_ms).map(Some)
    }

    /// Produces the next block from the ready mempool transactions (possibly none) at
    /// `timestamp_ms`, and commits it (see [`CommitMode`]).
    pub fn produce_block(&mut self, timestamp_ms: u64) -> Result<ProducedBlock, EmbeddedError> {
        if let Some(c) = &self.committer {
            // Refuse to build on top of a block whose background commit failed.
            c.check()?;
        }
        let txs = self
            .mempool
            .take_ready(&self.state, self.config.max_block_txs);
        let (block, outcomes) =
            deai_chain::build_block_preverified(&mut self.state, &self.head, timestamp_ms, txs);
        let block = Arc::new(block);
        let state_bytes = deai_types::encode(&self.state);
        let committed = match &self.committer {
            None => self
                .store
                .commit_prepared(&PreparedCommit::with_state_bytes(
                    Arc::clone(&block),
                    state_bytes,
                )),
            Some(c) => c.submit(Arc::clone(&block), state_bytes),
        };
        if let Err(err) = committed {
            tracing::error!(height = block.header.height.0, error = %err, "block commit failed");
            // Return to what the disk holds, so memory never runs ahead of a failed commit.
            self.state = self.store.state()?;
            self.head = self.store.head()?;
            return Err(err.into());
        }
        self.head = block.header.clone();
        tracing::debug!(
            height = self.head.height.0,
            txs = block.txs.len(),
            failed = outcomes.iter().filter(|o| o.is_err()).count(),
            mempool = self.mempool.len(),
            "produced block"
        );
        Ok(ProducedBlock { block, outcomes })
    }
}
