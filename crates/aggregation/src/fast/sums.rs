//! Weighted sums Σᵢ cᵢxᵢ (FedAvg, Multi-Krum's mean, the last step of most rules) and the
//! plain sums the benchmarks take as the memory bound.

use rayon::prelude::*;

use super::fill::{par_build, Sink};
use super::{f32_finite, matmul, non_finite_error, on_pool, simd, Kernel};
use super::{BLOCK, PREFETCH, REG, TASK_COLUMNS};
use crate::error::{AggregationError, Result};
use crate::rows;

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

/// acc[j] += Σᵢ cᵢ·xᵢ[start + j] over the rows with cᵢ ≠ 0.
#[inline(always)]
pub(super) fn accumulate(acc: &mut [f64], rows: &[(&[f32], f64)], start: usize) {
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
pub(super) enum Init<'a> {
    Zero,
    /// out[j] starts at k·v[j].
    Scaled(f64, &'a [f64]),
}

/// An output element type of the weighted sums: f32 (rounded once) or f64.
///
/// Plain methods with `#[inline(always)]`, not closures: a closure passed into a SIMD kernel is
/// compiled once, for the baseline instruction set, and called per element (at n = 10,
/// d = 10⁶ those calls cost a third of the pass).
pub(super) trait Narrow: Copy + Default + Send + Sync {
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
pub(super) fn combine_new<O: Narrow>(
    rows: &[&[f32]],
    coeffs: &[f64],
    init: Init<'_>,
) -> (Vec<O>, bool) {
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
pub(super) const ROW_GROUP: usize = 8;

/// Whether the column-blocked kernels apply coefficient c in f32: zero, or 2⁻⁶⁴ ≤ |c| ≤ 1,
/// where f32 holds c to full precision and |c·x| ≤ |x| cannot overflow (the weights of a mean
/// are there). The others are applied in f64, product by product: a row at the f32 limit
/// clipped to a small norm has c ≈ 10⁻⁴⁵, below f32's normal range, yet its clipped row counts
/// as much as any other.
#[cfg(target_arch = "x86_64")]
pub(super) fn f32_coefficient(c: f64) -> bool {
    let m = c.abs();
    m == 0.0 || (F32_SAFE_MIN..=1.0).contains(&m)
}

/// 2⁻⁶⁴: the smallest coefficient magnitude applied in f32.
#[cfg(target_arch = "x86_64")]
const F32_SAFE_MIN: f64 = 1.0 / 18_446_744_073_709_551_616.0;

/// One row's step of the column-blocked kernels: prefetches `r` [`PREFETCH`] values past
/// column j and returns r[j..j + REG], or `None` past the row's end.
#[inline(always)]
pub(super) fn row_block(r: &[f32], j: usize) -> Option<&[f32; REG]> {
    for k in 0..REG / 16 {
        matmul::prefetch(r, j + PREFETCH + 16 * k);
    }
    r.get(j..j + REG)?.try_into().ok()
}

/// part += c·x in f32 lanes (c rounded to f32: only for [`f32_coefficient`]s).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) fn fma_f32(
    simd: pulp::x86::V4,
    x: &[f32; REG],
    c: f64,
    part: &mut [pulp::f32x16; REG / 16],
) {
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
pub(super) fn fma_f64(
    simd: pulp::x86::V4,
    x: &[f32; REG],
    c: f64,
    acc: &mut [pulp::f64x8; REG / 8],
) {
    let x: &[pulp::f32x8; REG / 8] = pulp::bytemuck::cast_ref(x);
    let cv = simd.splat_f64x8(c);
    for (a, &v) in acc.iter_mut().zip(x) {
        *a = simd.mul_add_f64x8(cv, simd.convert_f32x8_to_f64x8(v), *a);
    }
}

/// acc[2v], acc[2v + 1] += the low and high halves of part[v], widened to f64.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) fn widen_add(simd: pulp::x86::V4, acc: &mut [pulp::f64x8], part: &[pulp::f32x16]) {
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
pub(super) fn combine_f64(rows: &[&[f32]], coeffs: &[f64], init: Init<'_>) -> Vec<f64> {
    combine_new(rows, coeffs, init).0
}

/// out[j] = Σᵢ cᵢ·xᵢ[base + j] (f64, not rounded).
pub(super) struct SumRowsKernel<'a, 'b> {
    pub(super) active: &'a [(&'b [f32], f64)],
    pub(super) out: &'a mut [f64],
    pub(super) base: usize,
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
