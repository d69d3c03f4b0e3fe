//! The only module that talks to commonware: it turns an [`Executor`] into a replicated chain.
//!
//! # Protocol
//!
//! N validators with equal weight order [`ConsensusBlock`]s with commonware's **simplex**
//! (ed25519 attributable signatures, round-robin leaders) and deliver them with **marshal**
//! (standard variant: whole blocks broadcast through `buffered`, missing blocks and
//! finalizations backfilled from peers through the p2p resolver). Simplex is safe and live with
//! f < N/3 Byzantine validators: no two honest nodes finalize different blocks at one height.
//!
//! Per block:
//!
//! 1. **Propose.** The leader of a view asks marshal for the parent that consensus names and
//!    walks its ancestry back to the newest block whose post-state the executor holds (the last
//!    applied block, or a notarized block it already checked). [`Executor::build`] gets that
//!    chain and the local clock reading and returns a payload, which becomes a child of the
//!    parent.
//! 2. **Verify.** Every validator runs [`Executor::verify`] on the same chain before it votes
//!    to notarize ("inline" verification: a notarization proves f+1 honest validators checked
//!    the block). A block that fails is rejected for good; a block whose ancestry cannot be
//!    connected to the local state is rejected too (it cannot extend the finalized chain).
//! 3. **Finalize.** Marshal hands finalized blocks to the finalizer in height order, at least
//!    once (a restart can repeat some). The finalizer calls [`Executor::finalize`] — which must
//!    apply the block durably and skip any height it has already applied — and only then
//!    acknowledges, so marshal never forgets a block the executor has not made durable.
//!
//! # Epochs and validator-set changes
//!
//! Consensus runs in epochs of `epoch_length` heights (commonware's `FixedEpocher`: epoch `e`
//! spans heights `e·K ..= (e+1)·K − 1`; epoch 0 includes genesis). Within an epoch the validator
//! set is fixed; it changes only at a boundary, following the pattern of commonware's `reshare`
//! example:
//!
//! 1. The last block of epoch `e` (height `(e+1)·K − 1`) is finalized by epoch `e`'s simplex
//!    instance (marshal's `Inline` wrapper re-proposes that boundary block rather than build past
//!    it, so no block of epoch `e` is lost at the switch).
//! 2. The finalizer applies it and tells the orchestrator. The set of epoch `e + 1` is what
//!    [`Executor::validators_after`] returns for the boundary height — computed from the
//!    finalized state at the boundary, so every node derives the same set (the deai ledger:
//!    the top-N self-stakers, equal weight, ties broken by account id) — or the unchanged set
//!    when it returns `None`.
//! 3. The orchestrator aborts epoch `e`'s simplex instance and starts one for `e + 1` with the
//!    boundary block as its floor, on its own sub-channels of the vote / certificate / resolver
//!    channels (commonware's p2p muxer, keyed by epoch) and its own journal partition.
//!
//! Every node runs the current epoch's instance: a validator of the epoch votes with a signing
//! scheme, any other node runs it with a verify-only scheme and follows as an observer. Marshal
//! is one instance for all epochs: it verifies each finalization with the set of the epoch it
//! belongs to ([`epochs::EpochSets`]) and keeps delivering finalized blocks in height order
//! across the switch. A node that is behind and hears votes of a later epoch asks marshal to
//! fetch the finalized boundary block from that peer, then catches up through the new set.
//!
//! # Transactions
//!
//! Blocks carry transactions the leader took from its own mempool, so every node gossips the
//! transactions its clients send to the others ([`gossip`]: batches on their own p2p channel,
//! deduplicated by hash, admitted through the receiving executor's mempool, senders of invalid
//! batches blocked). Whichever node leads the next view holds them, wherever a client sent.
//!
//! # Channels
//!
//! Seven p2p channels ([`Channels`], ids [`CHANNEL_IDS`]): simplex votes, certificates and
//! certificate backfill (each muxed by epoch), marshal's block broadcast and block backfill,
//! transaction gossip, and blob fetching ([`blobs`]: commonware's p2p resolver keyed by blob
//! hash, answers hash- and size-checked). Each has its own per-peer quota, set where the network
//! registers it.
//!
//! Everything is written against commonware's runtime traits, so the same code runs under the
//! deterministic runtime in tests (simulated network, virtual time) and under tokio with the
//! authenticated TCP network in `deai node`.

