//! Mempool exhaustion: a signer's waiting fees are bounded by its balance, gapped
//! transactions expire, and a full pool evicts by fee.

use deai_chain::{GenesisConfig, State};
use deai_store::{EmbeddedChain, EmbeddedConfig, Mempool, MempoolConfig, MempoolError};
use deai_types::{Amount, Call, Keypair, Nonce, Params, SignedTx, Tx};

use crate::common::{chain_id, genesis, keys, transfer};

/// A genesis funding `keys[i]` with `balances[i]`.
fn genesis_with(keys: &[Keypair], balances: &[u128]) -> GenesisConfig {
    GenesisConfig {
        accounts: keys
            .iter()
            .zip(balances)
            .map(|(k, b)| (k.account(), Amount(*b)))
            .collect(),
        ..genesis(keys)
    }
}

/// A transfer of 1 to `keys`' first account with the given fee.
fn paying(from: &Keypair, nonce: u64, fee: u128) -> SignedTx {
    from.sign_tx(Tx {
        chain_id: chain_id(),
        nonce: Nonce(nonce),
        fee: Amount(fee),
        call: Call::Transfer {
            to: keys(1)[0].account(),
            amount: Amount(1),
        },
    })
}

#[test]
fn a_signer_cannot_queue_more_fees_than_its_balance() {
    let k = keys(3);
    assert_eq!(Params::default().min_fee, Amount(1));
    let state = State::genesis(&genesis_with(&k, &[1, 5, 1_000])).unwrap();
    let mut mp = Mempool::new(chain_id(), MempoolConfig::default());

    // The flood of the issue: 1024 transactions from an account holding one fee.
    let flood: Vec<SignedTx> = (0..1024).map(|n| paying(&k[0], n, 1)).collect();
    let results = mp.insert_batch(flood, &state);
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    let err = results[1].clone().unwrap_err();
    assert_eq!(
        err,
        MempoolError::QueuedFeesExceedBalance {
            signer: k[0].account().to_string(),
            balance: 1,
            queued: 1,
            queued_fees: 1,
            fee: 1,
        }
    );
    assert!(err.to_string().contains("already offer 1 in fees"), "{err}");

    // Balance 5: fees 2 + 2 + 1 fit (gapped nonces count too), one more unit does not.
    mp.insert(paying(&k[1], 0, 2), &state).unwrap();
    mp.insert(paying(&k[1], 7, 2), &state).unwrap();
    mp.insert(paying(&k[1], 3, 1), &state).unwrap();
    assert!(matches!(
        mp.insert(paying(&k[1], 1, 1), &state),
        Err(MempoolError::QueuedFeesExceedBalance {
            balance: 5,
            queued: 3,
            queued_fees: 5,
            fee: 1,
            ..
        })
    ));
    // Another signer is unaffected.
    mp.insert(paying(&k[2], 0, 1), &state).unwrap();
    assert_eq!(mp.len(), 5);

    // Leaving the pool frees the committed fees.
    let taken = mp.take_ready(&state, 100);
    assert_eq!(taken.len(), 3);
    mp.insert(paying(&k[1], 1, 2), &state).unwrap();
}

#[test]
fn a_balance_that_drops_trims_the_signers_highest_nonces() {
    let k = keys(2);
    let rich = State::genesis(&genesis_with(&k, &[10, 10])).unwrap();
    let poor = State::genesis(&genesis_with(&k, &[3, 10])).unwrap();
    let mut mp = Mempool::new(chain_id(), MempoolConfig::default());
    for n in 0..5 {
        mp.insert(paying(&k[0], n, 2), &rich).unwrap();
    }
    mp.insert(paying(&k[1], 0, 2), &rich).unwrap();
    // With 3 left, only one fee of 2 can still be paid: nonces 1..=4 go, nonce 0 stays.
    mp.prune(&poor);
    assert_eq!(mp.len(), 2);
    let taken = mp.take_ready(&poor, 10);
    assert_eq!(taken, vec![paying(&k[0], 0, 2), paying(&k[1], 0, 2)]);
}

#[test]
fn gapped_transactions_expire_after_the_configured_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let k = keys(3);
    let to = k[2].account();
    let mut chain = EmbeddedChain::init(dir.path(), &genesis(&k), EmbeddedConfig::default())
        .unwrap()
        .with_gap_expiry(3);
    assert_eq!(chain.mempool().gap_expiry_blocks(), 3);
    // At height 0: k0's nonce 1 (nonce 0 never comes) and k1's nonce 1 (nonce 0 comes later).
    chain.submit(transfer(&k[0], 1, to, 1)).unwrap();
    chain.submit(transfer(&k[1], 1, to, 1)).unwrap();
    for ts in [1, 2] {
        assert!(chain.produce_block(ts).unwrap().block.txs.is_empty());
    }
    assert_eq!(chain.mempool().len(), 2);
    // At height 2 the gap of k1 is filled: both leave in block 3, before they expire.
    chain.submit(transfer(&k[1], 0, to, 1)).unwrap();
    let block = chain.produce_block(3).unwrap().block;
    assert_eq!(block.txs.len(), 2);
    assert!(block.txs.iter().all(|tx| tx.signer == k[1].account()));
    assert_eq!(chain.mempool().len(), 1);
    // Block 4 is built on height 3: k0's transaction, admitted at height 0, has waited 3 blocks.
    assert!(chain.produce_block(4).unwrap().block.txs.is_empty());
    assert_eq!(chain.mempool().len(), 0);
    // Its signer may send it again (it counts from its new admission).
    chain.submit(transfer(&k[0], 1, to, 1)).unwrap();
    assert_eq!(chain.mempool().len(), 1);
}

