//! The protocol vocabulary shared by transactions and state: tasks, commit/reveal windows,
//! slashing evidence and governance parameters.
//!
//! # Tasks and rounds
//! A task (a subnet) is proposed with a [`TaskSpec`]. Its round 0 starts `start_delay` blocks
//! after the block that included the proposal; round `r` covers the heights
//! `[start + r * round_blocks, start + (r + 1) * round_blocks)`, and the task has `rounds`
//! rounds. Epoch `e` is the run of rounds `[e * epoch_rounds, (e + 1) * epoch_rounds)`.
//!
//! # Commit / reveal
//! Each [`PhaseWindow`] of a task names a [`CommitKind`] and two half-open windows of block
//! offsets from the start of a round: `commit` then `reveal` (`commit.end <= reveal.start`). A
//! participant registered on the task commits `commitment_hash(key, preimage)` inside the commit
//! window of the round and reveals the preimage inside the reveal window. The hash binds the
//! [`CommitKey`] — task, round, kind *and the committer's account* — so nobody can copy another
//! participant's commitment and later reveal their preimage as their own.
//!
//! # Preimages
//! What a reveal must decode to (borsh, [`crate::decode`]) depends on the kind:
//! [`CommitKind::Update`] → [`UpdatePreimage`] (blob address, length, salt),
//! [`CommitKind::Weights`] → [`WeightsPreimage`] (quantized `u16` weights on UIDs, salt),
//! [`CommitKind::Vote`] → [`VotePreimage`] (a signed fixed-point score, salt). Verdicts are free
//! bytes. The salt makes a low-entropy preimage (e.g. a weight vector) unguessable from its hash.
//!
//! # Evidence
//! Misbehaviour is slashed only on [`Evidence`] that the ledger state itself proves:
//! a commitment whose reveal window closed without a reveal ([`Evidence::MissedReveal`]), a
//! reveal whose preimage did not match ([`Evidence::RevealMismatch`]), or an offence the ledger
//! recorded ([`Evidence::Offence`], e.g. a double registration). Anyone may submit evidence; each
//! piece of evidence is applied once.
//!
//! # Parameters
//! [`Params`] live in the state and change only by governance through a typed [`ParamChange`].

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::codec::encode;
use crate::fixed_point::Fixed;
use crate::hash::Hash32;
use crate::ids::{AccountId, Amount, OffenceId, Round, TaskId, Uid};

/// What a participant registers as on a task.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Trains and submits updates.
    Miner,
    /// Evaluates updates and sets weights.
    Validator,
}

/// The incentive mechanism a task runs at the end of each epoch/round.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Mechanism {
    /// Bittensor's Yuma consensus over validator weights.
    Yuma,
    /// FLock-style rounds of randomly drawn proposers and voters.
    ProposerVoter,
}

/// What a commitment commits to.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum CommitKind {
    /// A miner's model update (preimage: blob address + hash + salt).
    Update,
    /// A validator's weights over miners (preimage: quantized weights + salt).
    Weights,
    /// A voter's score of a round (proposer/voter mechanism).
    Vote,
    /// A committee verdict (e.g. on a task's training code).
    Verdict,
}

/// A half-open window `[start, end)` of block offsets from the start of a round.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
pub struct Window {
    /// First offset inside the window.
    pub start: u64,
    /// First offset after the window.
    pub end: u64,
}

impl Window {
    /// Whether `offset` lies in the window.
    pub fn contains(&self, offset: u64) -> bool {
        self.start <= offset && offset < self.end
    }
}

/// The commit and reveal windows of one kind of commitment.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct PhaseWindow {
    /// What is committed.
    pub kind: CommitKind,
    /// When the hash may be committed.
    pub commit: Window,
    /// When the preimage may be revealed.
    pub reveal: Window,
}

