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
//! miners reveal on chain in block 2. The task's windows say so ([`windows`]), so a reveal
//! before the weights are bound is rejected by the ledger.
//!
//! After the epoch the aggregator (the task proposer) applies the task's rule, in canonical
//! mode, to the updates of the miners the epoch rewarded (incentive > 0), hashes the new global
//! model and records it in the next round's first block with the list of contributing updates,
//! so anyone can re-derive it from the blobs. A watchdog (the proposer too) submits slash
//! evidence for every commitment whose reveal window closed without a reveal.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use deai_aggregation::Aggregator;
use deai_chain::GenesisConfig;
use deai_ml::{LocalCfg, ModelKind};
use deai_store::{BlobStore, EmbeddedChain, NodeConfig};
use deai_types::{
    commitment_hash, AccountId, Amount, Call, ChainId, CommitKey, CommitKind, Epoch, Evidence,
    Fixed, Hash32, Keypair, Mechanism, Params, PhaseWindow, Role, Round, SignedTx, TaskId,
    TaskSpec, Tx, Uid, UpdatePreimage, WeightsPreimage, Window,
};
use serde::Serialize;

use crate::actors::{
    Candidate, ColludingValidator, ColludingVoter, CopyFreeRider, EvalSets, HonestMiner,
    HonestValidator, HonestVoter, LabelFlipper, LazyValidator, LazyVoter, Miner, MinerView,
    NoiseFreeRider, Overfitter, SilentMiner, SilentValidator, SilentVoter, Validator,
    ValidatorView, Voter,
};
use crate::data::RunData;
use crate::scenario::{
    FreeRideMode, MechanismCfg, MinerGroup, MinerKind, ValidatorGroup, ValidatorKind,
};
use crate::{Scenario, SimError};

/// Blocks per round (see the module docs).
pub const ROUND_BLOCKS: u64 = 4;
/// Milliseconds between blocks (block timestamps are inputs, not the clock).
pub const BLOCK_MS: u64 = 1_000;
/// Fee paid by every transaction of the simulation.
const FEE: u128 = 1;

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

/// One actor as the report lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ActorInfo {
    /// `miner-3`, `validator-1`, …
    pub name: String,
    /// Miner or validator.
    pub role: Role,
    /// Behaviour (`honest`, `lazy`, `label_flipper`, …).
    pub kind: String,
    /// Whether it follows the protocol.
    pub honest: bool,
    /// Its account.
    pub account: AccountId,
    /// Its UID on the task.
    pub uid: u16,
}

/// What happened in one round.
#[derive(Debug, Clone, Serialize)]
pub struct RoundRecord {
    /// Round number.
    pub round: u64,
    /// Test accuracy of the global model after the round.
    pub accuracy: f32,
    /// Test loss of the global model after the round.
    pub loss: f32,
    /// Reward paid to each actor this round (actor order).
    pub rewards: Vec<u128>,
    /// Incentive of each actor (miners; 0 for validators) as a float for the report.
    pub incentive: Vec<f64>,
    /// Dividends of each actor (validators; 0 for miners).
    pub dividends: Vec<f64>,
    /// Miners whose updates went into the global model.
    pub contributors: Vec<usize>,
    /// Updates rejected off-chain (bad blob) with the reason: (actor, reason).
    pub rejected: Vec<(usize, String)>,
    /// Blake3 of the new global model.
    pub model_hash: Hash32,
    /// State root after the round's last block.
    pub state_root: Hash32,
    /// How a proposer/voter round went (`None` on Yuma tasks).
    pub pv: Option<PvOutcome>,
    /// Wall-clock seconds of the round (not part of any hash).
    pub seconds: f64,
}

/// How a proposer/voter round went.
#[derive(Debug, Clone, Serialize)]
pub struct PvOutcome {
    /// Actors drawn as proposers.
    pub proposers: Vec<usize>,
    /// Actors drawn as voters.
    pub voters: Vec<usize>,
    /// Each voter's score (actor, accuracy change), for those that revealed.
    pub votes: Vec<(usize, f64)>,
    /// The stake-weighted vote the ledger computed.
    pub vote_sum: f64,
    /// Whether the ledger accepted the round's model.
    pub accepted: bool,
    /// No proposer or no voter revealed: nothing was paid.
    pub void: bool,
}

/// A slash that landed.
#[derive(Debug, Clone, Serialize)]
pub struct SlashRecord {
    /// Round in which the evidence was submitted.
    pub round: u64,
    /// The offender (actor index).
    pub actor: usize,
    /// What it did.
    pub offence: String,
    /// Stake it lost.
    pub amount: u128,
}

/// The outcome of a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The scenario that ran.
    pub scenario: Scenario,
    /// The actors, miners first.
    pub actors: Vec<ActorInfo>,
    /// Per-round records.
    pub rounds: Vec<RoundRecord>,
    /// Slashes applied.
    pub slashes: Vec<SlashRecord>,
    /// Final state root.
    pub state_root: Hash32,
    /// Chain height at the end.
    pub height: u64,
    /// Folder of the chain database the run left (replayed by `layers`).
    pub chain_dir: PathBuf,
    /// How the run was measured ([`Measurement::Protocol`] for a run of the protocol).
    pub measurement: Measurement,
}

impl RunReport {
    /// Total reward of each actor over the run.
    pub fn total_rewards(&self) -> Vec<u128> {
        let mut t = vec![0u128; self.actors.len()];
        for r in &self.rounds {
            for (a, &x) in t.iter_mut().zip(&r.rewards) {
                *a = a.saturating_add(x);
            }
        }
        t
    }

