//! `deai tx … --node URL` and `deai chain … --node URL` against a node in this process: the
//! HTTP router of `deai_node::http` over an embedded chain, served on 127.0.0.1 by a background
//! tokio runtime that also produces a block whenever transactions are waiting (as `deai node`
//! does on its timer). The CLI runs as the real binary.
//!
//! The node's genesis funds the keys of a `deai init` data directory with a different balance
//! than that directory's own chain, so every number read back shows where it came from.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use deai_chain::GenesisConfig;
use deai_node::http::{router, Backend as _};
use deai_node::service::Embedded;
use deai_store::{BlobStore, EmbeddedChain, EmbeddedConfig};
use deai_types::{AccountId, Amount, ChainId, Height, Params};

mod common;
use common::{deai, json, ok};

const LOCAL_BALANCE: u128 = 5_000_000;
const NODE_BALANCE: u128 = 7_000_000;
const CHAIN_ID: &str = "deai-remote";

/// Runs a command that must fail; returns its stderr, which must be one `error: …` line.
fn fails(data_dir: &Path, args: &[&str]) -> String {
    let out = deai(data_dir, args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success(), "deai {args:?} should fail: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A node serving the HTTP API on 127.0.0.1; stopped (graceful shutdown) on drop.
struct Node {
    url: String,
    chain: Arc<Embedded>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Node {
    fn start(accounts: Vec<(AccountId, Amount)>) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let genesis = GenesisConfig {
            chain_id: ChainId::new(CHAIN_ID).unwrap(),
            genesis_time_ms: 0,
            accounts,
            stakes: Vec::new(),
            params: Params::default(),
        };
        let chain = EmbeddedChain::init(
            dir.path().join("chain"),
            &genesis,
            EmbeddedConfig::default(),
        )
        .unwrap();
        let chain = Arc::new(Embedded::new(chain));
        let blobs = Arc::new(BlobStore::open(dir.path().join("blobs")).unwrap());
        let app = router(chain.clone(), blobs, 10_000.0);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let producer = chain.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        let parent = producer.read(|_, head| head.timestamp_ms);
                        producer
                            .produce(now_ms().max(parent + 1))
                            .expect("block production");
                    }
                });
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .with_graceful_shutdown(async {
                    let _ = stop.await;
                })
                .await
                .unwrap();
            });
        });
        Node {
            url,
            chain,
            shutdown: Some(shutdown),
            thread: Some(thread),
            _dir: dir,
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A `deai init` data directory (alice, bob, carol) and a node whose genesis funds alice and
/// bob only, with a different balance.
fn setup() -> (tempfile::TempDir, Vec<AccountId>, Node) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let balance = LOCAL_BALANCE.to_string();
    let init = json(
        d,
        &[
            "init",
            "--accounts",
            "3",
            "--balance",
            &balance,
            "--chain-id",
            CHAIN_ID,
        ],
    );
    let ids: Vec<AccountId> = init["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account"].as_str().unwrap().parse().unwrap())
        .collect();
    let node = Node::start(
        ids[..2]
            .iter()
            .map(|id| (*id, Amount(NODE_BALANCE)))
            .collect(),
    );
    (dir, ids, node)
}

/// An amount as the CLI prints it: a decimal string over `--node` (the API's form), a number
/// from a data directory.
fn as_u128(v: &serde_json::Value) -> u128 {
    match v.as_str() {
        Some(text) => text.parse().unwrap(),
        None => v
            .as_u64()
            .map(u128::from)
            .unwrap_or_else(|| v.to_string().parse().unwrap()),
    }
}

