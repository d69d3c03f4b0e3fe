//! The error type of training, evaluation and parameter files.

use std::path::PathBuf;

use crate::data::DataError;
use crate::partition::PartitionError;

/// Why a training, evaluation or parameter operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MlError {
    /// A dataset problem.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A partition problem.
    #[error(transparent)]
    Partition(#[from] PartitionError),
    /// A flat parameter vector has the wrong length for its model.
    #[error("parameter vector has {got} values but model {model} needs {expected}")]
    ParamLen {
        /// Model name.
        model: &'static str,
        /// Values expected.
        expected: usize,
        /// Values given.
        got: usize,
    },
    /// Two vectors that must have equal length do not.
    #[error("length mismatch in {what}: {left} vs {right}")]
    LenMismatch {
        /// Which vectors.
        what: &'static str,
        /// First length.
        left: usize,
        /// Second length.
        right: usize,
    },
    /// The images do not have the shape the model expects.
    #[error(
        "model {model} expects {expected} pixels per image ({side}x{side}), the dataset has {got}"
    )]
    InputShape {
        /// Model name.
        model: &'static str,
        /// Pixels expected.
        expected: usize,
        /// Image side expected.
        side: usize,
        /// Pixels per image given.
        got: usize,
    },
    /// A sample index is outside the dataset.
    #[error("sample index {index} is out of range for a dataset of {len} samples")]
    IndexOutOfRange {
        /// The index.
        index: usize,
        /// Dataset size.
        len: usize,
    },
    /// A training or model setting is unusable.
    #[error("invalid setting {name} = {value}: {accepted}")]
    Config {
        /// Setting name.
        name: &'static str,
        /// The value given.
        value: String,
        /// What is accepted.
        accepted: &'static str,
    },
    /// A safetensors file or buffer is unusable.
    #[error("{path}: {reason}")]
    Safetensors {
        /// The file (or "<memory>").
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The aggregation function rejected the round's updates.
    #[error("aggregation failed: {0}")]
    Aggregation(String),
    /// A matrix product was called with buffers too small for its dimensions (a bug).
    #[error(
        "matrix product {what}: buffer of {len} values too small for the strides (needs {needed})"
    )]
    MatmulBounds {
        /// Which operand.
        what: &'static str,
        /// Buffer length.
        len: usize,
        /// Elements needed.
        needed: usize,
    },
    /// candle reported an error.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
}
