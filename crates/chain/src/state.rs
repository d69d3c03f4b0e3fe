//! The ledger state, its root, its genesis, and the journaled write handle every transition
//! uses.
//!
//! # Layout
//! Every collection is a `BTreeMap`, so the canonical (borsh) encoding — and hence
//! [`State::root`] = `blake3("deai/state/v1" || encode(state))` — is a function of the state
//! alone. Alongside the primary maps the state keeps totals that are functions of them (stake per
//! hotkey and per staker, the supply buckets); [`State::check_invariants`] recomputes them.
//!
//! # Supply
//! `total_issuance = genesis + minted − burned`, and at every point between transactions
//! `Σ balances + staked + unbonding + escrowed == total_issuance`. Fees and registration
//! costs are burned; slashes are burned or moved to a task's escrow; emission is minted.
//!
//! # Atomicity
//! All writes go through [`Rw`], which records an undo entry per write in a [`Journal`]. A
//! failed transaction is rolled back to its mark; nothing is cloned per transaction.

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use deai_types::{
    encode, AccountId, Amount, ChainId, CommitKey, Epoch, Fixed, Hash32, Height, Nonce, OffenceId,
    OffenceKind, ParamChange, ParamError, Params, ProposalId, Role, Round, TaskId, TaskSpec, Uid,
};
use serde::{Deserialize, Serialize};

use crate::error::{ChainError, TxError};

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
    fn is_empty(&self) -> bool {
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

/// Genesis: chain id, funded accounts, initial self-stakes, parameters.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisConfig {
    /// The chain id every transaction must name.
    pub chain_id: ChainId,
    /// Timestamp of the genesis header.
    #[serde(default)]
    pub genesis_time_ms: u64,
    /// Free balances.
    pub accounts: Vec<(AccountId, Amount)>,
    /// Self-stakes (bonded on the account itself).
    #[serde(default)]
    pub stakes: Vec<(AccountId, Amount)>,
    /// Parameters.
    #[serde(default)]
    pub params: Params,
}

impl GenesisConfig {
    /// A development genesis: every account in `accounts` funded with `balance`, no stakes,
    /// default parameters, genesis time 0. Chain the `with_*` methods for the rest.
    pub fn funded(
        chain_id: ChainId,
        accounts: impl IntoIterator<Item = AccountId>,
        balance: Amount,
    ) -> Self {
        GenesisConfig {
            chain_id,
            genesis_time_ms: 0,
            accounts: accounts.into_iter().map(|a| (a, balance)).collect(),
            stakes: Vec::new(),
            params: Params::default(),
        }
    }

    /// The same genesis with these self-stakes.
    pub fn with_stakes(mut self, stakes: impl IntoIterator<Item = (AccountId, Amount)>) -> Self {
        self.stakes = stakes.into_iter().collect();
        self
    }

    /// The same genesis with these parameters.
    pub fn with_params(mut self, params: Params) -> Self {
        self.params = params;
        self
    }

    /// The same genesis with this header timestamp.
    pub fn with_time_ms(mut self, genesis_time_ms: u64) -> Self {
        self.genesis_time_ms = genesis_time_ms;
        self
    }
}

