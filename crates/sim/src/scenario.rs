//! Scenario files: what a run simulates, as TOML.
//!
//! A scenario names the data, the model, the task posted on the ledger and the actors that take
//! part. Every key has a default except the actor lists, so the smallest useful file is a few
//! lines; unknown keys and invalid values are errors that name the key. The schema, with every
//! default, is the [`Scenario::demo`] scenario written out in `scenarios/demo.toml` (which sets
//! two keys away from their defaults: the demo trains `local_epochs = 2` at `lr = 0.1`, see
//! [`Scenario::demo`]):
//!
//! ```toml
//! name = "demo"               # [A-Za-z0-9_-]{1,64}: the run folder is runs/<name>-seed<seed>
//! seed = 0
//! rounds = 20
//!
//! [data]
//! dir = "data/mnist-10k"       # any folder with the four MNIST-format IDX files
//! partition = "dirichlet:0.5"  # iid | dirichlet:<alpha> | shards:<k> | quantity:<...>
//! validator_samples = 400      # private evaluation set of each validator, held out of training
//! holdout_samples = 0          # a second, secret set per validator (0 = off); see below
//!
//! [training]
//! model = "mlp"
//! local_epochs = 1
//! lr = 0.05
//! batch = 32
//! momentum = 0.0
//!
//! [task]
//! mechanism = "yuma"           # yuma | proposer_voter
//! reward = 1000000000          # escrowed by the proposer, released over the rounds
//! aggregation = "fedavg"       # rule over the updates consensus rewarded (canonical mode)
//! miner_share = 0.5            # share of each epoch's payout that goes to miners
//! blind_validation = true      # validators see updates without their origin until they commit
//! pv_proposers = 3             # proposer_voter: proposers drawn per round (the rest vote)
//! pv_slash_to_pool = 0.9       # proposer_voter: share of a bad-round slash back to the escrow
//!
//! [[miners]]
//! kind = "honest"              # honest | free_rider | label_flipper | overfitter | silent
//! count = 7
//! stake = 1000
//!
//! [[validators]]
//! kind = "honest"              # honest | lazy | colluding | silent
//! count = 2
//! stake = 100000
//! ```
//!
//! # The two evaluation defences
//! - `task.blind_validation`: miners hand their update (blob and preimage) to the task's relay
//!   off-chain; validators score the relayed updates in a seeded order under relay-made ids and
//!   commit their weights **before** the miners reveal on chain, so neither the ledger nor the
//!   relay tells them whose update is whose until their weights are bound. Off, miners reveal
//!   first and validators see each update's origin (UID and blob address).
//! - `data.holdout_samples`: each validator's first evaluation set is assumed known to miners
//!   (published for reproducibility, or leaked: an `overfitter` trains on it); the second,
//!   disjoint set of this size stays secret until the validator's weights are committed (it is
//!   published afterwards for audit). An update must help on both: the validator's score is the
//!   smaller of its two scores. 0 scores on the first set only.
//!
//! # Mechanisms
//! `yuma`: miners and validators keep their role; validators' weights go through Yuma each
//! round. `proposer_voter`: the ledger draws `pv_proposers` proposers each round among all
//! participants, the rest vote (see [`crate::pv`]); every actor has a proposer and a voter
//! behaviour that follows from its kind.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::SimError;

/// Largest `data.validator_samples` and `data.holdout_samples` accepted.
pub const MAX_EVAL_SAMPLES: usize = 10_000_000;
/// Most participants (miners and validators together) a scenario may have.
pub const MAX_PARTICIPANTS: usize = 1024;

/// A scenario name that cannot be used. The name becomes a folder name
/// (`<data-dir>/runs/<name>-seed<seed>`, which a new run deletes and recreates), so it is
/// 1 to 64 characters from `A-Z a-z 0-9 _ -`: no separator, no `..`, no absolute path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scenario name {name:?} is invalid: it names a folder, so it must be 1 to 64 characters from A-Z, a-z, 0-9, `_` and `-`")]
pub struct InvalidName {
    /// The name given.
    pub name: String,
}

/// Checks that `name` matches `[A-Za-z0-9_-]{1,64}`.
pub fn check_name(name: &str) -> Result<(), InvalidName> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(InvalidName {
            name: name.to_string(),
        })
    }
}

