//! Replaying a stored chain from genesis and measuring every layer at every epoch.
//!
//! [`replay`] re-executes a stored chain from its genesis configuration with
//! [`deai_chain::apply_block`] — the function every node runs, which re-checks each block's tx
//! root and post-state root — and stops at the stored head, whose state root the replay must
//! reach. Whenever a block's end processes a Yuma epoch (a new [`EpochRecord`] appears), the
//! [layers](crate::layer) are measured with `deai-metrics` (Gini, Nakamoto ½ and ⅓, HHI,
//! normalized entropy, Theil-T, top-1/3/5/10 shares, `n`). The result is one [`EpochLayers`] per
//! (task, epoch), in chain order. The ledger keeps only the newest `records_kept` epoch records;
//! the replay sees every one of them, so cumulative layers run from genesis.
//!
//! The measuring itself (which holdings each layer reads off the state and the running sums)
//! is in `measure.rs`; this module drives the blocks and collects what the measures need from
//! the transactions: who revealed an update in each round, and who contributed to each recorded
//! model.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use deai_chain::{BlockError, ChainError, EpochRecord, State};
use deai_metrics::MetricsError;
use deai_store::{Store, StoreError};
use deai_types::{AccountId, Call, CommitKind, Hash32, Height, TaskId};
use serde::Serialize;

use crate::layer::EpochLayers;
use crate::measure::{snapshot, Pending};
use crate::Knowledge;

/// Why the layers of a chain could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum LayersError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored genesis configuration does not build a state.
    #[error("the stored genesis configuration is invalid: {source}")]
    Genesis {
        /// What `State::genesis` said.
        #[source]
        source: ChainError,
    },
    /// A block below the head is not in the store.
    #[error("block {height} is missing from the store (the head is at height {head})")]
    MissingBlock {
        /// The missing height.
        height: u64,
        /// The stored head.
        head: u64,
    },
    /// A stored block does not re-execute (`deai chain verify` locates the fault).
    #[error("block {height} does not re-execute: {source}")]
    Replay {
        /// The block.
        height: u64,
        /// What `apply_block` said (boxed: a block error is large, a replay error is passed up
        /// through every caller).
        #[source]
        source: Box<BlockError>,
    },
    /// The replay ended elsewhere than the stored head.
    #[error("the replay ends at state root {replayed}, but the stored head has {head}")]
    RootMismatch {
        /// Root after the last replayed block.
        replayed: Hash32,
        /// Root in the stored head header.
        head: Hash32,
    },
    /// A holdings vector was rejected by `deai-metrics` (a negative or non-finite holding).
    #[error("layer `{layer}`: {source}")]
    Metrics {
        /// The layer.
        layer: &'static str,
        /// Why.
        #[source]
        source: MetricsError,
    },
}

/// The outcome of a replay.
#[derive(Debug, Clone, Serialize)]
pub struct Replay {
    /// One entry per processed (task, epoch), in chain order.
    pub epochs: Vec<EpochLayers>,
    /// Height of the stored head.
    pub head: u64,
    /// State root after replaying every block (equal to the head's).
    pub state_root: Hash32,
}

/// Replays the chain stored in `dir` (see [`replay`]).
pub fn replay_dir(dir: &Path, knowledge: &Knowledge) -> Result<Replay, LayersError> {
    replay(&Store::open(dir)?, knowledge)
}

/// Replays the chain in `store` from genesis and measures every layer at every epoch.
pub fn replay(store: &Store, knowledge: &Knowledge) -> Result<Replay, LayersError> {
    let head = store.head()?;
    let genesis = store.genesis()?;
    let mut state = State::genesis(&genesis).map_err(|source| LayersError::Genesis { source })?;
    let mut acc = Accumulators::default();
    let mut pending: Vec<Pending> = Vec::new();
    for h in 1..=head.height.0 {
        let block = store.block(Height(h))?.ok_or(LayersError::MissingBlock {
            height: h,
            head: head.height.0,
        })?;
        let outcomes =
            deai_chain::apply_block(&mut state, &block).map_err(|source| LayersError::Replay {
                height: h,
                source: Box::new(source),
            })?;
        for (tx, outcome) in block.txs.iter().zip(&outcomes) {
            if outcome.is_err() {
                continue;
            }
            match &tx.tx.call {
                Call::Reveal {
                    task,
                    round,
                    kind: CommitKind::Update,
                    ..
                } => {
                    acc.reveals
                        .entry((*task, round.0))
                        .or_default()
                        .insert(tx.signer);
                }
                Call::RecordModel {
                    task,
                    round,
                    contributors,
                    ..
                } => {
                    let accounts = contributors
                        .iter()
                        .filter_map(|(uid, _)| state.account_of(*task, *uid).map(|r| r.account))
                        .collect();
                    acc.models.insert((*task, round.0), accounts);
                }
                _ => {}
            }
        }
        let due: Vec<(TaskId, u64, EpochRecord)> = state
            .epoch_records()
            .filter(|(_, r)| r.at == Height(h))
            .map(|((t, e), r)| (*t, e.0, r.clone()))
            .collect();
        for (task, epoch, record) in due {
            pending.push(snapshot(&state, task, epoch, &record, knowledge, &mut acc)?);
        }
    }
    let root = state.root();
    if root != head.state_root {
        return Err(LayersError::RootMismatch {
            replayed: root,
            head: head.state_root,
        });
    }
    let epochs = pending
        .into_iter()
        .map(|p| p.finish(&acc, knowledge))
        .collect::<Result<_, _>>()?;
    Ok(Replay {
        epochs,
        head: head.height.0,
        state_root: root,
    })
}

/// Running sums of the replay.
#[derive(Default)]
pub(crate) struct Accumulators {
    /// Paid by incentive so far, per (task, miner).
    pub(crate) miner_paid: BTreeMap<(TaskId, AccountId), u128>,
    /// Paid by dividends so far, per (task, validator).
    pub(crate) validator_paid: BTreeMap<(TaskId, AccountId), u128>,
    /// Paid so far per controlling entity, over every task.
    pub(crate) entity_paid: BTreeMap<String, u128>,
    /// Accounts that revealed an update, per (task, round).
    pub(crate) reveals: BTreeMap<(TaskId, u64), BTreeSet<AccountId>>,
    /// Contributors of each recorded model, per (task, round).
    pub(crate) models: BTreeMap<(TaskId, u64), Vec<AccountId>>,
}
