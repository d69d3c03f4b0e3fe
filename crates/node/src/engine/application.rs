//! The consensus application: hands proposals and verification to the [`Executor`].

use std::{
    sync::Arc,
    time::{Duration, UNIX_EPOCH},
};

use bytes::Bytes;
use commonware_consensus::{
    marshal::ancestry::Ancestry, simplex::types::Context, Application as ConsensusApplication,
};
use commonware_cryptography::{Digested, Digestible as _};
use commonware_runtime::Clock;
use futures::StreamExt as _;

use deai_store::BlobStore;

use super::{
    blobs::BlobFetcher,
    gossip::{GossipFault, GossipReceipt, Outbox},
    ConsensusBlock, Digest, PublicKey, Scheme,
};

/// What the engine needs from the state machine. Payloads are opaque to the engine.
///
/// Implementations keep the post-state of the last applied block and of blocks they have
/// checked but that are not final yet (keyed by digest), and must be deterministic: every
/// honest node must reach the same verdict on the same chain.
pub trait Executor: Send + Sync + 'static {
    /// Payload of the genesis block (height 0); identical on every node.
    fn genesis_payload(&self) -> Bytes;

    /// Whether the post-state of block `digest` is available (applied or checked).
    fn knows(&self, digest: &Digest) -> bool;

    /// Height of the last applied (finalized and durable) block.
    fn last_applied_height(&self) -> u64;

    /// Whether work is waiting to be proposed on top of the last block of `chain` (same shape
    /// as in [`build`](Self::build)): a transaction that can execute next there. A leader with
    /// nothing pending waits up to
    /// [`Timing::idle_block_interval`](super::Timing::idle_block_interval) before proposing an
    /// empty block, and proposes as soon as this turns true. Called every few milliseconds
    /// while a leader waits, so it must be cheap. The default says "always".
    fn has_pending(&self, chain: &[ConsensusBlock]) -> bool {
        let _ = chain;
        true
    }

    /// Builds a payload for a child of the last block of `chain`. `chain` runs oldest first and
    /// its first block is one the executor [knows](Self::knows); the others are notarized
    /// ancestors it has not executed yet. `None` skips this proposal.
    fn build(&self, chain: &[ConsensusBlock], timestamp_ms: u64) -> Option<Bytes>;

    /// Checks `block`, a child of the last block of `chain` (same shape as in
    /// [`build`](Self::build)). `false` is final: the block is invalid on this chain.
    fn verify(&self, chain: &[ConsensusBlock], block: &ConsensusBlock) -> bool;

    /// The validator set of the consensus epoch that begins after the boundary block at
    /// `boundary_height`, derived from the finalized state after that block; `None` keeps the
    /// previous epoch's set (the default: a fixed set). Called only for heights the executor
    /// has applied — including, after a restart, boundaries below the applied height — so an
    /// implementation that changes sets must remember the set of every boundary it applied.
    fn validators_after(&self, boundary_height: u64) -> Option<Vec<PublicKey>> {
        let _ = boundary_height;
        None
    }

    /// Takes the outbox of transaction gossip (see [`gossip`](super::gossip)): from now on the
    /// executor hands it every transaction it admits from a client, encoded as
    /// [`receive_gossip`](Self::receive_gossip) decodes it, and never one it received by gossip.
    /// Called each time the engine starts on this executor (a new outbox replaces the old). The
    /// default drops it: nothing is gossiped.
    fn connect_gossip(&self, outbox: Outbox) {
        let _ = outbox;
    }

    /// Admits transactions a peer gossiped, each as another executor encoded it: drops those
    /// already seen (by hash, before checking anything expensive), admits the others into the
    /// mempool as it admits a client's, and forwards none. An error says the batch holds a
    /// transaction no honest executor forwards (undecodable, badly signed, for another chain);
    /// the engine blocks the peer. The default refuses them all (no mempool).
    fn receive_gossip(&self, txs: Vec<Bytes>) -> Result<GossipReceipt, GossipFault> {
        Ok(GossipReceipt {
            refused: txs.len(),
            ..GossipReceipt::default()
        })
    }

    /// The node's blob store, served to peers and filled from them (see
    /// [`blobs`](super::blobs)); `None` (the default) runs no blob channel.
    fn blob_store(&self) -> Option<Arc<BlobStore>> {
        None
    }

    /// Takes the fetcher of blobs this node lacks (called each time the engine starts, if
    /// [`blob_store`](Self::blob_store) is `Some`). The default drops it.
    fn connect_blobs(&self, fetcher: BlobFetcher) {
        let _ = fetcher;
    }

    /// Why [`finalize`](Self::finalize) could not apply a block; logged with its source chain.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Applies a finalized block durably. Blocks arrive in height order, at least once: a
    /// height already applied must be skipped (return `Ok(false)`). An error stops
    /// finalization on this node (the block is not acknowledged).
    fn finalize(&self, block: &ConsensusBlock) -> Result<bool, Self::Error>;
}