/// A whole scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name used in reports and as the run's folder name: `[A-Za-z0-9_-]{1,64}`
    /// ([`check_name`]).
    #[serde(default = "default_name")]
    pub name: String,
    /// Seed of every random choice in the run.
    #[serde(default)]
    pub seed: u64,
    /// Training rounds (one ledger round each).
    #[serde(default = "default_rounds")]
    pub rounds: u64,
    /// Dataset and partition.
    #[serde(default)]
    pub data: DataCfg,
    /// Local training of miners.
    #[serde(default)]
    pub training: TrainingCfg,
    /// The task posted on the ledger.
    #[serde(default)]
    pub task: TaskCfg,
    /// Miner groups, in UID order.
    pub miners: Vec<MinerGroup>,
    /// Validator groups, in UID order after the miners.
    pub validators: Vec<ValidatorGroup>,
}

fn default_name() -> String {
    "scenario".into()
}
fn default_rounds() -> u64 {
    20
}

/// Where the data comes from and how it is split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataCfg {
    /// Folder with the four IDX files; `None` uses the shipped mnist-10k.
    pub dir: Option<PathBuf>,
    /// Partition of the training samples over miners.
    pub partition: String,
    /// Size of each validator's private evaluation set.
    pub validator_samples: usize,
    /// Size of each validator's second evaluation set, revealed only after weights are
    /// committed (0 turns the defence off).
    pub holdout_samples: usize,
}

impl Default for DataCfg {
    fn default() -> Self {
        Self {
            dir: None,
            partition: "dirichlet:0.5".into(),
            validator_samples: 400,
            holdout_samples: 0,
        }
    }
}

/// Local training settings of every miner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainingCfg {
    /// `mlp` or `cnn`.
    pub model: String,
    /// Local epochs per round.
    pub local_epochs: usize,
    /// Learning rate.
    pub lr: f32,
    /// Mini-batch size.
    pub batch: usize,
    /// SGD momentum.
    pub momentum: f32,
}

impl Default for TrainingCfg {
    fn default() -> Self {
        Self {
            model: "mlp".into(),
            local_epochs: 1,
            lr: 0.05,
            batch: 32,
            momentum: 0.0,
        }
    }
}

/// The incentive mechanism of the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MechanismCfg {
    /// Yuma consensus over committed-then-revealed validator weights.
    Yuma,
    /// FLock-style proposers and voters drawn each round.
    ProposerVoter,
}

/// The task the proposer posts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TaskCfg {
    /// Incentive mechanism.
    pub mechanism: MechanismCfg,
    /// Reward escrowed by the proposer.
    pub reward: u64,
    /// Aggregation rule applied (in canonical mode) to the rewarded updates.
    pub aggregation: String,
    /// Share of each epoch's payout that goes to miners (the rest to validators).
    pub miner_share: f64,
    /// Validators score updates without knowing which miner sent them until weights are
    /// committed.
    pub blind_validation: bool,
    /// Proposer/voter tasks: proposers drawn per round (the ledger parameter `pv_proposers`).
    pub pv_proposers: u16,
    /// Proposer/voter tasks: share of a bad-round slash returned to the task's escrow (the
    /// rest goes to the evidence submitter).
    pub pv_slash_to_pool: f64,
}

impl Default for TaskCfg {
    fn default() -> Self {
        Self {
            mechanism: MechanismCfg::Yuma,
            reward: 1_000_000_000,
            aggregation: "fedavg".into(),
            miner_share: 0.5,
            blind_validation: true,
            pv_proposers: 3,
            pv_slash_to_pool: 0.9,
        }
    }
}

/// How a free-rider fakes work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FreeRideMode {
    /// Reveals Gaussian noise of the size of an honest update.
    Noise,
    /// Reveals a copy of the last round's consensus update (it cannot copy this round's: the
    /// updates are committed before anyone reveals).
    Copy,
}

/// What kind of miner a group is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MinerKind {
    /// Trains on its shard and reports what it trained.
    Honest,
    /// Reveals something that cost it nothing (see `mode`).
    FreeRider,
    /// Trains on its shard with every label `l` replaced by `9 − l`.
    LabelFlipper,
    /// A lookup attacker: trains on the validators' first evaluation sets (which it knows)
    /// together with its shard with flipped labels, so it looks useful on the sets it has seen
    /// and poisons everything else.
    Overfitter,
    /// Commits and never reveals.
    Silent,
}

