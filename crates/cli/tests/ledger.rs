//! End-to-end tests of `deai init`, `deai keys`, `deai tx` and `deai chain` on a temporary data
//! directory.

use std::path::Path;

mod common;
use common::{deai, json, ok};

fn fails(data_dir: &Path, args: &[&str]) -> String {
    let out = deai(data_dir, args);
    assert!(!out.status.success(), "deai {args:?} should fail");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr
}

fn balance(data_dir: &Path, who: &str) -> u128 {
    let v = json(data_dir, &["chain", "account", who]);
    // Amounts are decimal strings in every JSON output, as in the HTTP API.
    v["balance"].as_str().unwrap().parse().unwrap()
}

#[test]
fn amounts_above_u64_are_exact_decimal_strings_in_local_json() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let big: u128 = 1_000_000_000_000_000_000_000_000; // 10^24 > u64::MAX
    let init = json(
        d,
        &["init", "--accounts", "2", "--balance", &big.to_string()],
    );
    assert_eq!(init["accounts"][0]["balance"], big.to_string());
    let amount: u128 = 100_000_000_000_000_000_000; // 10^20
    let receipt = json(
        d,
        &[
            "tx",
            "transfer",
            "--from",
            "alice",
            "--to",
            "bob",
            "--amount",
            &amount.to_string(),
        ],
    );
    assert_eq!(receipt["status"], "ok", "{receipt}");
    assert_eq!(balance(d, "bob"), big + amount);
    let status = json(d, &["chain", "status"]);
    let supply: u128 = status["total_supply"].as_str().unwrap().parse().unwrap();
    assert!(
        supply <= 2 * big && supply > 2 * big - 1_000_000,
        "{status}"
    );
}

