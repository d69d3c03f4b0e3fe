//! The attack-vs-defense evaluation harness behind `deai eval grid.toml`.
//!
//! A [`Grid`] names attacks, defenses (aggregation rules), Byzantine fractions and partitions;
//! every combination is a [`Cell`]: one seeded federated run of the MLP on an MNIST-format
//! dataset with `clients` clients for `rounds` rounds. In each round of a cell:
//!
//! 1. every client trains from the global model on its shard ([`deai_ml::train_local`], fused
//!    path, single-threaded); a data attacker (label flipping, backdoor —
//!    [`data_attacks`]) trains on its poisoned copy of its shard;
//! 2. each Byzantine client running a model-poisoning attack replaces its update by the one
//!    the attack crafts ([`deai_aggregation::attacks`]); omniscient attacks are shown the
//!    honest clients' updates of the round;
//! 3. the defense aggregates the n updates (canonical path when the rule has one, so a cell is
//!    bit-reproducible): `f` = number of Byzantine clients for krum, multi_krum and `nnm+`;
//!    FedAvg and norm clipping weight by shard size; centered clipping starts from the previous
//!    round's aggregate (as Karimireddy et al. recommend) unless `v0` is given. If the rule
//!    refuses the round (e.g. an overflow), the global model is kept and the round counted
//!    as skipped;
//! 4. the new global model is evaluated on the test set.
//!
//! The Byzantine clients are a seeded random subset of the clients, the same for every
//! attack and defense of a partition (paired comparisons). Cells run in parallel (one rayon
//! task each), each appended to `<out>/cells.jsonl` as soon as it finishes; a cell already
//! there under the same key and grid fingerprint is not run again. [`report`] then writes
//! `results.json`, `results.csv`, `results.md` and heatmaps.

pub mod data_attacks;
pub mod grid;
pub mod report;

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use deai_aggregation::attacks::{AttackKind, RoundView, UpdateAttack};
use deai_aggregation::Aggregator;
use deai_ml::partition::partition;
use deai_ml::{
    data, evaluate, seed, train_local, Dataset, Engine, LocalCfg, ModelKind, Partition,
    PartitionSpec,
};
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use data_attacks::{Backdoor, DataAttack, Flip, LabelFlip};
pub use grid::{Cell, DefenseSpec, Grid};

/// Why the harness could not run.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The grid is invalid.
    #[error("grid: {reason}")]
    Grid {
        /// What is wrong, naming the key.
        reason: String,
    },
    /// The dataset could not be loaded or cut.
    #[error("data: {reason}")]
    Data {
        /// What went wrong.
        reason: String,
    },
    /// A file operation failed.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Writing a report file failed.
    #[error(transparent)]
    Report(#[from] deai_report::ReportError),
}

/// An attack as the harness runs it.
#[derive(Debug, Clone, PartialEq)]
pub enum Attack {
    /// Byzantine clients behave honestly.
    None,
    /// A model-poisoning attack.
    Update(AttackKind),
    /// A data-poisoning attack.
    Data(DataAttack),
}

/// Parses an attack spec: `label_flip` (9 − l), `label_flip:k` ((l + k) mod 10),
/// `backdoor[:target]`, or anything [`AttackKind`] parses.
pub fn parse_attack(spec: &str) -> Result<Attack, HarnessError> {
    let kind: AttackKind = spec.parse().map_err(|e| HarnessError::Grid {
        reason: format!("{e}"),
    })?;
    Ok(match kind {
        AttackKind::None => Attack::None,
        AttackKind::LabelFlip(k) => Attack::Data(DataAttack::LabelFlip(LabelFlip {
            flip: if spec.contains(':') {
                Flip::Shift((k % 10) as u8)
            } else {
                Flip::Reverse
            },
        })),
        AttackKind::Backdoor(t) => Attack::Data(DataAttack::Backdoor(Backdoor::new(
            u8::try_from(t).unwrap_or(u8::MAX),
        ))),
        k if k.is_data_attack() => {
            return Err(HarnessError::Grid {
                reason: format!("attack {spec}: data attacks run on their own, not wrapped"),
            })
        }
        k => Attack::Update(k),
    })
}