/// The full ledger state.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct State {
    pub(crate) chain_id: ChainId,
    pub(crate) tip: Tip,
    pub(crate) params: Params,
    pub(crate) supply: Supply,
    pub(crate) counters: Counters,
    pub(crate) accounts: BTreeMap<AccountId, Account>,
    /// (hotkey, staker) → bonded stake.
    pub(crate) stakes: BTreeMap<(AccountId, AccountId), Amount>,
    /// hotkey → Σ stakes on it.
    pub(crate) hotkey_stake: BTreeMap<AccountId, Amount>,
    /// staker → Σ its stakes.
    pub(crate) staker_stake: BTreeMap<AccountId, Amount>,
    /// (staker, hotkey, release height) → unbonding amount.
    pub(crate) unbonding: BTreeMap<(AccountId, AccountId, Height), Amount>,
    pub(crate) tasks: BTreeMap<TaskId, Task>,
    pub(crate) registrations: BTreeMap<(TaskId, Uid), Registration>,
    pub(crate) uids: BTreeMap<(TaskId, AccountId), Uid>,
    pub(crate) commitments: BTreeMap<CommitKey, Commitment>,
    pub(crate) offences: BTreeMap<OffenceId, Offence>,
    pub(crate) proposals: BTreeMap<ProposalId, Proposal>,
    pub(crate) votes: BTreeMap<(ProposalId, AccountId), bool>,
    /// (height, proposal) → () : proposals to tally or execute at the end of that block.
    pub(crate) gov_queue: BTreeMap<(Height, ProposalId), ()>,
    /// Recorded global models (kept for every round).
    pub(crate) model_records: BTreeMap<(TaskId, Round), ModelRecord>,
    /// Yuma epoch records (the newest `records_kept` per task).
    pub(crate) epoch_records: BTreeMap<(TaskId, Epoch), EpochRecord>,
    /// Yuma bonds: (task, validator UID) → sparse row of non-zero `u16` bonds on UIDs.
    pub(crate) bonds: BTreeMap<(TaskId, Uid), Vec<(Uid, u16)>>,
    /// Consecutive epochs a validator's trust stayed below `out_of_consensus_trust`.
    pub(crate) low_trust_streaks: BTreeMap<(TaskId, Uid), u32>,
    /// Proposer/voter role draws (the newest `records_kept` per task).
    pub(crate) pv_roles: BTreeMap<(TaskId, Round), PvRoles>,
    /// Proposer/voter round settlements (the newest `records_kept` per task).
    pub(crate) pv_rounds: BTreeMap<(TaskId, Round), PvRoundRecord>,
}

pub(crate) const MIN_ID: AccountId = AccountId([0; 32]);
pub(crate) const MAX_ID: AccountId = AccountId([0xff; 32]);

impl State {
    /// The state at height 0.
    pub fn genesis(cfg: &GenesisConfig) -> Result<State, ChainError> {
        cfg.params.validate()?;
        let mut s = State {
            chain_id: cfg.chain_id.clone(),
            tip: Tip {
                height: Height(0),
                timestamp_ms: cfg.genesis_time_ms,
                parent_hash: Hash32::ZERO,
            },
            params: cfg.params.clone(),
            supply: Supply::default(),
            counters: Counters::default(),
            accounts: BTreeMap::new(),
            stakes: BTreeMap::new(),
            hotkey_stake: BTreeMap::new(),
            staker_stake: BTreeMap::new(),
            unbonding: BTreeMap::new(),
            tasks: BTreeMap::new(),
            registrations: BTreeMap::new(),
            uids: BTreeMap::new(),
            commitments: BTreeMap::new(),
            offences: BTreeMap::new(),
            proposals: BTreeMap::new(),
            votes: BTreeMap::new(),
            gov_queue: BTreeMap::new(),
            model_records: BTreeMap::new(),
            epoch_records: BTreeMap::new(),
            bonds: BTreeMap::new(),
            low_trust_streaks: BTreeMap::new(),
            pv_roles: BTreeMap::new(),
            pv_rounds: BTreeMap::new(),
        };
        let mut total = Amount::ZERO;
        for (account, amount) in &cfg.accounts {
            if amount.is_zero() {
                return Err(ChainError::ZeroAmount {
                    account: *account,
                    list: "accounts",
                });
            }
            let acct = Account {
                balance: *amount,
                ..Account::default()
            };
            if s.accounts.insert(*account, acct).is_some() {
                return Err(ChainError::DuplicateAccount {
                    account: *account,
                    list: "accounts",
                });
            }
            total = total
                .checked_add(*amount)
                .ok_or(ChainError::SupplyOverflow)?;
        }
        for (account, amount) in &cfg.stakes {
            if amount.is_zero() {
                return Err(ChainError::ZeroAmount {
                    account: *account,
                    list: "stakes",
                });
            }
            if s.stakes.insert((*account, *account), *amount).is_some() {
                return Err(ChainError::DuplicateAccount {
                    account: *account,
                    list: "stakes",
                });
            }
            s.hotkey_stake.insert(*account, *amount);
            s.staker_stake.insert(*account, *amount);
            total = total
                .checked_add(*amount)
                .ok_or(ChainError::SupplyOverflow)?;
            s.supply.staked = s
                .supply
                .staked
                .checked_add(*amount)
                .ok_or(ChainError::SupplyOverflow)?;
        }
        s.supply.genesis = total;
        s.supply.total_issuance = total;
        Ok(s)
    }

    /// `blake3("deai/state/v1" || encode(self))`: a function of the state alone.
    pub fn root(&self) -> Hash32 {
        Hash32::tagged(b"deai/state/v1", &[&encode(self)])
    }

