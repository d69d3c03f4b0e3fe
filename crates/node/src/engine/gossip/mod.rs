//! Transaction gossip: a transaction a node admits from a client reaches every other node's
//! mempool, so whichever node leads the next view can propose it.
//!
//! # Protocol
//!
//! One p2p channel (the sixth of [`CHANNEL_IDS`](super::CHANNEL_IDS)) carries one message: a
//! **batch**, the commonware-codec encoding of a list of transactions (`Vec<Bytes>`: a varint
//! count, then each transaction as a varint length and its bytes) — CometBFT's `TxsMessage` on
//! its mempool channel, in commonware's codec. The transactions are opaque here: each is the
//! executor's own encoding (the deai ledger: the canonical encoding of a `SignedTx`).
//!
//! - **Who forwards what.** The executor hands the [`Outbox`] each transaction it admitted from
//!   a client, and never one it received by gossip. Every node is connected to every other, so
//!   one hop ([`Recipients::All`](commonware_p2p::Recipients::All)) reaches all of them, and
//!   forwarding only first-hand transactions means one copy per transaction per peer, no echo.
//! - **Batching.** A batch holds at most [`MAX_BATCH_TXS`] transactions and at most the
//!   network's maximum message size ([`GossipConfig::max_message_bytes`]). The actor sends one
//!   as soon as it is full, and otherwise [`GossipConfig::interval`] after the previous one: a
//!   lone transaction on a quiet node leaves at once, and under load the node sends about one
//!   batch per interval plus its full batches.
//! - **Receiving.** A batch that does not decode (too many transactions, an empty one, a
//!   length past the end) gets its sender blocked with the engine's [`Blocker`](commonware_p2p::Blocker),
//!   as the consensus channels block peers that send invalid messages. The executor
//!   [receives](super::Executor::receive_gossip) the others: it drops transactions it has seen
//!   (by hash, before any signature check), admits the rest through its mempool (whose limits —
//!   pool size with fee eviction, per-sender count, queued fees within the balance — bound what
//!   gossip can make it hold), forwards none of them, and reports a [`GossipFault`] when the
//!   batch holds something no honest node forwards (an undecodable transaction, a bad
//!   signature, another chain); the actor then blocks the sender too.
//!
//! # What a peer can make a node spend
//!
//! Per peer: one batch per slot of the channel's p2p quota (the quota is enforced on inbound
//! traffic per peer, and an honest node's outbound check uses the same quota, so every member
//! must configure the same one), each at most the maximum message size and
//! [`MAX_BATCH_TXS`] decodes, hashes and signature checks. A peer that sends one malformed
//! batch or one forged transaction is blocked.
//!
//! # Best effort
//!
//! A batch that finds every peer rate-limited, or none connected, waits and is retried; a peer
//! that misses a batch (rate-limited or disconnected at that moment) does not get it again; a
//! full outbox drops the forwarding of a transaction, never the transaction. Either way the node
//! that admitted the transaction still holds it and proposes it when it leads a view, as it did
//! before gossip: gossip only makes inclusion faster and independent of where a client sent.

mod actor;
mod ingress;

use std::time::Duration;

pub(crate) use actor::Actor;
pub use ingress::Outbox;

/// Most transactions in one batch; a batch claiming more does not decode.
pub const MAX_BATCH_TXS: usize = 1_024;

/// Most transactions waiting in an [`Outbox`] for the actor (sixteen full batches); beyond it
/// a transaction is not forwarded.
pub const OUTBOX_CAPACITY: usize = 16 * MAX_BATCH_TXS;

/// Default [`GossipConfig::interval`], in milliseconds.
pub const DEFAULT_INTERVAL_MS: u64 = 20;

/// Settings of the transaction gossip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GossipConfig {
    /// Shortest time between two batches that are not full.
    pub interval: Duration,
    /// Largest message the p2p network carries (and so the largest batch, encoded); the same
    /// limit the network was configured with.
    pub max_message_bytes: usize,
}

impl GossipConfig {
    /// A batch at most every [`DEFAULT_INTERVAL_MS`], within `max_message_bytes`.
    pub fn new(max_message_bytes: usize) -> Self {
        Self {
            interval: Duration::from_millis(DEFAULT_INTERVAL_MS),
            max_message_bytes,
        }
    }
}

/// What an executor made of a gossiped batch it found nothing wrong with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GossipReceipt {
    /// Transactions admitted into the mempool.
    pub admitted: usize,
    /// Transactions already seen (in the mempool, in a block, or twice in the batch).
    pub duplicates: usize,
    /// Transactions refused for a reason an honest node can run into (a nonce already used
    /// here, a full pool, a balance this node does not see yet, no mempool at all).
    pub refused: usize,
}

/// A gossiped batch holds something no honest node forwards; the engine blocks its sender.
#[derive(Debug, thiserror::Error)]
#[error("transaction {index} of a gossiped batch is one no honest node forwards: {source}")]
pub struct GossipFault {
    /// Position of the offending transaction in the batch.
    pub index: usize,
    /// What is wrong with it (the executor's error).
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}
