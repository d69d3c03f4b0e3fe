//! Every error answer is JSON: the router's own 405 and 414, extractor rejections, 429 with
//! `Retry-After`; and no request body makes a parser panic or answer 5xx.

use std::sync::Arc;

use axum::{
    body::Body,
    http::{header, Request, StatusCode},
    Router,
};
use deai_node::{
    http::{router, router_with, ErrorBody, HttpSettings},
    service::Embedded,
};
use deai_store::{BlobStore, EmbeddedChain, EmbeddedConfig};
use http_body_util::BodyExt as _;
use proptest::prelude::*;
use tower::ServiceExt as _;

use crate::ledger_sim::{genesis, users};

fn app(rate: f64) -> (tempfile::TempDir, Router) {
    let dir = tempfile::tempdir().unwrap();
    let chain = EmbeddedChain::init(
        dir.path().join("chain"),
        &genesis(&users(2)),
        EmbeddedConfig::default(),
    )
    .unwrap();
    let node = Arc::new(Embedded::new(chain));
    let blobs = Arc::new(
        BlobStore::open(dir.path().join("blobs"))
            .unwrap()
            .with_max_bytes(4096),
    );
    let app = router_with(
        node,
        blobs,
        rate,
        &HttpSettings {
            max_uri_bytes: 1024,
            ..HttpSettings::default()
        },
    );
    (dir, app)
}

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, ErrorBody) {
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let parsed = serde_json::from_slice(&body).unwrap_or_else(|_| {
        panic!(
            "{status}: not a JSON error body: {:?}",
            String::from_utf8_lossy(&body)
        )
    });
    (status, headers, parsed)
}

#[tokio::test]
async fn wrong_method_and_long_uri_answer_json() {
    let (_dir, app) = app(1e6);
    let (status, headers, body) =
        call(&app, Request::get("/v1/tx").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body.error, "method_not_allowed");
    assert!(body.message.contains("GET"), "{}", body.message);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    let (status, _, body) = call(
        &app,
        Request::delete("/v1/status").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body.error, "method_not_allowed");

    let long = format!("/v1/account/{}", "a".repeat(2_000));
    let (status, _, body) = call(&app, Request::get(long).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::URI_TOO_LONG);
    assert_eq!(body.error, "uri_too_long");
    assert!(body.message.contains("1024"), "{}", body.message);
}

#[tokio::test]
async fn rate_limited_answers_carry_retry_after() {
    let (_dir, app) = app(0.5);
    let mut limited = None;
    for _ in 0..5 {
        let response = app
            .clone()
            .oneshot(Request::get("/v1/status").body(Body::empty()).unwrap())
            .await
            .unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(response);
            break;
        }
    }
    let response = limited.expect("never rate limited");
    let retry: u64 = response.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // One token per 2 s.
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body: ErrorBody = serde_json::from_slice(&body).unwrap();
    assert_eq!(body.error, "rate_limited");
}

/// The printable ASCII of `bytes` (a valid header value).
fn visible(bytes: &[u8]) -> String {
    bytes
        .iter()
        .filter(|b| b.is_ascii_graphic())
        .map(|b| char::from(*b))
        .collect()
}

fn requests(bytes: Vec<u8>, segment: String) -> Vec<Request<Body>> {
    let encoded: String = segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let mut out = Vec::new();
    for content_type in ["application/octet-stream", "application/json", "text/plain"] {
        out.push(
            Request::post("/v1/tx")
                .header(header::CONTENT_TYPE, content_type)
                .body(Body::from(bytes.clone()))
                .unwrap(),
        );
    }
    out.push(
        Request::put("/v1/blob")
            .body(Body::from(bytes.clone()))
            .unwrap(),
    );
    out.push(
        Request::put("/v1/blob")
            .header("x-deai-account", visible(&bytes))
            .header("x-deai-signature", "00")
            .body(Body::from(bytes.clone()))
            .unwrap(),
    );
    for path in ["/v1/account", "/v1/task", "/v1/block", "/v1/blob"] {
        out.push(
            Request::get(format!("{path}/{encoded}"))
                .body(Body::empty())
                .unwrap(),
        );
    }
    out.push(
        Request::put(format!("/v1/blob/{encoded}"))
            .body(Body::from(bytes))
            .unwrap(),
    );
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_requests_get_json_4xx_never_5xx(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        segment in "\\PC{1,40}",
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (_dir, app) = app(1e9);
        let plain = {
            let dir = tempfile::tempdir().unwrap();
            let chain = EmbeddedChain::init(dir.path().join("c"), &genesis(&users(1)), EmbeddedConfig::default()).unwrap();
            let blobs = Arc::new(BlobStore::open(dir.path().join("b")).unwrap());
            (dir, router(Arc::new(Embedded::new(chain)), blobs, 1e9))
        };
        runtime.block_on(async {
            for app in [&app, &plain.1] {
                for req in requests(bytes.clone(), segment.clone()) {
                    let what = format!("{} {}", req.method(), req.uri());
                    let (status, _, body) = call(app, req).await;
                    prop_assert!(status.is_client_error(), "{what}: {status} {body:?}");
                    prop_assert!(!body.error.is_empty());
                }
            }
            Ok(())
        })?;
    }
}
