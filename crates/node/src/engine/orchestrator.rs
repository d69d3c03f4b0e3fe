//! The orchestrator: one simplex instance per consensus epoch, switched at each boundary (see
//! the [engine](super) docs, *Epochs and validator-set changes*).

use std::{sync::Arc, time::Duration};

use commonware_consensus::{
    marshal::{
        core::Mailbox as MarshalMailbox,
        standard::{Inline, Standard},
    },
    simplex::{self, elector::RoundRobin, Floor, ForwardPolicy, SkipBudget, SkipPolicy},
    types::{Epoch, Epocher as _, FixedEpocher, ViewDelta},
};
use commonware_cryptography::Sha256;
use commonware_p2p::{
    utils::mux::{Builder as _, MuxHandle, Muxer},
    Blocker, Receiver, Sender,
};
use commonware_parallel::Sequential;
use commonware_runtime::{buffer::paged::CacheRef, Clock, Handle, Metrics, Spawner, Storage};
use commonware_utils::{NZUsize, NonZeroDuration};
use futures::StreamExt as _;
use rand_core::CryptoRng;
use tracing::{debug, error, info};

use super::{
    epochs::EpochSets, Application, ConsensusBlock, Digest, Event, Executor, PublicKey, Scheme,
    Timing,
};

pub(super) type InlineOf<E, X> = Inline<E, Scheme, Application<X>, ConsensusBlock, FixedEpocher>;

/// Runs one simplex instance per epoch, switching at each boundary.
pub(super) struct Orchestrator<E, X, B>
where
    E: Spawner + Clock + Metrics + Storage + CryptoRng,
    X: Executor,
{
    pub(super) sets: Arc<EpochSets<X>>,
    pub(super) epocher: FixedEpocher,
    pub(super) marshal: MarshalMailbox<Scheme, Standard<ConsensusBlock>>,
    pub(super) inline: InlineOf<E, X>,
    pub(super) blocker: B,
    pub(super) timing: Timing,
    pub(super) prefix: String,
    pub(super) page_cache: CacheRef,
    pub(super) genesis_digest: Digest,
}

