//! Properties: permutation invariance, the median and trimmed mean stay inside the
//! coordinate-wise range of the honest rows when f < n/2, FedAvg of identical rows is that row.

use deai_aggregation::{as_rows, from_spec};
use proptest::prelude::*;
use serde_json::json;

fn matrix(max_n: usize, max_d: usize) -> impl Strategy<Value = Vec<Vec<f64>>> {
    (3..=max_n, 1..=max_d).prop_flat_map(|(n, d)| {
        prop::collection::vec(prop::collection::vec(-100.0f64..100.0, d), n)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn permutation_invariance(x in matrix(12, 6), seed in any::<u64>()) {
        let n = x.len();
        let f = (n - 3) / 2;
        let mut perm: Vec<usize> = (0..n).collect();
        let mut s = seed;
        for i in (1..n).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            perm.swap(i, (s >> 33) as usize % (i + 1));
        }
        let y: Vec<Vec<f64>> = perm.iter().map(|&i| x[i].clone()).collect();
        let rules = [
            ("fedavg", json!({})),
            ("coordinate_median", json!({})),
            ("trimmed_mean", json!({ "k": f })),
            ("krum", json!({ "f": f })),
            ("multi_krum", json!({ "f": f })),
            ("geometric_median", json!({ "max_iter": 100 })),
            ("norm_clipping_mean", json!({ "max_norm": 50.0 })),
            ("centered_clipping", json!({ "tau": 10.0, "L": 2 })),
            ("nnm+coordinate_median", json!({ "f": f })),
        ];
        // Tied Krum scores go to the lower index, which a permutation moves: skip those cases.
        let mut scores = deai_aggregation::reference::krum_scores_of(&as_rows(&x), n - f - 2);
        scores.sort_by(f64::total_cmp);
        let krum_tie = scores.windows(2).any(|w| (w[1] - w[0]).abs() <= 1e-6 * w[1].abs().max(1.0));
        for (rule, params) in rules {
            if krum_tie && rule.contains("krum") {
                continue;
            }
            let agg = from_spec(rule, &params).unwrap();
            let a = agg.aggregate_f64(&as_rows(&x)).unwrap();
            let b = agg.aggregate_f64(&as_rows(&y)).unwrap();
            for (p, q) in a.iter().zip(&b) {
                prop_assert!((p - q).abs() <= 1e-9 * p.abs().max(1.0), "{} {} {}", rule, p, q);
            }
            let x32: Vec<Vec<f32>> = x.iter().map(|r| r.iter().map(|&v| v as f32).collect()).collect();
            let y32: Vec<Vec<f32>> = y.iter().map(|r| r.iter().map(|&v| v as f32).collect()).collect();
            let a = agg.aggregate(&as_rows(&x32)).unwrap();
            let b = agg.aggregate(&as_rows(&y32)).unwrap();
            for (p, q) in a.iter().zip(&b) {
                prop_assert!((p - q).abs() <= 1e-4 * p.abs().max(1.0), "fast {} {} {}", rule, p, q);
            }
        }
    }

    #[test]
    fn median_and_trimmed_mean_stay_in_the_honest_range(
        honest in matrix(9, 5),
        byz_values in prop::collection::vec(-1e6f64..1e6, 1..40),
    ) {
        let h = honest.len();
        let d = honest[0].len();
        // f < n/2: at most h - 1 Byzantine rows.
        let f = (byz_values.len() / d).clamp(1, h - 1);
        let mut x = honest.clone();
        for b in 0..f {
            x.push((0..d).map(|j| byz_values[(b * d + j) % byz_values.len()]).collect());
        }
        let lo: Vec<f64> = (0..d).map(|j| honest.iter().map(|r| r[j]).fold(f64::INFINITY, f64::min)).collect();
        let hi: Vec<f64> = (0..d).map(|j| honest.iter().map(|r| r[j]).fold(f64::NEG_INFINITY, f64::max)).collect();
        let x32: Vec<Vec<f32>> = x.iter().map(|r| r.iter().map(|&v| v as f32).collect()).collect();
        for (rule, params) in [("coordinate_median", json!({})), ("trimmed_mean", json!({ "k": f }))] {
            let agg = from_spec(rule, &params).unwrap();
            let out = agg.aggregate_f64(&as_rows(&x)).unwrap();
            let fast = agg.aggregate(&as_rows(&x32)).unwrap();
            for j in 0..d {
                prop_assert!(out[j] >= lo[j] - 1e-9 && out[j] <= hi[j] + 1e-9, "{} [{}] {} not in [{}, {}]", rule, j, out[j], lo[j], hi[j]);
                let v = f64::from(fast[j]);
                prop_assert!(v >= lo[j] - 1e-4 && v <= hi[j] + 1e-4, "fast {} [{}] {}", rule, j, v);
            }
        }
    }

    #[test]
    fn fedavg_of_identical_rows_is_that_row(
        row in prop::collection::vec(-1e3f64..1e3, 1..50),
        n in 1usize..20,
        weights in prop::collection::vec(1.0f64..100.0, 20),
    ) {
        let x: Vec<Vec<f64>> = vec![row.clone(); n];
        let agg = from_spec("fedavg", &json!({ "weights": weights[..n] })).unwrap();
        let out = agg.aggregate_f64(&as_rows(&x)).unwrap();
        for (o, r) in out.iter().zip(&row) {
            prop_assert!((o - r).abs() <= 1e-12 * r.abs().max(1.0));
        }
        let x32: Vec<Vec<f32>> = x.iter().map(|r| r.iter().map(|&v| v as f32).collect()).collect();
        let out = agg.aggregate(&as_rows(&x32)).unwrap();
        prop_assert_eq!(out, x32[0].clone());
    }
}
