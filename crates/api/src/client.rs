//! [`Client`]: a blocking client of a node's HTTP API over plain `http://`.
//!
//! Every method is one request (or, for the `wait_*` methods, a loop of long polls) and returns
//! the typed answer of [`crate`] or a [`ClientError`]: the node could not be reached, answered
//! with its JSON [`ErrorBody`] (`{message} (HTTP {status})`, kept whole in
//! [`ClientError::Node`]), or answered something that is not the expected JSON (the cause is
//! the error's source: anyhow prints it with `{:#}`). Waiting uses
//! the long poll `GET /v1/head?after=H`, so a client sleeps in the node until a block is final
//! instead of polling. Plain HTTP only: this client has no TLS stack.

use std::time::{Duration, Instant};

use deai_chain::Task;
use deai_types::{AccountId, Block, ChainId, Hash32, Height, Keypair, SignedTx, TaskId};
use serde::de::DeserializeOwned;

use crate::{
    amount::Decimal, blob::sign_upload, route, AccountAnswer, DistributionsAnswer, ErrorBody,
    HeadAnswer, ReceiptAnswer, StateRootAnswer, StatusAnswer, SubmitAnswer, UploadAnswer,
};

/// Largest answer read from a node, in bytes (a block of many transactions, a blob).
pub const MAX_ANSWER_BYTES: u64 = 256 << 20;

/// Longest single long poll the client asks for; the node caps it at its own `max_wait_ms`.
const LONG_POLL: Duration = Duration::from_secs(25);

/// Why a request to a node failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The address is not `http://HOST:PORT` (or `HOST:PORT`).
    #[error("node address {url:?}: {reason}")]
    Url {
        /// The address given.
        url: String,
        /// What is wrong with it and what is accepted.
        reason: &'static str,
    },
    /// No HTTP answer: connection refused, timed out, reset.
    #[error("cannot reach the node at {base} (is `deai node` running and listening there?)")]
    Unreachable {
        /// The node's base URL.
        base: String,
        /// What failed.
        #[source]
        source: ureq::Error,
    },
    /// The answer's body could not be read.
    #[error("reading the answer of the node at {base} to {path}")]
    Read {
        /// The node's base URL.
        base: String,
        /// The request path.
        path: String,
        /// What failed.
        #[source]
        source: ureq::Error,
    },
    /// The node answered with an error status.
    #[error("{} (HTTP {status})", body.message)]
    Node {
        /// The HTTP status.
        status: u16,
        /// The node's error body (or the answer's text, if it was not one).
        body: ErrorBody,
    },
    /// A success answer that is not the expected JSON.
    #[error("the node's answer to {path} is not the expected JSON")]
    Malformed {
        /// The request path.
        path: String,
        /// What did not parse.
        #[source]
        source: serde_json::Error,
    },
    /// The node accepted a transaction under another hash than the one sent.
    #[error("the node accepted the transaction as {answered}, but its hash is {sent}")]
    HashMismatch {
        /// The hash of the transaction sent.
        sent: Hash32,
        /// The hash the node answered.
        answered: Hash32,
    },
    /// A `wait_*` method gave up.
    #[error("{what} not reached after {} s (the node's head is at height {head})", waited.as_secs())]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long the client waited.
        waited: Duration,
        /// The last head the node reported.
        head: Height,
    },
}

impl ClientError {
    /// Whether the node answered `404` (no such account, block, task, transaction or blob).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::Node { status: 404, .. })
    }
}

/// A blocking client of one node (see the module docs).
#[derive(Clone, Debug)]
pub struct Client {
    /// `http://host:port`, without a trailing slash.
    base: String,
    agent: ureq::Agent,
}

