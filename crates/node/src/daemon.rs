//! Running a node process: the single embedded node and a member of a replicated network.
//!
//! # Single node ([`run_single`])
//!
//! The embedded chain in a data directory (created by `deai init`), the HTTP API on `listen`,
//! and a block producer that wakes every `block_interval` and produces a block when a
//! transaction is ready — or, while idle, when `idle_block_interval` has passed since the last
//! block (`deai_store::EmbeddedChain::produce_if_due`). Blocks are committed synchronously
//! (durable before the next one).
//!
//! # Member ([`run_member`])
//!
//! One validator of a replicated network described by a [`MemberConfig`]: the
//! [`ReplicatedLedger`] in `<chain_dir>/chain`, commonware's journals and archives in
//! `<chain_dir>/consensus`, blobs in `<chain_dir>/blobs`. Consensus runs on commonware's tokio
//! runtime with the authenticated `lookup` p2p network over TCP (every validator's key and
//! address come from the config; the handshake authenticates each peer by its ed25519 key and
//! encrypts the stream); the HTTP API is served on the same tokio runtime. Transactions its
//! clients submit are gossiped to the other members on the sixth channel (`engine::gossip`,
//! quota and batch interval from the `[gossip]` table), so whichever member leads the next view
//! can include them. A restarted member reopens its ledger at its last applied block and its
//! consensus journal, then marshal backfills the blocks finalized while it was away from its
//! peers.
//!
//! # Shutdown
//!
//! Ctrl-C or SIGTERM stops accepting HTTP requests (in-flight ones finish), stops block
//! production or consensus, and makes every block durable before the process exits. A killed
//! process (SIGKILL) loses no committed block either: each block is committed to redb in one
//! transaction together with the head height before it is acknowledged.

use std::{net::SocketAddr, num::NonZeroU32, path::PathBuf, sync::Arc, time::Duration};

use commonware_codec::DecodeExt as _;
use commonware_cryptography::{ed25519, ChaCha20Poly1305};
use commonware_p2p::{authenticated::lookup, Address, AddressableManager as _};
use commonware_runtime::{tokio as cw_tokio, Quota, Runner as _, Spawner as _, Supervisor as _};
use commonware_stream::{
    cups::{self, Cups},
    sake::{self, Sake},
};
use commonware_utils::{ordered::Map, NZUsize, NZU32};
use deai_store::{BlobStore, EmbeddedChain, EmbeddedConfig, Store};
use tracing::{error, info, warn};

use crate::{
    config::{read_genesis, read_key, validator_set, ConfigError, MemberConfig},
    engine::{self, gossip::GossipConfig, Channels, EngineConfig, PrivateKey, PublicKey, Timing},
    http::{router_with, HttpSettings},
    ledger::{BlockLimits, LedgerError, ReplicatedLedger, ValidatorRule},
    service::{collect_blobs_periodically, Embedded},
};

