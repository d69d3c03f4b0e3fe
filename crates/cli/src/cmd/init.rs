//! `deai init`: a new chain in `--data-dir` with funded development accounts and their keys.

use anyhow::{bail, Context};
use clap::Args;
use deai_api::Decimal;
use deai_chain::GenesisConfig;
use deai_store::Store;
use deai_types::{Amount, ChainId};
use serde_json::json;

use super::keys::{keys_dir, load_or_create_key};
use super::print_json;
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

/// Milliseconds since the Unix epoch by the wall clock.
pub(super) fn now_ms() -> u64 {
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
        accounts.push(key.account());
        names.push((name, key.account(), created));
    }
    let genesis =
        GenesisConfig::funded(args.chain_id.clone(), accounts, args.balance).with_time_ms(now_ms());
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
                json!({"name": n, "account": a.to_string(), "balance": Decimal(args.balance),
                    "key_created": c})
            })
            .collect();
        print_json(&json!({
            "data_dir": dir.display().to_string(),
            "chain_id": args.chain_id.as_str(),
            "genesis_hash": head.hash().to_string(),
            "state_root": head.state_root.to_string(),
            "total_supply": Decimal(state.total_supply()),
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
