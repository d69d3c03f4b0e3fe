//! The reference vectors in `tests/vectors/metrics.json`, and the definitions checked directly
//! on other cases.

use deai_metrics::{metrics, metrics_of_amounts, Metrics};
use serde::Deserialize;

#[derive(Deserialize)]
struct File {
    meta: Meta,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Meta {
    suggested_tolerance: Tolerance,
}

#[derive(Deserialize)]
struct Tolerance {
    abs: f64,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    input: Vec<f64>,
    expected: serde_json::Map<String, serde_json::Value>,
}

fn load() -> File {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vectors/metrics.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn reference_vectors_match_every_field() {
    let file = load();
    let tol = file.meta.suggested_tolerance.abs;
    assert!(tol <= 1e-12);
    assert!(!file.cases.is_empty());
    for case in &file.cases {
        let got = serde_json::to_value(metrics(&case.input).unwrap()).unwrap();
        assert!(!case.expected.is_empty());
        for (key, want) in &case.expected {
            let have = &got[key.as_str()];
            assert!(!have.is_null(), "{}: no field {key}", case.name);
            let (want, have) = (want.as_f64().unwrap(), have.as_f64().unwrap());
            if key.starts_with("nakamoto") || key == "n" {
                assert_eq!(want, have, "{}: {key}", case.name);
            } else {
                assert!(
                    (want - have).abs() <= tol,
                    "{}: {key} = {have}, expected {want}",
                    case.name
                );
            }
        }
    }
}

/// The definitions of the README written out literally (double-sum Gini, shares, logs), in f64.
pub fn by_definition(x: &[f64]) -> Metrics {
    let n = x.len();
    let total: f64 = x.iter().sum();
    let mut m = Metrics {
        gini: 0.0,
        nakamoto_1_2: 0,
        nakamoto_1_3: 0,
        hhi: 0.0,
        entropy_normalized: 0.0,
        theil: 0.0,
        top_1_share: 0.0,
        top_3_share: 0.0,
        top_5_share: 0.0,
        top_10_share: 0.0,
        n,
    };
    if total == 0.0 {
        return m;
    }
    let mean = total / n as f64;
    if n > 1 {
        let mut pairs = 0.0;
        for a in x {
            for b in x {
                pairs += (a - b).abs();
            }
        }
        m.gini = pairs / (2.0 * (n * n) as f64 * mean);
        let h: f64 = x
            .iter()
            .filter(|v| **v > 0.0)
            .map(|v| -(v / total) * (v / total).ln())
            .sum();
        m.entropy_normalized = h / (n as f64).ln();
        m.theil = x
            .iter()
            .filter(|v| **v > 0.0)
            .map(|v| (v / mean) * (v / mean).ln())
            .sum::<f64>()
            / n as f64;
    }
    m.hhi = x.iter().map(|v| (v / total) * (v / total)).sum();
    let mut desc = x.to_vec();
    desc.sort_by(|a, b| b.total_cmp(a));
    let top = |k: usize| -> f64 {
        if k >= n {
            1.0
        } else {
            desc[..k].iter().sum::<f64>() / total
        }
    };
    m.top_1_share = top(1);
    m.top_3_share = top(3);
    m.top_5_share = top(5);
    m.top_10_share = top(10);
    m
}

/// Nakamoto by definition on integers: exact sums in u128.
pub fn nakamoto_by_definition(x: &[u64], num: u128, den: u128) -> usize {
    let total: u128 = x.iter().map(|v| u128::from(*v)).sum();
    if total == 0 {
        return 0;
    }
    let mut desc = x.to_vec();
    desc.sort_unstable_by(|a, b| b.cmp(a));
    let mut prefix = 0u128;
    for (k, v) in desc.iter().enumerate() {
        prefix += u128::from(*v);
        if den * prefix > num * total {
            return k + 1;
        }
    }
    unreachable!("a positive total always exceeds a fraction of itself")
}

pub fn assert_close(a: &Metrics, b: &Metrics, tol: f64) {
    let pairs = [
        ("gini", a.gini, b.gini),
        ("hhi", a.hhi, b.hhi),
        (
            "entropy_normalized",
            a.entropy_normalized,
            b.entropy_normalized,
        ),
        ("theil", a.theil, b.theil),
        ("top_1_share", a.top_1_share, b.top_1_share),
        ("top_3_share", a.top_3_share, b.top_3_share),
        ("top_5_share", a.top_5_share, b.top_5_share),
        ("top_10_share", a.top_10_share, b.top_10_share),
    ];
    for (name, x, y) in pairs {
        assert!((x - y).abs() <= tol, "{name}: {x} vs {y}");
    }
    assert_eq!(a.n, b.n);
}

#[test]
fn hand_built_cases_follow_the_definitions() {
    let cases: Vec<Vec<u64>> = vec![
        vec![],
        vec![0],
        vec![0, 0, 0],
        vec![9],
        vec![1, 1],
        vec![2, 1, 1],
        vec![5, 3, 2],
        vec![1, 1, 1],
        vec![3, 0, 0, 0, 0],
        vec![10; 10],
        vec![1000, 10, 10, 10, 10, 10, 10, 10, 10, 10],
        (1..=40).collect(),
        (0..64).map(|i| 1u64 << (i % 20)).collect(),
    ];
    for case in cases {
        let as_f64: Vec<f64> = case.iter().map(|v| *v as f64).collect();
        let as_u128: Vec<u128> = case.iter().map(|v| u128::from(*v)).collect();
        let want = by_definition(&as_f64);
        let got = metrics(&as_f64).unwrap();
        assert_close(&got, &want, 1e-12);
        assert_close(&metrics_of_amounts(&as_u128), &want, 1e-12);
        for (num, den, have) in [
            (1, 2, got.nakamoto_1_2),
            (1, 3, got.nakamoto_1_3),
            (1, 2, metrics_of_amounts(&as_u128).nakamoto_1_2),
            (1, 3, metrics_of_amounts(&as_u128).nakamoto_1_3),
        ] {
            assert_eq!(
                have,
                nakamoto_by_definition(&case, num, den),
                "{case:?} at {num}/{den}"
            );
        }
    }
}
