//! Model parameters as one flat `Vec<f32>`, their seeded initialisation, safetensors files and
//! updates.
//!
//! # Flat order
//!
//! Parameters are the concatenation of the tensors below, in this order, each row-major
//! (PyTorch layouts: a dense weight is `[out, in]`, a convolution weight is
//! `[out_channels, in_channels, kh, kw]`):
//!
//! | model | tensors (name `[shape]`) | total |
//! |---|---|---|
//! | `mlp` | `fc1.weight [200, 784]`, `fc1.bias [200]`, `fc2.weight [10, 200]`, `fc2.bias [10]` | 159,010 |
//! | `cnn` | `conv1.weight [8, 1, 5, 5]`, `conv1.bias [8]`, `conv2.weight [16, 8, 5, 5]`, `conv2.bias [16]`, `fc1.weight [128, 256]`, `fc1.bias [128]`, `fc2.weight [10, 128]`, `fc2.bias [10]` | 37,610 |
//!
//! # Input
//!
//! Both models start by standardising their input pixels: a dataset pixel `x ∈ [0, 1]` enters
//! the first layer as `(x − 0.1307) / 0.3081` (mean and standard deviation of the MNIST training
//! pixels; [`standardize`]). This is part of the model's function, so parameters saved here are
//! meant for inputs standardised the same way.
//!
//! # Initialisation
//!
//! From ChaCha8 stream `(seed, "init")`, tensors in flat order, values in row-major order:
//! weights of layers followed by a ReLU are Kaiming-uniform `U(±sqrt(6 / fan_in))`, the output
//! layer is Xavier-uniform `U(±sqrt(6 / (fan_in + fan_out)))`, biases are zero.
//! [`InitScheme::Torch`] ([`ModelKind::init_with`]) instead draws weights and biases from
//! PyTorch's default `U(±1/sqrt(fan_in))`, for comparisons with PyTorch code.
//!
//! # Files and updates
//!
//! A safetensors file holds the tensors above under their names (dtype F32, little-endian) with
//! metadata `{"format": "deai-ml/1", "model": <name>}`; a round trip is bit-exact. An update is
//! `new − old` as a flat vector with the content hash of its blob ([`crate::blob`]).

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::MlError;
use crate::seed;

/// The models this crate trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// 784-200-10 with a ReLU.
    Mlp,
    /// conv(1→8, 5×5) ReLU maxpool2, conv(8→16, 5×5) ReLU maxpool2, dense 256→128 ReLU, dense 128→10.
    Cnn,
}

/// One named tensor of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorSpec {
    /// Name in safetensors files and candle `VarBuilder` paths.
    pub name: &'static str,
    /// Shape.
    pub shape: &'static [usize],
    /// Initialisation rule.
    pub init: InitRule,
}

/// How a tensor is initialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitRule {
    /// `U(±sqrt(6 / fan_in))`.
    KaimingUniform,
    /// `U(±sqrt(6 / (fan_in + fan_out)))`.
    XavierUniform,
    /// All zeros.
    Zeros,
}

/// Which initialisation a model starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitScheme {
    /// Each tensor's [`InitRule`]: Kaiming/Xavier-uniform weights, zero biases (the default).
    #[default]
    KaimingXavier,
    /// PyTorch's default for `nn.Linear` / `nn.Conv2d`: weights and biases `U(±1/sqrt(fan_in))`
    /// with the layer's `fan_in` (for weights this is `kaiming_uniform_(a = √5)`); for
    /// comparisons with PyTorch code.
    Torch,
}

impl FromStr for InitScheme {
    type Err = MlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "kaiming" | "kaiming-xavier" | "kaiming_xavier" => Ok(Self::KaimingXavier),
            "torch" | "pytorch" => Ok(Self::Torch),
            _ => Err(MlError::Config {
                name: "init",
                value: s.to_owned(),
                accepted: "accepted: kaiming (Kaiming/Xavier-uniform, zero biases), torch (PyTorch's default U(±1/sqrt(fan_in)))",
            }),
        }
    }
}

impl TensorSpec {
    /// Number of values.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// `(fan_in, fan_out)` of a weight: `(in × receptive field, out × receptive field)`.
    fn fans(&self) -> (usize, usize) {
        let receptive: usize = self.shape.iter().skip(2).product();
        let out = self.shape.first().copied().unwrap_or(1);
        let inp = self.shape.get(1).copied().unwrap_or(1);
        (inp * receptive, out * receptive)
    }
}

const fn t(name: &'static str, shape: &'static [usize], init: InitRule) -> TensorSpec {
    TensorSpec { name, shape, init }
}

use InitRule::{KaimingUniform as K, XavierUniform as X, Zeros as Z};

/// Mean of the MNIST training pixels (scaled to `[0, 1]`): the models see pixels standardised
/// as `(x − INPUT_MEAN) / INPUT_STD` ([`standardize`]).
pub const INPUT_MEAN: f32 = 0.1307;
/// Standard deviation of the MNIST training pixels (scaled to `[0, 1]`).
pub const INPUT_STD: f32 = 0.3081;

