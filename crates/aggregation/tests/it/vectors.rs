//! Every case of tests/vectors/aggregators.json on the f64 reference path, to 1e-9 relative.

use deai_aggregation::{
    as_rows, from_spec, nnm_from_params, FoolsGold, FoolsGoldOutput, GeometricMedian,
};
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vectors/aggregators.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn matrix(v: &Value) -> Vec<Vec<f64>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect()
}

fn vector(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn dataset<'a>(all: &'a Value, id: &str) -> &'a Value {
    all["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == id)
        .unwrap()
}

pub fn close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (j, (g, w)) in got.iter().zip(want).enumerate() {
        let tol = 1e-9 * w.abs().max(1.0);
        assert!((g - w).abs() <= tol, "{what}[{j}]: got {g}, want {w}");
    }
}

#[test]
fn every_rule_matches_the_vectors() {
    let all = vectors();
    let mut checked = 0;
    for (rule, cases) in all["rules"].as_object().unwrap() {
        for case in cases.as_array().unwrap() {
            let ds = dataset(&all, case["dataset"].as_str().unwrap());
            let x = matrix(&ds["X"]);
            let rows = as_rows(&x);
            let what = format!("{rule} on {}", ds["id"]);
            if rule == "nnm" {
                let nnm = nnm_from_params(&case["params"]).unwrap();
                let got = nnm.transform_f64(&rows).unwrap();
                let want = matrix(&case["output"]);
                for (g, w) in got.iter().zip(&want) {
                    close(g, w, &what);
                }
                // The extras: nnm composed with trimmed mean (k = f) and the median.
                let f = case["params"]["f"].clone();
                let tm = from_spec(
                    "nnm+trimmed_mean",
                    &serde_json::json!({"nnm": {"f": f}, "k": f}),
                )
                .unwrap()
                .aggregate_f64(&rows)
                .unwrap();
                close(
                    &tm,
                    &vector(&case["extra"]["nnm_then_trimmed_mean_k_f"]),
                    &what,
                );
                let med = from_spec("nnm+coordinate_median", &serde_json::json!({"f": f}))
                    .unwrap()
                    .aggregate_f64(&rows)
                    .unwrap();
                close(
                    &med,
                    &vector(&case["extra"]["nnm_then_coordinate_median"]),
                    &what,
                );
            } else {
                let params = case["params"].clone();
                let agg = from_spec(rule, &params).unwrap();
                let got = agg.aggregate_f64(&rows).unwrap();
                close(&got, &vector(&case["output"]), &what);
            }
            checked += 1;
        }
    }
    assert!(checked >= 11, "only {checked} cases");
}

#[test]
fn extras_match_too() {
    let all = vectors();
    let rules = &all["rules"];
    for case in rules["fedavg"].as_array().unwrap() {
        let x = matrix(&dataset(&all, case["dataset"].as_str().unwrap())["X"]);
        let got = from_spec("fedavg", &Value::Null)
            .unwrap()
            .aggregate_f64(&as_rows(&x))
            .unwrap();
        close(
            &got,
            &vector(&case["extra"]["uniform_mean"]),
            "fedavg uniform",
        );
    }
    for case in rules["geometric_median"].as_array().unwrap() {
        let x = matrix(&dataset(&all, case["dataset"].as_str().unwrap())["X"]);
        let p = &case["params"];
        let gm = GeometricMedian {
            nu: p["nu"].as_f64().unwrap(),
            max_iter: p["max_iter"].as_u64().unwrap() as usize,
            tol: p["tol"].as_f64().unwrap(),
            ..GeometricMedian::default()
        };
        let (z, iters) = gm.reference_with_iterations(&as_rows(&x)).unwrap();
        assert_eq!(iters as u64, case["extra"]["iterations"].as_u64().unwrap());
        let objective: f64 = x
            .iter()
            .map(|r| {
                r.iter()
                    .zip(&z)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
                    .sqrt()
                    / x.len() as f64
            })
            .sum();
        close(
            &[objective],
            &[case["extra"]["objective"].as_f64().unwrap()],
            "gm objective",
        );
    }
    for case in rules["centered_clipping"].as_array().unwrap() {
        let x = matrix(&dataset(&all, case["dataset"].as_str().unwrap())["X"]);
        let tau = case["params"]["tau"].clone();
        let got = from_spec(
            "centered_clipping",
            &serde_json::json!({"tau": tau, "L": 1}),
        )
        .unwrap()
        .aggregate_f64(&as_rows(&x))
        .unwrap();
        close(
            &got,
            &vector(&case["extra"]["v0_zero_L1_same_tau"]),
            "cc v0=0 L=1",
        );
    }
    for case in rules["foolsgold"].as_array().unwrap() {
        let x = matrix(&dataset(&all, case["dataset"].as_str().unwrap())["X"]);
        let rows = as_rows(&x);
        let mut fg = FoolsGold {
            history: None,
            kappa: 1.0,
            aggregate: FoolsGoldOutput::WeightedSum,
        };
        close(
            &fg.weights_f64(&rows).unwrap(),
            &vector(&case["extra"]["weights"]),
            "fg weights",
        );
        fg.aggregate = FoolsGoldOutput::Mean;
        close(
            &deai_aggregation::Aggregator::aggregate_f64(&fg, &rows).unwrap(),
            &vector(&case["extra"]["output_mean"]),
            "fg mean",
        );
        fg.aggregate = FoolsGoldOutput::Normalized;
        close(
            &deai_aggregation::Aggregator::aggregate_f64(&fg, &rows).unwrap(),
            &vector(&case["extra"]["output_normalized"]),
            "fg normalized",
        );
    }
    for rule in ["krum", "multi_krum"] {
        for case in rules[rule].as_array().unwrap() {
            let x = matrix(&dataset(&all, case["dataset"].as_str().unwrap())["X"]);
            let nn = case["params"]["num_neighbors"].as_u64().unwrap() as usize;
            let scores = deai_aggregation::reference::krum_scores_of(&as_rows(&x), nn);
            close(&scores, &vector(&case["extra"]["scores"]), "krum scores");
        }
    }
    for case in rules["fltrust"].as_array().unwrap() {
        let x = matrix(&dataset(&all, case["dataset"].as_str().unwrap())["X"]);
        let g0 = vector(&case["params"]["server_update"]);
        let (_, ts) = deai_aggregation::reference::fltrust(&as_rows(&x), &g0);
        close(
            &ts,
            &vector(&case["extra"]["trust_scores"]),
            "fltrust trust",
        );
    }
}