    /// Share of all miner rewards earned by honest miners (1 when miners earned nothing).
    pub fn honest_miner_share(&self) -> f64 {
        let totals = self.total_rewards();
        let (mut honest, mut all) = (0u128, 0u128);
        for (a, &t) in self.actors.iter().zip(&totals) {
            if a.role == Role::Miner {
                all += t;
                if a.honest {
                    honest += t;
                }
            }
        }
        if all == 0 {
            1.0
        } else {
            honest as f64 / all as f64
        }
    }

    /// Test accuracy after the last round.
    pub fn final_accuracy(&self) -> f32 {
        self.rounds.last().map_or(0.0, |r| r.accuracy)
    }
}

fn key_for(seed: u64, index: u64) -> Keypair {
    let h = blake3::hash(
        &[
            b"deai/sim/key".as_slice(),
            &seed.to_le_bytes(),
            &index.to_le_bytes(),
        ]
        .concat(),
    );
    Keypair::from_seed(*h.as_bytes())
}

pub(crate) fn salt_for(seed: u64, round: u64, actor: usize, kind: u8) -> [u8; 32] {
    let bytes = [
        b"deai/sim/salt".as_slice(),
        &seed.to_le_bytes(),
        &round.to_le_bytes(),
        &(actor as u64).to_le_bytes(),
        &[kind],
    ]
    .concat();
    *blake3::hash(&bytes).as_bytes()
}

/// Little-endian bytes of an f32 vector: the wire and blob format of updates and models.
pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Parses an update blob, rejecting a wrong length or a non-finite value.
pub fn parse_update(bytes: &[u8], expected_len: usize) -> Result<Vec<f32>, String> {
    if bytes.len() != expected_len * 4 {
        return Err(format!(
            "blob holds {} bytes, the model needs {} f32 values ({} bytes)",
            bytes.len(),
            expected_len,
            expected_len * 4
        ));
    }
    let v: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(format!("value {i} is not finite"));
    }
    Ok(v)
}

/// Applies `step` to `global` in fixed order: the canonical model update.
pub fn apply_step(global: &[f32], step: &[f32]) -> Vec<f32> {
    global.iter().zip(step).map(|(g, s)| g + s).collect()
}

/// Hash of a model as recorded on the ledger.
pub fn model_hash(params: &[f32]) -> Hash32 {
    Hash32(*blake3::hash(&f32_bytes(params)).as_bytes())
}

pub(crate) struct Actor {
    pub(crate) info: ActorInfo,
    key: Keypair,
    nonce: u64,
    /// Index of the actor in the full scenario (miners first, then validators): seeds its key
    /// and its training, so a [`Measurement::HonestOnly`] run keeps every honest actor's.
    slot: u64,
}

impl Actor {
    /// A participant not registered yet (its UID is filled in after registration), with the
    /// key of `slot` (0 is the proposer, actors start at 1).
    fn new(seed: u64, slot: u64, name: String, role: Role, kind: &str, honest: bool) -> Self {
        let key = key_for(seed, slot);
        let info = ActorInfo {
            name,
            role,
            kind: kind.into(),
            honest,
            account: key.account(),
            uid: 0,
        };
        Self {
            info,
            key,
            nonce: 0,
            slot,
        }
    }
}

/// What an actor does in each role it can be given: a Yuma miner has only `miner`, a Yuma
/// validator only `validator`; on a proposer/voter task everyone has `miner` (as proposer) and
/// `voter`.
pub(crate) struct Behaviour {
    pub(crate) miner: Option<Box<dyn Miner>>,
    pub(crate) validator: Option<Box<dyn Validator>>,
    pub(crate) voter: Option<Box<dyn Voter>>,
}

/// A preimage an actor will reveal: (actor, encoded preimage).
pub(crate) type Preimage = (usize, Vec<u8>);

/// Share of a miner's shard it keeps as its own test split on proposer/voter tasks.
pub const PV_TEST_SHARE: f64 = 0.2;

/// A miner's behaviours. On a proposer/voter task the miner keeps [`PV_TEST_SHARE`] of its
/// shard (seeded) as its test split for voting and trains on the rest.
fn miner_behaviour(
    data: &RunData,
    shared: &Arc<deai_ml::Dataset>,
    g: &MinerGroup,
    shard: Vec<usize>,
    pv: bool,
    seed: u64,
    index: usize,
) -> Result<Behaviour, SimError> {
    let (train, test) = if pv {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        let mut s = shard;
        s.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(
            seed ^ 0x7e57_0000 ^ index as u64,
        ));
        let k = ((s.len() as f64 * PV_TEST_SHARE).ceil() as usize).min(s.len().saturating_sub(1));
        let train = s.split_off(k);
        (train, s)
    } else {
        (shard, Vec::new())
    };
    let test_set = || data.train.subset(&test).map_err(deai_ml::MlError::from);
    let miner: Box<dyn Miner> = match g.kind {
        MinerKind::Honest => Box::new(HonestMiner::new(shared.clone(), train)),
        MinerKind::LabelFlipper => Box::new(LabelFlipper::new(&data.train, &train)?),
        MinerKind::Overfitter => {
            Box::new(Overfitter::new(&data.train, &train, &data.validator_sets)?)
        }
        MinerKind::FreeRider => match g.mode.unwrap_or(FreeRideMode::Noise) {
            FreeRideMode::Noise => Box::new(NoiseFreeRider::new(0.01)),
            FreeRideMode::Copy => Box::new(CopyFreeRider),
        },
        MinerKind::Silent => Box::new(SilentMiner),
    };
    let voter: Option<Box<dyn Voter>> = if pv {
        Some(match g.kind {
            MinerKind::Honest => Box::new(HonestVoter::new(test_set()?)),
            MinerKind::LabelFlipper => {
                let mut flipped = test_set()?;
                for l in flipped.labels_mut() {
                    *l = 9u8.saturating_sub(*l);
                }
                Box::new(HonestVoter::new(flipped))
            }
            MinerKind::Overfitter | MinerKind::FreeRider => Box::new(LazyVoter),
            MinerKind::Silent => Box::new(SilentVoter),
        })
    } else {
        None
    };
    Ok(Behaviour {
        miner: Some(miner),
        validator: None,
        voter,
    })
}

