//! The records the ledger state keeps: accounts, supply, tasks and their UIDs, commitments,
//! offences, governance proposals, recorded models, epoch and proposer/voter round records.

use borsh::{BorshDeserialize, BorshSerialize};
use deai_types::{
    AccountId, Amount, Epoch, Fixed, Hash32, Height, Nonce, OffenceId, OffenceKind, ParamChange,
    ParamError, Role, TaskId, TaskSpec, Uid,
};
use serde::{Deserialize, Serialize};

/// An account's liquid side.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Account {
    /// Free balance.
    pub balance: Amount,
    /// Next nonce.
    pub nonce: Nonce,
    /// Take rate as a hotkey (`None`: the `default_take` parameter).
    pub take: Option<Fixed>,
}

impl Account {
    pub(crate) fn is_empty(&self) -> bool {
        self.balance.is_zero() && self.nonce == Nonce(0) && self.take.is_none()
    }
}

/// Supply buckets and counters.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
pub struct Supply {
    /// Issued at genesis.
    pub genesis: Amount,
    /// Everything in existence: `genesis + minted − burned`.
    pub total_issuance: Amount,
    /// Minted since genesis (emission).
    pub minted: Amount,
    /// Burned since genesis (fees, registration costs, burned slashes).
    pub burned: Amount,
    /// Bonded stake (all hotkeys).
    pub staked: Amount,
    /// Stake waiting out its unbonding delay.
    pub unbonding: Amount,
    /// Held in task escrows (reward pools).
    pub escrowed: Amount,
}

/// Sequential id counters.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
pub struct Counters {
    /// Next task id.
    pub next_task: u64,
    /// Next proposal id.
    pub next_proposal: u64,
    /// Next offence id.
    pub next_offence: u64,
}

/// Where the chain is: the last executed block.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
pub struct Tip {
    /// Height of the last executed block (0 = genesis).
    pub height: Height,
    /// Its timestamp.
    pub timestamp_ms: u64,
    /// Its parent's header hash (the state cannot hold its own block's hash, which commits to
    /// the state root). Randomness for role draws derives from it.
    pub parent_hash: Hash32,
}

/// A task and its escrow.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Task {
    /// The proposal.
    pub spec: TaskSpec,
    /// Who proposed and funded it.
    pub proposer: AccountId,
    /// Height of the proposing block.
    pub proposed_at: Height,
    /// First height of round 0.
    pub start: Height,
    /// First height after the last round.
    pub end: Height,
    /// Remaining reward pool.
    pub escrow: Amount,
    /// UIDs assigned so far (the next UID).
    pub next_uid: u16,
}

impl Task {
    /// First height of round `r` (None on overflow).
    pub fn round_start(&self, r: deai_types::Round) -> Option<Height> {
        r.0.checked_mul(self.spec.round_blocks)
            .and_then(|o| self.start.checked_add(o))
    }
    /// Last height of round `r` (None on overflow).
    pub fn round_last_block(&self, r: deai_types::Round) -> Option<Height> {
        self.round_start(r)?
            .checked_add(self.spec.round_blocks)
            .map(|h| Height(h.0.saturating_sub(1)))
    }
    /// The epoch containing round `r`.
    pub fn epoch_of(&self, r: deai_types::Round) -> Epoch {
        Epoch(r.0 / self.spec.epoch_rounds.max(1))
    }
    /// The rounds `[first, last]` of epoch `e` (the last epoch may be shorter); None if the
    /// epoch does not exist.
    pub fn epoch_rounds(&self, e: Epoch) -> Option<(deai_types::Round, deai_types::Round)> {
        let er = self.spec.epoch_rounds.max(1);
        let first = e.0.checked_mul(er)?;
        if first >= self.spec.rounds {
            return None;
        }
        let last = first.saturating_add(er).min(self.spec.rounds) - 1;
        Some((deai_types::Round(first), deai_types::Round(last)))
    }
    /// The round containing `h`, if the task is running at `h`.
    pub fn round_at(&self, h: Height) -> Option<deai_types::Round> {
        if h < self.start || h >= self.end {
            return None;
        }
        Some(deai_types::Round(
            (h.0 - self.start.0) / self.spec.round_blocks.max(1),
        ))
    }
}

/// A UID holder.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Registration {
    /// The account.
    pub account: AccountId,
    /// Miner or validator.
    pub role: Role,
    /// Height of registration.
    pub registered_at: Height,
}

/// What happened to a commitment.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommitStatus {
    /// Committed, not revealed.
    Pending,
    /// Revealed with a matching preimage.
    Revealed {
        /// The preimage.
        preimage: Vec<u8>,
        /// Height of the reveal.
        at: Height,
    },
    /// A reveal did not match (offence).
    Mismatched {
        /// Height of the bad reveal.
        at: Height,
    },
}

