//! Each attack changes the update the way it claims to.

use deai_aggregation::attacks::{
    honest_moments, normal_quantile, Alie, AttackError, AttackKind, FreeRide, FreeRider,
    GaussianNoise, Ipm, MinMax, MinSum, Perturbation, RoundView, Scaling, SignFlip, Sybil,
    UpdateAttack,
};

use crate::common::{dataset, to_f32};

fn honest(n: usize, d: usize) -> Vec<Vec<f32>> {
    to_f32(&dataset(42, n, 0, d).x)
}

fn view<'a>(honest: &'a [&'a [f32]], own: &'a [f32], n: usize, f: usize) -> RoundView<'a> {
    RoundView {
        honest,
        own,
        n,
        f,
        round: 3,
        identity: 0,
        seed: 9,
    }
}

fn sq(a: &[f64], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, &y)| (x - f64::from(y)).powi(2))
        .sum()
}

#[test]
fn sign_flip_negates_and_scaling_scales() {
    let h = honest(5, 100);
    let rows: Vec<&[f32]> = h.iter().map(Vec::as_slice).collect();
    let v = view(&rows, &h[0], 6, 1);
    let flipped = SignFlip { scale: 1.0 }.craft(&v).unwrap();
    assert!(flipped.iter().zip(&h[0]).all(|(a, b)| *a == -*b));
    let scaled = Scaling { factor: 10.0 }.craft(&v).unwrap();
    assert!(scaled
        .iter()
        .zip(&h[0])
        .all(|(a, b)| *a == (10.0 * f64::from(*b)) as f32));
    let replaced = Scaling::model_replacement(20, 0.5).craft(&v).unwrap();
    assert!(replaced
        .iter()
        .zip(&h[0])
        .all(|(a, b)| *a == (40.0 * f64::from(*b)) as f32));
}

#[test]
fn gaussian_noise_has_its_std_and_is_seeded() {
    let own = vec![0.0f32; 20_000];
    let v = view(&[], &own, 10, 2);
    let mut g = GaussianNoise { std: 3.0 };
    let a = g.craft(&v).unwrap();
    let b = g.craft(&v).unwrap();
    assert_eq!(a, b, "same seed, round and identity");
    let c = g.craft(&RoundView { round: 4, ..v }).unwrap();
    assert_ne!(a, c);
    let m = a.iter().map(|&x| f64::from(x)).sum::<f64>() / a.len() as f64;
    let s = (a.iter().map(|&x| (f64::from(x) - m).powi(2)).sum::<f64>() / a.len() as f64).sqrt();
    assert!(m.abs() < 0.1 && (s - 3.0).abs() < 0.1, "mean {m} std {s}");
    let many = g.craft_many(&v, 3).unwrap();
    assert_ne!(
        many[0], many[1],
        "independent identities draw independent noise"
    );
}

#[test]
fn alie_stays_within_mean_plus_minus_z_std() {
    let h = honest(40, 300);
    let rows: Vec<&[f32]> = h.iter().map(Vec::as_slice).collect();
    let (n, f) = (50, 10);
    // The paper's z: s = ⌊n/2 + 1⌋ − f = 16, z = Φ⁻¹((n − s)/n) = Φ⁻¹(0.68).
    let z = Alie::z_for(n, f);
    assert!((z - normal_quantile(0.68)).abs() < 1e-12);
    assert!((normal_quantile(0.68) - 0.467_698_799_114_5).abs() < 1e-8);
    assert!((normal_quantile(0.975) - 1.959_963_984_540_054).abs() < 1e-8);
    let out = Alie::default().craft(&view(&rows, &h[0], n, f)).unwrap();
    let (mean, std) = honest_moments(&rows);
    for j in 0..300 {
        let v = f64::from(out[j]);
        assert!((v - (mean[j] - z * std[j])).abs() <= 1e-5 * (1.0 + mean[j].abs() + std[j]));
        assert!(v >= mean[j] - z * std[j] - 1e-4 && v <= mean[j] + z * std[j] + 1e-4);
    }
    assert_eq!(
        Alie::default().craft(&view(&[], &h[0], n, f)),
        Err(AttackError::NoHonestUpdates { attack: "alie" })
    );
}

#[test]
fn ipm_is_minus_epsilon_times_the_mean() {
    let h = honest(8, 50);
    let rows: Vec<&[f32]> = h.iter().map(Vec::as_slice).collect();
    let out = Ipm { epsilon: 0.5 }
        .craft(&view(&rows, &h[0], 10, 2))
        .unwrap();
    let (mean, _) = honest_moments(&rows);
    for (o, m) in out.iter().zip(&mean) {
        assert!((f64::from(*o) + 0.5 * m).abs() < 1e-6);
    }
    let inner: f64 = out.iter().zip(&mean).map(|(o, m)| f64::from(*o) * m).sum();
    assert!(inner < 0.0, "negative inner product with the honest mean");
}

