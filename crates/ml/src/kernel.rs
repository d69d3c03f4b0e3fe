//! A small fused matrix product for the MLP's batch-32 shapes, with an AVX-512 kernel.
//!
//! [`gemm_fused`] computes, for `C (m×n)`, `A (m×k)` and a row-major `B (k×n)`,
//!
//! `C ← store(init(C) + A·B)`
//!
//! where `init` is one of [`Init::Zero`] (`0`), [`Init::Scale`] (`s·C`, the SGD step's
//! weight decay or the momentum factor) or [`Init::Row`] (every row of `C` set to one vector,
//! the bias), and `store` is one of [`Store::Plain`], [`Store::Relu`] (`max(·, 0)`) or
//! [`Store::Mask`] (keep an entry where another matrix of the same shape is positive, zero it
//! elsewhere: ReLU's backward). The bias, the activation and the mask are so folded into the
//! product's single pass over `C`.
//!
//! On a CPU with AVX-512F and `n` a multiple of 16 the product runs in a hand-written
//! register-blocked kernel: `C` is cut into tiles of `MB` rows × `NZ` vectors of 16 columns,
//! `MB·NZ ≤ 24` accumulators live in registers for the whole `k` loop, each step loads the
//! `NZ` vectors of one row of `B` and broadcasts `MB` entries of one column of `A` (which may
//! be strided, so `Xᵀ` needs no copy), and the tile is read and written once. No packing, no
//! threads: the MLP's shapes are small (`32×784·784×208` forward, `785×32·32×208` for the
//! rank-32 weight update) and one client runs per core. Elsewhere (or for other `n`) the same
//! result comes from [`crate::matmul::gemm`] and an element-wise pass; both paths agree to
//! rounding (they sum in different orders).
//!
//! [`AlignedVec`] keeps buffers on 64-byte boundaries, so a 16-lane load never splits a cache
//! line when the row length is a multiple of 16.

#![allow(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

use crate::error::MlError;
use crate::matmul::{check, gemm, View};

/// f32 lanes of one AVX-512 register.
pub const LANES: usize = 16;

/// The starting value of `C` (see the module docs).
#[derive(Debug, Clone, Copy)]
pub enum Init<'a> {
    /// `C ← 0` (`C` is not read).
    Zero,
    /// `C ← s·C`.
    Scale(f32),
    /// Every row of `C` ← this vector (at least `n` values).
    Row(&'a [f32]),
}

/// What is stored (see the module docs).
#[derive(Debug, Clone, Copy)]
pub enum Store<'a> {
    /// The sum as is.
    Plain,
    /// `max(sum, 0)`.
    Relu,
    /// The sum where `mask` (row-major, row stride `ld`, same shape as `C`) is `> 0`, else 0.
    Mask {
        /// The mask matrix.
        mask: &'a [f32],
        /// Its row stride.
        ld: usize,
    },
}

/// The left operand `A (m×k)`: a strided matrix, or rows (or columns) gathered from a larger
/// one by offsets — the mini-batch straight from the dataset, without copying it.
#[derive(Debug, Clone, Copy)]
pub enum Lhs<'a> {
    /// `A(i, p) = view(i, p)`.
    View(View<'a>),
    /// `A(i, p) = data[rows[i] + p]`: row `i` of `A` is the contiguous run at `rows[i]`.
    Rows {
        /// Backing values.
        data: &'a [f32],
        /// Offset of each row (at least `m`).
        rows: &'a [usize],
    },
    /// `A(i, p) = data[cols[p] + i]`: the transpose of [`Lhs::Rows`] (column `p` of `A` is the
    /// contiguous run at `cols[p]`).
    Cols {
        /// Backing values.
        data: &'a [f32],
        /// Offset of each column (at least `k`).
        cols: &'a [usize],
    },
}

impl Lhs<'_> {
    /// `A(i, p)` (bounds-checked).
    fn at(&self, i: usize, p: usize) -> f32 {
        match *self {
            Lhs::View(v) => v.data[i * v.rs + p * v.cs],
            Lhs::Rows { data, rows } => data[rows[i] + p],
            Lhs::Cols { data, cols } => data[cols[p] + i],
        }
    }
}