/// A task proposal: what to train, how it is judged, and what it pays.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct TaskSpec {
    /// Commitment to the model architecture / initial weights / training code.
    pub model: Hash32,
    /// Commitment to the dataset (e.g. a Merkle root).
    pub dataset: Hash32,
    /// Commitment to the held-out evaluation procedure/set.
    pub eval: Hash32,
    /// Reward moved from the proposer's balance into the task's escrow.
    pub reward: Amount,
    /// Blocks between the proposal's block and the start of round 0.
    pub start_delay: u64,
    /// Length of one round in blocks (>= 1).
    pub round_blocks: u64,
    /// Number of rounds (>= 1).
    pub rounds: u64,
    /// Rounds per epoch (>= 1).
    pub epoch_rounds: u64,
    /// Commit/reveal windows, at most one per kind.
    pub windows: Vec<PhaseWindow>,
    /// Name of the aggregation rule (1 to 32 ASCII graphic characters, e.g. "fedavg").
    pub aggregation: String,
    /// Minimum stake (self + delegated) a participant needs to register.
    pub min_stake: Amount,
    /// Capacity: most UIDs the task assigns (>= 1, <= the `max_uids_per_task` parameter).
    pub max_uids: u16,
    /// The incentive mechanism.
    pub mechanism: Mechanism,
    /// Share in `[0, 1]` of each payout that goes to the workers: on Yuma tasks the miners'
    /// part of every epoch's payout (split by incentive; the rest goes to validators by
    /// dividends); on proposer/voter tasks the proposers' part of a round reward (the rest goes
    /// to the majority voters). Default 0.5, as in Bittensor.
    #[serde(default = "half")]
    pub miner_share: Fixed,
}

fn half() -> Fixed {
    Fixed::from_bps(5_000)
}

/// A task specification that cannot run.
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
pub enum TaskSpecError {
    /// `round_blocks`, `rounds`, `epoch_rounds` or `max_uids` is zero.
    #[error("{field} must be at least 1")]
    Zero {
        /// The offending field.
        field: String,
    },
    /// A window is empty, overlaps, is out of order or exceeds the round.
    #[error("windows of {kind:?} must satisfy commit.start < commit.end <= reveal.start < reveal.end <= round_blocks")]
    BadWindow {
        /// The kind whose windows are wrong.
        kind: CommitKind,
    },
    /// Two windows for the same kind.
    #[error("more than one window for {kind:?}; give at most one per kind")]
    DuplicateKind {
        /// The repeated kind.
        kind: CommitKind,
    },
    /// The aggregation name is empty, too long or not ASCII graphic.
    #[error("aggregation rule name must be 1 to 32 ASCII graphic characters")]
    BadAggregation,
    /// `start_delay + rounds * round_blocks` overflows.
    #[error("schedule too long: start_delay + rounds * round_blocks overflows u64")]
    ScheduleOverflow,
    /// A share outside `[0, 1]`.
    #[error("{field} = {value} is not a share; give a value in [0, 1]")]
    BadShare {
        /// The offending field.
        field: String,
        /// Its value.
        value: Fixed,
    },
}

impl TaskSpec {
    /// Longest aggregation rule name.
    pub const MAX_AGGREGATION_LEN: usize = 32;

    /// Static checks (the ledger also checks `max_uids` against its parameter and the proposer's
    /// balance).
    pub fn validate(&self) -> Result<(), TaskSpecError> {
        for (field, v) in [
            ("round_blocks", self.round_blocks),
            ("rounds", self.rounds),
            ("epoch_rounds", self.epoch_rounds),
            ("max_uids", u64::from(self.max_uids)),
        ] {
            if v == 0 {
                return Err(TaskSpecError::Zero {
                    field: field.to_string(),
                });
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for w in &self.windows {
            if !seen.insert(w.kind) {
                return Err(TaskSpecError::DuplicateKind { kind: w.kind });
            }
            let ok = w.commit.start < w.commit.end
                && w.commit.end <= w.reveal.start
                && w.reveal.start < w.reveal.end
                && w.reveal.end <= self.round_blocks;
            if !ok {
                return Err(TaskSpecError::BadWindow { kind: w.kind });
            }
        }
        let a = self.aggregation.as_bytes();
        if a.is_empty()
            || a.len() > Self::MAX_AGGREGATION_LEN
            || !a.iter().all(|b| b.is_ascii_graphic())
        {
            return Err(TaskSpecError::BadAggregation);
        }
        self.rounds
            .checked_mul(self.round_blocks)
            .and_then(|d| d.checked_add(self.start_delay))
            .ok_or(TaskSpecError::ScheduleOverflow)?;
        if !self.miner_share.is_unit() {
            return Err(TaskSpecError::BadShare {
                field: "miner_share".to_string(),
                value: self.miner_share,
            });
        }
        Ok(())
    }

    /// Number of epochs: `ceil(rounds / epoch_rounds)` (the last epoch may be shorter).
    pub fn epochs(&self) -> u64 {
        self.rounds.div_ceil(self.epoch_rounds.max(1))
    }

    /// The windows of `kind`, if the task has any.
    pub fn window(&self, kind: CommitKind) -> Option<&PhaseWindow> {
        self.windows.iter().find(|w| w.kind == kind)
    }
}

/// Identifies one commitment: who committed what, for which round of which task.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
pub struct CommitKey {
    /// The task.
    pub task: TaskId,
    /// The round of the task.
    pub round: Round,
    /// What is committed.
    pub kind: CommitKind,
    /// The committer.
    pub account: AccountId,
}

/// The hash a participant commits: `blake3("deai/commit/v1" || encode(key) || preimage)`.
pub fn commitment_hash(key: &CommitKey, preimage: &[u8]) -> Hash32 {
    Hash32::tagged(b"deai/commit/v1", &[&encode(key), preimage])
}

/// The preimage of an [`CommitKind::Update`] commitment: where the update is and how long it is.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct UpdatePreimage {
    /// Content address of the update blob (its blake3 hash).
    pub blob: Hash32,
    /// Number of values (`f32`) in the update; its blob holds four bytes per value.
    pub len: u64,
    /// Random salt.
    pub salt: [u8; 32],
}

/// The preimage of a [`CommitKind::Weights`] commitment: quantized weights on UIDs of the task.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct WeightsPreimage {
    /// `(uid, weight)` pairs: each UID registered on the task, at most once; any row scale
    /// (Yuma normalizes rows). A weight on oneself is accepted and masked by Yuma.
    pub weights: Vec<(Uid, u16)>,
    /// Random salt.
    pub salt: [u8; 32],
}

