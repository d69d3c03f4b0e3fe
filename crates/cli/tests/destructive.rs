//! Commands that delete or rewrite a data directory take the lock a running node holds, and
//! never delete outside `--data-dir`; `deai aggregate` refuses parameters that used to panic
//! or hang and results that overflow.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{deai, ok};
use deai_store::store::{DataDirLock, LOCK_FILE};
use deai_store::Store;

fn fails(data_dir: &Path, args: &[&str]) -> String {
    let out = deai(data_dir, args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "deai {args:?} should fail with exit 1: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn genesis_hash(data_dir: &Path) -> String {
    let store = Store::open(data_dir).unwrap();
    store
        .block(deai_types::Height(0))
        .unwrap()
        .unwrap()
        .header
        .hash()
        .to_string()
}

/// A `deai node` process, killed when dropped.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn init_force_is_refused_while_a_node_holds_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(&data, &["init"]);
    let before = genesis_hash(&data);

    // A running `deai node` holds the lock for its lifetime.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let node = Node(
        Command::new(env!("CARGO_BIN_EXE_deai"))
            .arg("--data-dir")
            .arg(&data)
            .args(["node", "--listen", &format!("127.0.0.1:{port}")])
            .env_remove("DEAI_DATA_DIR")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = node.0.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(data.join(LOCK_FILE))
        .unwrap_or_default()
        .trim()
        != pid.to_string()
    {
        assert!(Instant::now() < deadline, "the node never took the lock");
        std::thread::sleep(Duration::from_millis(50));
    }
    let err = fails(&data, &["init", "--force"]);
    assert!(
        err.contains("is in use by another process") && err.contains(&format!("pid {pid}")),
        "{err}"
    );
    drop(node);
    // The node's database is the one it had: not deleted, not replaced.
    assert_eq!(genesis_hash(&data), before);
    // Once the node is gone, --force starts over (a new genesis time, so a new hash).
    std::thread::sleep(Duration::from_millis(5));
    ok(&data, &["init", "--force"]);
    assert_ne!(genesis_hash(&data), before);
}

#[test]
fn init_force_is_refused_while_another_process_has_the_chain_open() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["init"]);
    let before = genesis_hash(dir.path());
    let store = Store::open(dir.path()).unwrap();
    let err = fails(dir.path(), &["init", "--force"]);
    assert!(
        err.contains("is in use by another process")
            && err.contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    // Plain `init` still says the chain exists (it deletes nothing).
    assert!(fails(dir.path(), &["init"]).contains("already exists"));
    drop(store);
    assert_eq!(genesis_hash(dir.path()), before);
}

/// A valid scenario file (the demo's) under another name.
fn scenario_named(dir: &Path, name: &str) -> std::path::PathBuf {
    let demo = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scenarios/demo.toml"
    ))
    .unwrap();
    assert!(
        demo.contains("\nname = \"demo\"\n"),
        "scenarios/demo.toml names itself"
    );
    let text = demo.replacen("name = \"demo\"", &format!("name = {name:?}"), 1);
    let path = dir.join("scenario.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn run_refuses_a_scenario_name_that_is_a_path() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let victim = dir.path().join("victim-seed0");
    std::fs::create_dir_all(&victim).unwrap();
    std::fs::write(victim.join("precious"), "keep me").unwrap();
    let absolute = dir.path().join("victim");
    for name in [absolute.to_str().unwrap(), "../victim", "a/b", "", "démo"] {
        let scenario = scenario_named(dir.path(), name);
        let err = fails(&data, &["run", scenario.to_str().unwrap()]);
        assert!(
            err.contains("`name`") && err.contains("A-Z"),
            "{name}: {err}"
        );
    }
    assert!(victim.join("precious").is_file());
}

#[cfg(unix)]
#[test]
fn run_never_deletes_outside_the_data_dir_through_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(data.join("runs")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("precious"), "keep me").unwrap();
    std::os::unix::fs::symlink(&outside, data.join("runs").join("demo-seed0")).unwrap();
    let scenario = scenario_named(dir.path(), "demo");
    let err = fails(&data, &["run", scenario.to_str().unwrap()]);
    assert!(err.contains("refusing to delete"), "{err}");
    assert!(outside.join("precious").is_file());
}

#[test]
fn run_does_not_clear_a_previous_run_whose_chain_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let previous = data.join("runs").join("demo-pv-seed0");
    std::fs::create_dir_all(&previous).unwrap();
    std::fs::write(previous.join("precious"), "keep me").unwrap();
    let lock = DataDirLock::acquire(&previous).unwrap();
    // `demo-pv` is a valid name (scenarios/demo-pv.toml).
    let scenario = scenario_named(dir.path(), "demo-pv");
    let err = fails(&data, &["run", scenario.to_str().unwrap()]);
    assert!(err.contains("is in use by another process"), "{err}");
    drop(lock);
    assert!(previous.join("precious").is_file());
}

/// `deai aggregate` on one case; returns (exit code, stderr, elapsed).
fn aggregate(case: serde_json::Value) -> (Option<i32>, String, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("case.json");
    std::fs::write(&path, case.to_string()).unwrap();
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_deai"))
        .args(["aggregate", "--input", path.to_str().unwrap()])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn aggregate_refuses_overflowing_parameters_and_results() {
    let x = serde_json::json!([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0], [3.0, 1.0]]);
    let cases = [
        ("krum", serde_json::json!({ "f": u64::MAX }), "2f + 2"),
        (
            "multi_krum",
            serde_json::json!({ "f": u64::MAX / 2 }),
            "2f + 2",
        ),
        (
            "trimmed_mean",
            serde_json::json!({ "k": u64::MAX }),
            "n - 2k",
        ),
        (
            "centered_clipping",
            serde_json::json!({ "tau": 1.0, "L": 1_000_000_000_000_000_000u64 }),
            "`L`",
        ),
        (
            "geometric_median",
            serde_json::json!({ "max_iter": u64::MAX }),
            "`max_iter`",
        ),
    ];
    for (rule, params, says) in cases {
        let (code, err, took) =
            aggregate(serde_json::json!({ "rule": rule, "params": params, "X": x }));
        assert_eq!(code, Some(1), "{rule}: {err}");
        assert!(
            err.contains(says) && !err.contains("panicked"),
            "{rule}: {err}"
        );
        assert!(took < Duration::from_secs(10), "{rule} took {took:?}");
    }
    // FedAvg of [1e308, 1e308] overflows f64: an error, not `[null]`.
    let (code, err, _) = aggregate(serde_json::json!({
        "rule": "fedavg", "params": {}, "X": [[1e308], [1e308]]
    }));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("not finite"), "{err}");
    // A bench grid whose n × d overflows is refused before anything is allocated.
    let huge = u64::MAX.to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_deai"))
        .args([
            "bench",
            "aggregate",
            "--n",
            &huge,
            "--d",
            "2",
            "--rules",
            "fedavg",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("n × d"), "{err}");
}
