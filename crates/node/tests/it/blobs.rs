//! Blob admission in-process: signed uploads, quotas, streaming limits, garbage collection.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, SystemTime},
};

use axum::{
    body::{Body, Bytes},
    http::{Request, StatusCode},
    Router,
};
use deai_api::blob::sign_upload;
use deai_node::{http::HttpSettings, service::collect_blob_garbage};
use deai_store::BlobStore;
use deai_types::{
    encode, Amount, Call, ChainId, CommitKind, Fixed, Hash32, Keypair, Mechanism, Nonce,
    PhaseWindow, TaskSpec, Tx, Window,
};
use http_body_util::BodyExt as _;
use serde_json::Value;
use tower::ServiceExt as _;

use crate::http::{fixture_with, Fixture};

fn fixture(settings: HttpSettings) -> Fixture {
    fixture_with(1e6, settings)
}

fn small() -> HttpSettings {
    HttpSettings {
        max_blob_bytes: 4 * 1024,
        ..HttpSettings::default()
    }
}

fn chain() -> ChainId {
    ChainId::new("deai-sim").unwrap()
}

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&body)));
    (status, value)
}

fn signed_put(key: &Keypair, signed_bytes: &[u8], body: Body) -> Request<Body> {
    let mut req = Request::put("/v1/blob");
    for (name, value) in sign_upload(key, &chain(), signed_bytes) {
        req = req.header(name, value);
    }
    req.body(body).unwrap()
}

/// Nothing stored, no temporary file left.
fn assert_nothing_stored(blobs: &BlobStore) {
    assert!(blobs.list().unwrap().is_empty(), "{:?}", blobs.list());
    assert_eq!(
        std::fs::read_dir(blobs.root().join("tmp")).unwrap().count(),
        0,
        "temporary files left"
    );
    assert_eq!(blobs.total_bytes(), 0);
}

