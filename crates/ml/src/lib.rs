//! Train and evaluate MNIST-format models with candle, with a fused CPU path for the MLP used by federated rounds.
//!
//! - [`data`]: IDX loading and the in-memory [`Dataset`].
//! - [`partition`]: seeded IID / Dirichlet / shards / quantity partitions over clients.
//! - [`params`]: the flat parameter order, seeded init, safetensors files, updates.
//! - [`blob`]: the blob format of models and updates (little-endian `f32`) and its hash.
//! - [`seed`]: independent random streams derived from one run seed.
//! - [`model`]: the candle MLP and CNN, SGD with momentum and weight decay.
//! - [`train`]: local training ([`train_local`]) and evaluation ([`evaluate`]).
//! - [`fused`]: the allocation-free CPU path for the MLP.
//! - [`fl`]: federated rounds with a pluggable aggregator ([`fedavg`] by default).
//! - [`bench`]: the machine's f32 matmul peak, for benchmark ratios.
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod bench;
pub mod blob;
pub mod data;
pub mod error;
pub mod fl;
pub mod fused;
pub mod kernel;
pub mod matmul;
pub mod model;
pub mod params;
pub mod partition;
pub mod seed;
pub mod train;

pub use blob::BlobFormatError;
pub use data::{Dataset, Splits};
pub use error::MlError;
pub use fl::{
    fedavg, run_round, train_clients, AggregateFn, ClientUpdate, FlRoundRecord, RoundOutcome,
};
pub use params::{InitScheme, ModelKind, Update};
pub use partition::{Partition, PartitionSpec, PartitionSummary};
pub use train::{evaluate, train_local, Engine, Eval, LocalCfg, LocalTrained};

/// Number of threads of the current rayon pool (the one [`with_threads`] installed, or the
/// global one).
pub fn threads() -> usize {
    rayon::current_num_threads()
}

/// Runs `f` on a rayon pool of `threads` threads (`None`: the global pool, one per core).
pub fn with_threads<R: Send>(
    threads: Option<usize>,
    f: impl FnOnce() -> R + Send,
) -> Result<R, MlError> {
    match threads {
        None => Ok(f()),
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| MlError::Config {
                    name: "threads",
                    value: format!("{n} ({e})"),
                    accepted: "a positive number of threads the OS can start",
                })?;
            Ok(pool.install(f))
        }
    }
}
