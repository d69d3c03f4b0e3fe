//! Why a finalized block could not be applied ([`FinalizeError`]).
//!
//! Every variant is fatal for this node: the finalizer stops acknowledging blocks to marshal
//! (the node halts rather than pretend it applied a block), and the error is logged with its
//! full source chain.

use std::path::PathBuf;

use deai_chain::BlockError;
use deai_store::StoreError;
use deai_types::DecodeError;

/// Why [`ReplicatedLedger`](super::ReplicatedLedger) could not apply a finalized block.
#[derive(Debug, thiserror::Error)]
pub enum FinalizeError {
    /// The block is not the child of the applied head (height or consensus parent digest).
    #[error("finalized block {height} does not extend the applied head {applied}")]
    NotNext {
        /// Height of the finalized block.
        height: u64,
        /// Height of the applied head.
        applied: u64,
    },
    /// The consensus payload is not a canonically encoded ledger block.
    #[error("finalized block {height} does not decode as a ledger block")]
    Decode {
        /// Height of the finalized block.
        height: u64,
        /// The codec's error.
        #[source]
        source: DecodeError,
    },
    /// The ledger header's parent hash is not the applied head's hash.
    #[error("finalized block {height} does not link to the applied head's header")]
    ParentLink {
        /// Height of the finalized block.
        height: u64,
    },
    /// Re-executing the block on the applied state failed.
    #[error("finalized block {height} does not execute on the applied state")]
    Execute {
        /// Height of the finalized block.
        height: u64,
        /// The ledger's error.
        #[source]
        source: BlockError,
    },
    /// Committing the block and its post-state to the store failed.
    #[error("committing finalized block {height}")]
    Store {
        /// Height of the finalized block.
        height: u64,
        /// The store's error.
        #[source]
        source: StoreError,
    },
    /// Appending the block's consensus digest to the side file failed.
    #[error("appending the digest of finalized block {height} to {path}")]
    Digests {
        /// Height of the finalized block.
        height: u64,
        /// The side file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}
