//! Conformance pins of the canonical path: the output of every rule that has one
//! ([`CANONICAL_RULES`]) on a fixed input, the values that go onto the ledger.
//!
//! The input is 11 rows of 8 values (two Byzantine: a large outlier and a shrunk mean), drawn by a
//! SplitMix64 generator written below (no library RNG, so a dependency upgrade cannot move it)
//! and exactly representable in f32. Each pin is the output's 8 little-endian `f32`s, as hex
//! (32 bytes: small enough to pin exactly, no digest needed), compared with the `[aggregation]`
//! section of `tests/conformance.toml` at the workspace root. A change to a rule's definition,
//! its tie-breaking, its defaults or its order of summation fails here.

use deai_aggregation::{as_rows, from_spec, AggregationError, CANONICAL_RULES, RULE_NAMES};
use serde_json::{json, Value};

#[path = "../../../../tests/pins.rs"]
mod pin_file;
use pin_file::{check_showing, pins};

const SECTION: &str = "aggregation";

/// Little-endian `f32` bytes as lowercase hex.
fn hex(v: &[f32]) -> String {
    v.iter()
        .flat_map(|x| x.to_le_bytes())
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The `f32`s a pin's hex spells (for the failure message).
fn floats(hex: &str) -> Vec<f32> {
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// SplitMix64 (Steele, Lea, Flood 2014).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in [-1, 1) with 24 significant bits, so exact in f32.
    fn unit(&mut self) -> f64 {
        (self.next() >> 40) as f64 / f64::from(1u32 << 23) - 1.0
    }
}

const N: usize = 11;
const D: usize = 8;
const F: usize = 2;

/// (rows, server update g₀, sample counts): honest rows μ + 0.8·u, row 3 = 20·u (an outlier),
/// row 8 = 0.3·μ (a shrunk copy of the mean, inside the honest spread, so that the nearest
/// neighbours of different rows differ and the rules disagree).
fn input() -> (Vec<Vec<f32>>, Vec<f64>, Vec<f64>) {
    let mut g = SplitMix64(20);
    let mu: Vec<f64> = (0..D).map(|_| g.unit()).collect();
    let rows = (0..N)
        .map(|i| {
            mu.iter()
                .map(|&m| match i {
                    3 => (20.0 * g.unit()) as f32,
                    8 => (0.3 * m) as f32,
                    _ => (m + 0.8 * g.unit()) as f32,
                })
                .collect()
        })
        .collect();
    let g0 = mu.iter().map(|&m| m + 0.25 * g.unit()).collect();
    let counts = (0..N).map(|i| (10 + (i * 37) % 90) as f64).collect();
    (rows, g0, counts)
}

/// (pin name, rule, parameters): every rule with a canonical path, some twice.
fn specs(g0: &[f64], counts: &[f64]) -> Vec<(&'static str, &'static str, Value)> {
    vec![
        ("fedavg", "fedavg", json!({})),
        ("fedavg_weighted", "fedavg", json!({ "weights": counts })),
        ("coordinate_median", "coordinate_median", json!({})),
        ("trimmed_mean_k", "trimmed_mean", json!({ "k": F })),
        ("trimmed_mean_beta", "trimmed_mean", json!({ "beta": 0.3 })),
        ("krum", "krum", json!({ "f": F })),
        ("multi_krum", "multi_krum", json!({ "f": F })),
        (
            "geometric_median",
            "geometric_median",
            json!({ "max_iter": 200, "tol": 1e-9 }),
        ),
        (
            "centered_clipping",
            "centered_clipping",
            json!({ "tau": 1.0, "L": 3 }),
        ),
        ("fltrust", "fltrust", json!({ "server_update": g0 })),
        (
            "norm_clipping_mean",
            "norm_clipping_mean",
            json!({ "max_norm": 2.0 }),
        ),
        ("nnm_krum", "nnm+krum", json!({ "f": F })),
        (
            "nnm_coordinate_median",
            "nnm+coordinate_median",
            json!({ "f": F }),
        ),
        (
            "nnm_trimmed_mean",
            "nnm+trimmed_mean",
            json!({ "nnm": { "f": F }, "k": F }),
        ),
    ]
}

fn actual() -> Vec<(String, String)> {
    let (rows, g0, counts) = input();
    specs(&g0, &counts)
        .into_iter()
        .map(|(name, rule, params)| {
            let agg = from_spec(rule, &params).unwrap_or_else(|e| panic!("{name}: {e}"));
            let out = agg
                .aggregate_canonical(&as_rows(&rows))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(out.len(), D, "{name}");
            (name.to_string(), hex(&out))
        })
        .collect()
}

#[test]
fn canonical_outputs_match_their_pins() {
    check_showing(SECTION, &actual(), "A canonical aggregation output", |p| {
        format!(" = {:?}", floats(p))
    });
}

/// A new rule, or a new canonical path, must come with a pin.
#[test]
fn every_canonical_rule_is_pinned() {
    let (rows, g0, counts) = input();
    let specs = specs(&g0, &counts);
    for rule in RULE_NAMES {
        let pinned = specs.iter().any(|(_, r, _)| *r == rule);
        let params = match rule {
            "krum" | "multi_krum" => json!({ "f": F }),
            "trimmed_mean" => json!({ "k": F }),
            "centered_clipping" => json!({ "tau": 1.0 }),
            "norm_clipping_mean" => json!({ "max_norm": 2.0 }),
            "fltrust" => json!({ "server_update": g0 }),
            _ => json!({}),
        };
        let supported = match from_spec(rule, &params) {
            Ok(agg) => agg.supports_canonical(),
            Err(e) => panic!("{rule}: {e}"),
        };
        if supported {
            assert!(pinned, "{rule} has a canonical path but no conformance pin");
        } else {
            assert!(!CANONICAL_RULES.contains(rule), "{rule}");
            let agg = from_spec(rule, &params).unwrap();
            assert!(matches!(
                agg.aggregate_canonical(&as_rows(&rows)),
                Err(AggregationError::CanonicalUnsupported { .. })
            ));
        }
    }
    let names: Vec<String> = actual().into_iter().map(|(n, _)| n).collect();
    for pinned in pins(SECTION).keys() {
        assert!(
            names.contains(pinned),
            "tests/conformance.toml pins [{SECTION}] {pinned}, which no test computes; remove it \
             or restore the value it pinned"
        );
    }
}
