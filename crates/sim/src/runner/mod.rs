//! The run loop: actors act, the embedded chain orders and judges, the report records.
//!
//! # One round of a Yuma task, block by block
//! Rounds are [`ROUND_BLOCKS`] blocks long; each block has a role:
//!
//! | offset | what the block carries |
//! |---|---|
//! | 0 | miners' `Commit(Update)`; the previous round's `RecordModel`; slash evidence |
//! | 1 | miners' `Reveal(Update)` — blob address, length and salt; the blobs are put in the blob store |
//! | 2 | validators' `Commit(Weights)` after scoring the revealed updates off-chain |
//! | 3 | validators' `Reveal(Weights)`; at the end of this block the ledger runs the epoch |
//!
//! With blind validation (`task.blind_validation`) offsets 1 and 2 swap: miners hand their
//! preimages to the task's relay off-chain, validators score the relayed updates (seeded
//! order, relay-made ids, no origin) and commit their weights in block 1, and only then do the
//! miners reveal on chain in block 2. The task's windows say so ([`setup`]), so a reveal
//! before the weights are bound is rejected by the ledger.
//!
//! After the epoch the aggregator (the task proposer) applies the task's rule, in canonical
//! mode, to the updates of the miners the epoch rewarded (incentive > 0), hashes the new global
//! model and records it in the next round's first block with the list of contributing updates,
//! so anyone can re-derive it from the blobs. A watchdog (the proposer too) submits slash
//! evidence for every commitment whose reveal window closed without a reveal.
//!
//! # Driver and roles
//! What each participant does — train, put a blob, commit, reveal, fetch and check an update,
//! score, aggregate, record, watch — is the role code of [`deai_roles`], written once against
//! its `ChainPort`; here every role acts through the run's [`EmbeddedPort`]. The simulator is
//! the lockstep driver around them: which actors act before which block, training in
//! parallel, making each block, the off-chain messages between colluders, the relay of a blind
//! round, and the report. The roles submit in the order the driver calls them, so every block
//! holds its transactions in the same order whatever the transport.
//!
//! # Modules
//! - [`records`]: what a run records ([`RunReport`], [`RoundRecord`], …).
//! - [`setup`]: the cast of actors and their roles, genesis, the task and its windows.
//! - [`tx`]: blocks, reveal phases, the proposer's turn, reading reveals back.
//! - [`round`]: what every round does whatever its mechanism, and the one end of a round.
//! - [`yuma`]: the phases of a Yuma round; `crate::pv` holds those of a proposer/voter round.

mod records;
pub(crate) mod round;
mod setup;
pub(crate) mod tx;
mod yuma;

use std::collections::BTreeMap;
use std::path::PathBuf;

use deai_ml::{LocalCfg, ModelKind};
use deai_roles::{EmbeddedPort, TaskProposer};
use deai_types::TaskId;
use serde::Serialize;

use crate::data::RunData;
use crate::scenario::MechanismCfg;
use crate::{Scenario, SimError};

pub use deai_roles::{apply_step, model_hash};
pub use records::{ActorInfo, PvOutcome, RoundRecord, RunReport, SlashRecord};
pub use setup::PV_TEST_SHARE;
pub(crate) use setup::{Actor, Roles};

/// Blocks per round (see the module docs).
pub const ROUND_BLOCKS: u64 = 4;
/// Milliseconds between blocks (block timestamps are inputs, not the clock).
pub const BLOCK_MS: u64 = 1_000;

/// Options of a run that are not part of the scenario.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Folder for the chain database and blobs (created; must not hold a chain yet).
    pub dir: PathBuf,
}

