//! Node configuration files, key files, localhost testnets and the validator set.
//!
//! # Validator set
//!
//! The validators are the **top-N stakers on the ledger**, with equal weight: accounts
//! ordered by their own bonded stake (descending, ties by account id), the first
//! `validators` of them. A validator's consensus key *is* its ledger account key (both ed25519;
//! the account id is the public key), so a staker proves control of its account by signing
//! votes. The set of consensus epoch 0 comes from the genesis; the set changes only at epoch
//! boundaries: every `epoch_blocks` heights it is re-read from the finalized state at the
//! boundary block (`ledger::top_stakers`) and a new simplex epoch starts with it (see
//! `engine`). Members that are not validators in an epoch follow it as observers, so every
//! staker that may become a validator needs a `[[peers]]` entry. Stake changes Yuma weights and
//! rewards in the ledger at once, and who votes on blocks from the next epoch on.
//!
//! # Member config (`node-N.toml`)
//!
//! ```toml
//! chain_dir = "node-0"                 # data dir of this member (paths relative to the file)
//! key_file = "keys/validator-0.key"   # 64 hex characters: the ed25519 seed
//! genesis = "genesis.json"            # deai_chain::GenesisConfig as JSON
//! listen = "127.0.0.1:8700"           # HTTP API
//! p2p = "127.0.0.1:9700"              # commonware authenticated p2p (TCP)
//! validators = 4                      # top-N stakers are the validators
//! epoch_blocks = 1000                 # heights per consensus epoch (set changes between)
//! idle_block_ms = 2000                # while idle, at most one empty block per this many ms
//! gap_expiry_blocks = 64              # mempool drops a tx stuck behind a nonce gap after this
//! [[peers]]                           # every validator's key and p2p address (self included)
//! key = "…64 hex…"
//! p2p = "127.0.0.1:9700"
//! [http]                              # optional; every field has this default (SECURITY.md)
//! max_connections = 1024              # open connections; beyond: 503 and close
//! header_timeout_ms = 10000           # complete headers within (also the keep-alive idle limit)
//! body_timeout_ms = 30000             # longest pause between body chunks (408)
//! idle_timeout_ms = 60000             # a connection moving no bytes is closed
//! max_uri_bytes = 8192                # path and query (414)
//! max_blob_bytes = 268435456          # one blob (413)
//! blob_quota_bytes = 1073741824       # blob bytes one account owns
//! blob_capacity_bytes = 68719476736   # blob bytes on the node (507)
//! blob_retention_secs = 86400         # an unreferenced blob lives this long after its upload
//! blob_gc_interval_secs = 600         # time between garbage collections
//! max_subscribers = 256               # waiting clients: /v1/head long polls + /v1/events (503)
//! max_wait_ms = 30000                 # longest /v1/head?after= long poll
//! [gossip]                            # optional; transaction gossip (engine::gossip)
//! interval_ms = 20                    # shortest time between two batches that are not full
//! messages_per_second = 100           # batches a peer may send this member (same on every member)
//! [blobs]                             # optional; blob fetching between members (engine::blobs)
//! messages_per_second = 100           # blob requests/answers a peer may send this member
//! ```

use std::{
    fs,
    io::Write as _,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use deai_chain::GenesisConfig;
use deai_types::{AccountId, Amount, ChainId, Keypair, Params};
use serde::{Deserialize, Serialize};

/// Errors of configuration files and testnet generation.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file's contents are not what was expected.
    #[error("{path} is malformed: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// The configuration is inconsistent.
    #[error("invalid node configuration: {0}")]
    Invalid(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ConfigError + '_ {
    move |source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A validator's entry in a member config: its key and p2p address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    /// Account id (ed25519 public key), 64 hex characters.
    pub key: AccountId,
    /// Address of its p2p listener.
    pub p2p: SocketAddr,
}

/// One member of a replicated network, as written in `node-N.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberConfig {
    /// This member's data directory (chain database, consensus journal, blobs).
    pub chain_dir: PathBuf,
    /// This member's key file (64 hex characters).
    pub key_file: PathBuf,
    /// The genesis file (JSON `GenesisConfig`), identical for every member.
    pub genesis: PathBuf,
    /// HTTP API listen address.
    pub listen: SocketAddr,
    /// p2p listen address.
    pub p2p: SocketAddr,
    /// Number of validators: the top-N stakers of the genesis.
    pub validators: usize,
    /// Heights per consensus epoch: the validator set is re-read from the ledger every
    /// `epoch_blocks` blocks (below 2: never, the genesis set for the whole chain).
    #[serde(default = "default_epoch_blocks")]
    pub epoch_blocks: u64,
    /// Most transactions per block.
    #[serde(default = "default_block_txs")]
    pub block_txs: usize,
    /// Sustained HTTP requests per second per client IP (bursts of twice that).
    #[serde(default = "default_rate")]
    pub rate_per_second: f64,
    /// Milliseconds a leader with no ready transaction waits for one before it proposes an
    /// empty block: while idle the network makes about one empty block per this interval
    /// (default 2 000). The leader timeout is raised to at least this plus 1 s, so a crashed
    /// leader's view takes that long to skip (see `engine::Timing::with_idle_block_interval`).
    #[serde(default = "default_idle_ms")]
    pub idle_block_ms: u64,
    /// Blocks after which this node's mempool drops a transaction still waiting behind a nonce
    /// gap (default `deai_store::DEFAULT_GAP_EXPIRY_BLOCKS` = 64).
    #[serde(default = "default_gap_expiry_blocks")]
    pub gap_expiry_blocks: u64,
    /// Connection, timeout, blob size, quota and retention limits of the HTTP API (the `[http]`
    /// table; every field has a default, see `crate::http::HttpSettings`).
    #[serde(default)]
    pub http: crate::http::HttpSettings,
    /// Transaction gossip between members (the `[gossip]` table; every field has a default).
    #[serde(default)]
    pub gossip: GossipSettings,
    /// Blob fetching between members (the `[blobs]` table; every field has a default).
    #[serde(default)]
    pub blobs: BlobSettings,
    /// Every validator's key and p2p address (this member included).
    pub peers: Vec<Peer>,
}

