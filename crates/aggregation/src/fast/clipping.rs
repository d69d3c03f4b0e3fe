//! Per-row norms, dots and distances, and the clipping rules built on them: the
//! norm-clipping mean in about one read of the matrix, centered clipping, FLTrust's norms.

use rayon::prelude::*;

use super::fill::{par_build, Sink};
use super::sums::{accumulate, combine_f64, combine_new, row_block, Init};
#[cfg(target_arch = "x86_64")]
use super::sums::{f32_coefficient, fma_f32, fma_f64, widen_add, ROW_GROUP};
use super::{all_finite, arrays, f32_finite, non_finite_error, on_pool, simd, Kernel};
use super::{BLOCK, REG, TASK_COLUMNS};
use crate::error::{AggregationError, Result};
use crate::rows;

/// Per-row Σⱼ xᵢⱼ·yⱼ and Σⱼ xᵢⱼ² (f64), in parallel over (row, column task).
pub fn norms_and_dots(
    rule: &'static str,
    rows: &[&[f32]],
    y: &[f64],
) -> Result<(Vec<f64>, Vec<f64>)> {
    let per_row = |r: &[f32], k: usize| {
        let start = k * TASK_COLUMNS;
        let end = (start + TASK_COLUMNS).min(r.len());
        simd(RowKernel {
            x: &r[start..end],
            y: &y[start..end],
            dists: false,
        })
    };
    let (sq, dt) = per_row_reduce(rows, per_row);
    if sq.iter().chain(&dt).any(|v| !v.is_finite()) {
        return Err(non_finite_error(rule, rows));
    }
    Ok((sq, dt))
}

/// Sums `f(row, task)` over the column tasks of each row, in parallel; returns two vectors.
fn per_row_reduce(
    rows: &[&[f32]],
    f: impl Fn(&[f32], usize) -> (f64, f64) + Sync,
) -> (Vec<f64>, Vec<f64>) {
    let d = rows.first().map_or(0, |r| r.len());
    let tasks = d.div_ceil(TASK_COLUMNS);
    let parts: Vec<(usize, f64, f64)> = (0..rows.len() * tasks)
        .into_par_iter()
        .map(|p| {
            let (i, k) = (p / tasks, p % tasks);
            let (a, b) = f(rows[i], k);
            (i, a, b)
        })
        .collect();
    let mut a = vec![0.0; rows.len()];
    let mut b = vec![0.0; rows.len()];
    for (i, x, y) in parts {
        a[i] += x;
        b[i] += y;
    }
    (a, b)
}

/// Columns of the norm-clipping prefix scan: 1/64 of the row, at least one block.
fn clip_prefix(d: usize) -> usize {
    (d / 64).max(BLOCK).min(d)
}

/// Smallest clipping scale M/‖xᵢ‖ that the correction pass may apply to a row already summed
/// unclipped: the sum then held at most 1/scale times the row's final contribution, which
/// bounds the cancellation to a few f32 roundings. Rows clipped harder force an exact re-sum.
const MIN_CORRECTED_SCALE: f64 = 1.0 / 16.0;

/// Norm-clipping mean with weights `a` (normalized), in about one read of the matrix:
///
/// 1. a prefix scan (the first 1/64 of the columns) finds the rows whose norm already exceeds
///    `max_norm` there: they will certainly be clipped;
/// 2. the full norms of those rows only (they are usually the few Byzantine ones);
/// 3. one fused pass, both cores over column tasks, sums every row — the certainly clipped
///    ones with their exact coefficient aᵢ·M/‖xᵢ‖, the others unclipped — and measures the
///    norms of the others;
/// 4. only if some of the others turn out clipped after all: a correction pass over just
///    those rows, aᵢ·(M/‖xᵢ‖ − 1) — unless one is clipped below [`MIN_CORRECTED_SCALE`], in
///    which case the sum is redone from the exact coefficients (a second full read).
///
/// A scaled attacker (a huge row) is caught in step 1, so it never enters the sum unclipped.
pub fn norm_clipped_sum(
    rule: &'static str,
    rows: &[&[f32]],
    a: &[f64],
    max_norm: f64,
) -> Result<Vec<f32>> {
    on_pool(|| norm_clipped_sum_steps(rule, rows, a, max_norm))
}

