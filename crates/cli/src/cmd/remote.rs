//! `deai tx … --node URL` and `deai chain … --node URL`: a blocking client of a running node's
//! HTTP API.
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

use anyhow::{anyhow, bail};
use deai_analytics::Distribution;
use deai_types::{Block, ChainId, Hash32, Keypair, Nonce, Params, SignedTx, Tx};
use serde_json::json;

use super::chain::{print_block, print_distributions, ChainCommand};
use super::keys::resolve_account;
use super::print_json;
use super::tx::{build_call, TxArgs};
use crate::Global;

/// Largest response body read from a node (a block of many transactions as JSON).
const MAX_RESPONSE_BYTES: u64 = 256 << 20;

/// A blocking client of a node's HTTP API (`deai_node::http`).
pub(super) struct NodeClient {
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
    pub(super) fn new(url: &str) -> anyhow::Result<NodeClient> {
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
pub(super) fn run_tx_remote(
    args: TxArgs,
    key: &Keypair,
    url: &str,
    global: &Global,
) -> anyhow::Result<()> {
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
pub(super) fn run_chain_remote(
    cmd: ChainCommand,
    client: &NodeClient,
    global: &Global,
) -> anyhow::Result<()> {
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
