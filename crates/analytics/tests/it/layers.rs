//! The layers of the shared run's chain: one row per epoch reaching the head's root, cumulative
//! layers that never fall, model and data contribution against the simulator's own record,
//! and grouping identities by owner.

use std::collections::BTreeSet;

use deai_analytics::{Knowledge, Layer, Replay};
use deai_store::Store;
use deai_types::{AccountId, Role};

use crate::fixture::{by_name, knowledge, replay_run, run, store_lock, ROUNDS};

#[test]
fn replay_has_one_row_per_epoch_and_reaches_the_head_root() {
    let (dir, report) = run();
    let k = knowledge();
    let r = replay_run(&k);
    assert_eq!(report.chain_dir, dir.path());
    assert_eq!(r.epochs.len() as u64, ROUNDS);
    for (i, e) in r.epochs.iter().enumerate() {
        assert_eq!((e.task, e.epoch, e.last_round), (0, i as u64, i as u64));
        let layers: Vec<Layer> = e.layers.iter().map(|l| l.layer).collect();
        assert_eq!(layers, Layer::ALL.to_vec());
    }
    let _guard = store_lock();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(r.state_root, store.head().unwrap().state_root);
    assert_eq!(r.state_root, report.state_root);
    assert_eq!(r.head, report.height);
}

#[test]
fn cumulative_layers_never_decrease_and_shares_sum_to_one() {
    let k = knowledge();
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
    let k = knowledge();
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
    let mut k = knowledge();
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
    let k = deai_sim::layers::knowledge(&named).unwrap();
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
    assert_eq!(knowledge().owners.len(), 2);
}

#[test]
fn without_knowledge_data_and_compute_are_left_out_and_accounts_go_by_id() {
    let r = replay_run(&Knowledge::default());
    let expected: Vec<Layer> = Layer::ALL
        .into_iter()
        .filter(|l| !l.needs_simulation())
        .collect();
    for e in &r.epochs {
        let layers: Vec<Layer> = e.layers.iter().map(|l| l.layer).collect();
        assert_eq!(layers, expected);
    }
    let (_, report) = run();
    let miners = by_name(r.epochs[0].get(Layer::MinerRewards).unwrap());
    for a in report.actors.iter().filter(|a| a.role == Role::Miner) {
        assert!(
            miners.contains_key(a.account.short().as_str()),
            "{}",
            a.name
        );
    }
}