/// Whether this CPU runs the AVX-512 kernel (detected once).
pub fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `C (m×n, row stride ldc) ← store(init(C) + A(m×k)·B(k×n, row-major, row stride ldb))`.
/// Bounds are checked; `A` may be any strided view.
#[allow(clippy::too_many_arguments)]
pub fn gemm_fused(
    m: usize,
    n: usize,
    k: usize,
    c: &mut [f32],
    ldc: usize,
    init: Init<'_>,
    a: Lhs<'_>,
    b: &[f32],
    ldb: usize,
    store: Store<'_>,
) -> Result<(), MlError> {
    check_args(m, n, k, c, ldc, init, a, b, ldb, store)?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    #[cfg(target_arch = "x86_64")]
    if n.is_multiple_of(LANES) && avx512() {
        // SAFETY: `check_args` proved every index the kernel touches is inside its slice
        // (`c`, `a`, `b`, the init row and the mask), `c` is the only mutable borrow, and
        // the CPU supports AVX-512F (checked just above).
        unsafe { x86::gemm(m, n, k, c, ldc, init, a, b, ldb, store) };
        return Ok(());
    }
    portable(m, n, k, c, ldc, init, a, b, ldb, store)
}

/// `C (m×n, row stride ldc) ← 1·biasᵀ + A·Bᵀ` for row-major `A (m×k, stride lda)` and
/// `B (n×k, stride ldb)`: dot products of rows, for a product with few outputs (the MLP's
/// logits, `n = 10`) where [`gemm_fused`]'s column vectors would be mostly empty. With AVX-512
/// and `k` a multiple of 16 every dot product is summed in 16 lanes and reduced once;
/// elsewhere [`gemm`] computes it.
#[allow(clippy::too_many_arguments)]
pub fn gemm_nt(
    m: usize,
    n: usize,
    k: usize,
    c: &mut [f32],
    ldc: usize,
    bias: &[f32],
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
) -> Result<(), MlError> {
    check("dst", c.len(), m, n, ldc, 1)?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    check("bias", bias.len(), 1, n, n, 1)?;
    check("lhs", a.len(), m, k, lda, 1)?;
    check("rhs", b.len(), n, k, ldb, 1)?;
    #[cfg(target_arch = "x86_64")]
    if k.is_multiple_of(LANES) && avx512() {
        // SAFETY: the checks above cover every element of C, bias, A and B that the kernel
        // addresses; AVX-512F is available.
        unsafe { x86::gemm_nt(m, n, k, c, ldc, bias, a, lda, b, ldb) };
        return Ok(());
    }
    for r in 0..m {
        c[r * ldc..r * ldc + n].copy_from_slice(&bias[..n]);
    }
    gemm(
        m,
        n,
        k,
        c,
        ldc,
        Some(1.0),
        View::rows(a, lda),
        View::transposed(b, ldb),
        1.0,
        1,
    )
}