/// A group of identical miners.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinerGroup {
    /// What they do.
    pub kind: MinerKind,
    /// How a free-rider fakes its update (only for `kind = "free_rider"`; default `noise`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<FreeRideMode>,
    /// How many.
    #[serde(default = "one")]
    pub count: usize,
    /// Stake each bonds before registering.
    #[serde(default = "default_miner_stake")]
    pub stake: u64,
    /// The entity that controls every identity of this group (e.g. one operator's Sybil
    /// identities): groups naming the same owner count as one entity in the per-entity reward
    /// metrics of the report. Default: each identity is its own entity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// What kind of validator a group is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValidatorKind {
    /// Scores every update on its private evaluation set.
    Honest,
    /// Evaluates nothing and re-submits the previous epoch's consensus.
    Lazy,
    /// Scores honestly but gives its partner miner (see `partner`) the maximum weight.
    Colluding,
    /// Commits weights and never reveals them.
    Silent,
}

/// A group of identical validators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorGroup {
    /// What they do.
    pub kind: ValidatorKind,
    /// Index of the partner among all miners (0-based, in file order); only for
    /// `kind = "colluding"`, where it is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner: Option<usize>,
    /// How many.
    #[serde(default = "one")]
    pub count: usize,
    /// Stake each bonds before registering.
    #[serde(default = "default_validator_stake")]
    pub stake: u64,
    /// The entity that controls every identity of this group (e.g. one operator's Sybil
    /// identities): groups naming the same owner count as one entity in the per-entity reward
    /// metrics of the report. Default: each identity is its own entity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// An owner name is 1 to 64 printable characters.
fn check_owner(owner: &Option<String>, key: &str) -> Result<(), String> {
    match owner {
        Some(o)
            if o.trim().is_empty() || o.chars().count() > 64 || o.chars().any(char::is_control) =>
        {
            Err(format!(
                "`{key}`: must be a name of 1 to 64 printable characters"
            ))
        }
        _ => Ok(()),
    }
}

fn one() -> usize {
    1
}
fn default_miner_stake() -> u64 {
    1_000
}
fn default_validator_stake() -> u64 {
    100_000
}

impl Scenario {
    /// The default scenario of `deai demo`: 10 miners (2 free-riders, 1 label-flipper),
    /// 4 validators (1 lazy, 1 colluding with the last free-rider), 20 rounds, Dirichlet(0.5).
    ///
    /// Miners train 2 local epochs at learning rate 0.1 (the training defaults are 1 epoch at
    /// 0.05): 20 rounds of that bring the model close to convergence, so leaving the three
    /// adversaries' shards out costs the protocol less accuracy against the all-honest run
    /// (measured on seeds 0–4 in `docs/perf/demo.md`).
    pub fn demo() -> Self {
        Self {
            name: "demo".into(),
            seed: 0,
            rounds: 20,
            data: DataCfg::default(),
            training: TrainingCfg {
                local_epochs: 2,
                lr: 0.1,
                ..TrainingCfg::default()
            },
            task: TaskCfg::default(),
            miners: vec![
                MinerGroup {
                    kind: MinerKind::Honest,
                    mode: None,
                    count: 7,
                    stake: default_miner_stake(),
                    owner: None,
                },
                MinerGroup {
                    kind: MinerKind::FreeRider,
                    mode: Some(FreeRideMode::Noise),
                    count: 1,
                    stake: default_miner_stake(),
                    owner: None,
                },
                MinerGroup {
                    kind: MinerKind::FreeRider,
                    mode: Some(FreeRideMode::Copy),
                    count: 1,
                    stake: default_miner_stake(),
                    owner: None,
                },
                MinerGroup {
                    kind: MinerKind::LabelFlipper,
                    mode: None,
                    count: 1,
                    stake: default_miner_stake(),
                    owner: None,
                },
            ],
            validators: vec![
                ValidatorGroup {
                    kind: ValidatorKind::Honest,
                    partner: None,
                    count: 2,
                    stake: default_validator_stake(),
                    owner: None,
                },
                ValidatorGroup {
                    kind: ValidatorKind::Lazy,
                    partner: None,
                    count: 1,
                    stake: default_validator_stake(),
                    owner: None,
                },
                ValidatorGroup {
                    kind: ValidatorKind::Colluding,
                    partner: Some(8),
                    count: 1,
                    stake: default_validator_stake(),
                    owner: None,
                },
            ],
        }
    }