/// The preimage of a [`CommitKind::Vote`] commitment: the voter's score of a round.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct VotePreimage {
    /// Accuracy change the voter measured on its own split (negative = the round hurt).
    pub score: Fixed,
    /// Random salt.
    pub salt: [u8; 32],
}

/// The kinds of offence the ledger slashes.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum OffenceKind {
    /// Committed and did not reveal before the reveal window closed.
    MissedReveal,
    /// Revealed a preimage that does not match the commitment.
    RevealMismatch,
    /// Tried to register on a task it is already registered on.
    DoubleRegistration,
    /// Weights far outside consensus for several epochs (recorded by epoch processing).
    OutOfConsensus,
    /// Proposer of a rejected round / voter on the minority side (proposer/voter mechanism).
    BadRound,
}

/// Proof of misbehaviour, checkable against the state.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    /// The commitment exists, was never revealed, and its reveal window has closed.
    MissedReveal(CommitKey),
    /// The commitment was revealed with a non-matching preimage (the state records it).
    RevealMismatch(CommitKey),
    /// An offence the ledger recorded itself (double registration, out-of-consensus, …).
    Offence(OffenceId),
}

/// Where slashed stake goes (after the reporter's share).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum SlashDestination {
    /// Destroyed (total issuance decreases).
    Burn,
    /// Added to the escrow (reward pool) of the task the offence happened on.
    TaskPool,
}

/// Ledger parameters, stored in the state and changed only by governance. In JSON, missing
/// fields take their [`Default`] values.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Smallest fee a transaction may offer (fees are burned).
    pub min_fee: Amount,
    /// Blocks between unstaking and the stake becoming withdrawable.
    pub unbonding_blocks: u64,
    /// Burned from the registrant's balance on every registration.
    pub registration_cost: Amount,
    /// Upper bound on a task's `max_uids`.
    pub max_uids_per_task: u16,
    /// Longest reveal preimage in bytes (at most [`Params::MAX_PREIMAGE_HARD`]).
    pub max_preimage_len: u32,
    /// Take rate of a hotkey that never set one.
    pub default_take: Fixed,
    /// Highest take rate a hotkey may set.
    pub max_take: Fixed,
    /// Blocks a governance proposal is open for voting.
    pub gov_voting_blocks: u64,
    /// Share of all bonded stake that must vote yes for a proposal to pass.
    pub gov_quorum: Fixed,
    /// Blocks between a proposal passing and its execution.
    pub gov_delay_blocks: u64,
    /// Share of the offender's bonded stake slashed per offence kind (absent = 0).
    pub slash_fractions: BTreeMap<OffenceKind, Fixed>,
    /// Share of a slash paid to whoever submitted the evidence.
    pub slash_reporter_share: Fixed,
    /// Where the rest of a slash goes.
    pub slash_destination: SlashDestination,
    /// Minted into each Yuma task's escrow at the end of each of its epochs (default 0).
    pub emission_per_epoch: Amount,
    /// Yuma consensus majority κ in `[0, 1]` (default 32767/65535, as subtensor).
    pub yuma_kappa: Fixed,
    /// Yuma bonds penalty in `[0, 1]` (default 1: bonds on clipped weights).
    pub yuma_bonds_penalty: Fixed,
    /// Yuma bonds moving average in `[0, 1]` (default 0.9; the EMA weight of new bonds is
    /// `1 − this`).
    pub yuma_bonds_moving_average: Fixed,
    /// A validator whose validator trust is below this share ...
    pub out_of_consensus_trust: Fixed,
    /// ... for this many consecutive epochs is recorded as out of consensus (0 = off, default).
    pub out_of_consensus_epochs: u32,
    /// Proposers drawn per round on proposer/voter tasks (the rest are voters; default 3).
    pub pv_proposers: u16,
    /// Share of a `BadRound` slash returned to the task's escrow; the rest goes to the reporter
    /// (default 0.9).
    pub pv_slash_to_pool: Fixed,
    /// Epoch records, proposer/voter round records and role draws kept per task: the newest
    /// this many (0 = keep all; default 64). Model records are always kept.
    pub records_kept: u32,
}