/// The report name of a validator kind and whether it follows the protocol.
fn validator_kind(kind: ValidatorKind) -> (&'static str, bool) {
    match kind {
        ValidatorKind::Honest => ("honest", true),
        ValidatorKind::Lazy => ("lazy", false),
        ValidatorKind::Colluding => ("colluding", false),
        ValidatorKind::Silent => ("silent", false),
    }
}

/// A validator's behaviours. On a proposer/voter task a validator proposes by training on its
/// evaluation set (a lazy one copies the last step, a silent one never reveals) and votes on
/// the same set.
fn validator_behaviour(g: &ValidatorGroup, eval: EvalSets, pv: bool) -> Behaviour {
    if pv {
        let own = eval.public;
        let all: Vec<usize> = (0..own.len()).collect();
        let trainer =
            || -> Box<dyn Miner> { Box::new(HonestMiner::new(Arc::new(own.clone()), all.clone())) };
        let (miner, voter): (Box<dyn Miner>, Box<dyn Voter>) = match g.kind {
            ValidatorKind::Honest => (trainer(), Box::new(HonestVoter::new(own.clone()))),
            ValidatorKind::Lazy => (Box::new(CopyFreeRider), Box::new(LazyVoter)),
            ValidatorKind::Colluding => (
                trainer(),
                Box::new(ColludingVoter::new(own.clone(), g.partner.unwrap_or(0))),
            ),
            ValidatorKind::Silent => (Box::new(SilentMiner), Box::new(SilentVoter)),
        };
        return Behaviour {
            miner: Some(miner),
            validator: None,
            voter: Some(voter),
        };
    }
    let validator: Box<dyn Validator> = match g.kind {
        ValidatorKind::Honest => Box::new(HonestValidator::new(eval)),
        ValidatorKind::Lazy => Box::new(LazyValidator),
        ValidatorKind::Colluding => Box::new(ColludingValidator::new(eval, g.partner.unwrap_or(0))),
        ValidatorKind::Silent => Box::new(SilentValidator),
    };
    Behaviour {
        miner: None,
        validator: Some(validator),
        voter: None,
    }
}

/// The task's commit/reveal windows (offsets in a round of [`ROUND_BLOCKS`] blocks).
///
/// Yuma, not blind: update commit 0, update reveal 1, weights commit 2, weights reveal 3.
/// Yuma, blind: update commit 0, weights commit 1 (on the relayed updates), update reveal 2,
/// weights reveal 3 — nobody links an update to its miner before the weights are bound.
/// Proposer/voter: update commit 0, update reveal 1, vote commit 2, vote reveal 3.
fn windows(s: &Scenario) -> Vec<PhaseWindow> {
    let w = |kind, c: u64, r: u64| PhaseWindow {
        kind,
        commit: Window {
            start: c,
            end: c + 1,
        },
        reveal: Window {
            start: r,
            end: r + 1,
        },
    };
    match s.task.mechanism {
        MechanismCfg::ProposerVoter => {
            vec![w(CommitKind::Update, 0, 1), w(CommitKind::Vote, 2, 3)]
        }
        MechanismCfg::Yuma if s.task.blind_validation => {
            vec![w(CommitKind::Update, 0, 2), w(CommitKind::Weights, 1, 3)]
        }
        MechanismCfg::Yuma => vec![w(CommitKind::Update, 0, 1), w(CommitKind::Weights, 2, 3)],
    }
}

/// A running simulation.
pub struct Sim {
    pub(crate) scenario: Scenario,
    pub(crate) data: RunData,
    pub(crate) chain: EmbeddedChain,
    pub(crate) blobs: BlobStore,
    pub(crate) aggregator: Box<dyn Aggregator>,
    pub(crate) kind: ModelKind,
    pub(crate) cfg: LocalCfg,
    pub(crate) proposer: Actor,
    pub(crate) actors: Vec<Actor>,
    pub(crate) behaviours: Vec<Behaviour>,
    pub(crate) task: TaskId,
    pub(crate) global: Vec<f32>,
    pub(crate) last_step: Option<Vec<f32>>,
    pub(crate) seen: Vec<Vec<f32>>,
    pub(crate) last_consensus: BTreeMap<u16, u16>,
    pub(crate) pending_record: Option<Call>,
    pub(crate) pending_slashes: Vec<(usize, Evidence)>,
    pub(crate) slashes: Vec<SlashRecord>,
    pub(crate) records: Vec<RoundRecord>,
    pub(crate) time_ms: u64,
    /// The stake-weighted vote of the last settled proposer/voter round.
    pub(crate) last_vote: Option<f64>,
    /// How this run is measured.
    pub(crate) measurement: Measurement,
}