/// A commitment.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Commitment {
    /// The committed hash.
    pub hash: Hash32,
    /// Height of the commit.
    pub committed_at: Height,
    /// Reveal status.
    pub status: CommitStatus,
    /// Whether a slash was applied for it.
    pub slashed: bool,
}

/// An offence the ledger recorded itself.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Offence {
    /// What was done.
    pub kind: OffenceKind,
    /// On which task.
    pub task: TaskId,
    /// By whom.
    pub offender: AccountId,
    /// When.
    pub height: Height,
    /// Whether a slash was applied for it.
    pub slashed: bool,
}

/// Where a governance proposal is.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalStatus {
    /// Open for votes until `voting_end` (inclusive).
    Voting,
    /// Passed; executes at `execute_at`.
    Passed {
        /// Execution height.
        execute_at: Height,
    },
    /// Did not reach quorum or majority.
    Rejected,
    /// Executed: the parameters changed.
    Executed,
    /// Passed, but the change no longer validated at execution.
    Failed(ParamError),
}

/// A governance proposal.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Proposal {
    /// Who proposed it.
    pub proposer: AccountId,
    /// The change.
    pub change: ParamChange,
    /// Last height at which votes are accepted.
    pub voting_end: Height,
    /// Status.
    pub status: ProposalStatus,
    /// Stake that voted yes, at the tally.
    pub yes: Amount,
    /// Stake that voted no, at the tally.
    pub no: Amount,
}

/// The global model of a round, as recorded by the task's proposer.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ModelRecord {
    /// Hash of the aggregated global model.
    pub model: Hash32,
    /// The contributing updates (UID, blob hash) in aggregation order.
    pub contributors: Vec<(Uid, Hash32)>,
    /// Height of the recording block.
    pub at: Height,
}

/// What the epoch processing of a Yuma task computed and paid. Every vector is indexed by UID
/// `0..n`, where `n` is the number of UIDs the task had at the end of the epoch.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Height of the block whose end processed the epoch.
    pub at: Height,
    /// Released from the escrow for this epoch (`escrow / epochs left`, after minting).
    pub payout: Amount,
    /// Minted into the escrow for this epoch (`emission_per_epoch`).
    pub minted: Amount,
    /// Stake of each UID's hotkey (self + delegated) at the epoch.
    pub stake: Vec<Amount>,
    /// Yuma consensus weight of each UID.
    pub consensus: Vec<Fixed>,
    /// Yuma incentive (sums to 1, or all 0).
    pub incentive: Vec<Fixed>,
    /// Yuma dividends (sums to 1, or all 0).
    pub dividends: Vec<Fixed>,
    /// Yuma validator trust (sum of the validator's weights clipped at consensus).
    pub validator_trust: Vec<Fixed>,
    /// Paid from the miners' part (by incentive) to each UID's hotkey, delegators included.
    pub miner_paid: Vec<Amount>,
    /// Paid from the validators' part (by dividends) to each UID's hotkey, delegators included.
    pub validator_paid: Vec<Amount>,
    /// Whether each UID had revealed weights in the epoch.
    pub weights_revealed: Vec<bool>,
}

/// The roles drawn for one round of a proposer/voter task.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct PvRoles {
    /// Proposers (train, commit/reveal updates), increasing UID.
    pub proposers: Vec<Uid>,
    /// Voters (score the round, commit/reveal votes), increasing UID.
    pub voters: Vec<Uid>,
}

/// How a proposer/voter round was settled.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct PvRoundRecord {
    /// Height of the block whose end settled the round.
    pub at: Height,
    /// Whether the round's model was accepted (stake-weighted vote sum `>= 0`).
    pub accepted: bool,
    /// No proposer revealed an update or no voter revealed a vote: nothing paid, nobody
    /// offended, the reward stays in escrow (`accepted` is false).
    pub void: bool,
    /// Stake-weighted mean of the revealed scores (weights = voter stake / total voter stake;
    /// equal weights if the voters have no stake).
    pub vote_sum: Fixed,
    /// The round reward: `escrow / rounds left` at settlement.
    pub reward: Amount,
    /// What each proposer's hotkey received (delegators included).
    pub proposer_paid: Vec<(Uid, Amount)>,
    /// What each majority voter's hotkey received (delegators included).
    pub voter_paid: Vec<(Uid, Amount)>,
    /// Offences recorded for this round (rejected proposers, minority voters).
    pub offences: Vec<(Uid, OffenceId)>,
}