/// A parameter value outside its accepted range.
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
#[error("parameter {name} = {value} is invalid: {accepted}")]
pub struct ParamError {
    /// The parameter.
    pub name: String,
    /// The rejected value, as text.
    pub value: String,
    /// What is accepted.
    pub accepted: String,
}

impl Default for Params {
    fn default() -> Self {
        let mut slash_fractions = BTreeMap::new();
        slash_fractions.insert(OffenceKind::MissedReveal, Fixed::from_bps(1_000));
        slash_fractions.insert(OffenceKind::RevealMismatch, Fixed::from_bps(2_000));
        slash_fractions.insert(OffenceKind::DoubleRegistration, Fixed::from_bps(500));
        slash_fractions.insert(OffenceKind::OutOfConsensus, Fixed::from_bps(500));
        slash_fractions.insert(OffenceKind::BadRound, Fixed::from_bps(1_000));
        Params {
            min_fee: Amount(1),
            unbonding_blocks: 10,
            registration_cost: Amount(100),
            max_uids_per_task: 256,
            max_preimage_len: 1024,
            default_take: Fixed::from_bps(1_800),
            max_take: Fixed::from_bps(5_000),
            gov_voting_blocks: 20,
            gov_quorum: Fixed::from_bps(3_340),
            gov_delay_blocks: 5,
            slash_fractions,
            slash_reporter_share: Fixed::from_bps(1_000),
            slash_destination: SlashDestination::TaskPool,
            emission_per_epoch: Amount::ZERO,
            yuma_kappa: Fixed::from_bits(u16_share_bits(32_767)),
            yuma_bonds_penalty: Fixed::ONE,
            yuma_bonds_moving_average: Fixed::from_bps(9_000),
            out_of_consensus_trust: Fixed::from_bps(5_000),
            out_of_consensus_epochs: 0,
            pv_proposers: 3,
            pv_slash_to_pool: Fixed::from_bps(9_000),
            records_kept: 64,
        }
    }
}

/// Bits of `v / 65535` in I32F32, rounded to nearest.
const fn u16_share_bits(v: u16) -> i64 {
    ((v as i64) * (1i64 << 32) + 32_767) / 65_535
}

fn bad(name: &str, value: impl std::fmt::Display, accepted: &str) -> ParamError {
    ParamError {
        name: name.to_string(),
        value: value.to_string(),
        accepted: accepted.to_string(),
    }
}

impl Params {
    /// Hard cap on `max_preimage_len`.
    pub const MAX_PREIMAGE_HARD: u32 = 64 * 1024;