fn norm_clipped_sum_steps(
    rule: &'static str,
    rows: &[&[f32]],
    a: &[f64],
    max_norm: f64,
) -> Result<Vec<f32>> {
    let d = rows[0].len();
    let limit = max_norm * max_norm;
    let prefix = clip_prefix(d);
    let clipped_early: Vec<usize> = rows
        .par_iter()
        .map(|r| simd(SqKernel(&r[..prefix])) > limit)
        .collect::<Vec<bool>>()
        .iter()
        .enumerate()
        .filter_map(|(i, &c)| c.then_some(i))
        .collect();
    let mut sq_norms = vec![0.0f64; rows.len()];
    if !clipped_early.is_empty() {
        let early: Vec<&[f32]> = clipped_early.iter().map(|&i| rows[i]).collect();
        let (sq, _) = per_row_reduce(&early, |r, k| {
            let start = k * TASK_COLUMNS;
            (
                simd(SqKernel(&r[start..(start + TASK_COLUMNS).min(r.len())])),
                0.0,
            )
        });
        for (&i, s) in clipped_early.iter().zip(sq) {
            sq_norms[i] = s;
        }
    }
    let clip_scale = |s: f64| {
        let norm = s.sqrt();
        if norm > max_norm {
            max_norm / norm
        } else {
            1.0
        }
    };
    let mut coeffs: Vec<(&[f32], f64)> = rows.iter().zip(a).map(|(r, &c)| (*r, c)).collect();
    for &i in &clipped_early {
        coeffs[i].1 = a[i] * clip_scale(sq_norms[i]);
    }
    // The fused pass measures only the rows whose norm is not known yet.
    #[cfg(target_arch = "x86_64")]
    let measure: Vec<bool> = (0..rows.len())
        .map(|i| clipped_early.binary_search(&i).is_err())
        .collect();
    #[cfg(target_arch = "x86_64")]
    let (narrow, wide): (Vec<usize>, Vec<usize>) =
        (0..rows.len()).partition(|&i| f32_coefficient(coeffs[i].1));
    #[cfg(target_arch = "x86_64")]
    // Column-blocked whatever n: unlike the plain weighted sum, the row-at-a-time fused pass
    // is slower even at n = 10 (it sweeps each L1 block once per four rows for the squares).
    let v4 = pulp::x86::V4::try_new();
    let (mut out, parts, mut out_finite) = par_build(
        d,
        TASK_COLUMNS,
        |t, sink| {
            let base = t * TASK_COLUMNS;
            #[cfg(target_arch = "x86_64")]
            if let Some(simd) = v4 {
                return pulp::Simd::vectorize(
                    simd,
                    ClipSumV4 {
                        simd,
                        all: &coeffs,
                        measure: &measure,
                        narrow: &narrow,
                        wide: &wide,
                        sink,
                        base,
                    },
                );
            }
            simd(ClipSumKernel {
                all: &coeffs,
                sink,
                base,
            })
        },
        f32_finite,
    );
    // Each row's Σ x² over the tasks, in task order (so it does not depend on the threads).
    let mut measured = vec![0.0f64; rows.len()];
    for part in parts {
        measured.iter_mut().zip(part).for_each(|(m, p)| *m += p);
    }
    for (i, m) in measured.into_iter().enumerate() {
        if clipped_early.binary_search(&i).is_err() {
            sq_norms[i] = if m.is_finite() {
                m
            } else {
                // f32 squares overflow beyond ~1e19: measure in f64 (or find the bad value).
                simd(SqKernel(rows[i]))
            };
        }
    }
    if sq_norms.iter().any(|v| !v.is_finite()) {
        return Err(non_finite_error(rule, rows));
    }
    let late: Vec<(usize, f64)> = (0..rows.len())
        .filter(|i| clipped_early.binary_search(i).is_err())
        .map(|i| (i, clip_scale(sq_norms[i])))
        .filter(|&(_, s)| s < 1.0)
        .collect();
    if late.iter().any(|&(_, s)| s < MIN_CORRECTED_SCALE) {
        let exact: Vec<f64> = a
            .iter()
            .zip(&sq_norms)
            .map(|(c, &s)| c * clip_scale(s))
            .collect();
        (out, out_finite) = combine_new(rows, &exact, Init::Zero);
    } else if !late.is_empty() {
        let correction: Vec<(&[f32], f64)> = late
            .iter()
            .map(|&(i, s)| (rows[i], a[i] * (s - 1.0)))
            .collect();
        out.par_chunks_mut(TASK_COLUMNS)
            .enumerate()
            .for_each(|(t, chunk)| {
                simd(AddInPlaceKernel {
                    active: &correction,
                    chunk,
                    base: t * TASK_COLUMNS,
                })
            });
        out_finite = all_finite(&out);
    }
    if !out_finite {
        return Err(AggregationError::Overflow { rule });
    }
    Ok(out)
}

