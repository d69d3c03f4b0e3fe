//! The production f32 path agrees with the f64 reference on the same (f32) inputs.

use deai_aggregation::{as_rows, from_spec};

use crate::common::{dataset, median_row_norm, specs, to_f32, widen};

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

/// The norm-clipping mean's production path takes three routes (rows clipped early, rows
/// found clipped in the fused pass and corrected, rows clipped so hard the sum is redone);
/// each must agree with the f64 reference, also when an attacker's row is huge.
#[test]
fn norm_clipping_routes_agree_with_reference() {
    // The fused pass is column-blocked (AVX-512) at any n; n = 9 and n = 20 cross the
    // 16-row threshold of the plain weighted sums used by the other routes.
    for n in [9usize, 20] {
        norm_clipping_routes_agree(n);
    }
}

fn norm_clipping_routes_agree(n: usize) {
    let d = 70_000usize;
    let ds = dataset(7, n, 2, d);
    let base = to_f32(&ds.x);
    let honest_norm = median_row_norm(&ds);
    let mut cases: Vec<(&str, Vec<Vec<f32>>, f64)> = Vec::new();
    // A scaled attacker (model replacement ×1e12): clipped early, must not swamp the sum.
    let mut huge = base.clone();
    huge[n - 1].iter_mut().for_each(|v| *v *= 1e12);
    cases.push(("huge row", huge, 1.1 * honest_norm));
    // All mass in the last columns: not visible in the prefix, clipped hard (redo route).
    let mut late = base.clone();
    late[n - 2].iter_mut().for_each(|v| *v *= 0.0);
    late[n - 2][d - 3] = 1e6;
    cases.push(("late hard clip", late, 1.1 * honest_norm));
    // Slightly too long everywhere: clipped mildly after the fused pass (correction route).
    let mut mild = base.clone();
    mild[n - 3].iter_mut().for_each(|v| *v *= 1.3);
    cases.push(("mild clip", mild, 1.1 * honest_norm));
    // An attacker at the f32 limit, every row clipped to a tiny norm: its coefficient
    // (~1e-45) is below f32's normal range, yet its clipped row counts as much as any other.
    let mut limit = base.clone();
    limit[n - 1]
        .iter_mut()
        .for_each(|v| *v = f32::MAX.copysign(*v) / 2.0);
    cases.push(("row at the f32 limit", limit, 1e-3));
    for (what, x32, max_norm) in cases {
        let x64 = widen(&x32);
        let params = serde_json::json!({ "max_norm": max_norm, "weights": ds.counts });
        let agg = from_spec("norm_clipping_mean", &params).unwrap();
        let want = agg.aggregate_f64(&as_rows(&x64)).unwrap();
        let got = agg.aggregate(&as_rows(&x32)).unwrap();
        let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (j, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (f64::from(*g) - w).abs() <= 2e-5 * scale,
                "{what} n={n} [{j}]: f32 {g} vs f64 {w}"
            );
        }
    }
}

/// Asserts that every coordinate of the production output is within `rel`·scale of the
/// reference output (scale = the largest |value| of the input, at least 1).
fn assert_close(rule: &str, x32: &[Vec<f32>], params: &serde_json::Value, rel: f64) {
    let x64 = widen(x32);
    let agg = from_spec(rule, params).unwrap();
    let want = agg.aggregate_f64(&as_rows(&x64)).unwrap();
    let got = agg.aggregate(&as_rows(x32)).unwrap();
    let scale = x64.iter().flatten().fold(1.0f64, |m, v| m.max(v.abs()));
    assert_eq!(got.len(), want.len());
    for (j, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            (f64::from(*g) - w).abs() <= rel * scale,
            "{rule} n={} [{j}]: f32 {g} vs f64 {w}",
            x32.len()
        );
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// The median and trimmed mean (packed column blocks, 16-row blocks sorted in registers,
    /// then the pruned network) equal the reference: the median exactly up to the final f32
    /// rounding, the trimmed mean to f64 summation order (tolerance 1e-6 of the input scale),
    /// for n across several 16-row blocks and d across the 64-column groups and the blocks.
    #[test]
    fn order_statistics_agree_with_reference_for_many_rows(
        n in 1usize..=120,
        d in 1usize..=700,
        k_frac in 0.0f64..0.5,
        seed in 0u64..1000,
    ) {
        let f = n / 5;
        let ds = dataset(seed, n, f, d);
        let mut x32 = to_f32(&ds.x);
        // Ties: copy some values across rows.
        if n > 2 {
            for j in (0..d).step_by(7) {
                x32[1][j] = x32[0][j];
            }
        }
        let k = ((k_frac * n as f64) as usize).min((n - 1) / 2);
        assert_close("coordinate_median", &x32, &serde_json::json!({}), 1e-7);
        assert_close("trimmed_mean", &x32, &serde_json::json!({ "k": k }), 1e-6);
    }
}