#[tokio::test]
async fn unsigned_badly_signed_and_foreign_uploads_store_nothing() {
    let f = fixture(small());
    let data = b"a model update".to_vec();
    let (status, body) = call(
        &f.app,
        Request::put("/v1/blob")
            .body(Body::from(data.clone()))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "unauthorized");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("x-deai-signature"));
    // Signed over other bytes.
    let (status, _) = call(
        &f.app,
        signed_put(&f.users[0], b"other bytes", Body::from(data.clone())),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Signed for another chain.
    let mut req = Request::put("/v1/blob");
    for (name, value) in sign_upload(&f.users[0], &ChainId::new("other").unwrap(), &data) {
        req = req.header(name, value);
    }
    let (status, _) = call(&f.app, req.body(Body::from(data.clone())).unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // One user's account with another's signature.
    let mut req = Request::put("/v1/blob");
    let [(_, _), (sig_name, sig)] = sign_upload(&f.users[1], &chain(), &data);
    req = req
        .header("x-deai-account", f.users[0].account().to_string())
        .header(sig_name, sig);
    let (status, _) = call(&f.app, req.body(Body::from(data.clone())).unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A well-signed upload from a key with no ledger account.
    let stranger = Keypair::from_seed([77; 32]);
    let (status, body) = call(
        &f.app,
        signed_put(&stranger, &data, Body::from(data.clone())),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // Malformed headers.
    let req = Request::put("/v1/blob")
        .header("x-deai-account", "zz")
        .header("x-deai-signature", "00")
        .body(Body::from(data.clone()))
        .unwrap();
    assert_eq!(call(&f.app, req).await.0, StatusCode::BAD_REQUEST);
    assert_nothing_stored(&f.blobs);

    let (status, body) = call(
        &f.app,
        signed_put(&f.users[0], &data, Body::from(data.clone())),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["stored"], true);
    assert_eq!(f.blobs.usage_of(&f.users[0].account()), data.len() as u64);
}

#[tokio::test]
async fn uploads_over_the_account_quota_or_node_capacity_store_nothing() {
    let f = fixture(HttpSettings {
        blob_quota_bytes: 100,
        blob_capacity_bytes: 150,
        ..small()
    });
    let first = vec![1u8; 60];
    let (status, _) = call(
        &f.app,
        signed_put(&f.users[0], &first, Body::from(first.clone())),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let before = f.blobs.list().unwrap();
    // 60 + 60 > 100 for user 0.
    let second = vec![2u8; 60];
    let (status, body) = call(
        &f.app,
        signed_put(&f.users[0], &second, Body::from(second.clone())),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"], "quota_exceeded");
    // Also when the body streams without a length.
    let stream = futures::stream::iter(
        second
            .chunks(7)
            .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    let (status, body) = call(
        &f.app,
        signed_put(&f.users[0], &second, Body::from_stream(stream)),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"], "quota_exceeded");
    // User 1 fits its own quota but not the node's capacity (60 + 95 > 150).
    let third = vec![3u8; 95];
    let (status, body) = call(
        &f.app,
        signed_put(&f.users[1], &third, Body::from(third.clone())),
    )
    .await;
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{body}");
    assert_eq!(body["error"], "storage_full");
    assert_eq!(f.blobs.list().unwrap(), before);
    assert_eq!(f.blobs.total_bytes(), 60);
    assert_eq!(
        std::fs::read_dir(f.blobs.root().join("tmp"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test]
async fn an_endless_body_is_cut_off_at_the_limit_without_buffering() {
    let f = fixture(small());
    let pulled = Arc::new(AtomicU64::new(0));
    let counter = pulled.clone();
    // An endless body: buffering it first would never finish.
    let stream = futures::stream::repeat_with(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        Ok::<_, std::io::Error>(Bytes::from(vec![9u8; 1024]))
    });
    let (status, body) = tokio::time::timeout(
        Duration::from_secs(10),
        call(
            &f.app,
            signed_put(&f.users[0], b"whatever", Body::from_stream(stream)),
        ),
    )
    .await
    .expect("the upload was not cut off");
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"], "too_large");
    // 4 KiB limit: the fifth 1 KiB chunk passes it.
    assert_eq!(pulled.load(Ordering::Relaxed), 5);
    assert_nothing_stored(&f.blobs);
    // A declared length over the limit is refused before reading.
    let req = Request::put("/v1/blob")
        .header("content-length", "1000000")
        .header("x-deai-account", f.users[0].account().to_string())
        .header(
            "x-deai-signature",
            f.users[0].sign(b"irrelevant").to_string(),
        )
        .body(Body::from(vec![0u8; 1_000_000]))
        .unwrap();
    assert_eq!(call(&f.app, req).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    assert_nothing_stored(&f.blobs);
}

#[tokio::test]
async fn a_stalled_body_times_out_and_leaves_nothing() {
    let f = fixture(HttpSettings {
        body_timeout_ms: 100,
        ..small()
    });
    let stream = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"start"))])
        .chain(futures::stream::pending());
    let (status, body) = tokio::time::timeout(
        Duration::from_secs(10),
        call(
            &f.app,
            signed_put(&f.users[0], b"start", Body::from_stream(stream)),
        ),
    )
    .await
    .expect("the stalled upload was not timed out");
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT, "{body}");
    assert_eq!(body["error"], "timeout");
    assert_nothing_stored(&f.blobs);
}

use futures::StreamExt as _;

fn propose(key: &Keypair, model: Hash32) -> deai_types::SignedTx {
    key.sign_tx(Tx {
        chain_id: chain(),
        nonce: Nonce(0),
        fee: Amount(1),
        call: Call::ProposeTask(TaskSpec {
            model,
            dataset: Hash32::ZERO,
            eval: Hash32::ZERO,
            reward: Amount(1000),
            start_delay: 1,
            round_blocks: 10,
            rounds: 3,
            epoch_rounds: 1,
            windows: vec![PhaseWindow {
                kind: CommitKind::Update,
                commit: Window { start: 0, end: 4 },
                reveal: Window { start: 4, end: 8 },
            }],
            aggregation: "fedavg".into(),
            min_stake: Amount(0),
            max_uids: 8,
            mechanism: Mechanism::Yuma,
            miner_share: Fixed::from_bps(5_000),
        }),
    })
}

#[tokio::test]
async fn garbage_collection_deletes_old_unreferenced_blobs_only() {
    let f = fixture(small());
    let mut hashes = Vec::new();
    for data in [
        &b"old and unreferenced"[..],
        b"old but a task's model",
        b"young",
    ] {
        let (status, body) = call(
            &f.app,
            signed_put(&f.users[0], data, Body::from(data.to_vec())),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        hashes.push(Hash32::of(data));
    }
    let [old, referenced, young] = [hashes[0], hashes[1], hashes[2]];
    let tx = propose(&f.users[1], referenced);
    let (status, _) = {
        let req = Request::post("/v1/tx")
            .header("content-type", "application/octet-stream")
            .body(Body::from(encode(&tx)))
            .unwrap();
        call(&f.app, req).await
    };
    assert_eq!(status, StatusCode::ACCEPTED);
    f.node.produce(1_000).unwrap().unwrap();

    let retention = Duration::from_secs(24 * 3_600);
    let now = SystemTime::now() + Duration::from_secs(5);
    for hash in [old, referenced] {
        std::fs::File::options()
            .write(true)
            .open(f.blobs.path_of(&hash))
            .unwrap()
            .set_modified(now - retention - Duration::from_secs(60))
            .unwrap();
    }
    let report = collect_blob_garbage(&*f.node, f.blobs.clone(), now, retention)
        .await
        .unwrap();
    assert_eq!(report.deleted, vec![old]);
    assert_eq!((report.kept_referenced, report.kept_young), (1, 1));
    assert!(!f.blobs.contains(&old));
    assert!(f.blobs.contains(&referenced) && f.blobs.contains(&young));
    assert_eq!(
        f.blobs.usage_of(&f.users[0].account()),
        (b"old but a task's model".len() + b"young".len()) as u64
    );
    // Past the retention the young blob goes too; the referenced one stays.
    let later = now + retention + Duration::from_secs(1);
    let report = collect_blob_garbage(&*f.node, f.blobs.clone(), later, retention)
        .await
        .unwrap();
    assert_eq!(report.deleted, vec![young]);
    assert!(f.blobs.contains(&referenced));
}
