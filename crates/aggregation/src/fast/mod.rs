//! The production f32 path: the same definitions as [`crate::reference`], computed with SIMD
//! (runtime dispatch to AVX2/AVX-512 through `pulp`, safe code), both cores (rayon) and the
//! memory traffic of about one read of the n×d matrix where the rule allows it.
//!
//! - Weighted sums (FedAvg, Multi-Krum's mean, the last step of most rules): one pass. With
//!   AVX-512, column-blocked: for each block of 128 columns
//!   every row's piece is fused-multiply-added in f32 over groups of eight rows, and each
//!   group's sum added into f64 accumulators held in registers (each row prefetched a few
//!   blocks ahead) and the block is written once — n short streams at a
//!   time, which can stream faster than one long one. Without: column blocks
//!   of f64 accumulators in L1, four rows per sweep.
//! - Norm-clipping mean: a short prefix scan defers the rows certainly clipped, one fused pass
//!   sums the others *unclipped* and measures every norm, and a correction pass reads only the
//!   clipped rows ([`norm_clipped_sum`]); the fused pass is column-blocked as the weighted
//!   sums (AVX-512, any n).
//! - Median and trimmed mean: per L2-sized column block, the rows are packed (one contiguous
//!   read per row, prefetching the row's piece of the next block into L2) into groups of 64
//!   coordinates; each aligned block of 16 rows is sorted in
//!   SIMD registers ([`network::SORT16`], unrolled), then the rest of a pruned Batcher network
//!   ([`network`]) runs on the group in L1; column tasks in parallel (each output coordinate
//!   is computed on its own, so the result does not depend on the thread count).
//! - Multi-Krum: from 32 rows the Gram pass also takes the column sums, and the mean of the
//!   kept rows is (Σ all − Σ left out)/m when fewer rows are left out than kept
//!   ([`multi_krum`]); with fewer rows the kept rows are re-read (cheaper there).
//! - Krum, Multi-Krum, NNM, FoolsGold and the geometric median: pairwise distances through
//!   the Gram matrix X·Xᵀ, only its upper triangle (half a general product's flops), in 4×4
//!   row tiles of f32 SIMD dot products per L2-sized column chunk, summed across chunks in
//!   f64 ([`gram`]); the geometric median then iterates Weiszfeld on the n coefficients of z = Σ cⱼxⱼ
//!   (‖z − xᵢ‖² = Gᵢᵢ − 2(Gc)ᵢ + cᵀGc), so an iteration costs O(n²), not O(nd).
//!
//! Outputs are built by `fill::par_build`, each column task writing its piece once, so a
//! d-long result is not zero-filled before it is computed.
//!
//! Values are not validated up front (that would be a second pass): NaN/Inf propagate into a
//! sum, norm or check accumulator, and only then the rows are scanned to name the bad row.

mod fill;
pub mod matmul;
pub mod network;

use rayon::prelude::*;

use self::fill::{par_build, Sink};
use crate::error::{AggregationError, Result};
use crate::reference::GmInit;
use crate::rows;

/// Columns per rayon task.
const TASK_COLUMNS: usize = 16 * 1024;
/// Columns per L1-resident accumulator block.
const BLOCK: usize = 1024;
/// Columns per register block of the column-blocked passes: 128 f32 values (eight AVX-512
/// vectors), sixteen vectors of f64 accumulators.
const REG: usize = 128;
/// How far ahead (in values) the column-blocked kernels prefetch each row.
const PREFETCH: usize = 4 * REG;

/// The memory-bound baseline of the benchmarks: a plain single-pass sum of every value of a
/// row-major matrix (f32 lanes, both cores). Returns the sum so the work cannot be elided.
pub fn plain_sum(data: &[f32]) -> f32 {
    data.par_chunks(64 * 1024).map(|c| simd(SumKernel(c))).sum()
}

struct SumKernel<'a>(&'a [f32]);

impl Kernel for SumKernel<'_> {
    type Out = f32;
    #[inline(always)]
    fn run(self) -> f32 {
        let mut acc = [0.0f32; 64];
        let mut it = self.0.chunks_exact(64);
        for x in &mut it {
            for (a, v) in acc.iter_mut().zip(x) {
                *a += v;
            }
        }
        acc.iter().sum::<f32>() + it.remainder().iter().sum::<f32>()
    }
}

