//! The node's HTTP API (axum).
//!
//! | method | path | body / answer |
//! |---|---|---|
//! | POST | `/v1/tx` | a signed transaction, borsh (`application/octet-stream`) or JSON → `202 {"hash"}` |
//! | GET | `/v1/account/{id}` | balance, nonce, take, stake of an account (hex id) |
//! | GET | `/v1/task/{id}` | a task |
//! | GET | `/v1/block/{height}` | a block (JSON) |
//! | GET | `/v1/state-root` | height and state root of the last final block |
//! | GET | `/v1/status` | chain id, height, head hash, state root, mempool size, mode |
//! | GET | `/v1/distributions` | height, state root and the decentralization metrics of every holdings distribution ([`deai_analytics::distributions`]) |
//! | PUT | `/v1/blob` | raw bytes, signed by a ledger account ([`upload`]) → `201 {"hash", "bytes", "stored"}` |
//! | PUT | `/v1/blob/{hash}` | the same, and the bytes must hash to `{hash}` |
//! | GET | `/v1/blob/{hash}` | the bytes |
//! | GET | `/metrics` | Prometheus text (counters, and the distributions' metrics as gauges) |
//!
//! Errors are JSON [`ErrorBody`] `{"error": code, "message": text}` — every error, including the
//! ones the router itself produces (405 wrong method, 414 URI too long, extractor rejections):
//! 4xx when the caller sent something wrong (malformed body, bad signature, stale nonce, unknown
//! id, oversize body, hash mismatch, over quota, too many requests — with `Retry-After`), 5xx
//! with a generic message when the node failed (details go to the log). Request bodies are
//! size-limited (transactions 64 KiB, blobs the blob store's limit), each client IP has a token
//! bucket of requests, and [`serve`] bounds connections and how long a client may take to send
//! headers and body ([`HttpSettings`]).

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    str::FromStr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use axum::{
    body::Bytes,
    extract::{ConnectInfo, DefaultBodyLimit, Path, Request, State as AxState},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post, put},
    Json, Router,
};
use deai_chain::State;
use deai_store::{blob::Quota, BlobStore};
use deai_types::{decode, AccountId, Block, Hash32, Header, Height, SignedTx, TaskId};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tracing::error;

mod serve;
pub mod upload;

pub use serve::serve;

/// Largest accepted transaction body, in bytes.
pub const MAX_TX_BYTES: usize = 64 * 1024;

/// Operator limits of the HTTP API, its connections and its blob admission (the `[http]` table
/// of a member config). Every field has a default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Most open HTTP connections; a connection beyond it gets `503` and is closed.
    pub max_connections: usize,
    /// Milliseconds a client has to send a request's complete headers, counted from the moment
    /// the connection opens or the previous response was sent (so also the keep-alive limit).
    pub header_timeout_ms: u64,
    /// Most milliseconds between two pieces of a request body (a stalled upload gets `408`).
    pub body_timeout_ms: u64,
    /// Milliseconds without a byte read or written after which a connection is closed.
    pub idle_timeout_ms: u64,
    /// Longest request target (path and query) in bytes; longer gets `414`.
    pub max_uri_bytes: usize,
    /// Largest blob accepted, in bytes.
    pub max_blob_bytes: u64,
    /// Most bytes of blobs one account may own on this node.
    pub blob_quota_bytes: u64,
    /// Most bytes of blobs this node stores in total.
    pub blob_capacity_bytes: u64,
    /// Seconds an unreferenced blob is kept after its last upload before it is deleted.
    pub blob_retention_secs: u64,
    /// Seconds between two garbage collections of the blob store.
    pub blob_gc_interval_secs: u64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        let quota = Quota::default();
        Self {
            max_connections: 1_024,
            header_timeout_ms: 10_000,
            body_timeout_ms: 30_000,
            idle_timeout_ms: 60_000,
            max_uri_bytes: 8 * 1024,
            max_blob_bytes: deai_store::DEFAULT_MAX_BLOB_BYTES,
            blob_quota_bytes: quota.per_account,
            blob_capacity_bytes: quota.total,
            blob_retention_secs: 24 * 3_600,
            blob_gc_interval_secs: 600,
        }
    }
}

