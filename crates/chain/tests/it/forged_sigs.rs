//! Block execution rejects forged signatures from small-order keys.
//!
//! Every key below is one of the eight small-order points, funded at genesis. With the
//! signature `R = identity, s = 0` (or any small-order `R`), the cofactorless single check the
//! ledger used before accepted some of these for every message, so anyone could spend what was
//! sent to such an account. Every execution path must now refuse them: a single transaction
//! ([`apply_tx`]), a block being built ([`build_block`]) and a block produced by someone else
//! ([`apply_block`], including one whose producer skipped verification).

use deai_chain::*;
use deai_types::crypto::SMALL_ORDER_ENCODINGS;
use deai_types::*;

use crate::common::FUND;

/// A genesis state funding the eight small-order accounts and one honest key.
fn funded(honest: &Keypair) -> State {
    let accounts = SMALL_ORDER_ENCODINGS
        .iter()
        .map(|a| AccountId(*a))
        .chain([honest.account()]);
    State::genesis(&GenesisConfig::funded(
        ChainId::new("deai-test").unwrap(),
        accounts,
        Amount(FUND),
    ))
    .unwrap()
}

/// A transfer of everything from the small-order account `from` to `to`, "signed" with `R`
/// and `s = 0`.
fn forged(state: &State, from: [u8; 32], r: [u8; 32], to: AccountId) -> SignedTx {
    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(&r);
    SignedTx {
        tx: Tx {
            chain_id: state.chain_id().clone(),
            nonce: state.nonce_of(&AccountId(from)),
            fee: state.params().min_fee,
            call: Call::Transfer {
                to,
                amount: Amount(FUND / 2),
            },
        },
        signer: AccountId(from),
        signature: Signature(signature),
    }
}

#[test]
fn the_identity_key_with_identity_r_and_zero_s_cannot_spend() {
    let thief = Keypair::from_seed([42; 32]);
    let mut state = funded(&thief);
    let head = genesis_header(&state);
    let identity = SMALL_ORDER_ENCODINGS[0];
    let stx = forged(&state, identity, identity, thief.account());
    assert_eq!(stx.verify(), Err(SigError::WeakKey));

    // One transaction.
    let ctx = BlockCtx::child_of(&head, 1_000);
    let mut s = state.clone();
    assert_eq!(apply_tx(&mut s, &stx, &ctx), Err(TxError::BadSignature));
    assert_eq!(s.root(), state.root());

    // A block being built drops it.
    let mut s = state.clone();
    let (block, outcomes) = build_block(&mut s, &head, 1_000, vec![stx.clone()]);
    assert!(block.txs.is_empty() && outcomes.is_empty());
    assert_eq!(s.balance_of(&AccountId(identity)), Amount(FUND));

    // A block from a producer that skipped verification is refused whole.
    let mut producer = state.clone();
    let (bad_block, _) = build_block_preverified(&mut producer, &head, 1_000, vec![stx]);
    assert_eq!(
        bad_block.txs.len(),
        1,
        "the unverified producer includes it"
    );
    let before = state.root();
    assert_eq!(
        apply_block(&mut state, &bad_block),
        Err(BlockError::RejectedTx {
            index: 0,
            error: TxError::BadSignature
        })
    );
    assert_eq!(
        state.root(),
        before,
        "a refused block leaves the state unchanged"
    );
    assert_eq!(state.balance_of(&thief.account()), Amount(FUND));
}

#[test]
fn no_small_order_key_can_spend_with_any_small_order_r() {
    let thief = Keypair::from_seed([43; 32]);
    let state = funded(&thief);
    let head = genesis_header(&state);
    let ctx = BlockCtx::child_of(&head, 1_000);
    for (i, a) in SMALL_ORDER_ENCODINGS.iter().enumerate() {
        let mut txs = Vec::new();
        for r in SMALL_ORDER_ENCODINGS {
            let stx = forged(&state, *a, r, thief.account());
            let mut s = state.clone();
            assert_eq!(
                apply_tx(&mut s, &stx, &ctx),
                Err(TxError::BadSignature),
                "key #{i}"
            );
            txs.push(stx);
        }
        // All eight in one block, among honest transfers: only the honest ones are included.
        let honest: Vec<SignedTx> = (0..3u64)
            .map(|n| {
                thief.sign_tx(Tx {
                    chain_id: state.chain_id().clone(),
                    nonce: Nonce(n),
                    fee: state.params().min_fee,
                    call: Call::Transfer {
                        to: AccountId(*a),
                        amount: Amount(1),
                    },
                })
            })
            .collect();
        let mut all = honest.clone();
        all.extend(txs.iter().cloned());
        let mut s = state.clone();
        let (block, _) = build_block(&mut s, &head, 1_000, all);
        assert_eq!(block.txs, honest, "key #{i}");
        assert_eq!(s.balance_of(&AccountId(*a)), Amount(FUND + 3), "key #{i}");

        // The same block with each forgery slipped in (by a producer that does not verify)
        // is refused at the forgery's index.
        for (j, stx) in txs.iter().enumerate() {
            let mut producer = state.clone();
            let (bad, _) = build_block_preverified(&mut producer, &head, 1_000, vec![stx.clone()]);
            let mut s = state.clone();
            assert_eq!(
                apply_block(&mut s, &bad),
                Err(BlockError::RejectedTx {
                    index: 0,
                    error: TxError::BadSignature
                }),
                "key #{i}, R #{j}"
            );
        }
    }
}
