//! Local training and evaluation: one client's epochs of mini-batch SGD on its samples.
//!
//! [`train_local`] starts from a flat parameter vector, runs `epochs` passes over `indices` of a
//! [`Dataset`] in mini-batches (cross-entropy averaged over the batch, the last batch of an
//! epoch may be smaller), and returns the new flat parameters. Each epoch visits the indices in
//! the order of a Fisher–Yates shuffle drawn from the ChaCha8 stream `(seed, "local")`, so the
//! same `(global, data, indices, cfg, seed)` gives the same batches on every engine and thread
//! count.
//!
//! The dataset is whatever the caller passes: an attack actor trains on a modified copy
//! (flipped labels, stamped triggers) through the same function.
//!
//! Engines: [`Engine::Fused`] is the hand-written CPU path for the MLP ([`crate::fused`]);
//! [`Engine::Candle`] runs either model with candle autograd and [`crate::model::Sgd`];
//! [`Engine::Auto`] picks the fused path for the MLP and candle for the CNN.

use std::str::FromStr;

use candle_core::{Module, Tensor};
use candle_nn::Optimizer;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::data::{Dataset, CLASSES};
use crate::error::MlError;
use crate::model::{CandleModel, Sgd, SgdParams};
use crate::params::{standardize, ModelKind, INPUT};
use crate::{fused, model, seed};

/// Which implementation trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    /// Fused path for the MLP, candle for the CNN.
    #[default]
    Auto,
    /// The fused CPU path (MLP only).
    Fused,
    /// candle autograd.
    Candle,
}

impl FromStr for Engine {
    type Err = MlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "fused" => Ok(Self::Fused),
            "candle" => Ok(Self::Candle),
            _ => Err(MlError::Config {
                name: "engine",
                value: s.to_owned(),
                accepted: "accepted: auto, fused, candle",
            }),
        }
    }
}

/// Local-training settings of a client.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LocalCfg {
    /// The model.
    pub model: ModelKind,
    /// The implementation.
    pub engine: Engine,
    /// Passes over the client's samples.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch: usize,
    /// Learning rate.
    pub lr: f32,
    /// SGD momentum (PyTorch semantics; 0 = plain SGD).
    pub momentum: f32,
    /// L2 weight decay added to the gradient.
    pub weight_decay: f32,
}

impl Default for LocalCfg {
    /// The configuration: MLP, 1 epoch, batch 32, lr 0.05, no momentum, no weight decay.
    fn default() -> Self {
        Self {
            model: ModelKind::Mlp,
            engine: Engine::Auto,
            epochs: 1,
            batch: 32,
            lr: 0.05,
            momentum: 0.0,
            weight_decay: 0.0,
        }
    }
}

impl LocalCfg {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), MlError> {
        let bad = |name, value: String, accepted| {
            Err(MlError::Config {
                name,
                value,
                accepted,
            })
        };
        if self.batch == 0 {
            return bad("batch", self.batch.to_string(), "must be >= 1");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr", self.lr.to_string(), "must be a finite number > 0");
        }
        if !(self.momentum.is_finite() && (0.0..1.0).contains(&self.momentum)) {
            return bad("momentum", self.momentum.to_string(), "must be in [0, 1)");
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(
                "weight_decay",
                self.weight_decay.to_string(),
                "must be a finite number >= 0",
            );
        }
        if self.engine == Engine::Fused && self.model != ModelKind::Mlp {
            return bad(
                "engine",
                "fused".into(),
                "the fused engine supports only the mlp model",
            );
        }
        Ok(())
    }

    /// The engine actually used (resolving [`Engine::Auto`]).
    pub fn resolved_engine(&self) -> Engine {
        match (self.engine, self.model) {
            (Engine::Auto, ModelKind::Mlp) => Engine::Fused,
            (Engine::Auto, ModelKind::Cnn) => Engine::Candle,
            (e, _) => e,
        }
    }

    /// The optimizer settings.
    pub fn sgd(&self) -> SgdParams {
        SgdParams {
            lr: f64::from(self.lr),
            momentum: f64::from(self.momentum),
            weight_decay: f64::from(self.weight_decay),
        }
    }
}

/// The result of local training.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalTrained {
    /// The new flat parameters.
    pub params: Vec<f32>,
    /// Mean training loss over all samples of all epochs (computed before each step).
    pub train_loss: f32,
    /// Samples processed (`epochs × indices.len()`).
    pub samples: usize,
}

/// Loss and accuracy on a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Eval {
    /// Mean cross-entropy.
    pub loss: f32,
    /// Fraction classified correctly (argmax, first index on ties).
    pub accuracy: f32,
}

