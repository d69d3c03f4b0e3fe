//! Coordinate-wise median and trimmed mean through a pruned sorting network.

use rayon::prelude::*;

use super::{f32_finite, matmul, network, non_finite_error, on_pool, TASK_COLUMNS};
use crate::error::Result;

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