/// Adapts an [`Executor`] to commonware's marshal `Application`.
pub struct Application<X> {
    executor: Arc<X>,
    idle: Duration,
}

impl<X> Clone for Application<X> {
    fn clone(&self) -> Self {
        Self {
            executor: self.executor.clone(),
            idle: self.idle,
        }
    }
}

impl<X: Executor> Application<X> {
    /// Wraps an executor; a leader with nothing pending waits up to `idle` before proposing.
    pub fn new(executor: Arc<X>, idle: Duration) -> Self {
        Self { executor, idle }
    }
}

/// How often a waiting leader checks for work.
const POLL: Duration = Duration::from_millis(5);

/// Waits until `pending` says work is waiting or `idle` has passed, whichever comes first,
/// checking every [`POLL`]; returns whether work arrived. Zero `idle` returns at once.
async fn wait_for_work<E: Clock>(
    runtime: &E,
    idle: Duration,
    mut pending: impl FnMut() -> bool,
) -> bool {
    let until = runtime.current() + idle;
    loop {
        if pending() {
            return true;
        }
        let now = runtime.current();
        if now >= until {
            return false;
        }
        runtime
            .sleep(POLL.min(until.duration_since(now).unwrap_or(POLL)))
            .await;
    }
}

/// Collects ancestors from `ancestry` (newest first) until one the executor knows, and returns
/// them oldest first. `None` if the chain falls below the last applied height without meeting a
/// known block (it does not extend the local finalized chain) or the stream ends.
async fn connect<X: Executor>(
    executor: &X,
    mut ancestry: impl Ancestry<ConsensusBlock>,
) -> Option<Vec<ConsensusBlock>> {
    let floor = executor.last_applied_height();
    let mut chain = Vec::new();
    while let Some(block) = ancestry.next().await {
        let known = executor.knows(&block.digest());
        let height = block.inner().height_u64();
        chain.push(block.inner().clone());
        if known {
            chain.reverse();
            return Some(chain);
        }
        if height <= floor {
            return None;
        }
    }
    None
}

impl<E, X> ConsensusApplication<E> for Application<X>
where
    E: Clock,
    X: Executor,
{
    type SigningScheme = Scheme;
    type Context = Context<Digest, PublicKey>;
    type Block = ConsensusBlock;
    type Input = ();

    async fn propose(
        &mut self,
        (runtime, _context): (E, Self::Context),
        ancestry: impl Ancestry<Self::Block>,
        _input: (),
    ) -> Option<Digested<Self::Block>> {
        let chain = connect(&*self.executor, ancestry).await?;
        let parent = chain.last()?.clone();
        // Pace empty blocks: wait for a transaction, at most `idle` (the engine keeps the leader
        // timeout above it). Followers do not check this; it only saves empty blocks.
        wait_for_work(&runtime, self.idle, || self.executor.has_pending(&chain)).await;
        let timestamp_ms = runtime
            .current()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        let payload = self.executor.build(&chain, timestamp_ms)?;
        let block = ConsensusBlock::new(parent.id(), parent.height_u64() + 1, payload);
        let digest = block.id();
        Some(Digested::precomputed(block, digest))
    }

    async fn verify(
        &mut self,
        _context: (E, Self::Context),
        mut ancestry: impl Ancestry<Self::Block>,
    ) -> bool {
        let Some(block) = ancestry.next().await else {
            return false;
        };
        let block = block.inner().clone();
        let Some(chain) = connect(&*self.executor, ancestry).await else {
            return false;
        };
        match chain.last() {
            Some(parent)
                if parent.id() == block.parent_digest()
                    && parent.height_u64() + 1 == block.height_u64() =>
            {
                self.executor.verify(&chain, &block)
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{cell::Cell, time::Duration};

    use commonware_runtime::{deterministic, Clock as _, Runner as _};

    use super::wait_for_work;

    /// An idle leader waits the whole interval; work arriving ends the wait within one poll.
    #[test]
    fn a_leader_waits_for_work_at_most_the_idle_interval() {
        deterministic::Runner::default().start(|context| async move {
            let idle = Duration::from_secs(2);
            let start = context.current();
            assert!(!wait_for_work(&context, idle, || false).await);
            assert_eq!(context.current().duration_since(start).unwrap(), idle);

            let start = context.current();
            let polls = Cell::new(0u32);
            let arrived = wait_for_work(&context, idle, || {
                polls.set(polls.get() + 1);
                polls.get() > 20
            })
            .await;
            assert!(arrived);
            let waited = context.current().duration_since(start).unwrap();
            assert!(waited >= Duration::from_millis(100) && waited <= Duration::from_millis(110));

            let start = context.current();
            assert!(wait_for_work(&context, idle, || true).await);
            assert!(!wait_for_work(&context, Duration::ZERO, || false).await);
            assert_eq!(context.current(), start);
        });
    }
}
