//! Fuzzing of every decoder in deai-types, and of signature verification, with proptest: no
//! input panics, whatever decodes is canonical, and the batch verifier agrees with the single
//! one on arbitrary key and signature bytes.
//!
//! The default run is short (`FUZZ_CASES` cases each); `PROPTEST_CASES=100000 cargo test
//! --release -p deai-types --test it fuzz` runs longer (see `docs/fuzzing.md`).

use borsh::{BorshDeserialize, BorshSerialize};
use deai_types::crypto::{NON_CANONICAL_SMALL_ORDER_ENCODINGS, SMALL_ORDER_ENCODINGS};
use deai_types::*;
use proptest::prelude::*;

/// Cases per property in the default suite, unless `PROPTEST_CASES` says otherwise.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

/// `decode::<T>` on `bytes` returns (never panics) and only accepts canonical bytes.
fn decodes_canonically_or_errs<T: BorshSerialize + BorshDeserialize>(bytes: &[u8]) {
    if let Ok(v) = decode::<T>(bytes) {
        assert_eq!(encode(&v), bytes, "non-canonical bytes accepted");
    }
}

/// Every borsh type of the crate.
fn decode_all(bytes: &[u8]) {
    decodes_canonically_or_errs::<Header>(bytes);
    decodes_canonically_or_errs::<Block>(bytes);
    decodes_canonically_or_errs::<Tx>(bytes);
    decodes_canonically_or_errs::<SignedTx>(bytes);
    decodes_canonically_or_errs::<Call>(bytes);
    decodes_canonically_or_errs::<Signature>(bytes);
    decodes_canonically_or_errs::<Hash32>(bytes);
    decodes_canonically_or_errs::<AccountId>(bytes);
    decodes_canonically_or_errs::<Amount>(bytes);
    decodes_canonically_or_errs::<Fixed>(bytes);
    decodes_canonically_or_errs::<ChainId>(bytes);
    decodes_canonically_or_errs::<Params>(bytes);
    decodes_canonically_or_errs::<ParamChange>(bytes);
    decodes_canonically_or_errs::<TaskSpec>(bytes);
    decodes_canonically_or_errs::<PhaseWindow>(bytes);
    decodes_canonically_or_errs::<Window>(bytes);
    decodes_canonically_or_errs::<CommitKey>(bytes);
    decodes_canonically_or_errs::<CommitKind>(bytes);
    decodes_canonically_or_errs::<Evidence>(bytes);
    decodes_canonically_or_errs::<OffenceKind>(bytes);
    decodes_canonically_or_errs::<SlashDestination>(bytes);
    decodes_canonically_or_errs::<Mechanism>(bytes);
    decodes_canonically_or_errs::<Role>(bytes);
    decodes_canonically_or_errs::<UpdatePreimage>(bytes);
    decodes_canonically_or_errs::<WeightsPreimage>(bytes);
    decodes_canonically_or_errs::<VotePreimage>(bytes);
    decodes_canonically_or_errs::<Vec<SignedTx>>(bytes);
}

/// Every text parser of the crate (hex ids, amounts, fixed point, chain ids, JSON).
fn parse_all(text: &str) {
    let _ = text.parse::<Hash32>();
    let _ = text.parse::<AccountId>();
    let _ = text.parse::<Signature>();
    let _ = text.parse::<Amount>();
    let _ = text.parse::<Fixed>();
    let _ = text.parse::<ChainId>();
    let _ = text.parse::<Height>();
    let _ = text.parse::<Uid>();
    let _ = ChainId::new(text);
    let _ = serde_json::from_str::<SignedTx>(text);
    let _ = serde_json::from_str::<Block>(text);
    let _ = serde_json::from_str::<Params>(text);
    let _ = serde_json::from_str::<TaskSpec>(text);
    let _ = serde_json::from_str::<Fixed>(text);
    let _ = serde_json::from_str::<ChainId>(text);
}

/// A valid signed transaction whose encoding the byte-level strategies mutate.
fn sample_block() -> Vec<u8> {
    let k = Keypair::from_seed([1; 32]);
    let txs: Vec<SignedTx> = (0..3)
        .map(|n| {
            k.sign_tx(Tx {
                chain_id: ChainId::new("fuzz").unwrap(),
                nonce: Nonce(n),
                fee: Amount(1),
                call: Call::Transfer {
                    to: k.account(),
                    amount: Amount(5),
                },
            })
        })
        .collect();
    encode(&Block {
        header: Header {
            height: Height(1),
            parent_hash: Hash32([0; 32]),
            timestamp_ms: 1,
            tx_root: tx_root(&txs),
            state_root: Hash32([0; 32]),
        },
        txs,
    })
}

/// Key or `R` bytes biased towards the interesting ones: small-order points in every encoding,
/// a real key, and arbitrary bytes.
fn point_bytes() -> impl Strategy<Value = [u8; 32]> {
    let mut special: Vec<[u8; 32]> = SMALL_ORDER_ENCODINGS.to_vec();
    special.extend(NON_CANONICAL_SMALL_ORDER_ENCODINGS);
    special.push(Keypair::from_seed([2; 32]).account().0);
    prop_oneof![prop::sample::select(special), any::<[u8; 32]>(),]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn fuzz_every_decoder_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        decode_all(&bytes);
    }

    #[test]
    fn fuzz_every_decoder_on_mutated_blocks(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut b = sample_block();
        for (i, byte) in edits {
            let at = i.index(b.len());
            b[at] = byte;
        }
        decode_all(&b);
        decode_all(&b[..cut.index(b.len())]);
    }

    #[test]
    fn fuzz_every_text_parser(text in ".{0,80}", hexish in "[0-9a-fA-Fx]{0,130}") {
        parse_all(&text);
        parse_all(&hexish);
    }

    /// Arbitrary signer and signature bytes: verification never panics, and every batch path
    /// gives the single verdict, wherever the transaction sits.
    #[test]
    fn fuzz_signature_verification(
        signer in point_bytes(),
        r in point_bytes(),
        s in prop_oneof![Just([0u8; 32]), any::<[u8; 32]>()],
        at in 0usize..5,
    ) {
        let k = Keypair::from_seed([3; 32]);
        let tx = |n: u64| Tx {
            chain_id: ChainId::new("fuzz").unwrap(),
            nonce: Nonce(n),
            fee: Amount(1),
            call: Call::Withdraw,
        };
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&r);
        sig[32..].copy_from_slice(&s);
        let odd = SignedTx { tx: tx(99), signer: AccountId(signer), signature: Signature(sig) };
        let single = odd.verify();
        if SMALL_ORDER_ENCODINGS.contains(&signer) {
            prop_assert_eq!(single, Err(SigError::WeakKey));
        }
        if NON_CANONICAL_SMALL_ORDER_ENCODINGS.contains(&signer) {
            prop_assert_eq!(single, Err(SigError::BadKey));
        }
        let mut txs: Vec<SignedTx> = (0..4).map(|n| k.sign_tx(tx(n))).collect();
        txs.insert(at, odd);
        let want: Vec<bool> = txs.iter().map(|t| t.verify().is_ok()).collect();
        prop_assert_eq!(verify_batch(&txs), want.clone());
        let keys: Vec<_> = txs.iter().map(|t| ValidKey::parse(&t.signer)).collect();
        prop_assert_eq!(verify_batch_with_keys(&txs, &keys), want);
    }
}
