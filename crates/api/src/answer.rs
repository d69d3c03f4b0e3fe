//! The requests and answers of the node's reading endpoints, its transaction submission and its
//! error body.

use deai_types::{AccountId, Amount, Block, ChainId, Hash32, Header, Height, Nonce};
use serde::{Deserialize, Serialize};

use crate::amount::{self, Decimal};

/// How a node keeps its ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeMode {
    /// One process producing blocks on its own chain.
    Embedded,
    /// A member of a network ordering blocks by consensus.
    Replicated,
}

impl std::fmt::Display for NodeMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NodeMode::Embedded => "embedded",
            NodeMode::Replicated => "replicated",
        })
    }
}

/// `GET /v1/status`: the node and its last final block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusAnswer {
    /// Embedded or replicated.
    pub mode: NodeMode,
    /// The chain the node serves (transactions must name it).
    pub chain_id: ChainId,
    /// Height of the last final block.
    pub height: Height,
    /// Hash of its header.
    pub head_hash: Hash32,
    /// The state root after it.
    pub state_root: Hash32,
    /// Its timestamp, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Transactions waiting in the node's mempool.
    pub mempool: u64,
    /// Every token in existence: balances, stake, unbonding and escrows.
    #[serde(with = "amount")]
    pub total_supply: Amount,
}

/// `GET /v1/state-root`: height and state root of the last final block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateRootAnswer {
    /// Height of the last final block.
    pub height: Height,
    /// The state root after it.
    pub state_root: Hash32,
}

/// `GET /v1/head` and every event of `GET /v1/events`: the last final block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadAnswer {
    /// Its height.
    pub height: Height,
    /// Hash of its header.
    pub hash: Hash32,
    /// The state root after it.
    pub state_root: Hash32,
    /// Its timestamp, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

impl HeadAnswer {
    /// The head named by a block header.
    pub fn of(header: &Header) -> Self {
        Self {
            height: header.height,
            hash: header.hash(),
            state_root: header.state_root,
            timestamp_ms: header.timestamp_ms,
        }
    }
}

/// The query of `GET /v1/head`: wait until the head is above `after`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadQuery {
    /// Answer once the last final height is above this one (without it: at once).
    pub after: Option<Height>,
    /// Wait at most this long, in milliseconds (capped by the node's `max_wait_ms`; without it,
    /// that cap).
    pub wait_ms: Option<u64>,
}

/// `GET /v1/account/{id}`: an account of the last final state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountAnswer {
    /// The account.
    pub id: AccountId,
    /// Its free balance.
    #[serde(with = "amount")]
    pub balance: Amount,
    /// The nonce its next transaction must carry.
    pub nonce: Nonce,
    /// Stake it has bonded, on itself and on others.
    #[serde(with = "amount")]
    pub staked: Amount,
    /// Whether the account exists (the node answers 404 for one that does not).
    pub exists: bool,
}

/// `GET /v1/task/{id}`: a task and its escrow, every amount a decimal string.
pub type TaskAnswer = Decimal<deai_chain::Task>;

/// `GET /v1/block/{height}`: a final block, every amount a decimal string.
pub type BlockAnswer = Decimal<Block>;

/// `202` to `POST /v1/tx`: the transaction is in the node's mempool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitAnswer {
    /// The transaction's hash (`SignedTx::hash`): ask `GET /v1/tx/{hash}` for its receipt.
    pub hash: Hash32,
}

/// `GET /v1/distributions`: the holdings distributions of the last final state and their
/// decentralization metrics. The row type `R` is the analytics crate's (a name and its
/// metrics); it is a parameter so this crate does not depend on that one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DistributionsAnswer<R> {
    /// Height of the state measured.
    pub height: Height,
    /// Its root.
    pub state_root: Hash32,
    /// One row per distribution, in the analytics crate's order.
    pub distributions: Vec<R>,
}

/// The body of every error answer, whatever the endpoint and status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable machine-readable code (`bad_request`, `unauthorized`, `not_found`,
    /// `quota_exceeded`, `rate_limited`, `unavailable`, …).
    pub error: String,
    /// What was wrong and what is accepted.
    pub message: String,
}
