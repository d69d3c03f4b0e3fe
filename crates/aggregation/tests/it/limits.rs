//! Parameters at the edge of their range are typed errors on every path: no overflow panic
//! (the release profile has `overflow-checks = true`), no unbounded loop, no NaN/Inf result.

use std::time::{Duration, Instant};

use deai_aggregation::{
    as_rows, from_spec, AggregationError, Aggregator, CenteredClipping, FedAvg, FlTrust, FoolsGold,
    FoolsGoldOutput, GeometricMedian, NormClippingMean, Trim, TrimmedMean, MAX_ITERATIONS,
};
use serde_json::json;

use crate::common::{dataset, to_f32, widen};

/// The three paths of one rule on the same rows (f32 in, widened for the reference).
fn all_paths(agg: &dyn Aggregator, x: &[Vec<f32>]) -> Vec<(&'static str, Result<(), String>)> {
    let x64 = widen(x);
    let err = |r: Result<Vec<f32>, AggregationError>| r.map(|_| ()).map_err(|e| format!("{e:?}"));
    vec![
        (
            "reference",
            agg.aggregate_f64(&as_rows(&x64))
                .map(|_| ())
                .map_err(|e| format!("{e:?}")),
        ),
        ("fast", err(agg.aggregate(&as_rows(x)))),
        ("canonical", err(agg.aggregate_canonical(&as_rows(x)))),
    ]
}

fn rows() -> Vec<Vec<f32>> {
    to_f32(&dataset(3, 9, 1, 16).x)
}

#[test]
fn krum_with_a_huge_f_is_too_few_rows_not_an_overflow() {
    for f in [u64::MAX, u64::MAX / 2, u64::MAX / 2 - 1] {
        for rule in ["krum", "multi_krum", "nnm+krum", "nnm+multi_krum"] {
            let params = if rule.starts_with("nnm+") {
                json!({ "f": f, "nnm": { "f": 1 } })
            } else {
                json!({ "f": f })
            };
            let agg = from_spec(rule, &params).unwrap();
            for (path, res) in all_paths(agg.as_ref(), &rows()) {
                let e = res.unwrap_err();
                assert!(e.starts_with("TooFewRows"), "{rule} f = {f} {path}: {e}");
            }
        }
    }
    // The bound itself is unchanged: n = 2f + 3 runs, n = 2f + 2 does not.
    let x = rows();
    assert!(from_spec("krum", &json!({ "f": 3 }))
        .unwrap()
        .aggregate(&as_rows(&x))
        .is_ok());
    assert!(from_spec("krum", &json!({ "f": 4 }))
        .unwrap()
        .aggregate(&as_rows(&x[..9]))
        .is_err());
}

#[test]
fn trimmed_mean_with_a_huge_k_is_too_few_rows_not_an_overflow() {
    for k in [u64::MAX, u64::MAX / 2 + 1, u64::MAX / 2] {
        let agg = from_spec("trimmed_mean", &json!({ "k": k })).unwrap();
        for (path, res) in all_paths(agg.as_ref(), &rows()) {
            let e = res.unwrap_err();
            assert!(e.starts_with("TooFewRows"), "k = {k} {path}: {e}");
        }
    }
    // A struct-built β outside [0, 0.5) is refused too (from_spec already refuses it).
    for beta in [f64::NAN, f64::INFINITY, -0.1, 0.5] {
        let agg = TrimmedMean {
            trim: Trim::Beta(beta),
        };
        for (path, res) in all_paths(&agg, &rows()) {
            let e = res.unwrap_err();
            assert!(e.contains("\"beta\""), "beta = {beta} {path}: {e}");
        }
    }
}

