//! How miners produce the update they commit to: by training honestly, on poisoned data, on
//! the evaluation sets they could look up, or not at all.

use deai_ml::{Dataset, LocalCfg};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::RoleError;

/// What every miner sees at the start of a round.
#[derive(Debug, Clone, Copy)]
pub struct MinerView<'a> {
    /// Round number.
    pub round: u64,
    /// The global model.
    pub global: &'a [f32],
    /// The consensus step of the previous round (`global − previous global`), if any.
    pub last_step: Option<&'a [f32]>,
    /// Local training settings.
    pub cfg: &'a LocalCfg,
    /// Seed of this miner in this round.
    pub seed: u64,
}

/// A miner: produces the update it will commit to and reveal.
pub trait Miner: Send {
    /// Short name of the behaviour, for reports.
    fn kind(&self) -> &'static str;
    /// Whether this actor follows the protocol.
    fn honest(&self) -> bool;
    /// The update to commit to this round.
    fn update(&mut self, view: &MinerView<'_>) -> Result<Vec<f32>, RoleError>;
    /// Whether it reveals what it committed (a silent miner does not).
    fn reveals(&self) -> bool {
        true
    }
    /// Training samples it processed this round (its compute contribution).
    fn samples(&self) -> usize;
}

fn train_delta(
    view: &MinerView<'_>,
    data: &Dataset,
    indices: &[usize],
) -> Result<Vec<f32>, RoleError> {
    let trained = deai_ml::train_local(view.global, data, indices, view.cfg, view.seed)?;
    Ok(trained
        .params
        .iter()
        .zip(view.global)
        .map(|(n, o)| n - o)
        .collect())
}

/// Trains on its shard and reveals the result.
pub struct HonestMiner {
    data: std::sync::Arc<Dataset>,
    shard: Vec<usize>,
}

impl HonestMiner {
    /// A miner training on `shard` of `data`.
    pub fn new(data: std::sync::Arc<Dataset>, shard: Vec<usize>) -> Self {
        Self { data, shard }
    }
}

impl Miner for HonestMiner {
    fn kind(&self) -> &'static str {
        "honest"
    }
    fn honest(&self) -> bool {
        true
    }
    fn update(&mut self, view: &MinerView<'_>) -> Result<Vec<f32>, RoleError> {
        train_delta(view, &self.data, &self.shard)
    }
    fn samples(&self) -> usize {
        self.shard.len()
    }
}

/// Trains on its shard with every label `l` replaced by `9 − l` (data poisoning).
pub struct LabelFlipper {
    flipped: Dataset,
    all: Vec<usize>,
}

impl LabelFlipper {
    /// A label-flipping miner over `shard` of `data`.
    pub fn new(data: &Dataset, shard: &[usize]) -> Result<Self, RoleError> {
        let mut flipped = data.subset(shard).map_err(deai_ml::MlError::from)?;
        for l in flipped.labels_mut() {
            *l = 9u8.saturating_sub(*l);
        }
        let all = (0..flipped.len()).collect();
        Ok(Self { flipped, all })
    }
}

impl Miner for LabelFlipper {
    fn kind(&self) -> &'static str {
        "label_flipper"
    }
    fn honest(&self) -> bool {
        false
    }
    fn update(&mut self, view: &MinerView<'_>) -> Result<Vec<f32>, RoleError> {
        train_delta(view, &self.flipped, &self.all)
    }
    fn samples(&self) -> usize {
        self.all.len()
    }
}

/// A lookup attacker: trains on the evaluation sets it knows (true labels, repeated until they
/// weigh as much as its shard) together with its shard with every label `l` replaced by
/// `9 − l`. Its update fits the known sets and poisons the rest of the distribution, so only a
/// score on a set it has not seen exposes it.
pub struct Overfitter {
    mixed: Dataset,
    all: Vec<usize>,
    shard: usize,
}

impl Overfitter {
    /// An attacker holding `shard` of `data` and knowing the sets `known`.
    pub fn new(data: &Dataset, shard: &[usize], known: &[Dataset]) -> Result<Self, RoleError> {
        let flipped = data.subset(shard).map_err(deai_ml::MlError::from)?;
        let known_len: usize = known.iter().map(Dataset::len).sum();
        let repeats = if known_len == 0 {
            0
        } else {
            shard.len().div_ceil(known_len).max(1)
        };
        let mut images = Vec::new();
        let mut labels = Vec::new();
        for _ in 0..repeats {
            for k in known {
                images.extend_from_slice(k.images());
                labels.extend_from_slice(k.labels());
            }
        }
        images.extend_from_slice(flipped.images());
        labels.extend(flipped.labels().iter().map(|l| 9u8.saturating_sub(*l)));
        let mixed = Dataset::new(images, labels, data.rows(), data.cols())
            .map_err(deai_ml::MlError::from)?;
        let all = (0..mixed.len()).collect();
        Ok(Self {
            mixed,
            all,
            shard: shard.len(),
        })
    }
}

impl Miner for Overfitter {
    fn kind(&self) -> &'static str {
        "overfitter"
    }
    fn honest(&self) -> bool {
        false
    }
    fn update(&mut self, view: &MinerView<'_>) -> Result<Vec<f32>, RoleError> {
        train_delta(view, &self.mixed, &self.all)
    }
    fn samples(&self) -> usize {
        self.shard
    }
}

/// Reveals Gaussian noise: no training at all.
pub struct NoiseFreeRider {
    std: f32,
}

impl NoiseFreeRider {
    /// Noise with standard deviation `std` per coordinate.
    pub fn new(std: f32) -> Self {
        Self { std }
    }
}

impl Miner for NoiseFreeRider {
    fn kind(&self) -> &'static str {
        "free_rider_noise"
    }
    fn honest(&self) -> bool {
        false
    }
    fn update(&mut self, view: &MinerView<'_>) -> Result<Vec<f32>, RoleError> {
        let mut rng = ChaCha8Rng::seed_from_u64(view.seed);
        let normal = Normal::new(0.0f32, self.std).map_err(|source| RoleError::Noise { source })?;
        Ok((0..view.global.len())
            .map(|_| normal.sample(&mut rng))
            .collect())
    }
    fn samples(&self) -> usize {
        0
    }
}

/// Reveals the previous round's consensus step: a plausible update that cost nothing. (It cannot
/// copy this round's updates: they are committed before anyone reveals.)
pub struct CopyFreeRider;

impl Miner for CopyFreeRider {
    fn kind(&self) -> &'static str {
        "free_rider_copy"
    }
    fn honest(&self) -> bool {
        false
    }
    fn update(&mut self, view: &MinerView<'_>) -> Result<Vec<f32>, RoleError> {
        Ok(match view.last_step {
            Some(step) => step.to_vec(),
            None => vec![0.0; view.global.len()],
        })
    }
    fn samples(&self) -> usize {
        0
    }
}

/// Commits and never reveals: the ledger records a missed reveal.
pub struct SilentMiner;

impl Miner for SilentMiner {
    fn kind(&self) -> &'static str {
        "silent"
    }
    fn honest(&self) -> bool {
        false
    }
    fn update(&mut self, view: &MinerView<'_>) -> Result<Vec<f32>, RoleError> {
        Ok(vec![0.0; view.global.len()])
    }
    fn reveals(&self) -> bool {
        false
    }
    fn samples(&self) -> usize {
        0
    }
}
