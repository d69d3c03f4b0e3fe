//! Blob admission: signed, streamed, quota-checked uploads.
//!
//! # Who may upload
//! An upload carries the two headers of [`deai_api::blob`] ([`ACCOUNT_HEADER`],
//! [`SIGNATURE_HEADER`]): the uploader's account id and its ed25519 signature over
//! [`upload_message`] (`"deai-blob-upload-v1" || len(chain id) as u8 || chain id ||
//! blake3(blob)`). The account must exist on the ledger (its id is its public key; small-order
//! keys are refused) and the signature must verify under `verify_strict`. The chain id keeps a
//! signature from being replayed on another chain. Within one chain a replayed signature can
//! only re-store the exact bytes the account signed, content addressed and idempotent: while
//! the blob is stored a replay stores and charges nothing; after garbage collection it stores
//! the same bytes again, charged to the account that signed them, within its quota — so no
//! nonce or timestamp is needed.
//!
//! # How the bytes arrive
//! The body is streamed, never buffered: each chunk goes through a bounded channel to one
//! blocking task that appends it to a temporary file while hashing it
//! ([`deai_store::blob::BlobWriter`]); no file I/O runs on the async runtime's threads. The
//! stream is cut off with `413` as soon as it passes the smaller of the blob size limit and the
//! uploader's remaining quota (a `Content-Length` above it is refused before reading). Then the
//! hash is known: the path's hash (if given) and the signature are checked, and
//! [`BlobStore::admit`] charges the account and renames the file into place. Any failure deletes
//! the temporary file before the answer is sent. With `PUT /v1/blob/{hash}` the signature is
//! checked before a byte of the body is read.
//!
//! # Answers
//! `201` [`UploadAnswer`] `{"hash", "bytes", "stored"}` (`stored` is false when the blob was
//! already there); `401` unsigned or bad signature; `403` no such account; `409` hash mismatch;
//! `413` over the size limit or the account's quota; `408` the body stalled; `507` the node's
//! blob capacity is full.

use std::sync::{atomic::Ordering, Arc};

