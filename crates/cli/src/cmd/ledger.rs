//! `deai init`, `deai keys …`, `deai tx …`, `deai chain …`: the embedded ledger from the command
//! line.
//!
//! Everything lives under `--data-dir` (default `./.deai`):
//! - `chain.redb` — blocks, indexes and state (crate `deai-store`);
//! - `keys/NAME.key` — one ed25519 secret seed per named key, as 64 hex characters, mode 0600;
//! - `blobs/` — content-addressed artifacts.
//!
//! `deai tx …` runs the chain embedded: it signs the transaction with `--from`'s key and the
//! account's next nonce, admits it to the mempool, produces a block at the current wall-clock
//! time (at least one millisecond after the parent) and prints the transaction's receipt, or its
//! `TxError` (the block still records the failed transaction, which pays its fee).
//!
//! # Talking to a running node (`--node URL`)
//!
//! `deai tx … --node http://HOST:PORT` and `deai chain status|block|account|metrics --node URL` use a
//! node's HTTP API (`deai_node::http`) instead of the chain in `--data-dir`; keys still come
//! from `--data-dir`. A transaction is signed locally: the chain id comes from `GET
//! /v1/status`, the nonce (unless `--nonce`) from `GET /v1/account/{id}` (0 for an account
//! the node does not know), the fee (unless `--fee`) is the default minimum fee of
//! [`Params`]. It is sent borsh-encoded to `POST /v1/tx`; then the CLI polls the new blocks
//! until one contains it (at most `--wait` seconds; `--wait 0` returns once the node accepted
//! it). The API reports no receipts, so a remote transaction is reported as *included*, not as
//! succeeded: check its effect with `deai chain account … --node URL`. Submitting several
//! transactions from one account before a block is produced needs explicit `--nonce`s (the
//! account endpoint shows the committed nonce, not the mempool's).
//!
//! The node's JSON errors `{"error", "message"}` are printed as `error: <message> (HTTP
//! <code>)`. `deai chain metrics --node URL` reads the current distributions from `GET
//! /v1/distributions` (the same numbers `deai chain metrics` computes from a data directory;
//! they are also Prometheus gauges at `GET URL/metrics`). `deai chain verify` and `deai chain
//! metrics --over-time` need the whole block history and only run on a data directory (the
//! node's own, or a copy). Plain `http://` only: this build has no TLS client.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use deai_chain::{GenesisConfig, State};
use deai_node::distributions::Distribution;
use deai_store::{verify_chain, EmbeddedChain, NodeConfig, Store};
use deai_types::{
    AccountId, Amount, Block, Call, ChainId, CommitKey, CommitKind, Fixed, Hash32, Height, Keypair,
    Mechanism, Nonce, ParamChange, Params, PhaseWindow, ProposalId, Role, Round, SignedTx, TaskId,
    TaskSpec, Tx, Window,
};
use serde_json::json;

use crate::Global;

/// Names given to the first development accounts; later ones are `devN`.
const DEV_NAMES: [&str; 8] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
];

/// Arguments of `deai init`.
#[derive(Args, Debug)]
#[command(
    about = "Create a new chain: a genesis with funded development accounts, and their keys",
    long_about = "Create a new chain in --data-dir: a genesis state that funds N development \
accounts (alice, bob, carol, …), their secret keys under <data-dir>/keys/NAME.key (mode 0600; an \
existing key file of that name is reused), and the genesis block at height 0.\n\nExample:\n  deai \
init --accounts 4 && deai tx transfer --from alice --to bob --amount 1000"
)]
pub struct InitArgs {
    /// Number of funded development accounts.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub accounts: u32,
    /// Balance of each development account, in the smallest unit.
    #[arg(long, default_value = "1000000000000")]
    pub balance: Amount,
    /// Chain id every transaction signs (1-64 of A-Z a-z 0-9 - _ .).
    #[arg(long, default_value = "deai-dev")]
    pub chain_id: ChainId,
    /// Delete an existing chain database in --data-dir first (keys are kept and reused).
    #[arg(long)]
    pub force: bool,
}

/// `deai keys …`.
#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Generate a new key and store it as <data-dir>/keys/NAME.key.
    New {
        /// Key name: 1-64 of A-Z a-z 0-9 - _.
        name: String,
    },
    /// Print a key's account id (its public key).
    Show {
        /// Key name.
        name: String,
    },
    /// List the stored keys and their account ids.
    List,
}

/// Options shared by every `deai tx` subcommand.
#[derive(Args, Debug)]
pub struct TxOpts {
    /// Name of the key (under <data-dir>/keys) that signs and pays.
    #[arg(long, global = true, value_name = "NAME")]
    pub from: Option<String>,
    /// Fee offered, burned (default: the chain's minimum fee).
    #[arg(long, global = true)]
    pub fee: Option<Amount>,
    /// Override the nonce (default: the account's next nonce from the state).
    #[arg(long, global = true)]
    pub nonce: Option<u64>,
    /// Send the transaction to a running node's HTTP API (e.g. http://127.0.0.1:8080) instead
    /// of producing a block on the chain in --data-dir (keys still come from --data-dir).
    #[arg(long, global = true, value_name = "URL")]
    pub node: Option<String>,
    /// With --node: seconds to wait for a block that includes the transaction (0: return once
    /// the node accepted it) [default: 30].
    #[arg(long, global = true, value_name = "SECONDS")]
    pub wait: Option<u64>,
}

/// Arguments of `deai tx`.
#[derive(Args, Debug)]
pub struct TxArgs {
    #[command(flatten)]
    pub opts: TxOpts,
    #[command(subcommand)]
    pub call: TxCommand,
}

/// A miner or a validator.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum RoleArg {
    /// Trains and submits updates.
    Miner,
    /// Evaluates updates and sets weights.
    Validator,
}

/// An incentive mechanism.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum MechanismArg {
    /// Yuma consensus over validator weights.
    Yuma,
    /// FLock-style proposer/voter rounds.
    ProposerVoter,
}

/// What a commitment is about.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum KindArg {
    /// A miner's model update.
    Update,
    /// A validator's weights.
    Weights,
    /// A voter's score.
    Vote,
    /// A committee verdict.
    Verdict,
}

