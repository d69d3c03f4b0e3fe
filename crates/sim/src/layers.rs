//! Decentralization of every layer of a deai network over time, measured on a stored chain.
//!
//! # Replay
//! [`replay`] re-executes a stored chain from its genesis configuration with
//! [`deai_chain::apply_block`] — the function every node runs, which re-checks each block's tx
//! root and post-state root — and stops at the stored head, whose state root the replay must
//! reach. Whenever a block's end processes a Yuma epoch (a new [`EpochRecord`] appears), the
//! distributions below are measured with `deai-metrics` (Gini, Nakamoto ½ and ⅓, HHI,
//! normalized entropy, Theil-T, top-1/3/5/10 shares, `n`). The result is one [`EpochLayers`] per
//! (task, epoch), in chain order. The ledger keeps only the newest `records_kept` epoch records;
//! the replay sees every one of them, so cumulative layers run from genesis.
//!
//! # Layers
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
//!   samples produced it, so these two need off-chain [`Knowledge`]: each miner's training
//!   samples and passes over them. Data contribution counts the samples of miners whose update
//!   went into a recorded model (a rejected or unrewarded update contributes no data); compute
//!   counts every update revealed on chain, at `samples × passes × flops_per_sample` (zero for a
//!   miner that reveals something it did not train). Without knowledge these two layers are left
//!   out. FLOPs scale every miner's samples processed by the same constant, so every metric of
//!   compute equals that of samples processed.
//! - *Entities.* [`Knowledge::owners`] maps identities (accounts) to the entity controlling
//!   them — Sybil identities of one owner, or a validator colluding with a miner; every other
//!   account is its own entity. Only the `entity_*` layers group; every other layer counts
//!   identities, as the ledger sees them.
//! - Only Yuma tasks have epoch records; proposer/voter tasks produce no rows.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use deai_chain::{EpochRecord, State};
use deai_metrics::{Metrics, MetricsError};
use deai_store::{Store, StoreError};
use deai_types::{AccountId, Call, CommitKind, Hash32, Height, Role, TaskId, Uid};
use serde::Serialize;

use crate::runner::RunReport;
use crate::scenario::ValidatorKind;
use crate::SimError;

/// Why the layers of a chain could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum LayersError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored genesis configuration does not build a state.
    #[error("the stored genesis configuration is invalid: {reason}")]
    Genesis {
        /// What `State::genesis` said.
        reason: String,
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
    #[error("block {height} does not re-execute: {reason}")]
    Replay {
        /// The block.
        height: u64,
        /// What `apply_block` said.
        reason: String,
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
        source: MetricsError,
    },
}

impl From<LayersError> for SimError {
    fn from(e: LayersError) -> Self {
        SimError::Layers(e)
    }
}

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

    /// Whether the layer needs off-chain [`Knowledge`] besides the chain.
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

/// What a miner did off-chain in every round it revealed an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Training {
    /// Training samples it holds (its data).
    pub samples: u64,
    /// Passes over them per round (local epochs; 0 if it reveals something it did not train).
    pub passes: u64,
}

/// What the caller knows beyond the chain: names, owners, and off-chain training.
#[derive(Debug, Clone, Default)]
pub struct Knowledge {
    /// Display name of known accounts; others show as their first 8 hex characters.
    pub names: BTreeMap<AccountId, String>,
    /// The entity controlling an account, where known; every other account is its own entity.
    pub owners: BTreeMap<AccountId, String>,
    /// Off-chain training of miners; empty: no data or compute layers.
    pub training: BTreeMap<AccountId, Training>,
    /// Training FLOPs per sample per pass (≈ 6 × parameters: forward and backward).
    pub flops_per_sample: f64,
}

impl Knowledge {
    /// The display name of an account.
    pub fn name(&self, account: &AccountId) -> String {
        self.names
            .get(account)
            .cloned()
            .unwrap_or_else(|| account.short())
    }

    /// The entity controlling an account.
    pub fn entity(&self, account: &AccountId) -> String {
        self.owners
            .get(account)
            .cloned()
            .unwrap_or_else(|| self.name(account))
    }

