//! Errors of the ledger state machine.
//!
//! [`TxError`] has one variant per way a transaction can fail. The first five are
//! *rejections* ([`TxError::is_rejection`]): they are checked before anything changes, the
//! transaction leaves the state untouched and never enters a block. Every other variant is an
//! *execution failure*: the fee is charged and the nonce advances, nothing else changes — except
//! that the two offence errors ([`TxError::records_offence`]) also leave the record that makes
//! them slashable.

use borsh::{BorshDeserialize, BorshSerialize};
use deai_types::protocol::TaskSpecError;
use deai_types::{
    AccountId, Amount, ChainId, CommitKey, CommitKind, Evidence, Fixed, Hash32, Height, Mechanism,
    Nonce, OffenceId, ParamError, ProposalId, Role, Round, TaskId, Uid,
};
use serde::{Deserialize, Serialize};

/// Commit or reveal.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The commit window.
    Commit,
    /// The reveal window.
    Reveal,
}

/// Why a piece of slashing evidence does not hold.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    thiserror::Error,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
pub enum EvidenceError {
    /// No commitment under this key.
    #[error("no commitment recorded for {key:?}")]
    UnknownCommitment {
        /// The key named by the evidence.
        key: CommitKey,
    },
    /// The reveal window is still open, so the reveal is not (yet) missed.
    #[error("the reveal window of {key:?} is open until height {closes}; a missed reveal can be reported from then on")]
    RevealWindowOpen {
        /// The key.
        key: CommitKey,
        /// First height at which the reveal counts as missed.
        closes: Height,
    },
    /// The commitment was revealed correctly.
    #[error("{key:?} was revealed with a matching preimage")]
    Revealed {
        /// The key.
        key: CommitKey,
    },
    /// The commitment is pending or revealed, not mismatched.
    #[error("{key:?} has no recorded reveal mismatch")]
    NoMismatch {
        /// The key.
        key: CommitKey,
    },
    /// No offence with this id.
    #[error("no offence {id} is recorded")]
    UnknownOffence {
        /// The id named by the evidence.
        id: OffenceId,
    },
}

