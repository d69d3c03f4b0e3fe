//! The layers: every distribution measured at every epoch, and the rows that hold them.
//!
//! | layer | holders | holding | facts |
//! |---|---|---|---|
//! | `stake` | every hotkey with stake | self + delegated stake | chain |
//! | `task_stake` | the task's UIDs | stake of the UID's hotkey at the epoch | chain |
//! | `voting_power` | the task's validator UIDs | its stake if it revealed weights in the epoch (Yuma's active set), else 0 | chain |
//! | `miner_incentive` | the task's miner UIDs | the epoch's Yuma incentive | chain |
//! | `miner_rewards` | the task's miner UIDs | paid by incentive, cumulative | chain |
//! | `validator_dividends` | the task's validator UIDs | the epoch's Yuma dividends | chain |
//! | `validator_rewards` | the task's validator UIDs | paid by dividends, cumulative | chain |
//! | `entity_rewards_epoch` | entities holding UIDs of the task | everything the epoch paid their identities | chain, owners |
//! | `entity_rewards` | every entity that held a UID so far | everything paid to their identities on every task, cumulative | chain, owners |
//! | `model_ownership` | the task's miner UIDs | Σ over recorded rounds of `1/|contributors|` when listed | chain |
//! | `data_contribution` | the task's miner UIDs | Σ over recorded rounds of its training samples when listed as a contributor | chain, simulation |
//! | `compute_contribution` | the task's miner UIDs | Σ over rounds in which it revealed an update of the training FLOPs it spent | chain, simulation |
//! | `governance_power` | every account with bonded stake | bonded stake (what a governance vote weighs at the tally) | chain |
//!
//! Notes on the definitions:
//! - Payouts go to a UID's hotkey and are shared with its delegators by the ledger; the layers
//!   count them at the hotkey.
//! - *Model ownership.* A `RecordModel` transaction lists the updates (UID, blob) the round's
//!   global model aggregated. Each listed contributor is credited an equal share of that round's
//!   step — exact for canonical FedAvg (the simulator's default, an unweighted mean of the
//!   rewarded updates), a convention for robust rules. A round's record lands in the block after
//!   its epoch; the replay attributes it to the epoch of the round it records, so an epoch row
//!   counts every round up to its last (the final round's record is the run's last block).
//! - *Data and compute.* The ledger stores what an update *is* (blob hash, length), not how many
//!   samples produced it, so these two need off-chain [`Knowledge`](crate::Knowledge): each
//!   miner's training samples and passes over them. Data contribution counts the samples of
//!   miners whose update went into a recorded model (a rejected or unrewarded update contributes
//!   no data); compute counts every update revealed on chain, at
//!   `samples × passes × flops_per_sample` (zero for a miner that reveals something it did not
//!   train). Without knowledge these two layers are left out. FLOPs scale every miner's samples
//!   processed by the same constant, so every metric of compute equals that of samples
//!   processed.
//! - *Entities.* [`Knowledge::owners`](crate::Knowledge::owners) maps identities (accounts) to
//!   the entity controlling them — Sybil identities of one owner, or a validator colluding with
//!   a miner; every other account is its own entity. Only the `entity_*` layers group; every
//!   other layer counts identities, as the ledger sees them.
//! - Only Yuma tasks have epoch records; proposer/voter tasks produce no rows.

use deai_metrics::Metrics;
use serde::Serialize;

/// A distribution measured at every epoch (see the module docs for each definition).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// Stake of every hotkey.
    Stake,
    /// Stake of the task's UIDs.
    TaskStake,
    /// Stake of the task's validators that revealed weights.
    VotingPower,
    /// The epoch's Yuma incentive of miners.
    MinerIncentive,
    /// Cumulative miner payouts.
    MinerRewards,
    /// The epoch's Yuma dividends of validators.
    ValidatorDividends,
    /// Cumulative validator payouts.
    ValidatorRewards,
    /// The epoch's payouts per controlling entity.
    EntityRewardsEpoch,
    /// Cumulative payouts per controlling entity, over every task.
    EntityRewards,
    /// Cumulative share of the recorded global models' updates.
    ModelOwnership,
    /// Cumulative training samples in recorded models.
    DataContribution,
    /// Cumulative training FLOPs of revealed updates.
    ComputeContribution,
    /// Bonded stake of every staker.
    GovernancePower,
}

