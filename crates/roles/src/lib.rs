//! Play every role of a deai task — proposer, miner, validator, voter, honest or adversarial — once, against a narrow chain port that the embedded chain and a node's API both implement.
//!
//! # Shape
//! A role is protocol logic between a **behaviour** and a **port**:
//!
//! ```text
//!   behaviour (off-chain decision)      role (protocol)            port (transport)
//!   Miner::update            ──►  MinerRole: blob, commit, reveal  ──►  ChainPort
//!   Validator::weights       ──►  ValidatorRole: fetch, commit, reveal     ├─ EmbeddedPort (in process)
//!   Voter::score             ──►  VoterRole: commit, reveal                └─ a node's HTTP API
//!   (the task's rule)        ──►  TaskProposer: propose, aggregate, record, watchdog
//! ```
//!
//! - [`port`]: [`ChainPort`], the operations a role needs — chain id, head, nonce, submit and
//!   learn the outcome, read a task, its registrations, a commitment, the open commitments and
//!   offences, an epoch record, a proposer/voter draw and settlement, put and get a blob, wait
//!   for the next block — answered with plain data a node can serve.
//! - [`embedded`]: [`EmbeddedPort`], the port over the in-process chain and blob store, for a
//!   driver that produces the blocks itself (the simulator, `deai demo`).
//! - [`signer`]: a participant's key and the nonces of its transactions.
//! - [`commit`]: commit-reveal ([`Sealed`]), the round a role acts in, seeded salts.
//! - [`behaviour`]: honest and adversarial miners, validators and voters, each its own type.
//! - [`miner`], [`validator`], [`voter`], [`proposer`]: the roles; [`pv`] is what a
//!   proposer/voter participant re-derives of the ledger's draw.
//! - [`verify`]: re-deriving every recorded model from the update blobs (`deai chain verify`).
//!
//! # What a role does not decide
//! When to act. The windows of a task say in which block of a round each commitment and
//! reveal is accepted; a driver — the simulator's lockstep loop, or a process following the
//! chain's head — calls the role in the right block. A role never sleeps, never reads a clock
//! and draws no randomness: salts and training seeds come in as inputs, so a seeded run is
//! reproducible on either transport.
#![cfg_attr(not(test), warn(unused_crate_dependencies))]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod behaviour;
pub mod commit;
pub mod embedded;
pub mod miner;
pub mod port;
pub mod proposer;
pub mod pv;
pub mod signer;
pub mod validator;
pub mod verify;
pub mod voter;

pub use commit::{seeded_salt, RoundOf, SaltUse, Sealed};
pub use embedded::EmbeddedPort;
pub use miner::{CommittedUpdate, MinerRole};
pub use port::{
    ChainPort, Head, OpenCommitment, OpenOffence, PortError, Registered, TxLocation, TxState,
};
pub use proposer::{apply_step, model_hash, TaskProposer};
pub use signer::Signer;
pub use validator::{FetchedUpdate, UpdateRejection, ValidatorRole};
pub use voter::VoterRole;

use deai_types::Hash32;

/// Why a role could not act.
#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    /// The port could not answer or act.
    #[error(transparent)]
    Port(#[from] PortError),
    /// Training or evaluation failed.
    #[error(transparent)]
    Ml(#[from] deai_ml::MlError),
    /// The task's aggregation rule failed.
    #[error(transparent)]
    Aggregation(#[from] deai_aggregation::AggregationError),
    /// A noise free-rider's distribution is invalid (a negative or non-finite deviation).
    #[error("noise free-rider: {source}")]
    Noise {
        /// What the distribution rejected.
        #[source]
        source: rand_distr::NormalError,
    },
    /// The ledger rejected the task proposal.
    #[error("the task proposal failed: {source}")]
    ProposalRejected {
        /// Why.
        #[source]
        source: deai_chain::TxError,
    },
    /// The task proposal is in no block that created a task (not included yet, or forgotten).
    #[error("the task proposal {tx} created no task")]
    NoTask {
        /// The proposal's transaction hash.
        tx: Hash32,
    },
}
