//! The API contract end to end: receipts (pending, succeeded, failed, included, unknown),
//! waiting for new heads (long poll, server-sent events, the cap on waiting clients, shutdown),
//! and `deai_api::Client` against the router served on 127.0.0.1 — a block holding a transfer
//! of 10^20 units read back whole.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    http::{header, Request, StatusCode},
    Router,
};
use deai_api::{Client, HeadAnswer, NodeMode, ReceiptAnswer, StatusAnswer, TxStatus};
use deai_chain::{Event, GenesisConfig, TxError};
use deai_node::{
    http::{router_with, serve, Backend as _, HttpSettings},
    service::Embedded,
};
use deai_store::{BlobStore, EmbeddedChain, EmbeddedConfig};
use deai_types::{
    encode, Amount, Call, ChainId, Hash32, Height, Keypair, Nonce, SignedTx, TaskId, Tx,
};
use futures::StreamExt as _;
use http_body_util::BodyExt as _;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tower::ServiceExt as _;

use crate::http::{fixture_with, Fixture};
use crate::ledger_sim::{genesis, transfer, users};

fn fixture() -> Fixture {
    fixture_with(1e6, HttpSettings::default())
}

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&body)));
    (status, value)
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

async fn submit(app: &Router, tx: &SignedTx) {
    let req = Request::post("/v1/tx")
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(Body::from(encode(tx)))
        .unwrap();
    let (status, body) = call(app, req).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["hash"], tx.hash().to_string());
}

async fn get_receipt(app: &Router, hash: Hash32) -> (StatusCode, Value) {
    call(app, get(&format!("/v1/tx/{hash}"))).await
}

