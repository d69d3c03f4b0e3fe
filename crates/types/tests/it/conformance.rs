//! Conformance pins of the canonical encodings: one signed transaction of every [`Call`] kind,
//! every [`ParamChange`] and [`Evidence`], the commit preimages, a header and a block.
//!
//! Each pin is `blake3(encode(value))` of a fixed value (keys from fixed seeds, fixed fields),
//! compared with the `[types]` section of `tests/conformance.toml` at the workspace root. A
//! change to any encoding (a field added, reordered or retyped, a tag renumbered, the signing
//! domain changed) fails here instead of passing unnoticed. The matches over [`Call`],
//! [`ParamChange`] and [`Evidence`] are exhaustive, so a new variant does not compile until it
//! has a pin.

use deai_types::*;

/// The `[types]` section of the workspace's pin file.
#[path = "../../../../tests/pins.rs"]
mod pin_file;
use pin_file::{check, pins};

const SECTION: &str = "types";

fn digest<T: borsh::BorshSerialize>(value: &T) -> String {
    Hash32::of(&encode(value)).to_string()
}

fn key(seed: u8) -> Keypair {
    Keypair::from_seed([seed; 32])
}

fn h(tag: &str) -> Hash32 {
    Hash32::of(tag.as_bytes())
}

fn commit_key() -> CommitKey {
    CommitKey {
        task: TaskId(3),
        round: Round(5),
        kind: CommitKind::Update,
        account: key(2).account(),
    }
}

fn spec() -> TaskSpec {
    TaskSpec {
        model: h("model"),
        dataset: h("dataset"),
        eval: h("eval"),
        reward: Amount(1_000_000),
        start_delay: 2,
        round_blocks: 10,
        rounds: 20,
        epoch_rounds: 1,
        windows: vec![
            PhaseWindow {
                kind: CommitKind::Update,
                commit: Window { start: 0, end: 4 },
                reveal: Window { start: 4, end: 7 },
            },
            PhaseWindow {
                kind: CommitKind::Weights,
                commit: Window { start: 7, end: 8 },
                reveal: Window { start: 8, end: 10 },
            },
        ],
        aggregation: "nnm+trimmed_mean".into(),
        min_stake: Amount(1),
        max_uids: 16,
        mechanism: Mechanism::Yuma,
        miner_share: Fixed::from_bps(5_000),
    }
}

/// One call of every kind, each with its pin name. The exhaustive match makes a new kind a
/// compile error here until it is added to the list.
fn calls() -> Vec<(&'static str, Call)> {
    let other = key(2).account();
    let all = vec![
        Call::Transfer {
            to: other,
            amount: Amount(123_456_789),
        },
        Call::Stake {
            amount: Amount(5_000),
        },
        Call::Unstake {
            amount: Amount(1_000),
        },
        Call::Delegate {
            hotkey: other,
            amount: Amount(700),
        },
        Call::Undelegate {
            hotkey: other,
            amount: Amount(300),
        },
        Call::Withdraw,
        Call::SetTake {
            take: Fixed::from_bps(1_800),
        },
        Call::Register {
            task: TaskId(3),
            role: Role::Validator,
        },
        Call::ProposeTask(spec()),
        Call::Commit {
            task: TaskId(3),
            round: Round(5),
            kind: CommitKind::Update,
            hash: commitment_hash(&commit_key(), b"preimage"),
        },
        Call::Reveal {
            task: TaskId(3),
            round: Round(5),
            kind: CommitKind::Weights,
            preimage: b"preimage".to_vec(),
        },
        Call::Slash {
            evidence: Evidence::MissedReveal(commit_key()),
        },
        Call::GovPropose {
            change: ParamChange::SlashFraction {
                offence: OffenceKind::RevealMismatch,
                fraction: Fixed::from_bps(2_500),
            },
        },
        Call::GovVote {
            proposal: ProposalId(9),
            approve: true,
        },
        Call::RecordModel {
            task: TaskId(3),
            round: Round(5),
            model: h("global model"),
            contributors: vec![(Uid(0), h("update 0")), (Uid(4), h("update 4"))],
        },
    ];
    all.into_iter()
        .map(|c| {
            let name = match &c {
                Call::Transfer { .. } => "tx_transfer",
                Call::Stake { .. } => "tx_stake",
                Call::Unstake { .. } => "tx_unstake",
                Call::Delegate { .. } => "tx_delegate",
                Call::Undelegate { .. } => "tx_undelegate",
                Call::Withdraw => "tx_withdraw",
                Call::SetTake { .. } => "tx_set_take",
                Call::Register { .. } => "tx_register",
                Call::ProposeTask(_) => "tx_propose_task",
                Call::Commit { .. } => "tx_commit",
                Call::Reveal { .. } => "tx_reveal",
                Call::Slash { .. } => "tx_slash",
                Call::GovPropose { .. } => "tx_gov_propose",
                Call::GovVote { .. } => "tx_gov_vote",
                Call::RecordModel { .. } => "tx_record_model",
            };
            (name, c)
        })
        .collect()
}

