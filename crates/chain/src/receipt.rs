//! What a successful transaction (or the end of a block) did.

use borsh::{BorshDeserialize, BorshSerialize};
use deai_types::{
    AccountId, Amount, CommitKey, Epoch, Evidence, Fixed, Hash32, Height, OffenceId, ParamChange,
    ProposalId, Role, Round, TaskId, Uid,
};
use serde::{Deserialize, Serialize};

use crate::error::TxError;

/// One observable effect.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// Balance moved.
    Transferred {
        /// Sender.
        from: AccountId,
        /// Recipient.
        to: AccountId,
        /// Amount.
        amount: Amount,
    },
    /// Stake bonded.
    Bonded {
        /// Owner of the stake.
        staker: AccountId,
        /// Hotkey it backs.
        hotkey: AccountId,
        /// Amount.
        amount: Amount,
    },
    /// Stake started unbonding.
    Unbonding {
        /// Owner.
        staker: AccountId,
        /// Hotkey it backed.
        hotkey: AccountId,
        /// Amount.
        amount: Amount,
        /// Height from which it can be withdrawn.
        release: Height,
    },
    /// Matured unbonding moved to the balance.
    Withdrawn {
        /// Owner.
        account: AccountId,
        /// Amount.
        amount: Amount,
    },
    /// A hotkey set its take rate.
    TakeSet {
        /// The hotkey.
        hotkey: AccountId,
        /// The rate.
        take: Fixed,
    },
    /// A task was proposed.
    TaskProposed {
        /// Its id.
        task: TaskId,
        /// Proposer.
        proposer: AccountId,
        /// Escrowed reward.
        escrow: Amount,
        /// Start of round 0.
        start: Height,
    },
    /// A UID was assigned.
    Registered {
        /// The task.
        task: TaskId,
        /// The UID.
        uid: Uid,
        /// The account.
        account: AccountId,
        /// Its role.
        role: Role,
        /// Registration cost burned.
        cost: Amount,
    },
    /// A hash was committed.
    Committed {
        /// The key.
        key: CommitKey,
    },
    /// A commitment was revealed.
    Revealed {
        /// The key.
        key: CommitKey,
    },
    /// Stake was slashed.
    Slashed {
        /// The evidence.
        evidence: Evidence,
        /// The offender.
        offender: AccountId,
        /// Who reported it.
        reporter: AccountId,
        /// Total taken from stake.
        amount: Amount,
        /// Paid to the reporter.
        to_reporter: Amount,
        /// Moved to the task's escrow.
        to_pool: Amount,
        /// Burned.
        burned: Amount,
    },
    /// An offence was recorded.
    OffenceRecorded {
        /// Its id.
        id: OffenceId,
        /// The offender.
        offender: AccountId,
    },
    /// A reward was paid to a hotkey and its delegators (as stake).
    Rewarded {
        /// The hotkey.
        hotkey: AccountId,
        /// Total paid.
        amount: Amount,
        /// The hotkey's take.
        take: Amount,
    },
    /// A governance proposal was made.
    Proposed {
        /// Its id.
        proposal: ProposalId,
        /// The change.
        change: ParamChange,
        /// Last voting height.
        voting_end: Height,
    },
    /// A vote was cast.
    Voted {
        /// The proposal.
        proposal: ProposalId,
        /// The voter.
        voter: AccountId,
        /// Yes or no.
        approve: bool,
    },
    /// A proposal was tallied.
    Tallied {
        /// The proposal.
        proposal: ProposalId,
        /// Stake voting yes.
        yes: Amount,
        /// Stake voting no.
        no: Amount,
        /// Whether it passed.
        passed: bool,
    },
    /// A passed proposal was executed (or failed to validate at execution).
    Executed {
        /// The proposal.
        proposal: ProposalId,
        /// Whether the parameters changed.
        applied: bool,
    },
    /// A round's global model was recorded.
    ModelRecorded {
        /// The task.
        task: TaskId,
        /// The round.
        round: Round,
        /// The model hash.
        model: Hash32,
        /// Number of contributing updates.
        contributors: u32,
    },
    /// A Yuma epoch was processed (see [`crate::State::epoch_record`]).
    EpochProcessed {
        /// The task.
        task: TaskId,
        /// The epoch.
        epoch: Epoch,
        /// Minted into the escrow.
        minted: Amount,
        /// Paid out of the escrow.
        paid: Amount,
    },
    /// Roles were drawn for a proposer/voter round (see [`crate::State::pv_roles`]).
    RolesDrawn {
        /// The task.
        task: TaskId,
        /// The round.
        round: Round,
        /// Number of proposers.
        proposers: u16,
        /// Number of voters.
        voters: u16,
    },
    /// A proposer/voter round was settled (see [`crate::State::pv_round`]).
    RoundSettled {
        /// The task.
        task: TaskId,
        /// The round.
        round: Round,
        /// Whether its model was accepted.
        accepted: bool,
        /// Paid out of the escrow.
        paid: Amount,
    },
}

/// The result of a successful transaction.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Receipt {
    /// Fee charged (burned).
    pub fee: Amount,
    /// What happened.
    pub events: Vec<Event>,
}

/// The outcome of a transaction included in a block.
pub type TxOutcome = Result<Receipt, TxError>;