/// The same plain sum, column-blocked: per task of columns, each block of 128 columns of
/// every row is summed in registers (f32 lanes, each row prefetched 512 values ahead) and
/// added to the total once. It reads n streams at a time, which can stream faster from memory
/// than the contiguous [`plain_sum`]; the benchmarks time both and take the faster as the
/// bound.
pub fn plain_sum_blocked(rows: &[&[f32]]) -> f32 {
    let d = rows.first().map_or(0, |r| r.len());
    (0..d.div_ceil(TASK_COLUMNS))
        .into_par_iter()
        .map(|t| {
            let start = t * TASK_COLUMNS;
            simd(BlockedSumKernel {
                rows,
                start,
                end: (start + TASK_COLUMNS).min(d),
            })
        })
        .sum()
}

struct BlockedSumKernel<'a, 'b> {
    rows: &'a [&'b [f32]],
    start: usize,
    end: usize,
}

impl Kernel for BlockedSumKernel<'_, '_> {
    type Out = f32;
    #[inline(always)]
    fn run(self) -> f32 {
        let mut total = 0.0f32;
        let mut j = self.start;
        while j + REG <= self.end {
            let mut acc = [0.0f32; REG];
            for r in self.rows {
                if let Some(x) = row_block(r, j) {
                    for l in 0..REG {
                        acc[l] += x[l];
                    }
                }
            }
            total += acc.iter().sum::<f32>();
            j += REG;
        }
        for r in self.rows {
            total += r[j..self.end].iter().sum::<f32>();
        }
        total
    }
}

/// Whether every value is finite: both cores, 32-lane `x·0` accumulators (NaN
/// exactly when some x is NaN or ±∞), no early exit, so it vectorizes.
pub fn all_finite(v: &[f32]) -> bool {
    v.par_chunks(64 * 1024).all(|c| simd(FiniteKernel(c)))
}

/// [`FiniteKernel`] on one thread (for a piece a task has just written).
fn f32_finite(v: &[f32]) -> bool {
    simd(FiniteKernel(v))
}

struct FiniteKernel<'a>(&'a [f32]);

impl Kernel for FiniteKernel<'_> {
    type Out = bool;
    #[inline(always)]
    fn run(self) -> bool {
        let mut chk = [0.0f32; 32];
        let mut it = self.0.chunks_exact(32);
        for c in it.by_ref().filter_map(|c| <&[f32; 32]>::try_from(c).ok()) {
            for l in 0..32 {
                chk[l] += c[l] * 0.0;
            }
        }
        chk.iter().chain(it.remainder()).all(|x| x.is_finite())
    }
}

/// Threads the production path uses (the current rayon pool).
pub fn threads() -> usize {
    rayon::current_num_threads()
}

/// Runs `f` on a worker of the rayon pool (inline when already on one). Each parallel step
/// started from outside the pool hands its work over and sleeps until a worker hands it back;
/// a rule with several steps pays that once instead of once per step, which matters where the
/// whole rule takes well under a millisecond.
fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| f())
}

/// The 8-element chunks as arrays (so the compiler sees the length).
#[inline(always)]
fn arrays<'a, 'b: 'a, T>(
    it: &'a mut std::slice::ChunksExact<'b, T>,
) -> impl Iterator<Item = &'b [T; 8]> + 'a {
    it.filter_map(|c| c.try_into().ok())
}

/// A kernel body. `run` must be `#[inline(always)]` (and so must everything it calls that
/// holds a hot loop): it is inlined into one function per instruction set, compiled with that
/// set's target features. A plain closure would not be (it stays one function for all sets).
trait Kernel {
    type Out;
    fn run(self) -> Self::Out;
}

struct Dispatch<K>(K);

impl<K: Kernel> pulp::WithSimd for Dispatch<K> {
    type Output = K::Out;
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> K::Out {
        self.0.run()
    }
}

/// Runs the kernel compiled for the best instruction set of this CPU.
#[inline(always)]
fn simd<K: Kernel>(k: K) -> K::Out {
    pulp::Arch::new().dispatch(Dispatch(k))
}

/// After a non-finite result: the first non-finite input, or an overflow error.
fn non_finite_error(rule: &'static str, rows: &[&[f32]]) -> AggregationError {
    rows::find_non_finite(rows).unwrap_or(AggregationError::Overflow { rule })
}

