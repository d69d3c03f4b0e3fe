//! `GET /v1/tx/{hash}`: what became of a transaction.
//!
//! A transaction the node accepted (`202` to `POST /v1/tx`) is `pending` while it waits in the
//! node's mempool (or in a block being ordered). Once a final block holds it, it either
//! `succeeded`, with the [`Receipt`] of what it did, or `failed` with the [`TxError`] that
//! stopped it — a failed transaction is still in the block: its fee was charged and its nonce
//! used, nothing else changed. A node keeps the outcomes of a bounded window of recent
//! transactions; for an older one it still finds in its blocks it answers `included` (height
//! and index, no outcome). A transaction it never accepted, or dropped from its mempool
//! (gap expiry, eviction), is `404`.
//!
//! ```json
//! {"hash": "…", "status": "pending"}
//! {"hash": "…", "status": "succeeded", "height": 7, "index": 0,
//!  "receipt": {"fee": "1", "events": [{"transferred": {"from": "…", "to": "…", "amount": "100000000000000000000"}}]}}
//! {"hash": "…", "status": "failed", "height": 7, "index": 1,
//!  "error": {"code": "insufficient_balance", "message": "balance 10 is less than the 5000 required",
//!            "detail": {"insufficient_balance": {"available": "10", "needed": "5000"}}}}
//! {"hash": "…", "status": "included", "height": 7, "index": 2}
//! ```

use deai_chain::{Receipt, TxError, TxOutcome};
use deai_types::{Hash32, Height};
use serde::{Deserialize, Serialize};

use crate::amount::Decimal;

/// `GET /v1/tx/{hash}`: a transaction and what became of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptAnswer {
    /// The transaction's hash.
    pub hash: Hash32,
    /// What became of it.
    #[serde(flatten)]
    pub status: TxStatus,
}

/// What became of a transaction (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TxStatus {
    /// Accepted, not in a final block yet.
    Pending,
    /// In a final block, executed successfully.
    Succeeded {
        /// Height of the block.
        height: Height,
        /// Position in the block.
        index: u32,
        /// What it did; every amount a decimal string.
        receipt: Decimal<Receipt>,
    },
    /// In a final block, failed: its fee was charged and its nonce used, nothing else changed.
    Failed {
        /// Height of the block.
        height: Height,
        /// Position in the block.
        index: u32,
        /// Why it failed.
        error: TxFailure,
    },
    /// In a final block, older than the node's window of outcomes.
    Included {
        /// Height of the block.
        height: Height,
        /// Position in the block.
        index: u32,
    },
}

impl TxStatus {
    /// The status of the transaction at `index` of the final block at `height`.
    pub fn of_outcome(height: Height, index: u32, outcome: &TxOutcome) -> Self {
        match outcome {
            Ok(receipt) => TxStatus::Succeeded {
                height,
                index,
                receipt: Decimal(receipt.clone()),
            },
            Err(err) => TxStatus::Failed {
                height,
                index,
                error: TxFailure::new(err),
            },
        }
    }

    /// Whether it is in a final block (anything but [`TxStatus::Pending`]).
    pub fn is_final(&self) -> bool {
        !matches!(self, TxStatus::Pending)
    }

    /// Height and index of the block that holds it, once final.
    pub fn location(&self) -> Option<(Height, u32)> {
        match self {
            TxStatus::Pending => None,
            TxStatus::Succeeded { height, index, .. }
            | TxStatus::Failed { height, index, .. }
            | TxStatus::Included { height, index } => Some((*height, *index)),
        }
    }
}

/// Why a transaction in a block failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxFailure {
    /// A stable code: the snake_case name of the [`TxError`] variant (`insufficient_balance`,
    /// `self_transfer`, `window_closed`, …), the same tag `detail` carries.
    pub code: String,
    /// The error's message.
    pub message: String,
    /// The typed error with its fields, every amount a decimal string.
    pub detail: Decimal<TxError>,
}

impl TxFailure {
    /// Describes `err`.
    pub fn new(err: &TxError) -> Self {
        Self {
            code: error_code(err),
            message: err.to_string(),
            detail: Decimal(err.clone()),
        }
    }
}

/// The serde name of `err`'s variant: a unit variant serializes as that name, a variant with
/// fields as an object with that one key.
fn error_code(err: &TxError) -> String {
    match serde_json::to_value(Decimal(err)) {
        Ok(serde_json::Value::String(name)) => name,
        Ok(serde_json::Value::Object(map)) => map.keys().next().cloned().unwrap_or_default(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use deai_chain::Event;
    use deai_types::{AccountId, Amount};
    use serde_json::json;

    use super::*;

    fn round_trip(answer: &ReceiptAnswer) -> serde_json::Value {
        let text = serde_json::to_string(answer).unwrap();
        assert_eq!(
            &serde_json::from_str::<ReceiptAnswer>(&text).unwrap(),
            answer
        );
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn every_status_round_trips_flat() {
        let hash = Hash32::of(b"tx");
        let pending = ReceiptAnswer {
            hash,
            status: TxStatus::Pending,
        };
        assert_eq!(
            round_trip(&pending),
            json!({"hash": hash.to_string(), "status": "pending"})
        );
        let ok: TxOutcome = Ok(Receipt {
            fee: Amount(1),
            events: vec![Event::Transferred {
                from: AccountId([1; 32]),
                to: AccountId([2; 32]),
                amount: Amount(100_000_000_000_000_000_000),
            }],
        });
        let succeeded = ReceiptAnswer {
            hash,
            status: TxStatus::of_outcome(Height(7), 0, &ok),
        };
        let v = round_trip(&succeeded);
        assert_eq!(v["status"], "succeeded");
        assert_eq!(v["height"], 7);
        assert_eq!(
            v["receipt"]["events"][0]["transferred"]["amount"],
            "100000000000000000000"
        );
        let failed = ReceiptAnswer {
            hash,
            status: TxStatus::of_outcome(
                Height(7),
                1,
                &Err(TxError::InsufficientBalance {
                    available: Amount(10),
                    needed: Amount(5000),
                }),
            ),
        };
        let v = round_trip(&failed);
        assert_eq!(v["status"], "failed");
        assert_eq!(v["error"]["code"], "insufficient_balance");
        assert_eq!(
            v["error"]["message"],
            "balance 10 is less than the 5000 required"
        );
        assert_eq!(
            v["error"]["detail"]["insufficient_balance"]["needed"],
            "5000"
        );
        let included = ReceiptAnswer {
            hash,
            status: TxStatus::Included {
                height: Height(2),
                index: 3,
            },
        };
        assert_eq!(round_trip(&included)["index"], 3);
        assert_eq!(included.status.location(), Some((Height(2), 3)));
        assert!(!pending.status.is_final() && failed.status.is_final());
    }

    #[test]
    fn codes_are_the_variant_names() {
        assert_eq!(error_code(&TxError::SelfTransfer), "self_transfer");
        assert_eq!(error_code(&TxError::ZeroAmount), "zero_amount");
        assert_eq!(
            error_code(&TxError::InsufficientBalance {
                available: Amount(u128::MAX),
                needed: Amount(u128::MAX),
            }),
            "insufficient_balance"
        );
    }
}
