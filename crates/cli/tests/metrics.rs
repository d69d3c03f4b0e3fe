//! `deai metrics` end to end: files, stdin, both input shapes, and errors naming the index.

use std::io::Write;
use std::process::{Command, Output, Stdio};

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

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn reference_case_from_a_file_has_every_key() {
    let vectors: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/vectors/metrics.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for case in vectors["cases"].as_array().unwrap() {
        let path = dir.path().join("values.json");
        std::fs::write(&path, case["input"].to_string()).unwrap();
        let got = json(&deai(&["metrics", "--input", path.to_str().unwrap()], None));
        let keys = [
            "gini",
            "nakamoto_1_2",
            "nakamoto_1_3",
            "hhi",
            "entropy_normalized",
            "theil",
            "top_1_share",
            "top_3_share",
            "top_5_share",
            "top_10_share",
            "n",
        ];
        assert_eq!(got.as_object().unwrap().len(), keys.len());
        for key in keys {
            assert!(got.get(key).is_some(), "missing {key}");
        }
        for (key, want) in case["expected"].as_object().unwrap() {
            let (w, h) = (want.as_f64().unwrap(), got[key].as_f64().unwrap());
            assert!((w - h).abs() <= 1e-12, "{key}: {h} vs {w}");
        }
        assert_eq!(got["n"], case["input"].as_array().unwrap().len());
    }
}

#[test]
fn object_form_on_stdin() {
    let got = json(&deai(
        &["metrics", "--input", "-"],
        Some(r#"{"values": [1, 1, 2]}"#),
    ));
    assert_eq!(got["nakamoto_1_2"], 2); // 2 of 4 is exactly half: not a majority
    assert_eq!(got["nakamoto_1_3"], 1);
    assert_eq!(got["top_1_share"], 0.5);
    assert_eq!(got["n"], 3);
}

fn error_of(input: &str) -> String {
    let out = deai(&["metrics", "--input", "-"], Some(input));
    assert!(!out.status.success(), "accepted {input}");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.starts_with("error: "), "{err}");
    err
}

#[test]
fn bad_values_are_errors_naming_the_index() {
    assert!(error_of("[1, 2, -3]").contains("index 2"));
    assert!(error_of(r#"{"values": [1, -0.5]}"#).contains("index 1"));
    // Out of f64 range (infinite), NaN literals and non-numbers.
    assert!(error_of("[1, 1e999]").contains("index 1"));
    assert!(error_of("[NaN]").contains("index 0"));
    assert!(error_of(r#"[0, 1, "2"]"#).contains("index 2"));
    assert!(error_of(r#"{"vals": [1]}"#).contains("vals"));
    assert!(error_of("not json").contains("expected"));
}
