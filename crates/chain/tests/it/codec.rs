//! Canonical encoding of the chain's own types: round trips, random and mutated bytes.

use deai_chain::*;
use deai_types::*;
use proptest::prelude::*;

use crate::common::*;

/// A state with every collection non-empty.
fn rich_state() -> State {
    let mut env = Env::new();
    let task = env.task(0, |_| {});
    let h = env.id(1);
    env.ok(
        1,
        Call::Register {
            task,
            role: Role::Miner,
        },
    ); // h2
    let k = key(&env, task, 0, CommitKind::Update, 1);
    env.ok(
        1,
        Call::Commit {
            task,
            round: Round(0),
            kind: CommitKind::Update,
            hash: commitment_hash(&k, b"p"),
        },
    ); // h3, inside [2, 6)
    env.ok(
        1,
        Call::Stake {
            amount: Amount(1000),
        },
    );
    env.ok(
        2,
        Call::Delegate {
            hotkey: h,
            amount: Amount(10),
        },
    );
    env.ok(
        1,
        Call::SetTake {
            take: Fixed::from_bps(100),
        },
    );
    assert!(env
        .exec(
            1,
            Call::Register {
                task,
                role: Role::Miner
            }
        )
        .is_err());
    env.ok(
        2,
        Call::Undelegate {
            hotkey: h,
            amount: Amount(4),
        },
    );
    env.ok(
        1,
        Call::GovPropose {
            change: ParamChange::MinFee(Amount(1)),
        },
    );
    env.ok(
        1,
        Call::GovVote {
            proposal: ProposalId(0),
            approve: true,
        },
    );
    env.state
}

#[test]
fn state_round_trips_and_its_root_is_stable() {
    let s = rich_state();
    let m = mirror(&s);
    assert!(!m.offences.is_empty() && !m.votes.is_empty() && !m.unbonding.is_empty());
    assert!(!m.commitments.is_empty() && !m.gov_queue.is_empty() && !m.uids.is_empty());
    let bytes = encode(&s);
    let back: State = decode(&bytes).unwrap();
    assert_eq!(back, s);
    assert_eq!(back.root(), s.root());
    assert_eq!(encode(&back), bytes);
    assert_eq!(s.root(), Hash32::tagged(b"deai/state/v1", &[&bytes]));
    // Truncated or extended encodings are refused.
    assert!(decode::<State>(&bytes[..bytes.len() - 1]).is_err());
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(decode::<State>(&longer).is_err());
}

#[test]
fn genesis_config_json_round_trips_and_rejects_unknown_fields() {
    let cfg = GenesisConfig {
        chain_id: ChainId::new("deai-dev").unwrap(),
        genesis_time_ms: 5,
        accounts: vec![(AccountId([1; 32]), Amount(10))],
        stakes: vec![(AccountId([2; 32]), Amount(7))],
        params: Params::default(),
    };
    let json = serde_json::to_string_pretty(&cfg).unwrap();
    assert_eq!(serde_json::from_str::<GenesisConfig>(&json).unwrap(), cfg);
    assert_eq!(decode::<GenesisConfig>(&encode(&cfg)).unwrap(), cfg);
    let bad = json.replacen("\"accounts\"", "\"acounts\"", 1);
    let err = serde_json::from_str::<GenesisConfig>(&bad)
        .unwrap_err()
        .to_string();
    assert!(err.contains("acounts"), "{err}");
    let s = State::genesis(&cfg).unwrap();
    assert_eq!(s.total_supply(), Amount(17));
    assert_eq!(s.hotkey_stake(&AccountId([2; 32])), Amount(7));
    s.check_invariants().unwrap();
    let dup = GenesisConfig {
        accounts: vec![cfg.accounts[0]; 2],
        ..cfg.clone()
    };
    assert!(matches!(
        State::genesis(&dup),
        Err(ChainError::DuplicateAccount { .. })
    ));
    let zero = GenesisConfig {
        accounts: vec![(AccountId([1; 32]), Amount(0))],
        ..cfg.clone()
    };
    assert!(matches!(
        State::genesis(&zero),
        Err(ChainError::ZeroAmount { .. })
    ));
    let over = GenesisConfig {
        accounts: vec![
            (AccountId([1; 32]), Amount::MAX),
            (AccountId([3; 32]), Amount(1)),
        ],
        ..cfg
    };
    assert!(matches!(
        State::genesis(&over),
        Err(ChainError::SupplyOverflow)
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..800)) {
        for_each_type(&bytes);
    }

    #[test]
    fn mutated_state_encodings_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = encode(&rich_state_cached());
        for (i, v) in edits {
            let i = i.index(bytes.len());
            bytes[i] = v;
        }
        for_each_type(&bytes);
        let n = cut.index(bytes.len());
        for_each_type(&bytes[..n]);
    }
}

fn rich_state_cached() -> State {
    use std::sync::OnceLock;
    static S: OnceLock<State> = OnceLock::new();
    S.get_or_init(rich_state).clone()
}

/// Decoding never panics, and what decodes re-encodes to the same bytes (canonical).
fn for_each_type(bytes: &[u8]) {
    fn one<T: borsh::BorshSerialize + borsh::BorshDeserialize>(bytes: &[u8]) {
        if let Ok(v) = decode::<T>(bytes) {
            assert_eq!(encode(&v), bytes);
        }
    }
    one::<State>(bytes);
    one::<Receipt>(bytes);
    one::<TxError>(bytes);
    one::<GenesisConfig>(bytes);
    one::<Block>(bytes);
    one::<SignedTx>(bytes);
    one::<Tx>(bytes);
    if let Ok(s) = decode::<State>(bytes) {
        // Whatever decodes has a root; invariants may fail for forged states, never panic.
        let _ = s.root();
        let _ = s.check_invariants();
    }
}
