//! `deai demo` end to end, shortened to 2 rounds: the report folder it writes, the same report
//! bit for bit from the same seed, and the chain it leaves re-verifying from genesis.

mod common;

use std::path::Path;

use common::ok;

/// The files of the report that must not depend on anything but the seed (`run.json` also
/// records wall-clock times and the data directory, so it is left out).
const DETERMINISTIC: [&str; 7] = [
    "report.md",
    "summary.json",
    "rounds.csv",
    "layers.csv",
    "layers.json",
    "accuracy.png",
    "rewards.png",
];

fn demo(data_dir: &Path) -> std::path::PathBuf {
    let stdout = ok(data_dir, &["demo", "--rounds", "2", "--no-reference"]);
    assert!(stdout.contains("final test accuracy"), "{stdout}");
    assert!(stdout.contains("honest miners' share"), "{stdout}");
    data_dir.join("reports/demo-seed0")
}

#[test]
fn demo_writes_its_report_and_the_same_seed_gives_the_same_report() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ra, rb) = (demo(a.path()), demo(b.path()));
    for name in DETERMINISTIC.iter().chain(&["run.json"]) {
        assert!(ra.join(name).is_file(), "{name} missing from the report");
    }
    for png in ["accuracy.png", "rewards.png"] {
        let bytes = std::fs::read(ra.join(png)).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{png} is not a PNG"
        );
    }
    for name in DETERMINISTIC {
        assert!(
            std::fs::read(ra.join(name)).unwrap() == std::fs::read(rb.join(name)).unwrap(),
            "{name} differs between two runs of the same seed"
        );
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ra.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["seed"], 0);
    assert_eq!(summary["rewards"].as_array().unwrap().len(), 14);
    let rounds = std::fs::read_to_string(ra.join("rounds.csv")).unwrap();
    assert_eq!(rounds.lines().count(), 3, "a header and one line per round");

    // The chain the demo leaves re-executes from genesis and re-derives its models.
    let verified = ok(&a.path().join("runs/demo-seed0"), &["chain", "verify"]);
    assert!(verified.contains("ok: every parent link"), "{verified}");
    assert!(
        verified.contains("re-derived 2 recorded models"),
        "{verified}"
    );

    // Another seed gives another run.
    let c = tempfile::tempdir().unwrap();
    ok(
        c.path(),
        &["demo", "--rounds", "2", "--no-reference", "--seed", "1"],
    );
    let other = std::fs::read(c.path().join("reports/demo-seed1/summary.json")).unwrap();
    assert!(other != std::fs::read(ra.join("summary.json")).unwrap());
}
