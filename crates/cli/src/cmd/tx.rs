//! `deai tx …`: sign a transaction with a named key and apply it.
//!
//! `deai tx …` runs the chain embedded: it signs the transaction with `--from`'s key and the
//! account's next nonce, admits it to the mempool, produces a block at the current wall-clock
//! time (at least one millisecond after the parent) and prints the transaction's receipt, or its
//! `TxError` (the block still records the failed transaction, which pays its fee). With
//! `--node URL` it goes to a running node instead and reports the node's receipt the same way
//! (module `remote`).

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use deai_api::Decimal;
use deai_store::{EmbeddedChain, EmbeddedConfig};
use deai_types::{
    AccountId, Amount, Call, CommitKey, CommitKind, Fixed, Hash32, Mechanism, Nonce, ParamChange,
    PhaseWindow, ProposalId, Role, Round, SignedTx, TaskId, TaskSpec, Tx, Window,
};
use serde_json::json;

use super::init::now_ms;
use super::keys::{load_key, resolve_account};
use super::print_json;
use super::remote::run_tx_remote;
use crate::Global;

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
    /// With --node: seconds to wait for the transaction's receipt (0: return once the node
    /// accepted it) [default: 30].
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

fn kind(k: KindArg) -> CommitKind {
    match k {
        KindArg::Update => CommitKind::Update,
        KindArg::Weights => CommitKind::Weights,
        KindArg::Vote => CommitKind::Vote,
        KindArg::Verdict => CommitKind::Verdict,
    }
}

pub(super) fn build_call(
    cmd: TxCommand,
    signer: AccountId,
    global: &Global,
) -> anyhow::Result<Call> {
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
        EmbeddedConfig::default(),
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
                    "height": height, "index": index, "receipt": Decimal(receipt)}))?;
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
                    "error_detail": Decimal(err)}))?;
            }
            bail!(
                "transaction {hash} was included in block {height} but failed: {err} \
                 (only its fee was charged and its nonce used)"
            )
        }
    }
}
