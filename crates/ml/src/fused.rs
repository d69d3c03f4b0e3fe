//! The fused CPU path for the MLP: mini-batch SGD with no autograd, no gradient buffers and no
//! allocation per step.
//!
//! Parameters live in the flat vector itself (`W1 [200, 784]`, `b1`, `W2 [10, 200]`, `b2`, see
//! [`crate::params`]). One step on a batch `X` of `B` rows (`B ≤ batch`; the rows are gathered
//! from the dataset already standardised, [`crate::params::standardize`]):
//!
//! 1. `H ← 1·b1ᵀ` (bias pre-filled), `H ← H + X·W1ᵀ` (GEMM), `H ← relu(H)`;
//! 2. `Z ← 1·b2ᵀ`, `Z ← Z + H·W2ᵀ` (GEMM);
//! 3. `dZ ← (softmax(Z) − onehot(y)) / B` in place, loss `Σ logsumexp(Z) − Z_y`;
//! 4. `dH ← (dZ·W2) ⊙ [H > 0]` (GEMM, with the old `W2`);
//! 5. weights, with `d = 1 − lr·wd`: `W2 ← d·W2 − lr·dZᵀ·H`, `W1 ← d·W1 − lr·dHᵀ·X` — the SGD
//!    update is the GEMM's `alpha`/`beta`, so no gradient is ever stored; biases
//!    `b ← d·b − lr·Σ_rows dZ` (resp. `dH`). No gradient with respect to `X` is computed.
//!
//! With momentum `μ > 0` (PyTorch semantics) the GEMM accumulates into the momentum buffer
//! instead — `M ← μ·M + Gᵀ·A` — followed by one fused pass `M ← M + wd·W; W ← W − lr·M`.
//!
//! All buffers are allocated once per [`train_mlp`] call; each GEMM runs single-threaded on the
//! calling thread (a client is one task; parallelism is across clients), so the result does not
//! depend on the number of threads.

use rayon::prelude::*;

use crate::data::Dataset;
use crate::error::MlError;
use crate::matmul::{gemm, View};
use crate::params::{standardize_into, ModelKind, INPUT, MLP_HIDDEN as HID};
use crate::seed;
use crate::train::{check_inputs, shuffle_into, Eval, LocalCfg, LocalTrained};

const OUT: usize = 10;
const W1: usize = HID * INPUT;
const B1: usize = HID;
const W2: usize = OUT * HID;

/// Flops of one training sample on the fused path, biases and element-wise work not counted:
/// forward `2·(784·200 + 200·10)`, `dH` `2·200·10`, weight updates `2·(784·200 + 200·10)`.
/// (The usual convention, `6 × parameters`, also counts the first layer's input gradient,
/// which this path does not compute.)
pub const FLOPS_PER_SAMPLE: u64 =
    2 * (W1 as u64 + W2 as u64) + 2 * W2 as u64 + 2 * (W1 as u64 + W2 as u64);

/// Split of a flat MLP vector into `(W1, b1, W2, b2)`.
fn split_mut(p: &mut [f32]) -> (&mut [f32], &mut [f32], &mut [f32], &mut [f32]) {
    let (w1, rest) = p.split_at_mut(W1);
    let (b1, rest) = rest.split_at_mut(B1);
    let (w2, b2) = rest.split_at_mut(W2);
    (w1, b1, w2, b2)
}

/// Preallocated buffers of one client's training.
#[derive(Debug)]
pub struct Workspace {
    batch: usize,
    x: Vec<f32>,
    h: Vec<f32>,
    z: Vec<f32>,
    dh: Vec<f32>,
    momentum: Vec<f32>,
}

impl Workspace {
    /// Buffers for batches of up to `batch` rows (and a momentum buffer if `with_momentum`).
    pub fn new(batch: usize, with_momentum: bool) -> Self {
        Self {
            batch,
            x: vec![0.0; batch * INPUT],
            h: vec![0.0; batch * HID],
            z: vec![0.0; batch * OUT],
            dh: vec![0.0; batch * HID],
            momentum: if with_momentum {
                vec![0.0; ModelKind::Mlp.num_params()]
            } else {
                Vec::new()
            },
        }
    }

    /// Forward pass of the rows already in `x[..b·784]` into `h` (post-ReLU) and `z` (logits).
    fn forward(&mut self, params: &[f32], b: usize) -> Result<(), MlError> {
        let (w1, rest) = params.split_at(W1);
        let (b1, rest) = rest.split_at(B1);
        let (w2, b2) = rest.split_at(W2);
        for row in self.h[..b * HID].chunks_exact_mut(HID) {
            row.copy_from_slice(b1);
        }
        gemm(
            b,
            HID,
            INPUT,
            &mut self.h,
            HID,
            Some(1.0),
            View::rows(&self.x, INPUT),
            View::transposed(w1, INPUT),
            1.0,
            1,
        )?;
        for v in &mut self.h[..b * HID] {
            *v = v.max(0.0);
        }
        for row in self.z[..b * OUT].chunks_exact_mut(OUT) {
            row.copy_from_slice(b2);
        }
        gemm(
            b,
            OUT,
            HID,
            &mut self.z,
            OUT,
            Some(1.0),
            View::rows(&self.h, HID),
            View::transposed(w2, HID),
            1.0,
            1,
        )
    }

