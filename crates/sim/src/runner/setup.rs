//! Setting a run up: the cast of actors and their behaviours, the genesis, the task and its
//! windows, up to the block before round 0.
//!
//! # The cast
//! Actor slot 0 is the task proposer (it also aggregates and runs the watchdog); miners follow
//! from slot 1 in the scenario's group order, then validators. A slot seeds the actor's key and
//! its training stream, so a [`Measurement::HonestOnly`] run, which leaves the adversaries out,
//! keeps every honest actor's key, shard and seeds. Each actor's behaviour follows from its
//! group's kind ([`miner_behaviour`], [`validator_behaviour`]); an adversary is its own type,
//! never a flag inside honest code.
//!
//! # The first blocks
//! Genesis funds every actor with its stake plus fees and the proposer with the task reward.
//! Block 1 carries the task proposal ([`deai_roles::TaskProposer::propose`], after it put the
//! initial model's blob) and every stake, block 2 the registrations in actor order (so UIDs
//! follow it: miners `0..m`, then validators), then empty blocks until the task's first round
//! starts. Every actor signs through its own [`Signer`] on the run's [`EmbeddedPort`].

use std::collections::BTreeMap;
use std::sync::Arc;

use deai_aggregation::Aggregator;
use deai_chain::GenesisConfig;
use deai_ml::{LocalCfg, ModelKind};
use deai_roles::{
    ChainPort, EmbeddedPort, MinerRole, Signer, TaskProposer, ValidatorRole, VoterRole,
};
use deai_store::{BlobStore, EmbeddedChain, EmbeddedConfig};
use deai_types::{
    Amount, Call, ChainId, CommitKind, Fixed, Hash32, Keypair, Mechanism, Params, PhaseWindow,
    Role, TaskId, TaskSpec, Window,
};

use super::records::ActorInfo;
use super::{Measurement, RunOptions, Sim, ROUND_BLOCKS};
use crate::actors::{
    ColludingValidator, ColludingVoter, CopyFreeRider, EvalSets, HonestMiner, HonestValidator,
    HonestVoter, LabelFlipper, LazyValidator, LazyVoter, Miner, NoiseFreeRider, Overfitter,
    SilentMiner, SilentValidator, SilentVoter, Validator, Voter,
};
use crate::data::RunData;
use crate::scenario::{
    FreeRideMode, MechanismCfg, MinerGroup, MinerKind, ValidatorGroup, ValidatorKind,
};
use crate::{LedgerError, Scenario, SimError};

/// Share of a miner's shard it keeps as its own test split on proposer/voter tasks.
pub const PV_TEST_SHARE: f64 = 0.2;

/// A participant: what the report shows of it, and who signs for it.
pub(crate) struct Actor {
    pub(crate) info: ActorInfo,
    /// Its key and the nonces of its transactions.
    pub(crate) signer: Signer,
    /// Index of the actor in the full scenario (0 the proposer, then miners, then validators):
    /// seeds its key and its training, so a [`Measurement::HonestOnly`] run keeps every honest
    /// actor's.
    pub(super) slot: u64,
}

impl Actor {
    /// A participant not registered yet (its UID is filled in after registration), with the
    /// key of `slot`.
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
            signer: Signer::new(key),
            slot,
        }
    }
}

/// The key of actor slot `index` in a run seeded `seed`.
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

/// The roles an actor can be given, each with its behaviour: a Yuma miner has only `miner`, a
/// Yuma validator only `validator`; on a proposer/voter task everyone has `miner` (as
/// proposer) and `voter`.
pub(crate) struct Roles {
    pub(crate) miner: Option<MinerRole>,
    pub(crate) validator: Option<ValidatorRole>,
    pub(crate) voter: Option<VoterRole>,
}

