//! Off-chain actors: miners that train (or pretend to), validators that score (or pretend to),
//! voters that judge a proposer/voter round.
//!
//! The behaviours live in [`deai_roles::behaviour`], where the same types plug into the
//! embedded chain and a node's API alike; this module re-exports them under their old path.
//! Each behaviour is its own type behind the [`Miner`], [`Validator`] or [`Voter`] trait;
//! honest code never asks "am I malicious?". The honest scoring rule is described in
//! [`deai_roles::behaviour::validator`].

pub use deai_roles::behaviour::*;
