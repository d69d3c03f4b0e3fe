//! The fused CPU path for the MLP: mini-batch SGD with no autograd, no gradient buffers and no
//! allocation per step.
//!
//! Parameters come in and go out as the flat vector (`W1 [200, 784]`, `b1`, `W2 [10, 200]`,
//! `b2`, see [`crate::params`]). For the duration of a local training run they live in a
//! [`FusedModel`]: the same values in the layout the GEMMs want — `W1ᵀ [784, 208]`, `b1 [208]`,
//! `W2 [10, 208]`, `b2 [10]`, the hidden layer padded with zeros from 200 to 208 units (a
//! multiple of the 16 f32 lanes of AVX-512). With that layout the two large products run
//! straight on the stored matrices ([`crate::kernel`]), without packing (copying) `W1` at
//! every step. The padded units stay exactly zero: their pre-activation is `0 + 0`, so ReLU's mask
//! zeroes their gradient, and `X`/`H` columns multiply into them only zeros.
//!
//! One step on a batch `X` of `B` rows (`B ≤ batch`; the rows are read in place from the
//! dataset's standardised pixels, [`Dataset::standardized`], computed once per dataset — the
//! products gather them by offset, nothing is copied):
//!
//! 1. `H ← relu(1·b1ᵀ + X·W1ᵀ)` — one pass of [`gemm_fused`] (bias pre-filled in registers,
//!    ReLU on the store);
//! 2. `Z ← 1·b2ᵀ + H·W2ᵀ` (ten dot products per row, [`gemm_nt`]);
//! 3. `dZ' ← g·(softmax(Z) − onehot(y)) / B` in place, loss `Σ logsumexp(Z) − Z_y`, with
//!    `g = −lr` for plain SGD (the products below then add the update itself) and `g = 1`
//!    with momentum;
//! 4. `dH' ← (dZ'·W2) ⊙ [H > 0]` (one pass, with the old `W2`, the mask on the store);
//! 5. weights, with `d = 1 − lr·wd`: `W2 ← d·W2 + dZ'ᵀ·H`, `b2 ← d·b2 + Σ_rows dZ'`,
//!    `W1ᵀ ← d·W1ᵀ + Xᵀ·dH'` (a rank-`B` update, one pass over `W1ᵀ`) and
//!    `b1 ← d·b1 + 1ᵀ·dH'`. No gradient is ever stored and none with respect to `X` is
//!    computed.
//!
//! With momentum `μ > 0` (PyTorch semantics) the products accumulate into the momentum buffer
//! instead — `M ← μ·M + Gᵀ·A` — followed by one fused pass `M ← M + wd·W; W ← W − lr·M`.
//!
//! [`gemm_fused`] runs a register-blocked AVX-512 kernel where the CPU has it and `gemm`
//! otherwise ([`crate::kernel`]). All buffers are allocated once per [`train_mlp`] call, 64-byte
//! aligned; every product runs single-threaded on the calling thread (a client is one task;
//! parallelism is across clients), so the result does not depend on the number of threads.

use rayon::prelude::*;

use crate::data::Dataset;
use crate::error::MlError;
use crate::kernel::{gemm_fused, gemm_nt, transpose, AlignedVec, Init, Lhs, Store};
use crate::matmul::View;
use crate::params::{standardize_into, ModelKind, INPUT, MLP_HIDDEN as HID};
use crate::seed;
use crate::train::{check_inputs, shuffle_into, Eval, LocalCfg, LocalTrained};

const OUT: usize = 10;
const W1: usize = HID * INPUT;
const B1: usize = HID;
const W2: usize = OUT * HID;

/// Hidden width padded up to a multiple of 16 (f32 lanes of AVX-512).
const HP: usize = HID.div_ceil(16) * 16;
/// Lengths of the parts of a [`FusedModel`].
const FW1: usize = INPUT * HP;
const FB1: usize = HP;
const FW2: usize = OUT * HP;
const FLEN: usize = FW1 + FB1 + FW2 + OUT;

/// Flops of one training sample on the fused path, biases, padding and element-wise work not
/// counted: forward `2·(784·200 + 200·10)`, `dH` `2·200·10`, weight updates
/// `2·(784·200 + 200·10)`. (The usual convention, `6 × parameters`, also counts the first
/// layer's input gradient, which this path does not compute.)
pub const FLOPS_PER_SAMPLE: u64 =
    2 * (W1 as u64 + W2 as u64) + 2 * W2 as u64 + 2 * (W1 as u64 + W2 as u64);

