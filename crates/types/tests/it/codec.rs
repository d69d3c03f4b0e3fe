use deai_types::*;
use proptest::prelude::*;

fn arb_hash() -> impl Strategy<Value = Hash32> {
    any::<[u8; 32]>().prop_map(Hash32)
}
fn arb_account() -> impl Strategy<Value = AccountId> {
    any::<[u8; 32]>().prop_map(AccountId)
}
fn arb_amount() -> impl Strategy<Value = Amount> {
    prop_oneof![any::<u128>(), 0u128..1000].prop_map(Amount)
}
fn arb_fixed() -> impl Strategy<Value = Fixed> {
    any::<i64>().prop_map(Fixed::from_bits)
}
fn arb_kind() -> impl Strategy<Value = CommitKind> {
    prop_oneof![
        Just(CommitKind::Update),
        Just(CommitKind::Weights),
        Just(CommitKind::Vote),
        Just(CommitKind::Verdict)
    ]
}
fn arb_window() -> impl Strategy<Value = Window> {
    (any::<u64>(), any::<u64>()).prop_map(|(start, end)| Window { start, end })
}
fn arb_spec() -> impl Strategy<Value = TaskSpec> {
    (
        (arb_hash(), arb_hash(), arb_hash(), arb_amount()),
        (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()),
        prop::collection::vec(
            (arb_kind(), arb_window(), arb_window()).prop_map(|(kind, commit, reveal)| {
                PhaseWindow {
                    kind,
                    commit,
                    reveal,
                }
            }),
            0..3,
        ),
        ("[a-z]{0,40}", arb_amount(), any::<u16>(), any::<bool>()),
        arb_fixed(),
    )
        .prop_map(
            |(
                (model, dataset, eval, reward),
                (start_delay, round_blocks, rounds, epoch_rounds),
                windows,
                (aggregation, min_stake, max_uids, yuma),
                miner_share,
            )| TaskSpec {
                model,
                dataset,
                eval,
                reward,
                start_delay,
                round_blocks,
                rounds,
                epoch_rounds,
                windows,
                aggregation,
                min_stake,
                max_uids,
                mechanism: if yuma {
                    Mechanism::Yuma
                } else {
                    Mechanism::ProposerVoter
                },
                miner_share,
            },
        )
}
fn arb_key() -> impl Strategy<Value = CommitKey> {
    (any::<u64>(), any::<u64>(), arb_kind(), arb_account()).prop_map(|(t, r, kind, account)| {
        CommitKey {
            task: TaskId(t),
            round: Round(r),
            kind,
            account,
        }
    })
}
fn arb_evidence() -> impl Strategy<Value = Evidence> {
    prop_oneof![
        arb_key().prop_map(Evidence::MissedReveal),
        arb_key().prop_map(Evidence::RevealMismatch),
        any::<u64>().prop_map(|i| Evidence::Offence(OffenceId(i))),
    ]
}
fn arb_change() -> impl Strategy<Value = ParamChange> {
    prop_oneof![
        arb_amount().prop_map(ParamChange::MinFee),
        any::<u64>().prop_map(ParamChange::UnbondingBlocks),
        any::<u16>().prop_map(ParamChange::MaxUidsPerTask),
        arb_fixed().prop_map(ParamChange::GovQuorum),
        arb_fixed().prop_map(|fraction| ParamChange::SlashFraction {
            offence: OffenceKind::MissedReveal,
            fraction
        }),
        Just(ParamChange::SlashDestination(SlashDestination::Burn)),
    ]
}
pub fn arb_call() -> impl Strategy<Value = Call> {
    prop_oneof![
        (arb_account(), arb_amount()).prop_map(|(to, amount)| Call::Transfer { to, amount }),
        arb_amount().prop_map(|amount| Call::Stake { amount }),
        arb_amount().prop_map(|amount| Call::Unstake { amount }),
        (arb_account(), arb_amount())
            .prop_map(|(hotkey, amount)| Call::Delegate { hotkey, amount }),
        (arb_account(), arb_amount())
            .prop_map(|(hotkey, amount)| Call::Undelegate { hotkey, amount }),
        Just(Call::Withdraw),
        arb_fixed().prop_map(|take| Call::SetTake { take }),
        (any::<u64>(), any::<bool>()).prop_map(|(t, m)| Call::Register {
            task: TaskId(t),
            role: if m { Role::Miner } else { Role::Validator }
        }),
        arb_spec().prop_map(Call::ProposeTask),
        (any::<u64>(), any::<u64>(), arb_kind(), arb_hash()).prop_map(|(t, r, kind, hash)| {
            Call::Commit {
                task: TaskId(t),
                round: Round(r),
                kind,
                hash,
            }
        }),
        (
            any::<u64>(),
            any::<u64>(),
            arb_kind(),
            prop::collection::vec(any::<u8>(), 0..64)
        )
            .prop_map(|(t, r, kind, preimage)| Call::Reveal {
                task: TaskId(t),
                round: Round(r),
                kind,
                preimage
            }),
        arb_evidence().prop_map(|evidence| Call::Slash { evidence }),
        arb_change().prop_map(|change| Call::GovPropose { change }),
        (any::<u64>(), any::<bool>()).prop_map(|(p, approve)| Call::GovVote {
            proposal: ProposalId(p),
            approve
        }),
        (
            any::<u64>(),
            any::<u64>(),
            arb_hash(),
            prop::collection::vec((any::<u16>(), arb_hash()), 0..4)
        )
            .prop_map(|(t, r, model, c)| Call::RecordModel {
                task: TaskId(t),
                round: Round(r),
                model,
                contributors: c.into_iter().map(|(u, h)| (Uid(u), h)).collect(),
            }),
    ]
}
fn arb_tx() -> impl Strategy<Value = Tx> {
    ("[a-z0-9-]{1,20}", any::<u64>(), arb_amount(), arb_call()).prop_map(|(c, n, fee, call)| Tx {
        chain_id: ChainId::new(c).unwrap(),
        nonce: Nonce(n),
        fee,
        call,
    })
}
fn arb_signed() -> impl Strategy<Value = SignedTx> {
    (arb_tx(), any::<[u8; 32]>()).prop_map(|(tx, seed)| Keypair::from_seed(seed).sign_tx(tx))
}
fn arb_block() -> impl Strategy<Value = Block> {
    (
        any::<u64>(),
        arb_hash(),
        any::<u64>(),
        arb_hash(),
        prop::collection::vec(arb_signed(), 0..4),
    )
        .prop_map(|(h, parent_hash, timestamp_ms, state_root, txs)| Block {
            header: Header {
                height: Height(h),
                parent_hash,
                timestamp_ms,
                tx_root: tx_root(&txs),
                state_root,
            },
            txs,
        })
}

