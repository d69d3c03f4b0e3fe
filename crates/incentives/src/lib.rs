//! Simulate incentive mechanisms over stake-weighted consensus and measure how concentrated stake, voting power and rewards become.
//!
//! # The question
//!
//! In a stake-weighted DeAI network (Bittensor's Yuma, FLock's AI Arena) validators vote with
//! stake and are paid in proportion to it; when rewards are restaked, whoever starts rich can
//! stay rich or get richer, and a handful of entities can end up holding a majority of voting
//! power and rewards. This crate runs a seeded, ML-free population — validators with
//! heavy-tailed (Pareto) stake, miners of random quality, validators that observe quality with
//! noise and set `u16` weights — for many epochs under one mechanism, restakes every reward,
//! and measures with `deai-metrics` after every epoch: stake, validator voting power, miner and
//! validator rewards (per epoch and cumulative) and rewards per controlling entity (Sybil
//! miners grouped by their owner). Comparing mechanisms on the same population and noise shows
//! which ones keep the network decentralized, and what they cost the best miners.
//!
//! # Mechanisms ([`RewardMechanism`]) and the problem each addresses
//!
//! - **`yuma`** — the baseline: voting power = stake, miners get Yuma incentive (half the
//!   emission), validators get Yuma dividends (bonds × incentive, so ∝ stake × agreement).
//!   Problem it has: dividends scale with stake, so the stake distribution reproduces itself in
//!   the rewards and compounds with restaking.
//! - **`performance_split`** — the validators' half of the emission is split by performance
//!   (validator trust: how much of a validator's weight lies within consensus) instead of by
//!   stake (`λ` mixes the two). Addresses rewards that follow capital rather than work. Cost:
//!   a validator's pay no longer needs stake, so without a minimum stake or identity cost it
//!   invites Sybil validators.
//! - **`stake_cap`** — each validator votes and earns with at most the `p`-th percentile of
//!   validator stake. Addresses whales dominating consensus and dividends. Cost: a whale can
//!   split its stake across several validators (not simulated here), so a cap needs identity
//!   or per-entity accounting to bind.
//! - **`composite_score`** — voting power = `(1−λ)·stake share + λ·agreement share`, where
//!   agreement is last epoch's validator trust. Addresses power that ignores how well a
//!   validator evaluates. Cost: agreement with consensus rewards herding as much as accuracy.
//! - **`trust_bonus`** — voting stake × `(1 + β·min(streak, T)/T)`, where the streak counts
//!   consecutive epochs with validator trust ≥ τ. Addresses newly bought stake taking over at
//!   once: influence is earned by long, consistent agreement. Cost: incumbents are entrenched.
//! - **`flock_arena`** — FLock AI Arena: the task reward `R₀` is split between validators,
//!   `R₀·(γ + (1−2γ)·Σs/(Σt+Σs))`, and trainers (miners), the rest (`t`: trainer stakes,
//!   `s`: validator stakes); trainers are ranked by the stake-weighted consensus score and paid
//!   `∝ ρ^rank · stake`; validators are paid `∝ exp(−d/τ) · stake` where `d` is the distance
//!   of their scores from consensus; delegated stake counts with a factor `ε`. Addresses
//!   rewards that ignore evaluation quality and delegated stake that buys influence without
//!   work; the `γ` floor keeps either side from starving.
//!
//! The consensus step is an [`EpochEngine`]: [`ChainYuma`] runs the chain's fixed-point Yuma
//! (`deai-yuma`), [`FloatYuma`] is classic Yuma in `f64`, checked against the classic cases of
//! the reference vectors and against `ChainYuma`.
//!
//! This crate does no I/O: scenario text comes in as a string and results go out as values;
//! the `deai concentration` command reads files and writes the reports.
#![cfg_attr(not(test), warn(unused_crate_dependencies))]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod engine;
mod error;
pub mod mechanism;
pub mod population;
pub mod scenario;
pub mod sim;
pub mod summary;

pub use engine::{ChainYuma, EngineInput, EngineOutput, EpochEngine, FloatYuma, StudyYumaParams};
pub use error::IncentiveError;
pub use mechanism::RewardMechanism;
pub use scenario::StudyScenario;
pub use sim::{run, RunResult, StudyEpoch};
pub use summary::{compare, StudySummary};