/// The outcome of one cell, one line of `cells.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellRecord {
    /// [`Cell::key`].
    pub key: String,
    /// [`Grid::fingerprint`] of the grid it ran under.
    pub fingerprint: String,
    /// The cell.
    pub cell: Cell,
    /// Byzantine clients.
    pub byzantine: usize,
    /// Test accuracy after the last round (None if the cell failed).
    pub final_accuracy: Option<f64>,
    /// Best test accuracy over the rounds.
    pub best_accuracy: Option<f64>,
    /// Backdoor attack success rate after the last round (backdoor cells only).
    pub backdoor_success: Option<f64>,
    /// Test accuracy after every round.
    pub accuracy: Vec<f64>,
    /// Rounds the defense refused (global model kept).
    pub skipped_rounds: u64,
    /// Wall seconds of the cell.
    pub seconds: f64,
    /// Why the cell failed, if it did.
    pub error: Option<String>,
}

/// Progress of a grid run.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Cells finished (including ones reused from `cells.jsonl`).
    pub done: usize,
    /// Cells in the grid.
    pub total: usize,
    /// The cell just finished.
    pub last: String,
}

/// Everything a run needs that is shared by its cells.
struct Context {
    grid: Grid,
    train: Dataset,
    test: Dataset,
    partitions: HashMap<String, Partition>,
    byzantine_order: Vec<usize>,
    init: Vec<f32>,
    cfg: LocalCfg,
}

fn truncate(d: &Dataset, max: Option<usize>) -> Result<Dataset, HarnessError> {
    match max {
        Some(m) if m < d.len() => {
            d.subset(&(0..m).collect::<Vec<_>>())
                .map_err(|e| HarnessError::Data {
                    reason: e.to_string(),
                })
        }
        _ => Ok(d.clone()),
    }
}

impl Context {
    fn new(grid: &Grid) -> Result<Self, HarnessError> {
        let splits = data::load_dir(&grid.data).map_err(|e| HarnessError::Data {
            reason: format!("{}: {e}", grid.data.display()),
        })?;
        let train = truncate(&splits.train, grid.max_train)?;
        let test = truncate(&splits.test, grid.max_test)?;
        let mut partitions = HashMap::new();
        for p in &grid.partitions {
            let spec: PartitionSpec =
                p.parse()
                    .map_err(|e: deai_ml::partition::PartitionError| HarnessError::Grid {
                        reason: e.to_string(),
                    })?;
            let part = partition(train.labels(), grid.clients, &spec, grid.seed).map_err(|e| {
                HarnessError::Data {
                    reason: e.to_string(),
                }
            })?;
            partitions.insert(p.clone(), part);
        }
        let mut byzantine_order: Vec<usize> = (0..grid.clients).collect();
        byzantine_order.shuffle(&mut seed::rng(grid.seed, "byzantine", &[]));
        let cfg = LocalCfg {
            model: ModelKind::Mlp,
            engine: Engine::Fused,
            epochs: grid.local_epochs,
            batch: grid.batch,
            lr: grid.lr,
            momentum: grid.momentum,
            weight_decay: 0.0,
        };
        cfg.validate().map_err(|e| HarnessError::Grid {
            reason: e.to_string(),
        })?;
        Ok(Self {
            grid: grid.clone(),
            train,
            test,
            partitions,
            byzantine_order,
            init: ModelKind::Mlp.init(seed::derive(grid.seed, "eval-init", &[])),
            cfg,
        })
    }

    /// Builds the defense for a round.
    fn aggregator(
        &self,
        cell: &Cell,
        f: usize,
        weights: &[f64],
        previous: &[f32],
    ) -> Result<Box<dyn Aggregator>, String> {
        let spec = &self.grid.defenses[cell.defense_index];
        let rule = spec.rule();
        let mut params: Map<String, Value> = spec.params();
        let takes_f = rule.starts_with("nnm+") || matches!(rule, "krum" | "multi_krum");
        if takes_f && !params.contains_key("f") {
            params.insert("f".into(), Value::from(f));
        }
        if matches!(rule, "fedavg" | "norm_clipping_mean") && !params.contains_key("weights") {
            params.insert("weights".into(), Value::from(weights.to_vec()));
        }
        if rule == "centered_clipping" && !params.contains_key("v0") {
            params.insert(
                "v0".into(),
                Value::from(previous.iter().map(|&v| f64::from(v)).collect::<Vec<_>>()),
            );
        }
        deai_aggregation::from_spec(rule, &Value::Object(params)).map_err(|e| e.to_string())
    }

