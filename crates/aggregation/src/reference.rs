//! The f64 reference path: each rule written as its definition (README of the vectors), scalar
//! code with a fixed order of operations for every output coordinate.
//!
//! The functions are generic over the input element ([`Elem`]): the vector tests run them on
//! f64 rows, and the canonical mode runs them on f32 rows (each value widened exactly). Work is
//! split over rayon threads only by output coordinate (or by pair of rows), and every single
//! value is computed by one thread in a fixed order, so the result does not depend on the
//! number of threads; the code uses `+ - * / sqrt min max` only (IEEE-exact, no FMA
//! contraction in Rust, no CPU-feature dispatch), except FoolsGold's logarithm.
//!
//! Callers validate the rows ([`crate::rows::validate`]) and the parameters first.

use rayon::prelude::*;

use crate::rows::Elem;

/// Output coordinates handled by one rayon task.
const COLUMN_CHUNK: usize = 2048;

/// Computes `out[j] = col(j, scratch)` for every coordinate, in parallel over coordinates.
pub(crate) fn per_column<F>(d: usize, col: F) -> Vec<f64>
where
    F: Fn(usize, &mut Vec<f64>) -> f64 + Sync,
{
    let mut out = vec![0.0; d];
    out.par_chunks_mut(COLUMN_CHUNK)
        .enumerate()
        .for_each(|(c, chunk)| {
            let mut scratch = Vec::new();
            for (o, slot) in chunk.iter_mut().enumerate() {
                *slot = col(c * COLUMN_CHUNK + o, &mut scratch);
            }
        });
    out
}

/// `out[j] = Σᵢ cᵢ·xᵢⱼ`, summed over i in increasing order.
pub(crate) fn weighted_sum<T: Elem>(rows: &[&[T]], coeffs: &[f64]) -> Vec<f64> {
    let d = rows.first().map_or(0, |r| r.len());
    let mut out = vec![0.0; d];
    out.par_chunks_mut(COLUMN_CHUNK)
        .enumerate()
        .for_each(|(c, chunk)| {
            let start = c * COLUMN_CHUNK;
            let len = chunk.len();
            for (row, &ci) in rows.iter().zip(coeffs) {
                if ci == 0.0 {
                    continue;
                }
                for (o, &x) in chunk.iter_mut().zip(&row[start..start + len]) {
                    *o += ci * x.to_f64();
                }
            }
        });
    out
}

/// Σⱼ xⱼ², in order.
pub(crate) fn sq_norm<T: Elem>(x: &[T]) -> f64 {
    x.iter()
        .map(|v| v.to_f64() * v.to_f64())
        .fold(0.0, |a, b| a + b)
}

/// Σⱼ xⱼ·yⱼ, in order.
pub(crate) fn dot<T: Elem, U: Elem>(x: &[T], y: &[U]) -> f64 {
    x.iter()
        .zip(y)
        .map(|(a, b)| a.to_f64() * b.to_f64())
        .fold(0.0, |a, b| a + b)
}

/// Σⱼ (xⱼ − yⱼ)², in order.
pub(crate) fn sq_dist<T: Elem, U: Elem>(x: &[T], y: &[U]) -> f64 {
    x.iter()
        .zip(y)
        .map(|(a, b)| {
            let t = a.to_f64() - b.to_f64();
            t * t
        })
        .fold(0.0, |a, b| a + b)
}

/// The n×n matrix of squared Euclidean distances, each a fixed-order sum.
pub(crate) fn pairwise_sq_dists<T: Elem>(rows: &[&[T]]) -> Vec<f64> {
    let n = rows.len();
    let pairs: Vec<(usize, usize)> = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .collect();
    let vals: Vec<f64> = pairs
        .par_iter()
        .map(|&(i, j)| sq_dist(rows[i], rows[j]))
        .collect();
    let mut d2 = vec![0.0; n * n];
    for (&(i, j), v) in pairs.iter().zip(vals) {
        d2[i * n + j] = v;
        d2[j * n + i] = v;
    }
    d2
}

/// Normalized weights aᵢ = wᵢ / Σw (uniform 1/n when absent).
pub(crate) fn normalized(weights: Option<&[f64]>, n: usize) -> Vec<f64> {
    match weights {
        Some(w) => {
            let total: f64 = w.iter().sum();
            w.iter().map(|x| x / total).collect()
        }
        None => vec![1.0 / n as f64; n],
    }
}

