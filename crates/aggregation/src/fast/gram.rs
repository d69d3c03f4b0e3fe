//! The Gram matrix X·Xᵀ and what is computed from it: pairwise distances (Krum, NNM,
//! FoolsGold), Multi-Krum, Weiszfeld in the span of the rows, and the row mixing of NNM.

use rayon::prelude::*;

use super::sums::{combine, combine_new, Init, SumRowsKernel};
use super::{all_finite, arrays, matmul, non_finite_error, on_pool, simd};
use crate::error::Result;
use crate::reference::GmInit;
use crate::rows;

/// Rows per Gram tile.
const TILE: usize = 4;

/// Columns per symmetric-Gram task: about 256 KiB of the n rows (stays in L2 while every tile
/// pair reads it; a tile's four rows stay in L1 while it meets every other tile), but at least
/// 1280 columns while those stay within 512 KiB: each tile pair reduces its 16 f32 vector sums
/// to f64 once per chunk, and with narrower chunks at large n that reduction and the pair's
/// setup become a visible share of the pass (wider chunks at n = 50 and narrower ones at
/// n = 10 were slower).
fn sym_gram_chunk(n: usize) -> usize {
    let n = n.max(1);
    let cols = (64 * 1024 / n).max((128 * 1024 / n).min(1280));
    (cols / 64 * 64).clamp(256, 16 * 1024)
}

/// The Gram matrix X·Xᵀ (n×n, f64), computing only the tiles on and above the diagonal (about
/// half the flops of a general product): rows in tiles of [`TILE`], column chunks that stay
/// in L2 spread over both cores, 4×4 dot products per tile pair in f32 SIMD registers
/// (explicit `pulp` vectors, fused multiply-add), summed across chunks in f64.
pub fn gram(rows: &[&[f32]]) -> Result<Vec<f64>> {
    Ok(gram_impl(rows, false)?.0)
}

/// [`gram`] and the column sums Σᵢ xᵢⱼ (f64), the sums taken in the same pass while each
/// column chunk is in cache (Multi-Krum then reads only the rows it leaves out).
pub fn gram_and_column_sums(rows: &[&[f32]]) -> Result<(Vec<f64>, Vec<f64>)> {
    gram_impl(rows, true)
}

fn gram_impl(rows: &[&[f32]], with_sums: bool) -> Result<(Vec<f64>, Vec<f64>)> {
    let n = rows.len();
    let d = rows[0].len();
    let chunk = sym_gram_chunk(n);
    let tasks = d.div_ceil(chunk);
    let blocks: Vec<std::ops::Range<usize>> =
        (0..n).step_by(TILE).map(|s| s..(s + TILE).min(n)).collect();
    let pairs: Vec<(usize, usize)> = (0..blocks.len())
        .flat_map(|a| (a..blocks.len()).map(move |b| (a, b)))
        .collect();
    let ones: Vec<(&[f32], f64)> = rows.iter().map(|r| (*r, 1.0)).collect();
    let task = |mut acc: Vec<f64>, t: usize, sums: Option<&mut [f64]>| {
        let start = t * chunk;
        let end = (start + chunk).min(d);
        pulp::Arch::new().dispatch(ChunkKernel {
            rows,
            blocks: &blocks,
            pairs: &pairs,
            cols: start..end,
            acc: &mut acc,
        });
        if let Some(out) = sums {
            simd(SumRowsKernel {
                active: &ones,
                out,
                base: start,
            });
        }
        acc
    };
    let add = |mut x: Vec<f64>, y: Vec<f64>| {
        x.iter_mut().zip(&y).for_each(|(a, b)| *a += b);
        x
    };
    let mut sums = vec![0.0f64; if with_sums { d } else { 0 }];
    let mut g = if with_sums {
        sums.par_chunks_mut(chunk)
            .enumerate()
            .fold(|| vec![0.0f64; n * n], |acc, (t, s)| task(acc, t, Some(s)))
            .reduce(|| vec![0.0f64; n * n], add)
    } else {
        (0..tasks)
            .into_par_iter()
            .fold(|| vec![0.0f64; n * n], |acc, t| task(acc, t, None))
            .reduce(|| vec![0.0f64; n * n], add)
    };
    // Mirror the upper triangle (tiles on the diagonal computed both halves already).
    for i in 0..n {
        for j in 0..i {
            g[i * n + j] = g[j * n + i];
        }
    }
    if (0..n).any(|i| !g[i * n + i].is_finite()) {
        return match rows::find_non_finite(rows) {
            Some(e) => Err(e),
            // Finite but too large for f32 products: exact f64 Gram instead.
            None => Ok((crate::reference::gram(rows), sums)),
        };
    }
    Ok((g, sums))
}

/// Every tile pair of one column chunk of the Gram pass, added to `acc` (n×n, f64): one SIMD
/// dispatch per chunk rather than per tile pair.
struct ChunkKernel<'a, 'b> {
    rows: &'a [&'b [f32]],
    blocks: &'a [std::ops::Range<usize>],
    pairs: &'a [(usize, usize)],
    cols: std::ops::Range<usize>,
    acc: &'a mut [f64],
}