#[test]
fn init_transfer_account_verify() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let init = json(d, &["init", "--accounts", "3", "--balance", "5000000"]);
    assert_eq!(init["accounts"].as_array().unwrap().len(), 3);
    assert_eq!(init["accounts"][1]["name"], "bob");

    let keys = json(d, &["keys", "list"]);
    let names: Vec<_> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["alice", "bob", "carol"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("keys/alice.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let bob_before = balance(d, "bob");
    let alice_before = balance(d, "alice");
    assert_eq!(bob_before, 5_000_000);
    let receipt = json(
        d,
        &[
            "tx", "transfer", "--from", "alice", "--to", "bob", "--amount", "1234",
        ],
    );
    assert_eq!(receipt["status"], "ok");
    assert_eq!(receipt["height"], 1);
    assert_eq!(balance(d, "bob"), bob_before + 1234);
    // The fee (the chain's minimum fee) is burned from the sender.
    let min_fee = 1u128;
    assert_eq!(balance(d, "alice"), alice_before - 1234 - min_fee);
    // Accounts can be named by id too.
    let bob_id = ok(d, &["keys", "show", "bob"]).trim().to_string();
    assert_eq!(bob_id.len(), 64);
    assert_eq!(balance(d, &bob_id), bob_before + 1234);

    // A second transaction uses the next nonce automatically.
    ok(d, &["tx", "stake", "--from", "bob", "--amount", "1000"]);
    let bob = json(d, &["chain", "account", "bob"]);
    assert_eq!(bob["nonce"], 1);
    assert_eq!(bob["staked"], "1000");

    let status = json(d, &["chain", "status"]);
    assert_eq!(status["height"], 2);
    assert_eq!(status["transactions"], 2);
    let block = json(d, &["chain", "block", "1"]);
    assert_eq!(block["block"]["txs"].as_array().unwrap().len(), 1);
    let text = ok(d, &["chain", "block", "1"]);
    assert!(text.contains("1 transactions"), "{text}");

    let report = json(d, &["chain", "verify"]);
    assert_eq!(report["problem"], serde_json::Value::Null);
    assert_eq!(report["blocks_verified"], 3);
    let text = ok(d, &["chain", "verify"]);
    assert!(text.contains("ok:"), "{text}");

    // bob staked 1000: one hotkey holds all the stake.
    let m = json(d, &["chain", "metrics"]);
    assert_eq!(m["stake per hotkey"]["n"], 1);
    assert_eq!(m["stake per hotkey"]["nakamoto_1_2"], 1);
    assert_eq!(m["stake per hotkey"]["top_1_share"], 1.0);
    assert!(m["balances"]["n"].as_u64().unwrap() >= 2);
    let text = ok(d, &["chain", "metrics"]);
    assert!(text.contains("governance voting power"), "{text}");
    // No task, so no epoch has ended: the replay says so.
    let text = ok(d, &["chain", "metrics", "--over-time"]);
    assert!(text.contains("no epoch has ended"), "{text}");
}

#[test]
fn chain_metrics_over_time_replays_every_epoch_of_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let scenario = d.join("tiny.toml");
    std::fs::write(
        &scenario,
        "name = \"tiny\"\nrounds = 3\n[[miners]]\nkind = \"honest\"\ncount = 3\n\
         [[validators]]\nkind = \"honest\"\ncount = 2\n",
    )
    .unwrap();
    ok(d, &["run", scenario.to_str().unwrap()]);
    let chain = d.join("runs/tiny-seed0");
    let epochs = json(&chain, &["chain", "metrics", "--over-time"]);
    let epochs = epochs.as_array().unwrap();
    assert_eq!(epochs.len(), 3, "one row per epoch (one round each)");
    for (i, e) in epochs.iter().enumerate() {
        assert_eq!(e["epoch"], i as u64);
        let layers: Vec<&str> = e["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["layer"].as_str().unwrap())
            .collect();
        assert!(layers.contains(&"miner_rewards"), "{layers:?}");
        // Without the simulator's knowledge, data and compute are left out.
        assert!(!layers.contains(&"compute_contribution"), "{layers:?}");
    }
    let paid = |e: &serde_json::Value| {
        e["layers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["layer"] == "miner_rewards")
            .unwrap()["total"]
            .as_f64()
            .unwrap()
    };
    assert!(
        paid(&epochs[2]) > paid(&epochs[0]),
        "cumulative rewards grow"
    );
    let text = ok(&chain, &["chain", "metrics", "--over-time"]);
    assert!(text.contains("| miner_rewards |"), "{text}");
    assert!(text.contains("replayed heights 0..="), "{text}");
}

#[test]
fn errors_are_clear_and_exit_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let err = fails(d, &["chain", "status"]);
    assert!(err.contains("deai init"), "{err}");
    let err = fails(
        d,
        &[
            "tx", "transfer", "--from", "alice", "--to", "bob", "--amount", "1",
        ],
    );
    assert!(err.contains("alice"), "{err}");

    ok(d, &["init", "--accounts", "2", "--balance", "1000"]);
    let err = fails(d, &["init"]);
    assert!(err.contains("--force"), "{err}");
    let err = fails(d, &["tx", "transfer", "--to", "bob", "--amount", "1"]);
    assert!(err.contains("--from"), "{err}");
    let err = fails(
        d,
        &[
            "tx", "transfer", "--from", "alice", "--to", "zed", "--amount", "1",
        ],
    );
    assert!(err.contains("zed"), "{err}");
    let err = fails(d, &["chain", "block", "7"]);
    assert!(err.contains("head is at height 0"), "{err}");
    let err = fails(d, &["keys", "new", "bad name"]);
    assert!(err.contains("invalid key name"), "{err}");
    let err = fails(d, &["keys", "new", "alice"]);
    assert!(err.contains("already exists"), "{err}");

    // A transaction that executes but fails is included, pays its fee, and exits non-zero.
    let err = fails(
        d,
        &[
            "tx", "transfer", "--from", "alice", "--to", "bob", "--amount", "5000",
        ],
    );
    assert!(err.contains("failed"), "{err}");
    assert_eq!(balance(d, "alice"), 999);
    assert_eq!(balance(d, "bob"), 1000);
    // A replayed nonce is refused before it reaches a block.
    let err = fails(
        d,
        &[
            "tx", "transfer", "--from", "alice", "--to", "bob", "--amount", "1", "--nonce", "0",
        ],
    );
    assert!(err.contains("nonce"), "{err}");
    assert_eq!(json(d, &["chain", "status"])["height"], 1);

    // --force starts over and keeps the keys.
    let alice = ok(d, &["keys", "show", "alice"]);
    ok(
        d,
        &["init", "--force", "--accounts", "2", "--balance", "1000"],
    );
    assert_eq!(ok(d, &["keys", "show", "alice"]), alice);
    assert_eq!(json(d, &["chain", "status"])["height"], 0);
}

#[test]
fn verify_detects_a_tampered_block() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init", "--accounts", "2"]);
    for amount in ["10", "20", "30"] {
        ok(
            d,
            &[
                "tx", "transfer", "--from", "alice", "--to", "bob", "--amount", amount,
            ],
        );
    }
    ok(d, &["chain", "verify"]);
    {
        use redb::ReadableTable;
        let db = redb::Database::open(d.join("chain.redb")).unwrap();
        let wtx = db.begin_write().unwrap();
        {
            let mut t = wtx.open_table(deai_store::schema::BLOCKS).unwrap();
            let mut block: deai_types::Block =
                deai_types::decode(t.get(2).unwrap().unwrap().value()).unwrap();
            if let deai_types::Call::Transfer { amount, .. } = &mut block.txs[0].tx.call {
                amount.0 = 20_000;
            }
            t.insert(2, deai_types::encode(&block).as_slice()).unwrap();
        }
        wtx.commit().unwrap();
    }
    let err = fails(d, &["chain", "verify"]);
    assert!(err.contains("FAILED at height 2"), "{err}");
}

#[test]
fn every_subcommand_has_help() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["init", "--help"][..],
        &["keys", "--help"],
        &["keys", "new", "--help"],
        &["tx", "--help"],
        &["tx", "transfer", "--help"],
        &["tx", "propose-task", "--help"],
        &["tx", "register", "--help"],
        &["tx", "vote", "--help"],
        &["chain", "--help"],
        &["chain", "verify", "--help"],
        &["bench", "ledger", "--help"],
    ] {
        let text = ok(dir.path(), args);
        assert!(text.contains("Usage:"), "{args:?}: {text}");
        assert!(
            text.contains("--data-dir"),
            "{args:?} lacks the global flag"
        );
    }
}