use axum::{
    body::{Body, Bytes},
    extract::{Path, State as AxState},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use deai_api::blob::{upload_message, UploadAnswer, ACCOUNT_HEADER, SIGNATURE_HEADER};
use deai_store::{
    blob::{Admitted, StagedBlob},
    BlobError, BlobStore,
};
use deai_types::{AccountId, ChainId, Hash32, Signature};
use ed25519_dalek::VerifyingKey;
use futures::StreamExt as _;
use tokio::sync::mpsc;

use super::{parse, Api, ApiError, Backend};

/// Chunks in flight between the request body and the writing task.
const CHANNEL_CHUNKS: usize = 4;

/// The uploader named and authenticated by the request headers.
struct Uploader {
    account: AccountId,
    signature: Signature,
    key: VerifyingKey,
    chain: ChainId,
}

impl Uploader {
    fn from_headers<B: Backend>(api: &Api<B>, headers: &HeaderMap) -> Result<Self, ApiError> {
        let field = |name: &str| -> Result<&str, ApiError> {
            headers
                .get(name)
                .ok_or_else(|| {
                    ApiError::Unauthorized(format!(
                        "blob uploads must be signed: send {ACCOUNT_HEADER} (account id, 64 hex) \
                         and {SIGNATURE_HEADER} (ed25519 signature, 128 hex, over \
                         \"deai-blob-upload-v1\" || len(chain id) || chain id || blake3(body))"
                    ))
                })?
                .to_str()
                .map_err(|_| ApiError::BadRequest(format!("{name} is not ASCII")))
        };
        let account: AccountId = parse(ACCOUNT_HEADER, field(ACCOUNT_HEADER)?)?;
        let signature: Signature = parse(SIGNATURE_HEADER, field(SIGNATURE_HEADER)?)?;
        let key = VerifyingKey::from_bytes(account.as_bytes())
            .ok()
            .filter(|k| !k.is_weak())
            .ok_or_else(|| {
                ApiError::Unauthorized(format!(
                    "account {account} is not a usable ed25519 public key"
                ))
            })?;
        let (exists, chain) = api
            .backend
            .read(|state, _| (state.account(&account).is_some(), state.chain_id().clone()));
        if !exists {
            return Err(ApiError::Forbidden(format!(
                "account {account} does not exist on the ledger; only ledger accounts may upload blobs"
            )));
        }
        Ok(Self {
            account,
            signature,
            key,
            chain,
        })
    }

    fn verify(&self, blob: &Hash32) -> Result<(), ApiError> {
        let sig = ed25519_dalek::Signature::from_bytes(&self.signature.0);
        self.key
            .verify_strict(&upload_message(&self.chain, blob), &sig)
            .map_err(|_| {
                ApiError::Unauthorized(format!(
                    "the signature does not verify for account {} and blob {blob} on chain {}",
                    self.account,
                    self.chain.as_str()
                ))
            })
    }
}

fn blob_error(err: BlobError) -> ApiError {
    match err {
        BlobError::TooLarge { .. } => ApiError::TooLarge(err.to_string()),
        BlobError::NotFound { .. } => ApiError::NotFound(err.to_string()),
        BlobError::QuotaExceeded { .. } => ApiError::QuotaExceeded(err.to_string()),
        BlobError::StoreFull { .. } => ApiError::StorageFull(err.to_string()),
        other => ApiError::Internal(other.to_string()),
    }
}

fn join_error(err: tokio::task::JoinError) -> ApiError {
    ApiError::Internal(format!("blob task failed: {err}"))
}

/// How many bytes an upload may have, and which limit that is.
#[derive(Clone, Copy, Debug)]
struct Room {
    max_blob: u64,
    account: u64,
    node: u64,
}

impl Room {
    fn of<B: Backend>(api: &Api<B>, account: &AccountId) -> Self {
        Self {
            max_blob: api.blobs.max_bytes(),
            account: api
                .quota
                .per_account
                .saturating_sub(api.blobs.usage_of(account)),
            node: api.quota.total.saturating_sub(api.blobs.total_bytes()),
        }
    }

    fn limit(&self) -> u64 {
        self.max_blob.min(self.account).min(self.node)
    }

    /// The error for a body of `received` bytes, over [`Room::limit`].
    fn exceeded(&self, uploader: &Uploader, blobs: &BlobStore, received: u64) -> ApiError {
        let limit = self.limit();
        let err = if limit == self.max_blob {
            BlobError::TooLarge {
                size: received,
                max: limit,
            }
        } else if limit == self.account {
            let used = blobs.usage_of(&uploader.account);
            BlobError::QuotaExceeded {
                account: uploader.account,
                used,
                size: received,
                quota: used.saturating_add(self.account),
            }
        } else {
            let used = blobs.total_bytes();
            BlobError::StoreFull {
                used,
                size: received,
                capacity: used.saturating_add(self.node),
            }
        };
        blob_error(err)
    }
}

fn body_error(err: axum::Error) -> ApiError {
    let timed_out = std::error::Error::source(&err)
        .is_some_and(|e| e.is::<tower_http::timeout::TimeoutError>());
    if timed_out {
        ApiError::Timeout("the request body stalled; send it without pauses".into())
    } else {
        ApiError::BadRequest(format!("the request body could not be read: {err}"))
    }
}

enum Piece {
    Data(Bytes),
    End,
}

/// Streams `body` into a staged blob of at most `limit` bytes (see the module docs).
async fn receive(
    blobs: Arc<BlobStore>,
    uploader: &Uploader,
    headers: &HeaderMap,
    body: Body,
    room: Room,
) -> Result<StagedBlob, ApiError> {
    let limit = room.limit();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(len) = declared.filter(|len| *len > limit) {
        return Err(room.exceeded(uploader, &blobs, len));
    }
    let (tx, mut rx) = mpsc::channel::<Piece>(CHANNEL_CHUNKS);
    let writer_blobs = blobs.clone();
    let writer = tokio::task::spawn_blocking(move || -> Result<Option<StagedBlob>, BlobError> {
        let mut w = writer_blobs.writer(limit)?;
        while let Some(piece) = rx.blocking_recv() {
            match piece {
                Piece::Data(chunk) => w.write(&chunk)?,
                Piece::End => return w.finish().map(Some),
            }
        }
        // The sender went away without `End`: aborted; dropping `w` deletes the file.
        Ok(None)
    });
    let mut stream = body.into_data_stream();
    let mut received = 0u64;
    let mut failure = None;
    loop {
        match stream.next().await {
            Some(Ok(chunk)) => {
                received = received.saturating_add(u64::try_from(chunk.len()).unwrap_or(u64::MAX));
                if received > limit {
                    failure = Some(room.exceeded(uploader, &blobs, received));
                    break;
                }
                if tx.send(Piece::Data(chunk)).await.is_err() {
                    break; // The writer failed; its error is reported below.
                }
            }
            Some(Err(err)) => {
                failure = Some(body_error(err));
                break;
            }
            None => {
                let _ = tx.send(Piece::End).await;
                break;
            }
        }
    }
    drop(tx);
    // Wait for the writer even on failure, so its temporary file is gone before we answer.
    let written = writer.await.map_err(join_error)?;
    if let Some(err) = failure {
        return Err(err);
    }
    written
        .map_err(blob_error)?
        .ok_or_else(|| ApiError::Internal("blob writer stopped without a result".into()))
}

async fn upload<B: Backend>(
    api: Arc<Api<B>>,
    claimed: Option<Hash32>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let uploader = Uploader::from_headers(&api, &headers)?;
    if let Some(claimed) = &claimed {
        uploader.verify(claimed)?;
    }
    let room = Room::of(&api, &uploader.account);
    let staged = receive(api.blobs.clone(), &uploader, &headers, body, room).await?;
    let hash = staged.hash();
    if let Some(claimed) = claimed.filter(|c| *c != hash) {
        return Err(ApiError::HashMismatch(format!(
            "body hashes to {hash}, not to the {claimed} in the path"
        )));
    }
    if claimed.is_none() {
        uploader.verify(&hash)?;
    }
    let blobs = api.blobs.clone();
    let quota = api.quota;
    let account = uploader.account;
    let Admitted { hash, size, stored } =
        tokio::task::spawn_blocking(move || blobs.admit(staged, &account, &quota))
            .await
            .map_err(join_error)?
            .map_err(blob_error)?;
    if stored {
        api.metrics.blobs_stored.fetch_add(1, Ordering::Relaxed);
    }
    Ok((
        StatusCode::CREATED,
        Json(UploadAnswer {
            hash,
            bytes: size,
            stored,
        }),
    )
        .into_response())
}

pub(super) async fn put_blob<B: Backend>(
    AxState(api): AxState<Arc<Api<B>>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    upload(api, None, headers, body).await
}

pub(super) async fn put_blob_hash<B: Backend>(
    AxState(api): AxState<Arc<Api<B>>>,
    Path(hash): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let claimed: Hash32 = parse("blob hash (64 hex characters)", &hash)?;
    upload(api, Some(claimed), headers, body).await
}

pub(super) async fn get_blob<B: Backend>(
    AxState(api): AxState<Arc<Api<B>>>,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let hash: Hash32 = parse("blob hash (64 hex characters)", &hash)?;
    let blobs = api.blobs.clone();
    let found = tokio::task::spawn_blocking(move || blobs.get(&hash))
        .await
        .map_err(join_error)?;
    let bytes = match found {
        // Not here: a replicated node asks its peers (hash- and size-checked, then stored).
        Err(err @ BlobError::NotFound { .. }) => match api.backend.fetch_blob(hash).await {
            Some(bytes) => Vec::from(bytes),
            None => return Err(blob_error(err)),
        },
        other => other.map_err(blob_error)?,
    };
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        Body::from(bytes),
    )
        .into_response())
}
