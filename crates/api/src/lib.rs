//! Define the requests and answers of the deai node's HTTP API, and the client that speaks it.
//!
//! One contract, one type: the node's axum handlers answer `Json<T>` with the types of this
//! crate and [`Client`] (feature `client`) reads the same types back, so a field cannot be
//! renamed on one side only.
//!
//! | method | path ([`route`]) | request | answer |
//! |---|---|---|---|
//! | POST | `/v1/tx` | a [`deai_types::SignedTx`], borsh (`application/octet-stream`) or JSON as [`Decimal`] | `202` [`SubmitAnswer`] |
//! | GET | `/v1/tx/{hash}` | | [`ReceiptAnswer`]: pending, succeeded with its receipt, failed with its typed error, or included |
//! | GET | `/v1/account/{id}` | hex account id | [`AccountAnswer`] |
//! | GET | `/v1/task/{id}` | task id | [`TaskAnswer`] |
//! | GET | `/v1/block/{height}` | | [`BlockAnswer`] |
//! | GET | `/v1/state-root` | | [`StateRootAnswer`] |
//! | GET | `/v1/status` | | [`StatusAnswer`] |
//! | GET | `/v1/head` | [`HeadQuery`] `?after=H&wait_ms=W` | [`HeadAnswer`], once the head is above `H` or after the wait |
//! | GET | `/v1/events` | | server-sent events: `event: head`, `id: H`, `data:` a [`HeadAnswer`], one per new final head |
//! | GET | `/v1/distributions` | | [`DistributionsAnswer`] |
//! | PUT | `/v1/blob`, `/v1/blob/{hash}` | raw bytes, signed ([`blob`]) | `201` [`UploadAnswer`] |
//! | GET | `/v1/blob/{hash}` | | the bytes |
//! | GET | `/metrics` | | Prometheus text |
//!
//! Every error is `4xx`/`5xx` with an [`ErrorBody`] `{"error": code, "message": text}`.
//!
//! # Amounts
//!
//! Every amount (`u128`) travels as a string of decimal digits, `"100000000000000000000"`,
//! and is read back only from one ([`amount`]): a JSON number would be rounded by a browser
//! above 2^53 and turned into a float by a generic JSON reader. Ledger values the API passes
//! through whole (blocks, tasks, receipts, transaction errors) are wrapped in [`Decimal`],
//! which applies the same rule inside them without touching their canonical encoding or hashes.
//! Heights, nonces, indexes and timestamps stay JSON numbers.
//!
//! # Waiting
//!
//! `GET /v1/head?after=H` answers as soon as a block above `H` is final, or after at most the
//! node's `max_wait_ms`, with the head at that moment; `GET /v1/events` streams one event per
//! new final head (when several blocks become final between two events, only the newest is
//! sent: fetch the blocks in between by height). Both are bounded by the node's
//! `max_subscribers`; beyond it the node answers `503` with `Retry-After`.
#![cfg_attr(not(test), warn(unused_crate_dependencies))]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod amount;
mod answer;
pub mod blob;
#[cfg(feature = "client")]
pub mod client;
pub mod receipt;
pub mod route;

pub use amount::Decimal;
pub use answer::{
    AccountAnswer, BlockAnswer, DistributionsAnswer, ErrorBody, HeadAnswer, HeadQuery, NodeMode,
    StateRootAnswer, StatusAnswer, SubmitAnswer, TaskAnswer,
};
pub use blob::UploadAnswer;
#[cfg(feature = "client")]
pub use client::{Client, ClientError};
pub use receipt::{ReceiptAnswer, TxFailure, TxStatus};
