//! Amounts on the wire: every `u128` travels as a decimal string.
//!
//! A ledger amount is a `u128` ([`Amount`]). JSON numbers cannot carry it: a browser reads every
//! number as an IEEE double and rounds anything above 2^53, and a client that parses into a
//! generic JSON value turns `100000000000000000000` into the float `1e+20`. So, as Ethereum's
//! and Cosmos's APIs do, the HTTP API writes amounts as strings of decimal digits —
//! `"100000000000000000000"` — and reads them back only from such strings. Anything else (a
//! JSON number, a sign, a space, hex, a value above `u128::MAX`) is refused with an error that
//! says what is accepted.
//!
//! Two tools, one rule:
//! - [`serialize`] / [`deserialize`] for an [`Amount`] field of an API type:
//!   `#[serde(with = "deai_api::amount")]`.
//! - [`Decimal<T>`] for a whole ledger value defined elsewhere (a [`deai_types::Block`], a
//!   [`deai_chain::Receipt`], a [`deai_chain::TxError`], a task): it serializes `T` with its
//!   own serde derives except that every `u128` inside, however deep, is written as a decimal
//!   string, and deserializes `T` reading every `u128` from one. The ledger types keep their
//!   derives and their canonical binary encoding (borsh, which every hash is computed over);
//!   only the JSON of the API changes.
//!
//! `Decimal` works by wrapping the serde serializer or deserializer it is given, so that the
//! wrapping reaches every nested value (sequence elements, map keys and values, struct fields,
//! enum variants, options, newtypes). It relies on `T` reaching its `u128`s through
//! `serialize_u128` / `deserialize_u128`, as every derive and `#[serde(transparent)]` newtype
//! does; a `u128` read through a buffering `#[serde(untagged)]` or `#[serde(flatten)]` inside
//! `T` would bypass it (the ledger types have none around an amount).

use std::fmt;

use deai_types::Amount;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

mod de_wrap;
mod ser_wrap;

/// What is wrong with the text of an amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// No digits at all.
    #[error("an amount is a string of decimal digits, e.g. \"100000000000000000000\"; found an empty string")]
    Empty,
    /// Something other than the digits 0-9.
    #[error("an amount is a string of decimal digits only (no sign, spaces, exponent or hex), e.g. \"100000000000000000000\"; found {found:?}")]
    NotDigits {
        /// The text found.
        found: String,
    },
    /// More than `u128::MAX`.
    #[error("amount {found} is larger than the largest amount {}", u128::MAX)]
    Overflow {
        /// The text found.
        found: String,
    },
}

/// Parses the decimal digits of an amount (`"0"`, `"100000000000000000000"`): digits only, at
/// most `u128::MAX`.
pub fn parse(text: &str) -> Result<u128, AmountError> {
    if text.is_empty() {
        return Err(AmountError::Empty);
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AmountError::NotDigits {
            found: text.chars().take(80).collect(),
        });
    }
    text.parse().map_err(|_| AmountError::Overflow {
        found: text.chars().take(80).collect(),
    })
}

/// What the visitors of this module expect, for serde's error messages.
const EXPECTED: &str = "an amount as a string of decimal digits, e.g. \"100000000000000000000\"";

/// Writes an [`Amount`] as a decimal string (`#[serde(with = "deai_api::amount")]`).
pub fn serialize<S: Serializer>(amount: &Amount, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&amount.0)
}

/// Reads an [`Amount`] from a decimal string only (`#[serde(with = "deai_api::amount")]`).
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Amount, D::Error> {
    deserializer
        .deserialize_str(DigitsVisitor(U128Out))
        .map(Amount)
}

/// Hands a parsed `u128` on: to a caller's visitor ([`de_wrap`]) or out as is.
trait Sink<'de> {
    type Value;
    fn take<E: de::Error>(self, value: u128) -> Result<Self::Value, E>;
}

/// The plain `u128` (for [`deserialize`]).
struct U128Out;

impl Sink<'_> for U128Out {
    type Value = u128;
    fn take<E: de::Error>(self, value: u128) -> Result<u128, E> {
        Ok(value)
    }
}

/// Accepts only a string of decimal digits and hands its value to the sink.
struct DigitsVisitor<K>(K);

impl<'de, K: Sink<'de>> de::Visitor<'de> for DigitsVisitor<K> {
    type Value = K::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<K::Value, E> {
        match parse(text) {
            Ok(value) => self.0.take(value),
            Err(err) => Err(E::custom(err)),
        }
    }
}

/// A ledger value whose every `u128` travels as a decimal string (see the module docs).
///
/// `Decimal(block)` serializes like `block` except for its amounts; `Decimal<Block>`
/// deserializes a block whose amounts are decimal strings and refuses one whose amounts are
/// JSON numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decimal<T>(pub T);

impl<T> Decimal<T> {
    /// The value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Decimal<T> {
    fn from(value: T) -> Self {
        Decimal(value)
    }
}