/// The transactions `deai tx` can send.
#[derive(Subcommand, Debug)]
pub enum TxCommand {
    /// Move tokens to another account.
    Transfer {
        /// Recipient: a key name or a 64-hex-character account id.
        #[arg(long)]
        to: String,
        /// Amount, in the smallest unit.
        #[arg(long)]
        amount: Amount,
    },
    /// Bond tokens as stake on your own account.
    Stake {
        /// Amount to bond.
        #[arg(long)]
        amount: Amount,
    },
    /// Start unbonding your own stake (withdrawable after the unbonding delay).
    Unstake {
        /// Amount to unbond.
        #[arg(long)]
        amount: Amount,
    },
    /// Move every matured unbonding entry back to your balance.
    Withdraw,
    /// Bond tokens as stake on a miner or validator and share its rewards after its take.
    Delegate {
        /// The miner or validator: a key name or an account id.
        #[arg(long)]
        to: String,
        /// Amount to bond.
        #[arg(long)]
        amount: Amount,
    },
    /// Start unbonding stake delegated to a miner or validator.
    Undelegate {
        /// The account the stake was delegated to: a key name or an account id.
        #[arg(long)]
        hotkey: String,
        /// Amount to unbond.
        #[arg(long)]
        amount: Amount,
    },
    /// Set the share of rewards you keep before your delegators are paid (e.g. 0.18).
    SetTake {
        /// The take rate, a decimal in [0, max_take].
        #[arg(long)]
        take: Fixed,
    },
    /// Propose a task (subnet) and escrow its reward from your balance.
    ProposeTask(ProposeTaskArgs),
    /// Register on a task as a miner or validator and receive a UID.
    Register {
        /// The task id.
        #[arg(long)]
        task: u64,
        /// The role.
        #[arg(long, value_enum)]
        role: RoleArg,
    },
    /// Commit hash(key, preimage) for a round; the preimage is revealed later with `reveal`.
    Commit {
        /// The task id.
        #[arg(long)]
        task: u64,
        /// The round of the task.
        #[arg(long)]
        round: u64,
        /// What is committed.
        #[arg(long, value_enum)]
        kind: KindArg,
        /// The preimage, as text (its commitment hash is computed and sent, not the text).
        #[arg(long)]
        preimage: String,
    },
    /// Reveal the preimage of an earlier commitment.
    Reveal {
        /// The task id.
        #[arg(long)]
        task: u64,
        /// The round committed for.
        #[arg(long)]
        round: u64,
        /// What was committed.
        #[arg(long, value_enum)]
        kind: KindArg,
        /// The preimage, as text.
        #[arg(long)]
        preimage: String,
    },
    /// Propose a governance change of one parameter, as JSON, e.g. '{"unbonding_blocks":3}'.
    GovPropose {
        /// The change, as the JSON of a `ParamChange`: {"min_fee":2}, {"gov_quorum":"0.5"}, …
        #[arg(long)]
        change: String,
    },
    /// Vote on an open governance proposal with your bonded stake.
    Vote {
        /// The proposal id.
        #[arg(long)]
        proposal: u64,
        /// Vote yes.
        #[arg(long, conflicts_with = "no", required_unless_present = "no")]
        yes: bool,
        /// Vote no.
        #[arg(long)]
        no: bool,
    },
}

/// Arguments of `deai tx propose-task`.
#[derive(Args, Debug)]
pub struct ProposeTaskArgs {
    /// Commitment (hash) to the model/training code; 64 hex characters.
    #[arg(long, default_value_t = Hash32::ZERO)]
    pub model: Hash32,
    /// Commitment (hash) to the dataset; 64 hex characters.
    #[arg(long, default_value_t = Hash32::ZERO)]
    pub dataset: Hash32,
    /// Commitment (hash) to the evaluation procedure; 64 hex characters.
    #[arg(long, default_value_t = Hash32::ZERO)]
    pub eval: Hash32,
    /// Reward escrowed from your balance.
    #[arg(long)]
    pub reward: Amount,
    /// Blocks between the proposal and round 0.
    #[arg(long, default_value_t = 1)]
    pub start_delay: u64,
    /// Blocks per round (the update commit window is its first half, reveal its second).
    #[arg(long, default_value_t = 10)]
    pub round_blocks: u64,
    /// Number of rounds.
    #[arg(long, default_value_t = 10)]
    pub rounds: u64,
    /// Rounds per epoch.
    #[arg(long, default_value_t = 1)]
    pub epoch_rounds: u64,
    /// Aggregation rule name (e.g. fedavg, median, krum).
    #[arg(long, default_value = "fedavg")]
    pub aggregation: String,
    /// Minimum stake to register.
    #[arg(long, default_value = "0")]
    pub min_stake: Amount,
    /// Most UIDs the task assigns.
    #[arg(long, default_value_t = 64)]
    pub max_uids: u16,
    /// Incentive mechanism.
    #[arg(long, value_enum, default_value = "yuma")]
    pub mechanism: MechanismArg,
}

/// `--node URL` of `deai chain` subcommands.
#[derive(Args, Debug, Clone, Default)]
pub struct NodeOpt {
    /// Read from a running node's HTTP API (e.g. http://127.0.0.1:8080) instead of the chain
    /// in --data-dir.
    #[arg(long, value_name = "URL")]
    pub node: Option<String>,
}

/// `deai chain …`.
#[derive(Subcommand, Debug)]
pub enum ChainCommand {
    /// Print the head block, state root, supply and counts.
    Status {
        #[command(flatten)]
        remote: NodeOpt,
    },
    /// Print the block at a height, with its transactions.
    Block {
        /// The height (0 is genesis).
        height: u64,
        #[command(flatten)]
        remote: NodeOpt,
    },
    /// Print an account's balance, nonce and stake.
    Account {
        /// A key name or a 64-hex-character account id.
        account: String,
        #[command(flatten)]
        remote: NodeOpt,
    },
    /// Re-execute every block from genesis and check every parent link, tx root and state root;
    /// exits non-zero on the first mismatch.
    Verify {
        #[command(flatten)]
        remote: NodeOpt,
    },
    /// Decentralization metrics (Gini, Nakamoto ½ and ⅓, HHI, entropy, Theil, top-k) of the
    /// distributions the ledger holds: balances, stake per hotkey, governance voting power, and
    /// per task the stake of its UIDs, the last epoch's incentive and dividends, and the rewards
    /// paid over the kept epochs. With `--over-time`, replays the chain from genesis and
    /// measures every layer (stake, voting power, incentive, dividends, rewards per epoch and
    /// cumulative, rewards per entity, model ownership, governance power) at every epoch.
    Metrics {
        #[command(flatten)]
        remote: NodeOpt,
        /// Replay from genesis and print every layer's metrics at every epoch (CSV-like table;
        /// with `--json`, one object per task and epoch).
        #[arg(long)]
        over_time: bool,
    },
}

impl ChainCommand {
    fn node(&self) -> Option<&str> {
        let (ChainCommand::Status { remote }
        | ChainCommand::Block { remote, .. }
        | ChainCommand::Account { remote, .. }
        | ChainCommand::Verify { remote }
        | ChainCommand::Metrics { remote, .. }) = self;
        remote.node.as_deref()
    }
}

// ---------------------------------------------------------------------------------------------
// Keys

fn keys_dir(global: &Global) -> PathBuf {
    global.data_dir.join("keys")
}

fn check_key_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        bail!("invalid key name {name:?}: use 1-64 of A-Z a-z 0-9 - _");
    }
    Ok(())
}

fn key_path(global: &Global, name: &str) -> anyhow::Result<PathBuf> {
    check_key_name(name)?;
    Ok(keys_dir(global).join(format!("{name}.key")))
}