#[test]
fn remote_transfer_then_status_block_and_account() {
    let (dir, ids, node) = setup();
    let d = dir.path();
    let url = node.url.as_str();

    let sent = json(
        d,
        &[
            "tx", "transfer", "--from", "alice", "--to", "bob", "--amount", "1234", "--node", url,
        ],
    );
    // The node's receipt, as `deai tx` reports one on a data directory.
    assert_eq!(sent["status"], "ok", "{sent}");
    assert_eq!(sent["nonce"], 0);
    assert_eq!(sent["receipt"]["fee"], "1", "{sent}");
    assert_eq!(
        sent["receipt"]["events"][0]["transferred"]["amount"], "1234",
        "{sent}"
    );
    let height = sent["height"].as_u64().unwrap();
    assert!(height >= 1);

    // The node's own state agrees with what the CLI reads over HTTP.
    let fee = Params::default().min_fee.0;
    let (alice_balance, bob_balance, alice_nonce, root) = node.chain.read(|state, _| {
        (
            state.balance_of(&ids[0]).0,
            state.balance_of(&ids[1]).0,
            state.nonce_of(&ids[0]).0,
            state.root().to_string(),
        )
    });
    assert_eq!(bob_balance, NODE_BALANCE + 1234);
    assert_eq!(alice_balance, NODE_BALANCE - 1234 - fee);
    let bob = json(d, &["chain", "account", "bob", "--node", url]);
    assert_eq!(as_u128(&bob["balance"]), bob_balance);
    assert_eq!(bob["account"], ids[1].to_string());
    let alice = json(d, &["chain", "account", "alice", "--node", url]);
    assert_eq!(as_u128(&alice["balance"]), alice_balance);
    assert_eq!(alice["nonce"].as_u64(), Some(alice_nonce));

    let status = json(d, &["chain", "status", "--node", url]);
    assert_eq!(status["chain_id"], CHAIN_ID);
    assert_eq!(status["height"].as_u64(), Some(height));
    assert_eq!(status["state_root"], root.as_str());
    assert_eq!(status["node"], url);
    let supply = node.chain.read(|state, _| state.total_supply().0);
    assert_eq!(as_u128(&status["total_supply"]), supply);

    let block = json(d, &["chain", "block", &height.to_string(), "--node", url]);
    let stored = node.chain.block(Height(height)).unwrap().unwrap();
    assert_eq!(block["hash"], stored.header.hash().to_string());
    assert_eq!(
        block["block"]["txs"].as_array().unwrap().len(),
        stored.txs.len()
    );
    assert_eq!(
        block["block"]["txs"][sent["index"].as_u64().unwrap() as usize]["signer"],
        serde_json::to_value(ids[0]).unwrap()
    );

    // The next nonce comes from the node (the local chain still has alice at nonce 0).
    let again = json(
        d,
        &[
            "tx", "transfer", "--from", "alice", "--to", "bob", "--amount", "1", "--node", url,
        ],
    );
    assert_eq!(again["status"], "ok", "{again}");
    assert_eq!(again["nonce"], 1);
    assert_eq!(
        node.chain.read(|state, _| state.balance_of(&ids[1]).0),
        NODE_BALANCE + 1235
    );

    // The live node's distributions: the same metrics the node's state gives, keyed by name.
    let served = json(d, &["chain", "metrics", "--node", url]);
    let expected = node
        .chain
        .read(|state, _| deai_analytics::state_distributions(state));
    assert_eq!(
        served.as_object().unwrap().len(),
        expected.len(),
        "{served}"
    );
    for dist in &expected {
        assert_eq!(
            served[dist.name.as_str()],
            serde_json::to_value(dist.metrics).unwrap(),
            "{}",
            dist.name
        );
    }
    assert!(
        served["balances"]["gini"].as_f64().unwrap() > 0.0,
        "{served}"
    );
    let text = ok(d, &["chain", "metrics", "--node", url]);
    assert!(
        text.contains("from the node at") && text.contains("stake per hotkey"),
        "{text}"
    );

    // The local chain in --data-dir was not touched.
    let local = json(d, &["chain", "account", "bob"]);
    assert_eq!(as_u128(&local["balance"]), LOCAL_BALANCE);

    // Text mode and a submission that does not wait for its block.
    let text = ok(d, &["chain", "status", "--node", url]);
    assert!(
        text.contains(&format!("height     {}", height + 1)),
        "{text}"
    );
    let queued = json(
        d,
        &[
            "tx", "stake", "--from", "bob", "--amount", "10", "--wait", "0", "--node", url,
        ],
    );
    assert_eq!(queued["status"], "accepted", "{queued}");
}