impl HttpSettings {
    /// The blob quota these settings describe.
    pub fn quota(&self) -> Quota {
        Quota {
            per_account: self.blob_quota_bytes,
            total: self.blob_capacity_bytes,
        }
    }
}

/// Why a submitted transaction was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The caller's fault (signature, nonce, chain id, pool limits): HTTP 4xx.
    #[error("{0}")]
    Rejected(String),
    /// The node's fault: HTTP 5xx.
    #[error("{0}")]
    Internal(String),
}

/// What the HTTP layer needs from a ledger (embedded or replicated).
pub trait Backend: Send + Sync + 'static {
    /// "embedded" or "replicated".
    fn mode(&self) -> &'static str;
    /// Admits a signed transaction.
    fn submit(&self, tx: SignedTx) -> Result<Hash32, SubmitError>;
    /// Runs `f` on the latest state and head header.
    fn read<R>(&self, f: impl FnOnce(&State, &Header) -> R) -> R;
    /// A stored block.
    fn block(&self, height: Height) -> Result<Option<Block>, String>;
    /// Transactions waiting.
    fn mempool_len(&self) -> usize;
}

/// The body of every error answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable machine-readable code (`bad_request`, `unauthorized`, `quota_exceeded`, …).
    pub error: String,
    /// What was wrong and what is accepted.
    pub message: String,
}

/// Errors returned by the API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: body or path could not be parsed.
    #[error("{0}")]
    BadRequest(String),
    /// 401: a blob upload is unsigned or its signature does not verify.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the uploader has no account on the ledger.
    #[error("{0}")]
    Forbidden(String),
    /// 404: unknown id.
    #[error("{0}")]
    NotFound(String),
    /// 405: the path exists but not with this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 408: the client stopped sending the request body.
    #[error("{0}")]
    Timeout(String),
    /// 409: content does not match its claimed hash.
    #[error("{0}")]
    HashMismatch(String),
    /// 413: body too large.
    #[error("{0}")]
    TooLarge(String),
    /// 413: the upload would take the account past its blob quota.
    #[error("{0}")]
    QuotaExceeded(String),
    /// 414: the request target is too long.
    #[error("{0}")]
    UriTooLong(String),
    /// 422: well-formed but refused (signature, nonce, …).
    #[error("{0}")]
    Rejected(String),
    /// 429: rate limit; retry after this many seconds.
    #[error("too many requests from this client; retry after {0} s")]
    RateLimited(u64),
    /// 500: the node failed; the detail is logged, not returned.
    #[error("internal error")]
    Internal(String),
    /// 507: the node's blob store is full.
    #[error("{0}")]
    StorageFull(String),
}

impl ApiError {
    fn status(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Timeout(_) => (StatusCode::REQUEST_TIMEOUT, "timeout"),
            ApiError::HashMismatch(_) => (StatusCode::CONFLICT, "hash_mismatch"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::QuotaExceeded(_) => (StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded"),
            ApiError::UriTooLong(_) => (StatusCode::URI_TOO_LONG, "uri_too_long"),
            ApiError::Rejected(_) => (StatusCode::UNPROCESSABLE_ENTITY, "rejected"),
            ApiError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            ApiError::StorageFull(_) => (StatusCode::INSUFFICIENT_STORAGE, "storage_full"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            error!(%detail, "request failed");
        }
        let (status, code) = self.status();
        let body = ErrorBody {
            error: code.into(),
            message: self.to_string(),
        };
        let mut response = (status, Json(body)).into_response();
        if let ApiError::RateLimited(secs) = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Per-client token buckets.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    /// `per_second` sustained requests with bursts of `burst`.
    pub fn new(per_second: f64, burst: f64) -> Self {
        Self {
            per_second,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `ip`, or says in how many whole seconds (at least 1) one is available.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 100_000 {
            buckets.clear();
        }
        let (tokens, last) = buckets.entry(ip).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*last).as_secs_f64() * self.per_second).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - *tokens) / self.per_second.max(f64::MIN_POSITIVE);
            // Saturating float-to-int cast; at least one second.
            Err((wait.ceil() as u64).max(1))
        }
    }
}

