//! Mempool admission rules and ordering.

use deai_chain::State;
use deai_store::{
    EmbeddedChain, EmbeddedConfig, EmbeddedError, Mempool, MempoolConfig, MempoolError,
};
use deai_types::{Amount, Call, ChainId, Nonce, Tx};

use crate::common::{chain_id, genesis, keys, transfer};

fn pool(config: MempoolConfig) -> Mempool {
    Mempool::new(chain_id(), config)
}

#[test]
fn arrival_order_with_per_sender_nonce_order() {
    let k = keys(3);
    let state = State::genesis(&genesis(&k)).unwrap();
    let mut mp = pool(MempoolConfig::default());
    let to = k[2].account();
    let a1 = transfer(&k[0], 1, to, 1);
    let a0 = transfer(&k[0], 0, to, 2);
    let b0 = transfer(&k[1], 0, to, 3);
    let a3 = transfer(&k[0], 3, to, 4); // gap: nonce 2 never arrives
    let b1 = transfer(&k[1], 1, to, 5);
    for tx in [&a1, &a0, &b0, &a3, &b1] {
        mp.insert(tx.clone(), &state).unwrap();
    }
    assert_eq!(mp.len(), 5);
    // a0 is the first ready tx to have arrived (a1 waits for it), then a1 (arrived first of
    // the rest), then b0, b1; a3 waits for the missing nonce 2.
    let got = mp.take_ready(&state, 100);
    assert_eq!(got, vec![a0, a1, b0, b1]);
    assert_eq!(mp.len(), 1);
    // A size limit takes a prefix of the same order.
    let mut mp2 = pool(MempoolConfig::default());
    let c0 = transfer(&k[2], 0, to, 1);
    let c1 = transfer(&k[2], 1, to, 1);
    let d0 = transfer(&k[1], 0, to, 1);
    for tx in [&c0, &d0, &c1] {
        mp2.insert(tx.clone(), &state).unwrap();
    }
    assert_eq!(mp2.take_ready(&state, 2), vec![c0, d0]);
    assert_eq!(
        mp2.take_ready(&state, 2),
        Vec::<deai_types::SignedTx>::new()
    ); // c1 needs c0 executed
}

#[test]
fn admission_rejects_bad_transactions_with_typed_errors() {
    let k = keys(3);
    let state = State::genesis(&genesis(&k)).unwrap();
    let to = k[1].account();
    let config = MempoolConfig {
        max_txs: 4,
        max_per_sender: 2,
        max_nonce_gap: 5,
    };
    let mut mp = pool(config);

    let wrong_chain = k[0].sign_tx(Tx {
        chain_id: ChainId::new("other-chain").unwrap(),
        nonce: Nonce(0),
        fee: Amount(1),
        call: Call::Transfer {
            to,
            amount: Amount(1),
        },
    });
    assert!(matches!(
        mp.insert(wrong_chain, &state),
        Err(MempoolError::WrongChain { .. })
    ));

    let mut forged = transfer(&k[0], 0, to, 10);
    forged.tx.call = Call::Transfer {
        to,
        amount: Amount(10_000),
    };
    let err = mp.insert(forged, &state).unwrap_err();
    assert!(matches!(err, MempoolError::BadSignature { .. }), "{err}");

    assert!(matches!(
        mp.insert(transfer(&k[0], 6, to, 1), &state),
        Err(MempoolError::NonceTooFar {
            nonce: 6,
            expected: 0,
            max_gap: 5,
            ..
        })
    ));

    mp.insert(transfer(&k[0], 0, to, 1), &state).unwrap();
    assert!(matches!(
        mp.insert(transfer(&k[0], 0, to, 2), &state),
        Err(MempoolError::DuplicateNonce { nonce: 0, .. })
    ));
    mp.insert(transfer(&k[0], 1, to, 1), &state).unwrap();
    assert!(matches!(
        mp.insert(transfer(&k[0], 2, to, 1), &state),
        Err(MempoolError::SenderFull { capacity: 2, .. })
    ));
    mp.insert(transfer(&k[1], 0, to, 1), &state).unwrap();
    mp.insert(transfer(&k[1], 1, to, 1), &state).unwrap();
    assert!(matches!(
        mp.insert(transfer(&k[2], 0, to, 1), &state),
        Err(MempoolError::Full { capacity: 4, .. })
    ));
    assert_eq!(mp.len(), 4);
    // Every error message says what is accepted.
    let msg = MempoolError::StaleNonce {
        signer: "x".into(),
        nonce: 1,
        expected: 2,
    }
    .to_string();
    assert!(msg.contains("next nonce of this account is 2"), "{msg}");
}