/// acc[j] += Σᵢ cᵢ·xᵢ[start + j] over the rows with cᵢ ≠ 0.
#[inline(always)]
fn accumulate(acc: &mut [f64], rows: &[(&[f32], f64)], start: usize) {
    let len = acc.len();
    let mut groups = rows.chunks_exact(4);
    for g in &mut groups {
        let (x0, c0) = (&g[0].0[start..start + len], g[0].1);
        let (x1, c1) = (&g[1].0[start..start + len], g[1].1);
        let (x2, c2) = (&g[2].0[start..start + len], g[2].1);
        let (x3, c3) = (&g[3].0[start..start + len], g[3].1);
        for j in 0..len {
            acc[j] += (c0 * f64::from(x0[j]) + c1 * f64::from(x1[j]))
                + (c2 * f64::from(x2[j]) + c3 * f64::from(x3[j]));
        }
    }
    for &(x, c) in groups.remainder() {
        let x = &x[start..start + len];
        for (a, &v) in acc.iter_mut().zip(x) {
            *a += c * f64::from(v);
        }
    }
}

/// A row and its coefficient in a weighted sum.
type Weighted<'a> = (&'a [f32], f64);

/// What a weighted sum starts from.
#[derive(Clone, Copy)]
enum Init<'a> {
    Zero,
    /// out[j] starts at k·v[j].
    Scaled(f64, &'a [f64]),
}

/// An output element type of the weighted sums: f32 (rounded once) or f64.
///
/// Plain methods with `#[inline(always)]`, not closures: a closure passed into a SIMD kernel is
/// compiled once, for the baseline instruction set, and called per element (at n = 10,
/// d = 10⁶ those calls cost a third of the pass).
trait Narrow: Copy + Default + Send + Sync {
    fn narrow(x: f64) -> Self;
    /// Whether a piece of the output is finite (f64 sums are not checked).
    fn all_finite(piece: &[Self]) -> bool;
}

impl Narrow for f32 {
    #[inline(always)]
    fn narrow(x: f64) -> f32 {
        x as f32
    }
    fn all_finite(piece: &[f32]) -> bool {
        f32_finite(piece)
    }
}

impl Narrow for f64 {
    #[inline(always)]
    fn narrow(x: f64) -> f64 {
        x
    }
    fn all_finite(_: &[f64]) -> bool {
        true
    }
}

/// Appends init(start + l) + acc[l], narrowed, to the output.
#[inline(always)]
fn store<O: Narrow>(sink: &mut Sink<'_, O>, acc: &[f64], init: Init<'_>, start: usize) {
    match init {
        Init::Zero => sink.extend(acc.iter().map(|&a| O::narrow(a))),
        Init::Scaled(k, v) => sink.extend(
            acc.iter()
                .zip(&v[start..])
                .map(|(&a, &p)| O::narrow(k * p + a)),
        ),
    }
}

/// out[j] = init(j) + Σᵢ cᵢ·xᵢⱼ over d columns, skipping rows with cᵢ = 0; also returns
/// whether every value is finite (each column task checks its piece while it is in cache).
fn combine_new<O: Narrow>(rows: &[&[f32]], coeffs: &[f64], init: Init<'_>) -> (Vec<O>, bool) {
    let d = rows.first().map_or(0, |r| r.len());
    let active: Vec<(&[f32], f64)> = rows
        .iter()
        .zip(coeffs)
        .filter(|(_, &c)| c != 0.0)
        .map(|(r, &c)| (*r, c))
        .collect();
    #[cfg(target_arch = "x86_64")]
    let v4 = pulp::x86::V4::try_new();
    #[cfg(target_arch = "x86_64")]
    let (narrow, wide): (Vec<Weighted<'_>>, Vec<Weighted<'_>>) =
        active.iter().partition(|&&(_, c)| f32_coefficient(c));
    let (out, _, finite) = par_build(
        d,
        TASK_COLUMNS,
        |t, sink| {
            let base = t * TASK_COLUMNS;
            let active = &active[..];
            #[cfg(target_arch = "x86_64")]
            if let Some(simd) = v4 {
                return pulp::Simd::vectorize(
                    simd,
                    RegCombineV4 {
                        simd,
                        narrow: &narrow,
                        wide: &wide,
                        init,
                        sink,
                        base,
                    },
                );
            }
            simd(CombineKernel {
                active,
                init,
                sink,
                base,
            })
        },
        O::all_finite,
    );
    (out, finite)
}