#[derive(Default, Debug)]
struct Metrics {
    requests: AtomicU64,
    client_errors: AtomicU64,
    server_errors: AtomicU64,
    txs_accepted: AtomicU64,
    txs_rejected: AtomicU64,
    blobs_stored: AtomicU64,
}

/// Shared state of the API.
pub struct Api<B> {
    backend: Arc<B>,
    blobs: Arc<BlobStore>,
    quota: Quota,
    limiter: RateLimiter,
    max_uri_bytes: usize,
    metrics: Metrics,
}

/// Builds the router with the default [`HttpSettings`]. `rate_per_second` requests per client
/// IP (bursts of twice that).
pub fn router<B: Backend>(backend: Arc<B>, blobs: Arc<BlobStore>, rate_per_second: f64) -> Router {
    router_with(backend, blobs, rate_per_second, &HttpSettings::default())
}

/// Builds the router. `rate_per_second` requests per client IP (bursts of twice that); blob
/// sizes are limited by the store ([`BlobStore::with_max_bytes`]), quotas, the body timeout and
/// the URI length by `settings`.
pub fn router_with<B: Backend>(
    backend: Arc<B>,
    blobs: Arc<BlobStore>,
    rate_per_second: f64,
    settings: &HttpSettings,
) -> Router {
    let api = Arc::new(Api {
        backend,
        blobs,
        quota: settings.quota(),
        limiter: RateLimiter::new(rate_per_second, rate_per_second * 2.0),
        max_uri_bytes: settings.max_uri_bytes,
        metrics: Metrics::default(),
    });
    let blob_routes = Router::new()
        .route("/v1/blob", put(upload::put_blob::<B>))
        .route(
            "/v1/blob/{hash}",
            put(upload::put_blob_hash::<B>).get(upload::get_blob::<B>),
        );
    Router::new()
        .route(
            "/v1/tx",
            post(submit_tx::<B>).layer(DefaultBodyLimit::max(MAX_TX_BYTES)),
        )
        .route("/v1/account/{id}", get(account::<B>))
        .route("/v1/task/{id}", get(task::<B>))
        .route("/v1/block/{height}", get(block::<B>))
        .route("/v1/state-root", get(state_root::<B>))
        .route("/v1/status", get(status::<B>))
        .route("/v1/distributions", get(distributions::<B>))
        .route("/metrics", get(metrics::<B>))
        .merge(blob_routes)
        .fallback(|| async {
            ApiError::NotFound("no such endpoint; see the API table in deai_node::http".into())
        })
        .layer(RequestBodyTimeoutLayer::new(Duration::from_millis(
            settings.body_timeout_ms.max(1),
        )))
        .layer(middleware::from_fn_with_state(api.clone(), front::<B>))
        .with_state(api)
}

/// Every request passes here first: counting, the URI length limit, the rate limit, and the
/// rewriting of any error answer that is not JSON yet (the router's own 405, extractor
/// rejections) into an [`ErrorBody`].
async fn front<B: Backend>(
    AxState(api): AxState<Arc<Api<B>>>,
    request: Request,
    next: Next,
) -> Response {
    api.metrics.requests.fetch_add(1, Ordering::Relaxed);
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let target_len = request
        .uri()
        .path_and_query()
        .map_or(0, |pq| pq.as_str().len());
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = if target_len > api.max_uri_bytes {
        ApiError::UriTooLong(format!(
            "request target of {target_len} bytes exceeds the limit of {} bytes",
            api.max_uri_bytes
        ))
        .into_response()
    } else if let Err(secs) = api.limiter.check(ip) {
        ApiError::RateLimited(secs).into_response()
    } else {
        as_json_error(next.run(request).await, &method, &path).await
    };
    let status = response.status();
    if status.is_client_error() {
        api.metrics.client_errors.fetch_add(1, Ordering::Relaxed);
    } else if status.is_server_error() {
        api.metrics.server_errors.fetch_add(1, Ordering::Relaxed);
    }
    response
}