/// Checks that the model can read `data` at `indices`.
pub(crate) fn check_inputs(
    kind: ModelKind,
    data: &Dataset,
    indices: &[usize],
) -> Result<(), MlError> {
    if data.pixels() != INPUT {
        return Err(MlError::InputShape {
            model: kind.name(),
            expected: INPUT,
            side: 28,
            got: data.pixels(),
        });
    }
    for &i in indices {
        match data.labels().get(i) {
            None => {
                return Err(MlError::IndexOutOfRange {
                    index: i,
                    len: data.len(),
                })
            }
            Some(&l) if usize::from(l) >= CLASSES => {
                return Err(MlError::Config {
                    name: "label",
                    value: l.to_string(),
                    accepted: "labels must be in 0..10",
                })
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The visiting order of one epoch: `order := indices`, shuffled with `rng`.
pub(crate) fn shuffle_into(
    order: &mut Vec<usize>,
    indices: &[usize],
    rng: &mut rand_chacha::ChaCha8Rng,
) {
    order.clear();
    order.extend_from_slice(indices);
    order.shuffle(rng);
}

/// Trains from `global` on the samples `indices` of `data` (see the module docs).
pub fn train_local(
    global: &[f32],
    data: &Dataset,
    indices: &[usize],
    cfg: &LocalCfg,
    seed: u64,
) -> Result<LocalTrained, MlError> {
    cfg.validate()?;
    cfg.model.check_len(global)?;
    check_inputs(cfg.model, data, indices)?;
    match cfg.resolved_engine() {
        Engine::Fused => fused::train_mlp(global, data, indices, cfg, seed),
        _ => train_candle(global, data, indices, cfg, seed),
    }
}

/// Gathers the standardised pixels ([`standardize`]) and labels of `idx` into tensors.
fn batch_tensors(
    data: &Dataset,
    idx: &[usize],
    dev: &candle_core::Device,
) -> Result<(Tensor, Tensor), MlError> {
    let mut x = Vec::with_capacity(idx.len() * INPUT);
    let mut y = Vec::with_capacity(idx.len());
    for &i in idx {
        let image = data.image(i).ok_or(MlError::IndexOutOfRange {
            index: i,
            len: data.len(),
        })?;
        x.extend(image.iter().map(|&v| standardize(v)));
        y.push(u32::from(data.labels()[i]));
    }
    Ok((
        Tensor::from_vec(x, (idx.len(), INPUT), dev)?,
        Tensor::from_vec(y, idx.len(), dev)?,
    ))
}

/// Local training with candle autograd (either model).
pub fn train_candle(
    global: &[f32],
    data: &Dataset,
    indices: &[usize],
    cfg: &LocalCfg,
    seed: u64,
) -> Result<LocalTrained, MlError> {
    cfg.validate()?;
    check_inputs(cfg.model, data, indices)?;
    let dev = model::device()?;
    let net = CandleModel::new(cfg.model, global, &dev)?;
    let mut opt = Sgd::new(net.vars().to_vec(), cfg.sgd())?;
    let mut rng = seed::rng(seed, "local", &[]);
    let mut order = Vec::with_capacity(indices.len());
    let mut loss_sum = 0.0f64;
    for _ in 0..cfg.epochs {
        shuffle_into(&mut order, indices, &mut rng);
        for idx in order.chunks(cfg.batch) {
            let (x, y) = batch_tensors(data, idx, &dev)?;
            let loss = candle_nn::loss::cross_entropy(&net.forward(&x)?, &y)?;
            opt.backward_step(&loss)?;
            loss_sum += f64::from(loss.to_scalar::<f32>()?) * idx.len() as f64;
        }
    }
    let samples = cfg.epochs * indices.len();
    let train_loss = if samples > 0 {
        (loss_sum / samples as f64) as f32
    } else {
        0.0
    };
    Ok(LocalTrained {
        params: net.to_flat()?,
        train_loss,
        samples,
    })
}

/// Loss and accuracy of `params` on all of `data` (fused forward for the MLP, candle for the CNN).
pub fn evaluate(kind: ModelKind, params: &[f32], data: &Dataset) -> Result<Eval, MlError> {
    kind.check_len(params)?;
    check_inputs(kind, data, &[])?;
    match kind {
        ModelKind::Mlp => fused::evaluate_mlp(params, data),
        ModelKind::Cnn => evaluate_candle(kind, params, data),
    }
}

/// Loss and accuracy computed with candle (either model).
pub fn evaluate_candle(kind: ModelKind, params: &[f32], data: &Dataset) -> Result<Eval, MlError> {
    check_inputs(kind, data, &[])?;
    let dev = model::device()?;
    let net = CandleModel::new(kind, params, &dev)?;
    let all: Vec<usize> = (0..data.len()).collect();
    let (mut loss_sum, mut correct) = (0.0f64, 0usize);
    for idx in all.chunks(500) {
        let (x, y) = batch_tensors(data, idx, &dev)?;
        let logits = net.forward(&x)?;
        let loss = candle_nn::loss::cross_entropy(&logits, &y)?.to_scalar::<f32>()?;
        loss_sum += f64::from(loss) * idx.len() as f64;
        let pred = logits.argmax(1)?.to_vec1::<u32>()?;
        correct += pred
            .iter()
            .zip(y.to_vec1::<u32>()?)
            .filter(|(p, y)| **p == *y)
            .count();
    }
    let n = data.len().max(1) as f64;
    Ok(Eval {
        loss: (loss_sum / n) as f32,
        accuracy: (correct as f64 / n) as f32,
    })
}
