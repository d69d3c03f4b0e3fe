//! Validation of a set of flat updates (n rows of length d) and the element types the rules read.

use crate::error::{AggregationError, Result};

/// An element type the rules can read: `f32` (production, canonical) or `f64` (reference).
pub trait Elem: Copy + Send + Sync + 'static + PartialEq + std::fmt::Debug {
    /// The value, widened to f64 exactly.
    fn to_f64(self) -> f64;
    /// Whether the value is finite.
    fn finite(self) -> bool;
}

impl Elem for f32 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    #[inline(always)]
    fn finite(self) -> bool {
        self.is_finite()
    }
}

impl Elem for f64 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn finite(self) -> bool {
        self.is_finite()
    }
}

/// Checks that there is at least one row, rows are non-empty and all of one length;
/// returns `(n, d)`. Does not look at the values.
pub fn shape<T>(rows: &[&[T]]) -> Result<(usize, usize)> {
    let first = rows.first().ok_or(AggregationError::Empty)?;
    let d = first.len();
    if d == 0 {
        return Err(AggregationError::ZeroLength);
    }
    for (row, r) in rows.iter().enumerate() {
        if r.len() != d {
            return Err(AggregationError::RaggedRows {
                row,
                len: r.len(),
                expected: d,
            });
        }
    }
    Ok((rows.len(), d))
}

/// Returns the first non-finite value (row, coordinate), scanning rows in order.
pub fn find_non_finite<T: Elem>(rows: &[&[T]]) -> Option<AggregationError> {
    rows.iter().enumerate().find_map(|(row, r)| {
        r.iter()
            .position(|v| !v.finite())
            .map(|coord| AggregationError::NonFinite {
                row,
                coord,
                value: format!("{:?}", r[coord]),
            })
    })
}

/// [`shape`] plus a full scan for NaN/Inf (the reference path does this up front).
pub fn validate<T: Elem>(rows: &[&[T]]) -> Result<(usize, usize)> {
    let nd = shape(rows)?;
    match find_non_finite(rows) {
        Some(e) => Err(e),
        None => Ok(nd),
    }
}

/// Borrows each row of a `Vec<Vec<T>>` as a slice.
pub fn as_rows<T>(m: &[Vec<T>]) -> Vec<&[T]> {
    m.iter().map(Vec::as_slice).collect()
}