/// The i-th call signed by the seed-1 key on chain `deai-dev`, nonce i, fee 1 + i.
fn signed(i: usize, call: Call) -> SignedTx {
    key(1).sign_tx(Tx {
        chain_id: ChainId::new("deai-dev").unwrap(),
        nonce: Nonce(i as u64),
        fee: Amount(1 + i as u128),
        call,
    })
}

fn signed_txs() -> Vec<(&'static str, SignedTx)> {
    calls()
        .into_iter()
        .enumerate()
        .map(|(i, (name, call))| (name, signed(i, call)))
        .collect()
}

/// Every parameter change, in declaration order (exhaustive match: a new one must be added).
fn param_changes() -> Vec<ParamChange> {
    let all = vec![
        ParamChange::MinFee(Amount(2)),
        ParamChange::UnbondingBlocks(11),
        ParamChange::RegistrationCost(Amount(101)),
        ParamChange::MaxUidsPerTask(128),
        ParamChange::MaxPreimageLen(2048),
        ParamChange::DefaultTake(Fixed::from_bps(1_000)),
        ParamChange::MaxTake(Fixed::from_bps(4_000)),
        ParamChange::GovVotingBlocks(30),
        ParamChange::GovQuorum(Fixed::from_bps(5_000)),
        ParamChange::GovDelayBlocks(6),
        ParamChange::SlashFraction {
            offence: OffenceKind::BadRound,
            fraction: Fixed::from_bps(300),
        },
        ParamChange::SlashReporterShare(Fixed::from_bps(200)),
        ParamChange::SlashDestination(SlashDestination::Burn),
        ParamChange::EmissionPerEpoch(Amount(1_000)),
        ParamChange::YumaKappa(Fixed::from_bps(6_000)),
        ParamChange::YumaBondsPenalty(Fixed::from_bps(9_900)),
        ParamChange::YumaBondsMovingAverage(Fixed::from_bps(8_000)),
        ParamChange::OutOfConsensusTrust(Fixed::from_bps(4_000)),
        ParamChange::OutOfConsensusEpochs(3),
        ParamChange::PvProposers(5),
        ParamChange::PvSlashToPool(Fixed::from_bps(7_000)),
        ParamChange::RecordsKept(32),
    ];
    for c in &all {
        match c {
            ParamChange::MinFee(_)
            | ParamChange::UnbondingBlocks(_)
            | ParamChange::RegistrationCost(_)
            | ParamChange::MaxUidsPerTask(_)
            | ParamChange::MaxPreimageLen(_)
            | ParamChange::DefaultTake(_)
            | ParamChange::MaxTake(_)
            | ParamChange::GovVotingBlocks(_)
            | ParamChange::GovQuorum(_)
            | ParamChange::GovDelayBlocks(_)
            | ParamChange::SlashFraction { .. }
            | ParamChange::SlashReporterShare(_)
            | ParamChange::SlashDestination(_)
            | ParamChange::EmissionPerEpoch(_)
            | ParamChange::YumaKappa(_)
            | ParamChange::YumaBondsPenalty(_)
            | ParamChange::YumaBondsMovingAverage(_)
            | ParamChange::OutOfConsensusTrust(_)
            | ParamChange::OutOfConsensusEpochs(_)
            | ParamChange::PvProposers(_)
            | ParamChange::PvSlashToPool(_)
            | ParamChange::RecordsKept(_) => {}
        }
    }
    all
}