fn round_trip<T>(x: &T)
where
    T: borsh::BorshSerialize + borsh::BorshDeserialize + PartialEq + std::fmt::Debug,
{
    let b = encode(x);
    assert_eq!(&decode::<T>(&b).unwrap(), x);
    let mut longer = b.clone();
    longer.push(0);
    assert!(decode::<T>(&longer).is_err(), "trailing byte accepted");
    if !b.is_empty() {
        assert!(
            decode::<T>(&b[..b.len() - 1]).is_err(),
            "truncation accepted"
        );
    }
}

/// Decoding arbitrary bytes never panics, and whatever decodes re-encodes to the same bytes.
fn canonical_or_error<T>(bytes: &[u8])
where
    T: borsh::BorshSerialize + borsh::BorshDeserialize,
{
    if let Ok(v) = decode::<T>(bytes) {
        assert_eq!(encode(&v), bytes, "non-canonical bytes accepted");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn tx_round_trips(tx in arb_tx()) { round_trip(&tx); }

    #[test]
    fn signed_tx_round_trips_and_verifies(stx in arb_signed()) {
        round_trip(&stx);
        prop_assert!(stx.verify().is_ok());
        let json = serde_json::to_string(&stx).unwrap();
        prop_assert_eq!(serde_json::from_str::<SignedTx>(&json).unwrap(), stx);
    }

    #[test]
    fn block_round_trips(b in arb_block()) { round_trip(&b); }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        canonical_or_error::<Tx>(&bytes);
        canonical_or_error::<SignedTx>(&bytes);
        canonical_or_error::<Block>(&bytes);
        canonical_or_error::<Call>(&bytes);
        canonical_or_error::<Params>(&bytes);
    }

    /// Mutating a valid encoding in one byte either fails or decodes canonically.
    #[test]
    fn mutated_encodings_never_panic(stx in arb_signed(), pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut b = encode(&stx);
        let i = pos.index(b.len());
        b[i] = byte;
        canonical_or_error::<SignedTx>(&b);
    }

    #[test]
    fn preimages_round_trip(
        blob in arb_hash(),
        len in any::<u64>(),
        salt in any::<[u8; 32]>(),
        weights in prop::collection::vec((any::<u16>(), any::<u16>()), 0..8),
        score in arb_fixed(),
    ) {
        let u = UpdatePreimage { blob, len, salt };
        round_trip(&u);
        let w = WeightsPreimage { weights: weights.into_iter().map(|(a, b)| (Uid(a), b)).collect(), salt };
        round_trip(&w);
        let v = VotePreimage { score, salt };
        round_trip(&v);
        let json = serde_json::to_string(&(u.clone(), w.clone(), v.clone())).unwrap();
        prop_assert_eq!(serde_json::from_str::<(UpdatePreimage, WeightsPreimage, VotePreimage)>(&json).unwrap(), (u, w, v));
    }

    #[test]
    fn random_bytes_never_panic_as_preimages(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        canonical_or_error::<UpdatePreimage>(&bytes);
        canonical_or_error::<WeightsPreimage>(&bytes);
        canonical_or_error::<VotePreimage>(&bytes);
    }

    /// The floor product is the exact floor.
    #[test]
    fn mul_amount_floor_is_exact(bits in 0i64..=(1i64 << 32), a in any::<u128>()) {
        let f = Fixed::from_bits(bits);
        let floor = Amount(a).mul_div_floor(Amount(bits as u128), Amount(1u128 << 32)).unwrap();
        prop_assert_eq!(f.mul_amount_floor(Amount(a)), Some(floor));
    }

    #[test]
    fn fixed_text_round_trip(bits in any::<i64>()) {
        let f = Fixed::from_bits(bits);
        prop_assert_eq!(f.to_string().parse::<Fixed>().unwrap(), f);
        let json = serde_json::to_string(&f).unwrap();
        prop_assert_eq!(serde_json::from_str::<Fixed>(&json).unwrap(), f);
    }

    /// Shares never create value: 0 <= share*amount <= amount, and it is within 1 of the
    /// exact product (computed in 256-bit via mul_div_floor).
    #[test]
    fn mul_amount_is_bounded_and_close(bits in 0i64..=(1i64 << 32), a in any::<u128>()) {
        let f = Fixed::from_bits(bits);
        let got = f.mul_amount(Amount(a)).unwrap();
        prop_assert!(got <= Amount(a));
        let floor = Amount(a).mul_div_floor(Amount(bits as u128), Amount(1u128 << 32)).unwrap();
        prop_assert!(got == floor || got.0 == floor.0 + 1);
    }

    #[test]
    fn mul_div_matches_u128_when_it_fits(a in any::<u64>(), b in any::<u64>(), c in 1u128..) {
        let want = (u128::from(a) * u128::from(b)) / c;
        prop_assert_eq!(Amount(a.into()).mul_div_floor(Amount(b.into()), Amount(c)), Some(Amount(want)));
    }

    /// floor(a*b/c) with b <= c never exceeds a, and a*c/c == a for any a.
    #[test]
    fn mul_div_big(a in any::<u128>(), c in 1u128..) {
        prop_assert_eq!(Amount(a).mul_div_floor(Amount(c), Amount(c)), Some(Amount(a)));
        let b = c / 3;
        let r = Amount(a).mul_div_floor(Amount(b), Amount(c)).unwrap();
        prop_assert!(r <= Amount(a));
    }
}

#[test]
fn huge_length_prefixes_fail_fast() {
    // A Block claiming 2^32-1 transactions, and a Reveal claiming a 4 GiB preimage.
    let mut b = encode(&Header {
        height: Height(1),
        parent_hash: Hash32::ZERO,
        timestamp_ms: 0,
        tx_root: Hash32::ZERO,
        state_root: Hash32::ZERO,
    });
    b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
    assert!(decode::<Block>(&b).is_err());
    let mut c = vec![10u8]; // Call::Reveal tag
    c.extend_from_slice(&[0; 8 + 8 + 1]);
    c.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
    assert!(matches!(
        decode::<Call>(&c),
        Err(DecodeError::Malformed { .. })
    ));
}

#[test]
fn wrong_chain_id_changes_the_signed_digest() {
    let k = Keypair::from_seed([1; 32]);
    let tx = Tx {
        chain_id: ChainId::new("a").unwrap(),
        nonce: Nonce(0),
        fee: Amount(1),
        call: Call::Withdraw,
    };
    let mut s = k.sign_tx(tx);
    s.tx.chain_id = ChainId::new("b").unwrap();
    assert_eq!(s.verify(), Err(SigError::BadSignature));
}