    /// Check every range rule.
    pub fn validate(&self) -> Result<(), ParamError> {
        if self.max_uids_per_task == 0 {
            return Err(bad("max_uids_per_task", 0, "at least 1"));
        }
        if self.max_preimage_len > Self::MAX_PREIMAGE_HARD {
            return Err(bad(
                "max_preimage_len",
                self.max_preimage_len,
                "at most 65536",
            ));
        }
        for (name, v) in [
            ("default_take", self.default_take),
            ("max_take", self.max_take),
            ("gov_quorum", self.gov_quorum),
            ("slash_reporter_share", self.slash_reporter_share),
            ("yuma_kappa", self.yuma_kappa),
            ("yuma_bonds_penalty", self.yuma_bonds_penalty),
            ("yuma_bonds_moving_average", self.yuma_bonds_moving_average),
            ("out_of_consensus_trust", self.out_of_consensus_trust),
            ("pv_slash_to_pool", self.pv_slash_to_pool),
        ] {
            if !v.is_unit() {
                return Err(bad(name, v, "a share in [0, 1]"));
            }
        }
        if self.default_take > self.max_take {
            return Err(bad("default_take", self.default_take, "at most max_take"));
        }
        if self.gov_voting_blocks == 0 {
            return Err(bad("gov_voting_blocks", 0, "at least 1"));
        }
        if self.pv_proposers == 0 {
            return Err(bad("pv_proposers", 0, "at least 1"));
        }
        for (kind, f) in &self.slash_fractions {
            if !f.is_unit() {
                return Err(bad(
                    &format!("slash_fractions.{kind:?}"),
                    f,
                    "a share in [0, 1]",
                ));
            }
        }
        Ok(())
    }

    /// The slash fraction of an offence kind (0 if unset).
    pub fn slash_fraction(&self, kind: OffenceKind) -> Fixed {
        self.slash_fractions
            .get(&kind)
            .copied()
            .unwrap_or(Fixed::ZERO)
    }
}

/// A governance change of one parameter.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamChange {
    /// Set `min_fee`.
    MinFee(Amount),
    /// Set `unbonding_blocks`.
    UnbondingBlocks(u64),
    /// Set `registration_cost`.
    RegistrationCost(Amount),
    /// Set `max_uids_per_task`.
    MaxUidsPerTask(u16),
    /// Set `max_preimage_len`.
    MaxPreimageLen(u32),
    /// Set `default_take`.
    DefaultTake(Fixed),
    /// Set `max_take`.
    MaxTake(Fixed),
    /// Set `gov_voting_blocks`.
    GovVotingBlocks(u64),
    /// Set `gov_quorum`.
    GovQuorum(Fixed),
    /// Set `gov_delay_blocks`.
    GovDelayBlocks(u64),
    /// Set the slash fraction of one offence kind.
    SlashFraction {
        /// The offence kind.
        offence: OffenceKind,
        /// Its new fraction.
        fraction: Fixed,
    },
    /// Set `slash_reporter_share`.
    SlashReporterShare(Fixed),
    /// Set `slash_destination`.
    SlashDestination(SlashDestination),
    /// Set `emission_per_epoch`.
    EmissionPerEpoch(Amount),
    /// Set `yuma_kappa`.
    YumaKappa(Fixed),
    /// Set `yuma_bonds_penalty`.
    YumaBondsPenalty(Fixed),
    /// Set `yuma_bonds_moving_average`.
    YumaBondsMovingAverage(Fixed),
    /// Set `out_of_consensus_trust`.
    OutOfConsensusTrust(Fixed),
    /// Set `out_of_consensus_epochs`.
    OutOfConsensusEpochs(u32),
    /// Set `pv_proposers`.
    PvProposers(u16),
    /// Set `pv_slash_to_pool`.
    PvSlashToPool(Fixed),
    /// Set `records_kept`.
    RecordsKept(u32),
}

