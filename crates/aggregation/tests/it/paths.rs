//! The production f32 path agrees with the f64 reference on the same (f32) inputs.

use deai_aggregation::{as_rows, from_spec};

use crate::common::{dataset, specs, to_f32, widen};

#[test]
fn f32_path_agrees_with_f64_path() {
    // d = 40_000 crosses the block and task boundaries of the fast kernels.
    for (seed, n, f, d) in [
        (1, 5, 1, 3),
        (2, 10, 2, 257),
        (3, 23, 4, 1000),
        (4, 12, 2, 40_000),
    ] {
        let ds = dataset(seed, n, f, d);
        let x32 = to_f32(&ds.x);
        let x64 = widen(&x32);
        let scale = x64.iter().flatten().fold(1.0f64, |m, v| m.max(v.abs()));
        for (rule, params) in specs(&ds, f) {
            let agg = from_spec(&rule, &params).unwrap();
            let want = agg.aggregate_f64(&as_rows(&x64)).unwrap();
            let got = agg.aggregate(&as_rows(&x32)).unwrap();
            assert_eq!(got.len(), d);
            // FoolsGold's logit amplifies f32 rounding of the cosines: looser.
            let tol = if rule == "foolsgold" { 1e-3 } else { 2e-5 } * scale;
            for (j, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (f64::from(*g) - w).abs() <= tol,
                    "{rule} n={n} d={d} [{j}]: f32 {g} vs f64 {w}"
                );
            }
        }
    }
}

#[test]
fn krum_picks_the_same_row_on_both_paths() {
    for seed in 0..20 {
        let ds = dataset(100 + seed, 11, 2, 500);
        let x32 = to_f32(&ds.x);
        let x64 = widen(&x32);
        let agg = from_spec("krum", &serde_json::json!({ "f": 2 })).unwrap();
        let got = agg.aggregate(&as_rows(&x32)).unwrap();
        let want = agg.aggregate_f64(&as_rows(&x64)).unwrap();
        let got64: Vec<f64> = got.iter().map(|&v| f64::from(v)).collect();
        assert_eq!(got64, want, "seed {seed}");
        assert!(!ds.byzantine.iter().any(|&b| x64[b] == want));
    }
}
