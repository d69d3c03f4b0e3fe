//! Run seeded scenarios of honest and adversarial miners and validators over an embedded deai chain, and report what happened.
//!
//! - [`scenario`]: the TOML schema of a run and the default `deai demo` scenario.
//! - [`data`]: the split of a dataset into miners' shards and validators' private sets.
//! - [`actors`]: miners and validators, honest and adversarial, each its own type.
//! - [`runner`]: the round loop over an embedded chain (commit, reveal, score, epoch, aggregate).
//! - [`pv`]: the same loop for proposer/voter tasks (drawn roles, votes, settlement).
//! - [`report`]: the report folder (markdown, JSON, CSV, plots).
//! - [`verify`]: re-deriving the recorded global models from the update blobs.
//! - [`layers`]: the decentralization of every layer over time, by replaying a stored chain
//!   from genesis (`deai chain metrics --over-time`).
//! - [`harness`]: the attack × defense × Byzantine fraction × partition grid behind
//!   `deai eval`, resumable, with its tables and heatmaps.
#![cfg_attr(not(test), warn(unused_crate_dependencies))]
#![forbid(unsafe_code)]

pub mod actors;
pub mod data;
pub mod harness;
pub mod layers;
pub mod pv;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod verify;

use std::path::PathBuf;

pub use runner::{Measurement, RunOptions, RunReport, Sim};
pub use scenario::Scenario;

/// Everything that can stop a simulation.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario file is unreadable or invalid.
    #[error("scenario {path}: {reason}")]
    Scenario {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the key.
        reason: String,
    },
    /// Training or evaluation failed.
    #[error(transparent)]
    Ml(#[from] deai_ml::MlError),
    /// Aggregation failed.
    #[error(transparent)]
    Aggregation(#[from] deai_aggregation::AggregationError),
    /// The embedded chain failed.
    #[error(transparent)]
    Node(#[from] deai_store::NodeError),
    /// The blob store failed.
    #[error(transparent)]
    Blob(#[from] deai_store::BlobError),
    /// Writing the report failed.
    #[error(transparent)]
    Report(#[from] deai_report::ReportError),
    /// The ledger did not do what the protocol says it does.
    #[error("ledger: {0}")]
    Chain(String),
    /// A file operation failed.
    #[error("{path}: {reason}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// An actor could not act.
    #[error("actor: {0}")]
    Actor(String),
}
