//! Serve the deai ledger over HTTP and replicate it across nodes with commonware's simplex consensus.
//!
//! Layers, bottom up: [`engine`] is the only code that touches commonware (simplex + marshal
//! over an opaque block payload); everything above it sees "submit a transaction" and "a
//! stream of finalized blocks".
//!
//! - [`engine`]: the replicated chain on commonware simplex + marshal, one simplex instance
//!   per consensus epoch.
//! - [`ledger`]: the deai ledger as the state machine the engine drives
//!   ([`ledger::ReplicatedLedger`], an [`engine::Executor`]).
//! - [`service`]: the two ledgers the API can serve, embedded or replicated.
//! - [`http`]: the HTTP API (axum): routes, error answers, limits.
//! - [`config`]: node configuration and key files, localhost testnets, the validator set.
//! - [`daemon`]: running a node process, single embedded node or testnet member.
//! - [`bench`]: `deai bench replication`, replicated throughput against the embedded producer.
//! - [`loadtest`]: `deai bench http`, a bounded load test of the API on localhost.
#![cfg_attr(not(test), warn(unused_crate_dependencies))]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod bench;
pub mod config;
pub mod daemon;
pub mod engine;
pub mod http;
pub mod ledger;
pub mod loadtest;
pub mod service;
