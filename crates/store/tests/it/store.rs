//! Store round trips and atomic commits.

use deai_store::{CommitMode, EmbeddedChain, EmbeddedConfig, Store, StoreError};
use deai_types::{Hash32, Height};

use crate::common::{genesis, keys, transfers_for_block};

#[test]
fn init_open_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(4);
    let g = genesis(&keys);
    assert!(matches!(
        Store::open(dir.path()),
        Err(StoreError::NotInitialized { .. })
    ));
    let (store, state) = Store::init(dir.path(), &g).unwrap();
    let head = store.head().unwrap();
    assert_eq!(head.height, Height(0));
    assert_eq!(head.parent_hash, Hash32::ZERO);
    assert_eq!(head.timestamp_ms, 1_000);
    assert_eq!(head.state_root, state.root());
    assert_eq!(store.genesis().unwrap(), g);
    assert_eq!(store.state().unwrap(), state);
    // A second handle on the same file is refused while the first is open.
    assert!(matches!(
        Store::open(dir.path()),
        Err(StoreError::Locked { .. })
    ));
    drop(store);
    assert!(matches!(
        Store::init(dir.path(), &g),
        Err(StoreError::AlreadyInitialized { .. })
    ));
    let reopened = Store::open(dir.path()).unwrap();
    assert_eq!(reopened.head().unwrap(), head);
}

#[test]
fn blocks_indexes_and_state_round_trip_through_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(5);
    let mut nonces = vec![0; keys.len()];
    let mut chain =
        EmbeddedChain::init(dir.path(), &genesis(&keys), EmbeddedConfig::default()).unwrap();
    let mut produced = Vec::new();
    for b in 1..=4u64 {
        let txs = transfers_for_block(&keys, &mut nonces, b, 12);
        for r in chain.submit_batch(txs) {
            r.unwrap();
        }
        let p = chain.produce_block(b * 1000).unwrap();
        assert_eq!(p.block.txs.len(), 12);
        assert!(p.outcomes.iter().all(Result::is_ok));
        produced.push(p);
    }
    let state = chain.state().clone();
    drop(chain);

    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.head_height().unwrap(), Height(4));
    assert_eq!(store.state().unwrap(), state);
    assert_eq!(store.tx_count().unwrap(), 48);
    for p in &produced {
        let h = p.block.header.height;
        assert_eq!(store.block(h).unwrap().as_ref(), Some(&*p.block));
        assert_eq!(
            store.height_of_block(&p.block.header.hash()).unwrap(),
            Some(h)
        );
        for (i, tx) in p.block.txs.iter().enumerate() {
            let loc = store.tx_location(&tx.hash()).unwrap().unwrap();
            assert_eq!((loc.height, loc.index as usize), (h, i));
        }
    }
    assert_eq!(store.block(Height(5)).unwrap(), None);
    assert_eq!(store.tx_location(&Hash32([9; 32])).unwrap(), None);
}

#[test]
fn pipelined_and_sync_commits_store_the_same_chain() {
    let keys = keys(6);
    let mut roots = Vec::new();
    for mode in [CommitMode::Sync, CommitMode::Pipelined { depth: 2 }] {
        let dir = tempfile::tempdir().unwrap();
        let config = EmbeddedConfig {
            commit: mode,
            ..EmbeddedConfig::default()
        };
        let mut chain = EmbeddedChain::init(dir.path(), &genesis(&keys), config).unwrap();
        let mut nonces = vec![0; keys.len()];
        for b in 1..=6u64 {
            for r in chain.submit_batch(transfers_for_block(&keys, &mut nonces, b, 20)) {
                r.unwrap();
            }
            chain.produce_block(b * 10).unwrap();
        }
        chain.flush().unwrap();
        assert_eq!(chain.durable_height(), Height(6));
        drop(chain);
        let store = Store::open(dir.path()).unwrap();
        let hashes: Vec<_> = (0..=6)
            .map(|h| store.block(Height(h)).unwrap().unwrap().header.hash())
            .collect();
        roots.push(hashes);
    }
    assert_eq!(roots[0], roots[1]);
}

#[test]
fn a_rejected_commit_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(3);
    let (store, state) = Store::init(dir.path(), &genesis(&keys)).unwrap();
    let head = store.head().unwrap();
    let mut nonces = vec![0; keys.len()];
    let txs = transfers_for_block(&keys, &mut nonces, 1, 6);
    let mut next = state.clone();
    let (block, _) = deai_chain::build_block(&mut next, &head, 5, txs);

    // Wrong post-state: refused, nothing written.
    let err = store.commit_block(&block, &state).unwrap_err();
    assert!(
        matches!(err, StoreError::StateRootMismatch { height: 1, .. }),
        "{err}"
    );
    // A block that does not extend the head: refused, nothing written.
    let mut orphan = block.clone();
    orphan.header.parent_hash = Hash32([1; 32]);
    let err = store.commit_block(&orphan, &next).unwrap_err();
    assert!(
        matches!(err, StoreError::NotNextBlock { got: 1, .. }),
        "{err}"
    );
    let mut skip = block.clone();
    skip.header.height = Height(2);
    let err = store.commit_block(&skip, &next).unwrap_err();
    assert!(
        matches!(err, StoreError::NotNextBlock { got: 2, .. }),
        "{err}"
    );

    assert_eq!(store.head().unwrap(), head);
    assert_eq!(store.state().unwrap(), state);
    assert_eq!(store.tx_count().unwrap(), 0);
    assert_eq!(store.block(Height(1)).unwrap(), None);

    // The right block commits, with its state, and cannot be committed twice.
    store.commit_block(&block, &next).unwrap();
    assert_eq!(store.head().unwrap(), block.header);
    assert_eq!(store.state().unwrap(), next);
    assert_eq!(store.tx_count().unwrap(), 6);
    assert!(store.commit_block(&block, &next).is_err());
}
