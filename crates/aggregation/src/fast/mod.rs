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
//!   f64 ([`gram()`]); the geometric median then iterates Weiszfeld on the n coefficients of
//!   z = Σ cⱼxⱼ (‖z − xᵢ‖² = Gᵢᵢ − 2(Gc)ᵢ + cᵀGc), so an iteration costs O(n²), not O(nd).
//!
//! Outputs are built by `fill::par_build`, each column task writing its piece once, so a
//! d-long result is not zero-filled before it is computed.
//!
//! Values are not validated up front (that would be a second pass): NaN/Inf propagate into a
//! sum, norm or check accumulator, and only then the rows are scanned to name the bad row.
//!
//! Files: the weighted sums in `sums.rs`, the norm-clipping mean and centered clipping in
//! `clipping.rs`, the Gram matrix and the rules built on it in `gram.rs`, the median and
//! trimmed mean in `order_stat.rs`; this file holds what they share (the SIMD dispatch, the
//! rayon pool, the finiteness checks and the column-block sizes).

mod clipping;
mod fill;
mod gram;
pub mod matmul;
pub mod network;
mod order_stat;
mod sums;

use rayon::prelude::*;

pub use self::clipping::{centered_clipping, norm_clipped_sum, norms_and_dots};
pub use self::gram::{
    gram, gram_and_column_sums, mix, multi_krum, pairwise_sq_dists, weiszfeld_in_span,
};
pub use self::order_stat::{order_statistic, OrderStat};
pub use self::sums::{combine, plain_sum, plain_sum_blocked};
use crate::error::AggregationError;
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