    /// The canonical encoding and the root computed from it, in one pass (a store that persists
    /// the state bytes anyway should use this instead of `encode` + `root`).
    pub fn encode_with_root(&self) -> (Vec<u8>, Hash32) {
        let bytes = encode(self);
        let root = Hash32::tagged(b"deai/state/v1", &[&bytes]);
        (bytes, root)
    }

    /// The chain id.
    pub fn chain_id(&self) -> &ChainId {
        &self.chain_id
    }
    /// The last executed block.
    pub fn tip(&self) -> Tip {
        self.tip
    }
    /// Height of the last executed block.
    pub fn height(&self) -> Height {
        self.tip.height
    }
    /// Current parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }
    /// Supply buckets.
    pub fn supply(&self) -> Supply {
        self.supply
    }
    /// Total issuance (everything in existence).
    pub fn total_supply(&self) -> Amount {
        self.supply.total_issuance
    }
    /// Id counters.
    pub fn counters(&self) -> Counters {
        self.counters
    }
    /// An account (None if it never held anything).
    pub fn account(&self, id: &AccountId) -> Option<&Account> {
        self.accounts.get(id)
    }
    /// All accounts.
    pub fn accounts(&self) -> impl Iterator<Item = (&AccountId, &Account)> {
        self.accounts.iter()
    }
    /// Free balance (0 for an unknown account).
    pub fn balance_of(&self, id: &AccountId) -> Amount {
        self.accounts.get(id).map_or(Amount::ZERO, |a| a.balance)
    }
    /// Next nonce (0 for an unknown account).
    pub fn nonce_of(&self, id: &AccountId) -> Nonce {
        self.accounts.get(id).map_or(Nonce(0), |a| a.nonce)
    }
    /// Effective take rate of a hotkey.
    pub fn take_of(&self, hotkey: &AccountId) -> Fixed {
        self.accounts
            .get(hotkey)
            .and_then(|a| a.take)
            .unwrap_or(self.params.default_take)
    }
    /// Stake of `staker` on `hotkey`.
    pub fn stake(&self, hotkey: &AccountId, staker: &AccountId) -> Amount {
        self.stakes
            .get(&(*hotkey, *staker))
            .copied()
            .unwrap_or_default()
    }
    /// Total stake on `hotkey` (self + delegated): its weight in consensus.
    pub fn hotkey_stake(&self, hotkey: &AccountId) -> Amount {
        self.hotkey_stake.get(hotkey).copied().unwrap_or_default()
    }
    /// Total stake owned by `staker` across hotkeys: its governance voting power.
    pub fn staker_stake(&self, staker: &AccountId) -> Amount {
        self.staker_stake.get(staker).copied().unwrap_or_default()
    }
    /// Stakers on a hotkey and their stakes.
    pub fn stakers_of(&self, hotkey: &AccountId) -> impl Iterator<Item = (AccountId, Amount)> + '_ {
        self.stakes
            .range((*hotkey, MIN_ID)..=(*hotkey, MAX_ID))
            .map(|((_, s), a)| (*s, *a))
    }
    /// Unbonding entries of a staker: (hotkey, release height, amount).
    pub fn unbonding_of(
        &self,
        staker: &AccountId,
    ) -> impl Iterator<Item = (AccountId, Height, Amount)> + '_ {
        self.unbonding
            .range((*staker, MIN_ID, Height(0))..=(*staker, MAX_ID, Height(u64::MAX)))
            .map(|((_, h, r), a)| (*h, *r, *a))
    }
    /// A task.
    pub fn task(&self, id: TaskId) -> Option<&Task> {
        self.tasks.get(&id)
    }
    /// All tasks.
    pub fn tasks(&self) -> impl Iterator<Item = (&TaskId, &Task)> {
        self.tasks.iter()
    }
    /// The UID of `account` on `task`.
    pub fn uid_of(&self, task: TaskId, account: &AccountId) -> Option<Uid> {
        self.uids.get(&(task, *account)).copied()
    }
    /// The registrations of a task, by UID.
    pub fn registrations(&self, task: TaskId) -> impl Iterator<Item = (Uid, &Registration)> {
        self.registrations
            .range((task, Uid(0))..=(task, Uid(u16::MAX)))
            .map(|((_, u), r)| (*u, r))
    }
    /// A commitment.
    pub fn commitment(&self, key: &CommitKey) -> Option<&Commitment> {
        self.commitments.get(key)
    }
    /// All commitments (ordered by task, round, kind, account).
    pub fn commitments(&self) -> impl Iterator<Item = (&CommitKey, &Commitment)> {
        self.commitments.iter()
    }
    /// An offence record.
    pub fn offence(&self, id: OffenceId) -> Option<&Offence> {
        self.offences.get(&id)
    }
    /// All offence records.
    pub fn offences(&self) -> impl Iterator<Item = (&OffenceId, &Offence)> {
        self.offences.iter()
    }
    /// A governance proposal.
    pub fn proposal(&self, id: ProposalId) -> Option<&Proposal> {
        self.proposals.get(&id)
    }
    /// All proposals.
    pub fn proposals(&self) -> impl Iterator<Item = (&ProposalId, &Proposal)> {
        self.proposals.iter()
    }
    /// The recorded global model of a round.
    pub fn model_record(&self, task: TaskId, round: Round) -> Option<&ModelRecord> {
        self.model_records.get(&(task, round))
    }
    /// Every recorded global model, by (task, round).
    pub fn model_records(&self) -> impl Iterator<Item = (&(TaskId, Round), &ModelRecord)> {
        self.model_records.iter()
    }
    /// The record of a processed Yuma epoch (None if not processed yet or pruned).
    pub fn epoch_record(&self, task: TaskId, epoch: Epoch) -> Option<&EpochRecord> {
        self.epoch_records.get(&(task, epoch))
    }
    /// Every kept epoch record, by (task, epoch).
    pub fn epoch_records(&self) -> impl Iterator<Item = (&(TaskId, Epoch), &EpochRecord)> {
        self.epoch_records.iter()
    }
    /// The stored Yuma bonds row of a validator UID: `(uid, bond)` with non-zero bonds.
    pub fn bonds_of(&self, task: TaskId, uid: Uid) -> &[(Uid, u16)] {
        self.bonds.get(&(task, uid)).map_or(&[], Vec::as_slice)
    }
    /// Consecutive epochs the validator's trust stayed below `out_of_consensus_trust`.
    pub fn low_trust_streak(&self, task: TaskId, uid: Uid) -> u32 {
        self.low_trust_streaks
            .get(&(task, uid))
            .copied()
            .unwrap_or(0)
    }
    /// The roles drawn for a round of a proposer/voter task.
    pub fn pv_roles(&self, task: TaskId, round: Round) -> Option<&PvRoles> {
        self.pv_roles.get(&(task, round))
    }
    /// The settlement of a round of a proposer/voter task.
    pub fn pv_round(&self, task: TaskId, round: Round) -> Option<&PvRoundRecord> {
        self.pv_rounds.get(&(task, round))
    }
    /// The account holding a UID of a task.
    pub fn account_of(&self, task: TaskId, uid: Uid) -> Option<&Registration> {
        self.registrations.get(&(task, uid))
    }

    /// Recompute every derived total and the supply identity; `Err` names the first mismatch.
    pub fn check_invariants(&self) -> Result<(), String> {
        fn sum<'a>(mut it: impl Iterator<Item = &'a Amount>) -> Option<Amount> {
            it.try_fold(Amount::ZERO, |a, b| a.checked_add(*b))
        }
        let balances =
            sum(self.accounts.values().map(|a| &a.balance)).ok_or("balances overflow")?;
        let staked = sum(self.stakes.values()).ok_or("stakes overflow")?;
        let unbonding = sum(self.unbonding.values()).ok_or("unbonding overflow")?;
        let escrowed = sum(self.tasks.values().map(|t| &t.escrow)).ok_or("escrow overflow")?;
        let s = &self.supply;
        if staked != s.staked {
            return Err(format!("Σ stakes {staked} != supply.staked {}", s.staked));
        }
        if unbonding != s.unbonding {
            return Err(format!(
                "Σ unbonding {unbonding} != supply.unbonding {}",
                s.unbonding
            ));
        }
        if escrowed != s.escrowed {
            return Err(format!(
                "Σ escrow {escrowed} != supply.escrowed {}",
                s.escrowed
            ));
        }
        let held = [staked, unbonding, escrowed]
            .iter()
            .try_fold(balances, |a, b| a.checked_add(*b))
            .ok_or("holdings overflow")?;
        if held != s.total_issuance {
            return Err(format!(
                "balances {balances} + staked {staked} + unbonding {unbonding} + escrowed {escrowed} = {held} != total_issuance {}",
                s.total_issuance
            ));
        }
        let issued = s
            .genesis
            .checked_add(s.minted)
            .and_then(|x| x.checked_sub(s.burned));
        if issued != Some(s.total_issuance) {
            return Err(format!(
                "genesis {} + minted {} - burned {} != total_issuance {}",
                s.genesis, s.minted, s.burned, s.total_issuance
            ));
        }
        let mut per_hotkey: BTreeMap<AccountId, Amount> = BTreeMap::new();
        let mut per_staker: BTreeMap<AccountId, Amount> = BTreeMap::new();
        for ((h, st), a) in &self.stakes {
            if a.is_zero() {
                return Err(format!("zero stake entry ({h}, {st})"));
            }
            let e = per_hotkey.entry(*h).or_default();
            *e = e.checked_add(*a).ok_or("hotkey total overflow")?;
            let e = per_staker.entry(*st).or_default();
            *e = e.checked_add(*a).ok_or("staker total overflow")?;
        }
        if per_hotkey != self.hotkey_stake {
            return Err("hotkey_stake totals differ from stakes".into());
        }
        if per_staker != self.staker_stake {
            return Err("staker_stake totals differ from stakes".into());
        }
        if self.accounts.values().any(Account::is_empty) {
            return Err("an empty account is stored".into());
        }
        Ok(())
    }

    /// Run `f` with a journaled write handle; if it returns `Err`, every write it made is undone.
    pub fn atomically<T, E>(
        &mut self,
        f: impl FnOnce(&mut Rw<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut journal = Journal::default();
        let mut rw = Rw {
            s: self,
            j: &mut journal,
        };
        let out = f(&mut rw);
        if out.is_err() {
            journal.rollback(self, 0);
        }
        out
    }
}