/// Errors running a node.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The configuration is invalid or a file is unreadable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No chain in the data directory.
    #[error(
        "no chain in {dir}: create one with `deai init` (or pass --config for a testnet member)"
    )]
    NoChain {
        /// The data directory.
        dir: PathBuf,
    },
    /// The stored chain was created from another genesis.
    #[error("the chain in {dir} was created from a different genesis than {genesis}")]
    GenesisMismatch {
        /// The chain directory.
        dir: PathBuf,
        /// The genesis file.
        genesis: PathBuf,
    },
    /// The embedded chain failed.
    #[error("embedded chain: {0}")]
    Chain(#[from] deai_store::EmbeddedError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] deai_store::StoreError),
    /// The replicated ledger failed.
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// The blob store failed.
    #[error("blob store: {0}")]
    Blob(#[from] deai_store::BlobError),
    /// A socket could not be bound or served.
    #[error("{what} {addr}: {source}")]
    Bind {
        /// Which listener.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Runtime setup failed.
    #[error("runtime: {0}")]
    Runtime(String),
    /// The consensus engine failed to start.
    #[error(transparent)]
    Engine(#[from] engine::EngineError),
}

/// Options of the single embedded node.
#[derive(Clone, Debug)]
pub struct SingleOptions {
    /// Data directory holding `chain.redb` (created by `deai init`) and `blobs/`.
    pub data_dir: PathBuf,
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// How often the producer checks for transactions.
    pub block_interval: Duration,
    /// While idle, at most one empty block per this interval.
    pub idle_block_interval: Duration,
    /// Most transactions per block.
    pub block_txs: usize,
    /// Sustained requests per second per client IP.
    pub rate_per_second: f64,
    /// Connection, timeout and blob limits of the HTTP API.
    pub http: HttpSettings,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            warn!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(err) => {
                warn!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => info!("Ctrl-C: shutting down"),
        () = term => info!("SIGTERM: shutting down"),
    }
}

fn bind(what: &'static str, addr: SocketAddr) -> Result<std::net::TcpListener, DaemonError> {
    let listener = std::net::TcpListener::bind(addr).map_err(|source| DaemonError::Bind {
        what,
        addr,
        source,
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| DaemonError::Bind { what, addr, source })?;
    Ok(listener)
}

async fn serve(
    listener: std::net::TcpListener,
    app: axum::Router,
    settings: HttpSettings,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), std::io::Error> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    crate::http::serve(listener, app, &settings, stop).await
}

/// Opens the blob store of a data directory with the size limit of `settings`.
fn open_blobs(dir: PathBuf, settings: &HttpSettings) -> Result<Arc<BlobStore>, DaemonError> {
    Ok(Arc::new(
        BlobStore::open(dir)?.with_max_bytes(settings.max_blob_bytes),
    ))
}

/// Runs the single embedded node until Ctrl-C or SIGTERM. `on_ready` gets the bound HTTP
/// address once the API accepts connections.
pub fn run_single(
    options: SingleOptions,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<(), DaemonError> {
    if !Store::exists(&options.data_dir) {
        return Err(DaemonError::NoChain {
            dir: options.data_dir.clone(),
        });
    }
    let chain = EmbeddedChain::open(
        &options.data_dir,
        EmbeddedConfig {
            max_block_txs: options.block_txs.max(1),
            ..EmbeddedConfig::default()
        },
    )?
    .with_idle_block_interval(
        u64::try_from(options.idle_block_interval.as_millis()).unwrap_or(u64::MAX),
    );
    let blobs = open_blobs(options.data_dir.join("blobs"), &options.http)?;
    let backend = Arc::new(Embedded::new(chain));
    let listener = bind("HTTP listener", options.listen)?;
    let local = listener.local_addr().map_err(|source| DaemonError::Bind {
        what: "HTTP listener",
        addr: options.listen,
        source,
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| DaemonError::Runtime(e.to_string()))?;
    let app = router_with(
        backend.clone(),
        blobs.clone(),
        options.rate_per_second,
        &options.http,
    );
    let settings = options.http.clone();
    let producer = backend.clone();
    let gc_backend = backend.clone();
    let interval = options.block_interval.max(Duration::from_millis(1));
    runtime.block_on(async move {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut producer_stop = stop_rx.clone();
        let production = tokio::spawn(async move {
            let mut last_ms = 0u64;
            loop {
                tokio::select! {
                    _ = producer_stop.changed() => break,
                    () = tokio::time::sleep(interval) => {}
                }
                let p = producer.clone();
                // Timestamps strictly increase even if the wall clock steps back.
                let ts = now_ms().max(last_ms + 1);
                match tokio::task::spawn_blocking(move || p.produce(ts)).await {
                    Ok(Ok(Some(block))) => {
                        last_ms = ts;
                        info!(
                            height = block.block.header.height.0,
                            txs = block.block.txs.len(),
                            "produced block"
                        );
                    }
                    Ok(Ok(None)) => {}
                    Ok(Err(err)) => error!(%err, "block production failed"),
                    Err(err) => error!(%err, "block production task failed"),
                }
            }
        });
        let mut gc_stop = stop_rx.clone();
        let gc = tokio::spawn(collect_blobs_periodically(
            gc_backend,
            blobs,
            Duration::from_secs(settings.blob_gc_interval_secs),
            Duration::from_secs(settings.blob_retention_secs),
            async move {
                let _ = gc_stop.changed().await;
            },
        ));
        let mut http_stop = stop_rx;
        let server = tokio::spawn(serve(listener, app, settings, async move {
            let _ = http_stop.changed().await;
        }));
        on_ready(local);
        shutdown_signal().await;
        let _ = stop_tx.send(true);
        if let Ok(Err(err)) = server.await {
            error!(%err, "HTTP server failed");
        }
        let _ = production.await;
        let _ = gc.await;
    });
    backend.flush()?;
    info!("chain flushed; bye");
    Ok(())
}

/// Converts a ledger account id (an ed25519 public key) to commonware's key type.
pub fn consensus_key(account: &deai_types::AccountId) -> Result<PublicKey, ConfigError> {
    ed25519::PublicKey::decode(bytes::Bytes::copy_from_slice(account.as_bytes())).map_err(|e| {
        ConfigError::Invalid(format!("account {account} is not a valid ed25519 key: {e}"))
    })
}

/// A member's resolved identity and peers.
struct Membership {
    signer: PrivateKey,
    validators: Vec<PublicKey>,
    peers: Vec<(PublicKey, SocketAddr)>,
}

fn membership(
    config: &MemberConfig,
    genesis: &deai_chain::GenesisConfig,
) -> Result<Membership, DaemonError> {
    let key = read_key(&config.key_file)?;
    let signer = PrivateKey::decode(bytes::Bytes::copy_from_slice(&key.seed()))
        .map_err(|e| ConfigError::Invalid(format!("key file: {e}")))?;
    let set = validator_set(genesis, config.validators)?;
    if !config.peers.iter().any(|p| p.key == key.account()) {
        return Err(ConfigError::Invalid(format!(
            "this node's key {} has no [[peers]] entry (every member, validator or follower, needs one)",
            key.account()
        ))
        .into());
    }
    let mut validators = Vec::new();
    for account in &set {
        if !config.peers.iter().any(|p| &p.key == account) {
            return Err(ConfigError::Invalid(format!(
                "validator {account} (a top-{} staker) has no [[peers]] entry",
                config.validators
            ))
            .into());
        }
        validators.push(consensus_key(account)?);
    }
    // Every configured member is a peer: a later epoch may make any staker a validator.
    let mut peers = Vec::new();
    for peer in &config.peers {
        peers.push((consensus_key(&peer.key)?, peer.p2p));
    }
    Ok(Membership {
        signer,
        validators,
        peers,
    })
}

/// Opens (or, on the first start, creates from the genesis file) a member's ledger.
pub fn open_member_ledger(config: &MemberConfig) -> Result<ReplicatedLedger, DaemonError> {
    let genesis = read_genesis(&config.genesis)?;
    let dir = config.chain_dir.join("chain");
    let limits = BlockLimits {
        max_txs: config.block_txs.max(1),
        ..BlockLimits::default()
    };
    let rule = ValidatorRule {
        seats: config.validators,
        epoch_length: config.epoch_blocks,
    };
    if Store::exists(&dir) {
        let ledger = ReplicatedLedger::open(&dir, limits)?
            .with_validator_rule(rule)?
            .with_gap_expiry(config.gap_expiry_blocks);
        if ledger.store().genesis()? != genesis {
            return Err(DaemonError::GenesisMismatch {
                dir,
                genesis: config.genesis.clone(),
            });
        }
        Ok(ledger)
    } else {
        std::fs::create_dir_all(&dir).map_err(|source| ConfigError::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(ReplicatedLedger::init(&dir, &genesis, limits)?
            .with_validator_rule(rule)?
            .with_gap_expiry(config.gap_expiry_blocks))
    }
}

/// Runs one member of a replicated network until Ctrl-C or SIGTERM. `on_ready` gets the bound
/// HTTP address once the API accepts connections.
pub fn run_member(
    config: MemberConfig,
    on_ready: impl FnOnce(SocketAddr) + Send + 'static,
) -> Result<(), DaemonError> {
    let genesis = read_genesis(&config.genesis)?;
    let member = membership(&config, &genesis)?;
    let blobs = open_blobs(config.chain_dir.join("blobs"), &config.http)?;
    let ledger = Arc::new(open_member_ledger(&config)?.with_blobs(blobs.clone()));
    let listener = bind("HTTP listener", config.listen)?;
    let local = listener.local_addr().map_err(|source| DaemonError::Bind {
        what: "HTTP listener",
        addr: config.listen,
        source,
    })?;
    // Fail early (with a clear message) if the p2p port is taken.
    drop(bind("p2p listener", config.p2p)?);
    let namespace = format!("deai-{}", genesis.chain_id.as_str()).into_bytes();
    let max_payload = BlockLimits::default().max_bytes;
    let app = router_with(
        ledger.clone(),
        blobs.clone(),
        config.rate_per_second,
        &config.http,
    );
    let settings = config.http.clone();
    let runtime = cw_tokio::Runner::new(
        cw_tokio::Config::new()
            .with_worker_threads(2)
            .with_storage_directory(config.chain_dir.join("consensus"))
            .with_tcp_nodelay(Some(true)),
    );
    info!(
        height = ledger.with_state(|_, head| head.height.0),
        p2p = %config.p2p,
        http = %local,
        "starting member"
    );
    let engine_ledger = ledger.clone();
    let gc_ledger = ledger.clone();
    let result: Result<(), DaemonError> = runtime.start(|context| async move {
        let handshake = Cups::<_, ChaCha20Poly1305>::new(
            Sake {
                signer: member.signer.clone(),
                synchrony_bound: Duration::from_secs(5),
                max_handshake_age: Duration::from_secs(10),
                version: sake::Version::V1,
            },
            cups::Version::V1,
        );
        let mut p2p_namespace = namespace.clone();
        p2p_namespace.extend_from_slice(b"-p2p");
        let max_message = u32::try_from(max_payload + (1 << 16)).unwrap_or(u32::MAX);
        let p2p_config = lookup::Config::local(
            handshake,
            &p2p_namespace,
            config.p2p,
            // Inbound mailboxes are sized for one quota burst per retained peer, so keep both
            // the peer bound and the quota tight (a generous bound costs gigabytes).
            std::num::NonZeroUsize::new(member.peers.len()).unwrap_or(NZUsize!(1)),
            max_message,
            NZUsize!(1024),
        );
        let (mut network, mut oracle) = lookup::Network::new(context.child("p2p"), p2p_config);
        let peers: Map<PublicKey, Address> = match member
            .peers
            .iter()
            .map(|(k, a)| (k.clone(), Address::from(*a)))
            .collect::<Vec<_>>()
            .try_into()
        {
            Ok(map) => map,
            Err(_) => {
                return Err(DaemonError::Config(ConfigError::Invalid(
                    "duplicate validator keys in [[peers]]".into(),
                )))
            }
        };
        let _ = oracle.track(0, peers);
        let quota = Quota::per_second(NZU32!(1_000));
        let gossip_quota = Quota::per_second(
            NonZeroU32::new(config.gossip.messages_per_second).unwrap_or(NonZeroU32::MIN),
        );
        let blob_quota = Quota::per_second(
            NonZeroU32::new(config.blobs.messages_per_second).unwrap_or(NonZeroU32::MIN),
        );
        let mut register = |id: u64, quota| network.register(id, quota);
        let channels = Channels {
            votes: register(engine::CHANNEL_IDS[0], quota),
            certificates: register(engine::CHANNEL_IDS[1], quota),
            resolver: register(engine::CHANNEL_IDS[2], quota),
            broadcast: register(engine::CHANNEL_IDS[3], quota),
            backfill: register(engine::CHANNEL_IDS[4], quota),
            transactions: register(engine::CHANNEL_IDS[5], gossip_quota),
            blobs: register(engine::CHANNEL_IDS[6], blob_quota),
        };
        network.start();
        let engine_config = EngineConfig {
            signer: member.signer,
            validators: member.validators,
            epoch_length: config.epoch_blocks,
            namespace,
            partition_prefix: "deai".into(),
            max_payload_bytes: max_payload,
            timing: Timing::local()
                .with_idle_block_interval(Duration::from_millis(config.idle_block_ms)),
            blocker: oracle.clone(),
            peer_provider: oracle,
            gossip: GossipConfig {
                interval: Duration::from_millis(config.gossip.interval_ms),
                max_message_bytes: max_message as usize,
            },
        };
        engine::start(
            context.child("engine"),
            engine_config,
            engine_ledger,
            channels,
        )
        .await?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (gc_stop_tx, gc_stop_rx) = tokio::sync::oneshot::channel::<()>();
        let gc = context.child("blob_gc").spawn({
            let ledger = gc_ledger;
            let (interval, retention) = (
                Duration::from_secs(settings.blob_gc_interval_secs),
                Duration::from_secs(settings.blob_retention_secs),
            );
            move |_| async move {
                collect_blobs_periodically(ledger, blobs, interval, retention, async move {
                    let _ = gc_stop_rx.await;
                })
                .await;
            }
        });
        let server = context.child("http").spawn(move |_| async move {
            if let Err(err) = serve(listener, app, settings, async move {
                let _ = stop_rx.await;
            })
            .await
            {
                error!(%err, "HTTP server failed");
            }
        });
        on_ready(local);
        shutdown_signal().await;
        let _ = stop_tx.send(());
        let _ = gc_stop_tx.send(());
        let _ = server.await;
        let _ = gc.await;
        // Finalized blocks are already durable (one redb transaction each); stop the engine.
        if let Err(err) = context.stop(0, Some(Duration::from_secs(5))).await {
            warn!(%err, "consensus tasks did not stop in time");
        }
        Ok(())
    });
    result?;
    info!(
        height = ledger.with_state(|_, head| head.height.0),
        "member stopped; bye"
    );
    Ok(())
}