/// A transaction the ledger refused or could not execute.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    thiserror::Error,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum TxError {
    // ----- rejections: nothing changes, never in a block -----
    /// Signed for another chain.
    #[error("transaction is for chain {got:?}, this ledger is {expected:?}")]
    WrongChain {
        /// This ledger's chain id.
        expected: ChainId,
        /// The transaction's chain id.
        got: ChainId,
    },
    /// The signature does not verify.
    #[error("signature does not verify for the signer and transaction")]
    BadSignature,
    /// The nonce is not the signer's next nonce (replay or gap).
    #[error("nonce {got} is not the signer's next nonce {expected}")]
    BadNonce {
        /// The account's next nonce.
        expected: Nonce,
        /// The transaction's nonce.
        got: Nonce,
    },
    /// The fee is below the `min_fee` parameter.
    #[error("fee {offered} is below the minimum fee {min}")]
    FeeTooLow {
        /// The minimum fee.
        min: Amount,
        /// The fee offered.
        offered: Amount,
    },
    /// The signer's balance cannot pay the fee.
    #[error("balance {balance} cannot pay the fee {fee}")]
    CannotPayFee {
        /// The signer's balance.
        balance: Amount,
        /// The fee.
        fee: Amount,
    },

    // ----- execution failures: fee charged, nonce advanced, nothing else changes -----
    /// An amount of zero where a positive amount is required.
    #[error("amount must be positive")]
    ZeroAmount,
    /// A transfer to oneself.
    #[error("transfer to the sender itself; send to another account")]
    SelfTransfer,
    /// Not enough free balance (after the fee).
    #[error("balance {available} is less than the {needed} required")]
    InsufficientBalance {
        /// Free balance after the fee.
        available: Amount,
        /// Amount required.
        needed: Amount,
    },
    /// Not enough bonded stake from the signer on the hotkey.
    #[error("stake {available} on {hotkey} is less than the {needed} requested")]
    InsufficientStake {
        /// The hotkey.
        hotkey: AccountId,
        /// The signer's stake on it.
        available: Amount,
        /// Amount requested.
        needed: Amount,
    },
    /// A total would exceed `u128::MAX` (or a height `u64::MAX`).
    #[error("arithmetic overflow in {what}; use smaller amounts")]
    Overflow {
        /// What overflowed.
        what: String,
    },
    /// No unbonding entry has matured.
    #[error("nothing to withdraw yet (next release at height {next_release:?})")]
    NothingToWithdraw {
        /// Earliest release height of the signer's unbonding entries, if any.
        next_release: Option<Height>,
    },
    /// Take rate outside `[0, max_take]`.
    #[error("take {take} is outside [0, {max}]")]
    TakeOutOfRange {
        /// Requested take.
        take: Fixed,
        /// The `max_take` parameter.
        max: Fixed,
    },
    /// No such task.
    #[error("task {task} does not exist")]
    UnknownTask {
        /// The task id.
        task: TaskId,
    },
    /// The task's last round is over.
    #[error("task {task} ended at height {end}")]
    TaskEnded {
        /// The task.
        task: TaskId,
        /// Its end height.
        end: Height,
    },
    /// The task specification is invalid.
    #[error("invalid task specification: {0}")]
    InvalidTaskSpec(TaskSpecError),
    /// `max_uids` above the `max_uids_per_task` parameter.
    #[error("max_uids {max_uids} exceeds the limit {limit}")]
    TooManyUids {
        /// Requested capacity.
        max_uids: u16,
        /// The `max_uids_per_task` parameter.
        limit: u16,
    },
    /// The signer is already registered on the task (an offence: recorded, slashable).
    #[error("already registered on task {task} as UID {uid}; recorded as offence {offence}")]
    AlreadyRegistered {
        /// The task.
        task: TaskId,
        /// The UID held.
        uid: Uid,
        /// The offence record created.
        offence: OffenceId,
    },
    /// The task has no free UID.
    #[error("task {task} is full ({capacity} UIDs)")]
    TaskFull {
        /// The task.
        task: TaskId,
        /// Its capacity.
        capacity: u16,
    },
    /// The signer's total stake is below the task's minimum.
    #[error("stake {stake} is below task {task}'s minimum {min_stake}")]
    BelowMinStake {
        /// The task.
        task: TaskId,
        /// The signer's total (self + delegated) stake.
        stake: Amount,
        /// The task's minimum.
        min_stake: Amount,
    },
    /// The signer holds no UID on the task.
    #[error("{account} is not registered on task {task}")]
    NotRegistered {
        /// The task.
        task: TaskId,
        /// The signer.
        account: AccountId,
    },
    /// The task defines no windows for this kind of commitment.
    #[error("task {task} has no commit/reveal windows for {kind:?}")]
    NoWindow {
        /// The task.
        task: TaskId,
        /// The kind.
        kind: CommitKind,
    },
    /// Round index past the task's last round.
    #[error("round {round} of task {task} does not exist (the task has {rounds} rounds)")]
    RoundOutOfRange {
        /// The task.
        task: TaskId,
        /// The requested round.
        round: Round,
        /// Number of rounds.
        rounds: u64,
    },
    /// The block height is outside the window.
    #[error("height {height} is outside the {phase:?} window [{opens}, {closes}) of round {round} of task {task}")]
    OutsideWindow {
        /// The task.
        task: TaskId,
        /// The round.
        round: Round,
        /// Commit or reveal.
        phase: Phase,
        /// Current height.
        height: Height,
        /// First height in the window.
        opens: Height,
        /// First height after the window.
        closes: Height,
    },
    /// A commitment already exists under this key.
    #[error("already committed for {key:?}")]
    AlreadyCommitted {
        /// The key.
        key: CommitKey,
    },
    /// No commitment to reveal.
    #[error("no commitment for {key:?}")]
    UnknownCommitment {
        /// The key.
        key: CommitKey,
    },
    /// The commitment was already revealed (or its reveal mismatched).
    #[error("{key:?} was already revealed")]
    AlreadyRevealed {
        /// The key.
        key: CommitKey,
    },
    /// The preimage exceeds `max_preimage_len`.
    #[error("preimage of {len} bytes exceeds the limit of {max}")]
    PreimageTooLong {
        /// Its length.
        len: u64,
        /// The `max_preimage_len` parameter.
        max: u32,
    },
    /// The preimage does not hash to the commitment (an offence: recorded, slashable).
    #[error("preimage does not match the commitment {key:?}; recorded as a reveal mismatch")]
    RevealMismatch {
        /// The key.
        key: CommitKey,
    },
    /// The evidence does not prove an offence.
    #[error("invalid evidence: {0}")]
    InvalidEvidence(EvidenceError),
    /// The evidence was already used for a slash.
    #[error("evidence {evidence:?} was already slashed")]
    AlreadySlashed {
        /// The evidence.
        evidence: Evidence,
    },
    /// A governance change would produce invalid parameters.
    #[error("{0}")]
    InvalidParam(ParamError),
    /// No such proposal.
    #[error("proposal {proposal} does not exist")]
    UnknownProposal {
        /// The id.
        proposal: ProposalId,
    },
    /// The proposal is no longer open for votes.
    #[error("voting on proposal {proposal} closed at height {voting_end}")]
    VotingClosed {
        /// The id.
        proposal: ProposalId,
        /// Its last voting height.
        voting_end: Height,
    },
    /// The signer already voted on the proposal.
    #[error("already voted on proposal {proposal}")]
    AlreadyVoted {
        /// The id.
        proposal: ProposalId,
    },
    /// The signer has no bonded stake, hence no voting (or proposing) power.
    #[error("no bonded stake: governance needs stake")]
    NoVotingPower,
    /// The preimage matches the commitment but does not decode as the kind's preimage type.
    #[error("preimage of {key:?} does not decode as {expected}; reveal the borsh encoding of a {expected}")]
    MalformedPreimage {
        /// The key.
        key: CommitKey,
        /// The expected type (`UpdatePreimage`, `WeightsPreimage` or `VotePreimage`).
        expected: String,
    },
    /// A weight names a UID the task has not assigned.
    #[error(
        "weight on UID {uid} of task {task}, which has only {uids} UIDs; weigh registered UIDs"
    )]
    UnknownWeightTarget {
        /// The task.
        task: TaskId,
        /// The UID named.
        uid: Uid,
        /// UIDs assigned on the task (valid UIDs are `0..uids`).
        uids: u16,
    },
    /// A weight vector names a UID twice.
    #[error("weights name UID {uid} of task {task} twice; give each UID at most once")]
    DuplicateWeightTarget {
        /// The task.
        task: TaskId,
        /// The repeated UID.
        uid: Uid,
    },
    /// The signer's registered role may not commit this kind on this Yuma task.
    #[error("a {role:?} may not commit {kind:?} on task {task}: miners commit updates, validators commit weights")]
    WrongRole {
        /// The task.
        task: TaskId,
        /// The kind.
        kind: CommitKind,
        /// The signer's role.
        role: Role,
    },
    /// The signer was not drawn for the role this kind needs in this round of a
    /// proposer/voter task.
    #[error("not drawn as {} in round {round} of task {task}; only drawn proposers commit updates and drawn voters commit votes", if *kind == CommitKind::Update { "proposer" } else { "voter" })]
    NotDrawn {
        /// The task.
        task: TaskId,
        /// The round.
        round: Round,
        /// The kind.
        kind: CommitKind,
    },
    /// The task's mechanism does not use this kind of commitment.
    #[error("task {task} runs {mechanism:?}, which has no {kind:?} commitments (Yuma: updates and weights; proposer/voter: updates and votes)")]
    KindNotInMechanism {
        /// The task.
        task: TaskId,
        /// The kind.
        kind: CommitKind,
        /// The task's mechanism.
        mechanism: Mechanism,
    },
    /// Only the task's proposer records its models.
    #[error("only task {task}'s proposer {proposer} may record its models")]
    NotTaskProposer {
        /// The task.
        task: TaskId,
        /// Its proposer.
        proposer: AccountId,
    },
    /// The round has not ended yet.
    #[error("round {round} of task {task} ends with block {last_block}; record its model after that block")]
    RoundNotEnded {
        /// The task.
        task: TaskId,
        /// The round.
        round: Round,
        /// The round's last block.
        last_block: Height,
    },
    /// The round's model is already recorded.
    #[error(
        "the model of round {round} of task {task} is already recorded; a round has one model"
    )]
    ModelAlreadyRecorded {
        /// The task.
        task: TaskId,
        /// The round.
        round: Round,
    },
    /// A contributor UID is named twice.
    #[error("contributor UID {uid} is listed twice; list each contributing update once")]
    DuplicateContributor {
        /// The repeated UID.
        uid: Uid,
    },
    /// A contributor did not reveal an update in the round.
    #[error("UID {uid} revealed no update in round {round} of task {task}; only revealed updates can contribute")]
    ContributorNotRevealed {
        /// The task.
        task: TaskId,
        /// The round.
        round: Round,
        /// The UID.
        uid: Uid,
    },
    /// A contributor's named blob is not the blob it revealed.
    #[error("UID {uid} revealed blob {revealed} in round {round}, not {given}")]
    ContributorBlobMismatch {
        /// The round.
        round: Round,
        /// The UID.
        uid: Uid,
        /// The blob in its revealed UpdatePreimage.
        revealed: Hash32,
        /// The blob named in the transaction.
        given: Hash32,
    },
}

