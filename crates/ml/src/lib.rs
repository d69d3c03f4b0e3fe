//! Train and evaluate MNIST-format models with candle, with a fused CPU path for the MLP used by federated rounds.
//!
//! - [`data`]: IDX loading and the in-memory [`Dataset`].
//! - [`partition`]: seeded IID / Dirichlet / shards / quantity partitions over clients.
//! - [`params`]: the flat parameter order, seeded init, safetensors files, updates.
//! - [`seed`]: independent random streams derived from one run seed.

pub mod data;
pub mod error;
pub mod params;
pub mod partition;
pub mod seed;

pub use data::{Dataset, Splits};
pub use error::MlError;
pub use params::{ModelKind, Update};
pub use partition::{Partition, PartitionSpec, PartitionSummary};
