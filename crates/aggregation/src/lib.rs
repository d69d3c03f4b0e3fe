//! Aggregate flat model updates with Byzantine-robust rules, and craft the attacks they defend against.
//!
//! # The problem
//!
//! In a federated round, n clients each send a flat update (a row of d numbers); up to f of
//! them may be Byzantine and send anything. An aggregation rule turns the n rows into one
//! vector that a Byzantine minority cannot drag far from what the honest rows agree on.
//!
//! # The rules
//!
//! | rule | definition |
//! |---|---|
//! | `fedavg` | Σ wᵢxᵢ / Σ wᵢ (weights = sample counts, uniform when absent) — not robust, the baseline |
//! | `coordinate_median` | per coordinate; even n: mean of the two middle values |
//! | `trimmed_mean` | per coordinate drop the k smallest and k largest (`k`, or k = ⌊βn⌋ from `beta`) |
//! | `krum` | the row with the lowest sum of squared distances to its `num_neighbors` nearest rows (default n−f−2); needs n > 2f+2 |
//! | `multi_krum` | mean of the `m` (default n−f) rows with the lowest Krum scores |
//! | `geometric_median` | smoothed Weiszfeld (RFA): `weights`, `nu`, `max_iter`, `tol`, `init` |
//! | `centered_clipping` | v ← v + (1/n) Σ (xᵢ−v)·min(1, τ/‖xᵢ−v‖), `L` times from `v0` |
//! | `fltrust` | trust ReLU(cos(xᵢ, g₀)), rows rescaled to ‖g₀‖ (`server_update` = g₀) |
//! | `foolsgold` | weights from the cosine similarity of client `history`, logit with `kappa` |
//! | `norm_clipping_mean` | clip each row to norm ≤ `max_norm`, then FedAvg |
//! | `nnm+<rule>` | nearest-neighbour mixing (each row → mean of its n−f nearest), then `<rule>` |
//!
//! Ties go to the lower row index everywhere (stable sorts). The exact conventions are those
//! of `tests/vectors/README.md`; [`reference`] implements them line by line.
//!
//! # Three paths
//!
//! Every rule ([`Aggregator`]) has an f64 reference path (matches the reference vectors to
//! 1e-9), a production f32 path ([`fast`]: SIMD, rayon, about one pass over memory), and a
//! canonical path for values that go onto the ledger: the reference arithmetic on the f32
//! inputs, fixed order per output value, no CPU-feature dispatch, so the same bits for any
//! thread count and CPU. All rules except `foolsgold` (its logarithm comes from the platform
//! libm) have a canonical path; see [`CANONICAL_RULES`].
//!
//! Preconditions are [`AggregationError`] values, never panics: empty input, rows of different
//! length, NaN/Inf in a row (the row is named), too few rows for a rule (checked without
//! overflow for any `f` or `k`), bad parameters (every path checks them, also for a rule built
//! as a struct rather than by [`from_spec`]; iteration counts are at most [`MAX_ITERATIONS`]),
//! and finite inputs whose result overflows to NaN/Inf ([`AggregationError::NonFiniteOutput`]).
//!
//! Build rules from a name and JSON parameters with [`from_spec`]. The crate does no I/O, reads
//! no clock, and draws randomness only from seeds passed in ([`attacks`]).
#![cfg_attr(not(test), warn(unused_crate_dependencies))]
#![deny(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod attacks;
pub mod error;
pub mod fast;
mod params;
pub mod reference;
pub mod rows;
pub mod rules;
pub mod synthetic;

pub use error::{AggregationError, Result};
pub use reference::GmInit;
pub use rows::{as_rows, Elem};
pub use rules::{
    from_spec, nnm_from_params, Aggregator, CenteredClipping, CoordinateMedian, FedAvg, FlTrust,
    FoolsGold, FoolsGoldOutput, GeometricMedian, Krum, MultiKrum, Nnm, NormClippingMean, Trim,
    TrimmedMean, WithNnm, CANONICAL_RULES, MAX_ITERATIONS, RULE_NAMES,
};
