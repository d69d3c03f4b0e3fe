//! `deai chain …`: inspect and verify the chain in `--data-dir` (or, with `--node URL`, a
//! running node's: module `remote`).

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use deai_analytics::{Distribution, Knowledge};
use deai_api::Decimal;
use deai_chain::State;
use deai_report::Table;
use deai_store::{verify_chain, Store};
use deai_types::{AccountId, Block, Height};
use serde_json::json;

use super::keys::resolve_account;
use super::print_json;
use super::remote::{run_chain_remote, NodeClient};
use crate::Global;

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
    pub(super) fn node(&self) -> Option<&str> {
        let (ChainCommand::Status { remote }
        | ChainCommand::Block { remote, .. }
        | ChainCommand::Account { remote, .. }
        | ChainCommand::Verify { remote }
        | ChainCommand::Metrics { remote, .. }) = self;
        remote.node.as_deref()
    }
}

fn open_store(global: &Global) -> anyhow::Result<Store> {
    Ok(Store::open(&global.data_dir)?)
}

fn account_json(state: &State, id: &AccountId) -> serde_json::Value {
    let unbonding: Vec<_> = state
        .unbonding_of(id)
        .map(|(hotkey, release, amount)| {
            json!({"hotkey": hotkey.to_string(), "release_height": release, "amount": Decimal(amount)})
        })
        .collect();
    json!({
        "account": id.to_string(),
        "exists": state.account(id).is_some(),
        "balance": Decimal(state.balance_of(id)),
        "nonce": state.nonce_of(id),
        "staked": Decimal(state.staker_stake(id)),
        "stake_on_it": Decimal(state.hotkey_stake(id)),
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
                "total_supply": Decimal(state.total_supply()),
                "supply": Decimal(state.supply()),
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
            let replay = deai_analytics::replay(&store, &Knowledge::default())
                .context("replaying the chain from genesis")?;
            if global.json {
                print_json(&serde_json::to_value(&replay.epochs)?)?;
            } else if replay.epochs.is_empty() {
                println!(
                    "no epoch has ended on this chain yet (height {})",
                    replay.head
                );
            } else {
                let table = Table {
                    headers: deai_analytics::layer_columns(),
                    rows: deai_analytics::layer_rows(&replay.epochs),
                };
                print!("{}", table.to_markdown());
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
                let models = deai_roles::verify::verify_models(&store.state()?, &blobs);
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

pub(super) fn print_block(block: &Block, global: &Global) -> anyhow::Result<()> {
    if global.json {
        // Amounts as decimal strings (as the HTTP API sends them): a u128 above u64::MAX has
        // no exact JSON number.
        return print_json(&json!({"hash": block.header.hash().to_string(),
            "block": deai_api::Decimal(block)}));
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

/// The holdings distributions of a ledger state and their decentralization metrics.
pub fn ledger_distributions(state: &State) -> Vec<Distribution> {
    deai_analytics::state_distributions(state)
}

/// Prints a state's distributions: a table, or with `--json` one object keyed by name.
pub(super) fn print_distributions(rows: &[Distribution], global: &Global) -> anyhow::Result<()> {
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
