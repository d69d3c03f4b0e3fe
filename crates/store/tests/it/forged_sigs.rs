//! Mempool admission rejects forged signatures from small-order keys, through every
//! public path: `SigVerifier`, `Mempool::insert`, `Mempool::insert_batch`, `VerifiedBatch` and
//! `EmbeddedChain::submit`/`submit_batch`, cold and with the key cache warm.

use deai_chain::{GenesisConfig, State};
use deai_store::{
    EmbeddedChain, EmbeddedConfig, EmbeddedError, Mempool, MempoolConfig, MempoolError,
    SigVerifier, VerifiedBatch,
};
use deai_types::crypto::{NON_CANONICAL_SMALL_ORDER_ENCODINGS, SMALL_ORDER_ENCODINGS};
use deai_types::{AccountId, Amount, Call, Nonce, SigError, Signature, SignedTx, Tx};

use crate::common::{chain_id, keys, transfer, BALANCE};

/// A genesis funding the honest keys and every small-order account (canonical or not).
fn genesis_with_small_order(honest: &[deai_types::Keypair]) -> GenesisConfig {
    let small_order = SMALL_ORDER_ENCODINGS
        .iter()
        .chain(&NON_CANONICAL_SMALL_ORDER_ENCODINGS)
        .map(|a| AccountId(*a));
    GenesisConfig::funded(
        chain_id(),
        honest
            .iter()
            .map(deai_types::Keypair::account)
            .chain(small_order),
        Amount(BALANCE),
    )
    .with_time_ms(1_000)
}

/// A transfer from `from` to `to` with signature `R || 0`.
fn forged(from: [u8; 32], r: [u8; 32], nonce: u64, to: AccountId) -> SignedTx {
    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(&r);
    SignedTx {
        tx: Tx {
            chain_id: chain_id(),
            nonce: Nonce(nonce),
            fee: Amount(1),
            call: Call::Transfer {
                to,
                amount: Amount(BALANCE / 2),
            },
        },
        signer: AccountId(from),
        signature: Signature(signature),
    }
}

/// Every small-order key (canonical and not) with every small-order `R` and `s = 0`.
fn all_forgeries(to: AccountId) -> Vec<SignedTx> {
    let mut out = Vec::new();
    for a in SMALL_ORDER_ENCODINGS
        .iter()
        .chain(&NON_CANONICAL_SMALL_ORDER_ENCODINGS)
    {
        for (n, r) in SMALL_ORDER_ENCODINGS.iter().enumerate() {
            out.push(forged(*a, *r, n as u64, to));
        }
    }
    out
}

#[test]
fn identity_key_forgery_is_refused_by_insert_and_submit() {
    let k = keys(2);
    let cfg = genesis_with_small_order(&k);
    let state = State::genesis(&cfg).unwrap();
    let identity = SMALL_ORDER_ENCODINGS[0];
    let stx = forged(identity, identity, 0, k[1].account());
    assert_eq!(stx.verify(), Err(SigError::WeakKey));

    let mut mp = Mempool::new(chain_id(), MempoolConfig::default());
    let err = mp.insert(stx.clone(), &state).unwrap_err();
    assert!(matches!(err, MempoolError::BadSignature { .. }), "{err}");
    assert!(mp.is_empty());

    let dir = tempfile::tempdir().unwrap();
    let mut chain = EmbeddedChain::init(dir.path(), &cfg, EmbeddedConfig::default()).unwrap();
    let err = chain.submit(stx.clone()).unwrap_err();
    assert!(
        matches!(
            err,
            EmbeddedError::Rejected(MempoolError::BadSignature { .. })
        ),
        "{err}"
    );
    let res = chain.submit_batch(vec![stx]);
    assert!(matches!(res[..], [Err(MempoolError::BadSignature { .. })]));
    // Nothing reaches a block: the small-order account keeps its balance.
    let produced = chain.produce_block(2_000).unwrap();
    assert!(produced.block.txs.is_empty());
    assert_eq!(
        chain.state().balance_of(&AccountId(identity)),
        Amount(BALANCE)
    );
}

#[test]
fn every_small_order_forgery_is_refused_in_batches_cold_and_cached() {
    let k = keys(3);
    let cfg = genesis_with_small_order(&k);
    let state = State::genesis(&cfg).unwrap();
    let forgeries = all_forgeries(k[2].account());
    // Honest transfers interleaved, so the forgeries sit inside batches that otherwise pass.
    let mut txs = Vec::new();
    for (n, f) in forgeries.iter().enumerate() {
        txs.push(transfer(&k[n % 2], (n / 2) as u64, k[2].account(), 1));
        txs.push(f.clone());
    }
    let want: Vec<bool> = txs.iter().map(|t| t.verify().is_ok()).collect();
    assert_eq!(want.iter().filter(|b| **b).count(), forgeries.len());

    for v in [SigVerifier::default(), SigVerifier::new(3)] {
        assert_eq!(v.verify(&txs), want, "cold cache");
        assert_eq!(v.verify(&txs), want, "warm cache");
        assert_eq!(v.verify(&forgeries), vec![false; forgeries.len()]);
        let batch = VerifiedBatch::new(forgeries.clone(), &v);
        let mut mp = Mempool::new(chain_id(), MempoolConfig::default());
        for r in mp.insert_verified(batch, &state) {
            assert!(matches!(r, Err(MempoolError::BadSignature { .. })), "{r:?}");
        }
        assert!(mp.is_empty());
    }

    let mut mp = Mempool::new(chain_id(), MempoolConfig::default());
    let results = mp.insert_batch(txs.clone(), &state);
    for ((r, ok), tx) in results.iter().zip(&want).zip(&txs) {
        if *ok {
            assert!(r.is_ok(), "{r:?}");
        } else {
            assert!(
                matches!(r, Err(MempoolError::BadSignature { .. })),
                "{:?}: {r:?}",
                tx.signer
            );
        }
    }
    assert_eq!(mp.len(), forgeries.len());
    for f in forgeries {
        let err = mp.insert(f, &state).unwrap_err();
        assert!(matches!(err, MempoolError::BadSignature { .. }), "{err}");
    }
}
