//! Integration tests of deai-ml.

mod bounded;
mod data;
mod fl;
mod fused;
mod fuzz_idx;
mod params;
mod partition;
mod train;

use std::path::PathBuf;

/// The dataset shipped with the repository.
pub fn mnist_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/mnist-10k"))
}

/// The shipped dataset, loaded once per test binary.
pub fn mnist() -> &'static deai_ml::Splits {
    static SPLITS: std::sync::OnceLock<deai_ml::Splits> = std::sync::OnceLock::new();
    SPLITS.get_or_init(|| deai_ml::data::load_dir(&mnist_dir()).unwrap())
}
