//! Properties every decentralization metric must have, checked with proptest.

use deai_metrics::{metrics, metrics_of_amounts, Holdings, Threshold};
use proptest::prelude::*;

use crate::vectors::{assert_close, by_definition, nakamoto_by_definition};

fn holdings() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(
        prop_oneof![
            3 => 0.0f64..1e6,
            1 => Just(0.0),
            1 => (0u32..1000).prop_map(f64::from),
            1 => (1.0f64..2.0).prop_map(|m| m * 1e300),
        ],
        0..80,
    )
}

fn integer_holdings() -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(prop_oneof![0u64..20, 0u64..1_000_000, Just(0u64)], 1..60)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn matches_the_definitions(x in integer_holdings()) {
        let f: Vec<f64> = x.iter().map(|v| *v as f64).collect();
        let m = metrics(&f).unwrap();
        assert_close(&m, &by_definition(&f), 1e-12);
        prop_assert_eq!(m.nakamoto_1_2, nakamoto_by_definition(&x, 1, 2));
        prop_assert_eq!(m.nakamoto_1_3, nakamoto_by_definition(&x, 1, 3));
    }

    #[test]
    fn permutation_invariant(x in holdings(), seed in any::<u64>()) {
        let mut y = x.clone();
        // Fisher–Yates with a tiny LCG: any permutation, reproducible from the seed.
        let mut s = seed;
        for i in (1..y.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            y.swap(i, (s >> 33) as usize % (i + 1));
        }
        prop_assert_eq!(metrics(&x).unwrap(), metrics(&y).unwrap());
    }

    #[test]
    fn scale_invariant(x in holdings(), c in 1e-3f64..1e3, p in -60i32..60) {
        let m = metrics(&x).unwrap();
        // Power-of-two scaling is exact: identical results, Nakamoto included.
        let two_p: Vec<f64> = x.iter().map(|v| v * 2f64.powi(p)).collect();
        prop_assume!(two_p.iter().all(|v| v.is_finite()));
        prop_assert_eq!(metrics(&two_p).unwrap(), m);
        // Any positive scale: the ratios agree up to rounding.
        let scaled: Vec<f64> = x.iter().map(|v| v * c).collect();
        prop_assume!(scaled.iter().all(|v| v.is_finite()));
        assert_close(&metrics(&scaled).unwrap(), &m, 1e-9);
    }

    #[test]
    fn integer_scale_keeps_nakamoto(x in integer_holdings(), c in 1u128..1_000_000_000_000) {
        let a: Vec<u128> = x.iter().map(|v| u128::from(*v)).collect();
        let b: Vec<u128> = a.iter().map(|v| v * c).collect();
        let (ma, mb) = (metrics_of_amounts(&a), metrics_of_amounts(&b));
        prop_assert_eq!((ma.nakamoto_1_2, ma.nakamoto_1_3), (mb.nakamoto_1_2, mb.nakamoto_1_3));
        assert_close(&ma, &mb, 1e-12);
    }

    #[test]
    fn ranges_hold(x in holdings()) {
        let m = metrics(&x).unwrap();
        prop_assert!((0.0..1.0).contains(&m.gini), "gini {}", m.gini);
        prop_assert!((0.0..=1.0).contains(&m.entropy_normalized));
        prop_assert!(m.theil >= 0.0 && m.hhi >= 0.0 && m.hhi <= 1.0 + 1e-15);
        prop_assert!(m.nakamoto_1_3 <= m.nakamoto_1_2 && m.nakamoto_1_2 <= m.n);
        prop_assert!(m.top_1_share <= m.top_3_share && m.top_3_share <= m.top_5_share);
        prop_assert!(m.top_5_share <= m.top_10_share && m.top_10_share <= 1.0);
        if x.iter().any(|v| *v > 0.0) {
            prop_assert!(m.nakamoto_1_3 >= 1);
            prop_assert!(m.hhi * (1.0 + 1e-12) >= 1.0 / m.n as f64);
        }
    }

    /// A Pigou–Dalton transfer: a richer holder gives part of the gap to a poorer one without
    /// changing the order. It never lowers a Nakamoto coefficient, and never raises Gini or a
    /// top-k share.
    #[test]
    fn transfers_from_rich_to_poor(
        x in prop::collection::vec(0u64..1_000_000_000, 2..50),
        i in any::<prop::sample::Index>(),
        j in any::<prop::sample::Index>(),
        frac in 0.0f64..=1.0,
    ) {
        let mut desc = x.clone();
        desc.sort_unstable_by(|a, b| b.cmp(a));
        let n = desc.len();
        let (mut i, mut j) = (i.index(n), j.index(n));
        if i > j { std::mem::swap(&mut i, &mut j); }
        prop_assume!(i != j);
        let room = if j == i + 1 {
            (desc[i] - desc[j]) / 2
        } else {
            (desc[i] - desc[i + 1]).min(desc[j - 1] - desc[j])
        };
        let delta = (room as f64 * frac) as u64;
        let mut after = desc.clone();
        after[i] -= delta;
        after[j] += delta;
        let amounts = |v: &[u64]| v.iter().map(|a| u128::from(*a)).collect::<Vec<_>>();
        let floats = |v: &[u64]| v.iter().map(|a| *a as f64).collect::<Vec<_>>();
        for (before, after) in [
            (metrics_of_amounts(&amounts(&desc)), metrics_of_amounts(&amounts(&after))),
            (metrics(&floats(&desc)).unwrap(), metrics(&floats(&after)).unwrap()),
        ] {
            prop_assert!(after.nakamoto_1_2 >= before.nakamoto_1_2);
            prop_assert!(after.nakamoto_1_3 >= before.nakamoto_1_3);
            prop_assert!(after.gini <= before.gini + 1e-12);
            prop_assert!(after.top_1_share <= before.top_1_share + 1e-12);
            prop_assert!(after.top_5_share <= before.top_5_share + 1e-12);
            prop_assert!(after.entropy_normalized >= before.entropy_normalized - 1e-12);
        }
        let h = Holdings::from_amounts(&amounts(&after));
        let t = Threshold::new(2, 3).unwrap();
        prop_assert!(h.nakamoto(t) >= Holdings::from_amounts(&amounts(&desc)).nakamoto(t));
    }
}
