//! N validators in one process over commonware's simulated network, for tests and benchmarks.
//!
//! Works with any commonware runtime: the deterministic one (virtual time, seeded message
//! loss and latency, reproducible to the bit) for simulation tests, tokio for wall-clock
//! benchmarks. Validator `i`'s key is `PrivateKey::from_seed(i)`.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use commonware_cryptography::Signer as _;
use commonware_p2p::simulated::{self, Link, Network, Oracle};
use commonware_runtime::{Clock, Handle, Metrics, Network as RNetwork, Quota, Spawner, Storage};
use commonware_utils::{NZUsize, Probability};
use rand_core::CryptoRng;

use super::{
    gossip::GossipConfig, start, Channels, EngineConfig, EngineError, Executor, PrivateKey,
    PublicKey, Timing, CHANNEL_IDS,
};

/// Link quality between every pair of validators.
#[derive(Clone, Copy, Debug)]
pub struct LinkSpec {
    /// Mean one-way latency.
    pub latency: Duration,
    /// Standard deviation of the latency.
    pub jitter: Duration,
    /// Probability that a message is delivered, in [0, 1].
    pub success_rate: f64,
}

impl LinkSpec {
    /// A perfect link with the given latency.
    pub fn reliable(latency: Duration) -> Self {
        Self {
            latency,
            jitter: Duration::ZERO,
            success_rate: 1.0,
        }
    }
}

/// Configuration of an in-process cluster.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// Number of nodes (validators and followers).
    pub validators: usize,
    /// Size of the epoch-0 validator set: the first `participants` nodes (0: all of them).
    /// Later epochs take their set from the executors.
    pub participants: usize,
    /// Heights per consensus epoch (below 2: one epoch for the whole chain).
    pub epoch_length: u64,
    /// Link quality between every pair.
    pub link: LinkSpec,
    /// Domain separator for signatures.
    pub namespace: Vec<u8>,
    /// Largest block payload, in bytes.
    pub max_payload_bytes: usize,
    /// Consensus timeouts.
    pub timing: Timing,
    /// Messages per second each channel may send to each peer.
    pub messages_per_second: u32,
}

/// The simulated network's message limit: a block payload plus room for the envelope.
fn max_message_bytes(config: &ClusterConfig) -> u32 {
    u32::try_from(config.max_payload_bytes + (1 << 16)).unwrap_or(u32::MAX)
}

/// Errors of the in-process cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The simulated network refused an operation.
    #[error("simulated network: {0}")]
    Network(String),
    /// A link probability outside [0, 1].
    #[error("link success rate must be in [0, 1], got {0}")]
    BadRate(f64),
    /// Index out of range.
    #[error("validator index {index} out of range (cluster has {n})")]
    NoSuchValidator {
        /// Requested index.
        index: usize,
        /// Cluster size.
        n: usize,
    },
    /// The engine refused to start.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// A running in-process cluster.
pub struct Cluster<E>
where
    E: Spawner + Clock + Metrics + Storage + RNetwork + CryptoRng,
{
    context: E,
    config: ClusterConfig,
    keys: Vec<PrivateKey>,
    oracle: Oracle<PublicKey, E>,
    tasks: Vec<Option<Handle<()>>>,
}

