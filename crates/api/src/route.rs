//! The paths of the API, one list for the node's router and the client. A `{name}` segment is
//! a path parameter (axum's syntax); [`fill`] puts a value in its place.

/// `POST`: submit a signed transaction.
pub const TX: &str = "/v1/tx";
/// `GET`: what became of a transaction.
pub const RECEIPT: &str = "/v1/tx/{hash}";
/// `GET`: an account.
pub const ACCOUNT: &str = "/v1/account/{id}";
/// `GET`: a task.
pub const TASK: &str = "/v1/task/{id}";
/// `GET`: a final block.
pub const BLOCK: &str = "/v1/block/{height}";
/// `GET`: height and state root of the last final block.
pub const STATE_ROOT: &str = "/v1/state-root";
/// `GET`: the node and its last final block.
pub const STATUS: &str = "/v1/status";
/// `GET`: the last final block, once it is above `?after=H` (long poll).
pub const HEAD: &str = "/v1/head";
/// `GET`: server-sent events, one per new final head.
pub const EVENTS: &str = "/v1/events";
/// `GET`: holdings distributions and their decentralization metrics.
pub const DISTRIBUTIONS: &str = "/v1/distributions";
/// `PUT`: upload a blob.
pub const BLOB: &str = "/v1/blob";
/// `PUT`: upload a blob with this hash; `GET`: download it.
pub const BLOB_HASH: &str = "/v1/blob/{hash}";
/// `GET`: Prometheus text.
pub const METRICS: &str = "/metrics";

/// `template` with its one `{…}` segment replaced by `value`, e.g.
/// `fill(BLOCK, 7) == "/v1/block/7"`.
pub fn fill(template: &str, value: impl std::fmt::Display) -> String {
    match (template.find('{'), template.find('}')) {
        (Some(open), Some(close)) if open < close => {
            format!("{}{value}{}", &template[..open], &template[close + 1..])
        }
        _ => template.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_replaces_the_parameter() {
        assert_eq!(fill(BLOCK, 7), "/v1/block/7");
        assert_eq!(fill(RECEIPT, "ab"), "/v1/tx/ab");
        assert_eq!(fill(STATUS, 1), "/v1/status");
    }
}
