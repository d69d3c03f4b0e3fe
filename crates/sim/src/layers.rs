//! The simulator's side of the decentralization layers: what a run knows about its chain that
//! the chain does not record ([`knowledge`]). The replay, the layers and their definitions are
//! `deai-analytics` ([`deai_analytics::replay`]); the report writes them
//! ([`crate::report::write_layers`]).

use std::collections::BTreeMap;

pub use deai_analytics::LayersError;
use deai_analytics::{Knowledge, Training};
use deai_types::Role;

use crate::runner::RunReport;
use crate::scenario::ValidatorKind;
use crate::SimError;

impl From<LayersError> for SimError {
    fn from(e: LayersError) -> Self {
        SimError::Layers(e)
    }
}

/// What a simulated run knows: actor names; the entity of each actor — a colluding
/// validator and its partner miner are one entity (the scenario says they act together),
/// every other actor its own; each miner's shard size and local epochs (0 passes for a
/// free-rider or silent miner, which train nothing; every other kind trains on its shard,
/// as `Miner::samples` says); FLOPs per sample `6 × parameters`.
/// Reloads the scenario's dataset to recompute the (seeded) partition.
pub fn knowledge(report: &RunReport) -> Result<Knowledge, SimError> {
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
