//! Splitting a dataset between miners (training shards) and validators (private evaluation sets).

use std::path::{Path, PathBuf};

use deai_ml::{Dataset, Partition, PartitionSpec, Splits};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::{Scenario, SimError};

/// The data of one run.
#[derive(Debug)]
pub struct RunData {
    /// Training samples of the miners (the partition indexes into this).
    pub train: Dataset,
    /// Test split: the accuracy reported per round.
    pub test: Dataset,
    /// Which training samples each miner holds.
    pub partition: Partition,
    /// Each validator's private evaluation set.
    pub validator_sets: Vec<Dataset>,
    /// Each validator's second set, revealed after weights are committed (empty when off).
    pub holdout_sets: Vec<Dataset>,
}

/// The shipped mnist-10k folder: `data/mnist-10k` under the working directory if it exists,
/// else the copy in the source tree this binary was built from.
pub fn default_data_dir() -> PathBuf {
    let local = PathBuf::from("data/mnist-10k");
    if local.is_dir() {
        local
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist-10k")
    }
}

impl RunData {
    /// Loads the scenario's dataset and splits it. Validator sets are drawn (seeded) from the
    /// training split first; the rest is partitioned over the miners.
    pub fn load(s: &Scenario) -> Result<Self, SimError> {
        let dir = s.data.dir.clone().unwrap_or_else(default_data_dir);
        let Splits { train, test } =
            deai_ml::data::load_dir(&dir).map_err(deai_ml::MlError::from)?;
        let nv = s.validator_count();
        let per_validator = s.data.validator_samples + s.data.holdout_samples;
        let held = nv * per_validator;
        let miners = s.miner_count();
        if held + miners * 10 > train.len() {
            return Err(SimError::Scenario {
                path: dir,
                reason: format!(
                    "`data.validator_samples`: {nv} validators × {per_validator} samples leave too few of the {} training samples for {miners} miners",
                    train.len()
                ),
            });
        }
        let mut order: Vec<usize> = (0..train.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(s.seed ^ 0x5eed_da7a));
        let (held_idx, miner_idx) = order.split_at(held);
        let mut validator_sets = Vec::with_capacity(nv);
        let mut holdout_sets = Vec::with_capacity(nv);
        for chunk in held_idx.chunks(per_validator.max(1)) {
            let (eval, holdout) = chunk.split_at(s.data.validator_samples);
            validator_sets.push(train.subset(eval).map_err(deai_ml::MlError::from)?);
            holdout_sets.push(train.subset(holdout).map_err(deai_ml::MlError::from)?);
        }
        let miner_train = train.subset(miner_idx).map_err(deai_ml::MlError::from)?;
        let spec: PartitionSpec = s.data.partition.parse().map_err(|e| SimError::Scenario {
            path: dir.clone(),
            reason: format!("`data.partition`: {e}"),
        })?;
        let partition = deai_ml::partition::partition(miner_train.labels(), miners, &spec, s.seed)
            .map_err(deai_ml::MlError::from)?;
        Ok(Self {
            train: miner_train,
            test,
            partition,
            validator_sets,
            holdout_sets,
        })
    }
}
