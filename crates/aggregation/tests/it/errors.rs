//! Preconditions are typed errors on every path, never panics.

use deai_aggregation::{as_rows, from_spec, AggregationError};
use serde_json::json;

use crate::common::{dataset, specs, to_f32};

#[test]
fn empty_and_ragged_inputs_are_rejected() {
    for (rule, params) in specs(&dataset(1, 7, 1, 4), 1) {
        let agg = from_spec(&rule, &params).unwrap();
        let none: Vec<&[f32]> = vec![];
        assert_eq!(agg.aggregate(&none), Err(AggregationError::Empty), "{rule}");
        assert_eq!(
            agg.aggregate_f64(&[]),
            Err(AggregationError::Empty),
            "{rule}"
        );
        let mut x = to_f32(&dataset(1, 7, 1, 4).x);
        x[3].pop();
        let err = agg.aggregate(&as_rows(&x)).unwrap_err();
        assert_eq!(
            err,
            AggregationError::RaggedRows {
                row: 3,
                len: 3,
                expected: 4
            },
            "{rule}"
        );
    }
}

#[test]
fn non_finite_values_are_rejected_naming_the_row() {
    let ds = dataset(2, 9, 1, 3000);
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        for (rule, params) in specs(&ds, 1) {
            let agg = from_spec(&rule, &params).unwrap();
            let mut x = to_f32(&ds.x);
            x[5][2047] = bad;
            for (path, res) in [
                ("fast", agg.aggregate(&as_rows(&x))),
                ("canonical", agg.aggregate_canonical(&as_rows(&x))),
            ] {
                match res {
                    Err(AggregationError::NonFinite {
                        row: 5,
                        coord: 2047,
                        ..
                    }) => {}
                    Err(AggregationError::CanonicalUnsupported { .. }) if path == "canonical" => {}
                    other => panic!("{rule} {path} {bad}: {other:?}"),
                }
            }
            let x64: Vec<Vec<f64>> = crate::common::widen(&x);
            assert!(matches!(
                agg.aggregate_f64(&as_rows(&x64)),
                Err(AggregationError::NonFinite {
                    row: 5,
                    coord: 2047,
                    ..
                })
            ));
        }
    }
}

#[test]
fn zero_weight_rows_are_still_checked() {
    let mut x = to_f32(&dataset(3, 4, 0, 5).x);
    x[2][1] = f32::NAN;
    let agg = from_spec("fedavg", &json!({ "weights": [1, 1, 0, 1] })).unwrap();
    assert!(matches!(
        agg.aggregate(&as_rows(&x)),
        Err(AggregationError::NonFinite { row: 2, .. })
    ));
}

#[test]
fn too_few_rows() {
    let x = to_f32(&dataset(4, 4, 0, 5).x);
    let rows = as_rows(&x);
    let tm = from_spec("trimmed_mean", &json!({ "k": 2 })).unwrap();
    assert!(matches!(
        tm.aggregate(&rows),
        Err(AggregationError::TooFewRows {
            rule: "trimmed_mean",
            n: 4,
            ..
        })
    ));
    let tm = from_spec("trimmed_mean", &json!({ "k": 1 })).unwrap();
    assert!(tm.aggregate(&rows).is_ok());
    // Krum needs n > 2f + 2: n = 4, f = 1 is refused, n = 5 accepted.
    for rule in ["krum", "multi_krum"] {
        let k = from_spec(rule, &json!({ "f": 1 })).unwrap();
        assert!(
            matches!(
                k.aggregate(&rows),
                Err(AggregationError::TooFewRows { n: 4, .. })
            ),
            "{rule}"
        );
        assert!(matches!(
            k.aggregate_f64(&as_rows(&crate::common::widen(&x))),
            Err(AggregationError::TooFewRows { .. })
        ));
        let x5 = to_f32(&dataset(4, 5, 0, 5).x);
        assert!(k.aggregate(&as_rows(&x5)).is_ok(), "{rule}");
    }
}

#[test]
fn bad_specs_name_what_is_wrong() {
    match from_spec("median", &json!({})) {
        Err(AggregationError::UnknownRule { name, known }) => {
            assert_eq!(name, "median");
            assert!(known.contains("coordinate_median"));
        }
        other => panic!("{other:?}"),
    }
    match from_spec("krum", &json!({ "f": 1, "neighbours": 2 })) {
        Err(AggregationError::UnknownParam {
            rule: "krum",
            param,
            accepted,
        }) => {
            assert_eq!(param, "neighbours");
            assert!(accepted.contains("num_neighbors"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        from_spec("krum", &json!({})),
        Err(AggregationError::MissingParam { param: "f", .. })
    ));
    assert!(matches!(
        from_spec("norm_clipping_mean", &json!({ "max_norm": -1 })),
        Err(AggregationError::InvalidParam {
            param: "max_norm",
            ..
        })
    ));
    assert!(matches!(
        from_spec("fedavg", &json!({ "weights": [1, -2] })),
        Err(AggregationError::InvalidParam {
            param: "weights",
            ..
        })
    ));
    assert!(matches!(
        from_spec("nnm+median", &json!({ "f": 1 })),
        Err(AggregationError::UnknownRule { .. })
    ));
    assert!(matches!(
        from_spec("nnm", &json!({ "f": 1 })),
        Err(AggregationError::InvalidParam { .. })
    ));
    // Wrong-length parameters are caught when n and d are known.
    let x = to_f32(&dataset(5, 5, 0, 3).x);
    let agg = from_spec("fedavg", &json!({ "weights": [1, 2] })).unwrap();
    assert!(matches!(
        agg.aggregate(&as_rows(&x)),
        Err(AggregationError::InvalidParam {
            param: "weights",
            ..
        })
    ));
    let agg = from_spec("fltrust", &json!({ "server_update": [1, 2] })).unwrap();
    assert!(matches!(
        agg.aggregate(&as_rows(&x)),
        Err(AggregationError::InvalidParam {
            param: "server_update",
            ..
        })
    ));
}