/// Σ x² of a slice (f64 accumulation).
struct SqKernel<'a>(&'a [f32]);

impl Kernel for SqKernel<'_> {
    type Out = f64;
    #[inline(always)]
    fn run(self) -> f64 {
        sum_sq(self.0)
    }
}

/// chunk[j] += Σᵢ cᵢ·xᵢ[base + j] (f64 accumulation, one rounding per value).
struct AddInPlaceKernel<'a, 'b> {
    active: &'a [(&'b [f32], f64)],
    chunk: &'a mut [f32],
    base: usize,
}

impl Kernel for AddInPlaceKernel<'_, '_> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        let mut acc = [0.0f64; BLOCK];
        for (b, dst) in self.chunk.chunks_mut(BLOCK).enumerate() {
            let acc = &mut acc[..dst.len()];
            for (a, &v) in acc.iter_mut().zip(dst.iter()) {
                *a = f64::from(v);
            }
            accumulate(acc, self.active, self.base + b * BLOCK);
            for (o, &a) in dst.iter_mut().zip(acc.iter()) {
                *o = a as f32;
            }
        }
    }
}

/// The fused pass of the norm-clipping mean over one task's columns: writes Σ cᵢxᵢ
/// (unclipped; rows with cᵢ = 0 are only measured) and returns each row's partial Σ x².
/// Per L1-resident block: the weighted sum (four rows per sweep of the accumulator), then the
/// squares of the same pieces, read again from L1.
struct ClipSumKernel<'a, 'b, 's> {
    all: &'a [(&'b [f32], f64)],
    sink: &'a mut Sink<'s, f32>,
    base: usize,
}

impl Kernel for ClipSumKernel<'_, '_, '_> {
    type Out = Vec<f64>;
    #[inline(always)]
    fn run(self) -> Vec<f64> {
        let mut sq = vec![0.0f64; self.all.len()];
        let mut acc = [0.0f64; BLOCK];
        let end = self.base + self.sink.len();
        for start in (self.base..end).step_by(BLOCK) {
            let len = BLOCK.min(end - start);
            let acc = &mut acc[..len];
            acc.iter_mut().for_each(|v| *v = 0.0);
            for (g, s) in self.all.chunks(4).zip(sq.chunks_mut(4)) {
                accumulate(acc, g, start);
                for (&(x, _), s) in g.iter().zip(s) {
                    *s += sum_sq_short(&x[start..start + len]);
                }
            }
            self.sink.extend(acc.iter().map(|&v| v as f32));
        }
        sq
    }
}

/// [`ClipSumKernel`] column-blocked (AVX-512), as `RegCombineV4` (`sums.rs`): per [`REG`]-column
/// block every row's piece is added (in f32 over groups of [`ROW_GROUP`] rows) into f64
/// register accumulators, and its squares are
/// summed in f32 lanes (16 terms per lane) and added, widened, into the row's f64 lanes.
#[cfg(target_arch = "x86_64")]
struct ClipSumV4<'a, 'b, 's> {
    simd: pulp::x86::V4,
    all: &'a [(&'b [f32], f64)],
    /// Whether to measure each row's norm (false: known already, its squares are skipped).
    measure: &'a [bool],
    /// Indices of the rows whose coefficients are applied in f32 ([`f32_coefficient`]) …
    narrow: &'a [usize],
    /// … and of the others, applied in f64.
    wide: &'a [usize],
    sink: &'a mut Sink<'s, f32>,
    base: usize,
}