    /// One SGD step on the samples `idx` of `data`; returns the summed (not averaged) loss.
    pub fn step(
        &mut self,
        params: &mut [f32],
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
        let images = data.images();
        let labels = data.labels();
        for (row, &i) in self.x.chunks_exact_mut(INPUT).zip(idx) {
            standardize_into(row, &images[i * INPUT..(i + 1) * INPUT]);
        }
        self.forward(params, b)?;

        // Softmax cross-entropy; z becomes dZ = (p − onehot) / B.
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
            let inv_sum = 1.0 / sum;
            for (j, v) in row.iter_mut().enumerate() {
                *v = (*v * inv_sum - if j == y { 1.0 } else { 0.0 }) * inv_b;
            }
        }

        let (lr, mu, wd) = (cfg.lr, cfg.momentum, cfg.weight_decay);
        {
            let (_, rest) = params.split_at(W1 + B1);
            let (w2, _) = rest.split_at(W2);
            // dH = dZ·W2, masked by the ReLU.
            gemm(
                b,
                HID,
                OUT,
                &mut self.dh,
                HID,
                None,
                View::rows(&self.z, OUT),
                View::rows(w2, HID),
                1.0,
                1,
            )?;
        }
        for (d, &h) in self.dh[..b * HID].iter_mut().zip(&self.h[..b * HID]) {
            if h <= 0.0 {
                *d = 0.0;
            }
        }
        let dz = View::transposed(&self.z, OUT);
        let dh = View::transposed(&self.dh, HID);
        let (x, h) = (View::rows(&self.x, INPUT), View::rows(&self.h, HID));
        if mu == 0.0 {
            let decay = 1.0 - lr * wd;
            let (w1, b1, w2, b2) = split_mut(params);
            gemm(OUT, HID, b, w2, HID, Some(decay), dz, h, -lr, 1)?;
            gemm(HID, INPUT, b, w1, INPUT, Some(decay), dh, x, -lr, 1)?;
            bias_step(b2, &self.z[..b * OUT], |b, g| decay * b - lr * g);
            bias_step(b1, &self.dh[..b * HID], |b, g| decay * b - lr * g);
        } else {
            let (m1, mb1, m2, mb2) = split_mut(&mut self.momentum);
            gemm(OUT, HID, b, m2, HID, Some(mu), dz, h, 1.0, 1)?;
            gemm(HID, INPUT, b, m1, INPUT, Some(mu), dh, x, 1.0, 1)?;
            bias_step(mb2, &self.z[..b * OUT], |m, g| mu * m + g);
            bias_step(mb1, &self.dh[..b * HID], |m, g| mu * m + g);
            if wd == 0.0 {
                for (w, m) in params.iter_mut().zip(self.momentum.iter()) {
                    *w -= lr * *m;
                }
            } else {
                for (w, m) in params.iter_mut().zip(self.momentum.iter_mut()) {
                    *m += wd * *w;
                    *w -= lr * *m;
                }
            }
        }
        Ok(loss)
    }
}

/// `b[j] ← f(b[j], Σ_rows g[r, j])` for a row-major `g` with `b.len()` columns.
fn bias_step(b: &mut [f32], g: &[f32], f: impl Fn(f32, f32) -> f32) {
    let n = b.len();
    for (j, bj) in b.iter_mut().enumerate() {
        let s: f32 = g.iter().skip(j).step_by(n).sum();
        *bj = f(*bj, s);
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
    let mut params = global.to_vec();
    let mut ws = Workspace::new(cfg.batch, cfg.momentum != 0.0);
    let mut rng = seed::rng(seed, "local", &[]);
    let mut order = Vec::with_capacity(indices.len());
    let mut loss_sum = 0.0f64;
    for _ in 0..cfg.epochs {
        shuffle_into(&mut order, indices, &mut rng);
        for idx in order.chunks(cfg.batch) {
            loss_sum += ws.step(&mut params, data, idx, cfg)?;
        }
    }
    let samples = cfg.epochs * indices.len();
    let train_loss = if samples > 0 {
        (loss_sum / samples as f64) as f32
    } else {
        0.0
    };
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
    let chunks: Vec<(f64, usize)> = (0..n.div_ceil(EVAL_CHUNK))
        .into_par_iter()
        .map(|c| -> Result<(f64, usize), MlError> {
            let rows = c * EVAL_CHUNK..((c + 1) * EVAL_CHUNK).min(n);
            let b = rows.len();
            let mut ws = Workspace::new(b, false);
            standardize_into(
                &mut ws.x,
                &data.images()[rows.start * INPUT..rows.end * INPUT],
            );
            ws.forward(params, b)?;
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
