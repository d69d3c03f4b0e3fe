//! Define the ids, amounts, fixed-point numbers, hashes, keys and signed transactions that every deai crate shares.
//!
//! Everything that enters the deai ledger is built from the types in this crate:
//!
//! - **Ids and quantities** ([`ids`]): [`AccountId`] (an ed25519 verifying key), [`Amount`]
//!   (`u128`, checked arithmetic only), [`Height`], [`Epoch`], [`Round`], [`TaskId`], [`Uid`],
//!   [`Nonce`], [`ProposalId`], [`OffenceId`], [`ChainId`].
//! - **Hashes** ([`hash`]): [`Hash32`], a 32-byte blake3 digest, always computed over a
//!   domain-separation tag followed by canonical bytes.
//! - **Fixed point** ([`fixed_point`]): [`Fixed`], an `I32F32` number used for every score, share
//!   and rate that enters state. Its arithmetic is integer arithmetic, so results are
//!   bit-identical on every machine; it is encoded as its raw `i64` bits.
//! - **Canonical encoding** ([`codec`]): borsh with strict key order; [`encode`] / [`decode`]
//!   where `decode` rejects trailing bytes, never panics, and never allocates more than the input
//!   can justify.
//! - **Keys and signatures** ([`crypto`]): [`Keypair`], [`Signature`], the ledger's ed25519
//!   rule (canonical encodings, no small-order key or `R`, canonical `s`, cofactored equation),
//!   single verification ([`SignedTx::verify`]) and the batch verifiers [`verify_batch`] and
//!   [`verify_batch_with_keys`], whose verdicts equal the single one's.
//! - **Transactions** ([`tx`]): [`Tx`] = chain id + nonce + fee + [`Call`]; [`SignedTx`].
//! - **Protocol vocabulary** ([`protocol`]): task specifications, commit/reveal keys and windows,
//!   slashing evidence, governance parameter changes and the [`Params`] they change.
//! - **Blocks** ([`block`]): [`Header`], [`Block`], [`tx_root`].
//!
//! The state machine that gives these types meaning lives in `deai-chain`.
#![cfg_attr(not(test), warn(unused_crate_dependencies))]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod block;
pub mod codec;
pub mod crypto;
pub mod fixed_point;
pub mod hash;
pub mod ids;
pub mod protocol;
pub mod tx;

mod hex;

pub use block::{tx_root, Block, Header};
pub use codec::{decode, encode, DecodeError};
pub use crypto::{
    verify_batch, verify_batch_with_keys, Keypair, SigError, Signature, ValidKey, BATCH_CHUNK,
};
pub use fixed_point::{Fixed, FixedError};
pub use hash::Hash32;
pub use hex::HexError;
pub use ids::{
    AccountId, Amount, ChainId, ChainIdError, Epoch, Height, Nonce, OffenceId, ProposalId, Round,
    TaskId, Uid,
};
pub use protocol::{
    commitment_hash, CommitKey, CommitKind, Evidence, Mechanism, OffenceKind, ParamChange,
    ParamError, Params, PhaseWindow, Role, SlashDestination, TaskSpec, TaskSpecError,
    UpdatePreimage, VotePreimage, WeightsPreimage, Window,
};
pub use tx::{Call, SignedTx, Tx};
