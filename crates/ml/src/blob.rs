//! The blob format of models and updates, and its content hash.
//!
//! # Format
//!
//! A model or an update travels and is stored as one blob: its flat parameter vector (the
//! order of [`crate::params`]) as consecutive little-endian IEEE-754 `f32` values, nothing
//! else — no header, no length prefix, no padding. A blob of `n` values is `4n` bytes.
//!
//! [`decode`] is the reader every party uses on a blob it did not write: it accepts exactly the
//! number of values the model needs and only finite values, so a NaN or an infinity from a
//! careless or hostile miner never reaches an aggregation rule.
//!
//! # Hash
//!
//! [`hash`] is blake3 of those bytes: the address a content-addressed blob store files the blob
//! under (`deai-store` hashes the stored bytes the same way), the model hash the ledger records
//! in `RecordModel`, and the hash of an [`crate::Update`]. The hash is on the ledger, so this
//! format cannot change without a new format version.

/// Why a blob is not a model or update of the expected size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobFormatError {
    /// The blob does not hold exactly the model's number of `f32` values.
    #[error("blob holds {bytes} bytes, the model needs {expected} f32 values ({} bytes)", .expected * 4)]
    Length {
        /// Bytes in the blob.
        bytes: usize,
        /// Values the model needs.
        expected: usize,
    },
    /// A value is NaN or infinite.
    #[error("value {index} is not finite")]
    NotFinite {
        /// Position of the first such value.
        index: usize,
    },
}

/// The blob of `values`: their little-endian bytes, in order.
pub fn encode(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Reads a blob of exactly `expected` finite values.
pub fn decode(bytes: &[u8], expected: usize) -> Result<Vec<f32>, BlobFormatError> {
    if Some(bytes.len()) != expected.checked_mul(4) {
        return Err(BlobFormatError::Length {
            bytes: bytes.len(),
            expected,
        });
    }
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    match values.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(BlobFormatError::NotFinite { index }),
        None => Ok(values),
    }
}

/// Reads a blob of any whole number of finite values (a model whose size the reader does not
/// know in advance, such as a task's initial model).
pub fn decode_any(bytes: &[u8]) -> Result<Vec<f32>, BlobFormatError> {
    decode(bytes, bytes.len() / 4)
}

/// The content hash of the blob of `values`: blake3 of [`encode`]`(values)`, computed without
/// building the blob.
pub fn hash(values: &[f32]) -> [u8; 32] {
    // 64 KiB per `update`: blake3 hashes that many bytes with its widest SIMD path; the digest
    // does not depend on how the input is split.
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    for chunk in values.chunks(1 << 14) {
        for (dst, v) in buf.chunks_exact_mut(4).zip(chunk) {
            dst.copy_from_slice(&v.to_le_bytes());
        }
        h.update(&buf[..chunk.len() * 4]);
    }
    *h.finalize().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_blake3_of_the_blob() {
        for n in [0usize, 1, 3, 1 << 14, (1 << 14) + 1, 40_000] {
            let v: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 7.25).collect();
            assert_eq!(hash(&v), *blake3::hash(&encode(&v)).as_bytes(), "n = {n}");
        }
    }

    #[test]
    fn hash_matches_plain_bytes() {
        let v: Vec<f32> = (0..40_000).map(|i| i as f32 * 0.5).collect();
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        assert_eq!(hash(&v), *blake3::hash(&bytes).as_bytes());
    }

    #[test]
    fn encoding_is_little_endian_f32() {
        assert_eq!(encode(&[1.0, -2.5]), [0, 0, 128, 63, 0, 0, 32, 192]);
    }

    #[test]
    fn round_trip_is_bit_exact() {
        let v = vec![0.0, -0.0, f32::MIN_POSITIVE, 1e-45, f32::MAX, -3.75];
        let back = decode(&encode(&v), v.len()).unwrap();
        assert_eq!(
            back.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            v.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(decode_any(&encode(&v)).unwrap().len(), v.len());
    }

    #[test]
    fn decode_rejects_wrong_length_and_non_finite() {
        let blob = encode(&[1.0, 2.0]);
        let err = decode(&blob, 3).unwrap_err();
        assert_eq!(
            err,
            BlobFormatError::Length {
                bytes: 8,
                expected: 3
            }
        );
        assert_eq!(
            err.to_string(),
            "blob holds 8 bytes, the model needs 3 f32 values (12 bytes)"
        );
        assert!(decode_any(&blob[..7]).is_err());
        assert!(decode(&blob, usize::MAX).is_err());
        let bad = encode(&[1.0, f32::NAN, f32::INFINITY]);
        let err = decode(&bad, 3).unwrap_err();
        assert_eq!(err, BlobFormatError::NotFinite { index: 1 });
        assert_eq!(err.to_string(), "value 1 is not finite");
    }
}