/// Leaves successes and JSON answers alone; turns any other error answer into an [`ErrorBody`]
/// with the same status and headers (its text, if any, becomes the message).
async fn as_json_error(response: Response, method: &axum::http::Method, path: &str) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let code = match status {
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed".to_owned(),
        StatusCode::PAYLOAD_TOO_LARGE => "too_large".to_owned(),
        StatusCode::URI_TOO_LONG => "uri_too_long".to_owned(),
        StatusCode::REQUEST_TIMEOUT => "timeout".to_owned(),
        s if s.is_server_error() => "internal".to_owned(),
        s => s
            .canonical_reason()
            .unwrap_or("client_error")
            .to_ascii_lowercase()
            .replace(' ', "_"),
    };
    let message = match (status, text.is_empty()) {
        (StatusCode::METHOD_NOT_ALLOWED, _) => {
            match parts
                .headers
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
            {
                Some(allow) => format!("{method} is not allowed on {path}; allowed: {allow}"),
                None => format!(
                    "{method} is not allowed on {path}; see the API table in deai_node::http"
                ),
            }
        }
        (s, _) if s.is_server_error() => "internal error".to_owned(),
        (s, true) => s.canonical_reason().unwrap_or("error").to_owned(),
        (_, false) => text,
    };
    let body = serde_json::to_vec(&ErrorBody {
        error: code,
        message,
    })
    .unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}

fn body_too_large(err: axum::extract::rejection::BytesRejection) -> ApiError {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge(format!("request body too large: {}", err.body_text()))
    } else {
        ApiError::BadRequest(err.body_text())
    }
}

async fn submit_tx<B: Backend>(
    AxState(api): AxState<Arc<Api<B>>>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let body = body.map_err(body_too_large)?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let tx: SignedTx = if is_json {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::BadRequest(format!("body is not a JSON signed transaction: {e}"))
        })?
    } else {
        decode(&body).map_err(|e| {
            ApiError::BadRequest(format!(
                "body is not a borsh-encoded signed transaction ({e}); send application/octet-stream borsh or application/json"
            ))
        })?
    };
    match api.backend.submit(tx) {
        Ok(hash) => {
            api.metrics.txs_accepted.fetch_add(1, Ordering::Relaxed);
            Ok((
                StatusCode::ACCEPTED,
                Json(json!({"hash": hash.to_string()})),
            ))
        }
        Err(SubmitError::Rejected(msg)) => {
            api.metrics.txs_rejected.fetch_add(1, Ordering::Relaxed);
            Err(ApiError::Rejected(msg))
        }
        Err(SubmitError::Internal(msg)) => Err(ApiError::Internal(msg)),
    }
}

fn parse<T: FromStr>(what: &str, raw: &str) -> Result<T, ApiError>
where
    T::Err: std::fmt::Display,
{
    raw.parse()
        .map_err(|e| ApiError::BadRequest(format!("{what} {raw:?} is not valid: {e}")))
}

#[derive(Serialize)]
struct AccountView {
    id: String,
    balance: u128,
    nonce: u64,
    staked: u128,
    exists: bool,
}

async fn account<B: Backend>(
    AxState(api): AxState<Arc<Api<B>>>,
    Path(id): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    let id: AccountId = parse("account id (64 hex characters)", &id)?;
    let view = api.backend.read(|state, _| AccountView {
        id: id.to_string(),
        balance: state.balance_of(&id).0,
        nonce: state.nonce_of(&id).0,
        staked: state.staker_stake(&id).0,
        exists: state.account(&id).is_some(),
    });
    if !view.exists {
        return Err(ApiError::NotFound(format!("account {id} does not exist")));
    }
    Ok(Json(view))
}

