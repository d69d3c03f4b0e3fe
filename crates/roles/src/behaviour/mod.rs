//! What a participant decides off the chain: which update a miner commits to, which weights a
//! validator sets, which score a voter gives — honestly or not.
//!
//! Each behaviour is its own type behind the [`Miner`], [`Validator`] or [`Voter`] trait;
//! honest code never asks "am I malicious?". A behaviour sees a plain view of the round
//! ([`MinerView`], [`ValidatorView`], [`VoteView`]) and returns plain values; it never touches
//! a chain. The roles ([`crate::miner`], [`crate::validator`], [`crate::voter`]) turn what it
//! returns into commitments and reveals through a [`crate::ChainPort`], so the same behaviour
//! plays in the simulator and in a networked process.
//!
//! - [`miner`]: honest training, label flipping, overfitting the known evaluation sets, noise
//!   and copy free-riding, committing without revealing.
//! - [`validator`]: the honest scoring rule (leave-one-out with its two own-effect tests), lazy
//!   re-submission of the last consensus, collusion with a partner miner, silence.
//! - [`voter`]: the accuracy change on an own test split, the lazy repeat of the last vote,
//!   collusion, silence.

pub mod miner;
pub mod validator;
pub mod voter;

pub use miner::{
    CopyFreeRider, HonestMiner, LabelFlipper, Miner, MinerView, NoiseFreeRider, Overfitter,
    SilentMiner,
};
pub use validator::{
    cosine, honest_scores, quantize, Candidate, ColludingValidator, EvalSets, HonestValidator,
    LazyValidator, SilentValidator, Validator, ValidatorView, COPY_SIMILARITY, NOISE_FLOOR,
};
pub use voter::{
    accuracy_change, ColludingVoter, HonestVoter, LazyVoter, SilentVoter, VoteView, Voter,
    LAZY_FIRST_VOTE,
};