/// The column-blocked weighted sum (AVX-512): for each [`REG`]-column block, the active rows'
/// pieces are fused-multiply-added in f32 over groups of [`ROW_GROUP`] rows, each group's sum
/// is widened and added into sixteen 8-lane f64 accumulators held in registers, and the block
/// is written once. Reading n row streams at a time, it streams from memory faster than the
/// row-at-a-time [`CombineKernel`] at every n measured (`examples/fastbench.rs`). Each output
/// value is one fixed-order sum whatever the thread count.
#[cfg(target_arch = "x86_64")]
struct RegCombineV4<'a, 'b, 's, O> {
    simd: pulp::x86::V4,
    /// The rows whose coefficients are applied in f32 ([`f32_coefficient`]) …
    narrow: &'a [(&'b [f32], f64)],
    /// … and the others, applied in f64.
    wide: &'a [(&'b [f32], f64)],
    init: Init<'a>,
    sink: &'a mut Sink<'s, O>,
    base: usize,
}

#[cfg(target_arch = "x86_64")]
impl<O: Narrow> pulp::NullaryFnOnce for RegCombineV4<'_, '_, '_, O> {
    type Output = ();
    #[inline(always)]
    fn call(self) {
        use pulp::bytemuck::cast;
        use pulp::{f64x8, Simd};
        const V16: usize = REG / 16;
        let simd = self.simd;
        let end = self.base + self.sink.len();
        let mut j = self.base;
        while j + REG <= end {
            let mut acc = [simd.splat_f64x8(0.0); 2 * V16];
            for group in self.narrow.chunks(ROW_GROUP) {
                let mut part = [simd.splat_f32s(0.0); V16];
                for &(r, c) in group {
                    if let Some(x) = row_block(r, j) {
                        fma_f32(simd, x, c, &mut part);
                    }
                }
                widen_add(simd, &mut acc, &part);
            }
            for &(r, c) in self.wide {
                if let Some(x) = row_block(r, j) {
                    fma_f64(simd, x, c, &mut acc);
                }
            }
            let acc: [f64; REG] = cast::<[f64x8; 2 * V16], [f64; REG]>(acc);
            store(self.sink, &acc, self.init, j);
            j += REG;
        }
        let mut acc = [0.0f64; REG];
        for (k, a) in acc[..end - j].iter_mut().enumerate() {
            for &(r, c) in self.narrow.iter().chain(self.wide) {
                *a += c * f64::from(r[j + k]);
            }
        }
        store(self.sink, &acc[..end - j], self.init, j);
    }
}

/// Rows whose f32 products the column-blocked kernels sum in f32 (a fused multiply-add chain
/// of at most this many roundings) before adding them into the f64 accumulators: a quarter of
/// the conversions and f64 operations of widening every product, which pays where the pass
/// is not purely memory-bound (where it streams from memory it gains nothing), with an error
/// of a few f32 roundings of the group's terms (the tests allow 2·10⁻⁵ of the input scale).
const ROW_GROUP: usize = 8;

/// Whether the column-blocked kernels apply coefficient c in f32: zero, or 2⁻⁶⁴ ≤ |c| ≤ 1,
/// where f32 holds c to full precision and |c·x| ≤ |x| cannot overflow (the weights of a mean
/// are there). The others are applied in f64, product by product: a row at the f32 limit
/// clipped to a small norm has c ≈ 10⁻⁴⁵, below f32's normal range, yet its clipped row counts
/// as much as any other.
#[cfg(target_arch = "x86_64")]
fn f32_coefficient(c: f64) -> bool {
    let m = c.abs();
    m == 0.0 || (F32_SAFE_MIN..=1.0).contains(&m)
}

/// 2⁻⁶⁴: the smallest coefficient magnitude applied in f32.
#[cfg(target_arch = "x86_64")]
const F32_SAFE_MIN: f64 = 1.0 / 18_446_744_073_709_551_616.0;

/// One row's step of the column-blocked kernels: prefetches `r` [`PREFETCH`] values past
/// column j and returns r[j..j + REG], or `None` past the row's end.
#[inline(always)]
fn row_block(r: &[f32], j: usize) -> Option<&[f32; REG]> {
    for k in 0..REG / 16 {
        matmul::prefetch(r, j + PREFETCH + 16 * k);
    }
    r.get(j..j + REG)?.try_into().ok()
}