mod application;
pub mod blobs;
mod block;
pub mod cluster;
pub mod epochs;
mod finalizer;
pub mod gossip;
mod orchestrator;

use std::{sync::Arc, time::Duration};

pub use application::{Application, Executor};
pub use block::{ConsensusBlock, Digest};
use bytes::Bytes;
use commonware_broadcast::buffered;
use commonware_consensus::{
    marshal::{
        self,
        core::Actor as MarshalActor,
        resolver::p2p as marshal_resolver,
        standard::{Inline, Standard},
    },
    simplex,
    types::{Epoch, FixedEpocher, ViewDelta},
};
use commonware_cryptography::{ed25519, Digested, Signer as _};
use commonware_p2p::{Blocker, Provider, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::{buffer::paged::CacheRef, Clock, Handle, Metrics, Spawner, Storage};
use commonware_storage::archive::immutable;
use commonware_utils::{NZUsize, NonZeroDuration, NZU16, NZU64};
use epochs::{EpochProvider, EpochSets};
pub use finalizer::Finalizer;
use orchestrator::Orchestrator;
use rand_core::CryptoRng;

/// The signing scheme of the validators' votes and certificates.
pub type Scheme = simplex::scheme::ed25519::Scheme;
/// A validator's identity.
pub type PublicKey = ed25519::PublicKey;
/// A validator's signing key.
pub type PrivateKey = ed25519::PrivateKey;

/// Errors starting the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The node's key is not in the validator set.
    #[error("this node's key {key} is not one of the {n} validators in the genesis validator set")]
    NotAValidator {
        /// The node's public key.
        key: String,
        /// Size of the validator set.
        n: usize,
    },
    /// The validator set is empty or has duplicates.
    #[error("the validator set must be non-empty with distinct keys (got {n} keys)")]
    BadValidatorSet {
        /// Number of keys given.
        n: usize,
    },
    /// A storage archive could not be opened.
    #[error("cannot open the consensus archive {name}: {reason}")]
    Archive {
        /// Archive name.
        name: &'static str,
        /// Error text.
        reason: String,
    },
}

/// Timeouts of the consensus engine.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// How long to wait for the leader's proposal before voting to skip the view.
    pub leader_timeout: Duration,
    /// How long to wait for a notarization before voting to skip the view.
    pub certification_timeout: Duration,
    /// How often to rebroadcast a skip vote while a view is stuck.
    pub timeout_retry: Duration,
    /// Timeout for fetching certificates and blocks from peers.
    pub fetch_timeout: Duration,
    /// How long a leader with no pending transactions waits for one before it proposes an
    /// empty block (zero: propose at once). Must stay below `leader_timeout`, which
    /// [`Timing::with_idle_block_interval`] ensures.
    pub idle_block_interval: Duration,
}

/// Time a leader that waited the whole idle interval still has for its proposal to reach the
/// other validators before they time it out.
pub const IDLE_LEADER_MARGIN: Duration = Duration::from_secs(1);

impl Timing {
    /// Timeouts for a LAN or localhost: a leader gets 1 s, a view 2 s.
    pub fn local() -> Self {
        Self {
            leader_timeout: Duration::from_secs(1),
            certification_timeout: Duration::from_secs(2),
            timeout_retry: Duration::from_secs(5),
            fetch_timeout: Duration::from_secs(1),
            idle_block_interval: Duration::ZERO,
        }
    }

    /// The same timeouts, with leaders waiting up to `idle` for a transaction before they
    /// propose an empty block: an idle chain makes about one empty block per `idle`. The
    /// leader timeout is raised to at least `idle` + [`IDLE_LEADER_MARGIN`] (and the
    /// certification timeout to at least one margin above that), so a waiting leader is not
    /// voted out; the price is that a crashed leader's view takes that long to skip.
    pub fn with_idle_block_interval(mut self, idle: Duration) -> Self {
        self.idle_block_interval = idle;
        if !idle.is_zero() {
            self.leader_timeout = self.leader_timeout.max(idle + IDLE_LEADER_MARGIN);
            self.certification_timeout = self
                .certification_timeout
                .max(self.leader_timeout + IDLE_LEADER_MARGIN);
        }
        self
    }
}