/// A miner's behaviours: how it trains, and on a proposer/voter task how it votes.
struct MinerBehaviour {
    miner: Box<dyn Miner>,
    voter: Option<Box<dyn Voter>>,
}

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
) -> Result<MinerBehaviour, SimError> {
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
    Ok(MinerBehaviour { miner, voter })
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
fn validator_behaviour(g: &ValidatorGroup, eval: EvalSets, pv: bool) -> Roles {
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
        return Roles {
            miner: Some(MinerRole::new(miner)),
            validator: None,
            voter: Some(VoterRole::new(voter)),
        };
    }
    let validator: Box<dyn Validator> = match g.kind {
        ValidatorKind::Honest => Box::new(HonestValidator::new(eval)),
        ValidatorKind::Lazy => Box::new(LazyValidator),
        ValidatorKind::Colluding => Box::new(ColludingValidator::new(eval, g.partner.unwrap_or(0))),
        ValidatorKind::Silent => Box::new(SilentValidator),
    };
    Roles {
        miner: None,
        validator: Some(ValidatorRole::new(validator)),
        voter: None,
    }
}

/// The actors of a run with their roles and the stake each bonds, in actor order.
struct Cast {
    actors: Vec<Actor>,
    roles: Vec<Roles>,
    stakes: Vec<u128>,
}

impl Cast {
    /// Miners first (UIDs `0..m`), then validators; a [`Measurement::HonestOnly`] run leaves
    /// the adversaries out but keeps everyone's slot.
    fn new(scenario: &Scenario, data: &RunData, honest_only: bool) -> Result<Self, SimError> {
        let seed = scenario.seed;
        let pv = scenario.task.mechanism == MechanismCfg::ProposerVoter;
        let shared_train = Arc::new(data.train.clone());
        let mut cast = Self {
            actors: Vec::new(),
            roles: Vec::new(),
            stakes: Vec::new(),
        };
        let mut miner_index = 0usize;
        for g in &scenario.miners {
            for _ in 0..g.count {
                let shard = data.partition.clients[miner_index].clone();
                let b = miner_behaviour(data, &shared_train, g, shard, pv, seed, miner_index)?;
                let (kind, honest) = (b.miner.kind(), b.miner.honest());
                if honest || !honest_only {
                    cast.actors.push(Actor::new(
                        seed,
                        1 + miner_index as u64,
                        format!("miner-{miner_index}"),
                        Role::Miner,
                        kind,
                        honest,
                    ));
                    cast.roles.push(Roles {
                        miner: Some(MinerRole::new(b.miner)),
                        validator: None,
                        voter: b.voter.map(VoterRole::new),
                    });
                    cast.stakes.push(u128::from(g.stake));
                }
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
                if honest || !honest_only {
                    cast.roles.push(validator_behaviour(g, eval, pv));
                    cast.actors.push(Actor::new(
                        seed,
                        1 + (miner_index + validator_index) as u64,
                        format!("validator-{validator_index}"),
                        Role::Validator,
                        kind,
                        honest,
                    ));
                    cast.stakes.push(u128::from(g.stake));
                }
                validator_index += 1;
            }
        }
        Ok(cast)
    }

