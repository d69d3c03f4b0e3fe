//! `verify_chain` accepts an honest chain and pinpoints every kind of tampering.

use std::path::Path;

use deai_store::{schema, verify_chain, EmbeddedChain, EmbeddedConfig, Store};
use deai_types::{decode, encode, tx_root, Amount, Block, Call, Height};
use redb::ReadableTable;

use crate::common::{genesis, keys, transfer, transfers_for_block};

const BLOCKS: u64 = 5;
const TXS: usize = 8;

/// Builds a 5-block chain in `dir`; returns the keys used.
fn build(dir: &Path) -> Vec<deai_types::Keypair> {
    let k = keys(4);
    let mut nonces = vec![0; k.len()];
    let mut chain = EmbeddedChain::init(dir, &genesis(&k), EmbeddedConfig::default()).unwrap();
    for b in 1..=BLOCKS {
        for r in chain.submit_batch(transfers_for_block(&k, &mut nonces, b, TXS)) {
            r.unwrap();
        }
        chain.produce_block(b * 1000).unwrap();
    }
    k
}

/// Rewrites the stored block at `height` with `edit`, directly in the redb file.
fn tamper_block(dir: &Path, height: u64, edit: impl FnOnce(&mut Block)) {
    let db = redb::Database::open(Store::db_path(dir)).unwrap();
    let wtx = db.begin_write().unwrap();
    {
        let mut t = wtx.open_table(schema::BLOCKS).unwrap();
        let mut block: Block = decode(t.get(height).unwrap().unwrap().value()).unwrap();
        edit(&mut block);
        t.insert(height, encode(&block).as_slice()).unwrap();
    }
    wtx.commit().unwrap();
}

fn problem(dir: &Path) -> (u64, String) {
    let store = Store::open(dir).unwrap();
    let report = verify_chain(&store).unwrap();
    let p = report.problem.expect("tampering must be detected");
    (p.height, p.message)
}

#[test]
fn an_honest_chain_verifies() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let store = Store::open(dir.path()).unwrap();
    let report = verify_chain(&store).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.head, BLOCKS);
    assert_eq!(report.blocks_verified, BLOCKS + 1);
    assert_eq!(report.txs_replayed, BLOCKS * TXS as u64);
    assert_eq!(
        report.state_root,
        store.head().unwrap().state_root.to_string()
    );
}

#[test]
fn a_changed_transaction_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    // Change the amount of a transfer: the signature and the tx root no longer match.
    tamper_block(dir.path(), 3, |b| {
        if let Call::Transfer { amount, .. } = &mut b.txs[2].tx.call {
            *amount = Amount(amount.0 + 1);
        }
    });
    let (h, msg) = problem(dir.path());
    assert_eq!(h, 3, "{msg}");
}

#[test]
fn a_validly_signed_substitute_is_caught_by_the_state_root() {
    let dir = tempfile::tempdir().unwrap();
    let k = build(dir.path());
    // Someone holding the key re-signs the same nonce with another amount and fixes the tx
    // root: only re-execution (the state root) can tell.
    tamper_block(dir.path(), 2, |b| {
        let old = &b.txs[0];
        let signer = k.iter().find(|x| x.account() == old.signer).unwrap();
        let Call::Transfer { to, amount } = old.tx.call else {
            panic!("fixture uses transfers")
        };
        b.txs[0] = transfer(signer, old.tx.nonce.0, to, amount.0 + 7);
        b.header.tx_root = tx_root(&b.txs);
    });
    let (h, msg) = problem(dir.path());
    assert_eq!(h, 2, "{msg}");
}

#[test]
fn a_forged_header_breaks_the_parent_link() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    // Rewrite block 2's state root: its own re-execution fails.
    tamper_block(dir.path(), 2, |b| b.header.state_root.0[0] ^= 1);
    assert_eq!(problem(dir.path()).0, 2);

    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    // Change block 4's timestamp only: block 4 still re-executes, but block 5's parent link breaks
    // (or block 4's own state root, if the ledger reads the timestamp).
    tamper_block(dir.path(), 4, |b| b.header.timestamp_ms += 1);
    let (h, msg) = problem(dir.path());
    assert!(h == 4 || h == 5, "{h}: {msg}");
}

#[test]
fn a_tampered_state_or_missing_block_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    {
        let db = redb::Database::open(Store::db_path(dir.path())).unwrap();
        let wtx = db.begin_write().unwrap();
        {
            let mut t = wtx.open_table(schema::BLOCKS).unwrap();
            t.remove(2).unwrap();
        }
        wtx.commit().unwrap();
    }
    let (h, msg) = problem(dir.path());
    assert_eq!(h, 2);
    assert!(msg.contains("missing"), "{msg}");

    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    {
        // Replace the current state with the genesis state.
        let store = Store::open(dir.path()).unwrap();
        let g = store.genesis().unwrap();
        drop(store);
        let genesis_state = deai_chain::State::genesis(&g).unwrap();
        let db = redb::Database::open(Store::db_path(dir.path())).unwrap();
        let wtx = db.begin_write().unwrap();
        {
            let mut t = wtx.open_table(schema::STATE).unwrap();
            t.insert(schema::STATE_CURRENT, encode(&genesis_state).as_slice())
                .unwrap();
        }
        wtx.commit().unwrap();
    }
    let (h, msg) = problem(dir.path());
    assert_eq!(h, BLOCKS);
    assert!(msg.contains("stored current state"), "{msg}");
    // Opening the chain for production refuses the inconsistent state too.
    assert!(EmbeddedChain::open(dir.path(), EmbeddedConfig::default()).is_err());
    let _ = Height(0);
}
