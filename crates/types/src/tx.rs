//! Transactions: what an account asks the ledger to do, signed.
//!
//! A [`Tx`] names the chain it is for, the signer's next [`Nonce`], the fee it offers and one
//! [`Call`]. The signer signs `Tx::signing_hash()` =
//! `blake3("deai/tx/v1" || encode(tx))`, so a signature is bound to one chain id and one nonce:
//! replaying it on another chain, or twice on the same chain, is rejected by the ledger.
//! The meaning of every call, its windows and its errors are written in `deai-chain`.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::codec::encode;
use crate::crypto::Signature;
use crate::fixed_point::Fixed;
use crate::hash::Hash32;
use crate::ids::{AccountId, Amount, ChainId, Nonce, ProposalId, Round, TaskId, Uid};
use crate::protocol::{CommitKind, Evidence, ParamChange, Role, TaskSpec};

/// One action on the ledger.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    /// Move `amount` of the signer's balance to `to`.
    Transfer {
        /// Recipient.
        to: AccountId,
        /// Amount moved.
        amount: Amount,
    },
    /// Bond `amount` of the signer's balance as stake on itself (its own hotkey).
    Stake {
        /// Amount bonded.
        amount: Amount,
    },
    /// Start unbonding `amount` of the signer's stake on itself.
    Unstake {
        /// Amount unbonded.
        amount: Amount,
    },
    /// Bond `amount` of the signer's balance as stake on `hotkey` (a miner or validator).
    Delegate {
        /// The account whose stake grows and whose rewards the signer shares.
        hotkey: AccountId,
        /// Amount bonded.
        amount: Amount,
    },
    /// Start unbonding `amount` of the signer's stake on `hotkey`.
    Undelegate {
        /// The account the stake was delegated to.
        hotkey: AccountId,
        /// Amount unbonded.
        amount: Amount,
    },
    /// Move every matured unbonding entry of the signer to its balance.
    Withdraw,
    /// Set the share of rewards the signer (as a hotkey) keeps before delegators are paid.
    SetTake {
        /// The take rate, in `[0, max_take]`.
        take: Fixed,
    },
    /// Register the signer on a task and receive a UID.
    Register {
        /// The task.
        task: TaskId,
        /// Miner or validator.
        role: Role,
    },
    /// Propose a task and escrow its reward.
    ProposeTask(TaskSpec),
    /// Commit a hash for `(task, round, kind, signer)` inside the commit window.
    Commit {
        /// The task.
        task: TaskId,
        /// The current round of the task.
        round: Round,
        /// What is committed.
        kind: CommitKind,
        /// `commitment_hash(key, preimage)`.
        hash: Hash32,
    },
    /// Reveal the preimage of the signer's commitment inside the reveal window.
    Reveal {
        /// The task.
        task: TaskId,
        /// The round committed for.
        round: Round,
        /// What was committed.
        kind: CommitKind,
        /// The preimage (at most `max_preimage_len` bytes).
        preimage: Vec<u8>,
    },
    /// Slash the offender named by the evidence; the signer is the reporter.
    Slash {
        /// The evidence.
        evidence: Evidence,
    },
    /// Propose a parameter change.
    GovPropose {
        /// The change.
        change: ParamChange,
    },
    /// Vote on an open proposal with the signer's bonded stake.
    GovVote {
        /// The proposal.
        proposal: ProposalId,
        /// Yes or no.
        approve: bool,
    },
    /// Record the global model of an ended round with the updates it aggregates (signed by the
    /// task's proposer, once per round).
    RecordModel {
        /// The task.
        task: TaskId,
        /// The round (its last block is below the current height).
        round: Round,
        /// Hash of the aggregated global model.
        model: Hash32,
        /// The contributing updates in aggregation order: each UID revealed an update in this
        /// round whose blob is the given hash.
        contributors: Vec<(Uid, Hash32)>,
    },
}

/// An unsigned transaction.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Tx {
    /// The chain this transaction is valid on.
    pub chain_id: ChainId,
    /// Must equal the signer's account nonce.
    pub nonce: Nonce,
    /// Fee offered (burned), at least the `min_fee` parameter.
    pub fee: Amount,
    /// The action.
    pub call: Call,
}

impl Tx {
    /// The digest the signer signs: `blake3("deai/tx/v1" || encode(self))`.
    pub fn signing_hash(&self) -> Hash32 {
        Hash32::tagged(b"deai/tx/v1", &[&encode(self)])
    }
}

/// A transaction with its signer and signature.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct SignedTx {
    /// The transaction.
    pub tx: Tx,
    /// The signing account (its ed25519 verifying key).
    pub signer: AccountId,
    /// ed25519 signature over `tx.signing_hash()`.
    pub signature: Signature,
}

impl SignedTx {
    /// The transaction id: `blake3("deai/signed-tx/v1" || encode(self))`.
    pub fn hash(&self) -> Hash32 {
        Hash32::tagged(b"deai/signed-tx/v1", &[&encode(self)])
    }
}
