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

/// An update that only shrinks the mean's step earns nothing, even where shrinking helps.
///
/// Three honest updates (1 local epoch on IID shards) are scaled so that their mean overshoots
/// the best step along it by a quarter; a fourth update is Gaussian noise, as the noise
/// free-rider reveals. Leave-one-out alone pays the noise (removing it makes the step longer,
/// which is worse): the test checks that first, then that the honest validator scores it 0 and
/// still pays the honest updates.
#[test]
fn noise_that_only_dilutes_an_overshooting_mean_scores_zero() {
    use deai_ml::{evaluate, train_local, LocalCfg, ModelKind};
    use deai_sim::actors::{honest_scores, Candidate, ValidatorView};
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let splits = deai_ml::data::load_dir(&root.join("data/mnist-10k")).unwrap();
    let eval = splits.test.subset(&(0..400).collect::<Vec<_>>()).unwrap();
    let model = ModelKind::Mlp;
    let global = model.init(3);
    let deltas: Vec<Vec<f32>> = (0..3)
        .map(|c| {
            let idx: Vec<usize> = (c * 400..(c + 1) * 400).collect();
            let t =
                train_local(&global, &splits.train, &idx, &LocalCfg::default(), c as u64).unwrap();
            t.params.iter().zip(&global).map(|(p, g)| p - g).collect()
        })
        .collect();
    let loss = |w: &[f32]| f64::from(evaluate(model, w, &eval).unwrap().loss);
    let step = |scale: f32, parts: &[&Vec<f32>]| -> Vec<f32> {
        let k = parts.len() as f32;
        (0..global.len())
            .map(|i| global[i] + scale * parts.iter().map(|p| p[i]).sum::<f32>() / k)
            .collect()
    };
    // The best step along the honest mean, on a grid; scale the updates to overshoot it.
    let all3: Vec<&Vec<f32>> = deltas.iter().collect();
    let best = (1..=60)
        .map(|i| i as f32 * 0.5)
        .min_by(|&a, &b| loss(&step(a, &all3)).total_cmp(&loss(&step(b, &all3))))
        .unwrap();
    let overshoot = best / 0.8;
    let honest: Vec<Vec<f32>> = deltas
        .iter()
        .map(|d| d.iter().map(|x| x * overshoot).collect())
        .collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let normal = Normal::new(0.0f32, 0.01).unwrap();
    let noise: Vec<f32> = (0..global.len()).map(|_| normal.sample(&mut rng)).collect();

    let with_noise: Vec<&Vec<f32>> = honest.iter().chain([&noise]).collect();
    let without: Vec<&Vec<f32>> = honest.iter().collect();
    let loo_noise = loss(&step(1.0, &without)) - loss(&step(1.0, &with_noise));
    assert!(
        loo_noise > 0.0,
        "setup: leave-one-out should pay the noise here (gain {loo_noise}, best scale {best})"
    );

    let candidates: Vec<Candidate<'_>> = with_noise
        .iter()
        .enumerate()
        .map(|(j, d)| Candidate {
            blob: [j as u8; 32],
            origin: None,
            delta: d,
        })
        .collect();
    let view = ValidatorView {
        round: 1,
        model,
        global: &global,
        seen: &[],
        last_consensus: None,
    };
    let scores = honest_scores(&view, &candidates, &eval).unwrap();
    assert_eq!(scores[3], 0.0, "the noise was paid: {scores:?}");
    assert!(
        scores[..3].iter().any(|&s| s > 0.0),
        "no honest update was paid: {scores:?}"
    );
}
