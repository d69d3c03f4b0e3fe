//! Lower-case hexadecimal for fixed-size byte arrays (ids, hashes, signatures).

/// A hex string that does not encode the expected number of bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// The string has the wrong length.
    #[error("expected {expected} hex characters, got {got}")]
    Length {
        /// Number of hex characters accepted.
        expected: usize,
        /// Number of characters given.
        got: usize,
    },
    /// A character outside `0-9a-fA-F`.
    #[error("invalid hex character {found:?} at position {position}; accepted: 0-9, a-f, A-F")]
    Char {
        /// The offending character.
        found: char,
        /// Its byte offset in the string.
        position: usize,
    },
}

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Encode bytes as lower-case hex.
pub(crate) fn encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        for nib in [b >> 4, b & 0x0f] {
            // `nib < 16`, so the lookup always succeeds.
            s.push(DIGITS.get(usize::from(nib)).map_or('0', |d| char::from(*d)));
        }
    }
    s
}

fn nibble(c: u8, position: usize) -> Result<u8, HexError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(HexError::Char {
            found: char::from(c),
            position,
        }),
    }
}

/// Decode exactly `N` bytes of hex (an optional `0x` prefix is accepted).
pub(crate) fn decode<const N: usize>(s: &str) -> Result<[u8; N], HexError> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    let raw = s.as_bytes();
    if raw.len() != 2 * N {
        return Err(HexError::Length {
            expected: 2 * N,
            got: raw.len(),
        });
    }
    let mut out = [0u8; N];
    for (i, (o, pair)) in out.iter_mut().zip(raw.chunks_exact(2)).enumerate() {
        if let [hi, lo] = pair {
            *o = (nibble(*hi, 2 * i)? << 4) | nibble(*lo, 2 * i + 1)?;
        }
    }
    Ok(out)
}

/// Implement hex `Display`/`Debug`/`FromStr` and hex-string serde for a `[u8; N]` newtype.
macro_rules! hex_newtype {
    ($name:ident, $n:expr) => {
        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(&$crate::hex::encode(&self.0))
            }
        }
        impl ::core::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                write!(f, "{}({})", stringify!($name), $crate::hex::encode(&self.0))
            }
        }
        impl ::core::str::FromStr for $name {
            type Err = $crate::hex::HexError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $crate::hex::decode::<$n>(s).map(Self)
            }
        }
        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&$crate::hex::encode(&self.0))
            }
        }
        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use hex_newtype;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let b = [0u8, 1, 0xab, 0xff];
        assert_eq!(encode(&b), "0001abff");
        assert_eq!(decode::<4>("0001ABff"), Ok(b));
        assert_eq!(decode::<4>("0x0001abff"), Ok(b));
        assert!(matches!(
            decode::<4>("0001ab"),
            Err(HexError::Length { .. })
        ));
        assert!(matches!(
            decode::<4>("0001abfg"),
            Err(HexError::Char { position: 7, .. })
        ));
        // Multi-byte UTF-8 must not panic.
        assert!(decode::<2>("é0é").is_err());
    }
}