/// part += c·x in f32 lanes (c rounded to f32: only for [`f32_coefficient`]s).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn fma_f32(simd: pulp::x86::V4, x: &[f32; REG], c: f64, part: &mut [pulp::f32x16; REG / 16]) {
    use pulp::Simd;
    let x: &[pulp::f32x16; REG / 16] = pulp::bytemuck::cast_ref(x);
    let cv = simd.splat_f32s(c as f32);
    for (p, &v) in part.iter_mut().zip(x) {
        *p = simd.mul_add_f32s(cv, v, *p);
    }
}

/// acc += c·x with every value widened to f64 first.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn fma_f64(simd: pulp::x86::V4, x: &[f32; REG], c: f64, acc: &mut [pulp::f64x8; REG / 8]) {
    let x: &[pulp::f32x8; REG / 8] = pulp::bytemuck::cast_ref(x);
    let cv = simd.splat_f64x8(c);
    for (a, &v) in acc.iter_mut().zip(x) {
        *a = simd.mul_add_f64x8(cv, simd.convert_f32x8_to_f64x8(v), *a);
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

/// acc[2v], acc[2v + 1] += the low and high halves of part[v], widened to f64.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn widen_add(simd: pulp::x86::V4, acc: &mut [pulp::f64x8], part: &[pulp::f32x16]) {
    use pulp::f32x8;
    for (a, &p) in acc.chunks_exact_mut(2).zip(part) {
        let h: [f32x8; 2] = pulp::bytemuck::cast(p);
        a[0] = simd.add_f64x8(a[0], simd.convert_f32x8_to_f64x8(h[0]));
        a[1] = simd.add_f64x8(a[1], simd.convert_f32x8_to_f64x8(h[1]));
    }
}

/// The row-at-a-time weighted sum: per L1-resident [`BLOCK`] of f64 accumulators, four
/// rows per sweep.
struct CombineKernel<'a, 'b, 's, O> {
    active: &'a [(&'b [f32], f64)],
    init: Init<'a>,
    sink: &'a mut Sink<'s, O>,
    base: usize,
}

impl<O: Narrow> Kernel for CombineKernel<'_, '_, '_, O> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        let mut acc = [0.0f64; BLOCK];
        let end = self.base + self.sink.len();
        for start in (self.base..end).step_by(BLOCK) {
            let acc = &mut acc[..BLOCK.min(end - start)];
            acc.fill(0.0);
            accumulate(acc, self.active, start);
            store(self.sink, acc, self.init, start);
        }
    }
}

/// Σᵢ cᵢxᵢ in f32 (f64 accumulation). Rows with cᵢ = 0 are not read, except that with
/// `check_skipped` they are scanned for non-finite values (for rules that must reject them).
pub fn combine(
    rule: &'static str,
    rows: &[&[f32]],
    coeffs: &[f64],
    check_skipped: bool,
) -> Result<Vec<f32>> {
    let (out, finite) = on_pool(|| combine_new(rows, coeffs, Init::Zero));
    if !finite {
        return Err(non_finite_error(rule, rows));
    }
    if check_skipped {
        for (row, (r, _)) in rows
            .iter()
            .zip(coeffs)
            .enumerate()
            .filter(|(_, (_, &c))| c == 0.0)
        {
            if let Some(AggregationError::NonFinite { coord, value, .. }) =
                rows::find_non_finite(&[*r])
            {
                return Err(AggregationError::NonFinite { row, coord, value });
            }
        }
    }
    Ok(out)
}

/// Σᵢ cᵢxᵢ with f64 output (no rounding), plus `init`.
fn combine_f64(rows: &[&[f32]], coeffs: &[f64], init: Init<'_>) -> Vec<f64> {
    combine_new(rows, coeffs, init).0
}

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

/// out[j] = Σᵢ cᵢ·xᵢ[base + j] (f64, not rounded).
struct SumRowsKernel<'a, 'b> {
    active: &'a [(&'b [f32], f64)],
    out: &'a mut [f64],
    base: usize,
}

impl Kernel for SumRowsKernel<'_, '_> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        for (b, acc) in self.out.chunks_mut(BLOCK).enumerate() {
            acc.iter_mut().for_each(|v| *v = 0.0);
            accumulate(acc, self.active, self.base + b * BLOCK);
        }
    }
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