impl Client {
    /// A client of the node at `http://HOST:PORT[/]` (or `HOST:PORT`).
    pub fn new(url: &str) -> Result<Client, ClientError> {
        let bad = |reason| ClientError::Url {
            url: url.to_owned(),
            reason,
        };
        let trimmed = url.trim();
        let host = if let Some(rest) = trimmed.strip_prefix("http://") {
            rest
        } else if trimmed.starts_with("https://") {
            return Err(bad("https is not supported (this build has no TLS client); a deai node serves plain http://HOST:PORT"));
        } else if trimmed.contains("://") {
            return Err(bad("unsupported scheme; expected http://HOST:PORT"));
        } else {
            trimmed
        };
        let host = host.trim_end_matches('/');
        if host.is_empty() {
            return Err(bad("missing host; expected http://HOST:PORT"));
        }
        let base = format!("http://{host}");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Ok(Client { base, agent })
    }

    /// The node's base URL, `http://host:port`.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn finish(
        &self,
        path: &str,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Vec<u8>, ClientError> {
        let mut response = result.map_err(|source| ClientError::Unreachable {
            base: self.base.clone(),
            source,
        })?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec()
            .map_err(|source| ClientError::Read {
                base: self.base.clone(),
                path: path.to_owned(),
                source,
            })?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let body = serde_json::from_slice::<ErrorBody>(&body).unwrap_or_else(|_| {
            let text = String::from_utf8_lossy(&body);
            let text = text.trim();
            ErrorBody {
                error: "http_error".into(),
                message: if text.is_empty() {
                    format!("the node answered {path} with an empty body")
                } else {
                    text.chars().take(300).collect()
                },
            }
        });
        Err(ClientError::Node { status, body })
    }

    fn get_raw(&self, path: &str) -> Result<Vec<u8>, ClientError> {
        let url = format!("{}{path}", self.base);
        self.finish(path, self.agent.get(&url).call())
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        parse(path, &self.get_raw(path)?)
    }

    /// `GET /v1/status`.
    pub fn status(&self) -> Result<StatusAnswer, ClientError> {
        self.get(route::STATUS)
    }

    /// `GET /v1/state-root`.
    pub fn state_root(&self) -> Result<StateRootAnswer, ClientError> {
        self.get(route::STATE_ROOT)
    }

    /// `GET /v1/head`: the last final block, now.
    pub fn head(&self) -> Result<HeadAnswer, ClientError> {
        self.get(route::HEAD)
    }

    /// `GET /v1/head?after=H&wait_ms=W`: the last final block once it is above `after`, or
    /// after at most `wait` (capped by the node) whatever it is.
    pub fn next_head(&self, after: Height, wait: Duration) -> Result<HeadAnswer, ClientError> {
        let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        self.get(&format!("{}?after={after}&wait_ms={wait_ms}", route::HEAD))
    }