#[test]
fn admission_rejects_fees_the_chain_would_never_charge() {
    let k = keys(2);
    let state = State::genesis(&genesis(&k)).unwrap();
    let mut mp = pool(MempoolConfig::default());
    let to = k[0].account();
    let with_fee = |from: &deai_types::Keypair, fee: u128| {
        from.sign_tx(Tx {
            chain_id: chain_id(),
            nonce: Nonce(0),
            fee: Amount(fee),
            call: Call::Transfer {
                to,
                amount: Amount(1),
            },
        })
    };
    let min = state.params().min_fee.0;
    if min > 0 {
        let err = mp.insert(with_fee(&k[1], min - 1), &state).unwrap_err();
        assert!(matches!(err, MempoolError::FeeTooLow { .. }), "{err}");
    }
    // A key the genesis never funded cannot pay any fee: refused now, not dropped later.
    let unfunded = keys(3).pop().unwrap();
    assert_eq!(state.balance_of(&unfunded.account()), Amount(0));
    let err = mp
        .insert(with_fee(&unfunded, min.max(1)), &state)
        .unwrap_err();
    assert!(
        matches!(err, MempoolError::CannotPayFee { balance: 0, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("fund the account"), "{err}");
    // More than the whole balance is refused too; the balance itself is fine.
    let all = state.balance_of(&k[1].account()).0;
    assert!(matches!(
        mp.insert(with_fee(&k[1], all + 1), &state),
        Err(MempoolError::CannotPayFee { .. })
    ));
    mp.insert(with_fee(&k[1], all), &state).unwrap();
    assert_eq!(mp.len(), 1);
}

#[test]
fn stale_nonces_are_rejected_after_a_block_and_batch_admission_matches_single() {
    let dir = tempfile::tempdir().unwrap();
    let k = keys(3);
    let to = k[1].account();
    let mut chain =
        EmbeddedChain::init(dir.path(), &genesis(&k), EmbeddedConfig::default()).unwrap();
    chain.submit(transfer(&k[0], 0, to, 5)).unwrap();
    chain.produce_block(1).unwrap();
    let err = chain.submit(transfer(&k[0], 0, to, 6)).unwrap_err();
    assert!(
        matches!(
            err,
            EmbeddedError::Rejected(MempoolError::StaleNonce {
                nonce: 0,
                expected: 1,
                ..
            })
        ),
        "{err}"
    );

    let mut bad = transfer(&k[2], 0, to, 1);
    bad.signature.0[5] ^= 1;
    let batch = vec![
        transfer(&k[0], 1, to, 1),
        bad,
        transfer(&k[0], 0, to, 1),
        transfer(&k[0], 1, to, 2),
        transfer(&k[2], 0, to, 1),
    ];
    let mut single = pool(MempoolConfig::default());
    let state = chain.state().clone();
    let one_by_one: Vec<_> = batch
        .iter()
        .map(|t| single.insert(t.clone(), &state))
        .collect();
    let batched = chain.submit_batch(batch);
    assert_eq!(batched, one_by_one);
    assert!(batched[0].is_ok() && batched[4].is_ok());
    assert!(matches!(batched[1], Err(MempoolError::BadSignature { .. })));
    assert!(matches!(batched[2], Err(MempoolError::StaleNonce { .. })));
    assert!(matches!(
        batched[3],
        Err(MempoolError::DuplicateNonce { .. })
    ));
    let p = chain.produce_block(2).unwrap();
    assert_eq!(p.block.txs.len(), 2);
}