/// Transaction gossip between members, as written in the `[gossip]` table of `node-N.toml`
/// (see `engine::gossip`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GossipSettings {
    /// Shortest time between two transaction batches this member sends that are not full, in
    /// milliseconds (a lone transaction on a quiet member leaves at once).
    pub interval_ms: u64,
    /// Transaction batches per second each peer may send this member, and this member each
    /// peer: the p2p quota of the gossip channel. Give every member the same value: a peer that
    /// sends faster than a member accepts is slowed on its whole connection.
    pub messages_per_second: u32,
}

impl Default for GossipSettings {
    fn default() -> Self {
        Self {
            interval_ms: crate::engine::gossip::DEFAULT_INTERVAL_MS,
            messages_per_second: 100,
        }
    }
}

/// Blob fetching between members, as written in the `[blobs]` table of `node-N.toml` (see
/// `engine::blobs`). The size limit of a blob that travels is the `[http] max_blob_bytes` of
/// the member that receives it, the same limit as an upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlobSettings {
    /// Blob requests and answers per second each peer may send this member: the p2p quota of
    /// the blob channel. Give every member the same value.
    pub messages_per_second: u32,
}

impl Default for BlobSettings {
    fn default() -> Self {
        Self {
            messages_per_second: 100,
        }
    }
}

fn default_epoch_blocks() -> u64 {
    1_000
}
fn default_block_txs() -> usize {
    4_096
}
fn default_rate() -> f64 {
    1_000.0
}
fn default_idle_ms() -> u64 {
    2_000
}
fn default_gap_expiry_blocks() -> u64 {
    deai_store::DEFAULT_GAP_EXPIRY_BLOCKS
}

impl MemberConfig {
    /// Reads a member config; relative paths in it are resolved against the file's directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = fs::read_to_string(path).map_err(io(path))?;
        let mut config: MemberConfig =
            toml::from_str(&text).map_err(|e| ConfigError::Malformed {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [
            &mut config.chain_dir,
            &mut config.key_file,
            &mut config.genesis,
        ] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        if config.validators == 0 || config.peers.len() < config.validators {
            return Err(ConfigError::Invalid(format!(
                "validators = {} needs 1..={} (one [[peers]] entry per validator)",
                config.validators,
                config.peers.len()
            )));
        }
        Ok(config)
    }
}

/// Reads an ed25519 seed written as 64 hex characters (the `deai keys` format).
pub fn read_key(path: &Path) -> Result<Keypair, ConfigError> {
    let text = fs::read_to_string(path).map_err(io(path))?;
    let t = text.trim();
    let malformed = || ConfigError::Malformed {
        path: path.to_path_buf(),
        reason: "expected 64 hex characters (a 32-byte ed25519 seed)".into(),
    };
    if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(malformed());
    }
    let mut seed = [0u8; 32];
    for (i, byte) in seed.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&t[2 * i..2 * i + 2], 16).map_err(|_| malformed())?;
    }
    Ok(Keypair::from_seed(seed))
}

/// Writes a key file (mode 0600 on Unix); fails if it exists.
pub fn write_key(path: &Path, key: &Keypair) -> Result<(), ConfigError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(path).map_err(io(path))?;
    let hex: String = key.seed().iter().map(|b| format!("{b:02x}")).collect();
    writeln!(file, "{hex}").map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