/// [`ClipSumKernel`] column-blocked (AVX-512), as [`RegCombineV4`]: per [`REG`]-column
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

/// Which order statistic of each coordinate.
#[derive(Debug, Clone, Copy)]
pub enum OrderStat {
    /// The median (mean of the middle two for even n).
    Median,
    /// The mean after dropping k at each end.
    Trimmed(usize),
}

/// Coordinate-wise median or trimmed mean through a pruned sorting network.
pub fn order_statistic(rule: &'static str, rows: &[&[f32]], stat: OrderStat) -> Result<Vec<f32>> {
    on_pool(|| order_statistic_steps(rule, rows, stat))
}

fn order_statistic_steps(rule: &'static str, rows: &[&[f32]], stat: OrderStat) -> Result<Vec<f32>> {
    use network::{Needed, Network};
    let n = rows.len();
    let d = rows[0].len();
    let needed = match stat {
        OrderStat::Median => Needed::Positions((n - 1) / 2, n / 2),
        OrderStat::Trimmed(k) => Needed::Range(k, n - k),
    };
    let net = Network::after_sorted_blocks(n, needed);
    let mut out = vec![0.0f32; d];
    let bad = out
        .par_chunks_mut(TASK_COLUMNS)
        .enumerate()
        .map(|(t, chunk)| {
            let bad = pulp::Arch::new().dispatch(NetworkKernel {
                rows,
                steps: &net.steps,
                stat,
                chunk: &mut *chunk,
                base: t * TASK_COLUMNS,
            });
            bad || !f32_finite(chunk)
        })
        .reduce(|| false, |a, b| a || b);
    if bad {
        return Err(non_finite_error(rule, rows));
    }
    Ok(out)
}

/// Sorts positions 0..16 of `rows` (the rows of one aligned block, at most 16, padded with +∞)
/// on every coordinate, with [`network::SORT16`] unrolled on values held in registers: per
/// SIMD vector of coordinates, 16 loads and 16 stores instead of four per step.
#[inline(always)]
fn sort16_in_registers<S: pulp::Simd>(simd: S, rows: &mut [[f32; WIDE]]) {
    let m = rows.len();
    let per_row = S::as_simd_f32s(&rows[0][..]).0.len();
    for q in 0..per_row {
        let inf = simd.splat_f32s(f32::INFINITY);
        let mut v = [inf; 16];
        for (x, r) in v.iter_mut().zip(rows.iter()).take(m) {
            *x = S::as_simd_f32s(&r[..]).0[q];
        }
        macro_rules! steps {
            ($(($a:literal, $b:literal)),* $(,)?) => {
                $(
                    let (x, y) = (v[$a], v[$b]);
                    v[$a] = simd.min_f32s(x, y);
                    v[$b] = simd.max_f32s(x, y);
                )*
            };
        }
        // The same list as network::SORT16 (a unit test checks that list).
        steps!(
            (0, 1),
            (2, 3),
            (4, 5),
            (6, 7),
            (8, 9),
            (10, 11),
            (12, 13),
            (14, 15),
            (0, 2),
            (1, 3),
            (4, 6),
            (5, 7),
            (8, 10),
            (9, 11),
            (12, 14),
            (13, 15),
            (1, 2),
            (5, 6),
            (9, 10),
            (13, 14),
            (0, 4),
            (1, 5),
            (2, 6),
            (3, 7),
            (8, 12),
            (9, 13),
            (10, 14),
            (11, 15),
            (2, 4),
            (3, 5),
            (10, 12),
            (11, 13),
            (1, 2),
            (3, 4),
            (5, 6),
            (9, 10),
            (11, 12),
            (13, 14),
            (0, 8),
            (1, 9),
            (2, 10),
            (3, 11),
            (4, 12),
            (5, 13),
            (6, 14),
            (7, 15),
            (4, 8),
            (5, 9),
            (6, 10),
            (7, 11),
            (2, 4),
            (3, 5),
            (6, 8),
            (7, 9),
            (10, 12),
            (11, 13),
            (1, 2),
            (3, 4),
            (5, 6),
            (7, 8),
            (9, 10),
            (11, 12),
            (13, 14),
        );
        for (x, r) in v.iter().zip(rows.iter_mut()) {
            S::as_mut_simd_f32s(&mut r[..]).0[q] = *x;
        }
    }
}

