//! Square UID×UID matrices stored by their non-empty rows.
//!
//! In a subnet only validators set weights and hold bonds, so an n×n weight or bond matrix has a
//! few hundred non-zero rows out of thousands. [`UidMatrix`] keeps those rows dense (length n)
//! and treats every other row as all zeros; this is exactly how the epoch reads them.

use crate::error::YumaError;

/// An n×n matrix given by a sorted set of dense rows; absent rows are all `T::default()`.
#[derive(Clone, Debug, PartialEq)]
pub struct UidMatrix<T> {
    n: usize,
    uids: Vec<usize>,
    data: Vec<T>,
}

impl<T: Copy + Default + PartialEq> UidMatrix<T> {
    /// An n×n matrix of zeros (no rows).
    pub fn new(n: usize) -> UidMatrix<T> {
        UidMatrix {
            n,
            uids: Vec::new(),
            data: Vec::new(),
        }
    }

    /// Builds from row-major data for the rows `uids` (internal: shapes already checked).
    pub(crate) fn from_parts(n: usize, uids: Vec<usize>, data: Vec<T>) -> UidMatrix<T> {
        debug_assert_eq!(uids.len() * n, data.len());
        UidMatrix { n, uids, data }
    }

    /// Builds from a full n×n matrix; all-zero rows are dropped.
    ///
    /// `name` is used in the error for a ragged matrix.
    pub fn from_dense(name: &'static str, rows: &[Vec<T>]) -> Result<UidMatrix<T>, YumaError> {
        let n = rows.len();
        let mut m = UidMatrix::new(n);
        for (uid, row) in rows.iter().enumerate() {
            if row.len() != n {
                return Err(YumaError::RaggedMatrix {
                    name,
                    row: uid,
                    len: row.len(),
                    expected: n,
                });
            }
            if row.iter().any(|v| *v != T::default()) {
                m.uids.push(uid);
                m.data.extend_from_slice(row);
            }
        }
        Ok(m)
    }

    /// Appends the dense row of `uid` (rows must come in increasing UID order).
    pub fn push_row(&mut self, name: &'static str, uid: usize, row: &[T]) -> Result<(), YumaError> {
        if uid >= self.n {
            return Err(YumaError::UidOutOfRange {
                name,
                uid,
                n: self.n,
            });
        }
        if row.len() != self.n {
            return Err(YumaError::RaggedMatrix {
                name,
                row: uid,
                len: row.len(),
                expected: self.n,
            });
        }
        if let Some(&last) = self.uids.last() {
            if uid <= last {
                return Err(YumaError::DuplicateRow { name, uid });
            }
        }
        self.uids.push(uid);
        self.data.extend_from_slice(row);
        Ok(())
    }

    /// Appends the row of `uid` from sparse `(column, value)` entries, as the chain stores
    /// weights and bonds. Later entries for the same column overwrite earlier ones.
    pub fn push_sparse_row(
        &mut self,
        name: &'static str,
        uid: usize,
        entries: &[(u16, T)],
    ) -> Result<(), YumaError> {
        let mut row = vec![T::default(); self.n];
        for &(col, value) in entries {
            let col = usize::from(col);
            match row.get_mut(col) {
                Some(cell) => *cell = value,
                None => {
                    return Err(YumaError::UidOutOfRange {
                        name,
                        uid: col,
                        n: self.n,
                    })
                }
            }
        }
        self.push_row(name, uid, &row)
    }

    /// Number of UIDs (rows and columns of the full matrix).
    pub fn n(&self) -> usize {
        self.n
    }

    /// UIDs of the stored rows, increasing.
    pub fn row_uids(&self) -> &[usize] {
        &self.uids
    }

    /// The stored rows as `(uid, row)`.
    pub fn rows(&self) -> impl Iterator<Item = (usize, &[T])> + '_ {
        self.uids
            .iter()
            .copied()
            .zip(self.data.chunks_exact(self.n.max(1)))
    }

    /// The row of `uid` if stored.
    pub fn row(&self, uid: usize) -> Option<&[T]> {
        let pos = self.uids.binary_search(&uid).ok()?;
        self.data.get(pos * self.n..(pos + 1) * self.n)
    }

    /// Entry `(i, j)`, zero for absent rows or out-of-range indices.
    pub fn get(&self, i: usize, j: usize) -> T {
        self.row(i)
            .and_then(|r| r.get(j).copied())
            .unwrap_or_default()
    }

    /// Row-major data of the stored rows.
    pub fn data(&self) -> &[T] {
        &self.data
    }

    /// Applies `f` to every stored entry.
    pub fn map<U: Copy + Default + PartialEq>(&self, f: impl Fn(T) -> U) -> UidMatrix<U> {
        UidMatrix {
            n: self.n,
            uids: self.uids.clone(),
            data: self.data.iter().map(|&v| f(v)).collect(),
        }
    }

    /// The full n×n matrix.
    pub fn to_dense(&self) -> Vec<Vec<T>> {
        let mut out = vec![vec![T::default(); self.n]; self.n];
        for (uid, row) in self.rows() {
            if let Some(dst) = out.get_mut(uid) {
                dst.copy_from_slice(row);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_round_trip_drops_zero_rows() {
        let dense = vec![vec![0, 1, 2], vec![0, 0, 0], vec![3, 0, 0]];
        let m = UidMatrix::from_dense("w", &dense).unwrap();
        assert_eq!(m.row_uids(), &[0, 2]);
        assert_eq!(m.get(2, 0), 3);
        assert_eq!(m.get(1, 1), 0);
        assert_eq!(m.to_dense(), dense);
    }

    #[test]
    fn rejects_ragged_and_out_of_order_rows() {
        let err = UidMatrix::from_dense("w", &[vec![1, 2], vec![3]]).unwrap_err();
        assert!(matches!(
            err,
            YumaError::RaggedMatrix {
                row: 1,
                len: 1,
                expected: 2,
                ..
            }
        ));
        let mut m = UidMatrix::<u16>::new(3);
        m.push_sparse_row("w", 1, &[(2, 7)]).unwrap();
        assert!(matches!(
            m.push_row("w", 1, &[0, 0, 0]),
            Err(YumaError::DuplicateRow { .. })
        ));
        assert!(matches!(
            m.push_sparse_row("w", 2, &[(3, 1)]),
            Err(YumaError::UidOutOfRange { .. })
        ));
        assert_eq!(m.get(1, 2), 7);
    }
}