#[test]
fn remote_errors_carry_the_node_message_and_http_code() {
    let (dir, ids, node) = setup();
    let d = dir.path();
    let url = node.url.as_str();

    // carol is not in the node's genesis.
    let err = fails(d, &["chain", "account", "carol", "--node", url]);
    assert!(err.ends_with("(HTTP 404)\n"), "{err}");
    assert!(
        err.contains(&ids[2].to_string()) && err.contains("does not exist"),
        "{err}"
    );

    let err = fails(d, &["chain", "block", "999", "--node", url]);
    assert!(
        err.ends_with("(HTTP 404)\n") && err.contains("999"),
        "{err}"
    );

    // A transaction the node refuses: a nonce below the account's (422 from the mempool).
    ok(
        d,
        &[
            "tx", "transfer", "--from", "alice", "--to", "bob", "--amount", "5", "--node", url,
        ],
    );
    let err = fails(
        d,
        &[
            "tx", "transfer", "--from", "alice", "--to", "bob", "--amount", "5", "--nonce", "0",
            "--node", url,
        ],
    );
    assert!(err.ends_with("(HTTP 422)\n"), "{err}");
    assert_eq!(
        node.chain.read(|state, _| state.balance_of(&ids[1]).0),
        NODE_BALANCE + 5
    );

    // Commands that need the whole ledger name the alternative.
    let err = fails(d, &["chain", "verify", "--node", url]);
    assert!(err.contains("--data-dir"), "{err}");
    let err = fails(d, &["chain", "metrics", "--over-time", "--node", url]);
    assert!(
        err.contains("--data-dir") && err.contains("--over-time"),
        "{err}"
    );

    // Client-side errors.
    let err = fails(d, &["chain", "status", "--node", "http://127.0.0.1:1"]);
    assert!(err.contains("cannot reach the node"), "{err}");
    let err = fails(d, &["chain", "status", "--node", "https://127.0.0.1:1"]);
    assert!(err.contains("https is not supported"), "{err}");
    let err = fails(d, &["tx", "withdraw", "--from", "alice", "--wait", "5"]);
    assert!(err.contains("--wait only applies with --node"), "{err}");
}

#[test]
fn a_transfer_that_fails_in_its_block_exits_non_zero_with_the_ledger_error() {
    let (dir, ids, node) = setup();
    let d = dir.path();
    let url = node.url.as_str();
    let too_much = (NODE_BALANCE * 2).to_string();
    let args = [
        "tx", "transfer", "--from", "alice", "--to", "bob", "--amount", &too_much, "--node", url,
    ];
    let err = fails(d, &args);
    assert!(
        err.contains("failed") && err.contains("insufficient_balance"),
        "{err}"
    );
    assert!(err.contains("only its fee was charged"), "{err}");
    // In its block: the fee was charged and the nonce used, nothing moved.
    let fee = Params::default().min_fee.0;
    let (alice, bob, nonce) = node.chain.read(|state, _| {
        (
            state.balance_of(&ids[0]).0,
            state.balance_of(&ids[1]).0,
            state.nonce_of(&ids[0]).0,
        )
    });
    assert_eq!((alice, bob, nonce), (NODE_BALANCE - fee, NODE_BALANCE, 1));

    // With --json the failure is printed as JSON, and the exit status is still non-zero.
    let out = deai(d, &[&["--json"], &args[..]].concat());
    assert!(!out.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["status"], "failed", "{printed}");
    assert_eq!(printed["error_code"], "insufficient_balance");
    assert_eq!(printed["nonce"], 1);
    assert_eq!(
        printed["error_detail"]["insufficient_balance"]["needed"],
        too_much.as_str()
    );
}

#[test]
fn amounts_above_u64_travel_as_decimal_strings() {
    const BIG: u128 = 100_000_000_000_000_000_000; // 10^20 > u64::MAX
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let init = json(d, &["init", "--accounts", "2", "--chain-id", CHAIN_ID]);
    let ids: Vec<AccountId> = init["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account"].as_str().unwrap().parse().unwrap())
        .collect();
    let node = Node::start(ids.iter().map(|id| (*id, Amount(10 * BIG))).collect());
    let url = node.url.as_str();

    let big = BIG.to_string();
    let sent = json(
        d,
        &[
            "tx", "transfer", "--from", "alice", "--to", "bob", "--amount", &big, "--node", url,
        ],
    );
    assert_eq!(sent["status"], "ok", "{sent}");
    assert_eq!(
        sent["receipt"]["events"][0]["transferred"]["amount"],
        big.as_str()
    );
    let height = sent["height"].as_u64().unwrap().to_string();
    // `deai chain block --node` reads the block back whole (it used to fail on `1e+20`).
    let block = json(d, &["chain", "block", &height, "--node", url]);
    let index = sent["index"].as_u64().unwrap() as usize;
    assert_eq!(
        block["block"]["txs"][index]["tx"]["call"]["transfer"]["amount"],
        big.as_str(),
        "{block}"
    );
    let text = ok(d, &["chain", "block", &height, "--node", url]);
    assert!(text.contains(&big), "{text}");
    let bob = json(d, &["chain", "account", "bob", "--node", url]);
    assert_eq!(as_u128(&bob["balance"]), 11 * BIG);
    let status = json(d, &["chain", "status", "--node", url]);
    assert_eq!(
        as_u128(&status["total_supply"]),
        node.chain.read(|state, _| state.total_supply().0)
    );
}
