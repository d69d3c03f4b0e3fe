//! Federated rounds: broadcast, local training on every client in parallel, aggregation.
//!
//! One round `r` with global parameters `g`:
//!
//! 1. every client `c` trains from `g` on its shard with seed
//!    [`seed::client_seed`]`(seed, r, c)` ([`train_local`]);
//! 2. its update is `Δc = new − g` with the blake3 hash of `Δc` ([`Update`]);
//! 3. an aggregation function maps the updates, in client order, to one update `Δ`
//!    ([`fedavg`] here — sample-weighted mean — or any robust rule given by the caller);
//! 4. the new global is `g + Δ`.
//!
//! Clients run as separate rayon tasks (largest shard first), each single-threaded, and the
//! updates are handed to the aggregator in client order; so a run is bit-identical for a seed
//! whatever the number of threads.

use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::error::MlError;
use crate::params::Update;
use crate::partition::Partition;
use crate::seed;
use crate::train::{train_local, LocalCfg};

/// One client's contribution to a round.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientUpdate {
    /// Client number (index in the partition).
    pub client: usize,
    /// Samples the client trained on (its shard size; the FedAvg weight).
    pub samples: usize,
    /// `new − global` and its hash.
    pub update: Update,
    /// Mean local training loss.
    pub train_loss: f32,
}

/// An aggregation rule: updates in client order → one update to add to the global model.
pub type AggregateFn<'a> = dyn Fn(&[ClientUpdate]) -> Result<Vec<f32>, MlError> + Sync + 'a;

/// FedAvg: the mean of the updates weighted by sample count (accumulated in f64, in client
/// order, element by element — parallel over elements, so the result does not depend on the
/// thread count).
pub fn fedavg(updates: &[ClientUpdate]) -> Result<Vec<f32>, MlError> {
    let Some(first) = updates.first() else {
        return Err(MlError::Aggregation(
            "FedAvg needs at least one update".into(),
        ));
    };
    let len = first.update.delta.len();
    if let Some(u) = updates.iter().find(|u| u.update.delta.len() != len) {
        return Err(MlError::LenMismatch {
            what: "FedAvg update lengths",
            left: len,
            right: u.update.delta.len(),
        });
    }
    let total: usize = updates.iter().map(|u| u.samples).sum();
    if total == 0 {
        return Err(MlError::Aggregation(
            "FedAvg: the updates hold zero samples in total".into(),
        ));
    }
    let weights: Vec<f64> = updates
        .iter()
        .map(|u| u.samples as f64 / total as f64)
        .collect();
    let mut out = vec![0.0f32; len];
    const CHUNK: usize = 4096;
    out.par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(c, chunk)| {
            let base = c * CHUNK;
            let mut acc = [0.0f64; CHUNK];
            let acc = &mut acc[..chunk.len()];
            for (u, &w) in updates.iter().zip(&weights) {
                for (a, &d) in acc
                    .iter_mut()
                    .zip(&u.update.delta[base..base + chunk.len()])
                {
                    *a += w * f64::from(d);
                }
            }
            for (o, a) in chunk.iter_mut().zip(acc.iter()) {
                *o = *a as f32;
            }
        });
    Ok(out)
}

/// Trains every client of `partition` from `global` (round `round`), in parallel.
pub fn train_clients(
    global: &[f32],
    data: &Dataset,
    partition: &Partition,
    cfg: &LocalCfg,
    seed: u64,
    round: u64,
) -> Result<Vec<ClientUpdate>, MlError> {
    // Largest shards first: better balance across cores; results are re-ordered by client.
    let mut order: Vec<usize> = (0..partition.len()).collect();
    order.sort_by_key(|&c| (std::cmp::Reverse(partition.clients[c].len()), c));
    let mut done: Vec<ClientUpdate> = order
        .par_iter()
        .with_max_len(1)
        .map(|&client| {
            let indices = &partition.clients[client];
            let trained = train_local(
                global,
                data,
                indices,
                cfg,
                seed::client_seed(seed, round, client as u64),
            )?;
            Ok(ClientUpdate {
                client,
                samples: indices.len(),
                update: Update::between(global, &trained.params)?,
                train_loss: trained.train_loss,
            })
        })
        .collect::<Result<_, MlError>>()?;
    done.sort_by_key(|u| u.client);
    Ok(done)
}

/// The outcome of one round.
#[derive(Debug, Clone)]
pub struct RoundOutcome {
    /// The new global parameters.
    pub global: Vec<f32>,
    /// The clients' updates, in client order.
    pub updates: Vec<ClientUpdate>,
    /// Sample-weighted mean of the clients' training losses.
    pub train_loss: f32,
    /// Wall time of local training (all clients, including update hashing).
    pub train_seconds: f64,
    /// Wall time of aggregation and applying the update.
    pub aggregate_seconds: f64,
}

/// Runs one federated round (see the module docs).
pub fn run_round(
    global: &[f32],
    data: &Dataset,
    partition: &Partition,
    cfg: &LocalCfg,
    seed: u64,
    round: u64,
    aggregate: &AggregateFn<'_>,
) -> Result<RoundOutcome, MlError> {
    let t0 = Instant::now();
    let updates = train_clients(global, data, partition, cfg, seed, round)?;
    let t1 = Instant::now();
    let delta = aggregate(&updates)?;
    if delta.len() != global.len() {
        return Err(MlError::LenMismatch {
            what: "aggregated update vs global",
            left: delta.len(),
            right: global.len(),
        });
    }
    let new: Vec<f32> = global.iter().zip(&delta).map(|(g, d)| g + d).collect();
    let t2 = Instant::now();
    let total: usize = updates.iter().map(|u| u.samples).sum();
    let train_loss = if total > 0 {
        (updates
            .iter()
            .map(|u| f64::from(u.train_loss) * u.samples as f64)
            .sum::<f64>()
            / total as f64) as f32
    } else {
        0.0
    };
    Ok(RoundOutcome {
        global: new,
        updates,
        train_loss,
        train_seconds: (t1 - t0).as_secs_f64(),
        aggregate_seconds: (t2 - t1).as_secs_f64(),
    })
}

/// One line of a run's history.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FlRoundRecord {
    /// Round number, from 1.
    pub round: u64,
    /// Test accuracy after the round.
    pub test_accuracy: f32,
    /// Test loss after the round.
    pub test_loss: f32,
    /// Mean local training loss.
    pub train_loss: f32,
    /// Seconds of local training.
    pub train_seconds: f64,
    /// Seconds of aggregation.
    pub aggregate_seconds: f64,
    /// Seconds of test evaluation.
    pub eval_seconds: f64,
}
