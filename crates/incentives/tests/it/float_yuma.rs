//! `FloatYuma` against the classic (non-Yuma3) cases of `tests/vectors/yuma.json`.

use deai_incentives::{EngineInput, EpochEngine, FloatYuma, StudyYumaParams};
use serde_json::Value;

fn vec_f64(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn mat_f64(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().unwrap().iter().map(vec_f64).collect()
}

fn assert_close(name: &str, field: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{name}.{field} length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol,
            "{name}.{field}[{i}] = {g}, expected {w}"
        );
    }
}

#[test]
fn classic_cases_match_the_reference() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors/yuma.json");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let tol = file["meta"]["suggested_tolerance"]["abs"].as_f64().unwrap();
    let mut checked = 0;
    for case in file["cases"].as_array().unwrap() {
        let p = &case["inputs"]["params"];
        // FloatYuma is classic Yuma without masks; skip cases that need more.
        let plain = [
            "validator_permits",
            "active",
            "outdated",
            "recently_registered",
            "owner_uid",
        ]
        .iter()
        .all(|k| p[*k].is_null())
            && p["yuma3"] == false
            && p["liquid_alpha"] == false
            && p["stake_threshold"].as_f64() == Some(0.0);
        if !plain {
            continue;
        }
        let name = case["name"].as_str().unwrap();
        let stake = vec_f64(&case["inputs"]["stake"]);
        let weights: Vec<Vec<u16>> = mat_f64(&case["inputs"]["weights"])
            .iter()
            .map(|r| r.iter().map(|x| *x as u16).collect())
            .collect();
        let bonds = mat_f64(&case["inputs"]["bonds_prev"]);
        let params = StudyYumaParams {
            kappa: p["kappa"].as_f64().unwrap(),
            bonds_penalty: p["bonds_penalty"].as_f64().unwrap(),
            bonds_moving_average: p["bonds_moving_average"].as_f64().unwrap(),
        };
        let out = FloatYuma
            .epoch(&EngineInput {
                stake: &stake,
                weights: &weights,
                bonds_prev: &bonds,
                params: &params,
            })
            .unwrap();
        let e = &case["expected"];
        assert_close(
            name,
            "consensus",
            &out.consensus,
            &vec_f64(&e["consensus"]),
            tol,
        );
        assert_close(
            name,
            "validator_trust",
            &out.validator_trust,
            &vec_f64(&e["validator_trust"]),
            tol,
        );
        assert_close(
            name,
            "incentive",
            &out.incentive,
            &vec_f64(&e["incentive"]),
            tol,
        );
        assert_close(
            name,
            "dividends",
            &out.dividends,
            &vec_f64(&e["dividends"]),
            tol,
        );
        for (i, (row, want)) in out.bonds.iter().zip(mat_f64(&e["ema_bonds"])).enumerate() {
            assert_close(name, &format!("ema_bonds[{i}]"), row, &want, tol);
        }
        checked += 1;
    }
    assert!(checked >= 2, "only {checked} classic cases checked");
}

#[test]
fn float_and_chain_yuma_agree_on_a_simulated_epoch() {
    use deai_incentives::ChainYuma;
    // 6 validators with uneven stake, 10 miners, noisy u16 weights from a fixed formula.
    let (nv, n) = (6, 16);
    let stake: Vec<f64> = (0..n)
        .map(|i| if i < nv { 1000.0 / (i + 1) as f64 } else { 0.0 })
        .collect();
    let weights: Vec<Vec<u16>> = (0..n)
        .map(|i| {
            (0..n)
                .map(|j| {
                    if i < nv && j >= nv {
                        ((j * 7919 + i * 104729) % 65536) as u16
                    } else {
                        0
                    }
                })
                .collect()
        })
        .collect();
    let params = StudyYumaParams::default();
    let mut bonds_f = vec![vec![0.0; n]; n];
    let mut bonds_c = vec![vec![0.0; n]; n];
    for _ in 0..3 {
        let f = FloatYuma
            .epoch(&EngineInput {
                stake: &stake,
                weights: &weights,
                bonds_prev: &bonds_f,
                params: &params,
            })
            .unwrap();
        let c = ChainYuma
            .epoch(&EngineInput {
                stake: &stake,
                weights: &weights,
                bonds_prev: &bonds_c,
                params: &params,
            })
            .unwrap();
        assert_close("sim", "incentive", &c.incentive, &f.incentive, 1e-6);
        assert_close("sim", "dividends", &c.dividends, &f.dividends, 1e-4);
        assert_close(
            "sim",
            "validator_trust",
            &c.validator_trust,
            &f.validator_trust,
            1e-6,
        );
        bonds_f = f.bonds;
        bonds_c = c.bonds;
    }
}