/// Configuration of one validator.
pub struct EngineConfig<B, P> {
    /// This validator's signing key.
    pub signer: PrivateKey,
    /// The validator set of epoch 0 (order does not matter); later epochs take theirs from
    /// [`Executor::validators_after`].
    pub validators: Vec<PublicKey>,
    /// Heights per consensus epoch (values below 2 mean one epoch for the whole chain).
    pub epoch_length: u64,
    /// Domain separator for signatures (use the chain id).
    pub namespace: Vec<u8>,
    /// Prefix of the storage partitions (one per validator if several share a storage).
    pub partition_prefix: String,
    /// Largest payload accepted in a block, in bytes.
    pub max_payload_bytes: usize,
    /// Consensus timeouts.
    pub timing: Timing,
    /// Blocks peers that send invalid messages.
    pub blocker: B,
    /// The peer sets of the network (used for broadcast and backfill).
    pub peer_provider: P,
    /// Transaction gossip settings.
    pub gossip: gossip::GossipConfig,
}

/// The seven network channels the engine uses, each a (sender, receiver) pair.
pub struct Channels<S, R> {
    /// Simplex votes.
    pub votes: (S, R),
    /// Simplex certificates.
    pub certificates: (S, R),
    /// Simplex certificate backfill.
    pub resolver: (S, R),
    /// Marshal block broadcast.
    pub broadcast: (S, R),
    /// Marshal block and finalization backfill.
    pub backfill: (S, R),
    /// Transaction gossip ([`gossip`]).
    pub transactions: (S, R),
    /// Blob fetching ([`blobs`]).
    pub blobs: (S, R),
}

/// Channel ids on the p2p network, in [`Channels`] order.
pub const CHANNEL_IDS: [u64; 7] = [0, 1, 2, 3, 4, 5, 6];

/// What the orchestrator reacts to.
pub(crate) enum Event {
    /// The last block of this epoch was applied.
    Boundary(Epoch),
    /// A peer sent a vote on the sub-channel of this (possibly later) epoch.
    Ahead(u64, PublicKey),
}

/// The epoch strategy for `epoch_length` heights per epoch (below 2: a single epoch).
pub fn epocher(epoch_length: u64) -> FixedEpocher {
    FixedEpocher::new(
        std::num::NonZeroU64::new(epoch_length.max(2))
            .filter(|_| epoch_length >= 2)
            .unwrap_or(NZU64!(u64::MAX)),
    )
}

/// Handles of a running validator; dropping them does not stop it, aborting the task that
/// called [`start`] does (commonware supervises tasks as a tree).
pub struct Running {
    /// The orchestrator's task (it runs the current epoch's simplex instance).
    pub consensus: Handle<()>,
    /// Marshal's task.
    pub marshal: Handle<()>,
    /// The finalizer's task.
    pub finalizer: Handle<()>,
    /// The transaction gossip's task.
    pub gossip: Handle<()>,
    /// The blob resolver's task (`None` if the executor has no blob store).
    pub blobs: Option<Handle<()>>,
}

/// Builds the signing scheme of `signer` over `validators`.
pub fn scheme_for(
    namespace: &[u8],
    validators: &[PublicKey],
    signer: &PrivateKey,
) -> Result<Scheme, EngineError> {
    let set = commonware_utils::ordered::Set::from_iter_dedup(validators.iter().cloned());
    if set.is_empty() || set.len() != validators.len() {
        return Err(EngineError::BadValidatorSet {
            n: validators.len(),
        });
    }
    Scheme::signer(namespace, set, signer.clone()).ok_or_else(|| EngineError::NotAValidator {
        key: signer.public_key().to_string(),
        n: validators.len(),
    })
}