/// `dst[j·ldd + i] ← src[i·lds + j]` for `i < rows`, `j < cols` (a transpose; the other
/// entries of `dst` are untouched). 16×16 blocks go through AVX-512 registers where available.
pub fn transpose(
    rows: usize,
    cols: usize,
    src: &[f32],
    lds: usize,
    dst: &mut [f32],
    ldd: usize,
) -> Result<(), MlError> {
    check("transpose src", src.len(), rows, cols, lds, 1)?;
    check("transpose dst", dst.len(), cols, rows, ldd, 1)?;
    let (mut rf, mut cf) = (0, 0);
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        rf = rows / LANES * LANES;
        cf = cols / LANES * LANES;
        // SAFETY: the blocks cover rows < rf ≤ rows and columns < cf ≤ cols, inside both
        // slices by the checks above; AVX-512F is available.
        unsafe { x86::transpose_blocks(rf, cf, src, lds, dst, ldd) };
    }
    for i in 0..rows {
        let from = if i < rf { cf } else { 0 };
        for j in from..cols {
            dst[j * ldd + i] = src[i * lds + j];
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn check_args(
    m: usize,
    n: usize,
    k: usize,
    c: &[f32],
    ldc: usize,
    init: Init<'_>,
    a: Lhs<'_>,
    b: &[f32],
    ldb: usize,
    store: Store<'_>,
) -> Result<(), MlError> {
    check("dst", c.len(), m, n, ldc, 1)?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    match a {
        Lhs::View(v) => check("lhs", v.data.len(), m, k, v.rs, v.cs)?,
        Lhs::Rows { data, rows } => {
            check("lhs rows", rows.len(), 1, m, m, 1)?;
            for &r in &rows[..m] {
                check("lhs", data.len(), 1, r.saturating_add(k), 1, 1)?;
            }
        }
        Lhs::Cols { data, cols } => {
            check("lhs cols", cols.len(), 1, k, k, 1)?;
            for &c in &cols[..k] {
                check("lhs", data.len(), 1, c.saturating_add(m), 1, 1)?;
            }
        }
    }
    check("rhs", b.len(), k, n, ldb, 1)?;
    if let Init::Row(row) = init {
        check("init row", row.len(), 1, n, n, 1)?;
    }
    if let Store::Mask { mask, ld } = store {
        check("mask", mask.len(), m, n, ld, 1)?;
    }
    Ok(())
}

/// The same product with [`gemm`] and element-wise passes (any CPU, any `n`).
#[allow(clippy::too_many_arguments)]
fn portable(
    m: usize,
    n: usize,
    k: usize,
    c: &mut [f32],
    ldc: usize,
    init: Init<'_>,
    a: Lhs<'_>,
    b: &[f32],
    ldb: usize,
    store: Store<'_>,
) -> Result<(), MlError> {
    let alpha = match init {
        Init::Zero => None,
        Init::Scale(s) => Some(s),
        Init::Row(row) => {
            for r in 0..m {
                c[r * ldc..r * ldc + n].copy_from_slice(&row[..n]);
            }
            Some(1.0)
        }
    };
    let dense: Vec<f32>;
    let a = match a {
        Lhs::View(v) => v,
        gathered => {
            // The fallback copies a gathered operand (one allocation per call).
            dense = (0..m * k).map(|x| gathered.at(x / k, x % k)).collect();
            View::rows(&dense, k)
        }
    };
    gemm(m, n, k, c, ldc, alpha, a, View::rows(b, ldb), 1.0, 1)?;
    match store {
        Store::Plain => {}
        Store::Relu => {
            for r in 0..m {
                for v in &mut c[r * ldc..r * ldc + n] {
                    *v = v.max(0.0);
                }
            }
        }
        Store::Mask { mask, ld } => {
            for r in 0..m {
                let row = &mut c[r * ldc..r * ldc + n];
                for (v, &h) in row.iter_mut().zip(&mask[r * ld..r * ld + n]) {
                    if h <= 0.0 || h.is_nan() {
                        *v = 0.0;
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{Init, Lhs, Store, LANES};

    /// Raw operands of one call, already bounds-checked by the caller.
    #[derive(Clone, Copy)]
    struct Ops {
        k: usize,
        a: *const f32,
        arow: Off,
        acol: Off,
        b: *const f32,
        ldb: usize,
        c: *mut f32,
        ldc: usize,
        init: RawInit,
        store: RawStore,
    }

    /// Offset of row (column) `i` of `A`: `i·s`, or `g[i]`.
    #[derive(Clone, Copy)]
    enum Off {
        Stride(usize),
        Gather(*const usize),
    }

    #[derive(Clone, Copy)]
    enum RawInit {
        Zero,
        Scale(f32),
        Row(*const f32),
    }

    #[derive(Clone, Copy)]
    enum RawStore {
        Plain,
        Relu,
        Mask(*const f32, usize),
    }

    /// See [`super::gemm_fused`].
    ///
    /// # Safety
    /// The CPU supports AVX-512F; `n % 16 == 0`; every element of `C` (`m×n`, stride `ldc`),
    /// `A` (`m×k` through the view's strides), `B` (`k×n`, stride `ldb`), the init row (`n`)
    /// and the mask (`m×n`, its stride) is inside its slice.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn gemm(
        m: usize,
        n: usize,
        k: usize,
        c: &mut [f32],
        ldc: usize,
        init: Init<'_>,
        a: Lhs<'_>,
        b: &[f32],
        ldb: usize,
        store: Store<'_>,
    ) {
        let ops = Ops {
            k,
            a: match a {
                Lhs::View(v) => v.data.as_ptr(),
                Lhs::Rows { data, .. } | Lhs::Cols { data, .. } => data.as_ptr(),
            },
            arow: match a {
                Lhs::View(v) => Off::Stride(v.rs),
                Lhs::Rows { rows, .. } => Off::Gather(rows.as_ptr()),
                Lhs::Cols { .. } => Off::Stride(1),
            },
            acol: match a {
                Lhs::View(v) => Off::Stride(v.cs),
                Lhs::Rows { .. } => Off::Stride(1),
                Lhs::Cols { cols, .. } => Off::Gather(cols.as_ptr()),
            },
            b: b.as_ptr(),
            ldb,
            c: c.as_mut_ptr(),
            ldc,
            init: match init {
                Init::Zero => RawInit::Zero,
                Init::Scale(s) => RawInit::Scale(s),
                Init::Row(r) => RawInit::Row(r.as_ptr()),
            },
            store: match store {
                Store::Plain => RawStore::Plain,
                Store::Relu => RawStore::Relu,
                Store::Mask { mask, ld } => RawStore::Mask(mask.as_ptr(), ld),
            },
        };
        let mut z = 0;
        let nz_total = n / LANES;
        while z < nz_total {
            let rem = nz_total - z;
            // Blocks of 3 or 4 vectors (13 = 3 + 3 + 3 + 4), MB·NZ = 24 accumulators.
            let nz = if rem <= 4 {
                rem
            } else if rem.is_multiple_of(4) {
                4
            } else {
                3
            };
            // SAFETY: columns z·16 .. (z + nz)·16 ≤ n and all rows 0..m are in bounds by the
            // caller's contract; AVX-512F is enabled on this function.
            unsafe {
                match nz {
                    1 => column_block::<1, 16>(m, z, ops),
                    2 => column_block::<2, 12>(m, z, ops),
                    3 => column_block::<3, 8>(m, z, ops),
                    _ => column_block::<4, 6>(m, z, ops),
                }
            }
            z += nz;
        }
    }

    /// See [`super::gemm_nt`].
    ///
    /// # Safety
    /// AVX-512F; `k % 16 == 0`; `C (m×n, ldc)`, `bias (n)`, `A (m×k, lda)` and `B (n×k, ldb)`
    /// are inside their slices.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn gemm_nt(
        m: usize,
        n: usize,
        k: usize,
        c: &mut [f32],
        ldc: usize,
        bias: &[f32],
        a: &[f32],
        lda: usize,
        b: &[f32],
        ldb: usize,
    ) {
        let nt = Nt {
            k,
            c: c.as_mut_ptr(),
            ldc,
            bias: bias.as_ptr(),
            a: a.as_ptr(),
            lda,
            b: b.as_ptr(),
            ldb,
        };
        let mut o = 0;
        while o < n {
            let no = (n - o).min(10);
            let mut r = 0;
            while r < m {
                let mr = (m - r).min(2);
                macro_rules! go {
                    ($($no:literal)*) => {
                        match (mr, no) {
                            $((2, $no) => nt_tile::<2, $no>(r, o, nt),
                              (_, $no) => nt_tile::<1, $no>(r, o, nt),)*
                            _ => {}
                        }
                    };
                }
                // SAFETY: rows r .. r + mr ≤ m, outputs o .. o + no ≤ n.
                unsafe { go!(1 2 3 4 5 6 7 8 9 10) };
                r += mr;
            }
            o += no;
        }
    }

    #[derive(Clone, Copy)]
    struct Nt {
        k: usize,
        c: *mut f32,
        ldc: usize,
        bias: *const f32,
        a: *const f32,
        lda: usize,
        b: *const f32,
        ldb: usize,
    }

    /// Rows `r0 .. r0 + MR` × outputs `o0 .. o0 + NO` of [`gemm_nt`]: `MR·NO` dot products in
    /// registers, reduced once.
    ///
    /// # Safety
    /// As [`gemm_nt`], for these rows and outputs.
    #[inline(always)]
    unsafe fn nt_tile<const MR: usize, const NO: usize>(r0: usize, o0: usize, t: Nt) {
        // SAFETY: (whole body) rows r0 + i < m of A and C, rows o0 + j < n of B and entries
        // of bias, columns q < k (k a multiple of 16) — inside the caller's bounds.
        unsafe {
            let mut acc = [[_mm512_setzero_ps(); NO]; MR];
            let mut q = 0;
            while q < t.k {
                let mut av = [_mm512_setzero_ps(); MR];
                for (i, v) in av.iter_mut().enumerate() {
                    *v = _mm512_loadu_ps(t.a.add((r0 + i) * t.lda + q));
                }
                for j in 0..NO {
                    let bv = _mm512_loadu_ps(t.b.add((o0 + j) * t.ldb + q));
                    for (row, &a) in acc.iter_mut().zip(&av) {
                        row[j] = _mm512_fmadd_ps(a, bv, row[j]);
                    }
                }
                q += LANES;
            }
            for (i, row) in acc.iter().enumerate() {
                for (j, v) in row.iter().enumerate() {
                    *t.c.add((r0 + i) * t.ldc + o0 + j) =
                        *t.bias.add(o0 + j) + _mm512_reduce_add_ps(*v);
                }
            }
        }
    }

    /// Transposes the `rows × cols` top-left corner (both multiples of 16) of `src` into
    /// `dst`, 16×16 blocks at a time: four rounds of interleaving row `i` with row `i + 8`
    /// (`vpermt2ps`) transpose a block held in 16 registers.
    ///
    /// # Safety
    /// AVX-512F; `src (rows×cols, lds)` and `dst (cols×rows, ldd)` are inside their slices.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn transpose_blocks(
        rows: usize,
        cols: usize,
        src: &[f32],
        lds: usize,
        dst: &mut [f32],
        ldd: usize,
    ) {
        let lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        let hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
        for i0 in (0..rows).step_by(LANES) {
            for j0 in (0..cols).step_by(LANES) {
                // SAFETY: rows i0 .. i0 + 16 ≤ rows and columns j0 .. j0 + 16 ≤ cols of src,
                // and the transposed block of dst, are in bounds by the caller's contract.
                unsafe {
                    let mut r = [_mm512_setzero_ps(); LANES];
                    for (i, v) in r.iter_mut().enumerate() {
                        *v = _mm512_loadu_ps(s.add((i0 + i) * lds + j0));
                    }
                    for _ in 0..4 {
                        let mut n = [_mm512_setzero_ps(); LANES];
                        for i in 0..LANES / 2 {
                            n[2 * i] = _mm512_permutex2var_ps(r[i], lo, r[i + 8]);
                            n[2 * i + 1] = _mm512_permutex2var_ps(r[i], hi, r[i + 8]);
                        }
                        r = n;
                    }
                    for (j, v) in r.iter().enumerate() {
                        _mm512_storeu_ps(d.add((j0 + j) * ldd + i0), *v);
                    }
                }
            }
        }
    }

    /// All rows of the column block `z·16 .. (z + NZ)·16`, `MB` rows at a time.
    ///
    /// # Safety
    /// As [`gemm`], for these columns.
    #[inline(always)]
    unsafe fn column_block<const NZ: usize, const MB: usize>(m: usize, z: usize, ops: Ops) {
        let mut r = 0;
        while r + MB <= m {
            // SAFETY: rows r .. r + MB ≤ m.
            unsafe { tile::<MB, NZ>(r, z, ops) };
            r += MB;
        }
        // SAFETY: rows r .. m (fewer than MB), each arm matches its row count.
        unsafe {
            match m - r {
                0 => {}
                1 => tile::<1, NZ>(r, z, ops),
                2 => tile::<2, NZ>(r, z, ops),
                3 => tile::<3, NZ>(r, z, ops),
                4 => tile::<4, NZ>(r, z, ops),
                5 => tile::<5, NZ>(r, z, ops),
                6 => tile::<6, NZ>(r, z, ops),
                7 => tile::<7, NZ>(r, z, ops),
                8 => tile::<8, NZ>(r, z, ops),
                rest => {
                    // MB > 8 (NZ ≤ 2): two smaller tiles cover the rest.
                    let half = rest / 2;
                    column_rest::<NZ>(r, half, z, ops);
                    column_rest::<NZ>(r + half, rest - half, z, ops);
                }
            }
        }
    }

    /// Rows `r .. r + rows` (`rows ≤ 8`) of the column block at `z`.
    ///
    /// # Safety
    /// As [`gemm`], for these rows and columns.
    #[inline(always)]
    unsafe fn column_rest<const NZ: usize>(r: usize, rows: usize, z: usize, ops: Ops) {
        // SAFETY: each arm covers exactly `rows` rows from `r`.
        unsafe {
            match rows {
                1 => tile::<1, NZ>(r, z, ops),
                2 => tile::<2, NZ>(r, z, ops),
                3 => tile::<3, NZ>(r, z, ops),
                4 => tile::<4, NZ>(r, z, ops),
                5 => tile::<5, NZ>(r, z, ops),
                6 => tile::<6, NZ>(r, z, ops),
                7 => tile::<7, NZ>(r, z, ops),
                8 => tile::<8, NZ>(r, z, ops),
                _ => {}
            }
        }
    }

    /// One `MB × (NZ·16)` tile of `C` at row `r0`, column `z0·16`: accumulators in registers
    /// for the whole `k` loop, `C` read (if the init needs it) and written once.
    ///
    /// # Safety
    /// AVX-512F; rows `r0 .. r0 + MB` and columns `z0·16 .. (z0 + NZ)·16` of every operand
    /// are in bounds.
    #[inline(always)]
    unsafe fn tile<const MB: usize, const NZ: usize>(r0: usize, z0: usize, ops: Ops) {
        let col = z0 * LANES;
        // SAFETY: (whole body) every pointer below addresses row r0 + i (i < MB), column
        // col + j·16 .. + 16 (j < NZ), or step p < k of A and B, inside the bounds the caller
        // guarantees; unaligned loads and stores are used throughout.
        unsafe {
            let c = ops.c.add(r0 * ops.ldc + col);
            let mut acc = [[_mm512_setzero_ps(); NZ]; MB];
            match ops.init {
                RawInit::Zero => {}
                RawInit::Scale(s) => {
                    let s = _mm512_set1_ps(s);
                    for (i, row) in acc.iter_mut().enumerate() {
                        for (j, v) in row.iter_mut().enumerate() {
                            *v = _mm512_mul_ps(s, _mm512_loadu_ps(c.add(i * ops.ldc + j * LANES)));
                        }
                    }
                }
                RawInit::Row(bias) => {
                    for j in 0..NZ {
                        let v = _mm512_loadu_ps(bias.add(col + j * LANES));
                        for row in acc.iter_mut() {
                            row[j] = v;
                        }
                    }
                }
            }
            // Offsets of the MB rows of A are computed once; the column offset advances by
            // its stride (no index products in the loop) or is read from the gather list.
            let mut aoff = [0usize; MB];
            for (i, o) in aoff.iter_mut().enumerate() {
                *o = match ops.arow {
                    Off::Stride(rs) => (r0 + i).wrapping_mul(rs),
                    Off::Gather(g) => *g.add(r0 + i),
                };
            }
            let mut bp = ops.b.add(col);
            macro_rules! step {
                ($ap:expr) => {{
                    let ap: *const f32 = $ap;
                    let mut bv = [_mm512_setzero_ps(); NZ];
                    for (j, v) in bv.iter_mut().enumerate() {
                        *v = _mm512_loadu_ps(bp.add(j * LANES));
                    }
                    for (row, &o) in acc.iter_mut().zip(&aoff) {
                        let av = _mm512_set1_ps(*ap.add(o));
                        for (v, &bj) in row.iter_mut().zip(&bv) {
                            *v = _mm512_fmadd_ps(av, bj, *v);
                        }
                    }
                    bp = bp.wrapping_add(ops.ldb);
                }};
            }
            match ops.acol {
                Off::Stride(cs) => {
                    let mut ap = ops.a;
                    for _ in 0..ops.k {
                        step!(ap);
                        ap = ap.wrapping_add(cs);
                    }
                }
                Off::Gather(g) => {
                    for p in 0..ops.k {
                        step!(ops.a.add(*g.add(p)));
                    }
                }
            }
            match ops.store {
                RawStore::Plain => {}
                RawStore::Relu => {
                    let zero = _mm512_setzero_ps();
                    for row in acc.iter_mut() {
                        for v in row.iter_mut() {
                            *v = _mm512_max_ps(*v, zero);
                        }
                    }
                }
                RawStore::Mask(mask, ld) => {
                    let zero = _mm512_setzero_ps();
                    let mask = mask.add(r0 * ld + col);
                    for (i, row) in acc.iter_mut().enumerate() {
                        for (j, v) in row.iter_mut().enumerate() {
                            let h = _mm512_loadu_ps(mask.add(i * ld + j * LANES));
                            let keep = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(h, zero);
                            *v = _mm512_maskz_mov_ps(keep, *v);
                        }
                    }
                }
            }
            for (i, row) in acc.iter().enumerate() {
                for (j, v) in row.iter().enumerate() {
                    _mm512_storeu_ps(c.add(i * ops.ldc + j * LANES), *v);
                }
            }
        }
    }
}

/// A `Vec<f32>` whose visible part starts on a 64-byte boundary (one cache line, one
/// AVX-512 register), so rows whose length is a multiple of 16 never straddle cache lines.
pub struct AlignedVec {
    buf: Vec<f32>,
    off: usize,
    len: usize,
}

impl AlignedVec {
    /// `len` zeros.
    pub fn zeros(len: usize) -> Self {
        let buf = vec![0.0f32; len + LANES];
        let off = buf.as_ptr().align_offset(64).min(LANES);
        Self { buf, off, len }
    }

    /// The values.
    pub fn as_slice(&self) -> &[f32] {
        &self.buf[self.off..self.off + self.len]
    }

    /// The values, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.buf[self.off..self.off + self.len]
    }
}

impl Clone for AlignedVec {
    fn clone(&self) -> Self {
        let mut v = Self::zeros(self.len);
        v.as_mut_slice().copy_from_slice(self.as_slice());
        v
    }
}

impl PartialEq for AlignedVec {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl std::fmt::Debug for AlignedVec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlignedVec")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn random(rng: &mut ChaCha8Rng, len: usize) -> Vec<f32> {
        (0..len).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
    }

    /// The definition, in f64: `store(init(C) + A·B)`.
    #[allow(clippy::too_many_arguments)]
    fn naive(
        m: usize,
        n: usize,
        k: usize,
        c: &mut [f32],
        ldc: usize,
        init: Init<'_>,
        a: Lhs<'_>,
        b: &[f32],
        ldb: usize,
        store: Store<'_>,
    ) {
        for i in 0..m {
            for j in 0..n {
                let mut s = match init {
                    Init::Zero => 0.0,
                    Init::Scale(f) => f64::from(f) * f64::from(c[i * ldc + j]),
                    Init::Row(row) => f64::from(row[j]),
                };
                for p in 0..k {
                    s += f64::from(a.at(i, p)) * f64::from(b[p * ldb + j]);
                }
                let v = s as f32;
                c[i * ldc + j] = match store {
                    Store::Plain => v,
                    Store::Relu => v.max(0.0),
                    Store::Mask { mask, ld } => {
                        if mask[i * ld + j] > 0.0 {
                            v
                        } else {
                            0.0
                        }
                    }
                };
            }
        }
    }

    /// Runs the three implementations on one random case and checks they agree to
    /// `4e-6 · (1 + Σ|a·b|)` per entry (f32 rounding of a k-term sum in any order).
    /// How a case's `A` is stored.
    #[derive(Clone, Copy)]
    enum Form {
        Rows,
        Transposed,
        /// Rows (or, for `Cols`, columns) gathered from a pool in shuffled order.
        GatherRows,
        GatherCols,
    }

    fn case(seed: u64, m: usize, n: usize, k: usize, form: Form, which: usize) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let ldc = n + 16;
        let ldb = n + 32;
        // a pool of 40 runs of length max(m, k) + 5 to gather from
        let run = m.max(k) + 5;
        let a_data = random(&mut rng, 40 * run + 3);
        let mut offsets: Vec<usize> = (0..40).map(|r| r * run + r % 4).collect();
        offsets.shuffle(&mut rng);
        let a = match form {
            Form::Rows => Lhs::View(View::rows(&a_data, k)),
            // A (m×k) stored as Aᵀ (k×m)
            Form::Transposed => Lhs::View(View::transposed(&a_data, m)),
            Form::GatherRows => Lhs::Rows {
                data: &a_data,
                rows: &offsets[..m.min(40)],
            },
            Form::GatherCols => Lhs::Cols {
                data: &a_data,
                cols: &offsets[..k.min(40)],
            },
        };
        let b = random(&mut rng, k * ldb);
        let c0 = random(&mut rng, m * ldc);
        let row = random(&mut rng, n);
        let mask = random(&mut rng, m * ldc);
        let init = [Init::Zero, Init::Scale(0.75), Init::Row(&row)][which % 3];
        let store = [
            Store::Plain,
            Store::Relu,
            Store::Mask {
                mask: &mask,
                ld: ldc,
            },
        ][(which / 3) % 3];
        let mut want = c0.clone();
        naive(m, n, k, &mut want, ldc, init, a, &b, ldb, store);
        let mut fast = c0.clone();
        gemm_fused(m, n, k, &mut fast, ldc, init, a, &b, ldb, store).unwrap();
        let mut port = c0.clone();
        portable(m, n, k, &mut port, ldc, init, a, &b, ldb, store).unwrap();
        for i in 0..m {
            for j in 0..ldc {
                let idx = i * ldc + j;
                if j >= n {
                    // outside the n columns nothing may change
                    assert_eq!(fast[idx].to_bits(), c0[idx].to_bits());
                    assert_eq!(port[idx].to_bits(), c0[idx].to_bits());
                    continue;
                }
                let mag: f32 = (0..k).map(|p| (a.at(i, p) * b[p * ldb + j]).abs()).sum();
                let tol = 4e-6 * (1.0 + mag);
                assert!(
                    (fast[idx] - want[idx]).abs() <= tol,
                    "kernel vs naive at ({i},{j}) m={m} n={n} k={k}: {} vs {}",
                    fast[idx],
                    want[idx]
                );
                assert!(
                    (port[idx] - want[idx]).abs() <= tol,
                    "gemm vs naive at ({i},{j}) m={m} n={n} k={k}: {} vs {}",
                    port[idx],
                    want[idx]
                );
            }
        }
    }

    #[test]
    fn kernel_matches_gemm_and_naive_on_the_mlp_shapes_and_ragged_batches() {
        let mut seed = 0;
        // forward X·W1ᵀ (+bias, relu), dH = dZ·W2 (masked), updates with k = batch rows,
        // for full (32) and ragged (1, 7, 31) batches
        for b in [32, 31, 7, 1] {
            for which in 0..9 {
                seed += 1;
                case(seed, b, 208, 784, Form::Rows, which);
                case(seed, b, 208, 784, Form::GatherRows, which);
                case(seed, b, 208, 10, Form::Rows, which);
                case(seed, 785, 208, b, Form::Transposed, which);
                case(seed, 784, 208, b, Form::GatherCols, which);
                case(seed, 10, 208, b, Form::Transposed, which);
            }
        }
        // other column counts (blocks of 1, 2, 4 vectors, and n not a multiple of 16)
        for (n, m) in [(16, 33), (32, 25), (64, 13), (80, 9), (112, 17), (200, 5)] {
            seed += 1;
            case(seed, m, n, 29, Form::Rows, seed as usize);
            case(seed, m, n, 29, Form::GatherCols, seed as usize);
        }
    }

    #[test]
    fn dot_product_kernel_matches_naive_and_gemm() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        // the logits (b×208·(10×208)ᵀ + b2) for full and ragged batches, other n and k
        for (m, n, k) in [
            (32, 10, 208),
            (31, 10, 208),
            (1, 10, 208),
            (7, 13, 48),
            (3, 4, 20),
        ] {
            let (lda, ldb, ldc) = (k + 16, k + 3, n + 5);
            let a = random(&mut rng, m * lda);
            let b = random(&mut rng, n * ldb);
            let bias = random(&mut rng, n);
            let c0 = random(&mut rng, m * ldc);
            let mut fast = c0.clone();
            gemm_nt(m, n, k, &mut fast, ldc, &bias, &a, lda, &b, ldb).unwrap();
            let mut port = c0.clone();
            for r in 0..m {
                port[r * ldc..r * ldc + n].copy_from_slice(&bias);
            }
            let (av, bv) = (View::rows(&a, lda), View::transposed(&b, ldb));
            gemm(m, n, k, &mut port, ldc, Some(1.0), av, bv, 1.0, 1).unwrap();
            for i in 0..m {
                for j in 0..ldc {
                    let idx = i * ldc + j;
                    if j >= n {
                        assert_eq!(fast[idx].to_bits(), c0[idx].to_bits());
                        continue;
                    }
                    let terms = (0..k).map(|p| (a[i * lda + p], b[j * ldb + p]));
                    let want: f64 = f64::from(bias[j])
                        + terms
                            .clone()
                            .map(|(x, y)| f64::from(x) * f64::from(y))
                            .sum::<f64>();
                    let mag: f32 = 1.0 + terms.map(|(x, y)| (x * y).abs()).sum::<f32>();
                    let tol = 4e-6 * mag;
                    assert!((f64::from(fast[idx]) - want).abs() <= f64::from(tol));
                    assert!((f64::from(port[idx]) - want).abs() <= f64::from(tol));
                }
            }
        }
    }

    #[test]
    fn transpose_is_exact_for_any_shape() {
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        for (rows, cols) in [(200, 784), (784, 200), (16, 16), (33, 17), (5, 3), (48, 32)] {
            let (lds, ldd) = (cols + 7, rows + 9);
            let src = random(&mut rng, rows * lds);
            let mut dst = vec![7.0f32; cols * ldd];
            transpose(rows, cols, &src, lds, &mut dst, ldd).unwrap();
            for j in 0..cols {
                for i in 0..ldd {
                    let want = if i < rows { src[i * lds + j] } else { 7.0 };
                    assert_eq!(dst[j * ldd + i].to_bits(), want.to_bits(), "({i},{j})");
                }
            }
        }
    }

    #[test]
    fn kernel_is_deterministic_and_the_same_on_any_thread() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (m, n, k) = (32, 208, 784);
        let a = random(&mut rng, m * k);
        let b = random(&mut rng, k * n);
        let run = || {
            let mut c = vec![0.5f32; m * n];
            gemm_fused(
                m,
                n,
                k,
                &mut c,
                n,
                Init::Scale(0.9),
                Lhs::View(View::rows(&a, k)),
                &b,
                n,
                Store::Relu,
            )
            .unwrap();
            c
        };
        let here = run();
        let there = std::thread::scope(|s| s.spawn(run).join().unwrap());
        assert!(here
            .iter()
            .zip(&there)
            .all(|(x, y)| x.to_bits() == y.to_bits()));
    }

    #[test]
    fn rejects_out_of_bounds_operands() {
        let a = vec![0.0f32; 10];
        let b = vec![0.0f32; 32];
        let mut c = vec![0.0f32; 32];
        let short_row = [0.0f32; 8];
        let r = gemm_fused(
            2,
            16,
            1,
            &mut c,
            16,
            Init::Row(&short_row),
            Lhs::View(View::rows(&a, 1)),
            &b,
            16,
            Store::Plain,
        );
        assert!(matches!(
            r,
            Err(MlError::MatmulBounds {
                what: "init row",
                ..
            })
        ));
        let r = gemm_fused(
            2,
            16,
            3,
            &mut c,
            16,
            Init::Zero,
            Lhs::View(View::rows(&a, 3)),
            &b,
            16,
            Store::Plain,
        );
        assert!(matches!(r, Err(MlError::MatmulBounds { what: "rhs", .. })));
        // a gathered row that runs past the end of its data
        let r = gemm_fused(
            2,
            16,
            2,
            &mut c,
            16,
            Init::Zero,
            Lhs::Rows {
                data: &a,
                rows: &[0, 9],
            },
            &b,
            16,
            Store::Plain,
        );
        assert!(matches!(r, Err(MlError::MatmulBounds { what: "lhs", .. })));
    }

    #[test]
    fn aligned_vec_is_aligned_and_clones_by_value() {
        for len in [1, 15, 208, 10_000] {
            let mut v = AlignedVec::zeros(len);
            assert_eq!(v.as_slice().as_ptr() as usize % 64, 0);
            v.as_mut_slice()[len - 1] = 3.0;
            let w = v.clone();
            assert_eq!(w.as_slice().as_ptr() as usize % 64, 0);
            assert_eq!(v, w);
            assert_eq!(w.as_slice().len(), len);
        }
    }
}
