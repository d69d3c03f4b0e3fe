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
//! | GET | `/v1/distributions` | height, state root and the decentralization metrics of every holdings distribution ([`crate::distributions`]) |
//! | PUT | `/v1/blob` | raw bytes → `201 {"hash"}` (blake3, content addressed) |
//! | PUT | `/v1/blob/{hash}` | raw bytes that must hash to `{hash}` |
//! | GET | `/v1/blob/{hash}` | the bytes |
//! | GET | `/metrics` | Prometheus text (counters, and the distributions' metrics as gauges) |
//!
//! Errors are JSON `{"error": code, "message": text}`: 4xx when the caller sent something wrong
//! (malformed body, bad signature, stale nonce, unknown id, oversize body, hash mismatch, too
//! many requests), 5xx with a generic message when the node failed (details go to the log).
//! Request bodies are size-limited (transactions 64 KiB, blobs the blob store's limit), and each
//! client IP has a token bucket of requests.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    str::FromStr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Instant,
};

use axum::{
    body::{Body, Bytes},
    extract::{ConnectInfo, DefaultBodyLimit, Path, Request, State as AxState},
    http::{header, HeaderMap, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post, put},
    Json, Router,
};
use deai_chain::State;
use deai_store::{BlobError, BlobStore};
use deai_types::{decode, AccountId, Block, Hash32, Header, Height, SignedTx, TaskId};
use serde::Serialize;
use serde_json::json;
use tracing::error;

/// Largest accepted transaction body, in bytes.
pub const MAX_TX_BYTES: usize = 64 * 1024;

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

/// Errors returned by the API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: body or path could not be parsed.
    #[error("{0}")]
    BadRequest(String),
    /// 404: unknown id.
    #[error("{0}")]
    NotFound(String),
    /// 409: content does not match its claimed hash.
    #[error("{0}")]
    HashMismatch(String),
    /// 413: body too large.
    #[error("{0}")]
    TooLarge(String),
    /// 422: well-formed but refused (signature, nonce, …).
    #[error("{0}")]
    Rejected(String),
    /// 429: rate limit.
    #[error("too many requests from this client; retry later")]
    RateLimited,
    /// 500: the node failed; the detail is logged, not returned.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    fn status(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::HashMismatch(_) => (StatusCode::CONFLICT, "hash_mismatch"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::Rejected(_) => (StatusCode::UNPROCESSABLE_ENTITY, "rejected"),
            ApiError::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            error!(%detail, "request failed");
        }
        let (status, code) = self.status();
        (
            status,
            Json(json!({"error": code, "message": self.to_string()})),
        )
            .into_response()
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

    fn allow(&self, ip: IpAddr) -> bool {
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
            true
        } else {
            false
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
    limiter: RateLimiter,
    metrics: Metrics,
}

/// Builds the router. `rate_per_second` requests per client IP (bursts of twice that).
pub fn router<B: Backend>(backend: Arc<B>, blobs: Arc<BlobStore>, rate_per_second: f64) -> Router {
    let blob_limit = usize::try_from(blobs.max_bytes()).unwrap_or(usize::MAX);
    let api = Arc::new(Api {
        backend,
        blobs,
        limiter: RateLimiter::new(rate_per_second, rate_per_second * 2.0),
        metrics: Metrics::default(),
    });
    let blob_routes = Router::new()
        .route("/v1/blob", put(put_blob::<B>))
        .route(
            "/v1/blob/{hash}",
            put(put_blob_hash::<B>).get(get_blob::<B>),
        )
        .layer(DefaultBodyLimit::max(blob_limit.saturating_add(1)));
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
        .layer(middleware::from_fn_with_state(
            api.clone(),
            limit_and_count::<B>,
        ))
        .with_state(api)
}

async fn limit_and_count<B: Backend>(
    AxState(api): AxState<Arc<Api<B>>>,
    request: Request,
    next: Next,
) -> Response {
    api.metrics.requests.fetch_add(1, Ordering::Relaxed);
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let response = if api.limiter.allow(ip) {
        next.run(request).await
    } else {
        ApiError::RateLimited.into_response()
    };
    let status = response.status();
    if status.is_client_error() {
        api.metrics.client_errors.fetch_add(1, Ordering::Relaxed);
    } else if status.is_server_error() {
        api.metrics.server_errors.fetch_add(1, Ordering::Relaxed);
    }
    response
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
            "distributions": crate::distributions::state_distributions(state),
        })
    }))
}

async fn metrics<B: Backend>(AxState(api): AxState<Arc<Api<B>>>) -> Response {
    let m = &api.metrics;
    let (height, supply, distributions) = api.backend.read(|state, head| {
        (
            head.height.0,
            state.total_supply().0,
            crate::distributions::state_distributions(state),
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
    text.push_str(&crate::distributions::prometheus_text(&distributions));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

fn blob_error(err: BlobError) -> ApiError {
    match err {
        BlobError::TooLarge { .. } => ApiError::TooLarge(err.to_string()),
        BlobError::NotFound { .. } => ApiError::NotFound(err.to_string()),
        other => ApiError::Internal(other.to_string()),
    }
}

async fn store_blob<B: Backend>(api: &Api<B>, body: &[u8]) -> Result<Hash32, ApiError> {
    if body.len() as u64 > api.blobs.max_bytes() {
        return Err(ApiError::TooLarge(format!(
            "blob of {} bytes exceeds the limit of {} bytes",
            body.len(),
            api.blobs.max_bytes()
        )));
    }
    let hash = api.blobs.put(body).map_err(blob_error)?;
    api.metrics.blobs_stored.fetch_add(1, Ordering::Relaxed);
    Ok(hash)
}

async fn put_blob<B: Backend>(
    AxState(api): AxState<Arc<Api<B>>>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let body = body.map_err(body_too_large)?;
    let hash = store_blob(&api, &body).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"hash": hash.to_string(), "bytes": body.len()})),
    ))
}

async fn put_blob_hash<B: Backend>(
    AxState(api): AxState<Arc<Api<B>>>,
    Path(hash): Path<String>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let claimed: Hash32 = parse("blob hash (64 hex characters)", &hash)?;
    let body = body.map_err(body_too_large)?;
    let actual = Hash32::of(&body);
    if actual != claimed {
        return Err(ApiError::HashMismatch(format!(
            "body hashes to {actual}, not to the {claimed} in the path"
        )));
    }
    let hash = store_blob(&api, &body).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"hash": hash.to_string(), "bytes": body.len()})),
    ))
}

async fn get_blob<B: Backend>(
    AxState(api): AxState<Arc<Api<B>>>,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let hash: Hash32 = parse("blob hash (64 hex characters)", &hash)?;
    let bytes = api.blobs.get(&hash).map_err(blob_error)?;
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        Body::from(bytes),
    )
        .into_response())
}