/// Starts a validator: marshal (with its archives, broadcast buffer and backfill resolver),
/// the finalizer, the simplex engine and the transaction gossip, all as children of `context`.
pub async fn start<E, X, S, R, B, P>(
    context: E,
    config: EngineConfig<B, P>,
    executor: Arc<X>,
    channels: Channels<S, R>,
) -> Result<Running, EngineError>
where
    E: Spawner + Clock + Metrics + Storage + CryptoRng,
    X: Executor,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey>,
    P: Provider<PublicKey = PublicKey>,
{
    let genesis_set =
        commonware_utils::ordered::Set::from_iter_dedup(config.validators.iter().cloned());
    if genesis_set.is_empty() || genesis_set.len() != config.validators.len() {
        return Err(EngineError::BadValidatorSet {
            n: config.validators.len(),
        });
    }
    let me = config.signer.public_key();
    let prefix = config.partition_prefix.clone();
    let mailbox_size = NZUsize!(1024);
    let page_cache = CacheRef::new(NZU16!(4096), NZUsize!(64));
    let epocher = epocher(config.epoch_length);
    let sets = Arc::new(EpochSets::new(
        executor.clone(),
        epocher.clone(),
        config.namespace.clone(),
        config.signer.clone(),
        config.validators.clone(),
    ));
    let genesis = ConsensusBlock::genesis(executor.genesis_payload());
    let genesis_digest = genesis.id();

    let marshal_config = marshal::Config {
        provider: EpochProvider(sets.clone()),
        epocher: epocher.clone(),
        start: marshal::Start::Genesis(Digested::precomputed(genesis, genesis_digest)),
        partition_prefix: format!("{prefix}-marshal"),
        mailbox_size,
        view_retention: ViewDelta::new(64),
        prunable_items_per_section: NZU64!(64),
        page_cache: page_cache.clone(),
        replay_buffer: NZUsize!(1 << 16),
        key_write_buffer: NZUsize!(1 << 14),
        value_write_buffer: NZUsize!(1 << 16),
        block_codec_config: config.max_payload_bytes,
        max_repair: NZUsize!(16),
        max_pending_acks: NZUsize!(4),
        strategy: Sequential,
    };

    // Backfill of blocks and finalizations from peers.
    let (resolver_rx, resolver) = marshal_resolver::init(
        context.child("marshal_resolver"),
        marshal_resolver::Config {
            public_key: me.clone(),
            peer_provider: config.peer_provider.clone(),
            blocker: config.blocker.clone(),
            mailbox_size,
            fetch_timeout: NonZeroDuration::new(config.timing.fetch_timeout)
                .unwrap_or(NonZeroDuration::new_panic(Duration::from_secs(1))),
            fetch_retry_delay: Duration::from_millis(100),
            priority_requests: false,
            priority_responses: false,
        },
        channels.backfill,
    );

    // Whole-block broadcast of proposals.
    let (broadcast_engine, buffer) = buffered::Engine::new(
        context.child("broadcast"),
        buffered::Config {
            public_key: me.clone(),
            mailbox_size,
            deque_size: 16,
            priority: false,
            codec_config: config.max_payload_bytes,
            peer_provider: config.peer_provider.clone(),
            strategy: Sequential,
        },
    );
    broadcast_engine.start(channels.broadcast);

    let finalizations_by_height = open_archive(
        context.child("finalizations_by_height"),
        &format!("{prefix}-finalizations"),
        &page_cache,
        <Scheme as commonware_cryptography::certificate::Verifier>::certificate_codec_config_unbounded(),
        "finalizations",
    )
    .await?;
    let finalized_blocks = open_archive(
        context.child("finalized_blocks"),
        &format!("{prefix}-blocks"),
        &page_cache,
        config.max_payload_bytes,
        "blocks",
    )
    .await?;
    let (actor, marshal_mailbox, _floor) =
        MarshalActor::<_, Standard<ConsensusBlock>, _, _, _, _, _>::init(
            context.child("marshal"),
            finalizations_by_height,
            finalized_blocks,
            marshal_config,
        )
        .await;

    let (events_tx, events_rx) = futures::channel::mpsc::unbounded::<Event>();
    let (finalizer, finalizer_task) =
        Finalizer::new(executor.clone(), epocher.clone(), events_tx.clone());
    let finalizer_handle = context.child("finalizer").spawn(|_| finalizer_task);
    let marshal_handle = actor.start(finalizer, buffer, (resolver_rx, resolver));

    // Transaction gossip: the executor gets the outbox before anything can submit through it.
    let (gossip_actor, outbox) =
        gossip::Actor::new(config.gossip, executor.clone(), config.blocker.clone());
    executor.connect_gossip(outbox);
    let gossip_handle = context
        .child("gossip")
        .spawn(move |context| gossip_actor.run(context, channels.transactions));

    // Blob fetching: the executor gets the fetcher before anything can ask for a blob.
    let blobs_handle = executor.blob_store().map(|store| {
        let limit = blobs::wire_limit(&store, config.gossip.max_message_bytes);
        let (producer, consumer, fetcher) = blobs::parts(store, limit);
        let (engine, mailbox) = commonware_resolver::p2p::Engine::new(
            context.child("blobs"),
            commonware_resolver::p2p::Config {
                peer_provider: config.peer_provider.clone(),
                blocker: config.blocker.clone(),
                consumer,
                producer,
                mailbox_size,
                me: Some(me.clone()),
                fetch_timeout: NonZeroDuration::new(config.timing.fetch_timeout)
                    .unwrap_or(NonZeroDuration::new_panic(Duration::from_secs(1))),
                fetch_retry_delay: Duration::from_millis(100),
                priority_requests: false,
                priority_responses: false,
            },
        );
        executor.connect_blobs(fetcher(mailbox));
        engine.start(channels.blobs)
    });

    let application = Application::new(executor, config.timing.idle_block_interval);
    let inline = Inline::new(
        context.child("application"),
        application,
        marshal_mailbox.clone(),
        epocher.clone(),
    );
    let orchestrator = Orchestrator {
        sets,
        epocher,
        marshal: marshal_mailbox,
        inline,
        blocker: config.blocker,
        timing: config.timing,
        prefix,
        page_cache,
        genesis_digest,
    };
    let consensus = context.child("orchestrator").spawn(move |context| {
        orchestrator.run(
            context,
            channels.votes,
            channels.certificates,
            channels.resolver,
            events_tx,
            events_rx,
        )
    });
    Ok(Running {
        consensus,
        marshal: marshal_handle,
        finalizer: finalizer_handle,
        gossip: gossip_handle,
        blobs: blobs_handle,
    })
}