impl pulp::WithSimd for ChunkKernel<'_, '_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let n = self.rows.len();
        for &(a, b) in self.pairs {
            let (ra, rb) = (self.blocks[a].clone(), self.blocks[b].clone());
            let mut pa = [&[][..]; TILE];
            let mut pb = [&[][..]; TILE];
            for (p, i) in pa.iter_mut().zip(ra.clone()) {
                *p = &self.rows[i][self.cols.clone()];
            }
            for (p, j) in pb.iter_mut().zip(rb.clone()) {
                *p = &self.rows[j][self.cols.clone()];
            }
            let dots = match (ra.len(), rb.len()) {
                (4, 4) => tile::<S, 4, 4>(simd, &pa, &pb),
                (4, 3) => tile::<S, 4, 3>(simd, &pa, &pb),
                (4, 2) => tile::<S, 4, 2>(simd, &pa, &pb),
                (4, _) => tile::<S, 4, 1>(simd, &pa, &pb),
                (3, _) => tile::<S, 3, 3>(simd, &pa, &pb),
                (2, _) => tile::<S, 2, 2>(simd, &pa, &pb),
                _ => tile::<S, 1, 1>(simd, &pa, &pb),
            };
            for (di, i) in ra.clone().enumerate() {
                for (dj, j) in rb.clone().enumerate() {
                    self.acc[i * n + j] += f64::from(dots[di][dj]);
                }
            }
        }
    }
}

/// Dot products of up to [`TILE`] rows `a` with up to [`TILE`] rows `b` (equal lengths; the
/// unused entries are empty slices): 16 vector accumulators, each value loaded once per tile.
#[inline(always)]
fn tile<S: pulp::Simd, const R: usize, const C: usize>(
    simd: S,
    a: &[&[f32]; TILE],
    b: &[&[f32]; TILE],
) -> [[f32; TILE]; TILE] {
    let len = a[0].len();
    let zero = simd.splat_f32s(0.0);
    let mut acc = [[zero; C]; R];
    let mut va = [S::as_simd_f32s(&[]).0; R];
    let mut vb = [S::as_simd_f32s(&[]).0; C];
    for (v, x) in va.iter_mut().zip(a) {
        *v = S::as_simd_f32s(&x[..len]).0;
    }
    for (v, x) in vb.iter_mut().zip(b) {
        *v = S::as_simd_f32s(&x[..len]).0;
    }
    let lanes = va[0].len();
    for k in 0..lanes {
        let mut x = [zero; R];
        let mut y = [zero; C];
        for (xi, v) in x.iter_mut().zip(&va) {
            *xi = v[k];
        }
        for (yj, v) in y.iter_mut().zip(&vb) {
            *yj = v[k];
        }
        for i in 0..R {
            for j in 0..C {
                acc[i][j] = simd.mul_add_e_f32s(x[i], y[j], acc[i][j]);
            }
        }
    }
    let mut out = [[0.0f32; TILE]; TILE];
    let tail = lanes * (std::mem::size_of::<S::f32s>() / 4);
    for i in 0..R {
        for j in 0..C {
            let mut s = simd.reduce_sum_f32s(acc[i][j]);
            for (p, q) in a[i][tail..len].iter().zip(&b[j][tail..len]) {
                s += p * q;
            }
            out[i][j] = s;
        }
    }
    out
}

/// Columns per chunk of the row mixing (NNM): about 512 KiB of packed rows.
fn gram_chunk(n: usize) -> usize {
    ((128 * 1024 / n.max(1)) / 64 * 64).clamp(256, 16 * 1024)
}

/// Squared distances ‖xᵢ − xⱼ‖² (n×n) from the Gram matrix, clamped at 0.
pub fn pairwise_sq_dists(rows: &[&[f32]]) -> Result<Vec<f64>> {
    Ok(sq_dists_from_gram(&gram(rows)?, rows.len()))
}

/// Rows from which Multi-Krum takes the column sums in the Gram pass (when it leaves out
/// fewer rows than it keeps). With fewer rows the Gram pass is short (O(n) dot products per
/// column, about the cost of the sums themselves), and writing and re-reading d f64 sums costs
/// more than re-reading the kept rows; from about 50 rows the subtraction is the faster
/// (`examples/mkphase.rs` times the phases).
const MK_SUBTRACT_MIN_ROWS: usize = 32;

/// Multi-Krum's production path: the Gram matrix (and, from [`MK_SUBTRACT_MIN_ROWS`] rows when
/// fewer rows are left out than kept, the column sums in the same pass), the scores in O(n²),
/// then the mean of the `m` best rows — as (Σ all − Σ left out)/m on that route (f64 sums, one
/// rounding).
pub fn multi_krum(rule: &'static str, rows: &[&[f32]], m: usize, nn: usize) -> Result<Vec<f32>> {
    on_pool(|| multi_krum_steps(rule, rows, m, nn))
}

