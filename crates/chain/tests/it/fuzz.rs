//! Fuzzing of the chain's decoders — the ones the store runs on its on-disk bytes (`State`,
//! `GenesisConfig`) and every other borsh type of the crate — with proptest: no input panics,
//! and whatever decodes re-encodes to the same bytes.
//!
//! `PROPTEST_CASES=100000 cargo test --release -p deai-chain --test it fuzz` runs longer (see
//! `docs/fuzzing.md`).

use borsh::{BorshDeserialize, BorshSerialize};
use deai_chain::*;
use deai_types::{decode, encode};
use proptest::prelude::*;

use crate::common::Env;

/// Cases per property in the default suite, unless `PROPTEST_CASES` says otherwise.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn decodes_canonically_or_errs<T: BorshSerialize + BorshDeserialize>(bytes: &[u8]) {
    if let Ok(v) = decode::<T>(bytes) {
        assert_eq!(encode(&v), bytes, "non-canonical bytes accepted");
    }
}

fn decode_all(bytes: &[u8]) {
    decodes_canonically_or_errs::<State>(bytes);
    decodes_canonically_or_errs::<GenesisConfig>(bytes);
    decodes_canonically_or_errs::<Receipt>(bytes);
    decodes_canonically_or_errs::<Event>(bytes);
    decodes_canonically_or_errs::<BlockCtx>(bytes);
    decodes_canonically_or_errs::<Account>(bytes);
    decodes_canonically_or_errs::<Task>(bytes);
    decodes_canonically_or_errs::<Commitment>(bytes);
    decodes_canonically_or_errs::<Proposal>(bytes);
    decodes_canonically_or_errs::<Offence>(bytes);
    decodes_canonically_or_errs::<EpochRecord>(bytes);
    decodes_canonically_or_errs::<PvRoundRecord>(bytes);
}

/// The encoding of a state with accounts, a task and registrations, to mutate.
fn sample_state() -> Vec<u8> {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES
        .get_or_init(|| {
            let mut env = Env::new();
            env.block(vec![]);
            encode(&env.state)
        })
        .clone()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn fuzz_chain_decoders_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        decode_all(&bytes);
    }

    #[test]
    fn fuzz_state_decoder_on_mutated_states(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut b = sample_state();
        for (i, byte) in edits {
            let at = i.index(b.len());
            b[at] = byte;
        }
        decodes_canonically_or_errs::<State>(&b);
        decodes_canonically_or_errs::<State>(&b[..cut.index(b.len())]);
    }
}
