//! Measuring the layers of one (task, epoch) on the replayed state, and finishing the layers
//! that wait for later blocks (see [`crate::layer`] for each definition).
//!
//! [`snapshot`] runs when a block's end processes an epoch: it adds the epoch's payouts to the
//! running sums and measures every layer the state and the epoch record already determine. The
//! model, data and compute layers need the `RecordModel` transactions of the epoch's rounds,
//! which land in later blocks, so [`Pending::finish`] measures them once the replay reached the
//! head, and appends governance power last to keep [`Layer::ALL`] order.

use std::collections::BTreeMap;

use deai_chain::{EpochRecord, State};
use deai_types::{AccountId, Role, TaskId, Uid};

use crate::layer::{EpochLayers, Layer, LayerRow};
use crate::replay::{Accumulators, LayersError};
use crate::{Knowledge, Training};

/// An epoch measured on the state; the model, data and compute layers wait for the model
/// records of its rounds, which land in later blocks.
pub(crate) struct Pending {
    /// The layers measured so far.
    row: EpochLayers,
    /// The task.
    task: TaskId,
    /// The task's miners at the epoch.
    miners: Vec<AccountId>,
    /// Layers that follow the pending ones in [`Layer::ALL`] order (governance power).
    tail: Vec<LayerRow>,
}

impl Pending {
    /// Measures the model, data and compute layers from what the whole replay collected.
    pub(crate) fn finish(
        mut self,
        acc: &Accumulators,
        k: &Knowledge,
    ) -> Result<EpochLayers, LayersError> {
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

/// A layer of integer holdings (exact Nakamoto thresholds).
fn amounts(layer: Layer, holdings: Vec<(String, u128)>) -> LayerRow {
    let values: Vec<u128> = holdings.iter().map(|(_, x)| *x).collect();
    LayerRow {
        layer,
        total: values.iter().map(|&x| x as f64).sum(),
        metrics: deai_metrics::metrics_of_amounts(&values),
        holdings: holdings.into_iter().map(|(n, x)| (n, x as f64)).collect(),
    }
}

/// A layer of real holdings; a negative or non-finite one is an error.
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

/// Measures every layer of `task` at `epoch` the state and `record` determine, after adding
/// the epoch's payouts to the running sums.
pub(crate) fn snapshot(
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
