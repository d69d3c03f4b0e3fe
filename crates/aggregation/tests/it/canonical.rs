//! The canonical path gives the same bits on 1 and 2 threads, and refuses FoolsGold.

use deai_aggregation::{as_rows, from_spec, AggregationError};

use crate::common::{dataset, specs, to_f32};

fn on_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

#[test]
fn canonical_is_bit_identical_across_thread_counts() {
    let ds = dataset(7, 13, 2, 20_000);
    let x = to_f32(&ds.x);
    for (rule, params) in specs(&ds, 2) {
        let agg = from_spec(&rule, &params).unwrap();
        if !agg.supports_canonical() {
            assert!(matches!(
                agg.aggregate_canonical(&as_rows(&x)),
                Err(AggregationError::CanonicalUnsupported { .. })
            ));
            continue;
        }
        let one = on_threads(1, || agg.aggregate_canonical(&as_rows(&x)).unwrap());
        let two = on_threads(2, || agg.aggregate_canonical(&as_rows(&x)).unwrap());
        let one_bits: Vec<u32> = one.iter().map(|v| v.to_bits()).collect();
        let two_bits: Vec<u32> = two.iter().map(|v| v.to_bits()).collect();
        assert_eq!(one_bits, two_bits, "{rule}");
        // And it is the reference arithmetic, rounded once.
        let x64: Vec<Vec<f64>> = crate::common::widen(&x);
        let reference = agg.aggregate_f64(&as_rows(&x64)).unwrap();
        let rounded: Vec<f32> = reference.iter().map(|&v| v as f32).collect();
        assert_eq!(one, rounded, "{rule}");
    }
}

#[test]
fn the_required_rules_support_canonical() {
    let ds = dataset(8, 9, 1, 10);
    for (rule, params) in specs(&ds, 1) {
        let agg = from_spec(&rule, &params).unwrap();
        let required = [
            "fedavg",
            "coordinate_median",
            "trimmed_mean",
            "krum",
            "multi_krum",
            "norm_clipping_mean",
        ];
        if required.contains(&rule.as_str()) {
            assert!(agg.supports_canonical(), "{rule}");
        }
    }
}
