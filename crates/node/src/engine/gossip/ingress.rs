//! The gossip actor's ingress: the outbox an executor hands its clients' transactions to.

use bytes::Bytes;
use futures::channel::mpsc;

use super::OUTBOX_CAPACITY;

/// Where an executor queues the transactions it admitted from clients, for the gossip actor to
/// batch and send to every peer. Bounded ([`OUTBOX_CAPACITY`]) and never blocking.
#[derive(Debug)]
pub struct Outbox {
    sender: mpsc::Sender<Bytes>,
}

impl Outbox {
    /// A new outbox and the receiving end the actor drains.
    pub(super) fn new() -> (Self, mpsc::Receiver<Bytes>) {
        // A futures channel holds its buffer plus one message per sender; there is one sender.
        let (sender, receiver) = mpsc::channel(OUTBOX_CAPACITY.saturating_sub(1));
        (Self { sender }, receiver)
    }

    /// Queues one encoded transaction for the next batch. `false` when the outbox is full or
    /// the engine stopped: the transaction is then not gossiped (it stays in the local
    /// mempool).
    pub fn forward(&mut self, tx: Bytes) -> bool {
        self.sender.try_send(tx).is_ok()
    }

    /// Whether the engine behind this outbox still runs.
    pub fn is_open(&self) -> bool {
        !self.sender.is_closed()
    }
}