/// Reads a genesis file (JSON).
pub fn read_genesis(path: &Path) -> Result<GenesisConfig, ConfigError> {
    let text = fs::read_to_string(path).map_err(io(path))?;
    serde_json::from_str(&text).map_err(|e| ConfigError::Malformed {
        path: path.to_path_buf(),
        reason: format!("not a JSON genesis: {e}"),
    })
}

/// The validator set: the top-`n` self-stakers of the genesis, ordered by stake (descending),
/// then account id. Errors if fewer than `n` accounts stake.
pub fn validator_set(genesis: &GenesisConfig, n: usize) -> Result<Vec<AccountId>, ConfigError> {
    let mut stakers: Vec<(AccountId, Amount)> = genesis
        .stakes
        .iter()
        .filter(|(_, a)| !a.is_zero())
        .copied()
        .collect();
    stakers.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    if stakers.len() < n {
        return Err(ConfigError::Invalid(format!(
            "the genesis has {} stakers but {n} validators are configured",
            stakers.len()
        )));
    }
    Ok(stakers.into_iter().take(n).map(|(a, _)| a).collect())
}

/// What `deai testnet` generates.
#[derive(Clone, Debug)]
pub struct TestnetSpec {
    /// Output directory.
    pub dir: PathBuf,
    /// Number of validators (= members).
    pub nodes: usize,
    /// Funded development accounts (alice, bob, …) besides the validators.
    pub accounts: usize,
    /// First HTTP port; member `i` listens on `http_port + i`.
    pub http_port: u16,
    /// First p2p port; member `i` listens on `p2p_port + i`.
    pub p2p_port: u16,
    /// Chain id.
    pub chain_id: ChainId,
    /// Genesis timestamp (ms since the Unix epoch).
    pub genesis_time_ms: u64,
}

/// Names of the development accounts: alice, bob, … then devN.
pub fn dev_name(i: usize) -> String {
    const NAMES: [&str; 8] = [
        "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
    ];
    NAMES
        .get(i)
        .map_or_else(|| format!("dev{i}"), |n| (*n).to_string())
}

/// What was written.
#[derive(Clone, Debug, Serialize)]
pub struct TestnetReport {
    /// The member config files, in order.
    pub configs: Vec<PathBuf>,
    /// HTTP URLs of the members, in order.
    pub urls: Vec<String>,
    /// The genesis file.
    pub genesis: PathBuf,
    /// Development account names and ids (keys under `<dir>/keys`).
    pub accounts: Vec<(String, AccountId)>,
}

