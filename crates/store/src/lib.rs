//! Persist blocks and ledger state in redb atomically, recover after a crash, and keep content-addressed blobs.
//!
//! - [`Store`]: one redb file per data directory holding blocks by height, block-hash and
//!   transaction indexes, the current state and metadata. A block and its post-state commit in
//!   one write transaction, so a crash at any moment leaves the last committed block and its
//!   state, never half of one.
//! - [`EmbeddedChain`]: the single-node block producer — a [`Mempool`] (bounded per signer by
//!   its balance, expiring gapped transactions, evicting by fee when full) feeding
//!   `deai_chain::build_block`, committing each block synchronously or through a background
//!   [`Committer`] that overlaps the disk write with the next block's execution; while idle it
//!   makes at most one empty block per idle interval.
//! - [`verify_chain`]: re-executes the stored chain from genesis and checks every parent link,
//!   tx root and state root (`deai chain verify`).
//! - [`ReceiptIndex`]: the outcomes of recent transactions by hash, in bounded memory, for a
//!   node's receipt queries.
//! - [`BlobStore`]: content-addressed files (blake3) for the big artifacts the ledger only
//!   references by hash.
#![cfg_attr(not(test), warn(unused_crate_dependencies))]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod blob;
pub mod committer;
pub mod embedded;
pub mod error;
pub mod mempool;
pub mod receipts;
pub mod sigs;
pub mod store;
pub mod verify;

pub use blob::{BlobError, BlobStore, DEFAULT_MAX_BLOB_BYTES};
pub use committer::Committer;
pub use embedded::{
    CommitMode, EmbeddedChain, EmbeddedConfig, EmbeddedError, ProducedBlock, DEFAULT_IDLE_BLOCK_MS,
};
pub use error::StoreError;
pub use mempool::{Mempool, MempoolConfig, MempoolError, VerifiedBatch, DEFAULT_GAP_EXPIRY_BLOCKS};
pub use receipts::{ReceiptIndex, TxRecord, TxState, DEFAULT_RECEIPT_CAPACITY};
pub use sigs::SigVerifier;
pub use store::{schema, PreparedCommit, Store, TxLocation, DB_FILE};
pub use verify::{verify_chain, VerifyProblem, VerifyReport};

use deai_chain::State;
use deai_types::AccountId;

/// The next nonce the ledger expects from `account` (0 for an unknown account).
pub fn account_nonce(state: &State, account: &AccountId) -> u64 {
    state.nonce_of(account).0
}