/// How a run is measured. Only [`Measurement::Protocol`] is the protocol; the other two exist
/// to split an accuracy gap between the mechanism and the data the adversaries never
/// contributed, and the ledger knows nothing about them (the recorded models and contributor
/// lists stay re-derivable by `deai chain verify`).
///
/// - `Protocol` vs `OracleAggregation`: same actors, same revealed updates; only which updates
///   enter the global model differs. The difference is what the admission rule (consensus
///   incentive > 0) costs or gains.
/// - `OracleAggregation` vs `HonestOnly`: the oracle aggregates the same honest updates the
///   honest-only run would if its mechanism admitted every honest update; `HonestOnly` runs the
///   mechanism, so it also pays for the honest updates scoring leaves out.
/// - `HonestOnly` vs the scenario's [`Scenario::all_honest`] (adversaries replaced by honest
///   actors): the data of the adversaries' shards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Measurement {
    /// The protocol: each round aggregates the updates of the miners consensus rewarded.
    #[default]
    Protocol,
    /// Adversaries act and are paid as usual, but each round's global model aggregates exactly
    /// the honest miners' valid revealed updates (an oracle that knows who is honest): the best
    /// any admission rule can do with what was revealed. Yuma tasks only.
    OracleAggregation,
    /// Adversarial miners and validators are not created. The honest actors keep their slots:
    /// the shards, evaluation sets, keys and training seeds they have in the full scenario;
    /// the adversaries' shards are simply not trained on.
    HonestOnly,
}

impl Measurement {
    /// Whether `scenario` can be measured this way: the oracle needs a Yuma task.
    pub fn check(self, scenario: &Scenario) -> Result<(), SimError> {
        if self == Self::OracleAggregation && scenario.task.mechanism != MechanismCfg::Yuma {
            return Err(SimError::Scenario {
                path: "<scenario>".into(),
                reason: "`task.mechanism`: oracle aggregation is measured on Yuma tasks only, this one is proposer_voter".into(),
            });
        }
        Ok(())
    }
}

/// A running simulation.
pub struct Sim {
    pub(crate) scenario: Scenario,
    pub(crate) data: RunData,
    /// The embedded chain and blob store, as every role reaches them.
    pub(crate) port: EmbeddedPort,
    pub(crate) kind: ModelKind,
    pub(crate) cfg: LocalCfg,
    /// The task proposer's identity.
    pub(crate) proposer: Actor,
    /// The task proposer's role: the task's rule in canonical mode, the model records, the
    /// watchdog.
    pub(crate) task_proposer: TaskProposer,
    /// Miners first, then validators; UIDs follow this order.
    pub(crate) actors: Vec<Actor>,
    /// The roles each actor plays, with their behaviours, in actor order.
    pub(crate) roles: Vec<Roles>,
    pub(crate) task: TaskId,
    /// The global model.
    pub(crate) global: Vec<f32>,
    /// The step the last round applied to the global model, if any.
    pub(crate) last_step: Option<Vec<f32>>,
    /// The last round's valid updates and its step, which validators compare updates with.
    pub(crate) seen: Vec<Vec<f32>>,
    /// Each miner UID's consensus weight in the last epoch, scaled so the largest is 65535.
    pub(crate) last_consensus: BTreeMap<u16, u16>,
    pub(crate) slashes: Vec<SlashRecord>,
    pub(crate) records: Vec<RoundRecord>,
    /// Timestamp of the last block (simulated: [`BLOCK_MS`] per block).
    pub(crate) time_ms: u64,
    /// The stake-weighted vote of the last settled proposer/voter round.
    pub(crate) last_vote: Option<f64>,
    /// How this run is measured.
    pub(crate) measurement: Measurement,
}

impl Sim {
    /// Runs every round; `progress` is called after each.
    pub fn run(mut self, mut progress: impl FnMut(&RoundRecord)) -> Result<RunReport, SimError> {
        for round in 0..self.scenario.rounds {
            let rec = self.round(round)?;
            progress(&rec);
            self.records.push(rec);
        }
        // Record the last model and submit the last evidence.
        self.submit_proposer()?;
        self.block()?;
        self.port.flush()?;
        Ok(RunReport {
            scenario: self.scenario.clone(),
            actors: self.actors.iter().map(|a| a.info.clone()).collect(),
            rounds: self.records,
            slashes: self.slashes,
            state_root: self.port.chain().state().root(),
            height: self.port.chain().state().height().0,
            chain_dir: (self.port.chain().store().path().parent())
                .map_or_else(PathBuf::new, std::path::Path::to_path_buf),
            measurement: self.measurement,
        })
    }

    /// Plays round `round` under the task's mechanism.
    fn round(&mut self, round: u64) -> Result<RoundRecord, SimError> {
        match self.scenario.task.mechanism {
            MechanismCfg::Yuma => self.yuma_round(round),
            MechanismCfg::ProposerVoter => self.pv_round(round),
        }
    }
}
