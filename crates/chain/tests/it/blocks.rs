//! Block production and verification: replay, rejection of bad blocks without side effects,
//! signature handling, determinism.

use deai_chain::*;
use deai_types::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::common::*;

/// A seeded workload of transfers, stakes and delegations, in blocks of `per_block`.
fn workload(seed: u64, blocks: usize, per_block: usize) -> (Vec<Block>, Vec<Hash32>, State) {
    let mut env = Env::new();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut roots = Vec::new();
    let mut out = Vec::new();
    for _ in 0..blocks {
        let mut nonces: Vec<u64> = (0..env.keys.len())
            .map(|i| env.state.nonce_of(&env.id(i)).0)
            .collect();
        let txs: Vec<SignedTx> = (0..per_block)
            .map(|_| {
                let i = rng.gen_range(0..env.keys.len());
                let j = rng.gen_range(0..env.keys.len());
                let amount = Amount(rng.gen_range(1..1_000));
                let call = match rng.gen_range(0..4) {
                    0 => Call::Stake { amount },
                    1 => Call::Delegate {
                        hotkey: env.id(j),
                        amount,
                    },
                    _ => Call::Transfer {
                        to: env.id(j),
                        amount,
                    },
                };
                let tx = Tx {
                    chain_id: env.state.chain_id().clone(),
                    nonce: Nonce(nonces[i]),
                    fee: Amount(FEE),
                    call,
                };
                nonces[i] += 1;
                env.keys[i].sign_tx(tx)
            })
            .collect();
        let ts = env.head.timestamp_ms + 500;
        let (b, _) = build_block(&mut env.state, &env.head, ts, txs);
        env.head = b.header.clone();
        roots.push(b.header.state_root);
        out.push(b);
    }
    (out, roots, env.state)
}

#[test]
fn determinism_same_transactions_same_roots_in_two_runs() {
    let (b1, r1, s1) = workload(7, 8, 40);
    let (b2, r2, s2) = workload(7, 8, 40);
    assert_eq!(r1, r2);
    assert_eq!(b1, b2);
    assert_eq!(s1.root(), s2.root());
    // A different seed diverges (the check above is not vacuous).
    let (_, r3, _) = workload(8, 8, 40);
    assert_ne!(r1, r3);
}

#[test]
fn a_replica_applying_the_blocks_reaches_every_root() {
    let (blocks, roots, state) = workload(1, 6, 30);
    let mut replica = Env::new().state;
    let mut parent = genesis_header(&replica);
    for (b, root) in blocks.iter().zip(&roots) {
        assert_eq!(b.header.parent_hash, parent.hash());
        apply_block(&mut replica, b).unwrap();
        assert_eq!(&replica.root(), root);
        parent = b.header.clone();
    }
    assert_eq!(replica, state);
}

#[test]
fn bad_blocks_are_refused_and_leave_the_state_unchanged() {
    let (blocks, _, _) = workload(3, 2, 20);
    let fresh = Env::new().state;
    let check = |mutate: &dyn Fn(&mut Block), want: &dyn Fn(&BlockError) -> bool| {
        let mut s = fresh.clone();
        let mut b = blocks[0].clone();
        mutate(&mut b);
        let err = apply_block(&mut s, &b).unwrap_err();
        assert!(want(&err), "unexpected {err:?}");
        assert_eq!(s, fresh, "state changed by a refused block ({err})");
        assert!(!err.to_string().is_empty());
    };
    check(&|b| b.header.height = Height(2), &|e| {
        matches!(e, BlockError::WrongHeight { .. })
    });
    check(&|b| b.txs.pop().map(drop).unwrap_or(()), &|e| {
        matches!(e, BlockError::TxRoot { .. })
    });
    check(&|b| b.header.state_root = Hash32::ZERO, &|e| {
        matches!(e, BlockError::StateRoot { .. })
    });
    check(
        &|b| {
            b.txs[3].signature.0[1] ^= 1;
            b.header.tx_root = tx_root(&b.txs);
        },
        &|e| {
            matches!(
                e,
                BlockError::RejectedTx {
                    index: 3,
                    error: TxError::BadSignature
                }
            )
        },
    );
    check(
        &|b| {
            let dup = b.txs[0].clone();
            b.txs.push(dup); // a replay inside the block
            b.header.tx_root = tx_root(&b.txs);
        },
        &|e| {
            matches!(
                e,
                BlockError::RejectedTx {
                    error: TxError::BadNonce { .. },
                    ..
                }
            )
        },
    );
    // Timestamp before the previous block's.
    let mut s = fresh.clone();
    apply_block(&mut s, &blocks[0]).unwrap();
    let after_first = s.clone();
    let mut b = blocks[1].clone();
    b.header.timestamp_ms = blocks[0].header.timestamp_ms - 1;
    assert!(matches!(
        apply_block(&mut s, &b),
        Err(BlockError::TimestampBackwards { .. })
    ));
    assert_eq!(s, after_first);
}

#[test]
fn the_producer_drops_bad_signatures_and_keeps_the_rest() {
    let mut env = Env::new();
    let to = env.id(2);
    let mut txs: Vec<SignedTx> = (0..150)
        .map(|n| {
            env.keys[1].sign_tx(Tx {
                chain_id: env.state.chain_id().clone(),
                nonce: Nonce(n),
                fee: Amount(FEE),
                call: Call::Transfer {
                    to,
                    amount: Amount(1),
                },
            })
        })
        .collect();
    // Forge a signature in the middle: it and every later tx of the signer (nonce gap) drop.
    txs[100].signature.0[7] ^= 0x40;
    let (block, outcomes) = build_block(&mut env.state, &env.head, 1000, txs);
    assert_eq!(block.txs.len(), 100);
    assert!(outcomes.iter().all(Result::is_ok));
    assert_eq!(env.state.nonce_of(&env.id(1)), Nonce(100));
    // The block verifies on a replica.
    let mut replica = Env::new().state;
    apply_block(&mut replica, &block).unwrap();
    assert_eq!(replica.root(), block.header.state_root);
}

#[test]
fn execute_block_reports_rejections_and_end_of_block_events() {
    let mut env = Env::new();
    env.ok(
        1,
        Call::Stake {
            amount: Amount(100),
        },
    );
    env.ok(
        1,
        Call::GovPropose {
            change: ParamChange::MinFee(Amount(2)),
        },
    ); // h2, ends 5
    env.ok(
        1,
        Call::GovVote {
            proposal: ProposalId(0),
            approve: true,
        },
    );
    env.goto(5);
    let good = env.sign(2, Call::Withdraw);
    let mut bad = env.sign(3, Call::Withdraw);
    bad.signature.0[0] ^= 1;
    let ctx = env.ctx();
    let (outcomes, events) = execute_block(&mut env.state, &ctx, &[good, bad], &[false, false]);
    assert_eq!(outcomes[0], Err(TxError::BadSignature)); // the caller's verdict is trusted
    assert_eq!(outcomes[1], Err(TxError::BadSignature));
    assert_eq!(
        events,
        vec![Event::Tallied {
            proposal: ProposalId(0),
            yes: Amount(100),
            no: Amount(0),
            passed: true,
        }]
    );
}