type Undo = Box<dyn FnOnce(&mut State) + Send>;

/// Undo entries, newest last. Marks allow nested rollback (a transaction inside a block).
#[derive(Default)]
pub struct Journal {
    undo: Vec<Undo>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Journal({} entries)", self.undo.len())
    }
}

impl Journal {
    /// The current position.
    pub fn mark(&self) -> usize {
        self.undo.len()
    }
    /// Undo every write after `mark`, newest first.
    pub fn rollback(&mut self, state: &mut State, mark: usize) {
        while self.undo.len() > mark {
            if let Some(u) = self.undo.pop() {
                u(state);
            }
        }
    }
}

/// A journaled write handle on the state: every mutation goes through it.
pub struct Rw<'a> {
    pub(crate) s: &'a mut State,
    pub(crate) j: &'a mut Journal,
}

impl std::fmt::Debug for Rw<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Rw({:?})", self.j)
    }
}

type Field<K, V> = fn(&mut State) -> &mut BTreeMap<K, V>;

impl<'a> Rw<'a> {
    /// A write handle recording into `j`.
    pub fn new(s: &'a mut State, j: &'a mut Journal) -> Rw<'a> {
        Rw { s, j }
    }
    /// Read access.
    pub fn state(&self) -> &State {
        self.s
    }
    /// A copy of task `task`, or [`TxError::UnknownTask`].
    pub fn task(&self, task: TaskId) -> Result<Task, TxError> {
        self.s
            .tasks
            .get(&task)
            .cloned()
            .ok_or(TxError::UnknownTask { task })
    }

    fn put<K, V>(&mut self, field: Field<K, V>, k: K, v: Option<V>)
    where
        K: Ord + Clone + Send + 'static,
        V: Send + 'static,
    {
        let map = field(self.s);
        let old = match v {
            Some(v) => map.insert(k.clone(), v),
            None => map.remove(&k),
        };
        self.j.undo.push(Box::new(move |s: &mut State| {
            let map = field(s);
            match old {
                Some(o) => {
                    map.insert(k, o);
                }
                None => {
                    map.remove(&k);
                }
            }
        }));
    }

    pub(crate) fn set_supply(&mut self, new: Supply) {
        let old = std::mem::replace(&mut self.s.supply, new);
        self.j
            .undo
            .push(Box::new(move |s: &mut State| s.supply = old));
    }
    pub(crate) fn set_counters(&mut self, new: Counters) {
        let old = std::mem::replace(&mut self.s.counters, new);
        self.j
            .undo
            .push(Box::new(move |s: &mut State| s.counters = old));
    }
    pub(crate) fn set_tip(&mut self, new: Tip) {
        let old = std::mem::replace(&mut self.s.tip, new);
        self.j.undo.push(Box::new(move |s: &mut State| s.tip = old));
    }
    pub(crate) fn set_params(&mut self, new: Params) {
        let old = std::mem::replace(&mut self.s.params, new);
        self.j
            .undo
            .push(Box::new(move |s: &mut State| s.params = old));
    }
    pub(crate) fn set_account(&mut self, id: AccountId, a: Account) {
        let v = if a.is_empty() { None } else { Some(a) };
        self.put(|s| &mut s.accounts, id, v);
    }
    pub(crate) fn set_task(&mut self, id: TaskId, t: Task) {
        self.put(|s| &mut s.tasks, id, Some(t));
    }
    pub(crate) fn set_registration(&mut self, task: TaskId, uid: Uid, r: Registration) {
        let account = r.account;
        self.put(|s| &mut s.registrations, (task, uid), Some(r));
        self.put(|s| &mut s.uids, (task, account), Some(uid));
    }
    pub(crate) fn set_commitment(&mut self, key: CommitKey, c: Commitment) {
        self.put(|s| &mut s.commitments, key, Some(c));
    }
    pub(crate) fn set_offence(&mut self, id: OffenceId, o: Offence) {
        self.put(|s| &mut s.offences, id, Some(o));
    }
    pub(crate) fn set_proposal(&mut self, id: ProposalId, p: Proposal) {
        self.put(|s| &mut s.proposals, id, Some(p));
    }
    pub(crate) fn set_vote(&mut self, id: ProposalId, voter: AccountId, v: Option<bool>) {
        self.put(|s| &mut s.votes, (id, voter), v);
    }
    pub(crate) fn set_queue(&mut self, at: Height, id: ProposalId, present: bool) {
        self.put(|s| &mut s.gov_queue, (at, id), present.then_some(()));
    }
    pub(crate) fn set_model_record(&mut self, task: TaskId, round: Round, r: ModelRecord) {
        self.put(|s| &mut s.model_records, (task, round), Some(r));
    }
    pub(crate) fn set_epoch_record(&mut self, task: TaskId, epoch: Epoch, r: Option<EpochRecord>) {
        self.put(|s| &mut s.epoch_records, (task, epoch), r);
    }
    pub(crate) fn set_bonds(&mut self, task: TaskId, uid: Uid, row: Vec<(Uid, u16)>) {
        let v = if row.is_empty() { None } else { Some(row) };
        self.put(|s| &mut s.bonds, (task, uid), v);
    }
    pub(crate) fn set_low_trust_streak(&mut self, task: TaskId, uid: Uid, n: u32) {
        let v = if n == 0 { None } else { Some(n) };
        self.put(|s| &mut s.low_trust_streaks, (task, uid), v);
    }
    pub(crate) fn set_pv_roles(&mut self, task: TaskId, round: Round, r: Option<PvRoles>) {
        self.put(|s| &mut s.pv_roles, (task, round), r);
    }
    pub(crate) fn set_pv_round(&mut self, task: TaskId, round: Round, r: Option<PvRoundRecord>) {
        self.put(|s| &mut s.pv_rounds, (task, round), r);
    }
    pub(crate) fn set_unbonding(&mut self, key: (AccountId, AccountId, Height), a: Amount) {
        let v = if a.is_zero() { None } else { Some(a) };
        self.put(|s| &mut s.unbonding, key, v);
    }

    // ----- balance-level operations (checked; each keeps the supply identity) -----

    /// Add to a free balance (the caller removed `amount` elsewhere).
    pub(crate) fn credit(&mut self, id: AccountId, amount: Amount) -> Result<(), TxError> {
        let mut a = self.s.accounts.get(&id).cloned().unwrap_or_default();
        a.balance = a
            .balance
            .checked_add(amount)
            .ok_or_else(|| TxError::overflow("balance"))?;
        self.set_account(id, a);
        Ok(())
    }
    /// Remove from a free balance (the caller puts `amount` elsewhere).
    pub(crate) fn debit(&mut self, id: AccountId, amount: Amount) -> Result<(), TxError> {
        let mut a = self.s.accounts.get(&id).cloned().unwrap_or_default();
        a.balance = a
            .balance
            .checked_sub(amount)
            .ok_or(TxError::InsufficientBalance {
                available: a.balance,
                needed: amount,
            })?;
        self.set_account(id, a);
        Ok(())
    }
    /// Destroy `amount` that the caller removed from a bucket.
    pub(crate) fn burn_amount(&mut self, amount: Amount) -> Result<(), TxError> {
        let mut s = self.s.supply;
        s.total_issuance = s
            .total_issuance
            .checked_sub(amount)
            .ok_or_else(|| TxError::overflow("total issuance"))?;
        s.burned = s
            .burned
            .checked_add(amount)
            .ok_or_else(|| TxError::overflow("burned"))?;
        self.set_supply(s);
        Ok(())
    }
    /// Create `amount` (emission); the caller must place it in a bucket.
    pub(crate) fn mint_amount(&mut self, amount: Amount) -> Result<(), TxError> {
        let mut s = self.s.supply;
        s.total_issuance = s
            .total_issuance
            .checked_add(amount)
            .ok_or_else(|| TxError::overflow("total issuance"))?;
        s.minted = s
            .minted
            .checked_add(amount)
            .ok_or_else(|| TxError::overflow("minted"))?;
        self.set_supply(s);
        Ok(())
    }
    /// Add bonded stake of `staker` on `hotkey` (the caller removed `amount` elsewhere).
    pub(crate) fn bond(
        &mut self,
        hotkey: AccountId,
        staker: AccountId,
        amount: Amount,
    ) -> Result<(), TxError> {
        if amount.is_zero() {
            return Ok(());
        }
        let e = self.s.stake(&hotkey, &staker).checked_add(amount);
        let h = self.s.hotkey_stake(&hotkey).checked_add(amount);
        let st = self.s.staker_stake(&staker).checked_add(amount);
        let tot = self.s.supply.staked.checked_add(amount);
        let (Some(e), Some(h), Some(st), Some(tot)) = (e, h, st, tot) else {
            return Err(TxError::overflow("stake"));
        };
        self.put(|s| &mut s.stakes, (hotkey, staker), Some(e));
        self.put(|s| &mut s.hotkey_stake, hotkey, Some(h));
        self.put(|s| &mut s.staker_stake, staker, Some(st));
        let mut sup = self.s.supply;
        sup.staked = tot;
        self.set_supply(sup);
        Ok(())
    }
    /// Remove bonded stake of `staker` on `hotkey` (the caller puts `amount` elsewhere).
    pub(crate) fn unbond(
        &mut self,
        hotkey: AccountId,
        staker: AccountId,
        amount: Amount,
    ) -> Result<(), TxError> {
        if amount.is_zero() {
            return Ok(());
        }
        let available = self.s.stake(&hotkey, &staker);
        let e = available
            .checked_sub(amount)
            .ok_or(TxError::InsufficientStake {
                hotkey,
                available,
                needed: amount,
            })?;
        let h = self.s.hotkey_stake(&hotkey).checked_sub(amount);
        let st = self.s.staker_stake(&staker).checked_sub(amount);
        let tot = self.s.supply.staked.checked_sub(amount);
        let (Some(h), Some(st), Some(tot)) = (h, st, tot) else {
            return Err(TxError::overflow("stake totals"));
        };
        let nz = |a: Amount| if a.is_zero() { None } else { Some(a) };
        self.put(|s| &mut s.stakes, (hotkey, staker), nz(e));
        self.put(|s| &mut s.hotkey_stake, hotkey, nz(h));
        self.put(|s| &mut s.staker_stake, staker, nz(st));
        let mut sup = self.s.supply;
        sup.staked = tot;
        self.set_supply(sup);
        Ok(())
    }
    /// Move `amount` into a task's escrow (the caller removed it elsewhere).
    pub(crate) fn escrow_in(&mut self, task: TaskId, amount: Amount) -> Result<(), TxError> {
        let mut t = self.task(task)?;
        t.escrow = t
            .escrow
            .checked_add(amount)
            .ok_or_else(|| TxError::overflow("escrow"))?;
        let mut sup = self.s.supply;
        sup.escrowed = sup
            .escrowed
            .checked_add(amount)
            .ok_or_else(|| TxError::overflow("escrowed"))?;
        self.set_task(task, t);
        self.set_supply(sup);
        Ok(())
    }
    /// Take `amount` out of a task's escrow (the caller puts it elsewhere).
    pub(crate) fn escrow_out(&mut self, task: TaskId, amount: Amount) -> Result<(), TxError> {
        let mut t = self.task(task)?;
        t.escrow = t
            .escrow
            .checked_sub(amount)
            .ok_or(TxError::InsufficientBalance {
                available: t.escrow,
                needed: amount,
            })?;
        let mut sup = self.s.supply;
        sup.escrowed = sup
            .escrowed
            .checked_sub(amount)
            .ok_or_else(|| TxError::overflow("escrowed"))?;
        self.set_task(task, t);
        self.set_supply(sup);
        Ok(())
    }
    /// Record an offence and return its id.
    pub fn record_offence(
        &mut self,
        kind: OffenceKind,
        task: TaskId,
        offender: AccountId,
        height: Height,
    ) -> Result<OffenceId, TxError> {
        let mut c = self.s.counters;
        let id = OffenceId(c.next_offence);
        c.next_offence = c
            .next_offence
            .checked_add(1)
            .ok_or_else(|| TxError::overflow("offence id"))?;
        self.set_counters(c);
        self.set_offence(
            id,
            Offence {
                kind,
                task,
                offender,
                height,
                slashed: false,
            },
        );
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn genesis() -> State {
        State::genesis(&GenesisConfig {
            chain_id: ChainId::new("t").unwrap(),
            genesis_time_ms: 0,
            accounts: vec![(AccountId([1; 32]), Amount(100))],
            stakes: vec![(AccountId([2; 32]), Amount(50))],
            params: Params::default(),
        })
        .unwrap()
    }

    #[test]
    fn journal_rollback_restores_the_exact_state() {
        let mut s = genesis();
        let before = s.clone();
        let (a, b) = (AccountId([1; 32]), AccountId([2; 32]));
        let mut j = Journal::default();
        let mut rw = Rw::new(&mut s, &mut j);
        rw.debit(a, Amount(30)).unwrap();
        let mark = rw.j.mark();
        rw.bond(b, a, Amount(30)).unwrap();
        rw.unbond(b, b, Amount(50)).unwrap();
        rw.credit(b, Amount(50)).unwrap();
        rw.record_offence(OffenceKind::BadRound, TaskId(0), b, Height(1))
            .unwrap();
        rw.j.rollback(rw.s, mark);
        rw.credit(a, Amount(30)).unwrap();
        assert_eq!(s, before);
        s.check_invariants().unwrap();
        let (bytes, root) = s.encode_with_root();
        assert_eq!((bytes, root), (encode(&s), s.root()));
    }

    #[test]
    fn atomically_undoes_on_error_only() {
        let mut s = genesis();
        let before = s.root();
        let a = AccountId([1; 32]);
        let r: Result<(), TxError> = s.atomically(|rw| {
            rw.debit(a, Amount(10))?;
            rw.debit(a, Amount(1_000))
        });
        assert!(r.is_err());
        assert_eq!(s.root(), before);
        s.atomically(|rw| {
            rw.debit(a, Amount(10))
                .and_then(|_| rw.burn_amount(Amount(10)))
        })
        .unwrap();
        assert_eq!(s.balance_of(&a), Amount(90));
        s.check_invariants().unwrap();
    }

    #[test]
    fn rounds_of_a_task() {
        let t = Task {
            spec: TaskSpec {
                model: Hash32::ZERO,
                dataset: Hash32::ZERO,
                eval: Hash32::ZERO,
                reward: Amount(0),
                start_delay: 0,
                round_blocks: 10,
                rounds: 2,
                epoch_rounds: 1,
                windows: vec![],
                aggregation: "x".into(),
                min_stake: Amount(0),
                max_uids: 1,
                mechanism: deai_types::Mechanism::Yuma,
                miner_share: Fixed::from_bps(5_000),
            },
            proposer: AccountId([0; 32]),
            proposed_at: Height(4),
            start: Height(5),
            end: Height(25),
            escrow: Amount(0),
            next_uid: 0,
        };
        assert_eq!(t.round_at(Height(4)), None);
        assert_eq!(t.round_at(Height(5)), Some(deai_types::Round(0)));
        assert_eq!(t.round_at(Height(15)), Some(deai_types::Round(1)));
        assert_eq!(t.round_at(Height(25)), None);
        assert_eq!(t.round_start(deai_types::Round(1)), Some(Height(15)));
        assert_eq!(t.round_start(deai_types::Round(u64::MAX)), None);
    }
}