/// A pixel `x ∈ [0, 1]` as the models see it: `(x − INPUT_MEAN) / INPUT_STD` (the first step
/// of both models' forward pass; datasets keep raw `[0, 1]` pixels).
#[inline]
pub fn standardize(x: f32) -> f32 {
    (x - INPUT_MEAN) / INPUT_STD
}

/// Writes `standardize(src[i])` into `dst[i]` (lengths must match; extra values are ignored).
#[inline]
pub fn standardize_into(dst: &mut [f32], src: &[f32]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = standardize(s);
    }
}

/// MLP hidden width.
pub const MLP_HIDDEN: usize = 200;
/// Input pixels of both models (28 × 28).
pub const INPUT: usize = 784;
/// Side of the input image.
pub const SIDE: usize = 28;

const MLP: &[TensorSpec] = &[
    t("fc1.weight", &[MLP_HIDDEN, INPUT], K),
    t("fc1.bias", &[MLP_HIDDEN], Z),
    t("fc2.weight", &[10, MLP_HIDDEN], X),
    t("fc2.bias", &[10], Z),
];

const CNN: &[TensorSpec] = &[
    t("conv1.weight", &[8, 1, 5, 5], K),
    t("conv1.bias", &[8], Z),
    t("conv2.weight", &[16, 8, 5, 5], K),
    t("conv2.bias", &[16], Z),
    t("fc1.weight", &[128, 256], K),
    t("fc1.bias", &[128], Z),
    t("fc2.weight", &[10, 128], X),
    t("fc2.bias", &[10], Z),
];

impl ModelKind {
    /// Name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mlp => "mlp",
            Self::Cnn => "cnn",
        }
    }

    /// The tensors in flat order.
    pub fn layout(self) -> &'static [TensorSpec] {
        match self {
            Self::Mlp => MLP,
            Self::Cnn => CNN,
        }
    }

    /// Total number of parameters.
    pub fn num_params(self) -> usize {
        self.layout().iter().map(TensorSpec::numel).sum()
    }

    /// Checks that `params` has this model's length.
    pub fn check_len(self, params: &[f32]) -> Result<(), MlError> {
        let expected = self.num_params();
        if params.len() == expected {
            Ok(())
        } else {
            Err(MlError::ParamLen {
                model: self.name(),
                expected,
                got: params.len(),
            })
        }
    }

    /// Seeded initial parameters (see the module docs).
    pub fn init(self, seed: u64) -> Vec<f32> {
        self.init_with(seed, InitScheme::KaimingXavier)
    }

    /// Seeded initial parameters with the given scheme (same random stream for both schemes:
    /// the same uniform draws, scaled by different bounds, except that [`InitScheme::Torch`]
    /// also draws the biases).
    pub fn init_with(self, seed: u64, scheme: InitScheme) -> Vec<f32> {
        let mut rng = seed::rng(seed, "init", &[]);
        let mut out = Vec::with_capacity(self.num_params());
        let mut layer_fan_in = 1;
        for spec in self.layout() {
            let (fan_in, fan_out) = spec.fans();
            if spec.shape.len() >= 2 {
                layer_fan_in = fan_in;
            }
            let bound = match (scheme, spec.init) {
                (InitScheme::Torch, _) => 1.0 / (layer_fan_in.max(1) as f64).sqrt(),
                (_, InitRule::KaimingUniform) => (6.0 / fan_in as f64).sqrt(),
                (_, InitRule::XavierUniform) => (6.0 / (fan_in + fan_out) as f64).sqrt(),
                (_, InitRule::Zeros) => 0.0,
            } as f32;
            for _ in 0..spec.numel() {
                out.push(if bound > 0.0 {
                    rng.gen_range(-bound..bound)
                } else {
                    0.0
                });
            }
        }
        out
    }

    /// Splits a flat vector into `(spec, values)` pairs in flat order.
    pub fn split(self, params: &[f32]) -> Result<Vec<(TensorSpec, &[f32])>, MlError> {
        self.check_len(params)?;
        let mut rest = params;
        let mut out = Vec::with_capacity(self.layout().len());
        for spec in self.layout() {
            let (head, tail) = rest.split_at(spec.numel());
            out.push((*spec, head));
            rest = tail;
        }
        Ok(out)
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ModelKind {
    type Err = MlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "mlp" => Ok(Self::Mlp),
            "cnn" => Ok(Self::Cnn),
            _ => Err(MlError::Config {
                name: "model",
                value: s.to_owned(),
                accepted: "accepted: mlp, cnn",
            }),
        }
    }
}

const FORMAT: &str = "deai-ml/1";