#[test]
fn centered_clipping_iterations_are_bounded() {
    #[allow(clippy::disallowed_methods)] // the test bounds a rule's run time
    let started = Instant::now();
    for l in [1_000_000_000_000_000_000u64, MAX_ITERATIONS as u64 + 1] {
        match from_spec("centered_clipping", &json!({ "tau": 1.0, "L": l })) {
            Err(AggregationError::InvalidParam { param: "L", .. }) => {}
            other => panic!("L = {l}: {other:?}"),
        }
        // Built as a struct, the rule still refuses it on every path (before any iteration).
        let agg = CenteredClipping {
            tau: 1.0,
            l: usize::try_from(l).unwrap(),
            v0: None,
        };
        for (path, res) in all_paths(&agg, &rows()) {
            let e = res.unwrap_err();
            assert!(e.contains("param: \"L\""), "L = {l} {path}: {e}");
        }
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(from_spec(
        "centered_clipping",
        &json!({ "tau": 1.0, "L": MAX_ITERATIONS })
    )
    .is_ok());
    for tau in [f64::INFINITY, f64::NAN, 0.0, -1.0] {
        let agg = CenteredClipping {
            tau,
            l: 1,
            v0: None,
        };
        for (path, res) in all_paths(&agg, &rows()) {
            let e = res.unwrap_err();
            assert!(e.contains("param: \"tau\""), "tau = {tau} {path}: {e}");
        }
    }
    let agg = CenteredClipping {
        tau: 1.0,
        l: 1,
        v0: Some(vec![f64::NAN; 16]),
    };
    for (path, res) in all_paths(&agg, &rows()) {
        let e = res.unwrap_err();
        assert!(e.contains("param: \"v0\""), "{path}: {e}");
    }
}

#[test]
fn geometric_median_parameters_are_range_checked() {
    match from_spec("geometric_median", &json!({ "max_iter": u64::MAX })) {
        Err(AggregationError::InvalidParam {
            param: "max_iter", ..
        }) => {}
        other => panic!("{other:?}"),
    }
    let cases = [
        (
            "max_iter",
            GeometricMedian {
                max_iter: MAX_ITERATIONS + 1,
                ..GeometricMedian::default()
            },
        ),
        (
            "nu",
            GeometricMedian {
                nu: f64::INFINITY,
                ..GeometricMedian::default()
            },
        ),
        (
            "tol",
            GeometricMedian {
                tol: f64::NAN,
                ..GeometricMedian::default()
            },
        ),
        (
            "weights",
            GeometricMedian {
                weights: Some(vec![-1.0; 9]),
                ..GeometricMedian::default()
            },
        ),
    ];
    for (param, agg) in cases {
        for (path, res) in all_paths(&agg, &rows()) {
            let e = res.unwrap_err();
            assert!(e.contains(&format!("param: \"{param}\"")), "{path}: {e}");
        }
    }
}

#[test]
fn struct_built_rules_check_their_parameters_on_every_path() {
    let x = rows();
    let cases: Vec<(&str, Box<dyn Aggregator>)> = vec![
        (
            "weights",
            Box::new(FedAvg {
                weights: Some(vec![f64::NAN; 9]),
            }),
        ),
        (
            "weights",
            Box::new(FedAvg {
                weights: Some(vec![f64::MAX; 9]),
            }),
        ),
        (
            "max_norm",
            Box::new(NormClippingMean {
                max_norm: f64::INFINITY,
                weights: None,
            }),
        ),
        (
            "server_update",
            Box::new(FlTrust {
                server_update: vec![f64::NAN; 16],
            }),
        ),
        (
            "kappa",
            Box::new(FoolsGold {
                history: None,
                kappa: f64::NAN,
                aggregate: FoolsGoldOutput::WeightedSum,
            }),
        ),
    ];
    for (param, agg) in cases {
        for (path, res) in all_paths(agg.as_ref(), &x) {
            let e = res.unwrap_err();
            let unsupported = path == "canonical" && e.starts_with("CanonicalUnsupported");
            assert!(
                unsupported || e.contains(&format!("param: \"{param}\"")),
                "{} {path}: {e}",
                agg.name()
            );
        }
    }
    // Weights whose sum overflows f64 (each one finite) are refused when parsed too.
    match from_spec("fedavg", &json!({ "weights": [1e308, 1e308] })) {
        Err(AggregationError::InvalidParam {
            param: "weights", ..
        }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_result_that_overflows_f64_is_an_error_not_infinity() {
    let x = vec![vec![1e308, -1e308], vec![1e308, -1e308]];
    for (rule, params) in [
        ("fedavg", json!({})),
        ("trimmed_mean", json!({ "k": 0 })),
        ("coordinate_median", json!({})),
    ] {
        let agg = from_spec(rule, &params).unwrap();
        match agg.aggregate_f64(&as_rows(&x)) {
            // The median of two values is their mean, which overflows like FedAvg's sum.
            Err(AggregationError::NonFiniteOutput { coord: 0, .. }) => {}
            other => panic!("{rule}: {other:?}"),
        }
    }
    // nnm's mixed rows are checked too (the mean of 1e308 and 1e308).
    let nnm = deai_aggregation::nnm_from_params(&json!({ "f": 0 })).unwrap();
    assert!(matches!(
        nnm.transform_f64(&as_rows(&x)),
        Err(AggregationError::NonFiniteOutput { .. })
    ));
    // Finite results at the edge stay results.
    let agg = from_spec("fedavg", &json!({})).unwrap();
    assert_eq!(
        agg.aggregate_f64(&as_rows(&[vec![1e308], vec![-1e308]]))
            .unwrap(),
        vec![0.0]
    );
}