impl<E> Cluster<E>
where
    E: Spawner + Clock + Metrics + Storage + RNetwork + CryptoRng,
{
    /// Starts the simulated network and links every pair of validators.
    pub async fn new(context: E, config: ClusterConfig) -> Result<Self, ClusterError> {
        let keys: Vec<PrivateKey> = (0..config.validators as u64)
            .map(PrivateKey::from_seed)
            .collect();
        let publics: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
        let (network, oracle) = Network::new_with_peers(
            context.child("network"),
            simulated::Config {
                max_size: max_message_bytes(&config),
                max_peers_per_set: NZUsize!(config.validators.max(1)),
                disconnect_on_block: true,
                tracked_peer_sets: NZUsize!(1),
            },
            publics.clone(),
        )
        .await;
        network.start();
        let success_rate = Probability::from_f64(config.link.success_rate)
            .ok_or(ClusterError::BadRate(config.link.success_rate))?;
        for a in &publics {
            for b in &publics {
                if a == b {
                    continue;
                }
                let link = Link {
                    latency: config.link.latency,
                    jitter: config.link.jitter,
                    success_rate,
                };
                oracle
                    .add_link(a.clone(), b.clone(), link)
                    .await
                    .map_err(|e| ClusterError::Network(e.to_string()))?;
            }
        }
        let tasks = (0..config.validators).map(|_| None).collect();
        Ok(Self {
            context,
            config,
            keys,
            oracle,
            tasks,
        })
    }

    /// The validators' public keys, in index order.
    pub fn public_keys(&self) -> Vec<PublicKey> {
        self.keys.iter().map(|k| k.public_key()).collect()
    }

    /// The epoch-0 validator set: the first `participants` keys.
    pub fn genesis_set(&self) -> Vec<PublicKey> {
        let n = match self.config.participants {
            0 => self.keys.len(),
            n => n.min(self.keys.len()),
        };
        self.public_keys().into_iter().take(n).collect()
    }

    /// The simulated network's oracle (to add Byzantine participants or change links).
    pub fn oracle(&self) -> &Oracle<PublicKey, E> {
        &self.oracle
    }

    /// Validator `index`'s signing key.
    pub fn key(&self, index: usize) -> Result<PrivateKey, ClusterError> {
        self.keys
            .get(index)
            .cloned()
            .ok_or(ClusterError::NoSuchValidator {
                index,
                n: self.keys.len(),
            })
    }

    /// Starts node `i` on `executors[i]`, for every executor given.
    pub async fn start_all<X: Executor>(
        &mut self,
        executors: &[Arc<X>],
    ) -> Result<(), ClusterError> {
        for (i, executor) in executors.iter().enumerate() {
            self.start(i, executor.clone()).await?;
        }
        Ok(())
    }

    /// Starts (or restarts, after [`crash`](Self::crash)) validator `index` with `executor`.
    /// A restarted validator reopens its consensus storage and catches up from peers.
    pub async fn start<X: Executor>(
        &mut self,
        index: usize,
        executor: Arc<X>,
    ) -> Result<(), ClusterError> {
        let key = self.key(index)?;
        let public = key.public_key();
        let control = self.oracle.control(public.clone());
        let rate =
            NonZeroU32::new(self.config.messages_per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_second(rate);
        let mut registered = Vec::new();
        for id in CHANNEL_IDS {
            registered.push(
                control
                    .register(id, quota)
                    .await
                    .map_err(|e| ClusterError::Network(e.to_string()))?,
            );
        }
        let mut registered = registered.into_iter();
        let mut next = || {
            registered
                .next()
                .ok_or(ClusterError::Network("channel".into()))
        };
        let channels = Channels {
            votes: next()?,
            certificates: next()?,
            resolver: next()?,
            broadcast: next()?,
            backfill: next()?,
            transactions: next()?,
            blobs: next()?,
        };
        let config = EngineConfig {
            signer: key,
            validators: self.genesis_set(),
            epoch_length: self.config.epoch_length,
            namespace: self.config.namespace.clone(),
            partition_prefix: format!("validator{index}"),
            max_payload_bytes: self.config.max_payload_bytes,
            timing: self.config.timing,
            blocker: control,
            peer_provider: self.oracle.manager(),
            gossip: GossipConfig::new(max_message_bytes(&self.config) as usize),
        };
        // One supervising task per validator: aborting it aborts everything it started.
        let (ready_tx, ready_rx) = futures::channel::oneshot::channel();
        let handle = self
            .context
            .child("validator")
            .with_attribute("index", index)
            .spawn(move |context| async move {
                let started = start(context, config, executor, channels).await;
                let ok = started.is_ok();
                let _ = ready_tx.send(started.map(|_| ()));
                if ok {
                    futures::future::pending::<()>().await;
                }
            });
        if let Some(slot) = self.tasks.get_mut(index) {
            *slot = Some(handle);
        }
        match ready_rx.await {
            Ok(result) => result.map_err(ClusterError::from),
            Err(_) => Err(ClusterError::Network(
                "validator task ended before start".into(),
            )),
        }
    }

    /// Crashes validator `index`: every task it runs is aborted; its storage stays.
    pub fn crash(&mut self, index: usize) {
        if let Some(Some(handle)) = self.tasks.get_mut(index).map(Option::take) {
            handle.abort();
        }
    }
}
