//! Datasets built like the reference vectors: honest rows μ + N(0, 0.5²), Byzantine rows
//! (large outliers 20·N(0,1), or −3μ + N(0, 0.1²)), shuffled; and the rule specs under test.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde_json::{json, Value};

/// (rows, byzantine indices, server update g₀, sample counts).
pub struct Dataset {
    pub x: Vec<Vec<f64>>,
    pub byzantine: Vec<usize>,
    pub g0: Vec<f64>,
    pub counts: Vec<f64>,
}

pub fn dataset(seed: u64, n: usize, f: usize, d: usize) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let std = Normal::new(0.0, 1.0).unwrap();
    let mu: Vec<f64> = (0..d).map(|_| std.sample(&mut rng)).collect();
    let mut x: Vec<(bool, Vec<f64>)> = Vec::new();
    for _ in 0..n - f {
        x.push((
            false,
            mu.iter().map(|m| m + 0.5 * std.sample(&mut rng)).collect(),
        ));
    }
    for b in 0..f {
        let row = if b % 2 == 0 {
            (0..d).map(|_| 20.0 * std.sample(&mut rng)).collect()
        } else {
            mu.iter()
                .map(|m| -3.0 * m + 0.1 * std.sample(&mut rng))
                .collect()
        };
        x.push((true, row));
    }
    x.shuffle(&mut rng);
    let byzantine = x
        .iter()
        .enumerate()
        .filter(|(_, r)| r.0)
        .map(|(i, _)| i)
        .collect();
    let g0 = mu.iter().map(|m| m + 0.25 * std.sample(&mut rng)).collect();
    let counts = (0..n).map(|i| (10 + (i * 37) % 90) as f64).collect();
    Dataset {
        x: x.into_iter().map(|r| r.1).collect(),
        byzantine,
        g0,
        counts,
    }
}

/// The median of the rows' Euclidean norms (upper median): a clipping bound that keeps the
/// honest rows of a dataset whose Byzantine rows are the larger ones.
pub fn median_row_norm(ds: &Dataset) -> f64 {
    let mut norms: Vec<f64> =
        ds.x.iter()
            .map(|r| r.iter().map(|v| v * v).sum::<f64>().sqrt())
            .collect();
    norms.sort_by(f64::total_cmp);
    norms[ds.x.len() / 2]
}

/// Every rule with parameters fitting the dataset (n rows, f Byzantine).
pub fn specs(ds: &Dataset, f: usize) -> Vec<(String, Value)> {
    let honest_norm = median_row_norm(ds);
    vec![
        ("fedavg".into(), json!({ "weights": ds.counts })),
        ("fedavg".into(), json!({})),
        ("coordinate_median".into(), json!({})),
        ("trimmed_mean".into(), json!({ "k": f })),
        ("trimmed_mean".into(), json!({ "beta": 0.2 })),
        ("krum".into(), json!({ "f": f })),
        ("multi_krum".into(), json!({ "f": f })),
        (
            "geometric_median".into(),
            json!({ "max_iter": 200, "tol": 1e-9 }),
        ),
        (
            "centered_clipping".into(),
            json!({ "tau": honest_norm * 0.1, "L": 3 }),
        ),
        ("fltrust".into(), json!({ "server_update": ds.g0 })),
        ("foolsgold".into(), json!({ "kappa": 1.0 })),
        (
            "norm_clipping_mean".into(),
            json!({ "max_norm": honest_norm }),
        ),
        ("nnm+krum".into(), json!({ "f": f })),
        ("nnm+coordinate_median".into(), json!({ "f": f })),
        (
            "nnm+trimmed_mean".into(),
            json!({ "nnm": { "f": f }, "k": f }),
        ),
    ]
}

pub fn to_f32(x: &[Vec<f64>]) -> Vec<Vec<f32>> {
    x.iter()
        .map(|r| r.iter().map(|&v| v as f32).collect())
        .collect()
}

pub fn widen(x: &[Vec<f32>]) -> Vec<Vec<f64>> {
    x.iter()
        .map(|r| r.iter().map(|&v| f64::from(v)).collect())
        .collect()
}
