//! Errors of scenario parsing and simulation.

/// What went wrong while reading a scenario or running it.
#[derive(Debug, thiserror::Error)]
pub enum IncentiveError {
    /// The scenario text is not valid TOML for a scenario (the message names the key).
    #[error("invalid scenario: {message}")]
    Parse {
        /// The parser's message, with the line and the offending key.
        message: String,
    },
    /// A parameter is out of its accepted range.
    #[error("invalid value for `{key}`: {value}; expected {expected}")]
    InvalidParameter {
        /// Dotted path of the key, e.g. `mechanism.percentile`.
        key: String,
        /// The value found.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// A stake file was named but its values were not supplied.
    #[error(
        "validator stake file `{path}` was not loaded; call StudyScenario::resolve_stake_files first"
    )]
    UnresolvedStakeFile {
        /// The path in the scenario.
        path: String,
    },
    /// Vectors or matrices of inconsistent sizes.
    #[error("{what} has the wrong shape; expected {expected}")]
    Shape {
        /// What was malformed.
        what: &'static str,
        /// The shape expected.
        expected: String,
    },
    /// The consensus engine rejected its input.
    #[error("{engine} failed: {message}")]
    Engine {
        /// Which engine.
        engine: &'static str,
        /// Its error message.
        message: String,
    },
    /// A distribution produced by the simulation was rejected by the metrics.
    #[error("metrics: {0}")]
    Metrics(#[from] deai_metrics::MetricsError),
}