impl Sim {
    /// Sets up the chain, the task and the actors (genesis, stakes, proposal, registrations).
    pub fn new(scenario: &Scenario, opts: &RunOptions) -> Result<Self, SimError> {
        Self::measured(scenario, opts, Measurement::Protocol)
    }

    /// [`Sim::new`] for a run measured as `measurement` (see [`Measurement`]).
    pub fn measured(
        scenario: &Scenario,
        opts: &RunOptions,
        measurement: Measurement,
    ) -> Result<Self, SimError> {
        scenario.validate().map_err(|reason| SimError::Scenario {
            path: "<scenario>".into(),
            reason,
        })?;
        measurement.check(scenario)?;
        let pv = scenario.task.mechanism == MechanismCfg::ProposerVoter;
        let honest_only = measurement == Measurement::HonestOnly;
        let data = RunData::load(scenario)?;
        let kind: ModelKind = match scenario.training.model.as_str() {
            "cnn" => ModelKind::Cnn,
            _ => ModelKind::Mlp,
        };
        let cfg = LocalCfg {
            model: kind,
            epochs: scenario.training.local_epochs,
            batch: scenario.training.batch,
            lr: scenario.training.lr,
            momentum: scenario.training.momentum,
            ..LocalCfg::default()
        };
        let aggregator =
            deai_aggregation::from_spec(&scenario.task.aggregation, &serde_json::json!({}))
                .map_err(|e| SimError::Scenario {
                    path: "<scenario>".into(),
                    reason: format!("`task.aggregation`: {e}"),
                })?;
        if !aggregator.supports_canonical() {
            return Err(SimError::Scenario {
                path: "<scenario>".into(),
                reason: format!("`task.aggregation`: {} has no canonical mode, so its result cannot be recorded on the ledger", aggregator.name()),
            });
        }
        std::fs::create_dir_all(&opts.dir).map_err(|e| SimError::Io {
            path: opts.dir.clone(),
            reason: e.to_string(),
        })?;
        let blobs = BlobStore::open(opts.dir.join("blobs"))?;

        // Actors: miners first (UIDs 0..m), then validators.
        let seed = scenario.seed;
        let proposer = Actor::new(
            seed,
            0,
            "proposer".into(),
            Role::Validator,
            "proposer",
            true,
        );
        let shared_train = Arc::new(data.train.clone());
        let mut actors = Vec::new();
        let mut behaviours = Vec::new();
        let mut stakes = Vec::new();
        let mut miner_index = 0usize;
        for g in &scenario.miners {
            for _ in 0..g.count {
                let shard = data.partition.clients[miner_index].clone();
                let b = miner_behaviour(&data, &shared_train, g, shard, pv, seed, miner_index)?;
                let Some(m) = &b.miner else {
                    return Err(SimError::Actor(format!(
                        "miner {miner_index} has no behaviour"
                    )));
                };
                if honest_only && !m.honest() {
                    miner_index += 1;
                    continue;
                }
                actors.push(Actor::new(
                    seed,
                    1 + miner_index as u64,
                    format!("miner-{miner_index}"),
                    Role::Miner,
                    m.kind(),
                    m.honest(),
                ));
                behaviours.push(b);
                stakes.push(u128::from(g.stake));
                miner_index += 1;
            }
        }
        let mut validator_index = 0usize;
        for g in &scenario.validators {
            for _ in 0..g.count {
                let eval = EvalSets {
                    public: data.validator_sets[validator_index].clone(),
                    holdout: data
                        .holdout_sets
                        .get(validator_index)
                        .filter(|h| !h.is_empty())
                        .cloned(),
                };
                let (kind, honest) = validator_kind(g.kind);
                if honest_only && !honest {
                    validator_index += 1;
                    continue;
                }
                behaviours.push(validator_behaviour(g, eval, pv));
                actors.push(Actor::new(
                    seed,
                    1 + (miner_index + validator_index) as u64,
                    format!("validator-{validator_index}"),
                    Role::Validator,
                    kind,
                    honest,
                ));
                stakes.push(u128::from(g.stake));
                validator_index += 1;
            }
        }

        // Genesis: every actor funded with its stake plus fees; the proposer with the reward.
        let fees = 10 * (scenario.rounds as u128 + 10);
        let mut accounts = vec![(
            proposer.info.account,
            Amount(u128::from(scenario.task.reward) + 100 * fees),
        )];
        for (a, &s) in actors.iter().zip(&stakes) {
            accounts.push((a.info.account, Amount(s + fees + 1_000)));
        }
        let genesis = GenesisConfig {
            chain_id: ChainId::new("deai-sim").map_err(|e| SimError::Actor(e.to_string()))?,
            genesis_time_ms: 0,
            accounts,
            stakes: Vec::new(),
            params: Params {
                pv_proposers: scenario.task.pv_proposers,
                pv_slash_to_pool: Fixed::saturating_from_f64(scenario.task.pv_slash_to_pool),
                ..Params::default()
            },
        };
        let chain = EmbeddedChain::init(&opts.dir, &genesis, NodeConfig::default())?;

        let global = kind.init(seed);
        let model_blob = blobs.put(&f32_bytes(&global))?;
        let mut sim = Self {
            scenario: scenario.clone(),
            data,
            chain,
            blobs,
            aggregator,
            kind,
            cfg,
            proposer,
            actors,
            behaviours,
            task: TaskId(0),
            global,
            last_step: None,
            seen: Vec::new(),
            last_consensus: BTreeMap::new(),
            pending_record: None,
            pending_slashes: Vec::new(),
            slashes: Vec::new(),
            records: Vec::new(),
            time_ms: 0,
            last_vote: None,
            measurement,
        };

        // Block 1: stakes and the task proposal.
        let spec = TaskSpec {
            model: model_blob,
            dataset: Hash32::of(b"deai/sim/dataset/mnist"),
            eval: Hash32::of(b"deai/sim/eval"),
            reward: Amount(u128::from(scenario.task.reward)),
            start_delay: 2,
            round_blocks: ROUND_BLOCKS,
            rounds: scenario.rounds,
            epoch_rounds: 1,
            windows: windows(scenario),
            aggregation: scenario.task.aggregation.clone(),
            min_stake: Amount(1),
            max_uids: u16::try_from(sim.actors.len()).unwrap_or(u16::MAX),
            mechanism: if pv {
                Mechanism::ProposerVoter
            } else {
                Mechanism::Yuma
            },
            miner_share: Fixed::saturating_from_f64(scenario.task.miner_share),
        };
        let mut txs = vec![sim.sign_proposer(Call::ProposeTask(spec))];
        for (i, &stake) in stakes.iter().enumerate() {
            txs.push(sim.sign(
                i,
                Call::Stake {
                    amount: Amount(stake),
                },
            ));
        }
        let produced = sim.block(txs)?;
        let task = sim
            .chain
            .state()
            .tasks()
            .map(|(id, _)| *id)
            .last()
            .ok_or_else(|| {
                SimError::Chain(format!("the task proposal failed: {:?}", produced.first()))
            })?;
        sim.task = task;

        // Block 2: registrations, in actor order so UIDs follow it.
        let txs: Vec<SignedTx> = (0..sim.actors.len())
            .map(|i| {
                sim.sign(
                    i,
                    Call::Register {
                        task,
                        role: sim.actors[i].info.role,
                    },
                )
            })
            .collect();
        sim.block(txs)?;
        for a in &mut sim.actors {
            a.info.uid = sim
                .chain
                .state()
                .uid_of(task, &a.info.account)
                .ok_or_else(|| SimError::Chain(format!("{} is not registered", a.info.name)))?
                .0;
        }
        // Wait for round 0.
        let start = sim.chain.state().task(task).map(|t| t.start.0).unwrap_or(0);
        while sim.chain.state().height().0 + 1 < start {
            sim.block(Vec::new())?;
        }
        Ok(sim)
    }

