//! A bounds-checked safe wrapper over the `gemm` crate's f32 matrix product.
//!
//! `gemm` computes `dst := alpha·dst + beta·lhs·rhs` (or `dst := beta·lhs·rhs` when the
//! destination is not read) on strided matrices and picks AVX-512 / AVX2 / scalar kernels at run
//! time (`x86-v4` feature). Here every operand is a slice; before the call we check that the
//! largest index implied by the dimensions and strides is inside it, so the unsafe call cannot
//! read or write out of bounds.

#![allow(unsafe_code)]

use crate::error::MlError;

/// A strided read-only matrix view: element `(i, j)` is `data[i·rs + j·cs]`.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// Backing values.
    pub data: &'a [f32],
    /// Row stride.
    pub rs: usize,
    /// Column stride.
    pub cs: usize,
}

impl<'a> View<'a> {
    /// Row-major view with row length `cols`.
    pub fn rows(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            rs: cols,
            cs: 1,
        }
    }

    /// Transposed view of a row-major matrix with row length `cols`.
    pub fn transposed(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            rs: 1,
            cs: cols,
        }
    }
}

pub(crate) fn check(
    what: &'static str,
    len: usize,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
) -> Result<(), MlError> {
    if rows == 0 || cols == 0 {
        return Ok(());
    }
    let needed = (rows - 1)
        .checked_mul(rs)
        .and_then(|a| (cols - 1).checked_mul(cs).and_then(|b| a.checked_add(b)))
        .and_then(|x| x.checked_add(1))
        .unwrap_or(usize::MAX);
    if needed > len || rs > isize::MAX as usize || cs > isize::MAX as usize {
        return Err(MlError::MatmulBounds { what, len, needed });
    }
    Ok(())
}

/// `dst (m×n, row-major with row stride dst_rs) := alpha·dst + beta·lhs(m×k)·rhs(k×n)`;
/// `alpha = None` overwrites `dst` without reading it. `threads > 1` splits the product over
/// the current rayon pool; `1` runs it on the calling thread.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_rs: usize,
    alpha: Option<f32>,
    lhs: View<'_>,
    rhs: View<'_>,
    beta: f32,
    threads: usize,
) -> Result<(), MlError> {
    check("dst", dst.len(), m, n, dst_rs, 1)?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        let a = alpha.unwrap_or(0.0);
        for r in 0..m {
            dst[r * dst_rs..r * dst_rs + n]
                .iter_mut()
                .for_each(|x| *x *= a);
        }
        return Ok(());
    }
    check("lhs", lhs.data.len(), m, k, lhs.rs, lhs.cs)?;
    check("rhs", rhs.data.len(), k, n, rhs.rs, rhs.cs)?;
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the checks above guarantee that every element addressed by (m, n, k) and the
    // strides lies inside the corresponding slice; `dst` is borrowed mutably and `lhs`/`rhs`
    // immutably, so they cannot alias; strides fit in isize.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            alpha.is_some(),
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            alpha.unwrap_or(0.0),
            beta,
            false,
            false,
            false,
            parallelism,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_naive_with_transposes_and_accumulation() {
        let (m, n, k) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| i as f32 * 0.25 - 1.0).collect();
        let bt: Vec<f32> = (0..n * k).map(|i| (i % 5) as f32 - 2.0).collect(); // n×k row-major
        let mut c = vec![1.0f32; m * n];
        gemm(
            m,
            n,
            k,
            &mut c,
            n,
            Some(0.5),
            View::rows(&a, k),
            View::transposed(&bt, k),
            2.0,
            1,
        )
        .unwrap();
        for i in 0..m {
            for j in 0..n {
                let dot: f32 = (0..k).map(|p| a[i * k + p] * bt[j * k + p]).sum();
                assert!((c[i * n + j] - (0.5 + 2.0 * dot)).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn rejects_short_buffers() {
        let a = vec![0.0f32; 5];
        let mut c = vec![0.0f32; 4];
        let r = gemm(
            2,
            2,
            3,
            &mut c,
            2,
            None,
            View::rows(&a, 3),
            View::rows(&a, 2),
            1.0,
            1,
        );
        assert!(matches!(r, Err(MlError::MatmulBounds { what: "lhs", .. })));
    }
}