impl TxError {
    /// Whether this error is a rejection: checked before any change, the transaction changes
    /// nothing (no fee, no nonce) and never enters a block.
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            TxError::WrongChain { .. }
                | TxError::BadSignature
                | TxError::BadNonce { .. }
                | TxError::FeeTooLow { .. }
                | TxError::CannotPayFee { .. }
        )
    }

    /// Whether this failure leaves an offence record (besides fee and nonce).
    pub fn records_offence(&self) -> bool {
        matches!(
            self,
            TxError::AlreadyRegistered { .. } | TxError::RevealMismatch { .. }
        )
    }

    pub(crate) fn overflow(what: &str) -> TxError {
        TxError::Overflow {
            what: what.to_string(),
        }
    }
}

/// Invalid genesis configuration or an internal accounting failure outside a transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// Parameters out of range.
    #[error("invalid genesis parameters: {0}")]
    Params(#[from] ParamError),
    /// The same account appears twice in the genesis balances or stakes.
    #[error("account {account} is listed twice in genesis {list}; list each account once")]
    DuplicateAccount {
        /// The account.
        account: AccountId,
        /// "accounts" or "stakes".
        list: &'static str,
    },
    /// A genesis entry with a zero amount.
    #[error(
        "account {account} has a zero amount in genesis {list}; omit it or give a positive amount"
    )]
    ZeroAmount {
        /// The account.
        account: AccountId,
        /// "accounts" or "stakes".
        list: &'static str,
    },
    /// The genesis supply exceeds `u128::MAX`.
    #[error("genesis supply overflows u128")]
    SupplyOverflow,
}

/// A block that does not apply to the state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// The block's height is not the next height.
    #[error("block height {got} does not follow the state height {state}; expected {}", state.0.saturating_add(1))]
    WrongHeight {
        /// The state's height.
        state: Height,
        /// The block's height.
        got: Height,
    },
    /// The block's timestamp is before its parent's.
    #[error("block timestamp {got} ms is before the previous block's {previous} ms")]
    TimestampBackwards {
        /// The previous timestamp.
        previous: u64,
        /// The block's timestamp.
        got: u64,
    },
    /// The header's tx root does not match the transactions.
    #[error("tx root {header} in the header, but the transactions hash to {computed}")]
    TxRoot {
        /// In the header.
        header: deai_types::Hash32,
        /// Computed.
        computed: deai_types::Hash32,
    },
    /// A transaction in the block is one that must never be included.
    #[error("transaction {index} must not be in a block: {error}")]
    RejectedTx {
        /// Its index in the block.
        index: usize,
        /// Why it is rejected.
        error: TxError,
    },
    /// Re-execution produced another state root.
    #[error("state root {header} in the header, but re-execution gives {computed}")]
    StateRoot {
        /// In the header.
        header: deai_types::Hash32,
        /// Computed.
        computed: deai_types::Hash32,
    },
}