/// FedAvg: Σ wᵢxᵢ / Σ wᵢ.
pub fn fedavg<T: Elem>(rows: &[&[T]], weights: Option<&[f64]>) -> Vec<f64> {
    let n = rows.len();
    let (coeffs, total) = match weights {
        Some(w) => (w.to_vec(), w.iter().sum::<f64>()),
        None => (vec![1.0; n], n as f64),
    };
    let mut out = weighted_sum(rows, &coeffs);
    out.iter_mut().for_each(|v| *v /= total);
    out
}

/// Coordinate-wise median (mean of the two middle values for even n).
pub fn coordinate_median<T: Elem>(rows: &[&[T]]) -> Vec<f64> {
    let n = rows.len();
    let d = rows[0].len();
    per_column(d, |j, col| {
        col.clear();
        col.extend(rows.iter().map(|r| r[j].to_f64()));
        col.sort_by(f64::total_cmp);
        if n % 2 == 1 {
            col[n / 2]
        } else {
            (col[n / 2 - 1] + col[n / 2]) / 2.0
        }
    })
}

/// Coordinate-wise trimmed mean: drop the k smallest and k largest, average the rest
/// (summed in increasing order of value).
pub fn trimmed_mean<T: Elem>(rows: &[&[T]], k: usize) -> Vec<f64> {
    let n = rows.len();
    let d = rows[0].len();
    let kept = (n - 2 * k) as f64;
    per_column(d, |j, col| {
        col.clear();
        col.extend(rows.iter().map(|r| r[j].to_f64()));
        col.sort_by(f64::total_cmp);
        col[k..n - k].iter().fold(0.0, |a, b| a + b) / kept
    })
}

/// Krum scores: score i = sum of the `nn` smallest ‖xᵢ−xⱼ‖² over j ≠ i (summed smallest first).
pub(crate) fn krum_scores(d2: &[f64], n: usize, nn: usize) -> Vec<f64> {
    (0..n)
        .map(|i| {
            let mut v: Vec<f64> = (0..n).filter(|&j| j != i).map(|j| d2[i * n + j]).collect();
            v.sort_by(f64::total_cmp);
            v[..nn].iter().fold(0.0, |a, b| a + b)
        })
        .collect()
}

/// Row indices ordered by score, ties to the lower index (stable sort).
pub(crate) fn rank_by_score(scores: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    idx
}

/// Krum scores for the rows (exact pairwise distances).
pub fn krum_scores_of<T: Elem>(rows: &[&[T]], nn: usize) -> Vec<f64> {
    krum_scores(&pairwise_sq_dists(rows), rows.len(), nn)
}

/// Mean of the selected rows (summed in increasing row index).
pub(crate) fn mean_of_selected<T: Elem>(rows: &[&[T]], selected: &[usize]) -> Vec<f64> {
    let mut coeffs = vec![0.0; rows.len()];
    for &i in selected {
        coeffs[i] = 1.0;
    }
    let m = selected.len() as f64;
    let mut out = weighted_sum(rows, &coeffs);
    out.iter_mut().for_each(|v| *v /= m);
    out
}

/// Multi-Krum: mean of the m rows with the lowest Krum scores.
pub fn multi_krum<T: Elem>(rows: &[&[T]], m: usize, nn: usize) -> (Vec<f64>, Vec<usize>) {
    let scores = krum_scores_of(rows, nn);
    let mut selected: Vec<usize> = rank_by_score(&scores)[..m].to_vec();
    selected.sort_unstable();
    (mean_of_selected(rows, &selected), selected)
}

/// Krum: the row with the lowest score.
pub fn krum<T: Elem>(rows: &[&[T]], nn: usize) -> (Vec<f64>, usize) {
    let scores = krum_scores_of(rows, nn);
    let best = rank_by_score(&scores)[0];
    (rows[best].iter().map(|v| v.to_f64()).collect(), best)
}

/// How z₀ of the smoothed Weiszfeld iteration is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GmInit {
    /// The weighted mean of the rows.
    Mean,
    /// The zero vector.
    Zero,
}

