//! `deai concentration` end to end on a small population: files written, stake cap measured.

use std::process::Command;

const POPULATION: &str = r#"
seed = 5
epochs = 20

[population]
validators = 10
miners = 40
validator_stake = { kind = "pareto", alpha = 1.1, scale = 100.0 }
sybil = { owners = 2, miners_per_owner = 5, quality_spread = 0.02 }
"#;

fn scenario(name: &str, mechanism: &str) -> String {
    format!("name = \"{name}\"\n{POPULATION}\n[mechanism]\n{mechanism}\n")
}

#[test]
fn writes_runs_summary_plots_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.toml");
    let cap = dir.path().join("cap.toml");
    std::fs::write(&base, scenario("base", "kind = \"yuma\"")).unwrap();
    std::fs::write(
        &cap,
        scenario("cap", "kind = \"stake_cap\"\npercentile = 50.0"),
    )
    .unwrap();
    let out = dir.path().join("out");
    let report = dir.path().join("docs/report.md");
    let status = Command::new(env!("CARGO_BIN_EXE_deai"))
        .args(["concentration"])
        .arg(&base)
        .arg(&cap)
        .arg("--out")
        .arg(&out)
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    for f in [
        "base/run.json",
        "base/epochs.csv",
        "cap/epochs.csv",
        "summary.csv",
        "base-reward-nakamoto.png",
    ] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    let csv = std::fs::read_to_string(out.join("cap/epochs.csv")).unwrap();
    assert_eq!(csv.lines().count(), 21, "header + 20 epochs");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let capped = summary
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "cap")
        .unwrap();
    assert_eq!(capped["baseline"], "base");
    assert!(
        capped["reward_nakamoto_change"].as_i64().unwrap() > 0,
        "{capped}"
    );
    let md = std::fs::read_to_string(&report).unwrap();
    assert!(md.contains("| cap | stake_cap p50 |"), "{md}");
    // Image links are relative to the report's folder.
    assert!(md.contains("](../out/base-reward-nakamoto.png)"), "{md}");
}

#[test]
fn a_bad_key_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        scenario("bad", "kind = \"stake_cap\"\npercentile = 50.0\ncap = 3"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_deai"))
        .args(["concentration"])
        .arg(&bad)
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: ") && err.contains("bad.toml") && err.contains("cap"),
        "{err}"
    );
}
