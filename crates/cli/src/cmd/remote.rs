//! `deai tx … --node URL` and `deai chain … --node URL`: the commands over a running node's
//! HTTP API, through [`deai_api::Client`].
//!
//! `deai tx … --node http://HOST:PORT` and `deai chain status|block|account|metrics --node URL`
//! use a node's HTTP API instead of the chain in `--data-dir`; keys still come from
//! `--data-dir`. A transaction is signed locally: the chain id comes from `GET /v1/status`, the
//! nonce (unless `--nonce`) from `GET /v1/account/{id}` (0 for an account the node does not
//! know), the fee (unless `--fee`) is the default minimum fee of [`Params`]. It is sent
//! borsh-encoded to `POST /v1/tx`; then the CLI waits for its receipt (`GET /v1/tx/{hash}`,
//! sleeping in the node's `GET /v1/head?after=H` long poll between two looks; at most `--wait`
//! seconds, `--wait 0` returns once the node accepted it) and reports it as `deai tx` does on a
//! data directory: `ok` with the receipt, or `failed` with the ledger's error code and message
//! and a non-zero exit status (a failed transaction is in its block: only its fee was charged
//! and its nonce used). A transaction older than the node's window of receipts is reported as
//! `included`, without an outcome. Submitting several transactions from one account before a
//! block is produced needs explicit `--nonce`s (the account endpoint shows the committed nonce,
//! not the mempool's).
//!
//! The node's JSON errors `{"error", "message"}` are printed as `error: <message> (HTTP
//! <code>)`. Amounts in the JSON this module prints are decimal strings, as the API sends them.
//! `deai chain metrics --node URL` reads the current distributions from `GET
//! /v1/distributions` (the same numbers `deai chain metrics` computes from a data directory;
//! they are also Prometheus gauges at `GET URL/metrics`). `deai chain verify` and `deai chain
//! metrics --over-time` need the whole block history and only run on a data directory (the
//! node's own, or a copy). Plain `http://` only: this build has no TLS client.

use std::time::Duration;

use anyhow::bail;
use deai_analytics::Distribution;
use deai_api::{Client, TxStatus};
use deai_types::{Height, Keypair, Nonce, Params, Tx};
use serde_json::json;

use super::chain::{print_block, print_distributions, ChainCommand};
use super::keys::resolve_account;
use super::print_json;
use super::tx::{build_call, TxArgs};
use crate::Global;

/// The client of a node's HTTP API.
pub(super) type NodeClient = Client;

/// `deai tx … --node URL`: sign locally, submit over HTTP, wait for the receipt.
pub(super) fn run_tx_remote(
    args: TxArgs,
    key: &Keypair,
    url: &str,
    global: &Global,
) -> anyhow::Result<()> {
    let client = Client::new(url)?;
    let status = client.status()?;
    let call = build_call(args.call, key.account(), global)?;
    let nonce = match args.opts.nonce {
        Some(n) => n,
        None => match client.account(&key.account()) {
            Ok(account) => account.nonce.0,
            Err(err) if err.is_not_found() => 0,
            Err(err) => return Err(err.into()),
        },
    };
    let fee = args.opts.fee.unwrap_or(Params::default().min_fee);
    let signed = key.sign_tx(Tx {
        chain_id: status.chain_id.clone(),
        nonce: Nonce(nonce),
        fee,
        call,
    });
    let hash = client.submit_tx(&signed)?;
    let node = client.base();
    let wait = args.opts.wait.unwrap_or(30);
    if wait == 0 {
        if global.json {
            print_json(
                &json!({"status": "accepted", "tx": hash.to_string(), "node": node,
                "nonce": nonce}),
            )?;
        } else {
            println!("transaction {hash} accepted by the node at {node} (nonce {nonce}); not waiting for a block");
        }
        return Ok(());
    }
    let receipt = client.wait_for_receipt(&hash, Duration::from_secs(wait))?;
    match receipt.status {
        TxStatus::Pending => bail!(
            "transaction {hash} was accepted by the node but is not in a final block after \
             {wait} s; ask for its receipt later at {node}/v1/tx/{hash}"
        ),
        TxStatus::Succeeded {
            height,
            index,
            receipt,
        } => {
            if global.json {
                print_json(
                    &json!({"status": "ok", "tx": hash.to_string(), "height": height,
                    "index": index, "receipt": serde_json::to_value(&receipt)?, "node": node,
                    "nonce": nonce}),
                )?;
            } else {
                println!(
                    "transaction {hash} included in block {height} (index {index}) by the node at {node}: ok"
                );
                println!("receipt: {}", serde_json::to_string(&receipt)?);
            }
            Ok(())
        }
        TxStatus::Failed {
            height,
            index,
            error,
        } => {
            if global.json {
                print_json(&json!({"status": "failed", "tx": hash.to_string(),
                    "height": height, "index": index, "error": error.message,
                    "error_code": error.code, "error_detail": serde_json::to_value(&error.detail)?,
                    "node": node, "nonce": nonce}))?;
            }
            bail!(
                "transaction {hash} was included in block {height} but failed: {} ({}; only its \
                 fee was charged and its nonce used)",
                error.message,
                error.code
            )
        }
        TxStatus::Included { height, index } => {
            if global.json {
                print_json(&json!({"status": "included", "tx": hash.to_string(),
                    "height": height, "index": index, "node": node, "nonce": nonce}))?;
            } else {
                println!(
                    "transaction {hash} included in block {height} (index {index}) by the node at {node}; \
                     its outcome is older than the node's window of receipts"
                );
            }
            Ok(())
        }
    }
}

