//! Helpers shared by the CLI integration tests: run the `deai` binary on a data directory.
//! Each test binary compiles this module and uses only some of its helpers.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs `deai --data-dir DATA_DIR ARGS…` (ignoring any `DEAI_DATA_DIR` of the environment).
pub fn deai(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_deai"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("DEAI_DATA_DIR")
        .output()
        .unwrap()
}

/// Runs a command that must succeed; returns its stdout.
pub fn ok(data_dir: &Path, args: &[&str]) -> String {
    let out = deai(data_dir, args);
    assert!(
        out.status.success(),
        "deai {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command with `--json` that must succeed; returns the parsed output.
pub fn json(data_dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    serde_json::from_str(&ok(data_dir, &a)).unwrap()
}
