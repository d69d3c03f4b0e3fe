//! Measure how decentralized a ledger is: the holdings distributions of a state, and every layer's decentralization over time by replaying a stored chain.
//!
//! Two questions, two entry points, both measured with `deai-metrics` (Gini, Nakamoto ½ and ⅓,
//! HHI, normalized entropy, Theil-T, top-k shares, `n`; [`deai_metrics::Metric`] lists them):
//!
//! - *How decentralized is the ledger now?* [`state_distributions`] reads one state: balances,
//!   stake per hotkey, governance voting power, and per task the stake of its UIDs and the
//!   newest epoch's incentive, dividends and kept rewards. A node serves it at
//!   `GET /v1/distributions` and as Prometheus gauges ([`prometheus_text`]); `deai chain
//!   metrics` prints it for a data directory.
//! - *How did it get there?* [`replay()`] re-executes a stored chain from genesis with the
//!   function every node runs and measures thirteen [`Layer`]s — stake, voting power, incentive,
//!   dividends, rewards per identity and per entity, model ownership, data and compute
//!   contribution, governance power — at every epoch ([`EpochLayers`]). What the chain does not
//!   record (who controls which account, the training behind an update) comes in as
//!   [`Knowledge`]; the simulator supplies it for its own runs. [`layer_columns`] and
//!   [`layer_rows`] lay the result out as one table (`layers.csv`, `deai chain metrics
//!   --over-time`).
//!
//! Modules: [`distributions`] (one state), [`layer`] (the layers and their definitions),
//! [`knowledge`] (what the caller adds), [`mod@replay`] (the block loop and its errors), `measure`
//! (the holdings each layer reads at an epoch), [`table`] (the rows).
//!
//! Everything here reads a state or a store and returns values; nothing writes. Amounts are
//! measured as integers (exact Nakamoto thresholds), I32F32 epoch-record fields as `f64`.
#![cfg_attr(not(test), warn(unused_crate_dependencies))]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod distributions;
pub mod knowledge;
pub mod layer;
mod measure;
pub mod replay;
pub mod table;

pub use distributions::{prometheus_text, state_distributions, Distribution};
pub use knowledge::{Knowledge, Training};
pub use layer::{EpochLayers, Layer, LayerRow};
pub use replay::{replay, replay_dir, LayersError, Replay};
pub use table::{layer_columns, layer_rows};