impl<E, X, B> Orchestrator<E, X, B>
where
    E: Spawner + Clock + Metrics + Storage + CryptoRng,
    X: Executor,
    B: Blocker<PublicKey = PublicKey>,
{
    pub(super) async fn run<S, R>(
        mut self,
        context: E,
        votes: (S, R),
        certificates: (S, R),
        resolver: (S, R),
        events_tx: futures::channel::mpsc::UnboundedSender<Event>,
        mut events: futures::channel::mpsc::UnboundedReceiver<Event>,
    ) where
        S: Sender<PublicKey = PublicKey>,
        R: Receiver<PublicKey = PublicKey>,
    {
        let (mux, votes, mut backup) = Muxer::builder(context.child("vote_mux"), votes.0, votes.1)
            .with_backup()
            .build();
        mux.start();
        let (mux, certificates) = Muxer::new(
            context.child("certificate_mux"),
            certificates.0,
            certificates.1,
        );
        mux.start();
        let (mux, resolver) = Muxer::new(context.child("resolver_mux"), resolver.0, resolver.1);
        mux.start();
        let mut muxes = EpochMuxes {
            votes,
            certificates,
            resolver,
        };
        // Votes on a sub-channel no instance listens to: a peer is in a later epoch.
        context.child("epoch_backup").spawn(move |_| async move {
            while let Some((channel, (from, _))) = backup.recv().await {
                if events_tx
                    .unbounded_send(Event::Ahead(channel, from))
                    .is_err()
                {
                    break;
                }
            }
        });

        let mut current = self.sets.current_epoch();
        let mut engine = self.enter(&context, current, &mut muxes).await;
        while let Some(event) = events.next().await {
            match event {
                Event::Boundary(ended) => {
                    let next = ended.next();
                    if next <= current {
                        continue;
                    }
                    if let Some(handle) = engine.take() {
                        handle.abort();
                    }
                    current = next;
                    engine = self.enter(&context, current, &mut muxes).await;
                }
                Event::Ahead(theirs, from) => {
                    if theirs <= current.get() {
                        continue;
                    }
                    if let Some(last) = self.epocher.last(current) {
                        debug!(
                            theirs,
                            ours = current.get(),
                            "peer is in a later epoch; fetching the boundary"
                        );
                        self.marshal
                            .hint_finalized(last, commonware_utils::vec::NonEmptyVec::new(from));
                    }
                }
            }
        }
    }

    /// Starts the simplex instance of `epoch` on its own sub-channels and journal.
    async fn enter<S>(
        &mut self,
        context: &E,
        epoch: Epoch,
        muxes: &mut EpochMuxes<S>,
    ) -> Option<Handle<()>>
    where
        S: Sender<PublicKey = PublicKey>,
    {
        // The floor is the previous epoch's boundary block (genesis for epoch 0).
        let floor = match epoch.previous().and_then(|p| self.epocher.last(p)) {
            None => self.genesis_digest,
            Some(boundary) => loop {
                if let Some(block) = self.marshal.get_block(boundary).await {
                    break block.inner().id();
                }
                context.sleep(Duration::from_millis(50)).await;
            },
        };
        let Some((scheme, signs)) = self.sets.scheme(epoch) else {
            error!(
                epoch = epoch.get(),
                "validator set of the epoch unknown; not starting consensus"
            );
            return None;
        };
        info!(
            epoch = epoch.get(),
            validator = signs,
            "entering consensus epoch"
        );
        let partition = if epoch == Epoch::zero() {
            format!("{}-simplex", self.prefix)
        } else {
            format!("{}-simplex-e{}", self.prefix, epoch.get())
        };
        let engine = simplex::Engine::new(
            context
                .child("simplex")
                .with_attribute("epoch", epoch.get()),
            simplex::Config {
                scheme: (*scheme).clone(),
                elector: RoundRobin::<Sha256>::default(),
                blocker: self.blocker.clone(),
                automaton: self.inline.clone(),
                relay: self.inline.clone(),
                reporter: self.inline.clone(),
                strategy: Sequential,
                partition,
                mailbox_size: NZUsize!(1024),
                epoch,
                floor: Floor::Genesis(floor),
                replay_buffer: NZUsize!(1 << 16),
                write_buffer: NZUsize!(1 << 16),
                page_cache: self.page_cache.clone(),
                leader_timeout: self.timing.leader_timeout,
                certification_timeout: self.timing.certification_timeout,
                timeout_retry: self.timing.timeout_retry,
                view_retention: ViewDelta::new(64),
                skip: SkipPolicy::Enabled {
                    timeout: self.timing.certification_timeout * 3 + self.timing.timeout_retry,
                    budget: SkipBudget::Participants,
                },
                fetch_timeout: NonZeroDuration::new(self.timing.fetch_timeout)
                    .unwrap_or(NonZeroDuration::new_panic(Duration::from_secs(1))),
                fetch_retry_delay: Duration::from_millis(100),
                forward: ForwardPolicy::Disabled,
                track_historical_votes: false,
            },
        );
        let sub = epoch.get();
        let (Ok(votes), Ok(certificates), Ok(resolver)) = (
            muxes.votes.register(sub).await,
            muxes.certificates.register(sub).await,
            muxes.resolver.register(sub).await,
        ) else {
            error!(epoch = sub, "cannot register the epoch's sub-channels");
            return None;
        };
        Some(engine.start(votes, certificates, resolver))
    }
}

/// The multiplexers of the three consensus channels; each epoch's simplex instance registers
/// its own sub-channel (the epoch number) on every one.
struct EpochMuxes<S: Sender> {
    votes: MuxHandle<S>,
    certificates: MuxHandle<S>,
    resolver: MuxHandle<S>,
}