    /// Genesis: every actor funded with its stake plus fees; the proposer with the reward.
    fn genesis(&self, scenario: &Scenario, proposer: &Actor) -> Result<GenesisConfig, SimError> {
        let fees = 10 * (scenario.rounds as u128 + 10);
        let mut accounts = vec![(
            proposer.info.account,
            Amount(u128::from(scenario.task.reward) + 100 * fees),
        )];
        for (a, &s) in self.actors.iter().zip(&self.stakes) {
            accounts.push((a.info.account, Amount(s + fees + 1_000)));
        }
        Ok(GenesisConfig {
            chain_id: ChainId::new("deai-sim")?,
            genesis_time_ms: 0,
            accounts,
            stakes: Vec::new(),
            params: Params {
                pv_proposers: scenario.task.pv_proposers,
                pv_slash_to_pool: Fixed::saturating_from_f64(scenario.task.pv_slash_to_pool),
                ..Params::default()
            },
        })
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

/// The task the scenario proposes, starting from the initial model at `model`.
fn task_spec(scenario: &Scenario, model: Hash32, actors: usize) -> TaskSpec {
    TaskSpec {
        model,
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
        max_uids: u16::try_from(actors).unwrap_or(u16::MAX),
        mechanism: match scenario.task.mechanism {
            MechanismCfg::ProposerVoter => Mechanism::ProposerVoter,
            MechanismCfg::Yuma => Mechanism::Yuma,
        },
        miner_share: Fixed::saturating_from_f64(scenario.task.miner_share),
    }
}

/// The scenario's aggregation rule, which must have a canonical mode: its result is hashed
/// onto the ledger.
fn canonical_aggregator(scenario: &Scenario) -> Result<Box<dyn Aggregator>, SimError> {
    let aggregator =
        deai_aggregation::from_spec(&scenario.task.aggregation, &serde_json::json!({})).map_err(
            |e| SimError::Scenario {
                path: "<scenario>".into(),
                reason: format!("`task.aggregation`: {e}"),
            },
        )?;
    if !aggregator.supports_canonical() {
        return Err(SimError::Scenario {
            path: "<scenario>".into(),
            reason: format!("`task.aggregation`: {} has no canonical mode, so its result cannot be recorded on the ledger", aggregator.name()),
        });
    }
    Ok(aggregator)
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
        let aggregator = canonical_aggregator(scenario)?;
        std::fs::create_dir_all(&opts.dir).map_err(|source| SimError::Io {
            path: opts.dir.clone(),
            source,
        })?;
        let blobs = BlobStore::open(opts.dir.join("blobs"))?;
        let task_proposer = TaskProposer::new(aggregator);

        let seed = scenario.seed;
        let proposer = Actor::new(
            seed,
            0,
            "proposer".into(),
            Role::Validator,
            "proposer",
            true,
        );
        let cast = Cast::new(scenario, &data, measurement == Measurement::HonestOnly)?;
        let genesis = cast.genesis(scenario, &proposer)?;
        let chain = EmbeddedChain::init(&opts.dir, &genesis, EmbeddedConfig::default())?;
        let mut port = EmbeddedPort::new(chain, blobs);

        let global = kind.init(seed);
        let model_blob = task_proposer.put_model(&mut port, &global)?;
        let Cast {
            actors,
            roles,
            stakes,
        } = cast;
        let mut sim = Self {
            scenario: scenario.clone(),
            data,
            port,
            kind,
            cfg,
            proposer,
            task_proposer,
            actors,
            roles,
            task: TaskId(0),
            global,
            last_step: None,
            seen: Vec::new(),
            last_consensus: BTreeMap::new(),
            slashes: Vec::new(),
            records: Vec::new(),
            time_ms: 0,
            last_vote: None,
            measurement,
        };
        sim.open_task(task_spec(scenario, model_blob, sim.actors.len()), &stakes)?;
        Ok(sim)
    }

    /// Block 1: the task proposal and every actor's stake; block 2: the registrations, in actor
    /// order so UIDs follow it; then empty blocks until the block before round 0.
    fn open_task(&mut self, spec: TaskSpec, stakes: &[u128]) -> Result<(), SimError> {
        let proposal =
            self.task_proposer
                .propose(&mut self.port, &mut self.proposer.signer, spec)?;
        for (a, &stake) in self.actors.iter_mut().zip(stakes) {
            a.signer.submit(
                &mut self.port,
                Call::Stake {
                    amount: Amount(stake),
                },
            )?;
        }
        self.block()?;
        let task = self.task_proposer.learn_task(&self.port, &proposal)?;
        self.task = task;

        for a in &mut self.actors {
            let role = a.info.role;
            a.signer
                .submit(&mut self.port, Call::Register { task, role })?;
        }
        self.block()?;
        let registered = self.port.registrations(task)?;
        for a in &mut self.actors {
            a.info.uid = registered
                .iter()
                .find(|r| r.account == a.info.account)
                .ok_or_else(|| LedgerError::NotRegistered {
                    actor: a.info.name.clone(),
                    task,
                })?
                .uid
                .0;
        }
        let start = self.port.task(task)?.map_or(0, |t| t.start.0);
        while self.port.head()?.height.0 + 1 < start {
            self.block()?;
        }
        Ok(())
    }
}