/// Smoothed Weiszfeld (RFA): returns the estimate and the number of iterations run.
pub fn geometric_median<T: Elem>(
    rows: &[&[T]],
    weights: Option<&[f64]>,
    nu: f64,
    max_iter: usize,
    tol: f64,
    init: GmInit,
) -> (Vec<f64>, usize) {
    let n = rows.len();
    let d = rows[0].len();
    let a = normalized(weights, n);
    let mut z = match init {
        GmInit::Mean => weighted_sum(rows, &a),
        GmInit::Zero => vec![0.0; d],
    };
    let mut iterations = 0;
    for _ in 0..max_iter {
        iterations += 1;
        let dists: Vec<f64> = rows.par_iter().map(|r| sq_dist(r, &z).sqrt()).collect();
        let beta: Vec<f64> = a
            .iter()
            .zip(&dists)
            .map(|(ai, di)| ai / nu.max(*di))
            .collect();
        let total: f64 = beta.iter().fold(0.0, |s, b| s + b);
        let coeffs: Vec<f64> = beta.iter().map(|b| b / total).collect();
        let z_new = weighted_sum(rows, &coeffs);
        let step = sq_dist(&z_new, &z).sqrt();
        z = z_new;
        if step <= tol {
            break;
        }
    }
    (z, iterations)
}

/// Centered clipping: v ← v + (1/n) Σ (xᵢ−v)·min(1, τ/‖xᵢ−v‖), `l` times from `v0`.
pub fn centered_clipping<T: Elem>(
    rows: &[&[T]],
    tau: f64,
    l: usize,
    v0: Option<&[f64]>,
) -> Vec<f64> {
    let n = rows.len();
    let d = rows[0].len();
    let mut v = v0.map_or_else(|| vec![0.0; d], <[f64]>::to_vec);
    for _ in 0..l {
        let scale: Vec<f64> = rows
            .par_iter()
            .map(|r| {
                let dist = sq_dist(r, &v).sqrt();
                if dist > 0.0 {
                    (tau / dist).min(1.0)
                } else {
                    1.0
                }
            })
            .collect();
        let inv_n = 1.0 / n as f64;
        v = per_column(d, |j, _| {
            let vj = v[j];
            let s = rows
                .iter()
                .zip(&scale)
                .map(|(r, si)| (r[j].to_f64() - vj) * si)
                .fold(0.0, |a, b| a + b);
            vj + inv_n * s
        });
    }
    v
}

/// FLTrust trust scores and the coefficients cᵢ = TSᵢ·‖g₀‖/‖xᵢ‖ / Σ TS of the output Σ cᵢxᵢ.
pub(crate) fn fltrust_coeffs(
    sq_norms: &[f64],
    dots: &[f64],
    g0_sq_norm: f64,
) -> (Vec<f64>, Vec<f64>) {
    let g0n = g0_sq_norm.sqrt();
    let ts: Vec<f64> = sq_norms
        .iter()
        .zip(dots)
        .map(|(&s, &dt)| {
            let xn = s.sqrt();
            if xn > 0.0 && g0n > 0.0 {
                (dt / (xn * g0n)).max(0.0)
            } else {
                0.0
            }
        })
        .collect();
    let total: f64 = ts.iter().fold(0.0, |a, b| a + b);
    let coeffs = ts
        .iter()
        .zip(sq_norms)
        .map(|(&t, &s)| {
            if total > 0.0 && t > 0.0 {
                t * (g0n / s.sqrt()) / total
            } else {
                0.0
            }
        })
        .collect();
    (ts, coeffs)
}

/// FLTrust: trust-weighted mean of the updates rescaled to the server update's norm.
pub fn fltrust<T: Elem>(rows: &[&[T]], g0: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let sq_norms: Vec<f64> = rows.par_iter().map(|r| sq_norm(r)).collect();
    let dots: Vec<f64> = rows.par_iter().map(|r| dot(r, g0)).collect();
    let (ts, coeffs) = fltrust_coeffs(&sq_norms, &dots, sq_norm(g0));
    (weighted_sum(rows, &coeffs), ts)
}