impl<T: Serialize> Serialize for Decimal<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(ser_wrap::Ser(serializer))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Decimal<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(de_wrap::De(deserializer)).map(Decimal)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use deai_chain::{Event, Receipt, TxError};
    use deai_types::{
        AccountId, Block, ChainId, Hash32, Header, Height, Keypair, Nonce, SignedTx, Tx,
    };
    use serde_json::json;

    use super::*;

    const BIG: u128 = 100_000_000_000_000_000_000; // 10^20 > u64::MAX

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Account {
        #[serde(with = "super")]
        balance: Amount,
        nonce: u64,
    }

    fn transfer(amount: u128) -> SignedTx {
        let key = Keypair::from_seed([1; 32]);
        key.sign_tx(Tx {
            chain_id: ChainId::new("deai-test").unwrap(),
            nonce: Nonce(3),
            fee: Amount(1),
            call: deai_types::Call::Transfer {
                to: Keypair::from_seed([2; 32]).account(),
                amount: Amount(amount),
            },
        })
    }

    #[test]
    fn parse_accepts_digits_only() {
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse("100000000000000000000"), Ok(BIG));
        assert_eq!(parse(&u128::MAX.to_string()), Ok(u128::MAX));
        assert_eq!(parse(""), Err(AmountError::Empty));
        for bad in ["-1", "+1", " 1", "1 ", "1e20", "0x10", "1.0", "١"] {
            assert!(
                matches!(parse(bad), Err(AmountError::NotDigits { .. })),
                "{bad:?}"
            );
        }
        let over = "340282366920938463463374607431768211456"; // u128::MAX + 1
        assert!(matches!(parse(over), Err(AmountError::Overflow { .. })));
    }

    #[test]
    fn with_helper_writes_and_reads_strings_only() {
        let a = Account {
            balance: Amount(BIG),
            nonce: 7,
        };
        let text = serde_json::to_string(&a).unwrap();
        assert_eq!(text, r#"{"balance":"100000000000000000000","nonce":7}"#);
        assert_eq!(serde_json::from_str::<Account>(&text).unwrap(), a);
        let err = serde_json::from_str::<Account>(r#"{"balance":5,"nonce":7}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("expected an amount as a string of decimal digits"),
            "{err}"
        );
        let err = serde_json::from_str::<Account>(r#"{"balance":"1e20","nonce":7}"#).unwrap_err();
        assert!(err.to_string().contains("\"1e20\""), "{err}");
    }

    #[test]
    fn a_block_with_a_big_transfer_round_trips_with_string_amounts() {
        let block = Block {
            header: Header {
                height: Height(4),
                parent_hash: Hash32::of(b"parent"),
                timestamp_ms: 9,
                tx_root: Hash32::ZERO,
                state_root: Hash32::ZERO,
            },
            txs: vec![transfer(BIG)],
        };
        let value = serde_json::to_value(Decimal(&block)).unwrap();
        assert_eq!(
            value["txs"][0]["tx"]["call"]["transfer"]["amount"],
            "100000000000000000000"
        );
        assert_eq!(value["txs"][0]["tx"]["fee"], "1");
        // Everything else is the types' own JSON.
        assert_eq!(value["header"]["height"], 4);
        assert_eq!(value["txs"][0]["tx"]["nonce"], 3);
        assert_eq!(value["txs"][0]["tx"]["chain_id"], "deai-test");
        let text = serde_json::to_string(&Decimal(&block)).unwrap();
        let back: Decimal<Block> = serde_json::from_str(&text).unwrap();
        assert_eq!(back.0, block);
        assert_eq!(back.0.txs[0].hash(), block.txs[0].hash());
        // Through a generic JSON value too (the client path that used to see `1e+20`).
        let back: Decimal<Block> = serde_json::from_value(value).unwrap();
        assert_eq!(back.0, block);
        // The plain JSON of the types (numbers) is refused.
        let plain = serde_json::to_string(&block).unwrap();
        let err = serde_json::from_str::<Decimal<Block>>(&plain).unwrap_err();
        assert!(err.to_string().contains("decimal digits"), "{err}");
    }

    #[test]
    fn receipts_errors_options_and_maps_are_reached() {
        let receipt = Receipt {
            fee: Amount(1),
            events: vec![Event::Transferred {
                from: AccountId([1; 32]),
                to: AccountId([2; 32]),
                amount: Amount(u128::MAX),
            }],
        };
        let v = serde_json::to_value(Decimal(&receipt)).unwrap();
        assert_eq!(
            v["events"][0]["transferred"]["amount"],
            u128::MAX.to_string()
        );
        let back: Decimal<Receipt> = serde_json::from_value(v).unwrap();
        assert_eq!(back.0, receipt);

        let err = TxError::InsufficientBalance {
            available: Amount(BIG),
            needed: Amount(BIG + 1),
        };
        let v = serde_json::to_value(Decimal(&err)).unwrap();
        assert_eq!(
            v,
            json!({"insufficient_balance": {"available": "100000000000000000000",
                "needed": "100000000000000000001"}})
        );
        assert_eq!(
            serde_json::from_value::<Decimal<TxError>>(v).unwrap().0,
            err
        );
        let unit = serde_json::to_value(Decimal(&TxError::BadSignature)).unwrap();
        assert_eq!(unit, json!("bad_signature"));

        type Nested = BTreeMap<Amount, Option<(Amount, Vec<Amount>)>>;
        let mut map = Nested::new();
        map.insert(Amount(BIG), Some((Amount(2), vec![Amount(3)])));
        map.insert(Amount(0), None);
        let text = serde_json::to_string(&Decimal(&map)).unwrap();
        assert_eq!(text, r#"{"0":null,"100000000000000000000":["2",["3"]]}"#);
        let back: Decimal<Nested> = serde_json::from_str(&text).unwrap();
        assert_eq!(back.0, map);
    }
}