#[cfg(target_arch = "x86_64")]
impl pulp::NullaryFnOnce for ClipSumV4<'_, '_, '_> {
    type Output = Vec<f64>;
    #[inline(always)]
    fn call(self) -> Vec<f64> {
        use pulp::bytemuck::cast;
        use pulp::{f64x8, Simd};
        const V8: usize = REG / 8;
        const V16: usize = REG / 16;
        let simd = self.simd;
        let zero = simd.splat_f64x8(0.0);
        let mut sq = vec![zero; self.all.len()];
        let end = self.base + self.sink.len();
        let mut j = self.base;
        while j + REG <= end {
            let mut acc = [zero; V8];
            for group in self.narrow.chunks(ROW_GROUP) {
                let mut part = [simd.splat_f32s(0.0); V16];
                for &i in group {
                    let (r, c) = self.all[i];
                    if let Some(x) = row_block(r, j) {
                        fma_f32(simd, x, c, &mut part);
                        if self.measure[i] {
                            add_squares(simd, x, &mut sq[i]);
                        }
                    }
                }
                widen_add(simd, &mut acc, &part);
            }
            for &i in self.wide {
                let (r, c) = self.all[i];
                if let Some(x) = row_block(r, j) {
                    fma_f64(simd, x, c, &mut acc);
                    if self.measure[i] {
                        add_squares(simd, x, &mut sq[i]);
                    }
                }
            }
            let acc: [f64; REG] = cast::<[f64x8; V8], [f64; REG]>(acc);
            self.sink.extend(acc.iter().map(|&a| a as f32));
            j += REG;
        }
        let mut sums: Vec<f64> = sq
            .iter()
            .map(|v| cast::<f64x8, [f64; 8]>(*v).iter().sum())
            .collect();
        for k in j..end {
            let mut a = 0.0f64;
            for (&(r, c), s) in self.all.iter().zip(sums.iter_mut()) {
                let x = f64::from(r[k]);
                a += c * x;
                *s += x * x;
            }
            self.sink.extend([a as f32]);
        }
        sums
    }
}

/// s += Σ x² of the block: f32 squares (4 terms per lane), widened and added in f64 lanes.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn add_squares(simd: pulp::x86::V4, x: &[f32; REG], s: &mut pulp::f64x8) {
    use pulp::Simd;
    let x: &[pulp::f32x16; REG / 16] = pulp::bytemuck::cast_ref(x);
    let mut p = simd.mul_f32s(x[0], x[0]);
    let mut q = simd.mul_f32s(x[1], x[1]);
    for v in (2..REG / 16).step_by(2) {
        p = simd.mul_add_e_f32s(x[v], x[v], p);
        q = simd.mul_add_e_f32s(x[v + 1], x[v + 1], q);
    }
    let h: [pulp::f32x8; 2] = pulp::bytemuck::cast(simd.add_f32s(p, q));
    let w = simd.add_f64s(
        simd.convert_f32x8_to_f64x8(h[0]),
        simd.convert_f32x8_to_f64x8(h[1]),
    );
    *s = simd.add_f64s(*s, w);
}

/// Σ x² of at most a [`BLOCK`] of values: f32 squares summed in 32 f32 lanes (at most 32
/// terms each, so about one f32 rounding of relative error), then in f64. It overflows to +∞
/// for values beyond ~1e19; callers re-measure such rows with [`sum_sq`].
#[inline(always)]
fn sum_sq_short(x: &[f32]) -> f64 {
    let mut s = [0.0f32; 32];
    let mut xs = x.chunks_exact(32);
    for xc in xs.by_ref().filter_map(|c| <&[f32; 32]>::try_from(c).ok()) {
        for l in 0..32 {
            s[l] += xc[l] * xc[l];
        }
    }
    s.iter().map(|&v| f64::from(v)).sum::<f64>()
        + xs.remainder()
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
}