    fn run_cell(&self, cell: &Cell) -> CellRecord {
        let t0 = Instant::now();
        let k = self.grid.byzantine(cell.fraction);
        let mut record = CellRecord {
            key: cell.key(),
            fingerprint: self.grid.fingerprint(),
            cell: cell.clone(),
            byzantine: k,
            final_accuracy: None,
            best_accuracy: None,
            backdoor_success: None,
            accuracy: Vec::new(),
            skipped_rounds: 0,
            seconds: 0.0,
            error: None,
        };
        if let Err(e) = self.run_rounds(cell, k, &mut record) {
            record.error = Some(e);
        }
        record.seconds = t0.elapsed().as_secs_f64();
        record
    }

    fn run_rounds(&self, cell: &Cell, k: usize, record: &mut CellRecord) -> Result<(), String> {
        let attack = parse_attack(&cell.attack).map_err(|e| e.to_string())?;
        let part = self
            .partitions
            .get(&cell.partition)
            .ok_or_else(|| format!("unknown partition {}", cell.partition))?;
        let n = self.grid.clients;
        let mut is_byz = vec![false; n];
        for &c in self.byzantine_order.iter().take(k) {
            is_byz[c] = true;
        }
        // Data attackers train on poisoned copies of their shards.
        let mut poisoned: HashMap<usize, (Dataset, Vec<usize>)> = HashMap::new();
        if let Attack::Data(da) = &attack {
            for c in (0..n).filter(|&c| is_byz[c]) {
                let mut shard = self
                    .train
                    .subset(&part.clients[c])
                    .map_err(|e| e.to_string())?;
                let s = seed::derive(self.grid.seed, "poison", &[c as u64]);
                da.poison(&mut shard, s).map_err(|e| e.to_string())?;
                let idx = (0..shard.len()).collect();
                poisoned.insert(c, (shard, idx));
            }
        }
        let is_sybil = matches!(&attack, Attack::Update(AttackKind::Sybil(..)));
        let mut actors: Vec<Box<dyn UpdateAttack>> = match &attack {
            Attack::Update(kind) => (0..if is_sybil { 1 } else { k })
                .map(|_| kind.update_attack().ok_or("attack has no update actor"))
                .collect::<Result<_, _>>()?,
            _ => Vec::new(),
        };
        let weights: Vec<f64> = part.clients.iter().map(|c| c.len() as f64).collect();
        let mut global = self.init.clone();
        let mut previous = vec![0.0f32; global.len()];
        let mut best = 0.0f64;
        for round in 0..self.grid.rounds {
            let mut deltas: Vec<Vec<f32>> = Vec::with_capacity(n);
            for c in 0..n {
                let (ds, idx) = match poisoned.get(&c) {
                    Some((d, i)) => (d, i.as_slice()),
                    None => (&self.train, part.clients[c].as_slice()),
                };
                let s = seed::client_seed(self.grid.seed, round, c as u64);
                let trained =
                    train_local(&global, ds, idx, &self.cfg, s).map_err(|e| e.to_string())?;
                deltas.push(
                    trained
                        .params
                        .iter()
                        .zip(&global)
                        .map(|(a, b)| a - b)
                        .collect(),
                );
            }
            if !actors.is_empty() {
                let byz: Vec<usize> = (0..n).filter(|&c| is_byz[c]).collect();
                let honest: Vec<&[f32]> = (0..n)
                    .filter(|&c| !is_byz[c])
                    .map(|c| deltas[c].as_slice())
                    .collect();
                let view = |own: usize, identity: u64| RoundView {
                    honest: &honest,
                    own: &deltas[own],
                    n,
                    f: k,
                    round,
                    identity,
                    seed: self.grid.seed,
                };
                let crafted: Vec<Vec<f32>> = if is_sybil {
                    actors[0]
                        .craft_many(&view(byz[0], 0), k)
                        .map_err(|e| e.to_string())?
                } else {
                    byz.iter()
                        .zip(actors.iter_mut())
                        .enumerate()
                        .map(|(i, (&c, actor))| {
                            actor.craft(&view(c, i as u64)).map_err(|e| e.to_string())
                        })
                        .collect::<Result<_, _>>()?
                };
                for (&c, u) in byz.iter().zip(crafted) {
                    deltas[c] = u;
                }
            }
            let rows: Vec<&[f32]> = deltas.iter().map(Vec::as_slice).collect();
            let agg = self.aggregator(cell, k, &weights, &previous)?;
            let out = if agg.supports_canonical() {
                agg.aggregate_canonical(&rows)
            } else {
                agg.aggregate(&rows)
            };
            match out {
                Ok(delta) if delta.iter().all(|v| v.is_finite()) => {
                    global.iter_mut().zip(&delta).for_each(|(g, d)| *g += d);
                    previous = delta;
                }
                _ => record.skipped_rounds += 1,
            }
            let acc = f64::from(
                evaluate(ModelKind::Mlp, &global, &self.test)
                    .map_err(|e| e.to_string())?
                    .accuracy,
            );
            best = best.max(acc);
            record.accuracy.push(acc);
        }
        record.final_accuracy = record.accuracy.last().copied();
        record.best_accuracy = Some(best);
        if let Attack::Data(DataAttack::Backdoor(b)) = &attack {
            let triggered = b
                .triggered_test_set(&self.test)
                .map_err(|e| e.to_string())?;
            let asr = evaluate(ModelKind::Mlp, &global, &triggered).map_err(|e| e.to_string())?;
            record.backdoor_success = Some(f64::from(asr.accuracy));
        }
        Ok(())
    }
}