async fn open_archive<E, K, V>(
    context: E,
    prefix: &str,
    page_cache: &CacheRef,
    codec_config: V::Cfg,
    name: &'static str,
) -> Result<immutable::Archive<E, K, V>, EngineError>
where
    E: Spawner + Clock + Metrics + Storage,
    K: commonware_utils::Array,
    V: commonware_codec::Codec + Send + Sync,
{
    immutable::Archive::init(
        context,
        immutable::Config {
            metadata_partition: format!("{prefix}-metadata"),
            freezer_table_partition: format!("{prefix}-freezer-table"),
            freezer_table_initial_size: 1024,
            freezer_table_resize_frequency: 4,
            freezer_table_resize_chunk_size: 1024,
            freezer_key_partition: format!("{prefix}-freezer-key"),
            freezer_key_page_cache: page_cache.clone(),
            freezer_value_partition: format!("{prefix}-freezer-value"),
            freezer_value_target_size: 1 << 24,
            freezer_value_compression: None,
            ordinal_partition: format!("{prefix}-ordinal"),
            items_per_section: NZU64!(1024),
            codec_config,
            replay_buffer: NZUsize!(1 << 16),
            freezer_key_write_buffer: NZUsize!(1 << 14),
            freezer_value_write_buffer: NZUsize!(1 << 16),
            ordinal_write_buffer: NZUsize!(1 << 14),
        },
    )
    .await
    .map_err(|err| EngineError::Archive {
        name,
        reason: err.to_string(),
    })
}

/// Payload bytes type re-exported for executors.
pub type Payload = Bytes;