fn multi_krum_steps(rule: &'static str, rows: &[&[f32]], m: usize, nn: usize) -> Result<Vec<f32>> {
    let n = rows.len();
    let subtract = n >= MK_SUBTRACT_MIN_ROWS && n - m + 2 < m;
    let (g, sums) = gram_impl(rows, subtract)?;
    let d2 = sq_dists_from_gram(&g, n);
    let ranked = crate::reference::rank_by_score(&crate::reference::krum_scores(&d2, n, nn));
    let inv_m = 1.0 / m as f64;
    if !subtract {
        let mut coeffs = vec![0.0; n];
        for &i in &ranked[..m] {
            coeffs[i] = inv_m;
        }
        return combine(rule, rows, &coeffs, false);
    }
    let mut coeffs = vec![0.0; n];
    for &i in &ranked[m..] {
        coeffs[i] = -inv_m;
    }
    let (out, finite) = combine_new(rows, &coeffs, Init::Scaled(inv_m, &sums));
    if !finite {
        return Err(non_finite_error(rule, rows));
    }
    Ok(out)
}

/// ‖xᵢ − xⱼ‖² = Gᵢᵢ + Gⱼⱼ − 2Gᵢⱼ, clamped at 0 (zero diagonal).
fn sq_dists_from_gram(g: &[f64], n: usize) -> Vec<f64> {
    let mut d2 = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            if i != j {
                d2[i * n + j] = (g[i * n + i] + g[j * n + j] - 2.0 * g[i * n + j]).max(0.0);
            }
        }
    }
    d2
}

/// Smoothed Weiszfeld on the coefficients c of z = Σ cⱼxⱼ, using the Gram matrix; returns c.
pub fn weiszfeld_in_span(
    g: &[f64],
    n: usize,
    a: &[f64],
    nu: f64,
    max_iter: usize,
    tol: f64,
    init: GmInit,
) -> Vec<f64> {
    let quad = |c: &[f64]| -> (Vec<f64>, f64) {
        let gc: Vec<f64> = g.chunks_exact(n).map(|row| dot_lanes(row, c)).collect();
        let cgc = dot_lanes(c, &gc);
        (gc, cgc)
    };
    let mut c = match init {
        GmInit::Mean => a.to_vec(),
        GmInit::Zero => vec![0.0; n],
    };
    for _ in 0..max_iter {
        let (gc, cgc) = quad(&c);
        let beta: Vec<f64> = (0..n)
            .map(|i| {
                let dist = (g[i * n + i] - 2.0 * gc[i] + cgc).max(0.0).sqrt();
                a[i] / nu.max(dist)
            })
            .collect();
        let total: f64 = beta.iter().sum();
        let next: Vec<f64> = beta.iter().map(|b| b / total).collect();
        let delta: Vec<f64> = next.iter().zip(&c).map(|(x, y)| x - y).collect();
        let step = quad(&delta).1.max(0.0).sqrt();
        c = next;
        if step <= tol {
            break;
        }
    }
    c
}

/// Σ xᵢyᵢ in eight independent lanes (so it vectorizes; the n² products of a Weiszfeld
/// iteration would otherwise be one serial chain of adds).
#[inline]
fn dot_lanes(x: &[f64], y: &[f64]) -> f64 {
    let mut s = [0.0f64; 8];
    let mut xs = x.chunks_exact(8);
    let mut ys = y.chunks_exact(8);
    for (a, b) in arrays(&mut xs).zip(arrays(&mut ys)) {
        for l in 0..8 {
            s[l] += a[l] * b[l];
        }
    }
    s.iter().sum::<f64>()
        + xs.remainder()
            .iter()
            .zip(ys.remainder())
            .map(|(a, b)| a * b)
            .sum::<f64>()
}

/// Mixes the rows: out_i = Σⱼ wᵢⱼxⱼ (w n×n row-major), in chunks of columns.
pub fn mix(rule: &'static str, rows: &[&[f32]], w: &[f64]) -> Result<Vec<Vec<f32>>> {
    let n = rows.len();
    let d = rows[0].len();
    let w32: Vec<f32> = w.iter().map(|&x| x as f32).collect();
    let chunk = gram_chunk(n);
    let tasks = d.div_ceil(chunk);
    let parts: Vec<Vec<f32>> = (0..tasks)
        .into_par_iter()
        .map(|t| {
            let start = t * chunk;
            let len = chunk.min(d - start);
            let mut packed = Vec::with_capacity(n * len);
            for r in rows {
                packed.extend_from_slice(&r[start..start + len]);
            }
            let mut out = vec![0.0f32; n * len];
            if matmul::mix_f32(
                &w32,
                n,
                &packed,
                len,
                len,
                &mut out,
                matmul::Parallelism::None,
            )
            .is_err()
            {
                out.iter_mut().for_each(|v| *v = f32::NAN);
            }
            out
        })
        .collect();
    let mut mixed = vec![Vec::with_capacity(d); n];
    for (t, part) in parts.iter().enumerate() {
        let len = chunk.min(d - t * chunk);
        for (i, m) in mixed.iter_mut().enumerate() {
            m.extend_from_slice(&part[i * len..(i + 1) * len]);
        }
    }
    if !mixed.iter().all(|m| all_finite(m)) {
        return Err(non_finite_error(rule, rows));
    }
    Ok(mixed)
}