/// Split of a fused-layout vector into `(W1ᵀ, b1, W2, b2)`.
fn split_mut(p: &mut [f32]) -> (&mut [f32], &mut [f32], &mut [f32], &mut [f32]) {
    let (w1, rest) = p.split_at_mut(FW1);
    let (b1, rest) = rest.split_at_mut(FB1);
    let (w2, b2) = rest.split_at_mut(FW2);
    (w1, b1, w2, b2)
}

/// Split of a fused-layout vector into `(W1ᵀ, b1, W2, b2)`.
fn split(p: &[f32]) -> (&[f32], &[f32], &[f32], &[f32]) {
    let (w1, rest) = p.split_at(FW1);
    let (b1, rest) = rest.split_at(FB1);
    let (w2, b2) = rest.split_at(FW2);
    (w1, b1, w2, b2)
}

/// The MLP's parameters in the fused layout (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct FusedModel {
    data: AlignedVec,
}

impl FusedModel {
    /// The fused layout of the flat MLP parameters `params`.
    pub fn from_flat(params: &[f32]) -> Result<Self, MlError> {
        ModelKind::Mlp.check_len(params)?;
        let mut data = AlignedVec::zeros(FLEN);
        let (w1, rest) = params.split_at(W1);
        let (b1, rest) = rest.split_at(B1);
        let (w2, b2) = rest.split_at(W2);
        let (fw1, fb1, fw2, fb2) = split_mut(data.as_mut_slice());
        // W1 [HID, INPUT] → W1ᵀ [INPUT, HP] (columns HID.. stay zero).
        transpose(HID, INPUT, w1, INPUT, fw1, HP)?;
        fb1[..HID].copy_from_slice(b1);
        for (frow, row) in fw2.chunks_exact_mut(HP).zip(w2.chunks_exact(HID)) {
            frow[..HID].copy_from_slice(row);
        }
        fb2.copy_from_slice(b2);
        Ok(Self { data })
    }

    /// Writes the parameters back in the flat layout (`out.len()` must be the MLP's size).
    pub fn to_flat(&self, out: &mut [f32]) -> Result<(), MlError> {
        ModelKind::Mlp.check_len(out)?;
        let (w1, rest) = out.split_at_mut(W1);
        let (b1, rest) = rest.split_at_mut(B1);
        let (w2, b2) = rest.split_at_mut(W2);
        let (fw1, fb1, fw2, fb2) = split(self.data.as_slice());
        transpose(INPUT, HID, fw1, HP, w1, INPUT)?;
        b1.copy_from_slice(&fb1[..HID]);
        for (row, frow) in w2.chunks_exact_mut(HID).zip(fw2.chunks_exact(HP)) {
            row.copy_from_slice(&frow[..HID]);
        }
        b2.copy_from_slice(fb2);
        Ok(())
    }
}

/// Preallocated buffers of one client's training.
#[derive(Debug)]
pub struct Workspace {
    batch: usize,
    /// Standardised input rows for evaluation (empty when training, which reads the dataset's
    /// rows in place).
    x: AlignedVec,
    /// Offsets of the batch's rows in the dataset's standardised pixels.
    rows: Vec<usize>,
    /// `batch` ones: `Σ_rows` as a product.
    ones: Vec<f32>,
    h: AlignedVec,
    z: Vec<f32>,
    dh: AlignedVec,
    colsum: Vec<f32>,
    momentum: AlignedVec,
}

impl Workspace {
    /// Buffers for batches of up to `batch` rows (and a momentum buffer if `with_momentum`).
    pub fn new(batch: usize, with_momentum: bool) -> Self {
        Self {
            batch,
            x: AlignedVec::zeros(0),
            rows: vec![0; batch],
            ones: vec![1.0; batch],
            h: AlignedVec::zeros(batch * HP),
            z: vec![0.0; batch * OUT],
            dh: AlignedVec::zeros(batch * HP),
            colsum: vec![0.0; HP],
            momentum: AlignedVec::zeros(if with_momentum { FLEN } else { 0 }),
        }
    }