#[test]
fn a_full_pool_evicts_the_cheapest_last_transaction_of_a_signer() {
    let k = keys(5);
    let state = State::genesis(&genesis(&k)).unwrap();
    let config = MempoolConfig {
        max_txs: 3,
        ..MempoolConfig::default()
    };
    let mut mp = Mempool::new(chain_id(), config);
    mp.insert(paying(&k[0], 0, 1), &state).unwrap();
    mp.insert(paying(&k[0], 1, 5), &state).unwrap();
    mp.insert(paying(&k[1], 0, 2), &state).unwrap();
    // k0's nonce 0 is the cheapest but not evictable (nonce 1 waits behind it); the evictable
    // ones are k0/1 (fee 5) and k1/0 (fee 2). An equal fee is not enough.
    assert_eq!(
        mp.insert(paying(&k[2], 0, 2), &state),
        Err(MempoolError::Full {
            capacity: 3,
            offered: 2,
            lowest_fee: 2,
        })
    );
    // A higher fee evicts k1/0, the cheapest evictable one; k0's chain stays whole.
    mp.insert(paying(&k[2], 0, 3), &state).unwrap();
    assert_eq!(mp.len(), 3);
    let taken = mp.take_ready(&state, 10);
    assert_eq!(
        taken,
        vec![
            paying(&k[0], 0, 1),
            paying(&k[0], 1, 5),
            paying(&k[2], 0, 3)
        ]
    );

    // Among equal fees the latest arrival is evicted first.
    let mut mp = Mempool::new(chain_id(), config);
    mp.insert(paying(&k[1], 0, 2), &state).unwrap();
    mp.insert(paying(&k[2], 0, 2), &state).unwrap();
    mp.insert(paying(&k[3], 0, 7), &state).unwrap();
    mp.insert(paying(&k[4], 0, 3), &state).unwrap();
    let taken = mp.take_ready(&state, 10);
    assert_eq!(
        taken,
        vec![
            paying(&k[1], 0, 2),
            paying(&k[3], 0, 7),
            paying(&k[4], 0, 3)
        ]
    );

    // A signer cannot evict its own predecessor: that would leave its transaction gapped.
    let mut mp = Mempool::new(chain_id(), config);
    mp.insert(paying(&k[0], 0, 1), &state).unwrap();
    mp.insert(paying(&k[1], 0, 9), &state).unwrap();
    mp.insert(paying(&k[2], 0, 9), &state).unwrap();
    assert!(matches!(
        mp.insert(paying(&k[0], 1, 5), &state),
        Err(MempoolError::Full { lowest_fee: 1, .. })
    ));
    // Someone else outbidding it may.
    mp.insert(paying(&k[3], 0, 2), &state).unwrap();
    assert_eq!(mp.len(), 3);
    assert!(mp
        .take_ready(&state, 10)
        .iter()
        .all(|tx| tx.signer != k[0].account()));
}

#[test]
fn has_ready_follows_admissions_removals_and_new_states() {
    let dir = tempfile::tempdir().unwrap();
    let k = keys(3);
    let to = k[2].account();
    let mut chain =
        EmbeddedChain::init(dir.path(), &genesis(&k), EmbeddedConfig::default()).unwrap();
    let mut mp = Mempool::new(chain_id(), MempoolConfig::default());
    let s0 = chain.state().clone();
    assert!(!mp.has_ready(&s0));
    mp.insert(transfer(&k[0], 1, to, 1), &s0).unwrap();
    assert!(!mp.has_ready(&s0), "a gapped transaction is not ready");
    mp.insert(transfer(&k[1], 0, to, 1), &s0).unwrap();
    assert!(mp.has_ready(&s0));
    assert_eq!(mp.take_ready(&s0, 10).len(), 1);
    assert!(!mp.has_ready(&s0));
    // Once k0's nonce 0 has executed, its nonce 1 is ready against the new state.
    chain.submit(transfer(&k[0], 0, to, 1)).unwrap();
    chain.produce_block(2_000).unwrap();
    assert!(mp.has_ready(chain.state()));
    assert!(!mp.has_ready(&s0));
}