/// FoolsGold weights from a Gram matrix of the histories (n×n, row-major), as in the
/// authors' reference code: cosine similarity with the diagonal zeroed, pardoning,
/// 1 − max similarity clipped to [0, 1], rescaled by the max, 1 → 0.99,
/// κ·(logit + 0.5) clipped to [0, 1]. All-zero weights when every client has a perfect twin.
pub(crate) fn foolsgold_weights_from_gram(gram: &[f64], n: usize, kappa: f64) -> Vec<f64> {
    let norms: Vec<f64> = (0..n).map(|i| gram[i * n + i].max(0.0).sqrt()).collect();
    let mut cs = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            if i != j && norms[i] > 0.0 && norms[j] > 0.0 {
                cs[i * n + j] = (gram[i * n + j] / norms[i]) / norms[j];
            }
        }
    }
    let row_max = |cs: &[f64], i: usize| {
        cs[i * n..(i + 1) * n]
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max)
    };
    let maxcs: Vec<f64> = (0..n).map(|i| row_max(&cs, i)).collect();
    for i in 0..n {
        for j in 0..n {
            if i != j && maxcs[i] < maxcs[j] {
                cs[i * n + j] = cs[i * n + j] * maxcs[i] / maxcs[j];
            }
        }
    }
    let mut wv: Vec<f64> = (0..n)
        .map(|i| (1.0 - row_max(&cs, i)).clamp(0.0, 1.0))
        .collect();
    let top = wv.iter().copied().fold(0.0, f64::max);
    if top <= 0.0 {
        return vec![0.0; n];
    }
    for w in &mut wv {
        *w /= top;
        if *w == 1.0 {
            *w = 0.99;
        }
        *w = if *w <= 0.0 {
            0.0
        } else {
            (kappa * ((*w / (1.0 - *w)).ln() + 0.5)).clamp(0.0, 1.0)
        };
    }
    wv
}

/// The Gram matrix (n×n) of the rows, each entry a fixed-order sum.
pub(crate) fn gram<T: Elem>(rows: &[&[T]]) -> Vec<f64> {
    let n = rows.len();
    let pairs: Vec<(usize, usize)> = (0..n).flat_map(|i| (i..n).map(move |j| (i, j))).collect();
    let vals: Vec<f64> = pairs
        .par_iter()
        .map(|&(i, j)| dot(rows[i], rows[j]))
        .collect();
    let mut g = vec![0.0; n * n];
    for (&(i, j), v) in pairs.iter().zip(vals) {
        g[i * n + j] = v;
        g[j * n + i] = v;
    }
    g
}

/// Norm-clipping mean coefficients: cᵢ = wᵢ·min(1, M/‖xᵢ‖) / Σw.
pub(crate) fn norm_clip_coeffs(
    sq_norms: &[f64],
    weights: Option<&[f64]>,
    max_norm: f64,
) -> Vec<f64> {
    let a = normalized(weights, sq_norms.len());
    a.iter()
        .zip(sq_norms)
        .map(|(ai, s)| {
            let norm = s.sqrt();
            let scale = if norm > max_norm {
                max_norm / norm
            } else {
                1.0
            };
            ai * scale
        })
        .collect()
}

/// Norm-clipping mean: clip each row to L2 norm ≤ M, then FedAvg.
pub fn norm_clipping_mean<T: Elem>(
    rows: &[&[T]],
    weights: Option<&[f64]>,
    max_norm: f64,
) -> Vec<f64> {
    let sq_norms: Vec<f64> = rows.par_iter().map(|r| sq_norm(r)).collect();
    weighted_sum(rows, &norm_clip_coeffs(&sq_norms, weights, max_norm))
}

/// For each row i, the indices of its k nearest rows (itself included; ties to the lower
/// index), in increasing index order.
pub(crate) fn nnm_neighbours(d2: &[f64], n: usize, k: usize) -> Vec<Vec<usize>> {
    (0..n)
        .map(|i| {
            let mut idx: Vec<usize> = (0..n).collect();
            idx.sort_by(|&a, &b| d2[i * n + a].total_cmp(&d2[i * n + b]));
            let mut near = idx[..k].to_vec();
            near.sort_unstable();
            near
        })
        .collect()
}

/// Nearest-neighbour mixing: row i → mean of the k nearest rows to xᵢ.
pub fn nnm<T: Elem>(rows: &[&[T]], k: usize) -> Vec<Vec<f64>> {
    let n = rows.len();
    let neighbours = nnm_neighbours(&pairwise_sq_dists(rows), n, k);
    neighbours
        .iter()
        .map(|near| mean_of_selected(rows, near))
        .collect()
}
