//! Canonical binary encoding: borsh, with strict map-key order.
//!
//! - [`encode`] is borsh: little-endian integers, `u32` length prefixes, enum tags as one byte,
//!   maps as sorted key/value pairs.
//! - [`decode`] accepts exactly the bytes `encode` produces: it rejects trailing bytes, bools
//!   other than 0/1, unknown enum tags, unsorted or duplicate map keys (borsh's
//!   `de_strict_order`), and invalid domain values (e.g. a bad [`crate::ChainId`]). Hence
//!   `decode(encode(x)) == x`, and `encode(decode(b)) == b` whenever `decode(b)` succeeds.
//! - It never panics, and a length prefix never makes it allocate more than about 4 KiB ahead of
//!   the bytes actually present (borsh caps the initial capacity and reads elements one by one,
//!   so a lying prefix fails with "unexpected end of input" after consuming the input).

use borsh::{BorshDeserialize, BorshSerialize};

/// Bytes that are not the canonical encoding of the requested type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The value decoded but bytes were left over.
    #[error("{remaining} trailing bytes after a complete {what}; the encoding must end exactly")]
    TrailingBytes {
        /// Bytes left over.
        remaining: usize,
        /// The type decoded.
        what: &'static str,
    },
    /// The bytes are malformed (truncated, bad tag, bad bool, unsorted keys, invalid value).
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// The type requested.
        what: &'static str,
        /// What borsh or the type's validation reported.
        reason: String,
    },
}

/// The canonical encoding of `value`.
pub fn encode<T: BorshSerialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail; an Err here would only come from a buggy custom impl.
    if value.serialize(&mut out).is_err() {
        out.clear();
    }
    out
}

/// Decode the canonical encoding of a `T`, rejecting trailing bytes.
pub fn decode<T: BorshDeserialize>(bytes: &[u8]) -> Result<T, DecodeError> {
    let what = short_type_name::<T>();
    let mut rest = bytes;
    let value = T::deserialize(&mut rest).map_err(|e| DecodeError::Malformed {
        what,
        reason: e.to_string(),
    })?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes {
            remaining: rest.len(),
            what,
        });
    }
    Ok(value)
}

fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn rejects_trailing_truncated_and_unsorted() {
        let v: Vec<u32> = vec![1, 2, 3];
        let mut b = encode(&v);
        assert_eq!(decode::<Vec<u32>>(&b), Ok(v));
        b.push(0);
        assert!(matches!(
            decode::<Vec<u32>>(&b),
            Err(DecodeError::TrailingBytes { remaining: 1, .. })
        ));
        assert!(matches!(
            decode::<Vec<u32>>(&b[..5]),
            Err(DecodeError::Malformed { .. })
        ));
        // A huge length prefix with no data fails without allocating gigabytes.
        assert!(decode::<Vec<u64>>(&[0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(decode::<String>(&[0xff, 0xff, 0xff, 0xff, b'a']).is_err());
        // Unsorted map keys are rejected.
        let mut m = BTreeMap::new();
        m.insert(1u8, 0u8);
        m.insert(2u8, 0u8);
        let mut enc = encode(&m);
        assert_eq!(enc, vec![2, 0, 0, 0, 1, 0, 2, 0]);
        enc.swap(4, 6);
        assert!(decode::<BTreeMap<u8, u8>>(&enc).is_err());
        assert!(decode::<bool>(&[2]).is_err());
    }
}
