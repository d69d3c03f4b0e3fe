//! The HTTP API in-process (tower `oneshot`), on an embedded chain.

use std::sync::Arc;

use axum::{
    body::Body,
    http::{header, Request, StatusCode},
    Router,
};
use deai_api::{blob::sign_upload, Decimal};
use deai_node::{
    http::{router_with, HttpSettings},
    service::Embedded,
};
use deai_store::{BlobStore, EmbeddedChain, EmbeddedConfig};
use deai_types::{encode, ChainId, Hash32, Keypair};
use http_body_util::BodyExt as _;
use serde_json::Value;
use tower::ServiceExt as _;

use crate::ledger_sim::{genesis, transfer, users};

/// An embedded chain of three funded users served by the router, with its blob store.
pub(crate) struct Fixture {
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) node: Arc<Embedded>,
    pub(crate) blobs: Arc<BlobStore>,
    pub(crate) app: Router,
    pub(crate) users: Vec<Keypair>,
}

fn fixture(rate: f64) -> Fixture {
    fixture_with(
        rate,
        HttpSettings {
            max_blob_bytes: 1024,
            ..HttpSettings::default()
        },
    )
}

/// [`Fixture`] with `rate` requests per second per IP and the limits of `settings`.
pub(crate) fn fixture_with(rate: f64, settings: HttpSettings) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let users = users(3);
    let chain = EmbeddedChain::init(
        dir.path().join("chain"),
        &genesis(&users),
        EmbeddedConfig::default(),
    )
    .unwrap();
    let node = Arc::new(Embedded::new(chain));
    let blobs = Arc::new(
        BlobStore::open(dir.path().join("blobs"))
            .unwrap()
            .with_max_bytes(settings.max_blob_bytes),
    );
    let app = router_with(node.clone(), blobs.clone(), rate, &settings);
    Fixture {
        _dir: dir,
        node,
        blobs,
        app,
        users,
    }
}

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, Vec<u8>) {
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, body)
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(body)))
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn post_tx(body: Vec<u8>, content_type: &str) -> Request<Body> {
    Request::post("/v1/tx")
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn submitted_transfer_is_included_and_visible() {
    let f = fixture(1e6);
    let tx = transfer(&f.users[0], &f.users[1], 0, 5);
    let (status, body) = call(&f.app, post_tx(encode(&tx), "application/octet-stream")).await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(json(&body)["hash"], tx.hash().to_string());
    // The same transfer as JSON with the next nonce: amounts are decimal strings, and a JSON
    // number where an amount belongs is refused.
    let tx2 = transfer(&f.users[0], &f.users[1], 1, 5);
    let (status, body) = call(
        &f.app,
        post_tx(serde_json::to_vec(&tx2).unwrap(), "application/json"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        json(&body)["message"]
            .as_str()
            .unwrap()
            .contains("decimal digits"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    let (status, _) = call(
        &f.app,
        post_tx(
            serde_json::to_vec(&Decimal(&tx2)).unwrap(),
            "application/json",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    f.node.produce(1_000).unwrap().unwrap();

    let (status, body) = call(
        &f.app,
        get(&format!("/v1/account/{}", f.users[1].account())),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["balance"], (1_000_000_000u64 + 10).to_string());
    let (status, body) = call(&f.app, get("/v1/block/1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["txs"].as_array().unwrap().len(), 2);
    let (_, status_body) = call(&f.app, get("/v1/status")).await;
    let (_, root_body) = call(&f.app, get("/v1/state-root")).await;
    assert_eq!(json(&status_body)["height"], 1);
    assert_eq!(
        json(&status_body)["state_root"],
        json(&root_body)["state_root"]
    );
    let (status, body) = call(&f.app, get("/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&body).contains("deai_txs_accepted_total 2"));
}

#[tokio::test]
async fn caller_faults_are_json_4xx() {
    let f = fixture(1e6);
    // Malformed bodies.
    let (status, body) = call(&f.app, post_tx(vec![1, 2, 3], "application/octet-stream")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json(&body)["error"], "bad_request");
    let (status, _) = call(
        &f.app,
        post_tx(b"{\"nope\":1}".to_vec(), "application/json"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Bad signature: a valid transaction with one signature byte flipped.
    let mut tx = transfer(&f.users[0], &f.users[1], 0, 5);
    tx.signature.0[0] ^= 1;
    let (status, body) = call(&f.app, post_tx(encode(&tx), "application/octet-stream")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(json(&body)["message"]
        .as_str()
        .unwrap()
        .contains("signature"));
    // Replay: the same nonce twice.
    let tx = transfer(&f.users[0], &f.users[1], 0, 5);
    assert_eq!(
        call(&f.app, post_tx(encode(&tx), "application/octet-stream"))
            .await
            .0,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        call(&f.app, post_tx(encode(&tx), "application/octet-stream"))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // Oversize transaction body.
    let (status, _) = call(&f.app, post_tx(vec![0; 70_000], "application/octet-stream")).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Unknown ids and bad ids.
    let unknown = Keypair::from_seed([99; 32]).account();
    assert_eq!(
        call(&f.app, get(&format!("/v1/account/{unknown}"))).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&f.app, get("/v1/account/xyz")).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        call(&f.app, get("/v1/task/7")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&f.app, get("/v1/block/99")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&f.app, get("/v1/nothing")).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn blobs_round_trip_and_reject_oversize_and_hash_mismatch() {
    let f = fixture(1e6);
    let chain = ChainId::new("deai-sim").unwrap();
    let signed = |uri: String, data: &[u8]| {
        let mut req = Request::put(uri);
        for (name, value) in sign_upload(&f.users[0], &chain, data) {
            req = req.header(name, value);
        }
        req.body(Body::from(data.to_vec())).unwrap()
    };
    let data = b"update blob".to_vec();
    let (status, body) = call(&f.app, signed("/v1/blob".into(), &data)).await;
    assert_eq!(status, StatusCode::CREATED);
    let hash = json(&body)["hash"].as_str().unwrap().to_string();
    assert_eq!(hash, Hash32::of(&data).to_string());
    let (status, got) = call(&f.app, get(&format!("/v1/blob/{hash}"))).await;
    assert_eq!((status, got), (StatusCode::OK, data.clone()));

    // The path names another hash: the signature (over the body's hash) does not match the
    // path's hash, and a signature over the path's hash does not match the body.
    let wrong = Hash32::of(b"something else");
    let (status, body) = call(&f.app, signed(format!("/v1/blob/{wrong}"), &data)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json(&body)["error"], "unauthorized");
    let mut put = signed(format!("/v1/blob/{wrong}"), b"something else");
    *put.body_mut() = Body::from(data.clone());
    let (status, body) = call(&f.app, put).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(json(&body)["error"], "hash_mismatch");
    let (status, body) = call(&f.app, signed(format!("/v1/blob/{hash}"), &data)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(json(&body)["stored"], false);

    let (status, body) = call(&f.app, signed("/v1/blob".into(), &[7u8; 2048])).await;
    assert_eq!(
        status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let missing = Hash32::of(b"never stored");
    assert_eq!(
        call(&f.app, get(&format!("/v1/blob/{missing}"))).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn clients_are_rate_limited() {
    let f = fixture(2.0);
    let mut codes = Vec::new();
    for _ in 0..10 {
        codes.push(call(&f.app, get("/v1/status")).await.0);
    }
    assert_eq!(codes[0], StatusCode::OK);
    assert!(codes.contains(&StatusCode::TOO_MANY_REQUESTS), "{codes:?}");
}

#[tokio::test]
async fn distributions_are_served_as_json_and_prometheus_gauges() {
    let f = fixture(1e6);
    // Move most of user 0's balance to user 1, so the balances are no longer equal.
    let tx = transfer(&f.users[0], &f.users[1], 0, 900_000_000);
    let (status, _) = call(&f.app, post_tx(encode(&tx), "application/octet-stream")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    f.node.produce(1_000).unwrap().unwrap();

    let (status, body) = call(&f.app, get("/v1/distributions")).await;
    assert_eq!(status, StatusCode::OK);
    let v = json(&body);
    assert_eq!(v["height"], 1);
    let (root, balances) = deai_node::http::Backend::read(&*f.node, |state, _| {
        let balances: Vec<u128> = state.accounts().map(|(_, a)| a.balance.0).collect();
        (state.root().to_string(), balances)
    });
    assert_eq!(v["state_root"], root);
    let served: Vec<deai_analytics::Distribution> =
        serde_json::from_value(v["distributions"].clone()).unwrap();
    let names: Vec<&str> = served.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        &names[..3],
        ["balances", "stake per hotkey", "governance voting power"]
    );
    let expected = deai_metrics::metrics_of_amounts(&balances);
    assert_eq!(served[0].metrics, expected);
    assert!(expected.gini > 0.0, "the transfer made balances unequal");

    let (_, body) = call(&f.app, get("/metrics")).await;
    let text = String::from_utf8_lossy(&body);
    let line = format!(
        "deai_distribution_gini{{distribution=\"balances\"}} {}",
        expected.gini
    );
    assert!(text.contains(&line), "{line} not in\n{text}");
    assert!(text.contains("# TYPE deai_distribution_nakamoto_1_3 gauge"));
}