impl ParamChange {
    /// The parameters after this change, validated.
    pub fn applied_to(&self, params: &Params) -> Result<Params, ParamError> {
        let mut p = params.clone();
        match self {
            ParamChange::MinFee(v) => p.min_fee = *v,
            ParamChange::UnbondingBlocks(v) => p.unbonding_blocks = *v,
            ParamChange::RegistrationCost(v) => p.registration_cost = *v,
            ParamChange::MaxUidsPerTask(v) => p.max_uids_per_task = *v,
            ParamChange::MaxPreimageLen(v) => p.max_preimage_len = *v,
            ParamChange::DefaultTake(v) => p.default_take = *v,
            ParamChange::MaxTake(v) => p.max_take = *v,
            ParamChange::GovVotingBlocks(v) => p.gov_voting_blocks = *v,
            ParamChange::GovQuorum(v) => p.gov_quorum = *v,
            ParamChange::GovDelayBlocks(v) => p.gov_delay_blocks = *v,
            ParamChange::SlashFraction { offence, fraction } => {
                p.slash_fractions.insert(*offence, *fraction);
            }
            ParamChange::SlashReporterShare(v) => p.slash_reporter_share = *v,
            ParamChange::SlashDestination(v) => p.slash_destination = *v,
            ParamChange::EmissionPerEpoch(v) => p.emission_per_epoch = *v,
            ParamChange::YumaKappa(v) => p.yuma_kappa = *v,
            ParamChange::YumaBondsPenalty(v) => p.yuma_bonds_penalty = *v,
            ParamChange::YumaBondsMovingAverage(v) => p.yuma_bonds_moving_average = *v,
            ParamChange::OutOfConsensusTrust(v) => p.out_of_consensus_trust = *v,
            ParamChange::OutOfConsensusEpochs(v) => p.out_of_consensus_epochs = *v,
            ParamChange::PvProposers(v) => p.pv_proposers = *v,
            ParamChange::PvSlashToPool(v) => p.pv_slash_to_pool = *v,
            ParamChange::RecordsKept(v) => p.records_kept = *v,
        }
        p.validate()?;
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> TaskSpec {
        TaskSpec {
            model: Hash32::ZERO,
            dataset: Hash32::ZERO,
            eval: Hash32::ZERO,
            reward: Amount(1000),
            start_delay: 1,
            round_blocks: 10,
            rounds: 3,
            epoch_rounds: 1,
            windows: vec![PhaseWindow {
                kind: CommitKind::Update,
                commit: Window { start: 0, end: 4 },
                reveal: Window { start: 4, end: 8 },
            }],
            aggregation: "fedavg".into(),
            min_stake: Amount(0),
            max_uids: 8,
            mechanism: Mechanism::Yuma,
            miner_share: Fixed::from_bps(5_000),
        }
    }

    #[test]
    fn task_spec_validation_table() {
        assert_eq!(spec().validate(), Ok(()));
        type Case = (fn(&mut TaskSpec), &'static str);
        let cases: Vec<Case> = vec![
            (|s| s.round_blocks = 0, "Zero"),
            (|s| s.rounds = 0, "Zero"),
            (|s| s.epoch_rounds = 0, "Zero"),
            (|s| s.max_uids = 0, "Zero"),
            (|s| s.windows[0].reveal.end = 11, "BadWindow"),
            (|s| s.windows[0].commit.end = 5, "BadWindow"),
            (|s| s.windows[0].commit.end = 0, "BadWindow"),
            (|s| s.windows.push(s.windows[0]), "DuplicateKind"),
            (|s| s.aggregation = String::new(), "BadAggregation"),
            (|s| s.aggregation = "a b".into(), "BadAggregation"),
            (|s| s.aggregation = "x".repeat(33), "BadAggregation"),
            (|s| s.rounds = u64::MAX, "ScheduleOverflow"),
            (|s| s.miner_share = Fixed::from_bps(10_001), "BadShare"),
            (|s| s.miner_share = Fixed::from_int(-1), "BadShare"),
        ];
        for (mutate, want) in cases {
            let mut s = spec();
            mutate(&mut s);
            let err = s.validate().unwrap_err();
            assert!(format!("{err:?}").starts_with(want), "{err:?} vs {want}");
        }
    }

    #[test]
    fn params_default_valid_and_changes_checked() {
        let p = Params::default();
        assert_eq!(p.validate(), Ok(()));
        assert!(ParamChange::GovQuorum(Fixed::from_int(2))
            .applied_to(&p)
            .is_err());
        assert!(ParamChange::MaxTake(Fixed::ZERO).applied_to(&p).is_err());
        assert!(ParamChange::MaxUidsPerTask(0).applied_to(&p).is_err());
        assert!(ParamChange::GovVotingBlocks(0).applied_to(&p).is_err());
        assert!(ParamChange::MaxPreimageLen(1 << 20).applied_to(&p).is_err());
        let q = ParamChange::UnbondingBlocks(3).applied_to(&p).unwrap();
        assert_eq!(q.unbonding_blocks, 3);
        let q = ParamChange::SlashFraction {
            offence: OffenceKind::MissedReveal,
            fraction: Fixed::ONE,
        }
        .applied_to(&p)
        .unwrap();
        assert_eq!(q.slash_fraction(OffenceKind::MissedReveal), Fixed::ONE);
    }

    #[test]
    fn commitment_hash_binds_the_account() {
        let mut k = CommitKey {
            task: TaskId(0),
            round: Round(0),
            kind: CommitKind::Update,
            account: AccountId([1; 32]),
        };
        let a = commitment_hash(&k, b"x");
        k.account = AccountId([2; 32]);
        assert_ne!(a, commitment_hash(&k, b"x"));
    }
}
