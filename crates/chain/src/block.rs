//! Blocks: context, begin/end hooks, production and verification.
//!
//! # Block execution
//! 1. `begin_block`: the tip becomes `(height, timestamp, parent_hash)` of the new block, and
//!    the roles of proposer/voter rounds starting at this height are drawn ([`crate::pv`]).
//! 2. Each transaction in order: admission (chain id, signature, nonce, fee), fee and nonce,
//!    then the call, atomically (see [`crate::apply`]).
//! 3. `end_block`: governance tallies and executions due at this height, then, task by task,
//!    the Yuma epochs ([`crate::epoch`]) and proposer/voter rounds ending at this height. Each
//!    task's processing is atomic: if it fails (only on arithmetic overflow) it is skipped
//!    whole and its funds stay in the escrow.
//!
//! # Production and verification
//! [`build_block`] verifies signatures in parallel batches, executes, and *drops* every
//! transaction that is rejected (bad signature, wrong chain, bad nonce, fee too low or
//! unpayable): a block only contains transactions that were charged. [`apply_block`] re-checks
//! the height, timestamp and tx root, re-executes, refuses a block containing a rejected
//! transaction, and compares the state root; on any error the state is left unchanged
//! (the block's journal is rolled back). The parent-hash link is the caller's to check, since
//! the state cannot hold the hash of the header that commits to it.

use borsh::{BorshDeserialize, BorshSerialize};
use deai_types::{
    tx_root, verify_batch, Block, Epoch, Hash32, Header, Height, Mechanism, Round, SignedTx, TaskId,
};
use serde::{Deserialize, Serialize};

use crate::apply::{apply_in, governance_end_block};
use crate::epoch::{epoch_due, process_epoch, round_ending_at};
use crate::error::{BlockError, TxError};
use crate::pv::{draw_due, round_starting_at, settle_round};
use crate::receipt::{Event, TxOutcome};
use crate::state::{Journal, Rw, State, Tip};

/// What a transaction may know about the block executing it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct BlockCtx {
    /// The block's height.
    pub height: Height,
    /// The block's timestamp (input, never a clock read).
    pub timestamp_ms: u64,
    /// The parent header's hash.
    pub parent_hash: Hash32,
}

impl BlockCtx {
    /// The context of the block following `parent`.
    pub fn child_of(parent: &Header, timestamp_ms: u64) -> BlockCtx {
        BlockCtx {
            height: Height(parent.height.0.saturating_add(1)),
            timestamp_ms,
            parent_hash: parent.hash(),
        }
    }
}

/// The genesis header of a genesis state.
pub fn genesis_header(state: &State) -> Header {
    Header {
        height: state.tip.height,
        parent_hash: Hash32::ZERO,
        timestamp_ms: state.tip.timestamp_ms,
        tx_root: tx_root(&[]),
        state_root: state.root(),
    }
}

/// Start a block: the tip moves, then the roles of every proposer/voter round starting at this
/// height are drawn ([`crate::pv`]), so the block's transactions already see them.
pub(crate) fn begin_block(rw: &mut Rw<'_>, ctx: &BlockCtx) -> Vec<Event> {
    rw.set_tip(Tip {
        height: ctx.height,
        timestamp_ms: ctx.timestamp_ms,
        parent_hash: ctx.parent_hash,
    });
    let due: Vec<(TaskId, Round)> =
        rw.s.tasks
            .iter()
            .filter(|(_, t)| t.spec.mechanism == Mechanism::ProposerVoter)
            .filter_map(|(id, t)| round_starting_at(t, ctx.height).map(|r| (*id, r)))
            .collect();
    due.into_iter()
        .map(|(task, round)| draw_due(rw, task, round, ctx.parent_hash))
        .collect()
}

/// Finish a block: governance, then the tasks' epoch (Yuma) and round (proposer/voter)
/// processing due at this height, in task order.
pub(crate) fn end_block(rw: &mut Rw<'_>, ctx: &BlockCtx) -> Vec<Event> {
    let mark = rw.j.mark();
    let mut events = match governance_end_block(rw, ctx.height) {
        Ok(ev) => ev,
        Err(_) => {
            // Only reachable on u128/u64 overflow; skip this block's governance rather than
            // leave it half-applied. The queue entries stay and are retried next block.
            rw.j.rollback(rw.s, mark);
            Vec::new()
        }
    };
    enum Due {
        Epoch(Epoch),
        Round(Round),
    }
    let due: Vec<(TaskId, Due)> =
        rw.s.tasks
            .iter()
            .filter_map(|(id, t)| match t.spec.mechanism {
                Mechanism::Yuma => epoch_due(t, ctx.height).map(|e| (*id, Due::Epoch(e))),
                Mechanism::ProposerVoter => {
                    round_ending_at(t, ctx.height).map(|r| (*id, Due::Round(r)))
                }
            })
            .collect();
    for (task, due) in due {
        let mark = rw.j.mark();
        let out = match due {
            Due::Epoch(epoch) => process_epoch(rw, task, epoch, ctx.height),
            Due::Round(round) => settle_round(rw, task, round, ctx.height),
        };
        match out {
            Ok(ev) => events.extend(ev),
            // Only reachable on arithmetic overflow: the epoch or round is skipped as a whole
            // and its reward stays in the escrow.
            Err(_) => rw.j.rollback(rw.s, mark),
        }
    }
    events
}

