//! Serve the deai ledger over HTTP and replicate it across nodes with commonware's simplex consensus.
//!
//! Layers, bottom up: [`engine`] is the only code that touches commonware (simplex + marshal
//! over an opaque block payload); everything above it sees "submit a transaction" and "a
//! stream of finalized blocks".

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod bench;
pub mod config;
pub mod daemon;
pub mod distributions;
pub mod engine;
pub mod http;
pub mod ledger;
pub mod loadtest;
pub mod service;