    pub(crate) fn sign(&mut self, actor: usize, call: Call) -> SignedTx {
        let a = &mut self.actors[actor];
        let tx = Tx {
            chain_id: self.chain.state().chain_id().clone(),
            nonce: deai_types::Nonce(a.nonce),
            fee: Amount(FEE),
            call,
        };
        a.nonce += 1;
        a.key.sign_tx(tx)
    }

    /// Actor `actor`'s signed commitment to `preimage` for `kind` in `round` of `task`.
    pub(crate) fn commit_tx(
        &mut self,
        actor: usize,
        task: TaskId,
        round: Round,
        kind: CommitKind,
        preimage: &[u8],
    ) -> SignedTx {
        let key = CommitKey {
            task,
            round,
            kind,
            account: self.actors[actor].info.account,
        };
        let hash = commitment_hash(&key, preimage);
        self.sign(
            actor,
            Call::Commit {
                task,
                round,
                kind,
                hash,
            },
        )
    }

    pub(crate) fn sign_proposer(&mut self, call: Call) -> SignedTx {
        let tx = Tx {
            chain_id: self.chain.state().chain_id().clone(),
            nonce: deai_types::Nonce(self.proposer.nonce),
            fee: Amount(FEE),
            call,
        };
        self.proposer.nonce += 1;
        self.proposer.key.sign_tx(tx)
    }

    /// Produces one block with `txs`; records the slashes it applied and returns the failed
    /// transactions' errors as text.
    pub(crate) fn block(&mut self, txs: Vec<SignedTx>) -> Result<Vec<String>, SimError> {
        for tx in txs {
            self.chain.submit(tx)?;
        }
        self.time_ms += BLOCK_MS;
        let produced = self.chain.produce_block(self.time_ms)?;
        let round = self.records.len() as u64;
        let mut failed = Vec::new();
        for outcome in &produced.outcomes {
            match outcome {
                Ok(receipt) => {
                    for event in &receipt.events {
                        if let deai_chain::Event::Slashed {
                            evidence,
                            offender,
                            amount,
                            ..
                        } = event
                        {
                            if let Some(actor) =
                                self.actors.iter().position(|a| a.info.account == *offender)
                            {
                                self.slashes.push(SlashRecord {
                                    round,
                                    actor,
                                    offence: evidence_name(evidence),
                                    amount: amount.0,
                                });
                            }
                        }
                    }
                }
                Err(e) => failed.push(e.to_string()),
            }
        }
        if !failed.is_empty() {
            tracing::debug!(
                height = produced.block.header.height.0,
                ?failed,
                "transactions failed"
            );
        }
        Ok(failed)
    }

