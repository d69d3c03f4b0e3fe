//! The chain port: everything a role asks of a chain, and nothing more.
//!
//! A role (miner, validator, voter, task proposer) reads the state it acts on, signs and
//! submits transactions, and moves blobs. [`ChainPort`] names exactly those operations, so the
//! same role code runs on two transports:
//!
//! - the embedded chain, in process ([`crate::EmbeddedPort`]): `deai demo`, `deai run` and
//!   the simulator, where a driver produces the blocks in lockstep;
//! - a node's HTTP API (a blocking client): the networked role processes.
//!
//! # The contract
//! - **Plain data.** Every answer is an owned value a node can serve (the ledger's own types,
//!   which serialize, or the small structs of this module), never a reference into a state
//!   held in memory. A role keeps nothing from one call to the next but what it copied.
//! - **Reads are snapshots** of the latest block the port knows. Two reads may see two
//!   different blocks on a live network; a role that needs a consistent view reads once and
//!   works on the copy.
//! - **Writes** ([`ChainPort::submit`], [`ChainPort::put_blob`]) take `&mut self`; a
//!   transaction submitted is not executed yet: its [`TxState`] tells when it is, and
//!   [`ChainPort::wait_for_height`] waits for the next block. On the embedded port the driver
//!   produces the blocks, so waiting returns the head at once.
//! - **Synchronous.** A remote implementation blocks on its client; the roles stay free of
//!   any async runtime.
//! - **Order.** Lists come in the ledger's key order (registrations by UID, commitments by
//!   commit key, offences by id), so a role that turns them into transactions submits them in
//!   the same order on every transport.

use deai_chain::state::{Commitment, EpochRecord, Offence, PvRoles, PvRoundRecord, Task};
use deai_chain::TxOutcome;
use deai_types::{
    AccountId, Amount, ChainId, CommitKey, Epoch, Hash32, Height, Nonce, OffenceId, Params, Role,
    Round, SignedTx, TaskId, Uid,
};

pub use deai_store::TxLocation;

/// The head of the chain: the latest block a port knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Its height.
    pub height: Height,
    /// Its header hash (the proposer/voter draw of the next block derives from it).
    pub hash: Hash32,
    /// The state root after it.
    pub state_root: Hash32,
    /// Its timestamp (an input of the block producer, not a clock).
    pub timestamp_ms: u64,
}

/// What became of a submitted transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxState {
    /// The port never accepted it, or dropped it before it reached a block.
    Unknown,
    /// Accepted, not in a block yet.
    Pending,
    /// In a block, with what it did: its receipt, or the typed error that stopped it (its fee
    /// was charged and its nonce used, nothing else changed).
    Executed {
        /// Where it is.
        at: TxLocation,
        /// What it did.
        outcome: TxOutcome,
    },
    /// In a block, older than the outcomes the port keeps.
    Included {
        /// Where it is.
        at: TxLocation,
    },
}

/// One UID of a task, with what the proposer/voter draw needs of its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// The UID.
    pub uid: Uid,
    /// The account holding it.
    pub account: AccountId,
    /// Miner or validator.
    pub role: Role,
    /// Stake bonded to the account as a hotkey (own and delegated), now.
    pub stake: Amount,
}

/// A commitment not revealed and not slashed yet: what a watchdog checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenCommitment {
    /// Whose commitment, for what.
    pub key: CommitKey,
    /// The commitment.
    pub commitment: Commitment,
}

/// An offence the ledger recorded and nobody has turned into a slash yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOffence {
    /// Its id, which `Evidence::Offence` names.
    pub id: OffenceId,
    /// The offence.
    pub offence: Offence,
}

/// Why a port could not answer or act.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// The embedded chain refused a transaction or failed to produce or store a block.
    #[error(transparent)]
    Chain(#[from] deai_store::EmbeddedError),
    /// The embedded blob store failed: no such blob, over the size limit, or I/O.
    #[error(transparent)]
    Blob(#[from] deai_store::BlobError),
    /// A remote port failed to reach its node or got an answer it could not use; `operation`
    /// names what was asked (`"submit"`, `"get_blob"`, …). The transport's own error is the
    /// source, boxed so this crate depends on no client.
    #[error("{operation}: {source}")]
    Remote {
        /// What was asked.
        operation: &'static str,
        /// The transport's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Everything a role asks of a chain (see the module docs). Object safe: a role takes
/// `&dyn ChainPort` to read and `&mut dyn ChainPort` to act.
pub trait ChainPort {
    /// The chain's id, which every signed transaction names.
    fn chain_id(&self) -> Result<ChainId, PortError>;

    /// The latest block.
    fn head(&self) -> Result<Head, PortError>;

    /// The ledger's parameters now.
    fn params(&self) -> Result<Params, PortError>;

    /// The nonce the ledger expects next from `account` (0 for an unknown account); it does
    /// not count transactions still waiting for a block.
    fn next_nonce(&self, account: &AccountId) -> Result<Nonce, PortError>;

    /// Submits a signed transaction for a coming block; returns its hash. An error means it
    /// was refused before any block (bad signature, chain id, nonce or fee; full pool).
    fn submit(&mut self, tx: SignedTx) -> Result<Hash32, PortError>;

    /// What became of the transaction `hash`.
    fn tx_state(&self, hash: &Hash32) -> Result<TxState, PortError>;

    /// A task with its spec, windows, start and escrow.
    fn task(&self, task: TaskId) -> Result<Option<Task>, PortError>;

    /// The task's UIDs, by UID.
    fn registrations(&self, task: TaskId) -> Result<Vec<Registered>, PortError>;

    /// A commitment, with its reveal if there was one.
    fn commitment(&self, key: &CommitKey) -> Result<Option<Commitment>, PortError>;

    /// The task's commitments not revealed and not slashed, by commit key.
    fn open_commitments(&self, task: TaskId) -> Result<Vec<OpenCommitment>, PortError>;

    /// The task's recorded offences not slashed yet, by id.
    fn open_offences(&self, task: TaskId) -> Result<Vec<OpenOffence>, PortError>;

    /// What the Yuma epoch `epoch` of `task` computed and paid, once it ran.
    fn epoch_record(&self, task: TaskId, epoch: Epoch) -> Result<Option<EpochRecord>, PortError>;

    /// The roles the ledger drew for `round` of a proposer/voter task, once drawn.
    fn pv_roles(&self, task: TaskId, round: Round) -> Result<Option<PvRoles>, PortError>;

    /// How the ledger settled `round` of a proposer/voter task, once settled.
    fn pv_round(&self, task: TaskId, round: Round) -> Result<Option<PvRoundRecord>, PortError>;

    /// Stores `bytes` where every participant can fetch them; returns their content address
    /// (blake3).
    fn put_blob(&mut self, bytes: &[u8]) -> Result<Hash32, PortError>;

    /// The bytes stored at `hash`, checked against it.
    fn get_blob(&self, hash: &Hash32) -> Result<Vec<u8>, PortError>;

    /// Waits until a block above `after` is final and returns the head then. The embedded
    /// port, whose driver produces the blocks, returns the head at once.
    fn wait_for_height(&mut self, after: Height) -> Result<Head, PortError>;
}
