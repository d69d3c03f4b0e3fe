//! The grid file (TOML) and its cells.
//!
//! ```toml
//! data = "data/mnist-10k"      # relative to the grid file's folder, then to the cwd
//! clients = 10
//! rounds = 15
//! seed = 1
//! lr = 0.05
//! momentum = 0.9
//! batch = 32
//! local_epochs = 1
//! max_train = 8000             # optional: first n training samples only
//! max_test = 2000              # optional
//! backdoor_fraction = 0.5      # share of a backdoor attacker's samples that are poisoned
//! threads = 2                  # optional: cells run in parallel on this many threads
//! fractions = [0.0, 0.1, 0.2, 0.3]
//! partitions = ["iid", "dirichlet:0.5"]
//! attacks = ["sign_flip", "scaling:10", "alie", "ipm:0.5", "label_flip", "backdoor:0"]
//! defenses = ["fedavg", "coordinate_median", { rule = "trimmed_mean", params = { beta = 0.2 } }]
//! ```
//!
//! Cells: for every partition and defense, one no-attack cell at fraction 0 (whatever the
//! attack list says — with no Byzantine client every attack is the same run), and one cell per
//! attack and non-zero fraction. A fraction p gives round(p·clients) Byzantine clients.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::HarnessError;

/// A defense: an aggregation rule spec with a display label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DefenseSpec {
    /// Just a rule name (`krum`, `nnm+krum`, …).
    Name(String),
    /// A rule with parameters and an optional label.
    Full {
        /// The rule as `deai_aggregation::from_spec` takes it.
        rule: String,
        /// Its parameters (`f` is filled from the fraction for krum, multi_krum and nnm+ when
        /// absent).
        #[serde(default)]
        params: Map<String, Value>,
        /// Label in tables (default: the rule name).
        #[serde(default)]
        label: Option<String>,
    },
}

impl DefenseSpec {
    /// The rule name.
    pub fn rule(&self) -> &str {
        match self {
            Self::Name(r) => r,
            Self::Full { rule, .. } => rule,
        }
    }

    /// The label used in tables and as part of the cell key.
    pub fn label(&self) -> String {
        match self {
            Self::Name(r) => r.clone(),
            Self::Full {
                rule,
                params,
                label,
            } => label.clone().unwrap_or_else(|| {
                if params.is_empty() {
                    rule.clone()
                } else {
                    format!("{rule}{}", Value::Object(params.clone()))
                }
            }),
        }
    }

    /// The explicit parameters.
    pub fn params(&self) -> Map<String, Value> {
        match self {
            Self::Name(_) => Map::new(),
            Self::Full { params, .. } => params.clone(),
        }
    }
}

fn default_lr() -> f32 {
    0.05
}
fn default_batch() -> usize {
    32
}
fn default_one() -> usize {
    1
}
fn default_backdoor() -> f64 {
    0.5
}
fn default_fractions() -> Vec<f64> {
    vec![0.0, 0.1, 0.2, 0.3]
}
fn default_partitions() -> Vec<String> {
    vec!["iid".into(), "dirichlet:0.5".into()]
}

/// A grid file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grid {
    /// Dataset folder (MNIST IDX files).
    pub data: PathBuf,
    /// Federated clients per run.
    pub clients: usize,
    /// Rounds per run.
    pub rounds: u64,
    /// Seed of every run (partition, init, batches, Byzantine set, attack noise).
    #[serde(default)]
    pub seed: u64,
    /// Local learning rate.
    #[serde(default = "default_lr")]
    pub lr: f32,
    /// Local SGD momentum.
    #[serde(default)]
    pub momentum: f32,
    /// Mini-batch size.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Local epochs per round.
    #[serde(default = "default_one")]
    pub local_epochs: usize,
    /// Use only the first n training samples.
    #[serde(default)]
    pub max_train: Option<usize>,
    /// Use only the first n test samples.
    #[serde(default)]
    pub max_test: Option<usize>,
    /// Share of a backdoor attacker's samples that carry the trigger.
    #[serde(default = "default_backdoor")]
    pub backdoor_fraction: f64,
    /// Threads running cells (default: one per core).
    #[serde(default)]
    pub threads: Option<usize>,
    /// Byzantine fractions.
    #[serde(default = "default_fractions")]
    pub fractions: Vec<f64>,
    /// Partition specs (`iid`, `dirichlet:0.5`, …).
    #[serde(default = "default_partitions")]
    pub partitions: Vec<String>,
    /// Attack specs as `deai_aggregation::attacks::AttackKind` parses them.
    pub attacks: Vec<String>,
    /// Defenses.
    pub defenses: Vec<DefenseSpec>,
}