    /// Runs every round; `progress` is called after each.
    pub fn run(mut self, mut progress: impl FnMut(&RoundRecord)) -> Result<RunReport, SimError> {
        for round in 0..self.scenario.rounds {
            let rec = self.round(round)?;
            progress(&rec);
            self.records.push(rec);
        }
        // Record the last model and submit the last evidence.
        let txs = self.proposer_txs();
        self.block(txs)?;
        self.chain.flush()?;
        Ok(RunReport {
            scenario: self.scenario.clone(),
            actors: self.actors.iter().map(|a| a.info.clone()).collect(),
            rounds: self.records,
            slashes: self.slashes,
            state_root: self.chain.state().root(),
            height: self.chain.state().height().0,
            chain_dir: (self.chain.store().path().parent())
                .map_or_else(PathBuf::new, std::path::Path::to_path_buf),
            measurement: self.measurement,
        })
    }

    /// The proposer's pending transactions: the previous round's model record, then the
    /// slash evidence collected since the last block.
    pub(crate) fn proposer_txs(&mut self) -> Vec<SignedTx> {
        let mut txs = Vec::new();
        if let Some(call) = self.pending_record.take() {
            txs.push(self.sign_proposer(call));
        }
        for (_, evidence) in std::mem::take(&mut self.pending_slashes) {
            txs.push(self.sign_proposer(Call::Slash { evidence }));
        }
        txs
    }

    pub(crate) fn collect_slashes(&mut self) {
        // Every missed reveal of this task whose window has closed and that is not slashed yet
        // becomes evidence for the next block.
        let height = self.chain.state().height();
        let task = self.task;
        let Some(t) = self.chain.state().task(task) else {
            return;
        };
        let mut evidence = Vec::new();
        for (key, c) in self.chain.state().commitments() {
            if key.task != task
                || c.slashed
                || !matches!(c.status, deai_chain::state::CommitStatus::Pending)
            {
                continue;
            }
            let closes = t
                .spec
                .window(key.kind)
                .and_then(|w| t.round_start(key.round).map(|s| s.0 + w.reveal.end));
            if closes.is_some_and(|end| height.0 + 1 >= end) {
                if let Some(actor) = self
                    .actors
                    .iter()
                    .position(|a| a.info.account == key.account)
                {
                    evidence.push((actor, Evidence::MissedReveal(*key)));
                }
            }
        }
        for (id, offence) in self.chain.state().offences() {
            if offence.task == task && !offence.slashed {
                if let Some(actor) = self
                    .actors
                    .iter()
                    .position(|a| a.info.account == offence.offender)
                {
                    evidence.push((actor, Evidence::Offence(*id)));
                }
            }
        }
        for (actor, ev) in evidence {
            if !self.pending_slashes.iter().any(|(_, e)| *e == ev) {
                self.pending_slashes.push((actor, ev));
            }
        }
    }