#[tokio::test]
async fn receipts_say_pending_succeeded_failed_or_unknown() {
    let f = fixture();
    let ok = transfer(&f.users[0], &f.users[1], 0, 5);
    // Admitted (the fee is payable) but fails in its block: more than the balance.
    let too_much = transfer(&f.users[0], &f.users[1], 1, 2_000_000_000);
    submit(&f.app, &ok).await;
    submit(&f.app, &too_much).await;
    let (status, body) = get_receipt(&f.app, ok.hash()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        serde_json::json!({"hash": ok.hash().to_string(), "status": "pending"})
    );

    f.node.produce(1_000).unwrap().unwrap();
    let (status, body) = get_receipt(&f.app, ok.hash()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "succeeded", "{body}");
    assert_eq!(
        (body["height"].as_u64(), body["index"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(body["receipt"]["fee"], "1");
    assert_eq!(body["receipt"]["events"][0]["transferred"]["amount"], "5");
    let typed: ReceiptAnswer = serde_json::from_value(body).unwrap();
    let TxStatus::Succeeded { receipt, .. } = typed.status else {
        panic!("{typed:?}")
    };
    assert!(matches!(
        receipt.0.events[0],
        Event::Transferred {
            amount: Amount(5),
            ..
        }
    ));

    let (status, body) = get_receipt(&f.app, too_much.hash()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "failed", "{body}");
    assert_eq!(body["index"], 1);
    assert_eq!(body["error"]["code"], "insufficient_balance");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("less than the 2000000000 required"),
        "{body}"
    );
    assert_eq!(
        body["error"]["detail"]["insufficient_balance"]["needed"],
        "2000000000"
    );
    let typed: ReceiptAnswer = serde_json::from_value(body).unwrap();
    let TxStatus::Failed { error, .. } = typed.status else {
        panic!("{typed:?}")
    };
    assert!(matches!(
        error.detail.0,
        TxError::InsufficientBalance { .. }
    ));

    // The block's amounts are decimal strings too.
    let (_, block) = call(&f.app, get("/v1/block/1")).await;
    assert_eq!(block["txs"][0]["tx"]["fee"], "1");
    assert_eq!(
        block["txs"][1]["tx"]["call"]["transfer"]["amount"],
        "2000000000"
    );

    let (status, body) = get_receipt(&f.app, Hash32::of(b"never sent")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not_found");
    let (status, body) = call(&f.app, get("/v1/tx/xyz")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "bad_request");
}

#[tokio::test]
async fn outcomes_older_than_the_window_are_included_without_them() {
    let dir = tempfile::tempdir().unwrap();
    let users = users(2);
    let chain = EmbeddedChain::init(
        dir.path().join("chain"),
        &genesis(&users),
        EmbeddedConfig::default(),
    )
    .unwrap();
    let node = Arc::new(Embedded::new(chain).with_receipt_capacity(1));
    let blobs = Arc::new(BlobStore::open(dir.path().join("blobs")).unwrap());
    let app = router_with(node.clone(), blobs, 1e6, &HttpSettings::default());
    let (first, second) = (
        transfer(&users[0], &users[1], 0, 5),
        transfer(&users[0], &users[1], 1, 5),
    );
    submit(&app, &first).await;
    submit(&app, &second).await;
    node.produce(1_000).unwrap().unwrap();
    let (_, body) = get_receipt(&app, first.hash()).await;
    assert_eq!(
        body,
        serde_json::json!({"hash": first.hash().to_string(), "status": "included",
            "height": 1, "index": 0})
    );
    assert_eq!(
        get_receipt(&app, second.hash()).await.1["status"],
        "succeeded"
    );
}

#[tokio::test]
async fn the_head_long_poll_answers_on_the_next_block_or_after_its_wait() {
    let f = fixture();
    let (status, now) = call(&f.app, get("/v1/head")).await;
    assert_eq!(status, StatusCode::OK);
    let now: HeadAnswer = serde_json::from_value(now).unwrap();
    assert_eq!(now.height, Height(0));
    // Nothing new: the wait runs out and the unchanged head comes back.
    let start = Instant::now();
    let (_, same) = call(&f.app, get("/v1/head?after=0&wait_ms=100")).await;
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert_eq!(serde_json::from_value::<HeadAnswer>(same).unwrap(), now);
    // A head already above `after` comes back at once.
    let (_, at_once) = call(&f.app, get("/v1/head?after=0&wait_ms=0")).await;
    assert_eq!(at_once["height"], 0);

    // A block made while the client waits wakes it.
    let waiting = tokio::spawn({
        let app = f.app.clone();
        async move { call(&app, get("/v1/head?after=0")).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    submit(&f.app, &transfer(&f.users[0], &f.users[1], 0, 5)).await;
    let start = Instant::now();
    f.node.produce(1_000).unwrap().unwrap();
    let (status, next) = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the long poll should answer once a block is final")
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(start.elapsed() < Duration::from_secs(5));
    let next: HeadAnswer = serde_json::from_value(next).unwrap();
    assert_eq!(next.height, Height(1));
    let stored = f.node.read(|_, head| head.clone());
    assert_eq!(next, HeadAnswer::of(&stored));

    let (status, body) = call(&f.app, get("/v1/head?after=soon")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "bad_request");
}

#[tokio::test]
async fn waiting_clients_are_capped() {
    let f = fixture_with(
        1e6,
        HttpSettings {
            max_subscribers: 1,
            ..HttpSettings::default()
        },
    );
    let holder = tokio::spawn({
        let app = f.app.clone();
        async move { call(&app, get("/v1/head?after=0&wait_ms=1000")).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    for path in ["/v1/head?after=0", "/v1/events"] {
        let response = f.app.clone().oneshot(get(path)).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "unavailable");
    }
    // A head that needs no wait takes no permit.
    assert_eq!(call(&f.app, get("/v1/head")).await.0, StatusCode::OK);
    assert_eq!(holder.await.unwrap().0, StatusCode::OK);
    // The permit is back.
    let (status, _) = call(&f.app, get("/v1/head?after=0&wait_ms=10")).await;
    assert_eq!(status, StatusCode::OK);
}

/// Reads the next server-sent event (up to its blank line) from a body stream.
async fn next_event(
    stream: &mut (impl futures::Stream<Item = Result<axum::body::Bytes, axum::Error>> + Unpin),
    pending: &mut String,
) -> String {
    loop {
        if let Some(end) = pending.find("\n\n") {
            let event = pending[..end].to_string();
            pending.drain(..end + 2);
            if event.starts_with(':') {
                continue; // keep-alive comment
            }
            return event;
        }
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("an event within 5 s")
            .expect("the stream stays open")
            .unwrap();
        pending.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

#[tokio::test]
async fn events_stream_the_head_then_each_new_one() {
    let f = fixture();
    let response = f.app.clone().oneshot(get("/v1/events")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    let mut stream = response.into_body().into_data_stream();
    let mut pending = String::new();
    let first = next_event(&mut stream, &mut pending).await;
    assert!(
        first.contains("event: head") && first.contains("id: 0"),
        "{first}"
    );
    for nonce in 0..2 {
        submit(&f.app, &transfer(&f.users[0], &f.users[1], nonce, 5)).await;
        f.node.produce(1_000 + nonce).unwrap().unwrap();
        let event = next_event(&mut stream, &mut pending).await;
        let height = nonce + 1;
        assert!(event.contains(&format!("id: {height}")), "{event}");
        let data = event
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .unwrap();
        let head: HeadAnswer = serde_json::from_str(data).unwrap();
        assert_eq!(head.height, Height(height));
    }
}

#[tokio::test]
async fn a_waiting_client_does_not_hold_up_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let chain = EmbeddedChain::init(
        dir.path().join("chain"),
        &genesis(&users(1)),
        EmbeddedConfig::default(),
    )
    .unwrap();
    let node = Arc::new(Embedded::new(chain));
    let blobs = Arc::new(BlobStore::open(dir.path().join("blobs")).unwrap());
    let settings = HttpSettings::default();
    let app = router_with(node, blobs, 1e6, &settings);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        serve(listener, app, &settings, async move {
            let _ = stopped.await;
        })
        .await
    });
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /v1/events HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 512];
    let n = stream.read(&mut first).await.unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).contains("200 OK"));
    let start = Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stops without waiting out its grace period")
        .unwrap()
        .unwrap();
    assert!(start.elapsed() < Duration::from_secs(5));
}

/// The router of an embedded chain served on 127.0.0.1 by a background runtime that also makes
/// a block every few milliseconds when one is due; stopped on drop.
struct Served {
    url: String,
    node: Arc<Embedded>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Served {
    fn start(genesis: &GenesisConfig) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let chain =
            EmbeddedChain::init(dir.path().join("chain"), genesis, EmbeddedConfig::default())
                .unwrap()
                .with_idle_block_interval(50);
        let node = Arc::new(Embedded::new(chain));
        let blobs = Arc::new(BlobStore::open(dir.path().join("blobs")).unwrap());
        let settings = HttpSettings::default();
        let app = router_with(node.clone(), blobs, 1e6, &settings);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let producer = node.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                tokio::spawn(async move {
                    let mut last = 0u64;
                    loop {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap()
                            .as_millis() as u64;
                        last = now.max(last + 1);
                        producer.produce(last).expect("block production");
                    }
                });
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                serve(listener, app, &settings, async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
        });
        Served {
            url,
            node,
            stop: Some(stop),
            thread: Some(thread),
            _dir: dir,
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

const TEN_TO_THE_20: u128 = 100_000_000_000_000_000_000;

#[test]
fn the_client_reads_every_answer_back_typed_including_a_10_pow_20_transfer() {
    let keys = users(2);
    let (rich, other) = (&keys[0], &keys[1]);
    let chain_id = ChainId::new("deai-api-test").unwrap();
    // More than u64::MAX each, so the transfer below does not fit a JSON integer of most
    // readers nor a double exactly.
    let funded = Amount(10 * TEN_TO_THE_20);
    let served = Served::start(&GenesisConfig::funded(
        chain_id.clone(),
        keys.iter().map(Keypair::account),
        funded,
    ));
    let client = Client::new(&served.url).unwrap();

    let status: StatusAnswer = client.status().unwrap();
    assert_eq!(status.mode, NodeMode::Embedded);
    assert_eq!(status.chain_id, chain_id);
    assert_eq!(status.total_supply, Amount(2 * funded.0));

    let sign = |nonce: u64, call: Call| {
        rich.sign_tx(Tx {
            chain_id: chain_id.clone(),
            nonce: Nonce(nonce),
            fee: Amount(1),
            call,
        })
    };
    let big = sign(
        0,
        Call::Transfer {
            to: other.account(),
            amount: Amount(TEN_TO_THE_20),
        },
    );
    let hash = client.submit_tx(&big).unwrap();
    assert_eq!(hash, big.hash());
    let answer = client
        .wait_for_receipt(&hash, Duration::from_secs(10))
        .unwrap();
    let TxStatus::Succeeded {
        height, receipt, ..
    } = answer.status
    else {
        panic!("{answer:?}")
    };
    assert_eq!(
        receipt.0.events,
        vec![Event::Transferred {
            from: rich.account(),
            to: other.account(),
            amount: Amount(TEN_TO_THE_20),
        }]
    );
    // The block comes back whole: the same transaction, hence the same hash.
    let block = client.block(height).unwrap();
    assert_eq!(block.txs, vec![big.clone()]);
    assert_eq!(
        block.header,
        served.node.block(height).unwrap().unwrap().header
    );
    let account = client.account(&other.account()).unwrap();
    assert_eq!(account.balance, Amount(funded.0 + TEN_TO_THE_20));
    assert_eq!(account.nonce, Nonce(0));

    // A transaction that fails in its block: a transfer to oneself.
    let failing = sign(
        1,
        Call::Transfer {
            to: rich.account(),
            amount: Amount(1),
        },
    );
    client.submit_tx(&failing).unwrap();
    let answer = client
        .wait_for_receipt(&failing.hash(), Duration::from_secs(10))
        .unwrap();
    let TxStatus::Failed { error, .. } = answer.status else {
        panic!("{answer:?}")
    };
    assert_eq!(error.code, "self_transfer");
    assert_eq!(error.detail.0, TxError::SelfTransfer);

    // Waiting for heights (empty blocks come every 50 ms).
    let head = client.head().unwrap();
    let later = client
        .wait_for_height(Height(head.height.0 + 2), Duration::from_secs(10))
        .unwrap();
    assert!(later.height.0 >= head.height.0 + 2);
    let root = client.state_root().unwrap();
    assert!(root.height >= later.height);

    // Blobs, signed by a ledger account.
    let bytes = b"a model update".to_vec();
    let uploaded = client.put_blob(rich, &chain_id, &bytes).unwrap();
    assert_eq!(uploaded.hash, Hash32::of(&bytes));
    assert!(uploaded.stored);
    assert_eq!(client.get_blob(&uploaded.hash).unwrap(), bytes);

    // Not found is a typed 404.
    let nobody = Keypair::from_seed([77; 32]).account();
    let err = client.account(&nobody).unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().ends_with("(HTTP 404)"), "{err}");
    assert!(client.task(TaskId(9)).unwrap_err().is_not_found());
    assert!(client
        .receipt(&Hash32::of(b"no"))
        .unwrap_err()
        .is_not_found());
}
