//! The ledger endpoints: submitting a transaction, its receipt, and reads of the last final
//! state and of the stored blocks. Every answer is a [`deai_api`] type.

use std::sync::{atomic::Ordering, Arc};

use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, Path, State as AxState},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use deai_analytics::Distribution;
use deai_api::{
    AccountAnswer, BlockAnswer, Decimal, DistributionsAnswer, ReceiptAnswer, StateRootAnswer,
    StatusAnswer, SubmitAnswer, TaskAnswer, TxStatus,
};
use deai_store::TxState;
use deai_types::{decode, AccountId, Hash32, Height, SignedTx, TaskId};

use super::{parse, Api, ApiError, Backend, SubmitError};

fn body_error(err: BytesRejection) -> ApiError {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge(format!("request body too large: {}", err.body_text()))
    } else {
        ApiError::BadRequest(err.body_text())
    }
}

/// `POST /v1/tx`: borsh, or JSON with amounts as decimal strings.
pub(super) async fn submit_tx<B: Backend>(
    AxState(api): AxState<Arc<Api<B>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<SubmitAnswer>), ApiError> {
    let body = body.map_err(body_error)?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let tx: SignedTx = if is_json {
        serde_json::from_slice::<Decimal<SignedTx>>(&body)
            .map(Decimal::into_inner)
            .map_err(|e| {
                ApiError::BadRequest(format!(
                    "body is not a JSON signed transaction (amounts as decimal strings): {e}"
                ))
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
            Ok((StatusCode::ACCEPTED, Json(SubmitAnswer { hash })))
        }
        Err(SubmitError::Rejected(msg)) => {
            api.metrics.txs_rejected.fetch_add(1, Ordering::Relaxed);
            Err(ApiError::Rejected(msg))
        }
        Err(SubmitError::Internal(msg)) => Err(ApiError::Internal(msg)),
    }
}

/// `GET /v1/tx/{hash}`.
pub(super) async fn receipt<B: Backend>(
    AxState(api): AxState<Arc<Api<B>>>,
    Path(hash): Path<String>,
) -> Result<Json<ReceiptAnswer>, ApiError> {
    let hash: Hash32 = parse("transaction hash (64 hex characters)", &hash)?;
    let state = api
        .backend
        .tx_state(&hash)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let status = match state {
        None => {
            return Err(ApiError::NotFound(format!(
                "transaction {hash} is unknown to this node: it was not accepted here, or it left \
                 the mempool without entering a block (replaced, evicted, or stuck behind a nonce \
                 gap)"
            )))
        }
        Some(TxState::Pending) => TxStatus::Pending,
        Some(TxState::Included {
            location,
            outcome: Some(outcome),
        }) => TxStatus::of_outcome(location.height, location.index, &outcome),
        Some(TxState::Included {
            location,
            outcome: None,
        }) => TxStatus::Included {
            height: location.height,
            index: location.index,
        },
    };
    Ok(Json(ReceiptAnswer { hash, status }))
}

/// `GET /v1/account/{id}`.
pub(super) async fn account<B: Backend>(
    AxState(api): AxState<Arc<Api<B>>>,
    Path(id): Path<String>,
) -> Result<Json<AccountAnswer>, ApiError> {
    let id: AccountId = parse("account id (64 hex characters)", &id)?;
    let answer = api.backend.read(|state, _| AccountAnswer {
        id,
        balance: state.balance_of(&id),
        nonce: state.nonce_of(&id),
        staked: state.staker_stake(&id),
        exists: state.account(&id).is_some(),
    });
    if !answer.exists {
        return Err(ApiError::NotFound(format!("account {id} does not exist")));
    }
    Ok(Json(answer))
}

/// `GET /v1/task/{id}`.
pub(super) async fn task<B: Backend>(
    AxState(api): AxState<Arc<Api<B>>>,
    Path(id): Path<String>,
) -> Result<Json<TaskAnswer>, ApiError> {
    let id: u64 = parse("task id (an integer)", &id)?;
    api.backend
        .read(|state, _| state.task(TaskId(id)).cloned())
        .map(|task| Json(Decimal(task)))
        .ok_or_else(|| ApiError::NotFound(format!("task {id} does not exist")))
}

/// `GET /v1/block/{height}`.
pub(super) async fn block<B: Backend>(
    AxState(api): AxState<Arc<Api<B>>>,
    Path(height): Path<String>,
) -> Result<Json<BlockAnswer>, ApiError> {
    let height: u64 = parse("block height (an integer)", &height)?;
    match api
        .backend
        .block(Height(height))
        .map_err(ApiError::Internal)?
    {
        Some(block) => Ok(Json(Decimal(block))),
        None => Err(ApiError::NotFound(format!("no block at height {height}"))),
    }
}

/// `GET /v1/state-root`.
pub(super) async fn state_root<B: Backend>(
    AxState(api): AxState<Arc<Api<B>>>,
) -> Json<StateRootAnswer> {
    Json(api.backend.read(|state, head| StateRootAnswer {
        height: head.height,
        state_root: state.root(),
    }))
}

/// `GET /v1/status`.
pub(super) async fn status<B: Backend>(AxState(api): AxState<Arc<Api<B>>>) -> Json<StatusAnswer> {
    let mempool = u64::try_from(api.backend.mempool_len()).unwrap_or(u64::MAX);
    Json(api.backend.read(|state, head| StatusAnswer {
        mode: api.backend.mode(),
        chain_id: state.chain_id().clone(),
        height: head.height,
        head_hash: head.hash(),
        state_root: state.root(),
        timestamp_ms: head.timestamp_ms,
        mempool,
        total_supply: state.total_supply(),
    }))
}

/// `GET /v1/distributions`.
pub(super) async fn distributions<B: Backend>(
    AxState(api): AxState<Arc<Api<B>>>,
) -> Json<DistributionsAnswer<Distribution>> {
    Json(api.backend.read(|state, head| DistributionsAnswer {
        height: head.height,
        state_root: state.root(),
        distributions: deai_analytics::state_distributions(state),
    }))
}

/// `GET /metrics`: the API's counters, the chain's height, mempool and supply, and the
/// distributions' metrics as gauges.
pub(super) async fn metrics<B: Backend>(AxState(api): AxState<Arc<Api<B>>>) -> Response {
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
