//! The gossip actor: batches the outbox, sends each batch to every peer, and hands the batches
//! peers send to the executor (see the [module docs](super)).

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use bytes::Bytes;
use commonware_codec::{EncodeSize as _, RangeCfg};
use commonware_p2p::{
    utils::codec::{wrap, WrappedSender},
    Blocker, Receiver, Recipients, Sender,
};
use commonware_runtime::Clock;
use futures::{
    channel::mpsc,
    future::{self, Either},
    FutureExt as _, StreamExt as _,
};
use tracing::{debug, warn};

use super::{GossipConfig, Outbox, MAX_BATCH_TXS};
use crate::engine::{Executor, PublicKey};

/// Upper bound of the encoded length prefix of a batch (a varint).
const COUNT_PREFIX_BYTES: usize = 10;

/// Shortest wait before a batch that found no peer to send to is tried again.
const MIN_RETRY: Duration = Duration::from_millis(1);

/// Transactions waiting to leave in one message.
#[derive(Debug, Default)]
struct Batch {
    txs: Vec<Bytes>,
    /// Encoded size of the transactions (length prefixes included).
    bytes: usize,
}

impl Batch {
    /// Adds `tx` if the batch stays within [`MAX_BATCH_TXS`] and, encoded, within `max_bytes`;
    /// gives it back otherwise.
    fn try_push(&mut self, tx: Bytes, max_bytes: usize) -> Result<(), Bytes> {
        let bytes = self.bytes + tx.encode_size();
        if self.txs.len() >= MAX_BATCH_TXS || COUNT_PREFIX_BYTES + bytes > max_bytes {
            return Err(tx);
        }
        self.bytes = bytes;
        self.txs.push(tx);
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    fn take(&mut self) -> Vec<Bytes> {
        self.bytes = 0;
        std::mem::take(&mut self.txs)
    }
}

/// What woke the actor.
enum Event<M> {
    /// A message from a peer (or the network closed).
    Network(M),
    /// A transaction from the outbox (`None`: every outbox is gone).
    Local(Option<Bytes>),
    /// The batch is due.
    Due,
}

/// The transaction gossip of one node.
pub(crate) struct Actor<X, B> {
    executor: Arc<X>,
    blocker: B,
    config: GossipConfig,
    outbox: mpsc::Receiver<Bytes>,
    outbox_open: bool,
    batch: Batch,
    /// A transaction that did not fit the batch; it opens the next one.
    overflow: Option<Bytes>,
    /// When the last batch left.
    last_sent: SystemTime,
    /// After a batch found no peer to send to: not before this.
    retry_at: Option<SystemTime>,
}

impl<X, B> Actor<X, B>
where
    X: Executor,
    B: Blocker<PublicKey = PublicKey>,
{
    /// The actor and the outbox to hand the executor.
    pub(crate) fn new(config: GossipConfig, executor: Arc<X>, blocker: B) -> (Self, Outbox) {
        let (outbox, receiver) = Outbox::new();
        let actor = Self {
            executor,
            blocker,
            config,
            outbox: receiver,
            outbox_open: true,
            batch: Batch::default(),
            overflow: None,
            last_sent: SystemTime::UNIX_EPOCH,
            retry_at: None,
        };
        (actor, outbox)
    }

    /// Runs until the network closes the channel.
    pub(crate) async fn run<E, S, R>(mut self, context: E, channel: (S, R))
    where
        E: Clock,
        S: Sender<PublicKey = PublicKey>,
        R: Receiver<PublicKey = PublicKey>,
    {
        let codec = (
            RangeCfg::new(1..=MAX_BATCH_TXS),
            RangeCfg::new(1..=self.config.max_message_bytes),
        );
        let (mut sender, mut receiver) = wrap::<_, _, Vec<Bytes>>(codec, channel.0, channel.1);
        loop {
            let due = self.due(context.current());
            if due.is_some_and(|at| at <= context.current()) {
                self.flush(&mut sender, context.current());
                continue;
            }
            let event = {
                let wake = match due {
                    Some(at) => Either::Left(context.sleep_until(at)),
                    None => Either::Right(future::pending()),
                };
                let accepting = self.outbox_open && self.overflow.is_none();
                let local = if accepting {
                    Either::Left(self.outbox.next())
                } else {
                    Either::Right(future::pending())
                };
                futures::select_biased! {
                    () = wake.fuse() => Event::Due,
                    tx = local.fuse() => Event::Local(tx),
                    message = receiver.recv().fuse() => Event::Network(message),
                }
            };
            match event {
                Event::Due => {}
                Event::Local(Some(tx)) => self.push(tx),
                Event::Local(None) => self.outbox_open = false,
                Event::Network(Err(err)) => {
                    debug!(?err, "transaction gossip channel closed");
                    break;
                }
                Event::Network(Ok((peer, Err(err)))) => {
                    warn!(
                        ?peer,
                        ?err,
                        "undecodable transaction batch; blocking the peer"
                    );
                    let _ = self.blocker.block(peer);
                }
                Event::Network(Ok((peer, Ok(txs)))) => {
                    let n = txs.len();
                    match self.executor.receive_gossip(txs) {
                        Ok(receipt) => debug!(
                            ?peer,
                            txs = n,
                            admitted = receipt.admitted,
                            duplicates = receipt.duplicates,
                            refused = receipt.refused,
                            "received transaction batch"
                        ),
                        Err(fault) => {
                            warn!(?peer, %fault, "invalid transaction batch; blocking the peer");
                            let _ = self.blocker.block(peer);
                        }
                    }
                }
            }
        }
    }

    /// Adds a transaction from the outbox to the batch (or holds it for the next one).
    fn push(&mut self, tx: Bytes) {
        if let Err(tx) = self.batch.try_push(tx, self.config.max_message_bytes) {
            if self.batch.is_empty() {
                debug!(
                    bytes = tx.len(),
                    "transaction larger than a gossip message; not forwarded"
                );
            } else {
                self.overflow = Some(tx);
            }
        }
    }

    /// When the batch should leave: at once when full, else one interval after the last batch;
    /// never before a pending retry. `None` while nothing waits.
    fn due(&self, now: SystemTime) -> Option<SystemTime> {
        if self.batch.is_empty() {
            return None;
        }
        let full = self.overflow.is_some() || self.batch.txs.len() >= MAX_BATCH_TXS;
        let at = if full {
            now
        } else {
            self.last_sent + self.config.interval
        };
        Some(self.retry_at.map_or(at, |retry| retry.max(at)))
    }

    /// Sends the batch to every peer that is not rate-limited, or schedules a retry if there is
    /// none.
    fn flush<S: Sender<PublicKey = PublicKey>>(
        &mut self,
        sender: &mut WrappedSender<S, Vec<Bytes>>,
        now: SystemTime,
    ) {
        let checked = match sender.check(Recipients::All) {
            Ok(checked) if !checked.recipients().is_empty() => checked,
            Ok(_) => {
                self.retry_at = Some(now + self.config.interval.max(MIN_RETRY));
                return;
            }
            Err(not_before) => {
                self.retry_at = Some(not_before.max(now + MIN_RETRY));
                return;
            }
        };
        let peers = checked.recipients().len();
        let txs = self.batch.take();
        let n = txs.len();
        let _ = checked.send(txs, false);
        debug!(txs = n, peers, "sent transaction batch");
        self.last_sent = now;
        self.retry_at = None;
        if let Some(tx) = self.overflow.take() {
            self.push(tx);
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use commonware_codec::{Encode as _, EncodeSize as _};

    use super::{Batch, MAX_BATCH_TXS};

    /// A batch never encodes past its byte limit nor holds more than the protocol allows.
    #[test]
    fn a_batch_stays_within_its_limits() {
        let max = 1_000;
        let mut batch = Batch::default();
        let tx = Bytes::from(vec![7u8; 100]);
        let mut pushed = 0;
        while batch.try_push(tx.clone(), max).is_ok() {
            pushed += 1;
        }
        assert_eq!(
            pushed, 9,
            "9 × (1 + 100) + prefix fits 1 000 bytes, 10 do not"
        );
        let txs = batch.take();
        assert!(txs.encode_size() <= max);
        assert_eq!(txs.encode().len(), txs.encode_size());
        assert!(batch.is_empty());

        let one = Bytes::from_static(&[1]);
        for _ in 0..MAX_BATCH_TXS {
            batch.try_push(one.clone(), usize::MAX).unwrap();
        }
        assert!(batch.try_push(one, usize::MAX).is_err());
    }
}