/// Reads the records of `cells.jsonl` (unparsable lines, e.g. a torn last line, are ignored).
pub fn read_cells(path: &Path) -> Vec<CellRecord> {
    std::fs::read_to_string(path)
        .map(|text| {
            text.lines()
                .filter_map(|l| serde_json::from_str::<CellRecord>(l).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// What a grid run did.
#[derive(Debug, Clone)]
pub struct GridOutcome {
    /// One record per cell of the grid, in grid order.
    pub records: Vec<CellRecord>,
    /// Cells run now.
    pub ran: usize,
    /// Cells reused from `cells.jsonl`.
    pub reused: usize,
    /// Files written.
    pub files: Vec<PathBuf>,
}

/// Runs every cell of `grid` not yet in `<out>/cells.jsonl`, then writes the report files.
pub fn run_grid(
    grid: &Grid,
    out: &Path,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<GridOutcome, HarnessError> {
    grid.validate()?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| HarnessError::Io {
            path: path.clone(),
            reason: e.to_string(),
        }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    let jsonl = out.join("cells.jsonl");
    let fingerprint = grid.fingerprint();
    let mut have: HashMap<String, CellRecord> = read_cells(&jsonl)
        .into_iter()
        .filter(|r| r.fingerprint == fingerprint && r.error.is_none())
        .map(|r| (r.key.clone(), r))
        .collect();
    let cells = grid.cells();
    let todo: Vec<&Cell> = cells
        .iter()
        .filter(|c| !have.contains_key(&c.key()))
        .collect();
    let total = cells.len();
    let reused = total - todo.len();
    let ctx = Context::new(grid)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&jsonl)
        .map_err(io(&jsonl))?;
    let state = Mutex::new((file, reused, Vec::<CellRecord>::new(), None::<HarnessError>));
    progress(&Progress {
        done: reused,
        total,
        last: String::new(),
    });
    let run = || {
        todo.par_iter().with_max_len(1).for_each(|cell| {
            let record = ctx.run_cell(cell);
            let line = serde_json::to_string(&record).unwrap_or_default();
            let Ok(mut guard) = state.lock() else { return };
            let (file, done, records, err) = &mut *guard;
            if let Err(e) = writeln!(file, "{line}").and_then(|()| file.flush()) {
                *err = Some(io(&jsonl)(e));
            }
            *done += 1;
            progress(&Progress {
                done: *done,
                total,
                last: cell.key(),
            });
            records.push(record);
        })
    };
    deai_ml::with_threads(grid.threads, run).map_err(|e| HarnessError::Grid {
        reason: e.to_string(),
    })?;
    let (_, _, new_records, err) = state.into_inner().map_err(|_| HarnessError::Grid {
        reason: "a cell panicked".into(),
    })?;
    if let Some(e) = err {
        return Err(e);
    }
    let ran = new_records.len();
    for r in new_records {
        have.insert(r.key.clone(), r);
    }
    let records: Vec<CellRecord> = cells
        .iter()
        .filter_map(|c| have.get(&c.key()).cloned())
        .collect();
    let files = report::write(grid, &records, out)?;
    Ok(GridOutcome {
        records,
        ran,
        reused,
        files,
    })
}