fn st_err(path: &Path, reason: impl fmt::Display) -> MlError {
    MlError::Safetensors {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

/// Serialises parameters as safetensors bytes (tensor names and shapes from the layout).
pub fn to_safetensors(kind: ModelKind, params: &[f32]) -> Result<Vec<u8>, MlError> {
    let parts = kind.split(params)?;
    let bytes: Vec<Vec<u8>> = parts
        .iter()
        .map(|(_, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let mut views = Vec::with_capacity(parts.len());
    for ((spec, _), b) in parts.iter().zip(&bytes) {
        let view =
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, spec.shape.to_vec(), b)
                .map_err(|e| st_err(Path::new("<memory>"), e))?;
        views.push((spec.name, view));
    }
    let meta = std::collections::HashMap::from([
        ("format".to_owned(), FORMAT.to_owned()),
        ("model".to_owned(), kind.name().to_owned()),
    ]);
    safetensors::serialize(views, Some(meta)).map_err(|e| st_err(Path::new("<memory>"), e))
}

/// Parses safetensors bytes written by [`to_safetensors`]; `path` only names errors.
pub fn from_safetensors(path: &Path, bytes: &[u8]) -> Result<(ModelKind, Vec<f32>), MlError> {
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| st_err(path, e))?;
    let model = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get("model"))
        .ok_or_else(|| {
            st_err(
                path,
                "no \"model\" entry in the metadata (accepted: mlp, cnn)",
            )
        })?;
    let kind: ModelKind = model.parse()?;
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| st_err(path, e))?;
    let mut out = Vec::with_capacity(kind.num_params());
    for spec in kind.layout() {
        let view = st
            .tensor(spec.name)
            .map_err(|e| st_err(path, format!("tensor {}: {e}", spec.name)))?;
        if view.dtype() != safetensors::Dtype::F32 || view.shape() != spec.shape {
            return Err(st_err(
                path,
                format!(
                    "tensor {} is {:?} {:?}, expected F32 {:?}",
                    spec.name,
                    view.dtype(),
                    view.shape(),
                    spec.shape
                ),
            ));
        }
        out.extend(
            view.data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        );
    }
    if st.len() != kind.layout().len() {
        return Err(st_err(
            path,
            format!(
                "{} tensors, model {kind} has {}",
                st.len(),
                kind.layout().len()
            ),
        ));
    }
    Ok((kind, out))
}

/// Writes parameters to a safetensors file.
pub fn save(path: &Path, kind: ModelKind, params: &[f32]) -> Result<(), MlError> {
    let bytes = to_safetensors(kind, params)?;
    std::fs::write(path, bytes).map_err(|source| MlError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Reads parameters from a safetensors file.
pub fn load(path: &Path) -> Result<(ModelKind, Vec<f32>), MlError> {
    let bytes = std::fs::read(path).map_err(|source| MlError::Io {
        path: path.to_owned(),
        source,
    })?;
    from_safetensors(path, &bytes)
}

/// A model update: `new − old` and its hash.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    /// `new − old`, flat.
    pub delta: Vec<f32>,
    /// [`crate::blob::hash`] of `delta`: the address of its blob.
    pub hash: [u8; 32],
}

impl Update {
    /// The update that takes `old` to `new`.
    pub fn between(old: &[f32], new: &[f32]) -> Result<Self, MlError> {
        if old.len() != new.len() {
            return Err(MlError::LenMismatch {
                what: "update old/new",
                left: old.len(),
                right: new.len(),
            });
        }
        let delta: Vec<f32> = new.iter().zip(old).map(|(n, o)| n - o).collect();
        let hash = crate::blob::hash(&delta);
        Ok(Self { delta, hash })
    }

    /// Hex of the hash.
    pub fn hash_hex(&self) -> String {
        self.hash.iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_docs() {
        assert_eq!(ModelKind::Mlp.num_params(), 159_010);
        assert_eq!(ModelKind::Cnn.num_params(), 37_610);
    }

    #[test]
    fn init_is_seeded_and_bounded() {
        let a = ModelKind::Mlp.init(1);
        assert_eq!(a, ModelKind::Mlp.init(1));
        assert_ne!(a, ModelKind::Mlp.init(2));
        let bound = (6.0f32 / 784.0).sqrt();
        assert!(a[..156_800].iter().all(|x| x.abs() <= bound));
        assert!(a[156_800..157_000].iter().all(|&x| x == 0.0));
    }

    #[test]
    fn torch_init_bounds_are_one_over_sqrt_fan_in() {
        let a = ModelKind::Mlp.init_with(1, InitScheme::Torch);
        let (b_in, b_hid) = (1.0 / 784f32.sqrt(), 1.0 / 200f32.sqrt());
        let (w1, rest) = a.split_at(156_800 + 200);
        assert!(w1.iter().all(|x| x.abs() <= b_in));
        assert!(w1.iter().any(|x| x.abs() > 0.9 * b_in));
        assert!(rest.iter().all(|x| x.abs() <= b_hid));
        assert!(rest[2000..].iter().all(|&x| x != 0.0), "biases are drawn");
        assert_eq!("torch".parse::<InitScheme>().unwrap(), InitScheme::Torch);
        assert!("he".parse::<InitScheme>().is_err());
    }
}
