//! The one error type of the aggregation rules: every precondition a caller can violate.

/// Why a rule could not be built or could not aggregate a set of updates.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AggregationError {
    /// No rows were given.
    #[error("no updates to aggregate: at least one row is required")]
    Empty,
    /// The rows have length zero.
    #[error("updates have length 0: every row needs at least one coordinate")]
    ZeroLength,
    /// Two rows differ in length.
    #[error("row {row} has length {len}, but row 0 has length {expected}: all rows must have the same length")]
    RaggedRows {
        /// Index of the first row whose length differs from row 0.
        row: usize,
        /// Its length.
        len: usize,
        /// The length of row 0.
        expected: usize,
    },
    /// An update holds NaN or ±Inf.
    #[error("row {row} holds a non-finite value ({value}) at coordinate {coord}: updates must be finite")]
    NonFinite {
        /// Index of the offending row.
        row: usize,
        /// First offending coordinate in that row.
        coord: usize,
        /// The value, printed.
        value: String,
    },
    /// The rule cannot run with this many rows.
    #[error("{rule}: {n} rows is too few: it needs {requirement}")]
    TooFewRows {
        /// The rule's name.
        rule: &'static str,
        /// Number of rows given.
        n: usize,
        /// The violated condition, e.g. `n - 2k >= 1 (k = 3)`.
        requirement: String,
    },
    /// The rule name is not known.
    #[error("unknown aggregation rule `{name}`; known rules: {known} (and nnm+<rule>)")]
    UnknownRule {
        /// The name given.
        name: String,
        /// The accepted names.
        known: String,
    },
    /// A parameter name is not accepted by the rule.
    #[error("{rule}: unknown parameter `{param}`; accepted parameters: {accepted}")]
    UnknownParam {
        /// The rule's name.
        rule: &'static str,
        /// The parameter name given.
        param: String,
        /// The accepted names.
        accepted: String,
    },
    /// A required parameter is missing.
    #[error("{rule}: missing required parameter `{param}`")]
    MissingParam {
        /// The rule's name.
        rule: &'static str,
        /// The parameter name.
        param: &'static str,
    },
    /// A parameter has a value the rule does not accept.
    #[error("{rule}: parameter `{param}` = {value} is invalid: expected {expected}")]
    InvalidParam {
        /// The rule's name.
        rule: &'static str,
        /// The parameter name.
        param: &'static str,
        /// The value given, printed.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// The rule has no bit-reproducible canonical mode.
    #[error("{rule} has no canonical (bit-reproducible) mode; rules with one: {supported}")]
    CanonicalUnsupported {
        /// The rule's name.
        rule: String,
        /// Rules that have one.
        supported: &'static str,
    },
    /// The inputs are finite but the result is not: their combination overflows f64.
    #[error("{rule}: the result is not finite at coordinate {coord} ({value}): the updates are finite but too large for their combination to fit in f64")]
    NonFiniteOutput {
        /// The rule's name.
        rule: String,
        /// First coordinate of the result that is NaN or ±Inf.
        coord: usize,
        /// The value, printed.
        value: String,
    },
    /// The values are finite but too large for the f32 result.
    #[error("{rule}: the result overflows f32 (inputs finite but too large); use the f64 path")]
    Overflow {
        /// The rule's name.
        rule: &'static str,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = AggregationError> = std::result::Result<T, E>;