    /// Waits (long polls) until the last final height is at least `height`; at most `timeout`.
    pub fn wait_for_height(
        &self,
        height: Height,
        timeout: Duration,
    ) -> Result<HeadAnswer, ClientError> {
        let start = Instant::now();
        let mut head = self.head()?;
        while head.height < height {
            let left = timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Err(ClientError::Timeout {
                    what: format!("height {height}"),
                    waited: start.elapsed(),
                    head: head.height,
                });
            }
            let after = Height(height.0.saturating_sub(1));
            head = self.next_head(after, left.min(LONG_POLL))?;
        }
        Ok(head)
    }

    /// `GET /v1/account/{id}`; an account the node does not know is [`ClientError::Node`] 404.
    pub fn account(&self, id: &AccountId) -> Result<AccountAnswer, ClientError> {
        self.get(&route::fill(route::ACCOUNT, id))
    }

    /// `GET /v1/task/{id}`.
    pub fn task(&self, id: TaskId) -> Result<Task, ClientError> {
        self.get::<Decimal<Task>>(&route::fill(route::TASK, id.0))
            .map(Decimal::into_inner)
    }

    /// `GET /v1/block/{height}`.
    pub fn block(&self, height: Height) -> Result<Block, ClientError> {
        self.get::<Decimal<Block>>(&route::fill(route::BLOCK, height))
            .map(Decimal::into_inner)
    }

    /// `GET /v1/distributions`, with the analytics crate's row type `R`.
    pub fn distributions<R: DeserializeOwned>(
        &self,
    ) -> Result<DistributionsAnswer<R>, ClientError> {
        self.get(route::DISTRIBUTIONS)
    }

    /// `POST /v1/tx` (borsh): the node admitted `tx` to its mempool; returns its hash.
    pub fn submit_tx(&self, tx: &SignedTx) -> Result<Hash32, ClientError> {
        let url = format!("{}{}", self.base, route::TX);
        let body = deai_types::encode(tx);
        let answer = self.finish(
            route::TX,
            self.agent
                .post(&url)
                .header("content-type", "application/octet-stream")
                .send(&body[..]),
        )?;
        let answered = parse::<SubmitAnswer>(route::TX, &answer)?.hash;
        let sent = tx.hash();
        if answered != sent {
            return Err(ClientError::HashMismatch { sent, answered });
        }
        Ok(sent)
    }

    /// `GET /v1/tx/{hash}`: what became of a transaction (404: unknown to the node).
    pub fn receipt(&self, hash: &Hash32) -> Result<ReceiptAnswer, ClientError> {
        self.get(&route::fill(route::RECEIPT, hash))
    }

    /// Waits until the transaction is in a final block (long polling the head between two
    /// looks at its receipt), at most `timeout`; then returns its last receipt, still
    /// [`crate::TxStatus::Pending`] if the time ran out.
    pub fn wait_for_receipt(
        &self,
        hash: &Hash32,
        timeout: Duration,
    ) -> Result<ReceiptAnswer, ClientError> {
        let start = Instant::now();
        loop {
            let head = self.head()?.height;
            let receipt = self.receipt(hash)?;
            let left = timeout.saturating_sub(start.elapsed());
            if receipt.status.is_final() || left.is_zero() {
                return Ok(receipt);
            }
            self.next_head(head, left.min(LONG_POLL))?;
        }
    }

    /// `PUT /v1/blob`, signed by `key` for `chain` (see [`crate::blob`]).
    pub fn put_blob(
        &self,
        key: &Keypair,
        chain: &ChainId,
        bytes: &[u8],
    ) -> Result<UploadAnswer, ClientError> {
        let url = format!("{}{}", self.base, route::BLOB);
        let mut request = self
            .agent
            .put(&url)
            .header("content-type", "application/octet-stream");
        for (name, value) in sign_upload(key, chain, bytes) {
            request = request.header(name, value);
        }
        let answer = self.finish(route::BLOB, request.send(bytes))?;
        parse(route::BLOB, &answer)
    }

    /// `GET /v1/blob/{hash}`: the bytes.
    pub fn get_blob(&self, hash: &Hash32) -> Result<Vec<u8>, ClientError> {
        self.get_raw(&route::fill(route::BLOB_HASH, hash))
    }
}

fn parse<T: DeserializeOwned>(path: &str, body: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(|source| ClientError::Malformed {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked() {
        assert_eq!(
            Client::new("127.0.0.1:8080/").unwrap().base(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(Client::new(" http://h:1 ").unwrap().base(), "http://h:1");
        for (url, says) in [
            ("https://h:1", "https is not supported"),
            ("ftp://h:1", "unsupported scheme"),
            ("http://", "missing host"),
        ] {
            let err = Client::new(url).unwrap_err().to_string();
            assert!(err.contains(says), "{url}: {err}");
        }
    }

    #[test]
    fn an_unreachable_node_is_named() {
        let client = Client::new("http://127.0.0.1:1").unwrap();
        let err = client.status().unwrap_err();
        assert!(matches!(err, ClientError::Unreachable { .. }), "{err}");
        assert!(err.to_string().contains("cannot reach the node"), "{err}");
    }
}