    /// Trains the miners `who` (actor indices) in parallel, puts their updates in the blob
    /// store, tells listening validators/voters (off-chain) and returns the commit
    /// transactions with the updates that will be revealed: (actor, preimage).
    pub(crate) fn train_and_commit(
        &mut self,
        round: u64,
        who: &[usize],
    ) -> Result<(Vec<SignedTx>, Vec<Preimage>), SimError> {
        use rayon::prelude::*;
        let seed = self.scenario.seed;
        let task = self.task;
        let view_global = self.global.clone();
        let last_step = self.last_step.clone();
        let cfg = self.cfg;
        let slots: Vec<u64> = self
            .actors
            .iter()
            .map(|a| a.slot.saturating_sub(1))
            .collect();
        let mut jobs: Vec<(usize, &mut Box<dyn Miner>)> = self
            .behaviours
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| who.contains(i))
            .filter_map(|(i, b)| b.miner.as_mut().map(|m| (i, m)))
            .collect();
        let results: Vec<Result<(usize, Vec<f32>), SimError>> = jobs
            .par_iter_mut()
            .with_max_len(1)
            .map(|(i, m)| {
                let view = MinerView {
                    round,
                    global: &view_global,
                    last_step: last_step.as_deref(),
                    cfg: &cfg,
                    seed: deai_ml::seed::client_seed(seed, round, slots[*i]),
                };
                Ok((*i, m.update(&view)?))
            })
            .collect();
        let mut txs = Vec::new();
        let mut reveals = Vec::new();
        for res in results {
            let (i, delta) = res?;
            let blob = self.blobs.put(&f32_bytes(&delta))?;
            let pre = UpdatePreimage {
                blob,
                len: delta.len() as u64,
                salt: salt_for(seed, round, i, 0),
            };
            let bytes = deai_types::encode(&pre);
            txs.push(self.commit_tx(i, task, Round(round), CommitKind::Update, &bytes));
            if self.behaviours[i]
                .miner
                .as_ref()
                .is_some_and(|m| m.reveals())
            {
                reveals.push((i, bytes));
            }
            // Off-chain messages: a miner may tell others which blob is its own.
            if let Some(no) = self.miner_number(i) {
                for b in &mut self.behaviours {
                    if let Some(v) = &mut b.validator {
                        v.hear(no, blob.0);
                    }
                    if let Some(v) = &mut b.voter {
                        v.hear(no, blob.0);
                    }
                }
            }
        }
        Ok((txs, reveals))
    }

    /// The index of actor `i` among the miners, if it is one.
    pub(crate) fn miner_number(&self, i: usize) -> Option<usize> {
        (self.actors.get(i)?.info.role == Role::Miner).then(|| {
            self.actors[..i]
                .iter()
                .filter(|a| a.info.role == Role::Miner)
                .count()
        })
    }

    /// Reveal transactions of `kind` for `(actor, preimage)` pairs.
    pub(crate) fn reveal_txs(
        &mut self,
        round: u64,
        kind: CommitKind,
        reveals: Vec<(usize, Vec<u8>)>,
    ) -> Vec<SignedTx> {
        let task = self.task;
        reveals
            .into_iter()
            .map(|(i, preimage)| {
                self.sign(
                    i,
                    Call::Reveal {
                        task,
                        round: Round(round),
                        kind,
                        preimage,
                    },
                )
            })
            .collect()
    }

    /// The preimage actor `i` revealed on chain for `kind` in `round`, if any.
    pub(crate) fn revealed(&self, round: u64, kind: CommitKind, i: usize) -> Option<Vec<u8>> {
        let key = CommitKey {
            task: self.task,
            round: Round(round),
            kind,
            account: self.actors[i].info.account,
        };
        match &self.chain.state().commitment(&key)?.status {
            deai_chain::state::CommitStatus::Revealed { preimage, .. } => Some(preimage.clone()),
            _ => None,
        }
    }

    /// Fetches and checks the update an update preimage points to: the blob must exist, have
    /// the model's length and hold only finite values.
    pub(crate) fn fetch_update(&self, preimage: &[u8]) -> Result<([u8; 32], Vec<f32>), String> {
        let pre: UpdatePreimage =
            deai_types::decode(preimage).map_err(|e| format!("preimage does not decode: {e}"))?;
        let delta = self
            .blobs
            .get(&pre.blob)
            .map_err(|e| e.to_string())
            .and_then(|b| parse_update(&b, self.global.len()))?;
        Ok((pre.blob.0, delta))
    }

    fn round(&mut self, round: u64) -> Result<RoundRecord, SimError> {
        match self.scenario.task.mechanism {
            MechanismCfg::Yuma => self.yuma_round(round),
            MechanismCfg::ProposerVoter => self.pv_round(round),
        }
    }

    fn yuma_round(&mut self, round: u64) -> Result<RoundRecord, SimError> {
        let started = Instant::now();
        let seed = self.scenario.seed;
        let task = self.task;
        let r = Round(round);
        let n = self.actors.len();
        let blind = self.scenario.task.blind_validation;
        let balances_before = self.account_values();

        // Offset 0: miners train and commit.
        let miners: Vec<usize> = (0..n)
            .filter(|&i| self.actors[i].info.role == Role::Miner)
            .collect();
        let (commits, reveals) = self.train_and_commit(round, &miners)?;
        let mut txs = self.proposer_txs();
        txs.extend(commits);
        self.block(txs)?;

        // Not blind — offset 1: miners reveal on chain and validators fetch what was revealed.
        // Blind: miners hand their preimages to the relay instead and reveal after the
        // validators' weight commits.
        let handed: Vec<(usize, Vec<u8>)> = if blind {
            reveals.clone()
        } else {
            let txs = self.reveal_txs(round, CommitKind::Update, reveals.clone());
            self.block(txs)?;
            self.collect_slashes();
            miners
                .iter()
                .filter_map(|&i| self.revealed(round, CommitKind::Update, i).map(|p| (i, p)))
                .collect()
        };
        let mut rejected = Vec::new();
        let mut candidates: Vec<(usize, [u8; 32], Vec<f32>)> = Vec::new();
        for (i, preimage) in &handed {
            match self.fetch_update(preimage) {
                Ok((blob, delta)) => candidates.push((*i, blob, delta)),
                Err(reason) => rejected.push((*i, reason)),
            }
        }
        // Blind validation: the relay shows the candidates in a seeded order under ids of its
        // own, without owners.
        let mut order: Vec<usize> = (0..candidates.len()).collect();
        if blind {
            use rand::seq::SliceRandom;
            use rand::SeedableRng;
            order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(
                seed ^ round.wrapping_mul(0x9e37_79b9),
            ));
        }
        let shown: Vec<Candidate<'_>> = order
            .iter()
            .enumerate()
            .map(|(slot, &k)| Candidate {
                blob: if blind {
                    *blake3::hash(
                        &[
                            b"deai/sim/relay".as_slice(),
                            &salt_for(seed, round, slot, 2),
                            &candidates[k].1,
                        ]
                        .concat(),
                    )
                    .as_bytes()
                } else {
                    candidates[k].1
                },
                origin: if blind {
                    None
                } else {
                    self.miner_number(candidates[k].0)
                },
                delta: &candidates[k].2,
            })
            .collect();
        let last_consensus: Vec<u16> = order
            .iter()
            .map(|&k| {
                self.last_consensus
                    .get(&self.actors[candidates[k].0].info.uid)
                    .copied()
                    .unwrap_or(0)
            })
            .collect();
        let has_consensus = !self.last_consensus.is_empty();
        let vview = ValidatorView {
            round,
            model: self.kind,
            global: &self.global,
            seen: &self.seen,
            last_consensus: has_consensus.then_some(last_consensus.as_slice()),
        };
        let mut weight_reveals = Vec::new();
        let mut commit_txs = Vec::new();
        let validators: Vec<usize> = (0..n)
            .filter(|&i| self.actors[i].info.role == Role::Validator)
            .collect();
        let mut scored = Vec::new();
        for &v in &validators {
            let Some(b) = &mut self.behaviours[v].validator else {
                continue;
            };
            let w = b.weights(&vview, &shown)?;
            scored.push((v, w, b.reveals()));
        }
        for (v, w, reveals_it) in scored {
            let weights: Vec<(Uid, u16)> = order
                .iter()
                .zip(&w)
                .map(|(&k, &x)| (Uid(self.actors[candidates[k].0].info.uid), x))
                .collect();
            let pre = WeightsPreimage {
                weights,
                salt: salt_for(seed, round, v, 1),
            };
            let bytes = deai_types::encode(&pre);
            commit_txs.push(self.commit_tx(v, task, r, CommitKind::Weights, &bytes));
            if reveals_it {
                weight_reveals.push((v, bytes));
            }
        }
        // Weight commits (offset 2, or 1 when blind, followed by the update reveals).
        self.block(commit_txs)?;
        if blind {
            let txs = self.reveal_txs(round, CommitKind::Update, reveals);
            self.block(txs)?;
            self.collect_slashes();
        }
        // Offset 3: weight reveals, then the epoch runs.
        let txs = self.reveal_txs(round, CommitKind::Weights, weight_reveals);
        self.block(txs)?;
        self.collect_slashes();

        // The epoch's verdict.
        let epoch = Epoch(round);
        let record = self
            .chain
            .state()
            .epoch_record(task, epoch)
            .cloned()
            .ok_or_else(|| {
                SimError::Chain(format!(
                    "no epoch record for task {} epoch {}",
                    task.0, epoch.0
                ))
            })?;
        let fixed = |v: &[Fixed], uid: u16| v.get(usize::from(uid)).map_or(0.0, |x| x.to_f64());
        let incentive: Vec<f64> = self
            .actors
            .iter()
            .map(|a| fixed(&record.incentive, a.info.uid))
            .collect();
        let dividends: Vec<f64> = self
            .actors
            .iter()
            .map(|a| fixed(&record.dividends, a.info.uid))
            .collect();
        self.last_consensus = self
            .actors
            .iter()
            .filter(|a| a.info.role == Role::Miner)
            .map(|a| {
                let c = fixed(&record.consensus, a.info.uid);
                (a.info.uid, (c.clamp(0.0, 1.0) * 65535.0).round() as u16)
            })
            .collect();
        let max_c = self.last_consensus.values().copied().max().unwrap_or(0);
        if max_c > 0 {
            for v in self.last_consensus.values_mut() {
                *v = ((u32::from(*v) * 65535) / u32::from(max_c)) as u16;
            }
        }

        // Aggregate the rewarded updates in canonical mode (UID order); the oracle measurement
        // takes the honest miners' instead.
        let oracle = self.measurement == Measurement::OracleAggregation;
        let mut rewarded: Vec<&(usize, [u8; 32], Vec<f32>)> = candidates
            .iter()
            .filter(|(i, _, _)| {
                if oracle {
                    self.actors[*i].info.honest
                } else {
                    incentive[*i] > 0.0
                }
            })
            .collect();
        rewarded.sort_by_key(|(i, _, _)| self.actors[*i].info.uid);
        let contributors: Vec<usize> = rewarded.iter().map(|(i, _, _)| *i).collect();
        let previous_updates: Vec<Vec<f32>> =
            candidates.iter().map(|(_, _, d)| d.clone()).collect();
        if !rewarded.is_empty() {
            let rows: Vec<&[f32]> = rewarded.iter().map(|(_, _, d)| d.as_slice()).collect();
            let step = self.aggregator.aggregate_canonical(&rows)?;
            self.global = apply_step(&self.global, &step);
            self.last_step = Some(step);
        } else {
            self.last_step = None;
        }
        self.seen = previous_updates;
        if let Some(s) = &self.last_step {
            self.seen.push(s.clone());
        }
        let hash = model_hash(&self.global);
        self.blobs.put(&f32_bytes(&self.global))?;
        self.pending_record = Some(Call::RecordModel {
            task,
            round: r,
            model: hash,
            contributors: rewarded
                .iter()
                .map(|(i, b, _)| (Uid(self.actors[*i].info.uid), Hash32(*b)))
                .collect(),
        });

        let eval = deai_ml::evaluate(self.kind, &self.global, &self.data.test)?;
        let rewards = self.gains_since(&balances_before);
        Ok(RoundRecord {
            round,
            accuracy: eval.accuracy,
            loss: eval.loss,
            rewards,
            incentive,
            dividends,
            contributors,
            rejected,
            model_hash: hash,
            state_root: self.chain.state().root(),
            pv: None,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Balance plus bonded stake: rewards paid to either show up here.
    pub(crate) fn account_value(&self, id: &AccountId) -> u128 {
        let s = self.chain.state();
        s.balance_of(id).0.saturating_add(s.staker_stake(id).0)
    }

    /// Every actor's [`Sim::account_value`], in actor order.
    pub(crate) fn account_values(&self) -> Vec<u128> {
        self.actors
            .iter()
            .map(|a| self.account_value(&a.info.account))
            .collect()
    }

    /// What every actor gained since `before` (an earlier [`Sim::account_values`]).
    pub(crate) fn gains_since(&self, before: &[u128]) -> Vec<u128> {
        self.account_values()
            .iter()
            .zip(before)
            .map(|(now, was)| now.saturating_sub(*was))
            .collect()
    }
}

fn evidence_name(e: &Evidence) -> String {
    match e {
        Evidence::MissedReveal(k) => format!("missed {:?} reveal in round {}", k.kind, k.round.0),
        Evidence::RevealMismatch(k) => {
            format!("{:?} reveal did not match in round {}", k.kind, k.round.0)
        }
        Evidence::Offence(id) => format!("offence #{}", id.0),
    }
}
