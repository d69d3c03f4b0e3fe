//! The candle models and an SGD optimizer with momentum and weight decay.
//!
//! Models are built from a [`VarBuilder`] over a [`VarMap`] whose variables are filled from a
//! flat parameter vector (names and order in [`crate::params`]), so `flat → model → flat` is
//! the identity. Both models take a `(batch, 784)` tensor of pixels and return `(batch, 10)`
//! logits.
//!
//! The device is the CPU unless the crate is built with the `cuda` or `metal` feature, in which
//! case [`device`] returns GPU 0; nothing else in the API changes.

use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{Conv2d, Conv2dConfig, Linear, Optimizer, VarBuilder, VarMap};

use crate::error::MlError;
use crate::params::{ModelKind, INPUT, SIDE};

/// The device candle models run on (CPU by default; see the module docs).
pub fn device() -> Result<Device, MlError> {
    #[cfg(feature = "cuda")]
    {
        return Ok(Device::new_cuda(0)?);
    }
    #[cfg(all(feature = "metal", not(feature = "cuda")))]
    {
        return Ok(Device::new_metal(0)?);
    }
    #[allow(unreachable_code)]
    Ok(Device::Cpu)
}

/// 784 → 200 → ReLU → 10.
#[derive(Debug)]
pub struct Mlp {
    fc1: Linear,
    fc2: Linear,
}

impl Mlp {
    /// Builds the layers from `vb` (scopes `fc1`, `fc2`).
    pub fn new(vb: VarBuilder) -> Result<Self, MlError> {
        Ok(Self {
            fc1: candle_nn::linear(INPUT, crate::params::MLP_HIDDEN, vb.pp("fc1"))?,
            fc2: candle_nn::linear(crate::params::MLP_HIDDEN, 10, vb.pp("fc2"))?,
        })
    }
}

impl Module for Mlp {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        xs.apply(&self.fc1)?.relu()?.apply(&self.fc2)
    }
}

/// conv 5×5 (1→8) → ReLU → maxpool 2 → conv 5×5 (8→16) → ReLU → maxpool 2 → 256 → 128 → ReLU → 10.
#[derive(Debug)]
pub struct Cnn {
    conv1: Conv2d,
    conv2: Conv2d,
    fc1: Linear,
    fc2: Linear,
}

impl Cnn {
    /// Builds the layers from `vb` (scopes `conv1`, `conv2`, `fc1`, `fc2`).
    pub fn new(vb: VarBuilder) -> Result<Self, MlError> {
        let cfg = Conv2dConfig::default();
        Ok(Self {
            conv1: candle_nn::conv2d(1, 8, 5, cfg, vb.pp("conv1"))?,
            conv2: candle_nn::conv2d(8, 16, 5, cfg, vb.pp("conv2"))?,
            fc1: candle_nn::linear(256, 128, vb.pp("fc1"))?,
            fc2: candle_nn::linear(128, 10, vb.pp("fc2"))?,
        })
    }
}

impl Module for Cnn {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let b = xs.dim(0)?;
        xs.reshape((b, 1, SIDE, SIDE))?
            .apply(&self.conv1)?
            .relu()?
            .max_pool2d(2)?
            .apply(&self.conv2)?
            .relu()?
            .max_pool2d(2)?
            .flatten_from(1)?
            .apply(&self.fc1)?
            .relu()?
            .apply(&self.fc2)
    }
}

#[derive(Debug)]
enum Net {
    Mlp(Mlp),
    Cnn(Cnn),
}

/// A candle model whose variables mirror a flat parameter vector.
#[derive(Debug)]
pub struct CandleModel {
    kind: ModelKind,
    vars: Vec<Var>,
    net: Net,
    device: Device,
}

impl CandleModel {
    /// Builds `kind` on `device` with the given flat parameters.
    pub fn new(kind: ModelKind, params: &[f32], device: &Device) -> Result<Self, MlError> {
        let parts = kind.split(params)?;
        let varmap = VarMap::new();
        let mut vars = Vec::with_capacity(parts.len());
        {
            let mut map = varmap
                .data()
                .lock()
                .map_err(|_| candle_core::Error::Msg("VarMap lock poisoned".into()))?;
            for (spec, values) in parts {
                let var = Var::from_slice(values, spec.shape, device)?;
                map.insert(spec.name.to_owned(), var.clone());
                vars.push(var);
            }
        }
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
        let net = match kind {
            ModelKind::Mlp => Net::Mlp(Mlp::new(vb)?),
            ModelKind::Cnn => Net::Cnn(Cnn::new(vb)?),
        };
        Ok(Self {
            kind,
            vars,
            net,
            device: device.clone(),
        })
    }

    /// Which model.
    pub fn kind(&self) -> ModelKind {
        self.kind
    }

    /// The variables in flat order.
    pub fn vars(&self) -> &[Var] {
        &self.vars
    }

    /// The device.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The current parameters as one flat vector.
    pub fn to_flat(&self) -> Result<Vec<f32>, MlError> {
        let mut out = Vec::with_capacity(self.kind.num_params());
        for v in &self.vars {
            out.extend(v.as_tensor().flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(out)
    }
}

impl Module for CandleModel {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        match &self.net {
            Net::Mlp(m) => m.forward(xs),
            Net::Cnn(m) => m.forward(xs),
        }
    }
}

/// SGD hyper-parameters, with PyTorch's semantics (dampening 0, no Nesterov):
/// `g ← ∇ + weight_decay·w; buf ← momentum·buf + g (buf₀ = g); w ← w − lr·buf`
/// (with `momentum = 0`: `w ← w − lr·g`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdParams {
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor (0 = plain SGD).
    pub momentum: f64,
    /// L2 penalty added to the gradient (applied to every parameter, biases included).
    pub weight_decay: f64,
}

/// SGD with momentum and weight decay over candle variables.
#[derive(Debug)]
pub struct Sgd {
    vars: Vec<Var>,
    bufs: Vec<Option<Tensor>>,
    params: SgdParams,
}

impl Optimizer for Sgd {
    type Config = SgdParams;

    fn new(vars: Vec<Var>, params: SgdParams) -> candle_core::Result<Self> {
        let bufs = vec![None; vars.len()];
        Ok(Self { vars, bufs, params })
    }

    fn learning_rate(&self) -> f64 {
        self.params.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.params.lr = lr;
    }

    fn step(&mut self, grads: &candle_core::backprop::GradStore) -> candle_core::Result<()> {
        let SgdParams {
            lr,
            momentum,
            weight_decay,
        } = self.params;
        for (var, buf) in self.vars.iter().zip(self.bufs.iter_mut()) {
            let Some(grad) = grads.get(var) else { continue };
            let mut g = if weight_decay != 0.0 {
                (grad + (var.as_tensor() * weight_decay)?)?
            } else {
                grad.clone()
            };
            if momentum != 0.0 {
                let b = match buf.take() {
                    Some(b) => ((b * momentum)? + &g)?,
                    None => g,
                };
                *buf = Some(b.clone());
                g = b;
            }
            var.set(&(var.as_tensor() - (g * lr)?)?)?;
        }
        Ok(())
    }
}
