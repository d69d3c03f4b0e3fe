//! Compute one Yuma consensus epoch in I32F32 fixed point, bit-identical on every machine.
//!
//! This is a port of subtensor's `epoch_mechanism` (opentensor/subtensor at
//! `14bc6f9f964b9cc362e9635dd110a487fa5d15a0`, `pallets/subtensor/src/epoch/run_epoch.rs` and
//! `epoch/math.rs`). UIDs `0..n` share one space: validators and miners alike. Every number
//! inside the epoch is an [`I32F32`](fixed::types::I32F32) with subtensor's rounding (products
//! floor, quotients truncate, a zero divisor gives 0), so the ledger can run it and every node
//! gets the same bits. Floats appear only at the JSON boundary ([`run_epoch`]).
//!
//! # The epoch, step by step
//!
//! 1. **Stake.** Stakes below `stake_threshold` count as 0 (the subnet owner is exempt); the
//!    rest is normalized to sum 1: `s_i = floor(2^32 · S_i / ΣS) / 2^32` (`stake_normalized`).
//! 2. **Validator permits.** The new permits go to the `max_allowed_validators` largest non-zero
//!    stakes (ties: lower UID loses), plus the owner (`new_validator_permits`). The epoch itself
//!    uses the permits held before it (`validator_permits_used`; by default the new ones).
//! 3. **Active stake.** Stake of UIDs that are inactive or hold no permit is masked; the rest is
//!    normalized (`active_stake`).
//! 4. **Weights.** Rows of UIDs without a permit are dropped, the diagonal is zeroed
//!    (self-weights; the owner keeps its own), outdated entries (weights on a UID that
//!    re-registered after they were set) are zeroed, and each row is normalized to sum 1
//!    (`weights_normalized`).
//! 5. **Consensus.** For each column j, `c_j` is the stake-weighted median at κ over the
//!    validators with active stake: the smallest weight at which the (renormalized) stake of
//!    validators weighting j at most that much exceeds `Σstake − κ` (`consensus`).
//! 6. **Clipping and validator trust.** `clipped_ij = min(w_ij, c_j)`; a validator's trust is
//!    the sum of its clipped row (`clipped_weights`, `validator_trust`).
//! 7. **Ranks and incentive.** `rank_j = Σ_i s_i · clipped_ij` over active stake (`ranks`);
//!    incentive is the normalized rank (`incentive`). The unclipped `preranks` and the legacy
//!    server trust `ranks / preranks` (`trust_legacy`) are reported too.
//! 8. **Bonds.** Bonds are built on `weights_for_bonds = w + penalty · (clipped − w)` (penalty 0:
//!    raw weights, 1: clipped weights). Bonds on UIDs registered since the last epoch are
//!    dropped.
//!    - *Classic*: the previous bonds are column-normalized; `ΔB_ij = wfb_ij · s_i`,
//!      column-normalized (`bonds_delta`); `ema = α·ΔB + (1−α)·B` with `α = 1 −
//!      bonds_moving_average`, column-normalized (`ema_bonds`); dividends
//!      `d_i = Σ_j ema_ij · incentive_j`, normalized. Stored bonds are `ema` with every column
//!      divided by its maximum (`bonds_out`).
//!    - *Yuma3*: bonds are absolute shares in [0, 1]. With liquid alpha (and some non-zero
//!      consensus) each bond has its own rate `α_ij` from a sigmoid of the buy distance
//!      `w − c` (when `w ≥ b`) or sell distance `b − w`, between `alpha_low` and `alpha_high`
//!      (`liquid_alphas`), and `ema_ij = min((1−α_ij)·b_ij + α_ij·w_ij, 1)`; otherwise a fixed
//!      `α`. Dividends are `d_i = s_i · Σ_j ema_norm_ij · incentive_j` (column-normalized
//!      `ema`), normalized. Stored bonds are `ema` itself.
//!
//!    Rows without a new validator permit store no bonds (`bonds_out_u16 = floor(65535·b)`).
//! 9. **Emission.** Servers get incentive and validators dividends, both divided by
//!    `Σ(incentive + dividends)`; when that sum is 0 (no usable weights), validators get the
//!    active stake share instead, or the plain stake share if there is no active stake
//!    (`normalized_*_emission`). Absolute emissions are the shares times `emission`.
//!
//! # Using it
//!
//! The ledger calls [`epoch_fixed`] with `u128` stakes, `u16` weights and bonds (through
//! [`weights_from_u16`] and [`bonds_from_u16`]) and gets back [`FixedEpochOutput`]: `I32F32`
//! incentive, dividends and normalized emissions, and the new `u16` bonds. Tools and tests call
//! [`run_epoch`] on an [`EpochInput`] shaped like `tests/vectors/yuma.json`.
#![cfg_attr(not(test), warn(unused_crate_dependencies))]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod epoch;
mod error;
mod json;
pub mod math;
mod matrix;

pub use epoch::{
    bonds_from_u16, epoch_fixed, weights_from_u16, FixedEpochOutput, FixedInput, FixedParams,
    LiquidAlphas, Masks, Outdated,
};
pub use error::YumaError;
pub use fixed::types::{I32F32, I96F32};
pub use json::{parse_epoch_input, run_epoch, EpochInput, EpochOutput, OutdatedMask, YumaParams};
pub use matrix::UidMatrix;