    /// One SGD step on the samples `idx` of `data`; returns the summed (not averaged) loss.
    pub fn step(
        &mut self,
        model: &mut FusedModel,
        data: &Dataset,
        idx: &[usize],
        cfg: &LocalCfg,
    ) -> Result<f64, MlError> {
        let b = idx.len();
        if b == 0 {
            return Ok(0.0);
        }
        if b > self.batch {
            return Err(MlError::LenMismatch {
                what: "batch rows vs workspace",
                left: b,
                right: self.batch,
            });
        }
        let images = data.standardized();
        let labels = data.labels();
        for (r, &i) in self.rows.iter_mut().zip(idx) {
            *r = i.checked_mul(INPUT).ok_or(MlError::LenMismatch {
                what: "sample index vs dataset",
                left: i,
                right: data.len(),
            })?;
        }
        let rows = &self.rows[..b];
        let x = Lhs::Rows { data: images, rows };
        forward(self.h.as_mut_slice(), &mut self.z, model, x, b)?;

        // Softmax cross-entropy; z becomes dZ' = g·(p − onehot) / B, with g = −lr for plain
        // SGD (so the products below add the update itself) and g = 1 with momentum.
        let (lr, mu, wd) = (cfg.lr, cfg.momentum, cfg.weight_decay);
        let g = if mu == 0.0 { -lr } else { 1.0 };
        let inv_b = 1.0 / b as f32;
        let mut loss = 0.0f64;
        for (row, &i) in self.z.chunks_exact_mut(OUT).zip(idx) {
            let y = usize::from(labels[i]);
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let zy = row[y] - max;
            let mut sum = 0.0f32;
            for v in row.iter_mut() {
                *v = (*v - max).exp();
                sum += *v;
            }
            // loss = logsumexp − z_y = ln(sum) − (z_y − max)
            loss += f64::from(sum.ln() - zy);
            let scale = g * inv_b / sum;
            for v in row.iter_mut() {
                *v *= scale;
            }
            row[y] -= g * inv_b;
        }

        let (h, dh) = (self.h.as_slice(), self.dh.as_mut_slice());
        // dH' = (dZ'·W2) ⊙ [H > 0], with the old W2.
        gemm_fused(
            b,
            HP,
            OUT,
            dh,
            HP,
            Init::Zero,
            Lhs::View(View::rows(&self.z, OUT)),
            split(model.data.as_slice()).2,
            HP,
            Store::Mask { mask: h, ld: HP },
        )?;
        let dh = &*dh;
        let dz = Lhs::View(View::transposed(&self.z, OUT));
        let xt = Lhs::Cols {
            data: images,
            cols: rows,
        };
        let ones = Lhs::View(View::rows(&self.ones, b));
        // (W, scale of W before the products): the model with SGD, the momentum with momentum.
        let (target, scale) = if mu == 0.0 {
            (model.data.as_mut_slice(), 1.0 - lr * wd)
        } else {
            (self.momentum.as_mut_slice(), mu)
        };
        {
            let (w1, b1, w2, b2) = split_mut(target);
            gemm_fused(
                OUT,
                HP,
                b,
                w2,
                HP,
                Init::Scale(scale),
                dz,
                h,
                HP,
                Store::Plain,
            )?;
            gemm_fused(
                INPUT,
                HP,
                b,
                w1,
                HP,
                Init::Scale(scale),
                xt,
                dh,
                HP,
                Store::Plain,
            )?;
            gemm_fused(
                1,
                HP,
                b,
                b1,
                HP,
                Init::Scale(scale),
                ones,
                dh,
                HP,
                Store::Plain,
            )?;
            column_sums(&mut self.colsum[..OUT], &self.z[..b * OUT]);
            for (w, &d) in b2.iter_mut().zip(self.colsum.iter()) {
                *w = scale * *w + d;
            }
        }
        if mu != 0.0 {
            let w = model.data.as_mut_slice();
            let m = self.momentum.as_mut_slice();
            if wd == 0.0 {
                for (w, m) in w.iter_mut().zip(m.iter()) {
                    *w -= lr * *m;
                }
            } else {
                for (w, m) in w.iter_mut().zip(m.iter_mut()) {
                    *m += wd * *w;
                    *w -= lr * *m;
                }
            }
        }
        Ok(loss)
    }
}