/// Every kind of evidence (exhaustive match: a new one must be added).
fn evidence() -> Vec<Evidence> {
    let all = vec![
        Evidence::MissedReveal(commit_key()),
        Evidence::RevealMismatch(CommitKey {
            kind: CommitKind::Vote,
            ..commit_key()
        }),
        Evidence::Offence(OffenceId(17)),
    ];
    for e in &all {
        match e {
            Evidence::MissedReveal(_) | Evidence::RevealMismatch(_) | Evidence::Offence(_) => {}
        }
    }
    all
}

/// A block at height 7 holding one transaction of every kind, and its header.
fn block() -> Block {
    let txs: Vec<SignedTx> = signed_txs().into_iter().map(|(_, t)| t).collect();
    Block {
        header: Header {
            height: Height(7),
            parent_hash: h("parent"),
            timestamp_ms: 1_700_000_000_000,
            tx_root: tx_root(&txs),
            state_root: h("state"),
        },
        txs,
    }
}

fn actual() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = signed_txs()
        .into_iter()
        .map(|(name, stx)| {
            // Every fixture is a valid, verifiable transaction that round-trips.
            assert_eq!(stx.verify(), Ok(()), "{name}");
            assert_eq!(
                decode::<SignedTx>(&encode(&stx)).as_ref(),
                Ok(&stx),
                "{name}"
            );
            (name.to_string(), digest(&stx))
        })
        .collect();
    let b = block();
    let preimages: [(&str, Vec<u8>); 3] = [
        (
            "preimage_update",
            encode(&UpdatePreimage {
                blob: h("update blob"),
                len: 79_510,
                salt: [7; 32],
            }),
        ),
        (
            "preimage_weights",
            encode(&WeightsPreimage {
                weights: vec![(Uid(0), 65_535), (Uid(3), 12_000)],
                salt: [8; 32],
            }),
        ),
        (
            "preimage_vote",
            encode(&VotePreimage {
                score: Fixed::from_bps(8_125),
                salt: [9; 32],
            }),
        ),
    ];
    out.extend([
        ("param_changes".to_string(), digest(&param_changes())),
        ("evidence".to_string(), digest(&evidence())),
        ("params_default".to_string(), digest(&Params::default())),
        (
            "commitment_hash".to_string(),
            commitment_hash(&commit_key(), b"preimage").to_string(),
        ),
        ("header".to_string(), digest(&b.header)),
        ("header_hash".to_string(), b.header.hash().to_string()),
        ("tx_root".to_string(), b.header.tx_root.to_string()),
        ("block".to_string(), digest(&b)),
    ]);
    out.extend(
        preimages
            .iter()
            .map(|(name, bytes)| (name.to_string(), Hash32::of(bytes).to_string())),
    );
    out
}

#[test]
fn encodings_match_their_pins() {
    check(SECTION, &actual(), "An encoding");
}

#[test]
fn every_pin_of_the_section_is_checked() {
    let names: Vec<String> = actual().into_iter().map(|(n, _)| n).collect();
    for pinned in pins(SECTION).keys() {
        assert!(
            names.contains(pinned),
            "tests/conformance.toml pins [{SECTION}] {pinned}, which no test computes; remove it \
             or restore the value it pinned"
        );
    }
}