/// Columns per packed block of the order statistics: about 256 KiB of the n rows (stays in
/// L2), a multiple of [`network::LANES`]. Each row is read in one contiguous piece per block,
/// so the prefetcher sees a few long streams instead of n interleaved 64-byte ones.
fn order_block(n: usize) -> usize {
    ((64 * 1024 / n.max(1)) / WIDE * WIDE).clamp(WIDE, 4096)
}

/// Coordinates one compare-exchange step of the order-statistic kernel handles: four 512-bit
/// vectors (or eight 256-bit ones), independent of each other, so the loop overhead and the
/// latency of each step are shared by four.
const WIDE: usize = 64;

/// The sorting network over one task's columns: per block of [`order_block`] columns, the
/// rows are packed into groups of [`WIDE`] coordinates (n × 256 bytes each, in L1),
/// and the network runs on each group; returns whether a non-finite value was read.
struct NetworkKernel<'a, 'b> {
    rows: &'a [&'b [f32]],
    steps: &'a [(u16, u16)],
    stat: OrderStat,
    chunk: &'a mut [f32],
    base: usize,
}

impl pulp::WithSimd for NetworkKernel<'_, '_> {
    type Output = bool;
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) -> bool {
        let n = self.rows.len();
        let block = order_block(n);
        let mut packed = vec![[0.0f32; WIDE]; n * (block / WIDE)];
        let mut check = [0.0f32; WIDE];
        for (bi, dst) in self.chunk.chunks_mut(block).enumerate() {
            let start = self.base + bi * block;
            let len = dst.len();
            for (i, r) in self.rows.iter().enumerate() {
                let src = &r[start..start + len];
                let mut pieces = src.chunks_exact(WIDE);
                for (g, piece) in pieces
                    .by_ref()
                    .filter_map(|c| <&[f32; WIDE]>::try_from(c).ok())
                    .enumerate()
                {
                    // This row's piece of the next block, into L2 while the network runs.
                    for q in 0..WIDE / 16 {
                        matmul::prefetch_l2(r, start + len + g * WIDE + 16 * q);
                    }
                    packed[g * n + i] = *piece;
                    for l in 0..WIDE {
                        check[l] += piece[l] * 0.0;
                    }
                }
                let rest = pieces.remainder();
                if !rest.is_empty() {
                    let lane = &mut packed[(len / WIDE) * n + i];
                    *lane = [0.0; WIDE];
                    lane[..rest.len()].copy_from_slice(rest);
                    for l in 0..WIDE {
                        check[l] += lane[l] * 0.0;
                    }
                }
            }
            for (g, out) in dst.chunks_mut(WIDE).enumerate() {
                let buf = &mut packed[g * n..(g + 1) * n];
                for rb in buf.chunks_mut(network::BLOCK_ROWS) {
                    sort16_in_registers(simd, rb);
                }
                for &(a, b) in self.steps {
                    let x = buf[a as usize];
                    let y = buf[b as usize];
                    let mut lo = [0.0f32; WIDE];
                    let mut hi = [0.0f32; WIDE];
                    for l in 0..WIDE {
                        lo[l] = if x[l] < y[l] { x[l] } else { y[l] };
                        hi[l] = if x[l] < y[l] { y[l] } else { x[l] };
                    }
                    buf[a as usize] = lo;
                    buf[b as usize] = hi;
                }
                match self.stat {
                    OrderStat::Median => {
                        let (p, q) = ((n - 1) / 2, n / 2);
                        for (l, o) in out.iter_mut().enumerate() {
                            *o = ((f64::from(buf[p][l]) + f64::from(buf[q][l])) * 0.5) as f32;
                        }
                    }
                    OrderStat::Trimmed(k) => {
                        let mut acc = [0.0f64; WIDE];
                        for lane in &buf[k..n - k] {
                            for l in 0..WIDE {
                                acc[l] += f64::from(lane[l]);
                            }
                        }
                        let inv = 1.0 / (n - 2 * k) as f64;
                        for (o, a) in out.iter_mut().zip(acc) {
                            *o = (a * inv) as f32;
                        }
                    }
                }
            }
        }
        check.iter().any(|c| !c.is_finite())
    }
}