#[test]
fn min_max_and_min_sum_sit_on_their_distance_bounds() {
    let h = honest(12, 200);
    let rows: Vec<&[f32]> = h.iter().map(Vec::as_slice).collect();
    let widen = |r: &[f32]| r.iter().map(|&v| f64::from(v)).collect::<Vec<f64>>();
    let max_pair = rows
        .iter()
        .flat_map(|a| rows.iter().map(move |b| sq(&widen(a), b)))
        .fold(0.0, f64::max);
    let max_sum = rows
        .iter()
        .map(|a| rows.iter().map(|b| sq(&widen(a), b)).sum::<f64>())
        .fold(0.0, f64::max);
    for p in [
        Perturbation::InverseStd,
        Perturbation::InverseUnit,
        Perturbation::InverseSign,
    ] {
        let mm = MinMax {
            perturbation: p,
            gamma0: 10.0,
        };
        let (m, gamma) = mm.craft_with_gamma(&rows);
        assert!(gamma > 0.0, "{p:?}");
        let worst = rows.iter().map(|r| sq(&m, r)).fold(0.0, f64::max);
        assert!(
            worst <= max_pair * (1.0 + 1e-12),
            "{p:?}: {worst} > {max_pair}"
        );
        // A slightly larger γ breaks the bound: γ is (near) the largest that passes.
        let (mean, std) = honest_moments(&rows);
        let dir: Vec<f64> = match p {
            Perturbation::InverseStd => std.iter().map(|s| -s).collect(),
            Perturbation::InverseUnit => {
                let nrm = mean.iter().map(|x| x * x).sum::<f64>().sqrt();
                mean.iter().map(|x| -x / nrm).collect()
            }
            Perturbation::InverseSign => mean.iter().map(|x| -x.signum()).collect(),
        };
        let beyond: Vec<f64> = mean
            .iter()
            .zip(&dir)
            .map(|(a, q)| a + (gamma * 1.01 + 1e-4) * q)
            .collect();
        assert!(
            rows.iter().map(|r| sq(&beyond, r)).fold(0.0, f64::max) > max_pair,
            "{p:?}"
        );

        let ms = MinSum {
            perturbation: p,
            gamma0: 10.0,
        };
        let (m, gamma) = ms.craft_with_gamma(&rows);
        assert!(gamma > 0.0);
        let total: f64 = rows.iter().map(|r| sq(&m, r)).sum();
        assert!(total <= max_sum * (1.0 + 1e-12), "{p:?}");
        let beyond: Vec<f64> = mean
            .iter()
            .zip(&dir)
            .map(|(a, q)| a + (gamma * 1.01 + 1e-4) * q)
            .collect();
        assert!(
            rows.iter().map(|r| sq(&beyond, r)).sum::<f64>() > max_sum,
            "{p:?}"
        );
    }
}

#[test]
fn free_riders_send_nothing_or_the_same_stale_update() {
    let h = honest(3, 10);
    let mut zero = FreeRider::new(FreeRide::Zero);
    assert!(zero
        .craft(&view(&[], &h[0], 4, 1))
        .unwrap()
        .iter()
        .all(|v| *v == 0.0));
    let mut stale = FreeRider::new(FreeRide::Stale);
    let first = stale.craft(&view(&[], &h[0], 4, 1)).unwrap();
    let later = stale
        .craft(&RoundView {
            round: 9,
            ..view(&[], &h[1], 4, 1)
        })
        .unwrap();
    assert_eq!(first, h[0]);
    assert_eq!(later, h[0], "keeps re-sending round one's update");
}

#[test]
fn sybils_submit_identical_updates() {
    let h = honest(6, 64);
    let rows: Vec<&[f32]> = h.iter().map(Vec::as_slice).collect();
    let mut s = Sybil {
        k: 4,
        inner: Box::new(GaussianNoise { std: 1.0 }),
    };
    let out = s.craft_many(&view(&rows, &h[0], 10, 4), 4).unwrap();
    assert_eq!(out.len(), 4);
    assert!(out.iter().all(|u| *u == out[0]));
    assert!(!s.omniscient());
    let s = Sybil {
        k: 2,
        inner: Box::new(Alie::default()),
    };
    assert!(s.omniscient());
}

#[test]
fn attack_kinds_parse_and_round_trip() {
    let cases = [
        ("alie", AttackKind::Alie(None)),
        ("ipm:0.5", AttackKind::Ipm(0.5)),
        ("scaling:10", AttackKind::Scaling(10.0)),
        ("sign_flip", AttackKind::SignFlip(1.0)),
        ("gaussian:200", AttackKind::Gaussian(200.0)),
        (
            "min_max:unit",
            AttackKind::MinMax(Perturbation::InverseUnit),
        ),
        ("min_sum", AttackKind::MinSum(Perturbation::InverseStd)),
        ("free_rider:stale", AttackKind::FreeRider(FreeRide::Stale)),
        (
            "sybil:5:sign_flip",
            AttackKind::Sybil(5, Box::new(AttackKind::SignFlip(1.0))),
        ),
        (
            "model_replacement:10:0.5",
            AttackKind::ModelReplacement {
                n: 10,
                server_lr: 0.5,
            },
        ),
        ("label_flip", AttackKind::LabelFlip(1)),
        ("backdoor:7", AttackKind::Backdoor(7)),
        ("none", AttackKind::None),
    ];
    for (text, kind) in cases {
        let parsed: AttackKind = text.parse().unwrap();
        assert_eq!(parsed, kind, "{text}");
        assert_eq!(
            parsed.to_string().parse::<AttackKind>().unwrap(),
            kind,
            "{text} round trip"
        );
        let is_data = matches!(kind, AttackKind::LabelFlip(_) | AttackKind::Backdoor(_));
        assert_eq!(parsed.is_data_attack(), is_data);
        assert_eq!(
            parsed.update_attack().is_some(),
            !is_data && kind != AttackKind::None,
            "{text}"
        );
    }
    for bad in [
        "alie:x",
        "ipm:",
        "sybil:0:alie",
        "sybil:3",
        "min_max:up",
        "teleport",
        "free_rider:late",
    ] {
        match bad.parse::<AttackKind>() {
            Err(AttackError::Parse { input, .. }) => assert_eq!(input, bad),
            other => panic!("{bad}: {other:?}"),
        }
    }
}
