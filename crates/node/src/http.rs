//! The node's HTTP API (axum): the routes, their limits and their error answers.
//!
//! The routes and the types of every request and answer are those of [`deai_api`] (its crate
//! docs hold the table): handlers answer `Json<deai_api::…>`, the client reads the same types,
//! and every amount travels as a decimal string. The handlers live in [`chain`] (transactions,
//! receipts, the state and its blocks), [`events`] (waiting for new final blocks: the long poll
//! `GET /v1/head?after=H` and the server-sent events of `GET /v1/events`) and [`upload`]
//! (blobs).
//!
//! Errors are JSON [`ErrorBody`] `{"error": code, "message": text}` — every error, including the
//! ones the router itself produces (405 wrong method, 414 URI too long, extractor rejections):
//! 4xx when the caller sent something wrong (malformed body, bad signature, stale nonce, unknown
//! id, oversize body, hash mismatch, over quota, too many requests — with `Retry-After`), 5xx
//! with a generic message when the node failed (details go to the log), 503 with `Retry-After`
//! when the node already serves its maximum of waiting clients. Request bodies are size-limited
//! (transactions 64 KiB, blobs the blob store's limit), each client IP has a token bucket of
//! requests, and [`serve`] bounds connections and how long a client may take to send headers
//! and body ([`HttpSettings`]); long polls and event streams are bounded by `max_subscribers`
//! and `max_wait_ms`.

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
    extract::{ConnectInfo, DefaultBodyLimit, Request, State as AxState},
    http::{header, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post, put},
    Json, Router,
};
use deai_api::{route, NodeMode};
use deai_chain::State;
use deai_store::{blob::Quota, BlobStore, StoreError, TxState};
use deai_types::{Block, Hash32, Header, Height, SignedTx};
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Semaphore};
use tower_http::timeout::RequestBodyTimeoutLayer;
use tracing::error;

pub mod chain;
pub mod events;
mod serve;
pub mod upload;

pub use deai_api::ErrorBody;
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
    /// Most clients waiting at once on `GET /v1/head?after=` long polls and `GET /v1/events`
    /// streams together; one more gets `503` with `Retry-After`.
    pub max_subscribers: usize,
    /// Longest a `GET /v1/head?after=` long poll waits before answering the unchanged head (at
    /// most half of `idle_timeout_ms`, so a waiting connection is never closed as idle).
    pub max_wait_ms: u64,
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
            max_subscribers: 256,
            max_wait_ms: 30_000,
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
    /// Embedded or replicated.
    fn mode(&self) -> NodeMode;
    /// Admits a signed transaction.
    fn submit(&self, tx: SignedTx) -> Result<Hash32, SubmitError>;
    /// Runs `f` on the latest state and head header.
    fn read<R>(&self, f: impl FnOnce(&State, &Header) -> R) -> R;
    /// A stored block.
    fn block(&self, height: Height) -> Result<Option<Block>, String>;
    /// Transactions waiting.
    fn mempool_len(&self) -> usize;
    /// What the node knows of a transaction: pending, or included with its outcome while the
    /// node still remembers it ([`deai_store::ReceiptIndex`]); `None` if it knows nothing.
    fn tx_state(&self, hash: &Hash32) -> Result<Option<TxState>, StoreError>;
    /// The height of the last final block, updated whenever a block becomes final.
    fn heads(&self) -> watch::Receiver<Height>;
    /// A blob this node lacks, fetched from its peers within a bounded wait (and stored
    /// locally); `None` if no peer answered with it in time. The default has no peers.
    fn fetch_blob(
        &self,
        hash: Hash32,
    ) -> impl std::future::Future<Output = Option<bytes::Bytes>> + Send {
        let _ = hash;
        std::future::ready(None)
    }
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
    /// 503: the node serves its maximum of waiting clients; retry after a second.
    #[error("{0}")]
    Unavailable(String),
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
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
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
        let retry_after = match self {
            ApiError::RateLimited(secs) => Some(secs),
            ApiError::Unavailable(_) => Some(1),
            _ => None,
        };
        if let Some(secs) = retry_after {
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
    /// Permits of the waiting clients (long polls and event streams).
    subscribers: Arc<Semaphore>,
    max_subscribers: usize,
    max_wait_ms: u64,
    /// Interval of the event streams' keep-alive comments.
    keep_alive: Duration,
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
        subscribers: Arc::new(Semaphore::new(
            settings.max_subscribers.min(Semaphore::MAX_PERMITS),
        )),
        max_subscribers: settings.max_subscribers,
        max_wait_ms: settings.max_wait_ms.min(settings.idle_timeout_ms / 2),
        // Well inside the idle timeout, so an open stream is never closed as idle.
        keep_alive: Duration::from_millis((settings.idle_timeout_ms / 2).clamp(1, 15_000)),
    });
    let blob_routes = Router::new()
        .route(route::BLOB, put(upload::put_blob::<B>))
        .route(
            route::BLOB_HASH,
            put(upload::put_blob_hash::<B>).get(upload::get_blob::<B>),
        );
    Router::new()
        .route(
            route::TX,
            post(chain::submit_tx::<B>).layer(DefaultBodyLimit::max(MAX_TX_BYTES)),
        )
        .route(route::RECEIPT, get(chain::receipt::<B>))
        .route(route::ACCOUNT, get(chain::account::<B>))
        .route(route::TASK, get(chain::task::<B>))
        .route(route::BLOCK, get(chain::block::<B>))
        .route(route::STATE_ROOT, get(chain::state_root::<B>))
        .route(route::STATUS, get(chain::status::<B>))
        .route(route::HEAD, get(events::head::<B>))
        .route(route::EVENTS, get(events::events::<B>))
        .route(route::DISTRIBUTIONS, get(chain::distributions::<B>))
        .route(route::METRICS, get(chain::metrics::<B>))
        .merge(blob_routes)
        .fallback(|| async {
            ApiError::NotFound("no such endpoint; see the API table in deai_api".into())
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
        StatusCode::SERVICE_UNAVAILABLE => "unavailable".to_owned(),
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
                None => format!("{method} is not allowed on {path}; see the API table in deai_api"),
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

fn parse<T: FromStr>(what: &str, raw: &str) -> Result<T, ApiError>
where
    T::Err: std::fmt::Display,
{
    raw.parse()
        .map_err(|e| ApiError::BadRequest(format!("{what} {raw:?} is not valid: {e}")))
}
