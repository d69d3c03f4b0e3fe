//! Run seeded scenarios of honest and adversarial miners and validators over an embedded deai chain, and report what happened.
//!
//! - [`scenario`]: the TOML schema of a run and the default `deai demo` scenario.
//! - [`data`]: the split of a dataset into miners' shards and validators' private sets.
//! - [`actors`]: miners, validators and voters, honest and adversarial, each its own type
//!   (the behaviours of [`deai_roles::behaviour`], re-exported).
//! - [`runner`]: the round loop over an embedded chain (commit, reveal, score, epoch,
//!   aggregate): the lockstep driver of the roles of [`deai_roles`], which act through an
//!   [`deai_roles::EmbeddedPort`].
//! - [`pv`]: the same loop for proposer/voter tasks (drawn roles, votes, settlement).
//! - [`report`]: the report folder (markdown, JSON, CSV, plots).
//! - [`verify`]: re-deriving the recorded global models from the update blobs.
//! - [`layers`]: what a run knows beyond its chain (names, owners, training) for
//!   `deai-analytics`, which replays the chain and measures every layer over time.
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

use deai_types::{Epoch, Round, TaskId};

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
    Node(#[from] deai_store::EmbeddedError),
    /// The blob store failed.
    #[error(transparent)]
    Blob(#[from] deai_store::BlobError),
    /// Writing the report failed.
    #[error(transparent)]
    Report(#[from] deai_report::ReportError),
    /// The ledger did not do what the protocol says it does.
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// Replaying a stored chain for the decentralization layers failed.
    #[error(transparent)]
    Layers(layers::LayersError),
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The simulation's chain id breaks the naming rule.
    #[error(transparent)]
    ChainId(#[from] deai_types::ChainIdError),
    /// An actor could not act.
    #[error("actor: {0}")]
    Actor(String),
    /// A role could not act: its behaviour, or the chain port under it, failed.
    #[error(transparent)]
    Role(#[from] deai_roles::RoleError),
}

impl From<deai_roles::PortError> for SimError {
    fn from(e: deai_roles::PortError) -> Self {
        SimError::Role(e.into())
    }
}

/// What the embedded ledger failed to do that the protocol says it does: each is a bug in the
/// ledger or in the simulator's reading of it, never an actor's misbehaviour.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// An actor's registration on the task left it without a UID.
    #[error("{actor} is not registered on task {task}")]
    NotRegistered {
        /// The actor's name.
        actor: String,
        /// The task.
        task: TaskId,
    },
    /// The last block of a Yuma round did not run the epoch.
    #[error("no epoch record for task {task} epoch {epoch}")]
    NoEpochRecord {
        /// The task.
        task: TaskId,
        /// The epoch that should have run.
        epoch: Epoch,
    },
    /// The ledger drew other proposer/voter roles than the draw re-derived from the parent block.
    #[error("round {round}: the ledger drew other roles than {expected:?}")]
    OtherRoles {
        /// The round.
        round: Round,
        /// The re-derived draw.
        expected: deai_chain::PvRoles,
    },
    /// The last block of a proposer/voter round did not settle it.
    #[error("no settlement of task {task} round {round}")]
    NoSettlement {
        /// The task.
        task: TaskId,
        /// The round.
        round: Round,
    },
    /// A recorded global model does not re-derive from its update blobs.
    #[error("task {task} round {round}: {problem}")]
    ModelNotReDerived {
        /// The task.
        task: u64,
        /// The first round whose model did not re-derive.
        round: u64,
        /// What [`verify::verify_models`] found.
        problem: String,
    },
}