fn hex_seed(seed: &[u8; 32]) -> String {
    seed.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_seed(text: &str, path: &Path) -> anyhow::Result<[u8; 32]> {
    let t = text.trim();
    if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!(
            "key file {} is malformed: expected 64 hex characters (a 32-byte ed25519 seed)",
            path.display()
        );
    }
    let mut seed = [0u8; 32];
    for (i, byte) in seed.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&t[2 * i..2 * i + 2], 16)?;
    }
    Ok(seed)
}

fn write_key(path: &Path, key: &Keypair) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts
        .open(path)
        .with_context(|| format!("creating key file {}", path.display()))?;
    writeln!(file, "{}", hex_seed(&key.seed()))?;
    file.sync_all()?;
    Ok(())
}

fn load_key(global: &Global, name: &str) -> anyhow::Result<Keypair> {
    let path = key_path(global, name)?;
    let text = fs::read_to_string(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow!(
                "no key named {name:?} in {}: create it with `deai keys new {name}` (or run `deai init`)",
                keys_dir(global).display()
            )
        } else {
            anyhow!("reading key file {}: {e}", path.display())
        }
    })?;
    Ok(Keypair::from_seed(parse_seed(&text, &path)?))
}

/// Loads the key `name`, or creates it; returns it and whether it was created.
fn load_or_create_key(global: &Global, name: &str) -> anyhow::Result<(Keypair, bool)> {
    let path = key_path(global, name)?;
    if path.exists() {
        return Ok((load_key(global, name)?, false));
    }
    let key = Keypair::generate(&mut rand::rngs::OsRng);
    write_key(&path, &key)?;
    Ok((key, true))
}

fn list_keys(global: &Global) -> anyhow::Result<Vec<(String, AccountId)>> {
    let dir = keys_dir(global);
    let mut out = Vec::new();
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(anyhow!("reading {}: {e}", dir.display())),
    };
    for entry in entries {
        let path = entry?.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".key"))
        else {
            continue;
        };
        let name = name.to_string();
        let key = load_key(global, &name)?;
        out.push((name, key.account()));
    }
    out.sort();
    Ok(out)
}

/// A key name or a hex account id.
fn resolve_account(global: &Global, who: &str) -> anyhow::Result<AccountId> {
    let hexish = who.strip_prefix("0x").unwrap_or(who);
    if hexish.len() == 64 && hexish.bytes().all(|b| b.is_ascii_hexdigit()) {
        return who
            .parse::<AccountId>()
            .map_err(|e| anyhow!("invalid account id {who:?}: {e}"));
    }
    load_key(global, who).map(|k| k.account()).map_err(|e| {
        anyhow!("{who:?} is neither a 64-hex-character account id nor a known key name ({e})")
    })
}

fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Runs `deai keys …`.
pub fn run_keys(cmd: KeysCommand, global: &Global) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::New { name } => {
            let path = key_path(global, &name)?;
            if path.exists() {
                bail!(
                    "a key named {name:?} already exists at {}; pick another name",
                    path.display()
                );
            }
            let key = Keypair::generate(&mut rand::rngs::OsRng);
            write_key(&path, &key)?;
            if global.json {
                print_json(&json!({"name": name, "account": key.account().to_string(),
                    "path": path.display().to_string()}))?;
            } else {
                println!("created key {name}: account {}", key.account());
                println!("secret seed stored in {} (mode 0600)", path.display());
            }
        }
        KeysCommand::Show { name } => {
            let key = load_key(global, &name)?;
            if global.json {
                print_json(&json!({"name": name, "account": key.account().to_string()}))?;
            } else {
                println!("{}", key.account());
            }
        }
        KeysCommand::List => {
            let keys = list_keys(global)?;
            if global.json {
                let list: Vec<_> = keys
                    .iter()
                    .map(|(n, a)| json!({"name": n, "account": a.to_string()}))
                    .collect();
                print_json(&serde_json::Value::Array(list))?;
            } else if keys.is_empty() {
                println!(
                    "no keys in {}; create one with `deai keys new NAME` or run `deai init`",
                    keys_dir(global).display()
                );
            } else {
                for (name, account) in keys {
                    println!("{name:<16} {account}");
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Init

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Name of the i-th development account.
pub fn dev_name(i: u32) -> String {
    usize::try_from(i)
        .ok()
        .and_then(|i| DEV_NAMES.get(i))
        .map(|s| (*s).to_string())
        .unwrap_or_else(|| format!("dev{i}"))
}

/// Runs `deai init`.
pub fn run_init(args: InitArgs, global: &Global) -> anyhow::Result<()> {
    let dir = &global.data_dir;
    if Store::exists(dir) && !args.force {
        bail!(
            "a chain already exists in {}; use it, or pass --force to delete it and start over",
            dir.display()
        );
    }
    let mut accounts = Vec::new();
    let mut names = Vec::new();
    for i in 0..args.accounts {
        let name = dev_name(i);
        let (key, created) = load_or_create_key(global, &name)?;
        accounts.push((key.account(), args.balance));
        names.push((name, key.account(), created));
    }
    let genesis = GenesisConfig {
        chain_id: args.chain_id.clone(),
        genesis_time_ms: now_ms(),
        accounts,
        stakes: Vec::new(),
        params: Params::default(),
    };
    // --force deletes the old chain only under the data directory's lock, so never the
    // database of a node that has it open.
    let (store, state) = if args.force {
        Store::reinit(dir, &genesis)
    } else {
        Store::init(dir, &genesis)
    }
    .with_context(|| format!("creating the chain in {}", dir.display()))?;
    let head = store.head()?;
    if global.json {
        let accounts: Vec<_> = names
            .iter()
            .map(|(n, a, c)| {
                json!({"name": n, "account": a.to_string(), "balance": args.balance,
                    "key_created": c})
            })
            .collect();
        print_json(&json!({
            "data_dir": dir.display().to_string(),
            "chain_id": args.chain_id.as_str(),
            "genesis_hash": head.hash().to_string(),
            "state_root": head.state_root.to_string(),
            "total_supply": state.total_supply(),
            "accounts": accounts,
        }))?;
    } else {
        println!(
            "initialized chain {:?} in {}",
            args.chain_id.as_str(),
            dir.display()
        );
        println!(
            "genesis block {} (state root {})",
            head.hash(),
            head.state_root
        );
        for (name, account, created) in &names {
            let note = if *created { "new key" } else { "existing key" };
            println!("  {name:<8} {account}  balance {}  ({note})", args.balance);
        }
        println!(
            "keys are in {}; try `deai tx transfer --from {} --to {} --amount 1000`",
            keys_dir(global).display(),
            dev_name(0),
            dev_name(1.min(args.accounts.saturating_sub(1)))
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Transactions

fn kind(k: KindArg) -> CommitKind {
    match k {
        KindArg::Update => CommitKind::Update,
        KindArg::Weights => CommitKind::Weights,
        KindArg::Vote => CommitKind::Vote,
        KindArg::Verdict => CommitKind::Verdict,
    }
}

fn build_call(cmd: TxCommand, signer: AccountId, global: &Global) -> anyhow::Result<Call> {
    Ok(match cmd {
        TxCommand::Transfer { to, amount } => Call::Transfer {
            to: resolve_account(global, &to)?,
            amount,
        },
        TxCommand::Stake { amount } => Call::Stake { amount },
        TxCommand::Unstake { amount } => Call::Unstake { amount },
        TxCommand::Withdraw => Call::Withdraw,
        TxCommand::Delegate { to, amount } => Call::Delegate {
            hotkey: resolve_account(global, &to)?,
            amount,
        },
        TxCommand::Undelegate { hotkey, amount } => Call::Undelegate {
            hotkey: resolve_account(global, &hotkey)?,
            amount,
        },
        TxCommand::SetTake { take } => Call::SetTake { take },
        TxCommand::ProposeTask(a) => {
            let half = a.round_blocks / 2;
            let spec = TaskSpec {
                model: a.model,
                dataset: a.dataset,
                eval: a.eval,
                reward: a.reward,
                start_delay: a.start_delay,
                round_blocks: a.round_blocks,
                rounds: a.rounds,
                epoch_rounds: a.epoch_rounds,
                windows: vec![PhaseWindow {
                    kind: CommitKind::Update,
                    commit: Window {
                        start: 0,
                        end: half,
                    },
                    reveal: Window {
                        start: half,
                        end: a.round_blocks,
                    },
                }],
                aggregation: a.aggregation,
                min_stake: a.min_stake,
                max_uids: a.max_uids,
                mechanism: match a.mechanism {
                    MechanismArg::Yuma => Mechanism::Yuma,
                    MechanismArg::ProposerVoter => Mechanism::ProposerVoter,
                },
                miner_share: deai_types::Fixed::from_bps(5_000),
            };
            spec.validate()
                .map_err(|e| anyhow!("invalid task: {e} (round_blocks must be at least 2)"))?;
            Call::ProposeTask(spec)
        }
        TxCommand::Register { task, role } => Call::Register {
            task: TaskId(task),
            role: match role {
                RoleArg::Miner => Role::Miner,
                RoleArg::Validator => Role::Validator,
            },
        },
        TxCommand::Commit {
            task,
            round,
            kind: k,
            preimage,
        } => {
            let key = CommitKey {
                task: TaskId(task),
                round: Round(round),
                kind: kind(k),
                account: signer,
            };
            Call::Commit {
                task: TaskId(task),
                round: Round(round),
                kind: kind(k),
                hash: deai_types::commitment_hash(&key, preimage.as_bytes()),
            }
        }
        TxCommand::Reveal {
            task,
            round,
            kind: k,
            preimage,
        } => Call::Reveal {
            task: TaskId(task),
            round: Round(round),
            kind: kind(k),
            preimage: preimage.into_bytes(),
        },
        TxCommand::GovPropose { change } => {
            let change: ParamChange = serde_json::from_str(&change).map_err(|e| {
                anyhow!(
                    "invalid --change {change:?}: {e}; expected a JSON ParamChange such as \
                     '{{\"unbonding_blocks\":3}}' or '{{\"gov_quorum\":\"0.5\"}}'"
                )
            })?;
            Call::GovPropose { change }
        }
        TxCommand::Vote { proposal, yes, .. } => Call::GovVote {
            proposal: ProposalId(proposal),
            approve: yes,
        },
    })
}

fn open_chain(global: &Global) -> anyhow::Result<EmbeddedChain> {
    Ok(EmbeddedChain::open(
        &global.data_dir,
        NodeConfig::default(),
    )?)
}

/// Runs `deai tx …`.
pub fn run_tx(args: TxArgs, global: &Global) -> anyhow::Result<()> {
    let from = args
        .opts
        .from
        .clone()
        .ok_or_else(|| anyhow!("which key signs? pass --from NAME (see `deai keys list`)"))?;
    let key = load_key(global, &from)?;
    if let Some(url) = args.opts.node.clone() {
        return run_tx_remote(args, &key, &url, global);
    }
    if args.opts.wait.is_some() {
        bail!("--wait only applies with --node URL (a local `deai tx` includes the transaction in a block at once)");
    }
    let mut chain = open_chain(global)?;
    let call = build_call(args.call, key.account(), global)?;
    let state = chain.state();
    let nonce = args
        .opts
        .nonce
        .unwrap_or_else(|| state.nonce_of(&key.account()).0);
    let fee = args.opts.fee.unwrap_or(state.params().min_fee);
    let tx = Tx {
        chain_id: state.chain_id().clone(),
        nonce: Nonce(nonce),
        fee,
        call,
    };
    let signed: SignedTx = key.sign_tx(tx);
    let hash = chain
        .submit(signed)
        .context("the mempool refused the transaction")?;
    let timestamp = now_ms().max(chain.head().timestamp_ms.saturating_add(1));
    let produced = chain.produce_block(timestamp)?;
    let block = &produced.block;
    let index = block
        .txs
        .iter()
        .position(|t| t.hash() == hash)
        .ok_or_else(|| {
            anyhow!(
                "transaction {hash} was not included in block {}",
                block.header.height
            )
        })?;
    let outcome = produced
        .outcomes
        .get(index)
        .ok_or_else(|| anyhow!("no outcome for transaction {index} of the block"))?;
    let height = block.header.height;
    match outcome {
        Ok(receipt) => {
            if global.json {
                print_json(&json!({"status": "ok", "tx": hash.to_string(),
                    "height": height, "index": index, "receipt": receipt}))?;
            } else {
                println!("transaction {hash} included in block {height} (index {index}): ok");
                println!("receipt: {}", serde_json::to_string(receipt)?);
            }
            Ok(())
        }
        Err(err) => {
            if global.json {
                print_json(&json!({"status": "failed", "tx": hash.to_string(),
                    "height": height, "index": index, "error": err.to_string(),
                    "error_detail": err}))?;
            }
            bail!(
                "transaction {hash} was included in block {height} but failed: {err} \
                 (only its fee was charged and its nonce used)"
            )
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Chain inspection

fn open_store(global: &Global) -> anyhow::Result<Store> {
    Ok(Store::open(&global.data_dir)?)
}

fn account_json(state: &State, id: &AccountId) -> serde_json::Value {
    let unbonding: Vec<_> = state
        .unbonding_of(id)
        .map(|(hotkey, release, amount)| {
            json!({"hotkey": hotkey.to_string(), "release_height": release, "amount": amount})
        })
        .collect();
    json!({
        "account": id.to_string(),
        "exists": state.account(id).is_some(),
        "balance": state.balance_of(id),
        "nonce": state.nonce_of(id),
        "staked": state.staker_stake(id),
        "stake_on_it": state.hotkey_stake(id),
        "take": state.take_of(id).to_string(),
        "unbonding": unbonding,
    })
}

/// Runs `deai chain …`.
pub fn run_chain(cmd: ChainCommand, global: &Global) -> anyhow::Result<()> {
    if let Some(url) = cmd.node() {
        let client = NodeClient::new(url)?;
        return run_chain_remote(cmd, &client, global);
    }
    let store = open_store(global)?;
    match cmd {
        ChainCommand::Status { .. } => {
            let head = store.head()?;
            let state = store.state()?;
            let genesis = store.genesis()?;
            let value = json!({
                "data_dir": global.data_dir.display().to_string(),
                "chain_id": genesis.chain_id.as_str(),
                "height": head.height,
                "head_hash": head.hash().to_string(),
                "timestamp_ms": head.timestamp_ms,
                "state_root": head.state_root.to_string(),
                "transactions": store.tx_count()?,
                "total_supply": state.total_supply(),
                "supply": state.supply(),
            });
            if global.json {
                print_json(&value)?;
            } else {
                println!("chain      {}", genesis.chain_id);
                println!("data dir   {}", global.data_dir.display());
                println!("height     {}", head.height);
                println!("head hash  {}", head.hash());
                println!("state root {}", head.state_root);
                println!("timestamp  {} ms", head.timestamp_ms);
                println!("txs        {}", store.tx_count()?);
                println!("supply     {}", state.total_supply());
            }
        }
        ChainCommand::Block { height, .. } => {
            let head = store.head_height()?;
            let block = store.block(Height(height))?.ok_or_else(|| {
                anyhow!("no block at height {height}: the head is at height {head}")
            })?;
            print_block(&block, global)?;
        }
        ChainCommand::Account { account, .. } => {
            let id = resolve_account(global, &account)?;
            let state = store.state()?;
            let value = account_json(&state, &id);
            if global.json {
                print_json(&value)?;
            } else {
                println!("account      {id}");
                if state.account(&id).is_none() {
                    println!("             (not in the state yet)");
                }
                println!("balance      {}", state.balance_of(&id));
                println!("nonce        {}", state.nonce_of(&id));
                println!("staked       {}", state.staker_stake(&id));
                println!("stake on it  {}", state.hotkey_stake(&id));
                println!("take         {}", state.take_of(&id));
                for (hotkey, release, amount) in state.unbonding_of(&id) {
                    println!(
                        "unbonding    {amount} from {} withdrawable at height {release}",
                        hotkey.short()
                    );
                }
            }
        }
        ChainCommand::Metrics {
            over_time: true, ..
        } => {
            let replay = deai_sim::layers::replay(&store, &deai_sim::layers::Knowledge::default())
                .context("replaying the chain from genesis")?;
            if global.json {
                print_json(&serde_json::to_value(&replay.epochs)?)?;
            } else if replay.epochs.is_empty() {
                println!(
                    "no epoch has ended on this chain yet (height {})",
                    replay.head
                );
            } else {
                print!(
                    "{}",
                    deai_sim::report::layers_table(&replay.epochs).to_markdown()
                );
                println!(
                    "replayed heights 0..={} to state root {}",
                    replay.head, replay.state_root
                );
            }
        }
        ChainCommand::Metrics { .. } => {
            print_distributions(&ledger_distributions(&store.state()?), global)?;
        }
        ChainCommand::Verify { .. } => {
            let report = verify_chain(&store)?;
            if global.json {
                print_json(&serde_json::to_value(&report)?)?;
            } else {
                println!(
                    "verified {} of {} blocks (heights 0..={}), re-executed {} transactions",
                    report.blocks_verified,
                    report.head + 1,
                    report.head,
                    report.txs_replayed
                );
                if report.is_ok() {
                    println!(
                        "ok: every parent link, tx root and state root matches; state root {}",
                        report.state_root
                    );
                }
            }
            if let Some(p) = &report.problem {
                bail!(
                    "chain verification FAILED at height {}: {}",
                    p.height,
                    p.message
                );
            }
            // Re-derive every recorded global model from the update blobs (canonical mode).
            let blob_dir = global.data_dir.join("blobs");
            if blob_dir.is_dir() {
                let blobs = deai_store::BlobStore::open(&blob_dir)?;
                let models = deai_sim::verify::verify_models(&store.state()?, &blobs);
                for t in &models {
                    if !global.json {
                        println!(
                            "task {}: re-derived {} recorded models from the update blobs",
                            t.task, t.verified
                        );
                    }
                    if let Some((round, why)) = &t.problem {
                        bail!(
                            "model verification FAILED for task {} at round {round}: {why}",
                            t.task
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

fn print_block(block: &Block, global: &Global) -> anyhow::Result<()> {
    if global.json {
        return print_json(&json!({"hash": block.header.hash().to_string(), "block": block}));
    }
    let h = &block.header;
    println!("block {} {}", h.height, h.hash());
    println!("  parent     {}", h.parent_hash);
    println!("  timestamp  {} ms", h.timestamp_ms);
    println!("  tx root    {}", h.tx_root);
    println!("  state root {}", h.state_root);
    println!("  {} transactions", block.txs.len());
    for (i, t) in block.txs.iter().enumerate() {
        println!(
            "  [{i}] {} from {} nonce {} fee {}: {}",
            t.hash(),
            t.signer.short(),
            t.tx.nonce,
            t.tx.fee,
            serde_json::to_string(&t.tx.call)?
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// A running node over HTTP (`--node URL`)

/// Largest response body read from a node (a block of many transactions as JSON).
const MAX_RESPONSE_BYTES: u64 = 256 << 20;

/// A blocking client of a node's HTTP API (`deai_node::http`).
struct NodeClient {
    /// `http://host:port`, without a trailing slash.
    base: String,
    agent: ureq::Agent,
}

/// An answer of the node: HTTP status and body text.
struct Answer {
    status: u16,
    body: String,
}

impl NodeClient {
    /// Accepts `http://host:port[/]` or `host:port`.
    fn new(url: &str) -> anyhow::Result<NodeClient> {
        let url = url.trim().trim_end_matches('/');
        let base = if url.starts_with("http://") {
            url.to_string()
        } else if url.starts_with("https://") {
            bail!("--node {url:?}: https is not supported (this build has no TLS client); a deai node serves plain http://HOST:PORT")
        } else if url.contains("://") {
            bail!("--node {url:?}: unsupported scheme; expected http://HOST:PORT")
        } else {
            format!("http://{url}")
        };
        if base.len() <= "http://".len() {
            bail!("--node {url:?}: missing host; expected http://HOST:PORT");
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(std::time::Duration::from_secs(10)))
            .timeout_global(Some(std::time::Duration::from_secs(60)))
            .build()
            .into();
        Ok(NodeClient { base, agent })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn finish(
        &self,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> anyhow::Result<Answer> {
        let mut response = result.map_err(|e| {
            anyhow!(
                "cannot reach the node at {}: {e} (is `deai node` running and listening there?)",
                self.base
            )
        })?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_string()
            .map_err(|e| anyhow!("reading the answer of the node at {}: {e}", self.base))?;
        Ok(Answer { status, body })
    }

    fn get(&self, path: &str) -> anyhow::Result<Answer> {
        self.finish(self.agent.get(&self.url(path)).call())
    }

    /// `GET path` as JSON; a non-2xx answer is an error.
    fn get_json(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        let answer = self.get(path)?;
        json_answer(&answer, path)
    }

    /// `GET path` as JSON, `None` on 404.
    fn get_json_opt(&self, path: &str) -> anyhow::Result<Option<serde_json::Value>> {
        let answer = self.get(path)?;
        if answer.status == 404 {
            return Ok(None);
        }
        json_answer(&answer, path).map(Some)
    }

    /// Submits a signed transaction (borsh); returns the hash the node reports.
    fn submit(&self, tx: &SignedTx) -> anyhow::Result<Hash32> {
        let body = deai_types::encode(tx);
        let answer = self.finish(
            self.agent
                .post(&self.url("/v1/tx"))
                .header("content-type", "application/octet-stream")
                .send(&body[..]),
        )?;
        let value = json_answer(&answer, "/v1/tx")?;
        value["hash"]
            .as_str()
            .and_then(|h| h.parse::<Hash32>().ok())
            .ok_or_else(|| anyhow!("the node accepted the transaction but answered {value} without a valid \"hash\""))
    }

    fn status(&self) -> anyhow::Result<NodeStatus> {
        let value = self.get_json("/v1/status")?;
        let chain_id = value["chain_id"]
            .as_str()
            .ok_or_else(|| anyhow!("the node's /v1/status has no \"chain_id\": {value}"))?;
        let height = value["height"]
            .as_u64()
            .ok_or_else(|| anyhow!("the node's /v1/status has no \"height\": {value}"))?;
        Ok(NodeStatus {
            chain_id: ChainId::new(chain_id)
                .map_err(|e| anyhow!("the node reports an invalid chain id {chain_id:?}: {e}"))?,
            height,
            raw: value,
        })
    }

    fn block(&self, height: u64) -> anyhow::Result<Block> {
        let value = self.get_json(&format!("/v1/block/{height}"))?;
        serde_json::from_value(value)
            .map_err(|e| anyhow!("the node's block {height} is not a valid block: {e}"))
    }

    /// `deai_total_supply` from the node's Prometheus text, if present.
    fn total_supply(&self) -> Option<u128> {
        let answer = self.get("/metrics").ok()?;
        if answer.status != 200 {
            return None;
        }
        answer.body.lines().find_map(|line| {
            line.strip_prefix("deai_total_supply ")
                .and_then(|v| v.trim().parse().ok())
        })
    }
}

/// The body of a 2xx answer as JSON, or the node's error as `<message> (HTTP <code>)`.
fn json_answer(answer: &Answer, path: &str) -> anyhow::Result<serde_json::Value> {
    let parsed: Option<serde_json::Value> = serde_json::from_str(&answer.body).ok();
    if !(200..300).contains(&answer.status) {
        let message = parsed
            .as_ref()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| {
                let text = answer.body.trim();
                if text.is_empty() {
                    format!("the node answered {path} with an empty body")
                } else {
                    text.chars().take(300).collect()
                }
            });
        bail!("{message} (HTTP {})", answer.status);
    }
    parsed.ok_or_else(|| {
        anyhow!(
            "the node's answer to {path} is not JSON: {:?}",
            answer.body.chars().take(200).collect::<String>()
        )
    })
}

/// What `GET /v1/status` says.
struct NodeStatus {
    chain_id: ChainId,
    height: u64,
    raw: serde_json::Value,
}

/// `deai tx … --node URL`: sign locally, submit over HTTP, wait for a block that includes it.
fn run_tx_remote(args: TxArgs, key: &Keypair, url: &str, global: &Global) -> anyhow::Result<()> {
    let client = NodeClient::new(url)?;
    let status = client.status()?;
    let call = build_call(args.call, key.account(), global)?;
    let nonce = match args.opts.nonce {
        Some(n) => n,
        None => client
            .get_json_opt(&format!("/v1/account/{}", key.account()))?
            .map(|v| {
                v["nonce"]
                    .as_u64()
                    .ok_or_else(|| anyhow!("the node's account answer has no \"nonce\": {v}"))
            })
            .transpose()?
            .unwrap_or(0),
    };
    let fee = args.opts.fee.unwrap_or(Params::default().min_fee);
    let signed = key.sign_tx(Tx {
        chain_id: status.chain_id.clone(),
        nonce: Nonce(nonce),
        fee,
        call,
    });
    let hash = signed.hash();
    let accepted = client.submit(&signed)?;
    if accepted != hash {
        bail!("the node accepted the transaction as {accepted}, but its hash is {hash}");
    }
    let wait = args.opts.wait.unwrap_or(30);
    if wait == 0 {
        if global.json {
            print_json(
                &json!({"status": "accepted", "tx": hash.to_string(), "node": client.base,
                "nonce": nonce}),
            )?;
        } else {
            println!("transaction {hash} accepted by the node at {} (nonce {nonce}); not waiting for a block", client.base);
        }
        return Ok(());
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(wait);
    let mut next = status.height + 1;
    loop {
        let head = client.status()?.height;
        while next <= head {
            let block = client.block(next)?;
            if let Some(index) = block.txs.iter().position(|t| t.hash() == hash) {
                if global.json {
                    print_json(&json!({"status": "included", "tx": hash.to_string(),
                        "height": next, "index": index, "node": client.base, "nonce": nonce}))?;
                } else {
                    println!(
                        "transaction {hash} included in block {next} (index {index}) by the node at {}",
                        client.base
                    );
                    println!(
                        "the node's API reports no receipts: check the effect with `deai chain account NAME --node {}`",
                        client.base
                    );
                }
                return Ok(());
            }
            next += 1;
        }
        if std::time::Instant::now() >= deadline {
            bail!(
                "transaction {hash} was accepted by the node but is not in a block after {wait} s \
                 (head at height {head}); look for it later with `deai chain block HEIGHT --node {}`",
                client.base
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `deai chain … --node URL`.
fn run_chain_remote(cmd: ChainCommand, client: &NodeClient, global: &Global) -> anyhow::Result<()> {
    match cmd {
        ChainCommand::Status { .. } => {
            let status = client.status()?;
            let supply = client.total_supply();
            let mut value = status.raw;
            if let Some(obj) = value.as_object_mut() {
                obj.insert("node".into(), json!(client.base));
                if let Some(s) = supply {
                    obj.insert("total_supply".into(), json!(s));
                }
            }
            if global.json {
                print_json(&value)?;
            } else {
                let field = |k: &str| match &value[k] {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => "?".to_string(),
                    other => other.to_string(),
                };
                println!("node       {} ({})", client.base, field("mode"));
                println!("chain      {}", status.chain_id);
                println!("height     {}", status.height);
                println!("head hash  {}", field("head_hash"));
                println!("state root {}", field("state_root"));
                println!("timestamp  {} ms", field("timestamp_ms"));
                println!("mempool    {} txs", field("mempool"));
                if let Some(s) = supply {
                    println!("supply     {s}");
                }
            }
        }
        ChainCommand::Block { height, .. } => {
            print_block(&client.block(height)?, global)?;
        }
        ChainCommand::Account { account, .. } => {
            let id = resolve_account(global, &account)?;
            let v = client.get_json(&format!("/v1/account/{id}"))?;
            let value = json!({
                "account": v["id"],
                "exists": v["exists"],
                "balance": v["balance"],
                "nonce": v["nonce"],
                "staked": v["staked"],
                "node": client.base,
            });
            if global.json {
                print_json(&value)?;
            } else {
                println!("account      {id}");
                println!("balance      {}", v["balance"]);
                println!("nonce        {}", v["nonce"]);
                println!("staked       {}", v["staked"]);
                println!("(from the node at {}; stake on it, take and unbonding entries are not in its API)", client.base);
            }
        }
        ChainCommand::Verify { .. } => bail!(
            "`deai chain verify` re-executes every block and cannot run against --node {}: run it \
             on a data directory, e.g. the node's own (`deai chain verify --data-dir DIR`) or a copy",
            client.base
        ),
        ChainCommand::Metrics {
            over_time: true, ..
        } => bail!(
            "`deai chain metrics --over-time` replays every block from genesis and cannot run \
             against --node {}: run it on a data directory (`deai chain metrics --over-time \
             --data-dir DIR`, e.g. the node's own or a copy); without --over-time the node \
             serves the current distributions",
            client.base
        ),
        ChainCommand::Metrics { .. } => {
            let v = client.get_json("/v1/distributions")?;
            let rows: Vec<Distribution> = serde_json::from_value(v["distributions"].clone())
                .map_err(|e| anyhow!("the node's /v1/distributions is malformed: {e}"))?;
            if !global.json {
                println!(
                    "(from the node at {}, height {}, state root {})",
                    client.base, v["height"], v["state_root"].as_str().unwrap_or("?")
                );
            }
            print_distributions(&rows, global)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Benchmark

/// Arguments of `deai bench ledger`.
#[derive(Args, Debug)]
#[command(
    about = "Apply and commit blocks of signed transfers; compare with single-core ed25519 verification",
    long_about = "Build a chain with --accounts funded accounts in a temporary directory, pre-sign \
--blocks × --txs-per-block transfers, then time admission (parallel batch signature \
verification), execution, state-root computation and the durable redb commit of every block \
(pipelined: block k is written while block k+1 executes). Prints the sustained signed-transfer \
throughput next to the single-core ed25519 verification rate measured in the same run, and their \
ratio. Build with --release."
)]
pub struct BenchLedgerArgs {
    /// Funded accounts (senders and receivers).
    #[arg(long, default_value_t = 10_000)]
    pub accounts: usize,
    /// Blocks to produce.
    #[arg(long, default_value_t = 20)]
    pub blocks: usize,
    /// Transfers per block.
    #[arg(long, default_value_t = 5_000)]
    pub txs_per_block: usize,
    /// Signatures timed for the single-core verification baseline.
    #[arg(long, default_value_t = 10_000)]
    pub baseline_sigs: usize,
    /// Commit each block before executing the next (no pipelining), for comparison.
    #[arg(long)]
    pub sync_commit: bool,
    /// Directory for the temporary chain (default: the system temp directory).
    #[arg(long)]
    pub tmp_dir: Option<PathBuf>,
}

fn bench_key(i: usize) -> Keypair {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
    seed[31] = 0xbe;
    Keypair::from_seed(seed)
}

/// Verification rates measured in the same run as the throughput.
struct VerifyRates {
    /// Single core: ed25519-dalek `verify` over pre-parsed keys and precomputed digests.
    raw: f64,
    /// Single core: the ledger's `SignedTx::verify` (signing hash, key parse, batch equation).
    signed_tx: f64,
    /// All threads: the store's cached-key parallel batch verifier.
    parallel_batch: f64,
}

fn verify_rates(txs: &[SignedTx]) -> anyhow::Result<VerifyRates> {
    use ed25519_dalek::{Signature as DalekSig, Verifier, VerifyingKey};
    let prepared: Vec<(VerifyingKey, DalekSig, [u8; 32])> = txs
        .iter()
        .map(|t| {
            let key = VerifyingKey::from_bytes(&t.signer.0)
                .map_err(|e| anyhow!("bench key is not a valid point: {e}"))?;
            Ok((
                key,
                DalekSig::from_bytes(&t.signature.0),
                t.tx.signing_hash().0,
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    let start = std::time::Instant::now();
    let mut ok = 0usize;
    for (key, sig, msg) in &prepared {
        ok += usize::from(key.verify(msg, sig).is_ok());
    }
    let raw = prepared.len() as f64 / start.elapsed().as_secs_f64();
    let start = std::time::Instant::now();
    for t in txs {
        ok += usize::from(t.verify().is_ok());
    }
    let signed_tx = txs.len() as f64 / start.elapsed().as_secs_f64();
    let verifier = deai_store::SigVerifier::default();
    let start = std::time::Instant::now();
    ok += verifier.verify(txs).into_iter().filter(|b| *b).count();
    let parallel_batch = txs.len() as f64 / start.elapsed().as_secs_f64();
    if ok != 3 * txs.len() {
        bail!("baseline signatures failed to verify");
    }
    Ok(VerifyRates {
        raw,
        signed_tx,
        parallel_batch,
    })
}

/// Runs `deai bench ledger`.
pub fn run_bench(args: BenchLedgerArgs, global: &Global) -> anyhow::Result<()> {
    use deai_store::CommitMode;
    use rayon::prelude::*;
    use std::time::Instant;

    if args.accounts < 2 || args.blocks == 0 || args.txs_per_block == 0 {
        bail!("need --accounts >= 2, --blocks >= 1 and --txs-per-block >= 1");
    }
    if cfg!(debug_assertions) {
        eprintln!("warning: debug build; timings are meaningless (use --release)");
    }
    let keys: Vec<Keypair> = (0..args.accounts).into_par_iter().map(bench_key).collect();
    let chain_id = ChainId::new("deai-bench")?;
    let genesis = GenesisConfig {
        chain_id: chain_id.clone(),
        genesis_time_ms: 0,
        accounts: keys
            .iter()
            .map(|k| (k.account(), Amount(1_000_000_000_000)))
            .collect(),
        stakes: Vec::new(),
        params: Params::default(),
    };
    // Pre-sign every block: block b, tx i is sent by account (b*T + i) mod N, which cycles
    // through all accounts so each sender's nonces stay consecutive across blocks.
    let total = args.blocks * args.txs_per_block;
    let n = args.accounts;
    let blocks: Vec<Vec<SignedTx>> = (0..args.blocks)
        .map(|b| {
            (0..args.txs_per_block)
                .into_par_iter()
                .map(|i| {
                    let g = b * args.txs_per_block + i;
                    let s = g % n;
                    let r = (s + 1 + g / n) % n;
                    let r = if r == s { (s + 1) % n } else { r };
                    keys[s].sign_tx(Tx {
                        chain_id: chain_id.clone(),
                        nonce: Nonce((g / n) as u64),
                        fee: Amount(1),
                        call: Call::Transfer {
                            to: keys[r].account(),
                            amount: Amount(1 + (g % 97) as u128),
                        },
                    })
                })
                .collect()
        })
        .collect();

    // Baseline, same process, same machine state.
    let baseline: Vec<SignedTx> = blocks
        .iter()
        .flatten()
        .take(args.baseline_sigs.max(1))
        .cloned()
        .collect();
    let rates = verify_rates(&baseline)?;
    let (raw_rate, tx_verify_rate) = (rates.raw, rates.signed_tx);

    let tmp = match &args.tmp_dir {
        Some(d) => tempfile::Builder::new()
            .prefix("deai-bench-ledger")
            .tempdir_in(d)?,
        None => tempfile::Builder::new()
            .prefix("deai-bench-ledger")
            .tempdir()?,
    };
    let config = NodeConfig {
        mempool: deai_store::MempoolConfig {
            max_txs: total.max(1),
            max_per_sender: total.max(1),
            max_nonce_gap: total as u64,
        },
        max_block_txs: args.txs_per_block,
        commit: if args.sync_commit {
            CommitMode::Sync
        } else {
            CommitMode::Pipelined { depth: 2 }
        },
    };
    let mut chain = EmbeddedChain::init(tmp.path(), &genesis, config)?;

    // Pipeline: while block k executes and block k-1 is written by the committer, the
    // signatures of block k+1 are verified on the other threads.
    let verifier = chain.verifier();
    let mut admit_s = 0.0;
    let mut produce_s = 0.0;
    let mut failed = 0usize;
    let mut included = 0usize;
    let start = Instant::now();
    let mut pending = blocks.into_iter();
    let mut next = pending
        .next()
        .map(|txs| deai_store::VerifiedBatch::new(txs, &verifier));
    let mut b = 0u64;
    while let Some(batch) = next.take() {
        b += 1;
        let t = Instant::now();
        let rejected = chain
            .submit_verified(batch)
            .into_iter()
            .filter(Result::is_err)
            .count();
        admit_s += t.elapsed().as_secs_f64();
        if rejected > 0 {
            bail!("{rejected} transactions of block {b} were refused admission");
        }
        let t = Instant::now();
        let upcoming = pending.next();
        let (produced, verified) = std::thread::scope(|scope| {
            let verifier = &verifier;
            let handle = scope
                .spawn(move || upcoming.map(|txs| deai_store::VerifiedBatch::new(txs, verifier)));
            let produced = chain.produce_block(b * 1000);
            (produced, handle.join())
        });
        next = verified.map_err(|_| anyhow!("the verification thread panicked"))?;
        let produced = produced?;
        produce_s += t.elapsed().as_secs_f64();
        included += produced.block.txs.len();
        failed += produced.outcomes.iter().filter(|o| o.is_err()).count();
    }
    let t = Instant::now();
    chain.flush()?;
    let flush_s = t.elapsed().as_secs_f64();
    let elapsed = start.elapsed().as_secs_f64();
    if included != total || failed != 0 {
        bail!("benchmark chain misbehaved: {included}/{total} included, {failed} failed");
    }
    let head = chain.durable_height();
    drop(chain);
    let throughput = total as f64 / elapsed;
    let ratio = throughput / raw_rate;
    let ratio_tx = throughput / tx_verify_rate;
    let threads = rayon::current_num_threads();
    if global.json {
        print_json(&json!({
            "accounts": args.accounts, "blocks": args.blocks, "txs_per_block": args.txs_per_block,
            "commit": if args.sync_commit { "sync" } else { "pipelined" },
            "threads": threads, "elapsed_s": elapsed, "head": head,
            "throughput_tx_per_s": throughput,
            "single_core_ed25519_verify_per_s": raw_rate,
            "single_core_signed_tx_verify_per_s": tx_verify_rate,
            "parallel_batch_verify_per_s": rates.parallel_batch,
            "ratio": ratio, "ratio_vs_signed_tx_verify": ratio_tx,
            "admission_s": admit_s, "produce_and_verify_next_s": produce_s,
            "final_flush_s": flush_s,
        }))?;
    } else {
        println!(
            "ledger/commit/transfers: {} accounts, {} blocks x {} txs, {} commit, {} threads",
            args.accounts,
            args.blocks,
            args.txs_per_block,
            if args.sync_commit {
                "sync"
            } else {
                "pipelined"
            },
            threads
        );
        println!(
            "  signed transfers applied and committed to redb: {throughput:>10.0} tx/s  ({total} txs in {elapsed:.3} s; first verify + admission {admit_s:.3} s, produce || verify next {produce_s:.3} s, final flush {flush_s:.3} s)"
        );
        println!("  single-core ed25519 verify (baseline):          {raw_rate:>10.0} sig/s");
        println!("  single-core SignedTx::verify (hash + verify):   {tx_verify_rate:>10.0} tx/s");
        println!(
            "  parallel batch verify, cold key cache ({threads} threads): {:>8.0} sig/s",
            rates.parallel_batch
        );
        println!(
            "  ratio throughput / single-core ed25519 verify:  {ratio:>10.2}x  (target >= 1.0x)"
        );
        println!("  ratio throughput / single-core SignedTx::verify:{ratio_tx:>10.2}x");
    }
    Ok(())
}

/// The holdings distributions of a ledger state and their decentralization metrics.
pub fn ledger_distributions(state: &State) -> Vec<Distribution> {
    deai_node::distributions::state_distributions(state)
}

/// Prints a state's distributions: a table, or with `--json` one object keyed by name.
fn print_distributions(rows: &[Distribution], global: &Global) -> anyhow::Result<()> {
    if global.json {
        let obj: serde_json::Map<String, serde_json::Value> = rows
            .iter()
            .map(|Distribution { name, metrics: m }| Ok((name.clone(), serde_json::to_value(m)?)))
            .collect::<anyhow::Result<_>>()?;
        print_json(&serde_json::Value::Object(obj))?;
    } else {
        println!(
            "{:<34} {:>5} {:>7} {:>6} {:>6} {:>7} {:>8} {:>7}",
            "distribution", "n", "gini", "nak½", "nak⅓", "hhi", "entropy", "top-1"
        );
        for Distribution { name, metrics: m } in rows {
            println!(
                "{:<34} {:>5} {:>7.4} {:>6} {:>6} {:>7.4} {:>8.4} {:>7.4}",
                name,
                m.n,
                m.gini,
                m.nakamoto_1_2,
                m.nakamoto_1_3,
                m.hhi,
                m.entropy_normalized,
                m.top_1_share
            );
        }
    }
    Ok(())
}