    /// What a simulated run knows: actor names; the entity of each actor — a colluding
    /// validator and its partner miner are one entity (the scenario says they act together),
    /// every other actor its own; each miner's shard size and local epochs (0 passes for a
    /// free-rider or silent miner, which train nothing; every other kind trains on its shard,
    /// as `Miner::samples` says); FLOPs per sample `6 × parameters`.
    /// Reloads the scenario's dataset to recompute the (seeded) partition.
    pub fn from_run(report: &RunReport) -> Result<Self, SimError> {
        let s = &report.scenario;
        let mut k = Knowledge {
            names: report
                .actors
                .iter()
                .map(|a| (a.account, a.name.clone()))
                .collect(),
            ..Knowledge::default()
        };
        // Colluding validators join their partner miner's entity. Actors are the miners in
        // file order, then the validators in file order.
        let mut partners: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        let mut v = s.miner_count();
        for g in &s.validators {
            for _ in 0..g.count {
                if let (ValidatorKind::Colluding, Some(p)) = (g.kind, g.partner) {
                    partners.entry(p).or_default().push(v);
                }
                v += 1;
            }
        }
        for (p, vs) in partners {
            let members: Vec<usize> = std::iter::once(p).chain(vs).collect();
            if members.iter().any(|&i| i >= report.actors.len()) {
                continue;
            }
            let name = members
                .iter()
                .map(|&i| report.actors[i].name.as_str())
                .collect::<Vec<_>>()
                .join("+");
            for &i in &members {
                k.owners.insert(report.actors[i].account, name.clone());
            }
        }
        // Owners named in the scenario group their identities (e.g. Sybils) last, so they win
        // over a collusion pair.
        let groups = s
            .miners
            .iter()
            .flat_map(|g| std::iter::repeat_n(g.owner.as_ref(), g.count))
            .chain(
                s.validators
                    .iter()
                    .flat_map(|g| std::iter::repeat_n(g.owner.as_ref(), g.count)),
            );
        for (actor, owner) in report.actors.iter().zip(groups) {
            if let Some(owner) = owner {
                k.owners.insert(actor.account, owner.clone());
            }
        }
        let data = crate::data::RunData::load(s)?;
        let passes = s.training.local_epochs as u64;
        for (i, a) in report
            .actors
            .iter()
            .filter(|a| a.role == Role::Miner)
            .enumerate()
        {
            let samples = data.partition.clients.get(i).map_or(0, Vec::len) as u64;
            let trains = !matches!(
                a.kind.as_str(),
                "free_rider_noise" | "free_rider_copy" | "silent"
            );
            k.training.insert(
                a.account,
                Training {
                    samples,
                    passes: if trains { passes } else { 0 },
                },
            );
        }
        let model = match s.training.model.as_str() {
            "cnn" => deai_ml::ModelKind::Cnn,
            _ => deai_ml::ModelKind::Mlp,
        };
        k.flops_per_sample = 6.0 * model.num_params() as f64;
        Ok(k)
    }
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
    let mut state = State::genesis(&genesis).map_err(|e| LayersError::Genesis {
        reason: e.to_string(),
    })?;
    let mut acc = Accumulators::default();
    let mut pending: Vec<Pending> = Vec::new();
    for h in 1..=head.height.0 {
        let block = store.block(Height(h))?.ok_or(LayersError::MissingBlock {
            height: h,
            head: head.height.0,
        })?;
        let outcomes =
            deai_chain::apply_block(&mut state, &block).map_err(|e| LayersError::Replay {
                height: h,
                reason: e.to_string(),
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
struct Accumulators {
    miner_paid: BTreeMap<(TaskId, AccountId), u128>,
    validator_paid: BTreeMap<(TaskId, AccountId), u128>,
    entity_paid: BTreeMap<String, u128>,
    /// Accounts that revealed an update, per (task, round).
    reveals: BTreeMap<(TaskId, u64), BTreeSet<AccountId>>,
    /// Contributors of each recorded model, per (task, round).
    models: BTreeMap<(TaskId, u64), Vec<AccountId>>,
}

/// An epoch measured on the state; the model, data and compute layers wait for the model
/// records of its rounds, which land in later blocks.
struct Pending {
    row: EpochLayers,
    task: TaskId,
    miners: Vec<AccountId>,
    tail: Vec<LayerRow>,
}

impl Pending {
    fn finish(mut self, acc: &Accumulators, k: &Knowledge) -> Result<EpochLayers, LayersError> {
        let last = self.row.last_round;
        let mut holders = self.miners.clone();
        let mut ownership: BTreeMap<AccountId, f64> = BTreeMap::new();
        let mut data: BTreeMap<AccountId, f64> = BTreeMap::new();
        let mut compute: BTreeMap<AccountId, f64> = BTreeMap::new();
        for (_, contributors) in acc.models.range((self.task, 0)..=(self.task, last)) {
            let share = 1.0 / contributors.len().max(1) as f64;
            for a in contributors {
                if !holders.contains(a) {
                    holders.push(*a);
                }
                *ownership.entry(*a).or_default() += share;
                let samples = k.training.get(a).map_or(0, |t| t.samples);
                *data.entry(*a).or_default() += samples as f64;
            }
        }
        for (_, revealed) in acc.reveals.range((self.task, 0)..=(self.task, last)) {
            for a in revealed {
                let t = k.training.get(a).copied().unwrap_or(Training {
                    samples: 0,
                    passes: 0,
                });
                *compute.entry(*a).or_default() +=
                    t.samples as f64 * t.passes as f64 * k.flops_per_sample;
            }
        }
        let column = |m: &BTreeMap<AccountId, f64>| -> Vec<(String, f64)> {
            holders
                .iter()
                .map(|a| (k.name(a), m.get(a).copied().unwrap_or(0.0)))
                .collect()
        };
        self.row
            .layers
            .push(reals(Layer::ModelOwnership, column(&ownership))?);
        if !k.training.is_empty() {
            self.row
                .layers
                .push(reals(Layer::DataContribution, column(&data))?);
            self.row
                .layers
                .push(reals(Layer::ComputeContribution, column(&compute))?);
        }
        self.row.layers.append(&mut self.tail);
        Ok(self.row)
    }
}

fn amounts(layer: Layer, holdings: Vec<(String, u128)>) -> LayerRow {
    let values: Vec<u128> = holdings.iter().map(|(_, x)| *x).collect();
    LayerRow {
        layer,
        total: values.iter().map(|&x| x as f64).sum(),
        metrics: deai_metrics::metrics_of_amounts(&values),
        holdings: holdings.into_iter().map(|(n, x)| (n, x as f64)).collect(),
    }
}

fn reals(layer: Layer, holdings: Vec<(String, f64)>) -> Result<LayerRow, LayersError> {
    let values: Vec<f64> = holdings.iter().map(|(_, x)| *x).collect();
    let metrics = deai_metrics::metrics(&values).map_err(|source| LayersError::Metrics {
        layer: layer.key(),
        source,
    })?;
    Ok(LayerRow {
        layer,
        total: values.iter().sum(),
        metrics,
        holdings,
    })
}

/// Stake per hotkey (accounts with stake).
fn stake_holdings(state: &State, k: &Knowledge) -> Vec<(String, u128)> {
    state
        .accounts()
        .map(|(id, _)| (k.name(id), state.hotkey_stake(id).0))
        .filter(|(_, s)| *s > 0)
        .collect()
}

/// Bonded stake per staker: governance voting power.
fn governance_holdings(state: &State, k: &Knowledge) -> Vec<(String, u128)> {
    state
        .accounts()
        .map(|(id, _)| (k.name(id), state.staker_stake(id).0))
        .filter(|(_, s)| *s > 0)
        .collect()
}

fn snapshot(
    state: &State,
    task: TaskId,
    epoch: u64,
    record: &EpochRecord,
    k: &Knowledge,
    acc: &mut Accumulators,
) -> Result<Pending, LayersError> {
    let regs: BTreeMap<Uid, (AccountId, Role)> = state
        .registrations(task)
        .map(|(uid, r)| (uid, (r.account, r.role)))
        .collect();
    let n = record.stake.len();
    let uids: Vec<(usize, AccountId, Role)> = (0..n)
        .filter_map(|i| {
            let uid = Uid(u16::try_from(i).ok()?);
            regs.get(&uid).map(|(a, r)| (i, *a, *r))
        })
        .collect();
    let of_role = |role: Role| uids.iter().filter(move |(_, _, r)| *r == role);
    let amount_at = |v: &[deai_types::Amount], i: usize| v.get(i).map_or(0, |a| a.0);
    let fixed_at =
        |v: &[deai_types::Fixed], i: usize| v.get(i).map_or(0.0, |x| x.to_f64().max(0.0));

    // Cumulative sums first.
    let mut epoch_entity: BTreeMap<String, u128> = BTreeMap::new();
    for &(i, a, _) in &uids {
        let m = amount_at(&record.miner_paid, i);
        let v = amount_at(&record.validator_paid, i);
        let mp = acc.miner_paid.entry((task, a)).or_default();
        *mp = mp.saturating_add(m);
        let vp = acc.validator_paid.entry((task, a)).or_default();
        *vp = vp.saturating_add(v);
        let e = k.entity(&a);
        let x = epoch_entity.entry(e.clone()).or_default();
        *x = x.saturating_add(m).saturating_add(v);
        let c = acc.entity_paid.entry(e).or_default();
        *c = c.saturating_add(m).saturating_add(v);
    }

    let layers = vec![
        amounts(Layer::Stake, stake_holdings(state, k)),
        amounts(
            Layer::TaskStake,
            uids.iter()
                .map(|&(i, a, _)| (k.name(&a), amount_at(&record.stake, i)))
                .collect(),
        ),
        amounts(
            Layer::VotingPower,
            of_role(Role::Validator)
                .map(|&(i, a, _)| {
                    let active = record.weights_revealed.get(i).copied().unwrap_or(false);
                    let s = if active {
                        amount_at(&record.stake, i)
                    } else {
                        0
                    };
                    (k.name(&a), s)
                })
                .collect(),
        ),
        reals(
            Layer::MinerIncentive,
            of_role(Role::Miner)
                .map(|&(i, a, _)| (k.name(&a), fixed_at(&record.incentive, i)))
                .collect(),
        )?,
        amounts(
            Layer::MinerRewards,
            of_role(Role::Miner)
                .map(|&(_, a, _)| {
                    let x = acc.miner_paid.get(&(task, a)).copied().unwrap_or(0);
                    (k.name(&a), x)
                })
                .collect(),
        ),
        reals(
            Layer::ValidatorDividends,
            of_role(Role::Validator)
                .map(|&(i, a, _)| (k.name(&a), fixed_at(&record.dividends, i)))
                .collect(),
        )?,
        amounts(
            Layer::ValidatorRewards,
            of_role(Role::Validator)
                .map(|&(_, a, _)| {
                    let x = acc.validator_paid.get(&(task, a)).copied().unwrap_or(0);
                    (k.name(&a), x)
                })
                .collect(),
        ),
        amounts(
            Layer::EntityRewardsEpoch,
            epoch_entity.into_iter().collect(),
        ),
        amounts(
            Layer::EntityRewards,
            acc.entity_paid
                .iter()
                .map(|(e, x)| (e.clone(), *x))
                .collect(),
        ),
    ];
    let tail = vec![amounts(
        Layer::GovernancePower,
        governance_holdings(state, k),
    )];
    let last_round = state
        .task(task)
        .and_then(|t| t.epoch_rounds(deai_types::Epoch(epoch)))
        .map_or(epoch, |(_, last)| last.0);
    let miners = of_role(Role::Miner).map(|&(_, a, _)| a).collect();
    Ok(Pending {
        row: EpochLayers {
            task: task.0,
            epoch,
            last_round,
            height: record.at.0,
            layers,
        },
        task,
        miners,
        tail,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use super::*;
    use crate::{RunOptions, Scenario, Sim};

    const ROUNDS: u64 = 3;

    /// One short demo run shared by the tests: 10 miners (one free-rider copying, one adding
    /// noise, one label-flipper), 4 validators (one colluding with miner 8), 3 rounds.
    fn run() -> &'static (tempfile::TempDir, RunReport) {
        static RUN: OnceLock<(tempfile::TempDir, RunReport)> = OnceLock::new();
        RUN.get_or_init(|| {
            let mut s = Scenario::demo();
            s.rounds = ROUNDS;
            s.name = "layers".into();
            let dir = tempfile::tempdir().unwrap();
            let report = Sim::new(
                &s,
                &RunOptions {
                    dir: dir.path().to_path_buf(),
                },
            )
            .unwrap()
            .run(|_| {})
            .unwrap();
            (dir, report)
        })
    }

    /// Replays the shared run; one at a time, as the store takes a file lock.
    fn replay_run(k: &Knowledge) -> Replay {
        let _guard = STORE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        replay_dir(&run().1.chain_dir, k).unwrap()
    }

    static STORE: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn by_name(row: &LayerRow) -> BTreeMap<&str, f64> {
        row.holdings.iter().map(|(n, x)| (n.as_str(), *x)).collect()
    }

    #[test]
    fn replay_has_one_row_per_epoch_and_reaches_the_head_root() {
        let (dir, report) = run();
        let k = Knowledge::from_run(report).unwrap();
        let r = replay_run(&k);
        assert_eq!(report.chain_dir, dir.path());
        assert_eq!(r.epochs.len() as u64, ROUNDS);
        for (i, e) in r.epochs.iter().enumerate() {
            assert_eq!((e.task, e.epoch, e.last_round), (0, i as u64, i as u64));
            let layers: Vec<Layer> = e.layers.iter().map(|l| l.layer).collect();
            assert_eq!(layers, Layer::ALL.to_vec());
        }
        let _guard = STORE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(r.state_root, store.head().unwrap().state_root);
        assert_eq!(r.state_root, report.state_root);
        assert_eq!(r.head, report.height);
    }

    #[test]
    fn cumulative_layers_never_decrease_and_shares_sum_to_one() {
        let (_, report) = run();
        let k = Knowledge::from_run(report).unwrap();
        let r = replay_run(&k);
        let cumulative = [
            Layer::MinerRewards,
            Layer::ValidatorRewards,
            Layer::EntityRewards,
            Layer::ModelOwnership,
            Layer::DataContribution,
            Layer::ComputeContribution,
        ];
        for pair in r.epochs.windows(2) {
            for layer in cumulative {
                let (a, b) = (pair[0].get(layer).unwrap(), pair[1].get(layer).unwrap());
                assert!(b.total >= a.total, "{layer:?} total fell");
                let later = by_name(b);
                for (name, x) in by_name(a) {
                    assert!(later[name] >= x, "{layer:?}: {name} fell from {x}");
                }
            }
        }
        let last = r.epochs.last().unwrap();
        assert!(last.get(Layer::EntityRewards).unwrap().total > 0.0);
        for e in &r.epochs {
            for row in &e.layers {
                assert_eq!(row.metrics.n, row.holdings.len(), "{:?}", row.layer);
                if row.total > 0.0 {
                    let shares: f64 = row.holdings.iter().map(|(_, x)| x / row.total).sum();
                    assert!((shares - 1.0).abs() < 1e-12, "{:?}: {shares}", row.layer);
                }
            }
            // Grouping by entity loses no payout: per-entity totals add up to what miners and
            // validators were paid (one task).
            let paid = e.get(Layer::MinerRewards).unwrap().total
                + e.get(Layer::ValidatorRewards).unwrap().total;
            assert_eq!(e.get(Layer::EntityRewards).unwrap().total, paid);
        }
    }

    #[test]
    fn model_and_data_layers_match_what_the_simulation_aggregated() {
        let (_, report) = run();
        let k = Knowledge::from_run(report).unwrap();
        let r = replay_run(&k);
        for e in &r.epochs {
            // From the simulator's own record of who went into each round's model.
            let rounds = &report.rounds[..=e.last_round as usize];
            let recorded = rounds.iter().filter(|x| !x.contributors.is_empty()).count();
            let samples: u64 = rounds
                .iter()
                .flat_map(|x| &x.contributors)
                .map(|&i| k.training[&report.actors[i].account].samples)
                .sum();
            let own = e.get(Layer::ModelOwnership).unwrap();
            assert!((own.total - recorded as f64).abs() < 1e-9, "{}", own.total);
            assert_eq!(
                e.get(Layer::DataContribution).unwrap().total,
                samples as f64
            );
        }
        // Free-riders reveal updates but train nothing: no compute; honest miners do.
        let compute = by_name(
            r.epochs
                .last()
                .unwrap()
                .get(Layer::ComputeContribution)
                .unwrap(),
        );
        for a in report.actors.iter().filter(|a| a.role == Role::Miner) {
            let trains = !matches!(
                a.kind.as_str(),
                "free_rider_noise" | "free_rider_copy" | "silent"
            );
            assert_eq!(compute[a.name.as_str()] > 0.0, trains, "{}", a.name);
        }
    }

    #[test]
    fn grouping_identities_by_owner_reduces_the_entity_count() {
        let (_, report) = run();
        let mut k = Knowledge::from_run(report).unwrap();
        let colluding = report
            .actors
            .iter()
            .filter(|a| a.kind == "colluding")
            .count();
        assert_eq!(colluding, 1);
        let grouped = replay_run(&k);
        let owners = std::mem::take(&mut k.owners);
        let alone = replay_run(&k);
        let n = |r: &Replay| {
            r.epochs
                .last()
                .unwrap()
                .get(Layer::EntityRewards)
                .unwrap()
                .metrics
                .n
        };
        assert_eq!(n(&alone), report.actors.len());
        assert_eq!(n(&grouped), report.actors.len() - colluding);
        assert_eq!(owners.len(), 2);
        // Every miner a Sybil identity of one owner: the validators plus one entity.
        for a in report.actors.iter().filter(|a| a.role == Role::Miner) {
            k.owners.insert(a.account, "sybil owner".into());
        }
        let sybil = replay_run(&k);
        let validators = report
            .actors
            .iter()
            .filter(|a| a.role == Role::Validator)
            .count();
        assert_eq!(n(&sybil), validators + 1);
        let last = |r: &Replay| {
            r.epochs
                .last()
                .unwrap()
                .get(Layer::EntityRewards)
                .unwrap()
                .clone()
        };
        assert_eq!(last(&sybil).total, last(&alone).total);
        assert!(last(&sybil).metrics.nakamoto_1_2 <= last(&alone).metrics.nakamoto_1_2);
        // Identity-level layers do not group.
        assert_eq!(
            sybil.epochs[0].get(Layer::MinerRewards).unwrap().metrics.n,
            report.scenario.miner_count()
        );
    }

    #[test]
    fn owners_named_in_the_scenario_group_their_identities() {
        let (_, report) = run();
        let mut named = report.clone();
        named.scenario.miners[0].owner = Some("operator".into());
        named.scenario.validators[0].owner = Some("operator".into());
        let k = Knowledge::from_run(&named).unwrap();
        let first_miners = named.scenario.miners[0].count;
        let first_validators = named.scenario.validators[0].count;
        let miners = named.scenario.miner_count();
        let expected: BTreeSet<AccountId> = report.actors[..first_miners]
            .iter()
            .chain(&report.actors[miners..miners + first_validators])
            .map(|a| a.account)
            .collect();
        let operator: BTreeSet<AccountId> = k
            .owners
            .iter()
            .filter(|(_, o)| o.as_str() == "operator")
            .map(|(a, _)| *a)
            .collect();
        assert_eq!(operator, expected);
        // The collusion pair still groups.
        assert_eq!(k.owners.len(), expected.len() + 2);
        // Without owners in the scenario, only the collusion pair groups.
        assert_eq!(Knowledge::from_run(report).unwrap().owners.len(), 2);
    }

    #[test]
    fn the_run_report_plots_and_tabulates_every_layer() {
        let (_, report) = run();
        let out = tempfile::tempdir().unwrap();
        {
            let _guard = STORE
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            crate::report::write(
                out.path(),
                report,
                None,
                crate::report::Provenance {
                    git_revision: "test".into(),
                    version: "0".into(),
                },
            )
            .unwrap();
        }
        let csv = std::fs::read_to_string(out.path().join("layers.csv")).unwrap();
        assert_eq!(csv.lines().count(), 1 + ROUNDS as usize * Layer::ALL.len());
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.path().join("layers.json")).unwrap())
                .unwrap();
        assert_eq!(json.as_array().unwrap().len() as u64, ROUNDS);
        let md = std::fs::read_to_string(out.path().join("report.md")).unwrap();
        assert!(md.contains("## Decentralization over time"));
        for layer in Layer::ALL {
            assert!(
                md.contains(layer.label()),
                "{layer:?} missing from report.md"
            );
        }
        for family in Layer::FAMILIES {
            for key in [
                "nakamoto",
                "nakamoto-third",
                "gini",
                "hhi",
                "entropy",
                "theil",
                "top1",
            ] {
                let name = crate::report::layers_plot_name(family, key);
                let png = std::fs::read(out.path().join(&name)).unwrap();
                assert!(png.starts_with(b"\x89PNG"), "{name}");
                if matches!(key, "nakamoto" | "gini") {
                    assert!(md.contains(&name), "{name} not shown in report.md");
                }
            }
        }
    }
}
