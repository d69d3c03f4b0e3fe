//! The one error type of the crate: every way an epoch input can be rejected.

/// Why an epoch input was rejected. Every variant names what was wrong and what is accepted;
/// the epoch itself never fails once its input is valid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum YumaError {
    /// A per-UID vector whose length is not the number of UIDs.
    #[error("`{name}` has {len} entries but the network has {expected} UIDs: give exactly one entry per UID")]
    LengthMismatch {
        /// Field name as in the JSON input.
        name: &'static str,
        /// Length given.
        len: usize,
        /// Number of UIDs (the length of `stake`).
        expected: usize,
    },
    /// A matrix row whose length differs from the number of UIDs.
    #[error("`{name}` row {row} has {len} entries but the network has {expected} UIDs: the matrix must be n×n")]
    RaggedMatrix {
        /// Field name as in the JSON input.
        name: &'static str,
        /// Row index (UID).
        row: usize,
        /// Length of that row.
        len: usize,
        /// Number of UIDs.
        expected: usize,
    },
    /// A stake that is negative, not finite, or too large.
    #[error("stake[{uid}] = {value} is invalid: a stake must be a finite number in [0, 2^100)")]
    InvalidStake {
        /// UID of the entry.
        uid: usize,
        /// The rejected value.
        value: f64,
    },
    /// A weight or bond entry outside its accepted range.
    #[error("`{name}`[{row}][{col}] = {value} is invalid: accepted values are finite numbers in [{min}, {max}]")]
    InvalidEntry {
        /// Field name as in the JSON input.
        name: &'static str,
        /// Row index (UID).
        row: usize,
        /// Column index (UID).
        col: usize,
        /// The rejected value.
        value: f64,
        /// Smallest accepted value.
        min: f64,
        /// Largest accepted value.
        max: f64,
    },
    /// A scalar parameter outside its accepted range.
    #[error("parameter `{name}` = {value} is out of range: accepted {accepted}")]
    ParamOutOfRange {
        /// Parameter name as in the JSON input.
        name: &'static str,
        /// The rejected value.
        value: f64,
        /// The accepted range, in words.
        accepted: &'static str,
    },
    /// A UID (owner, matrix row) that does not exist.
    #[error("`{name}` refers to UID {uid} but the network has {n} UIDs (0..{n})")]
    UidOutOfRange {
        /// Field name.
        name: &'static str,
        /// The rejected UID.
        uid: usize,
        /// Number of UIDs.
        n: usize,
    },
    /// The same matrix row given twice.
    #[error("`{name}` gives the row of UID {uid} twice: rows must be given once each, in increasing UID order")]
    DuplicateRow {
        /// Field name.
        name: &'static str,
        /// The repeated UID.
        uid: usize,
    },
    /// More UIDs than a `u16` can address.
    #[error("the network has {n} UIDs but at most 65536 are accepted (UIDs are u16)")]
    TooManyUids {
        /// Number of UIDs given.
        n: usize,
    },
    /// The sum of all stakes does not fit the fixed-point core.
    #[error("the total stake overflows u128: scale the stakes down")]
    StakeOverflow,
    /// Input text that is not valid JSON of the accepted shape.
    #[error("invalid epoch input at `{path}`: {message}")]
    Json {
        /// Where in the document (e.g. `inputs.weights[2][1]`).
        path: String,
        /// What serde reported.
        message: String,
    },
}