/// One run of the grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Partition spec.
    pub partition: String,
    /// Byzantine fraction.
    pub fraction: f64,
    /// Attack spec (`none` for the baseline).
    pub attack: String,
    /// Defense label.
    pub defense: String,
    /// Index of the defense in the grid.
    #[serde(skip)]
    pub defense_index: usize,
}

impl Cell {
    /// The key under which the cell is stored in `cells.jsonl`.
    pub fn key(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.partition, self.fraction, self.attack, self.defense
        )
    }
}

impl Grid {
    /// Reads and checks a grid file; a relative `data` path is resolved against the file's
    /// folder when it exists there.
    pub fn load(path: &Path) -> Result<Self, HarnessError> {
        let text = std::fs::read_to_string(path).map_err(|e| HarnessError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let mut grid: Grid = toml::from_str(&text).map_err(|e| HarnessError::Grid {
            reason: format!("{}: {e}", path.display()),
        })?;
        if grid.data.is_relative() {
            if let Some(dir) = path.parent() {
                let near = dir.join(&grid.data);
                if near.is_dir() {
                    grid.data = near;
                }
            }
        }
        grid.validate()?;
        Ok(grid)
    }

    /// Checks ranges and that every attack, partition and defense parses.
    pub fn validate(&self) -> Result<(), HarnessError> {
        let bad = |reason: String| Err(HarnessError::Grid { reason });
        if self.clients < 2 {
            return bad(format!("clients = {}: need at least 2", self.clients));
        }
        if self.rounds == 0 {
            return bad("rounds = 0: need at least 1".into());
        }
        if let Some(f) = self.fractions.iter().find(|f| !(0.0..0.5).contains(*f)) {
            return bad(format!("fraction {f} must be in [0, 0.5)"));
        }
        if self.defenses.is_empty() {
            return bad("defenses is empty: list at least one rule, e.g. \"fedavg\"".into());
        }
        for a in &self.attacks {
            super::parse_attack(a)?;
        }
        for p in &self.partitions {
            p.parse::<deai_ml::PartitionSpec>()
                .map_err(|e| HarnessError::Grid {
                    reason: e.to_string(),
                })?;
        }
        let mut labels: Vec<String> = self.defenses.iter().map(DefenseSpec::label).collect();
        labels.sort();
        if labels.windows(2).any(|w| w[0] == w[1]) {
            return bad("two defenses have the same label; give one a `label`".into());
        }
        Ok(())
    }

    /// Number of Byzantine clients for a fraction.
    pub fn byzantine(&self, fraction: f64) -> usize {
        (fraction * self.clients as f64).round() as usize
    }

    /// Every cell, in a fixed order.
    pub fn cells(&self) -> Vec<Cell> {
        let mut out = Vec::new();
        for partition in &self.partitions {
            for (defense_index, d) in self.defenses.iter().enumerate() {
                let defense = d.label();
                let mut push = |fraction: f64, attack: &str| {
                    out.push(Cell {
                        partition: partition.clone(),
                        fraction,
                        attack: attack.to_string(),
                        defense: defense.clone(),
                        defense_index,
                    })
                };
                push(0.0, "none");
                for &fraction in self.fractions.iter().filter(|&&f| self.byzantine(f) > 0) {
                    for attack in self.attacks.iter().filter(|a| a.as_str() != "none") {
                        push(fraction, attack);
                    }
                }
            }
        }
        out
    }

    /// A fingerprint of everything but the lists (a cell is reused only under the same one).
    pub fn fingerprint(&self) -> String {
        let v = serde_json::json!({
            "data": self.data.file_name().map(|s| s.to_string_lossy().to_string()),
            "clients": self.clients, "rounds": self.rounds, "seed": self.seed,
            "lr": self.lr, "momentum": self.momentum, "batch": self.batch,
            "local_epochs": self.local_epochs, "max_train": self.max_train,
            "max_test": self.max_test, "backdoor_fraction": self.backdoor_fraction,
        });
        blake3::hash(v.to_string().as_bytes()).to_hex()[..16].to_string()
    }
}