/// Writes keys (`keys/validator-N.key`, `keys/NAME.key`), `genesis.json` and `node-N.toml`
/// for a localhost network. Fails if `dir` already holds a genesis.
pub fn write_testnet(spec: &TestnetSpec) -> Result<TestnetReport, ConfigError> {
    if spec.nodes == 0 {
        return Err(ConfigError::Invalid(
            "a testnet needs at least 1 node".into(),
        ));
    }
    let too_high = |base: u16| usize::from(base) + spec.nodes > usize::from(u16::MAX);
    if too_high(spec.http_port) || too_high(spec.p2p_port) {
        return Err(ConfigError::Invalid("ports out of range".into()));
    }
    let genesis_path = spec.dir.join("genesis.json");
    if genesis_path.exists() {
        return Err(ConfigError::Invalid(format!(
            "{} exists; choose an empty --dir",
            genesis_path.display()
        )));
    }
    fs::create_dir_all(&spec.dir).map_err(io(&spec.dir))?;
    let keys_dir = spec.dir.join("keys");
    let mut rng = rand::rngs::OsRng;
    let validators: Vec<Keypair> = (0..spec.nodes)
        .map(|_| Keypair::generate(&mut rng))
        .collect();
    for (i, k) in validators.iter().enumerate() {
        write_key(&keys_dir.join(format!("validator-{i}.key")), k)?;
    }
    let mut accounts = Vec::new();
    for i in 0..spec.accounts {
        let key = Keypair::generate(&mut rng);
        let name = dev_name(i);
        write_key(&keys_dir.join(format!("{name}.key")), &key)?;
        accounts.push((name, key.account()));
    }
    let balance = Amount(1_000_000_000_000);
    let stake = Amount(1_000_000_000);
    let genesis = GenesisConfig {
        chain_id: spec.chain_id.clone(),
        genesis_time_ms: spec.genesis_time_ms,
        accounts: validators
            .iter()
            .map(|k| (k.account(), balance))
            .chain(accounts.iter().map(|(_, a)| (*a, balance)))
            .collect(),
        stakes: validators.iter().map(|k| (k.account(), stake)).collect(),
        params: Params::default(),
    };
    let json = serde_json::to_string_pretty(&genesis)
        .map_err(|e| ConfigError::Invalid(format!("cannot encode the genesis: {e}")))?;
    fs::write(&genesis_path, json).map_err(io(&genesis_path))?;
    let localhost = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    let peers: Vec<Peer> = validators
        .iter()
        .enumerate()
        .map(|(i, k)| Peer {
            key: k.account(),
            p2p: localhost(spec.p2p_port + i as u16),
        })
        .collect();
    let mut configs = Vec::new();
    let mut urls = Vec::new();
    for i in 0..spec.nodes {
        let config = MemberConfig {
            chain_dir: PathBuf::from(format!("node-{i}")),
            key_file: PathBuf::from(format!("keys/validator-{i}.key")),
            genesis: PathBuf::from("genesis.json"),
            listen: localhost(spec.http_port + i as u16),
            p2p: localhost(spec.p2p_port + i as u16),
            validators: spec.nodes,
            epoch_blocks: default_epoch_blocks(),
            block_txs: default_block_txs(),
            rate_per_second: default_rate(),
            idle_block_ms: default_idle_ms(),
            gap_expiry_blocks: default_gap_expiry_blocks(),
            http: crate::http::HttpSettings::default(),
            gossip: GossipSettings::default(),
            blobs: BlobSettings::default(),
            peers: peers.clone(),
        };
        let text = toml::to_string_pretty(&config)
            .map_err(|e| ConfigError::Invalid(format!("cannot encode a node config: {e}")))?;
        let path = spec.dir.join(format!("node-{i}.toml"));
        let header = format!(
            "# Member {i} of a {n}-validator localhost deai network (written by `deai testnet`).\n\
             # Run: deai node --config {}\n\n",
            path.display(),
            n = spec.nodes
        );
        fs::write(&path, header + &text).map_err(io(&path))?;
        urls.push(format!("http://{}", config.listen));
        configs.push(path);
    }
    Ok(TestnetReport {
        configs,
        urls,
        genesis: genesis_path,
        accounts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn testnet_files_round_trip_and_validators_are_the_top_stakers() {
        let dir = tempfile::tempdir().unwrap();
        let spec = TestnetSpec {
            dir: dir.path().join("net"),
            nodes: 4,
            accounts: 3,
            http_port: 18_700,
            p2p_port: 19_700,
            chain_id: ChainId::new("deai-testnet").unwrap(),
            genesis_time_ms: 5,
        };
        let report = write_testnet(&spec).unwrap();
        assert_eq!(report.configs.len(), 4);
        assert!(write_testnet(&spec).is_err(), "refuses to overwrite");
        let genesis = read_genesis(&report.genesis).unwrap();
        let set = validator_set(&genesis, 4).unwrap();
        for (i, path) in report.configs.iter().enumerate() {
            let config = MemberConfig::load(path).unwrap();
            assert_eq!(config.listen.port(), 18_700 + i as u16);
            assert_eq!(config.chain_dir, spec.dir.join(format!("node-{i}")));
            let key = read_key(&config.key_file).unwrap();
            assert!(set.contains(&key.account()));
            assert_eq!(config.gossip, GossipSettings::default());
            let text = fs::read_to_string(path).unwrap();
            assert!(
                text.contains("[gossip]"),
                "the gossip settings are written out"
            );
            let mut peers: Vec<_> = config.peers.iter().map(|p| p.key).collect();
            peers.sort();
            let mut sorted = set.clone();
            sorted.sort();
            assert_eq!(peers, sorted);
        }
        // Dev accounts are funded but do not stake, so they are not validators.
        for (_, account) in &report.accounts {
            assert!(!set.contains(account));
        }
        assert!(validator_set(&genesis, 5).is_err());
    }

    #[test]
    fn validator_set_orders_by_stake_then_id() {
        let keys: Vec<Keypair> = (1..=4u8).map(|i| Keypair::from_seed([i; 32])).collect();
        let genesis = GenesisConfig {
            chain_id: ChainId::new("t").unwrap(),
            genesis_time_ms: 0,
            accounts: Vec::new(),
            stakes: vec![
                (keys[0].account(), Amount(5)),
                (keys[1].account(), Amount(9)),
                (keys[2].account(), Amount(5)),
                (keys[3].account(), Amount(1)),
            ],
            params: Params::default(),
        };
        let set = validator_set(&genesis, 3).unwrap();
        assert_eq!(set[0], keys[1].account());
        let (lo, hi) = if keys[0].account() < keys[2].account() {
            (keys[0].account(), keys[2].account())
        } else {
            (keys[2].account(), keys[0].account())
        };
        assert_eq!(&set[1..], &[lo, hi]);
    }

    #[test]
    fn malformed_key_files_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        fs::write(&path, "abc").unwrap();
        assert!(matches!(
            read_key(&path),
            Err(ConfigError::Malformed { .. })
        ));
        let key = Keypair::from_seed([7; 32]);
        let good = dir.path().join("good.key");
        write_key(&good, &key).unwrap();
        assert_eq!(read_key(&good).unwrap().account(), key.account());
    }
}