/// Multi-Krum's two production routes — the mean of the kept rows, or (from 32 rows, when
/// fewer rows are left out than kept) the column sums from the Gram pass minus the rows left
/// out — agree with the reference (f64 sums, one rounding: 2e-6 of the input scale). n = 10
/// and n = 12 keep most rows but take the direct mean (below 32 rows); n = 64 subtracts.
#[test]
fn multi_krum_routes_agree_with_reference() {
    for (seed, n, f, d, m) in [
        (1u64, 10usize, 2usize, 3001usize, None),
        (2, 30, 6, 20_000, None),
        (3, 64, 12, 5000, Some(60)),
        (4, 30, 6, 20_000, Some(5)), // keeps few: the direct mean
        (5, 12, 2, 777, Some(7)),
    ] {
        let ds = dataset(seed, n, f, d);
        let x32 = to_f32(&ds.x);
        let params = match m {
            Some(m) => serde_json::json!({ "f": f, "m": m }),
            None => serde_json::json!({ "f": f }),
        };
        assert_close("multi_krum", &x32, &params, 2e-6);
    }
}

/// The column-blocked kernels (16 rows or more: every row's piece of a 128-column block summed
/// in registers) agree with the reference for every rule whose last step is a weighted sum,
/// with d crossing the 128-column blocks and the 16384-column tasks and leaving a remainder.
#[test]
fn column_blocked_sums_agree_with_reference() {
    for (seed, n, f, d) in [
        (10u64, 5usize, 1usize, 16_384 + 77usize),
        (11, 16, 3, 129),
        (12, 20, 4, 40_077),
        (13, 37, 7, 16_384 + 3 * 128 + 5),
    ] {
        let ds = dataset(seed, n, f, d);
        let x32 = to_f32(&ds.x);
        let honest_norm = median_row_norm(&ds);
        let w = serde_json::json!({ "weights": ds.counts });
        assert_close("fedavg", &x32, &w, 2e-6);
        let clip = serde_json::json!({ "max_norm": honest_norm, "weights": ds.counts });
        assert_close("norm_clipping_mean", &x32, &clip, 2e-6);
        // m = n - 2 leaves out fewer rows than it keeps: at n = 37 the Gram column sums minus
        // those rows, at n = 5, 16 and 20 (below 32 rows) the column-blocked mean of the kept
        // rows.
        assert_close(
            "multi_krum",
            &x32,
            &serde_json::json!({ "f": f, "m": n - 2 }),
            2e-6,
        );
        assert_close(
            "multi_krum",
            &x32,
            &serde_json::json!({ "f": f, "m": 3 }),
            2e-6,
        );
        assert_close("geometric_median", &x32, &serde_json::json!({}), 2e-5);
        let cc = serde_json::json!({ "tau": 0.1 * honest_norm, "L": 3 });
        assert_close("centered_clipping", &x32, &cc, 2e-6);
    }
}

/// Both plain sums of the benchmark's bound are the sum of the matrix.
#[test]
fn plain_sums_are_the_matrix_sum() {
    for (n, d) in [(3usize, 5usize), (20, 40_077), (17, 128)] {
        let ds = dataset(21, n, 0, d);
        let x32 = to_f32(&ds.x);
        let flat: Vec<f32> = x32.iter().flatten().copied().collect();
        let want: f64 = flat.iter().map(|&v| f64::from(v)).sum();
        let abs: f64 = flat.iter().map(|&v| f64::from(v).abs()).sum();
        let blocked = deai_aggregation::fast::plain_sum_blocked(&as_rows(&x32));
        let contiguous = deai_aggregation::fast::plain_sum(&flat);
        for (what, got) in [("blocked", blocked), ("contiguous", contiguous)] {
            assert!(
                (f64::from(got) - want).abs() <= 1e-5 * abs.max(1.0),
                "{what} n={n} d={d}: {got} vs {want}"
            );
        }
    }
}

/// A coefficient below 2⁻⁶⁴ is applied in f64 by the column-blocked weighted sum, not in
/// f32: a tiny weight on a huge row still counts (here it dominates the mean).
#[test]
fn tiny_weights_on_huge_rows_count() {
    let (n, d) = (12usize, 16_384 + 200);
    let ds = dataset(21, n, 2, d);
    let mut x32 = to_f32(&ds.x);
    x32[0].iter_mut().for_each(|v| *v *= 1e28);
    let mut weights = vec![1.0f64; n];
    weights[0] = 1e-26;
    let x64 = widen(&x32);
    let agg = from_spec("fedavg", &serde_json::json!({ "weights": weights })).unwrap();
    let want = agg.aggregate_f64(&as_rows(&x64)).unwrap();
    let got = agg.aggregate(&as_rows(&x32)).unwrap();
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(scale > 1.0, "the huge row must dominate: {scale}");
    for (j, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            (f64::from(*g) - w).abs() <= 2e-5 * scale,
            "[{j}]: f32 {g} vs f64 {w}"
        );
    }
}