/// `deai chain … --node URL`.
pub(super) fn run_chain_remote(
    cmd: ChainCommand,
    client: &NodeClient,
    global: &Global,
) -> anyhow::Result<()> {
    let node = client.base();
    match cmd {
        ChainCommand::Status { .. } => {
            let status = client.status()?;
            if global.json {
                let mut value = serde_json::to_value(&status)?;
                if let Some(obj) = value.as_object_mut() {
                    obj.insert("node".into(), json!(node));
                }
                print_json(&value)?;
            } else {
                println!("node       {node} ({})", status.mode);
                println!("chain      {}", status.chain_id);
                println!("height     {}", status.height);
                println!("head hash  {}", status.head_hash);
                println!("state root {}", status.state_root);
                println!("timestamp  {} ms", status.timestamp_ms);
                println!("mempool    {} txs", status.mempool);
                println!("supply     {}", status.total_supply);
            }
        }
        ChainCommand::Block { height, .. } => {
            print_block(&client.block(Height(height))?, global)?;
        }
        ChainCommand::Account { account, .. } => {
            let id = resolve_account(global, &account)?;
            let answer = client.account(&id)?;
            if global.json {
                print_json(&json!({
                    "account": answer.id.to_string(),
                    "exists": answer.exists,
                    "balance": answer.balance.to_string(),
                    "nonce": answer.nonce,
                    "staked": answer.staked.to_string(),
                    "node": node,
                }))?;
            } else {
                println!("account      {id}");
                println!("balance      {}", answer.balance);
                println!("nonce        {}", answer.nonce);
                println!("staked       {}", answer.staked);
                println!("(from the node at {node}; stake on it, take and unbonding entries are not in its API)");
            }
        }
        ChainCommand::Verify { .. } => bail!(
            "`deai chain verify` re-executes every block and cannot run against --node {node}: run \
             it on a data directory, e.g. the node's own (`deai chain verify --data-dir DIR`) or a \
             copy"
        ),
        ChainCommand::Metrics {
            over_time: true, ..
        } => bail!(
            "`deai chain metrics --over-time` replays every block from genesis and cannot run \
             against --node {node}: run it on a data directory (`deai chain metrics --over-time \
             --data-dir DIR`, e.g. the node's own or a copy); without --over-time the node \
             serves the current distributions"
        ),
        ChainCommand::Metrics { .. } => {
            let answer = client.distributions::<Distribution>()?;
            if !global.json {
                println!(
                    "(from the node at {node}, height {}, state root {})",
                    answer.height, answer.state_root
                );
            }
            print_distributions(&answer.distributions, global)?;
        }
    }
    Ok(())
}
