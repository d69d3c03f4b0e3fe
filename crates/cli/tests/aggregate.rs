//! `deai aggregate` on a reference-vector case (file and stdin) and on bad inputs.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

fn deai(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_deai"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vectors/aggregators.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn case(rule: &str) -> (Value, Value) {
    let all = vectors();
    let c = &all["rules"][rule][0];
    let ds = all["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == c["dataset"])
        .unwrap();
    (
        json!({ "rule": rule, "params": c["params"], "X": ds["X"] }),
        c["output"].clone(),
    )
}

fn assert_close(got: &Value, want: &Value) {
    match (got, want) {
        (Value::Array(g), Value::Array(w)) => {
            assert_eq!(g.len(), w.len());
            g.iter().zip(w).for_each(|(a, b)| assert_close(a, b));
        }
        _ => {
            let (g, w) = (got.as_f64().unwrap(), want.as_f64().unwrap());
            assert!(
                (g - w).abs() <= 1e-9 * w.abs().max(1.0),
                "got {g}, want {w}"
            );
        }
    }
}

#[test]
fn vector_cases_from_a_file_and_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    for rule in [
        "trimmed_mean",
        "multi_krum",
        "geometric_median",
        "foolsgold",
        "nnm",
    ] {
        let (input, want) = case(rule);
        let path = dir.path().join(format!("{rule}.json"));
        std::fs::write(&path, input.to_string()).unwrap();
        let out = deai(&["aggregate", "--input", path.to_str().unwrap()], None);
        assert!(
            out.status.success(),
            "{rule}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_close(&got["output"], &want);

        let out = deai(&["aggregate", "--input", "-"], Some(&input.to_string()));
        assert!(
            out.status.success(),
            "{rule} stdin: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_close(&got["output"], &want);
    }
}

#[test]
fn bad_inputs_fail_with_a_message() {
    let x = json!([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]);
    let cases = [
        (
            json!({ "rule": "mean", "params": {}, "X": x }),
            "unknown aggregation rule `mean`",
        ),
        (
            json!({ "rule": "krum", "params": { "f": 0, "nn": 1 }, "X": x }),
            "unknown parameter `nn`",
        ),
        (
            json!({ "rule": "trimmed_mean", "params": { "k": 2 }, "X": x }),
            "n - 2k >= 1",
        ),
        (
            json!({ "rule": "krum", "params": { "f": 1 }, "X": x }),
            "n > 2f + 2",
        ),
        (
            json!({ "rule": "fedavg", "params": {}, "X": [[1.0, 2.0], [3.0]] }),
            "row 1 has length 1",
        ),
        (
            json!({ "rule": "fedavg", "params": {}, "X": [] }),
            "at least one row",
        ),
    ];
    for (input, message) in cases {
        let out = deai(&["aggregate", "--input", "-"], Some(&input.to_string()));
        assert!(!out.status.success(), "{input} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("error:") && err.contains(message),
            "{input}: {err}"
        );
    }
    let out = deai(&["aggregate", "--input", "-"], Some("{not json"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("parsing the case"));
}

/// `deai bench aggregate` on two tiny cells: n = 6, d = 1000 and 513.
fn bench_two_cells(json: bool, rules: &str, repeat: &str, min_time: &str) -> Output {
    let mut args = if json { vec!["--json"] } else { vec![] };
    args.extend([
        "bench",
        "aggregate",
        "--n",
        "6",
        "--d",
        "1000,513",
        "--rules",
        rules,
        "--repeat",
        repeat,
        "--min-time",
        min_time,
    ]);
    deai(&args, None)
}

#[test]
fn bench_aggregate_times_every_rule_against_the_bound() {
    let out = bench_two_cells(true, "fedavg,krum,gm", "2", "0.05");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let cells: Vec<(u64, u64, &str)> = records
        .iter()
        .map(|r| {
            (
                r["n"].as_u64().unwrap(),
                r["d"].as_u64().unwrap(),
                r["rule"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        cells,
        [
            (6, 1000, "fedavg"),
            (6, 1000, "krum"),
            (6, 1000, "geometric_median"),
            (6, 513, "fedavg"),
            (6, 513, "krum"),
            (6, 513, "geometric_median"),
        ]
    );
    for r in &records {
        let (seconds, bound) = (
            r["seconds"].as_f64().unwrap(),
            r["bound_seconds"].as_f64().unwrap(),
        );
        assert!(seconds > 0.0 && bound > 0.0, "{r}");
        assert!(
            (r["ratio_to_bound"].as_f64().unwrap() - seconds / bound).abs() < 1e-9,
            "{r}"
        );
        // The bound is the faster of the two sums, so the contiguous one is never faster.
        let contiguous = r["contiguous_seconds"].as_f64().unwrap();
        assert!(contiguous >= bound, "{r}");
        assert!(
            (r["ratio_to_contiguous"].as_f64().unwrap() - seconds / contiguous).abs() < 1e-9,
            "{r}"
        );
        // At least --repeat runs, and more until they add up to --min-time: a fedavg of
        // 6 × 1000 values takes microseconds, so 50 ms of it is many more than two runs.
        let runs = r["runs"].as_u64().unwrap();
        assert!(runs >= 2, "{r}");
        if r["rule"] == "fedavg" {
            assert!(runs > 2, "{r}");
        }
        // Each rule's speed target, judged on the ratio it is set against.
        let (limit, against, ratio) = match r["rule"].as_str().unwrap() {
            "fedavg" => (1.5, "bound", "ratio_to_bound"),
            "krum" => (1.3, "xxt", "ratio_to_xxt"),
            _ => (15.0, "bound", "ratio_to_bound"),
        };
        let t = &r["target"];
        assert_eq!(t["limit"].as_f64(), Some(limit), "{r}");
        assert_eq!(t["against"], against, "{r}");
        assert_eq!(
            t["met"].as_bool(),
            Some(r[ratio].as_f64().unwrap() <= limit),
            "{r}"
        );
    }
    // The text report ends with one verdict line per rule with a target, over both cells.
    let text = bench_two_cells(false, "fedavg,krum,nnm+krum", "1", "0");
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    let verdicts: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("speed targets"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(verdicts.len(), 2, "{text}");
    assert!(verdicts[0].contains("fedavg") && verdicts[0].contains("1.5× bound"));
    assert!(verdicts[0].contains("against the contiguous sum alone"));
    assert!(verdicts[1].contains("krum") && verdicts[1].contains("1.3× X·Xᵀ"));
    assert!(!verdicts[1].contains("contiguous"));
    for v in verdicts {
        assert!(
            v.contains("all 2 cells (worst ") || v.contains(" of 2 cells (worst "),
            "{v}"
        );
    }
    let bad = deai(
        &[
            "bench",
            "aggregate",
            "--rules",
            "no_such_rule",
            "--n",
            "6",
            "--d",
            "10",
        ],
        None,
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no_such_rule"));
}
