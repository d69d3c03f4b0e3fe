//! Integration tests of deai-ml.

mod data;
mod partition;

use std::path::PathBuf;

/// The dataset shipped with the repository.
pub fn mnist_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/mnist-10k"))
}
