//! The proposer/voter mechanism from a participant's side: who the next block will draw.
//!
//! The ledger draws a round's proposers and voters at the beginning of the round's first
//! block, from the parent block's hash, among the task's UIDs whose hotkey stake reaches the
//! task's minimum ([`deai_chain::draw_roles`]). A participant must know before that block
//! whether it proposes, since proposers commit their updates in it: it re-derives the draw
//! from the head ([`next_draw`]) and can check it against the ledger's once the block is in
//! ([`crate::ChainPort::pv_roles`]).

use deai_chain::PvRoles;
use deai_types::{Round, TaskId, Uid};

use crate::port::ChainPort;
use crate::RoleError;

/// The roles the ledger will draw for `round` of `task` at the start of the block after the
/// head.
pub fn next_draw(port: &dyn ChainPort, task: TaskId, round: Round) -> Result<PvRoles, RoleError> {
    let head = port.head()?;
    let min_stake = port
        .task(task)?
        .map(|t| t.spec.min_stake)
        .unwrap_or_default();
    let eligible: Vec<Uid> = port
        .registrations(task)?
        .into_iter()
        .filter(|r| r.stake >= min_stake)
        .map(|r| r.uid)
        .collect();
    Ok(deai_chain::draw_roles(
        deai_chain::draw_seed(head.hash, task, round),
        &eligible,
        port.params()?.pv_proposers,
    ))
}
