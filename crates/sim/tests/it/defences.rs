//! The evaluation defences: blind validation against a colluding validator, a secret holdout
//! set against a lookup (overfitting) attacker. Each test runs the same scenario with the
//! defence off and on.

use std::path::Path;

use deai_sim::runner::RunReport;
use deai_sim::{RunOptions, Scenario, Sim};

fn run(s: &Scenario) -> RunReport {
    let dir = tempfile::tempdir().unwrap();
    Sim::new(
        s,
        &RunOptions {
            dir: dir.path().to_path_buf(),
        },
    )
    .unwrap()
    .run(|_| {})
    .unwrap()
}

fn parse(text: &str) -> Scenario {
    Scenario::from_toml(text, Path::new("defence.toml")).unwrap()
}

fn miner_share(r: &RunReport, actor: usize) -> f64 {
    let totals = r.total_rewards();
    let miners: u128 = r
        .actors
        .iter()
        .zip(&totals)
        .filter(|(a, _)| a.role == deai_types::Role::Miner)
        .map(|(_, t)| *t)
        .sum();
    totals[actor] as f64 / miners.max(1) as f64
}

#[test]
fn blind_validation_hides_the_partner_from_a_colluding_validator() {
    // The colluder holds 3/4 of the validator stake, so its weights are the consensus: whatever
    // it boosts gets paid. Its partner (miner 3) reveals noise.
    let text = |blind: bool| {
        format!(
            "seed = 2\nrounds = 3\n[data]\npartition = \"iid\"\n\
             [task]\nblind_validation = {blind}\n\
             [[miners]]\nkind = \"honest\"\ncount = 3\n\
             [[miners]]\nkind = \"free_rider\"\nmode = \"noise\"\n\
             [[validators]]\nkind = \"honest\"\nstake = 100000\n\
             [[validators]]\nkind = \"colluding\"\npartner = 3\nstake = 300000\n"
        )
    };
    let open = run(&parse(&text(false)));
    let blind = run(&parse(&text(true)));
    let (seen, hidden) = (miner_share(&open, 3), miner_share(&blind, 3));
    eprintln!("partner share: not blind {seen:.4}, blind {hidden:.4}");
    // Not blind: the colluder finds its partner by origin and it earns a full miner's share.
    assert!(seen > 0.15, "not blind: partner share {seen}");
    // Blind: it cannot tell which update is its partner's and scores the noise honestly.
    assert!(hidden < 0.02, "blind: partner share {hidden}");
    assert!(blind.honest_miner_share() > open.honest_miner_share());
}

#[test]
fn holdout_set_exposes_a_lookup_attacker() {
    let text = |holdout: usize| {
        format!(
            "seed = 5\nrounds = 3\n[data]\npartition = \"iid\"\nvalidator_samples = 300\n\
             holdout_samples = {holdout}\n\
             [[miners]]\nkind = \"honest\"\ncount = 3\n\
             [[miners]]\nkind = \"overfitter\"\n\
             [[validators]]\nkind = \"honest\"\ncount = 2\n"
        )
    };
    let public = run(&parse(&text(0)));
    let held = run(&parse(&text(300)));
    let (fooled, caught) = (miner_share(&public, 3), miner_share(&held, 3));
    eprintln!("overfitter share: public set only {fooled:.4}, with holdout {caught:.4}");
    // On the set it trained on the attacker looks useful and is paid ...
    assert!(fooled > 0.1, "public only: overfitter share {fooled}");
    // ... on a set it never saw it is not.
    assert!(caught < fooled / 2.0, "with holdout: {caught} vs {fooled}");
}