    /// The same scenario with every adversary replaced by its honest counterpart: the
    /// "all-honest run" of the demo's accuracy target. The other reference, with the
    /// adversaries removed instead, is a run measured as [`crate::Measurement::HonestOnly`].
    pub fn all_honest(&self) -> Self {
        let mut s = self.clone();
        for g in &mut s.miners {
            g.kind = MinerKind::Honest;
            g.mode = None;
        }
        for g in &mut s.validators {
            g.kind = ValidatorKind::Honest;
            g.partner = None;
        }
        s.name = format!("{}-all-honest", self.name);
        s
    }

    /// Parses a scenario from TOML text; `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self, SimError> {
        let scenario: Self = toml::from_str(text).map_err(|e| SimError::Scenario {
            path: origin.to_path_buf(),
            reason: e.to_string(),
        })?;
        scenario.validate().map_err(|reason| SimError::Scenario {
            path: origin.to_path_buf(),
            reason,
        })?;
        Ok(scenario)
    }

    /// Reads and parses a scenario file.
    pub fn load(path: &Path) -> Result<Self, SimError> {
        let text = std::fs::read_to_string(path).map_err(|e| SimError::Scenario {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::from_toml(&text, path)
    }

    /// Number of miners over all groups (saturating; [`Scenario::validate`] bounds it).
    pub fn miner_count(&self) -> usize {
        self.miners
            .iter()
            .fold(0usize, |n, g| n.saturating_add(g.count))
    }

    /// Number of validators over all groups (saturating; [`Scenario::validate`] bounds it).
    pub fn validator_count(&self) -> usize {
        self.validators
            .iter()
            .fold(0usize, |n, g| n.saturating_add(g.count))
    }

    /// Checks every value that parsing cannot, naming the key.
    pub fn validate(&self) -> Result<(), String> {
        check_name(&self.name).map_err(|e| format!("`name`: {e}"))?;
        let miners = self.miner_count();
        let validators = self.validator_count();
        let check = |ok: bool, key: &str, msg: &str| {
            if ok {
                Ok(())
            } else {
                Err(format!("`{key}`: {msg}"))
            }
        };
        check(
            self.rounds >= 1 && self.rounds <= 10_000,
            "rounds",
            "must be in 1..=10000",
        )?;
        check(miners >= 1, "miners", "at least one miner is needed")?;
        check(
            validators >= 1,
            "validators",
            "at least one validator is needed",
        )?;
        check(
            miners
                .checked_add(validators)
                .is_some_and(|total| total <= MAX_PARTICIPANTS),
            "miners/validators",
            &format!("at most {MAX_PARTICIPANTS} participants"),
        )?;
        for (i, g) in self.miners.iter().enumerate() {
            check(
                g.count >= 1,
                &format!("miners[{i}].count"),
                "must be at least 1",
            )?;
            check(
                g.stake >= 1,
                &format!("miners[{i}].stake"),
                "must be at least 1",
            )?;
            check(
                g.mode.is_none() || g.kind == MinerKind::FreeRider,
                &format!("miners[{i}].mode"),
                "only a `free_rider` group takes a mode",
            )?;
            check_owner(&g.owner, &format!("miners[{i}].owner"))?;
        }
        for (i, g) in self.validators.iter().enumerate() {
            check(
                g.count >= 1,
                &format!("validators[{i}].count"),
                "must be at least 1",
            )?;
            check(
                g.stake >= 1,
                &format!("validators[{i}].stake"),
                "must be at least 1",
            )?;
            match (g.kind, g.partner) {
                (ValidatorKind::Colluding, Some(p)) => check(
                    p < miners,
                    &format!("validators[{i}].partner"),
                    &format!("must name a miner, 0..{miners}"),
                )?,
                (ValidatorKind::Colluding, None) => check(
                    false,
                    &format!("validators[{i}].partner"),
                    "a `colluding` group needs the partner miner's index",
                )?,
                (_, Some(_)) => check(
                    false,
                    &format!("validators[{i}].partner"),
                    "only a `colluding` group takes a partner",
                )?,
                (_, None) => {}
            }
            check_owner(&g.owner, &format!("validators[{i}].owner"))?;
        }
        check(
            self.task.miner_share.is_finite() && (0.0..=1.0).contains(&self.task.miner_share),
            "task.miner_share",
            "must be in [0, 1]",
        )?;
        check(self.task.reward >= 1, "task.reward", "must be at least 1")?;
        check(
            matches!(self.training.model.as_str(), "mlp" | "cnn"),
            "training.model",
            "must be `mlp` or `cnn`",
        )?;
        check(
            self.training.local_epochs >= 1,
            "training.local_epochs",
            "must be at least 1",
        )?;
        check(
            self.training.batch >= 1,
            "training.batch",
            "must be at least 1",
        )?;
        check(
            self.training.lr.is_finite() && self.training.lr > 0.0,
            "training.lr",
            "must be a positive number",
        )?;
        check(
            self.training.momentum.is_finite() && (0.0..1.0).contains(&self.training.momentum),
            "training.momentum",
            "must be in [0, 1)",
        )?;
        check(
            self.task.pv_proposers >= 1,
            "task.pv_proposers",
            "must be at least 1",
        )?;
        check(
            self.task.pv_slash_to_pool.is_finite()
                && (0.0..=1.0).contains(&self.task.pv_slash_to_pool),
            "task.pv_slash_to_pool",
            "must be in [0, 1]",
        )?;
        check(
            (10..=MAX_EVAL_SAMPLES).contains(&self.data.validator_samples),
            "data.validator_samples",
            &format!("must be in 10..={MAX_EVAL_SAMPLES}"),
        )?;
        check(
            self.data.holdout_samples <= MAX_EVAL_SAMPLES,
            "data.holdout_samples",
            &format!("must be at most {MAX_EVAL_SAMPLES}"),
        )?;
        self.data
            .partition
            .parse::<deai_ml::PartitionSpec>()
            .map_err(|e| format!("`data.partition`: {e}"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_folder_names_only() {
        for good in [
            "demo",
            "demo-pv",
            "demo-all-honest",
            "a_B-9",
            &"x".repeat(64),
        ] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for bad in [
            "/some/dir/victim",
            "../x",
            "..",
            ".",
            "a/b",
            "a\\b",
            "",
            "démo",
            "a b",
            &"x".repeat(65),
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_path_as_name_is_rejected_when_parsed_and_validated() {
        for name in ["/some/dir/victim", "../x"] {
            let mut s = Scenario::demo();
            s.name = name.into();
            let reason = s.validate().unwrap_err();
            assert!(reason.starts_with("`name`"), "{reason}");
            let toml = format!(
                "name = {name:?}\n[[miners]]\nkind = \"honest\"\n[[validators]]\nkind = \"honest\"\n"
            );
            match Scenario::from_toml(&toml, Path::new("s.toml")) {
                Err(SimError::Scenario { reason, .. }) => assert!(reason.contains("`name`")),
                other => panic!("{name}: {other:?}"),
            }
        }
        let pv = Scenario::load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scenarios/demo-pv.toml"
        )))
        .unwrap();
        assert_eq!(pv.name, "demo-pv");
    }

    #[test]
    fn counts_that_overflow_when_summed_are_errors() {
        let mut s = Scenario::demo();
        s.miners[0].count = usize::MAX;
        assert_eq!(s.miner_count(), usize::MAX);
        assert!(s.validate().unwrap_err().contains("participants"));
        let mut s = Scenario::demo();
        s.validators[0].count = usize::MAX;
        assert!(s.validate().unwrap_err().contains("participants"));
        for (v, h) in [
            (usize::MAX, 0),
            (400, usize::MAX),
            (MAX_EVAL_SAMPLES + 1, 0),
        ] {
            let mut s = Scenario::demo();
            s.data.validator_samples = v;
            s.data.holdout_samples = h;
            assert!(s.validate().unwrap_err().contains("samples"), "{v} {h}");
        }
        assert_eq!(Scenario::demo().validate(), Ok(()));
    }
}