impl Layer {
    /// Every layer, in report order.
    pub const ALL: [Layer; 13] = [
        Layer::Stake,
        Layer::TaskStake,
        Layer::VotingPower,
        Layer::MinerIncentive,
        Layer::MinerRewards,
        Layer::ValidatorDividends,
        Layer::ValidatorRewards,
        Layer::EntityRewardsEpoch,
        Layer::EntityRewards,
        Layer::ModelOwnership,
        Layer::DataContribution,
        Layer::ComputeContribution,
        Layer::GovernancePower,
    ];

    /// The snake_case key used in CSV and JSON.
    pub fn key(self) -> &'static str {
        match self {
            Layer::Stake => "stake",
            Layer::TaskStake => "task_stake",
            Layer::VotingPower => "voting_power",
            Layer::MinerIncentive => "miner_incentive",
            Layer::MinerRewards => "miner_rewards",
            Layer::ValidatorDividends => "validator_dividends",
            Layer::ValidatorRewards => "validator_rewards",
            Layer::EntityRewardsEpoch => "entity_rewards_epoch",
            Layer::EntityRewards => "entity_rewards",
            Layer::ModelOwnership => "model_ownership",
            Layer::DataContribution => "data_contribution",
            Layer::ComputeContribution => "compute_contribution",
            Layer::GovernancePower => "governance_power",
        }
    }

    /// A short human label for tables and legends.
    pub fn label(self) -> &'static str {
        match self {
            Layer::Stake => "stake (all hotkeys)",
            Layer::TaskStake => "stake (task UIDs)",
            Layer::VotingPower => "validator voting power",
            Layer::MinerIncentive => "miner incentive (epoch)",
            Layer::MinerRewards => "miner rewards (cumulative)",
            Layer::ValidatorDividends => "validator dividends (epoch)",
            Layer::ValidatorRewards => "validator rewards (cumulative)",
            Layer::EntityRewardsEpoch => "rewards per entity (epoch)",
            Layer::EntityRewards => "rewards per entity (cumulative)",
            Layer::ModelOwnership => "model ownership",
            Layer::DataContribution => "data contribution (samples)",
            Layer::ComputeContribution => "compute contribution (FLOPs)",
            Layer::GovernancePower => "governance voting power",
        }
    }

    /// The family a layer is plotted with: `stake` (stake, voting and governance power),
    /// `rewards` (incentive, dividends, rewards) or `contribution` (model, data, compute).
    pub fn family(self) -> &'static str {
        match self {
            Layer::Stake | Layer::TaskStake | Layer::VotingPower | Layer::GovernancePower => {
                "stake"
            }
            Layer::MinerIncentive
            | Layer::MinerRewards
            | Layer::ValidatorDividends
            | Layer::ValidatorRewards
            | Layer::EntityRewardsEpoch
            | Layer::EntityRewards => "rewards",
            Layer::ModelOwnership | Layer::DataContribution | Layer::ComputeContribution => {
                "contribution"
            }
        }
    }

    /// Every family, in report order.
    pub const FAMILIES: [&'static str; 3] = ["stake", "rewards", "contribution"];

    /// Whether the layer needs off-chain [`Knowledge`](crate::Knowledge) besides the chain.
    pub fn needs_simulation(self) -> bool {
        matches!(self, Layer::DataContribution | Layer::ComputeContribution)
    }
}

/// One distribution at one epoch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerRow {
    /// Which distribution.
    pub layer: Layer,
    /// Sum of the holdings (in the layer's unit: tokens, shares, samples, FLOPs).
    pub total: f64,
    /// Its decentralization metrics.
    pub metrics: Metrics,
    /// The holders (display names) and their holdings, in UID or account order. Kept in memory
    /// for callers; not serialized (the metrics summarize it).
    #[serde(skip)]
    pub holdings: Vec<(String, f64)>,
}

/// Every layer of one task at the end of one epoch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EpochLayers {
    /// The task.
    pub task: u64,
    /// The epoch.
    pub epoch: u64,
    /// Last round of the epoch.
    pub last_round: u64,
    /// Height of the block whose end processed the epoch.
    pub height: u64,
    /// The layers, in [`Layer::ALL`] order (data and compute only with knowledge).
    pub layers: Vec<LayerRow>,
}

impl EpochLayers {
    /// The row of `layer`, if measured.
    pub fn get(&self, layer: Layer) -> Option<&LayerRow> {
        self.layers.iter().find(|r| r.layer == layer)
    }
}