/// Σ x² (f64, 32 lanes: four independent vector chains hide the add latency).
#[inline(always)]
fn sum_sq(x: &[f32]) -> f64 {
    let mut s = [0.0f64; 32];
    let mut xs = x.chunks_exact(32);
    for xc in xs.by_ref().filter_map(|c| <&[f32; 32]>::try_from(c).ok()) {
        for l in 0..32 {
            let v = f64::from(xc[l]);
            s[l] += v * v;
        }
    }
    s.iter().sum::<f64>()
        + xs.remainder()
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
}

/// Centered clipping, L iterations, each one distance pass and one weighted-sum pass.
pub fn centered_clipping(
    rule: &'static str,
    rows: &[&[f32]],
    tau: f64,
    l: usize,
    v0: Option<&[f64]>,
) -> Result<Vec<f32>> {
    let n = rows.len();
    let d = rows[0].len();
    let mut v = v0.map_or_else(|| vec![0.0; d], <[f64]>::to_vec);
    if l == 0 {
        // Still reject bad rows, as the reference does.
        if let Some(e) = rows::find_non_finite(rows) {
            return Err(e);
        }
    }
    for _ in 0..l {
        let sq = sq_dists_to(rows, &v);
        if sq.iter().any(|x| !x.is_finite()) {
            return Err(non_finite_error(rule, rows));
        }
        let scale: Vec<f64> = sq
            .iter()
            .map(|s| {
                let dist = s.sqrt();
                if dist > 0.0 {
                    (tau / dist).min(1.0)
                } else {
                    1.0
                }
            })
            .collect();
        let inv_n = 1.0 / n as f64;
        let keep = 1.0 - scale.iter().sum::<f64>() * inv_n;
        let coeffs: Vec<f64> = scale.iter().map(|s| s * inv_n).collect();
        let prev = v;
        v = combine_f64(rows, &coeffs, Init::Scaled(keep, &prev));
    }
    crate::rules::narrow(rule, &v)
}

/// Per-row ‖xᵢ − v‖² (f64).
fn sq_dists_to(rows: &[&[f32]], v: &[f64]) -> Vec<f64> {
    per_row_reduce(rows, |r, k| {
        let start = k * TASK_COLUMNS;
        let end = (start + TASK_COLUMNS).min(r.len());
        simd(RowKernel {
            x: &r[start..end],
            y: &v[start..end],
            dists: true,
        })
    })
    .0
}

/// Per row piece: (Σ x², Σ x·y), or (Σ (x − y)², 0) with `dists`.
struct RowKernel<'a> {
    x: &'a [f32],
    y: &'a [f64],
    dists: bool,
}

impl Kernel for RowKernel<'_> {
    type Out = (f64, f64);
    #[inline(always)]
    fn run(self) -> (f64, f64) {
        let mut s = [0.0f64; 8];
        let mut t = [0.0f64; 8];
        let mut xs = self.x.chunks_exact(8);
        let mut ys = self.y.chunks_exact(8);
        if self.dists {
            for (xc, yc) in arrays(&mut xs).zip(arrays(&mut ys)) {
                for l in 0..8 {
                    let v = f64::from(xc[l]) - yc[l];
                    s[l] += v * v;
                }
            }
        } else {
            for (xc, yc) in arrays(&mut xs).zip(arrays(&mut ys)) {
                for l in 0..8 {
                    let v = f64::from(xc[l]);
                    s[l] += v * v;
                    t[l] += v * yc[l];
                }
            }
        }
        let mut sq: f64 = s.iter().sum();
        let mut dt: f64 = t.iter().sum();
        for (&xv, &yv) in xs.remainder().iter().zip(ys.remainder()) {
            let v = f64::from(xv);
            if self.dists {
                sq += (v - yv) * (v - yv);
            } else {
                sq += v * v;
                dt += v * yv;
            }
        }
        (sq, dt)
    }
}