async fn task<B: Backend>(
    AxState(api): AxState<Arc<Api<B>>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: u64 = parse("task id (an integer)", &id)?;
    let task = api
        .backend
        .read(|state, _| state.task(TaskId(id)).map(serde_json::to_value));
    match task {
        Some(Ok(value)) => Ok(Json(value).into_response()),
        Some(Err(e)) => Err(ApiError::Internal(e.to_string())),
        None => Err(ApiError::NotFound(format!("task {id} does not exist"))),
    }
}

async fn block<B: Backend>(
    AxState(api): AxState<Arc<Api<B>>>,
    Path(height): Path<String>,
) -> Result<Json<Block>, ApiError> {
    let height: u64 = parse("block height (an integer)", &height)?;
    match api
        .backend
        .block(Height(height))
        .map_err(ApiError::Internal)?
    {
        Some(block) => Ok(Json(block)),
        None => Err(ApiError::NotFound(format!("no block at height {height}"))),
    }
}

async fn state_root<B: Backend>(AxState(api): AxState<Arc<Api<B>>>) -> Json<serde_json::Value> {
    Json(api.backend.read(
        |state, head| json!({"height": head.height.0, "state_root": state.root().to_string()}),
    ))
}

async fn status<B: Backend>(AxState(api): AxState<Arc<Api<B>>>) -> Json<serde_json::Value> {
    let mempool = api.backend.mempool_len();
    Json(api.backend.read(|state, head| {
        json!({
            "mode": api.backend.mode(),
            "chain_id": state.chain_id().as_str(),
            "height": head.height.0,
            "head_hash": head.hash().to_string(),
            "state_root": state.root().to_string(),
            "timestamp_ms": head.timestamp_ms,
            "mempool": mempool,
        })
    }))
}

async fn distributions<B: Backend>(AxState(api): AxState<Arc<Api<B>>>) -> Json<serde_json::Value> {
    Json(api.backend.read(|state, head| {
        json!({
            "height": head.height.0,
            "state_root": state.root().to_string(),
            "distributions": deai_analytics::state_distributions(state),
        })
    }))
}

async fn metrics<B: Backend>(AxState(api): AxState<Arc<Api<B>>>) -> Response {
    let m = &api.metrics;
    let (height, supply, distributions) = api.backend.read(|state, head| {
        (
            head.height.0,
            state.total_supply().0,
            deai_analytics::state_distributions(state),
        )
    });
    let mut text = format!(
        "# TYPE deai_http_requests_total counter\ndeai_http_requests_total {}\n\
         # TYPE deai_http_client_errors_total counter\ndeai_http_client_errors_total {}\n\
         # TYPE deai_http_server_errors_total counter\ndeai_http_server_errors_total {}\n\
         # TYPE deai_txs_accepted_total counter\ndeai_txs_accepted_total {}\n\
         # TYPE deai_txs_rejected_total counter\ndeai_txs_rejected_total {}\n\
         # TYPE deai_blobs_stored_total counter\ndeai_blobs_stored_total {}\n\
         # TYPE deai_chain_height gauge\ndeai_chain_height {height}\n\
         # TYPE deai_mempool_txs gauge\ndeai_mempool_txs {}\n\
         # TYPE deai_total_supply gauge\ndeai_total_supply {supply}\n",
        m.requests.load(Ordering::Relaxed),
        m.client_errors.load(Ordering::Relaxed),
        m.server_errors.load(Ordering::Relaxed),
        m.txs_accepted.load(Ordering::Relaxed),
        m.txs_rejected.load(Ordering::Relaxed),
        m.blobs_stored.load(Ordering::Relaxed),
        api.backend.mempool_len(),
    );
    text.push_str(&deai_analytics::prometheus_text(&distributions));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