/// Forward pass of the `b` rows of `x` into `h` (post-ReLU) and `z` (logits).
fn forward(
    h: &mut [f32],
    z: &mut [f32],
    model: &FusedModel,
    x: Lhs<'_>,
    b: usize,
) -> Result<(), MlError> {
    let (w1, b1, w2, b2) = split(model.data.as_slice());
    gemm_fused(b, HP, INPUT, h, HP, Init::Row(b1), x, w1, HP, Store::Relu)?;
    gemm_nt(b, OUT, HP, z, OUT, b2, h, HP, w2, HP)
}

/// `out[j] ← Σ_rows g[r, j]` for a row-major `g` with `out.len()` columns (rows in order).
fn column_sums(out: &mut [f32], g: &[f32]) {
    out.fill(0.0);
    for row in g.chunks_exact(out.len()) {
        for (o, &v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
}

/// Local training of the MLP on the fused path (see [`crate::train::train_local`]).
pub fn train_mlp(
    global: &[f32],
    data: &Dataset,
    indices: &[usize],
    cfg: &LocalCfg,
    seed: u64,
) -> Result<LocalTrained, MlError> {
    cfg.validate()?;
    ModelKind::Mlp.check_len(global)?;
    check_inputs(ModelKind::Mlp, data, indices)?;
    let mut model = FusedModel::from_flat(global)?;
    let mut ws = Workspace::new(cfg.batch.min(indices.len().max(1)), cfg.momentum != 0.0);
    let mut rng = seed::rng(seed, "local", &[]);
    let mut order = Vec::with_capacity(indices.len());
    let mut loss_sum = 0.0f64;
    for _ in 0..cfg.epochs {
        shuffle_into(&mut order, indices, &mut rng);
        for idx in order.chunks(cfg.batch) {
            loss_sum += ws.step(&mut model, data, idx, cfg)?;
        }
    }
    let samples = cfg.epochs * indices.len();
    let train_loss = if samples > 0 {
        (loss_sum / samples as f64) as f32
    } else {
        0.0
    };
    let mut params = vec![0.0; global.len()];
    model.to_flat(&mut params)?;
    Ok(LocalTrained {
        params,
        train_loss,
        samples,
    })
}

const EVAL_CHUNK: usize = 256;

/// Loss and accuracy of the MLP on all of `data`, in fixed chunks evaluated in parallel and
/// reduced in order (the result does not depend on the thread count).
pub fn evaluate_mlp(params: &[f32], data: &Dataset) -> Result<Eval, MlError> {
    ModelKind::Mlp.check_len(params)?;
    check_inputs(ModelKind::Mlp, data, &[])?;
    let n = data.len();
    let model = FusedModel::from_flat(params)?;
    let chunks: Vec<(f64, usize)> = (0..n.div_ceil(EVAL_CHUNK))
        .into_par_iter()
        .map(|c| -> Result<(f64, usize), MlError> {
            let rows = c * EVAL_CHUNK..((c + 1) * EVAL_CHUNK).min(n);
            let b = rows.len();
            let mut ws = Workspace::new(b, false);
            let images = &data.images()[rows.start * INPUT..rows.end * INPUT];
            ws.x = AlignedVec::zeros(b * INPUT);
            standardize_into(ws.x.as_mut_slice(), images);
            let x = Lhs::View(View::rows(ws.x.as_slice(), INPUT));
            forward(ws.h.as_mut_slice(), &mut ws.z, &model, x, b)?;
            let (mut loss, mut correct) = (0.0f64, 0usize);
            for (row, &y) in ws.z.chunks_exact(OUT).zip(&data.labels()[rows]) {
                let y = usize::from(y);
                let (arg, max) =
                    row.iter()
                        .enumerate()
                        .fold(
                            (0, f32::NEG_INFINITY),
                            |(a, m), (j, &v)| if v > m { (j, v) } else { (a, m) },
                        );
                let sum: f32 = row.iter().map(|&v| (v - max).exp()).sum();
                loss += f64::from(sum.ln() + max - row[y]);
                correct += usize::from(arg == y);
            }
            Ok((loss, correct))
        })
        .collect::<Result<_, _>>()?;
    let (loss, correct) = chunks
        .iter()
        .fold((0.0, 0), |(l, c), &(dl, dc)| (l + dl, c + dc));
    let n = n.max(1) as f64;
    Ok(Eval {
        loss: (loss / n) as f32,
        accuracy: (correct as f64 / n) as f32,
    })
}
