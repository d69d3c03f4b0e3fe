//! Chain verification: re-execute every stored block from the genesis configuration and check
//! that the chain on disk is exactly the chain those transactions produce.
//!
//! Checked, in order, for the genesis block (height 0): it has no transactions, a zero parent
//! hash, the empty tx root and the root of `State::genesis(genesis config)`. Then for each height
//! h = 1..=head: the stored block decodes, says height h, names the previous header's hash as its
//! parent, and `deai_chain::apply_block` accepts it — which re-checks the tx root, re-executes
//! every transaction and compares the post-state root with the header's. The hash and
//! transaction indexes must point at the block. Finally the stored current state must be the
//! replayed state. Verification stops at the first problem: later states are undefined.

use deai_chain::State;
use deai_types::{tx_root, Hash32, Height};
use serde::Serialize;

use crate::error::StoreError;
use crate::store::Store;

/// The first problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyProblem {
    /// Height of the offending block (the head height for a state mismatch).
    pub height: u64,
    /// What is wrong.
    pub message: String,
}

/// Result of [`verify_chain`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Height of the stored head.
    pub head: u64,
    /// Blocks that passed every check (including genesis).
    pub blocks_verified: u64,
    /// Transactions re-executed.
    pub txs_replayed: u64,
    /// State root after the last verified block (hex).
    pub state_root: String,
    /// The first problem, if any.
    pub problem: Option<VerifyProblem>,
}

impl VerifyReport {
    /// Whether the whole chain verified.
    pub fn is_ok(&self) -> bool {
        self.problem.is_none()
    }
}

fn fail(report: &mut VerifyReport, height: u64, message: String) {
    report.problem = Some(VerifyProblem { height, message });
}

/// Re-executes the chain in `store` from genesis; see the module docs. An `Err` means the store
/// could not be read at all; a chain that fails a check is an `Ok` report with a problem.
pub fn verify_chain(store: &Store) -> Result<VerifyReport, StoreError> {
    let head = store.head_height()?;
    let mut report = VerifyReport {
        head: head.0,
        blocks_verified: 0,
        txs_replayed: 0,
        state_root: String::new(),
        problem: None,
    };
    let genesis = store.genesis()?;
    let mut state = match State::genesis(&genesis) {
        Ok(s) => s,
        Err(e) => {
            report.problem = Some(VerifyProblem {
                height: 0,
                message: format!("the stored genesis configuration is invalid: {e}"),
            });
            return Ok(report);
        }
    };
    let mut parent_hash = Hash32([0; 32]);
    for h in 0..=head.0 {
        let block = match store.block(Height(h)) {
            Ok(Some(b)) => b,
            Ok(None) => {
                fail(&mut report, h, format!("block {h} is missing"));
                break;
            }
            Err(StoreError::Corrupt { reason, .. }) => {
                fail(
                    &mut report,
                    h,
                    format!("block {h} does not decode: {reason}"),
                );
                break;
            }
            Err(e) => return Err(e),
        };
        let header = &block.header;
        if header.height.0 != h {
            fail(
                &mut report,
                h,
                format!("block stored at height {h} says height {}", header.height.0),
            );
            break;
        }
        if h == 0 {
            let root = state.root();
            let problem = if !block.txs.is_empty() {
                Some("the genesis block holds transactions".to_string())
            } else if header.parent_hash != parent_hash {
                Some("the genesis block has a non-zero parent hash".to_string())
            } else if header.tx_root != tx_root(&block.txs) {
                Some("the genesis block's tx root is not the empty root".to_string())
            } else if header.state_root != root {
                Some(format!(
                    "genesis state root mismatch: header says {}, the genesis configuration gives {root}",
                    header.state_root
                ))
            } else {
                None
            };
            if let Some(message) = problem {
                fail(&mut report, 0, message);
                break;
            }
        } else {
            if header.parent_hash != parent_hash {
                fail(
                    &mut report,
                    h,
                    format!(
                        "parent link broken: block {h} names parent {}, but block {} hashes to {parent_hash}",
                        header.parent_hash,
                        h - 1
                    ),
                );
                break;
            }
            if let Err(e) = deai_chain::apply_block(&mut state, &block) {
                fail(&mut report, h, format!("re-execution failed: {e}"));
                break;
            }
            report.txs_replayed += block.txs.len() as u64;
        }
        let hash = header.hash();
        match store.height_of_block(&hash)? {
            Some(Height(x)) if x == h => {}
            other => {
                fail(
                    &mut report,
                    h,
                    format!("block hash index maps {hash} to {other:?}, not height {h}"),
                );
                break;
            }
        }
        let mut index_problem = None;
        for (i, tx) in block.txs.iter().enumerate() {
            let loc = store.tx_location(&tx.hash())?;
            if loc.map(|l| (l.height.0, l.index as usize)) != Some((h, i)) {
                index_problem = Some(format!(
                    "tx index entry of transaction {i} in block {h} is {loc:?}"
                ));
                break;
            }
        }
        if let Some(message) = index_problem {
            fail(&mut report, h, message);
            break;
        }
        parent_hash = hash;
        report.blocks_verified += 1;
    }
    report.state_root = state.root().to_string();
    if report.problem.is_none() {
        match store.state() {
            Ok(stored) => {
                let stored_root = stored.root();
                if stored_root != state.root() {
                    let replayed = report.state_root.clone();
                    fail(
                        &mut report,
                        head.0,
                        format!(
                            "stored current state has root {stored_root}, but replaying the chain gives {replayed}"
                        ),
                    );
                }
            }
            Err(StoreError::Corrupt { reason, .. }) => fail(
                &mut report,
                head.0,
                format!("stored current state does not decode: {reason}"),
            ),
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}
