//! One of the two places this crate calls unsafe code (the other is the output buffers of
//! `fill`): the `gemm` crate's matrix product, wrapped in functions over checked slices, and
//! the cache prefetch hint ([`prefetch`]) of the streaming kernels. Only the production path
//! uses them; the reference and canonical paths never do.
#![allow(unsafe_code)]

pub use gemm::Parallelism;

/// Why a product was not computed: a slice was too short for the shape given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShapeError;

fn fits(len: usize, rows: usize, cols: usize, stride: usize) -> bool {
    rows == 0
        || cols == 0
        || (cols <= stride || rows == 1)
            && (rows - 1)
                .checked_mul(stride)
                .and_then(|x| x.checked_add(cols))
                .is_some_and(|need| need <= len)
}

/// `out = a · aᵀ` (m×m, row-major, stride m) where `a` is m rows of k values, row i at
/// `a[i*stride .. i*stride + k]`.
pub fn gram_f32(
    a: &[f32],
    m: usize,
    k: usize,
    stride: usize,
    out: &mut [f32],
    par: Parallelism,
) -> Result<(), ShapeError> {
    if !fits(a.len(), m, k, stride) || out.len() < m * m || isize::try_from(stride).is_err() {
        return Err(ShapeError);
    }
    if m == 0 || k == 0 {
        out.iter_mut().for_each(|v| *v = 0.0);
        return Ok(());
    }
    let s = stride as isize;
    // SAFETY: `fits` checked that every element read, a[i*stride + p] for i < m, p < k, is
    // inside `a`; `out` holds the m×m destination with row stride m and column stride 1; the
    // source and destination do not overlap (one is borrowed shared, the other exclusive).
    unsafe {
        gemm::gemm(
            m,
            m,
            k,
            out.as_mut_ptr(),
            1,
            m as isize,
            false,
            a.as_ptr(),
            1,
            s,
            a.as_ptr(),
            s,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
    Ok(())
}

/// `out = w · x`: w is m×m (row-major), x is m rows of k values (row stride `stride`), out is
/// m rows of k values (row stride k).
pub fn mix_f32(
    w: &[f32],
    m: usize,
    x: &[f32],
    k: usize,
    stride: usize,
    out: &mut [f32],
    par: Parallelism,
) -> Result<(), ShapeError> {
    if w.len() < m * m
        || !fits(x.len(), m, k, stride)
        || out.len() < m * k
        || isize::try_from(stride).is_err()
        || isize::try_from(k).is_err()
    {
        return Err(ShapeError);
    }
    if m == 0 || k == 0 {
        return Ok(());
    }
    // SAFETY: w is read at i*m + j < m*m; x at j*stride + p inside `x` (checked by `fits`);
    // out written at i*k + p < m*k; `out` is exclusively borrowed and overlaps neither input.
    unsafe {
        gemm::gemm(
            m,
            k,
            m,
            out.as_mut_ptr(),
            1,
            k as isize,
            false,
            w.as_ptr(),
            1,
            m as isize,
            x.as_ptr(),
            1,
            stride as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
    Ok(())
}

/// Hints the CPU to fetch the cache line holding `x[at]` into L1 (no effect when `at` is out
/// of range, or off x86-64). A prefetch never faults and reads nothing into the program.
#[inline(always)]
pub fn prefetch(x: &[f32], at: usize) {
    #[cfg(target_arch = "x86_64")]
    prefetch_hint::<{ std::arch::x86_64::_MM_HINT_T0 }>(x, at);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (x, at);
}

/// As [`prefetch`], into L2 only (for data needed after the current L1-sized piece of work).
#[inline(always)]
pub fn prefetch_l2(x: &[f32], at: usize) {
    #[cfg(target_arch = "x86_64")]
    prefetch_hint::<{ std::arch::x86_64::_MM_HINT_T1 }>(x, at);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (x, at);
}

/// `_mm_prefetch` of `x[at]` with the cache-level hint `HINT`, when `at` is in range.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn prefetch_hint<const HINT: i32>(x: &[f32], at: usize) {
    if let Some(v) = x.get(at) {
        // SAFETY: `_mm_prefetch` only needs SSE, which every x86-64 CPU has, and the pointer
        // comes from a live reference (a prefetch of any address is harmless anyway).
        unsafe { std::arch::x86_64::_mm_prefetch::<HINT>(std::ptr::from_ref(v).cast()) }
    }
}