/// Execute a block's transactions on `state` with the given signature results
/// (`sig_ok[i]` for `txs[i]`; missing entries count as unverified and are checked here).
/// Returns one outcome per transaction (rejections included) and the begin- and end-of-block
/// events (role draws, governance, epochs and rounds).
pub fn execute_block(
    state: &mut State,
    ctx: &BlockCtx,
    txs: &[SignedTx],
    sig_ok: &[bool],
) -> (Vec<TxOutcome>, Vec<Event>) {
    let mut j = Journal::default();
    let mut rw = Rw::new(state, &mut j);
    execute_in(&mut rw, ctx, txs, sig_ok)
}

fn execute_in(
    rw: &mut Rw<'_>,
    ctx: &BlockCtx,
    txs: &[SignedTx],
    sig_ok: &[bool],
) -> (Vec<TxOutcome>, Vec<Event>) {
    let mut events = begin_block(rw, ctx);
    let outcomes = txs
        .iter()
        .enumerate()
        .map(|(i, tx)| {
            if sig_ok.get(i) == Some(&false) {
                return Err(TxError::BadSignature);
            }
            apply_in(rw, tx, ctx, sig_ok.get(i) == Some(&true))
        })
        .collect();
    events.extend(end_block(rw, ctx));
    (outcomes, events)
}

/// Produce the block after `parent`: verify signatures (parallel batches), execute, drop
/// rejected transactions, fill the tx root and the post-state root. Returns the block and one
/// outcome per *included* transaction.
pub fn build_block(
    state: &mut State,
    parent: &Header,
    timestamp_ms: u64,
    txs: Vec<SignedTx>,
) -> (Block, Vec<TxOutcome>) {
    let sig_ok = verify_batch(&txs);
    build_with(state, parent, timestamp_ms, txs, &sig_ok)
}

/// [`build_block`] for transactions whose signatures the caller already verified (e.g. on
/// mempool admission with [`deai_types::verify_batch`]).
pub fn build_block_preverified(
    state: &mut State,
    parent: &Header,
    timestamp_ms: u64,
    txs: Vec<SignedTx>,
) -> (Block, Vec<TxOutcome>) {
    let sig_ok = vec![true; txs.len()];
    build_with(state, parent, timestamp_ms, txs, &sig_ok)
}

fn build_with(
    state: &mut State,
    parent: &Header,
    timestamp_ms: u64,
    txs: Vec<SignedTx>,
    sig_ok: &[bool],
) -> (Block, Vec<TxOutcome>) {
    let ctx = BlockCtx::child_of(parent, timestamp_ms.max(state.tip.timestamp_ms));
    let mut j = Journal::default();
    let mut rw = Rw::new(state, &mut j);
    let _ = begin_block(&mut rw, &ctx);
    let mut included = Vec::with_capacity(txs.len());
    let mut outcomes = Vec::with_capacity(txs.len());
    for (i, tx) in txs.into_iter().enumerate() {
        let ok = sig_ok.get(i).copied().unwrap_or(false);
        let out = if ok {
            apply_in(&mut rw, &tx, &ctx, true)
        } else {
            Err(TxError::BadSignature)
        };
        if matches!(&out, Err(e) if e.is_rejection()) {
            continue;
        }
        included.push(tx);
        outcomes.push(out);
    }
    end_block(&mut rw, &ctx);
    let header = Header {
        height: ctx.height,
        parent_hash: ctx.parent_hash,
        timestamp_ms: ctx.timestamp_ms,
        tx_root: tx_root(&included),
        state_root: state.root(),
    };
    (
        Block {
            header,
            txs: included,
        },
        outcomes,
    )
}

/// Verify and apply a block produced by someone else (see the module docs). On error the state
/// is unchanged.
pub fn apply_block(state: &mut State, block: &Block) -> Result<Vec<TxOutcome>, BlockError> {
    let sig_ok = verify_batch(&block.txs);
    apply_block_with_sigs(state, block, &sig_ok)
}

/// [`apply_block`] with signature results computed by the caller (`sig_ok[i]` for tx `i`).
pub fn apply_block_with_sigs(
    state: &mut State,
    block: &Block,
    sig_ok: &[bool],
) -> Result<Vec<TxOutcome>, BlockError> {
    let h = &block.header;
    if Some(h.height) != state.tip.height.next() {
        return Err(BlockError::WrongHeight {
            state: state.tip.height,
            got: h.height,
        });
    }
    if h.timestamp_ms < state.tip.timestamp_ms {
        return Err(BlockError::TimestampBackwards {
            previous: state.tip.timestamp_ms,
            got: h.timestamp_ms,
        });
    }
    let computed = tx_root(&block.txs);
    if computed != h.tx_root {
        return Err(BlockError::TxRoot {
            header: h.tx_root,
            computed,
        });
    }
    let ctx = BlockCtx {
        height: h.height,
        timestamp_ms: h.timestamp_ms,
        parent_hash: h.parent_hash,
    };
    let mut j = Journal::default();
    let mut rw = Rw::new(state, &mut j);
    let (outcomes, _) = execute_in(&mut rw, &ctx, &block.txs, sig_ok);
    let rejected = outcomes.iter().enumerate().find_map(|(index, o)| match o {
        Err(e) if e.is_rejection() => Some(BlockError::RejectedTx {
            index,
            error: e.clone(),
        }),
        _ => None,
    });
    if let Some(err) = rejected {
        j.rollback(state, 0);
        return Err(err);
    }
    let computed = state.root();
    if computed != h.state_root {
        j.rollback(state, 0);
        return Err(BlockError::StateRoot {
            header: h.state_root,
            computed,
        });
    }
    Ok(outcomes)
}
