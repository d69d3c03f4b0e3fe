//! Table-driven: every `TxError` variant (and the distinct paths to several of them), each
//! checked for the exact error value and for the documented effect on the state:
//! rejections change nothing; execution failures change only fee and nonce (plus the offence
//! record for the two offence errors).

use std::collections::BTreeSet;

use deai_chain::*;
use deai_types::*;

use crate::common::*;

/// Exhaustive: adding a `TxError` variant breaks this match until a case covers it.
fn variant(e: &TxError) -> &'static str {
    match e {
        TxError::WrongChain { .. } => "WrongChain",
        TxError::BadSignature => "BadSignature",
        TxError::BadNonce { .. } => "BadNonce",
        TxError::FeeTooLow { .. } => "FeeTooLow",
        TxError::CannotPayFee { .. } => "CannotPayFee",
        TxError::ZeroAmount => "ZeroAmount",
        TxError::SelfTransfer => "SelfTransfer",
        TxError::InsufficientBalance { .. } => "InsufficientBalance",
        TxError::InsufficientStake { .. } => "InsufficientStake",
        TxError::Overflow { .. } => "Overflow",
        TxError::NothingToWithdraw { .. } => "NothingToWithdraw",
        TxError::TakeOutOfRange { .. } => "TakeOutOfRange",
        TxError::UnknownTask { .. } => "UnknownTask",
        TxError::TaskEnded { .. } => "TaskEnded",
        TxError::InvalidTaskSpec(_) => "InvalidTaskSpec",
        TxError::TooManyUids { .. } => "TooManyUids",
        TxError::AlreadyRegistered { .. } => "AlreadyRegistered",
        TxError::TaskFull { .. } => "TaskFull",
        TxError::BelowMinStake { .. } => "BelowMinStake",
        TxError::NotRegistered { .. } => "NotRegistered",
        TxError::NoWindow { .. } => "NoWindow",
        TxError::RoundOutOfRange { .. } => "RoundOutOfRange",
        TxError::OutsideWindow { .. } => "OutsideWindow",
        TxError::AlreadyCommitted { .. } => "AlreadyCommitted",
        TxError::UnknownCommitment { .. } => "UnknownCommitment",
        TxError::AlreadyRevealed { .. } => "AlreadyRevealed",
        TxError::PreimageTooLong { .. } => "PreimageTooLong",
        TxError::RevealMismatch { .. } => "RevealMismatch",
        TxError::InvalidEvidence(_) => "InvalidEvidence",
        TxError::AlreadySlashed { .. } => "AlreadySlashed",
        TxError::InvalidParam(_) => "InvalidParam",
        TxError::UnknownProposal { .. } => "UnknownProposal",
        TxError::VotingClosed { .. } => "VotingClosed",
        TxError::AlreadyVoted { .. } => "AlreadyVoted",
        TxError::NoVotingPower => "NoVotingPower",
        TxError::MalformedPreimage { .. } => "MalformedPreimage",
        TxError::UnknownWeightTarget { .. } => "UnknownWeightTarget",
        TxError::DuplicateWeightTarget { .. } => "DuplicateWeightTarget",
        TxError::WrongRole { .. } => "WrongRole",
        TxError::NotDrawn { .. } => "NotDrawn",
        TxError::KindNotInMechanism { .. } => "KindNotInMechanism",
        TxError::NotTaskProposer { .. } => "NotTaskProposer",
        TxError::RoundNotEnded { .. } => "RoundNotEnded",
        TxError::ModelAlreadyRecorded { .. } => "ModelAlreadyRecorded",
        TxError::DuplicateContributor { .. } => "DuplicateContributor",
        TxError::ContributorNotRevealed { .. } => "ContributorNotRevealed",
        TxError::ContributorBlobMismatch { .. } => "ContributorBlobMismatch",
    }
}

const ALL: [&str; 47] = [
    "WrongChain",
    "BadSignature",
    "BadNonce",
    "FeeTooLow",
    "CannotPayFee",
    "ZeroAmount",
    "SelfTransfer",
    "InsufficientBalance",
    "InsufficientStake",
    "Overflow",
    "NothingToWithdraw",
    "TakeOutOfRange",
    "UnknownTask",
    "TaskEnded",
    "InvalidTaskSpec",
    "TooManyUids",
    "AlreadyRegistered",
    "TaskFull",
    "BelowMinStake",
    "NotRegistered",
    "NoWindow",
    "RoundOutOfRange",
    "OutsideWindow",
    "AlreadyCommitted",
    "UnknownCommitment",
    "AlreadyRevealed",
    "PreimageTooLong",
    "RevealMismatch",
    "InvalidEvidence",
    "AlreadySlashed",
    "InvalidParam",
    "UnknownProposal",
    "VotingClosed",
    "AlreadyVoted",
    "NoVotingPower",
    "MalformedPreimage",
    "UnknownWeightTarget",
    "DuplicateWeightTarget",
    "WrongRole",
    "NotDrawn",
    "KindNotInMechanism",
    "NotTaskProposer",
    "RoundNotEnded",
    "ModelAlreadyRecorded",
    "DuplicateContributor",
    "ContributorNotRevealed",
    "ContributorBlobMismatch",
];

type Setup = fn(&mut Env) -> (SignedTx, TxError);

fn reg(env: &mut Env, task: TaskId, i: usize) {
    reg_as(env, task, i, Role::Miner);
}

fn reg_as(env: &mut Env, task: TaskId, i: usize, role: Role) {
    env.ok(i, Call::Register { task, role });
}

fn weights(w: &[(u16, u16)]) -> Vec<u8> {
    encode(&WeightsPreimage {
        weights: w.iter().map(|&(u, x)| (Uid(u), x)).collect(),
        salt: [9; 32],
    })
}

fn record(task: TaskId, round: u64, contributors: &[(u16, &[u8])]) -> Call {
    Call::RecordModel {
        task,
        round: Round(round),
        model: Hash32::of(b"global"),
        contributors: contributors
            .iter()
            .map(|&(u, tag)| (Uid(u), Hash32::of(tag)))
            .collect(),
    }
}

/// A task whose update of UID 0 (account 1, tag "u") was revealed in round 0; at height 12.
fn revealed_update(env: &mut Env) -> TaskId {
    let task = std_task(env);
    reg(env, task, 1);
    commit(env, task, 0, CommitKind::Update, 1, &upd(b"u"));
    env.goto(6);
    env.ok(1, reveal_call(task, 0, CommitKind::Update, &upd(b"u")));
    env.goto(12);
    task
}

/// A proposer/voter task (Update and Vote windows); round 0 starts at 4.
fn pv_task(env: &mut Env) -> TaskId {
    env.task(0, |s| {
        s.mechanism = Mechanism::ProposerVoter;
        s.start_delay = 3;
        s.windows[1].kind = CommitKind::Vote;
    })
}

fn commit(env: &mut Env, task: TaskId, round: u64, kind: CommitKind, i: usize, pre: &[u8]) {
    let k = key(env, task, round, kind, i);
    env.ok(
        i,
        Call::Commit {
            task,
            round: Round(round),
            kind,
            hash: commitment_hash(&k, pre),
        },
    );
}

fn reveal_call(task: TaskId, round: u64, kind: CommitKind, pre: &[u8]) -> Call {
    Call::Reveal {
        task,
        round: Round(round),
        kind,
        preimage: pre.to_vec(),
    }
}

/// Standard task from account 0 at height 1: round 0 starts at 2, Update commit [2,6),
/// reveal [6,10); Weights commit [10,11), reveal [11,12); end 32.
fn std_task(env: &mut Env) -> TaskId {
    env.task(0, |_| {})
}

fn cases() -> Vec<(&'static str, Setup)> {
    vec![
        ("wrong chain", |env| {
            let mut tx = Tx {
                chain_id: ChainId::new("other").unwrap(),
                nonce: Nonce(0),
                fee: Amount(FEE),
                call: Call::Withdraw,
            };
            tx.nonce = env.state.nonce_of(&env.id(1));
            let e = TxError::WrongChain {
                expected: env.state.chain_id().clone(),
                got: tx.chain_id.clone(),
            };
            (env.keys[1].sign_tx(tx), e)
        }),
        ("bad signature", |env| {
            let mut s = env.sign(1, Call::Withdraw);
            s.signature.0[5] ^= 1;
            (s, TxError::BadSignature)
        }),
        ("signature by another key", |env| {
            let mut s = env.sign(1, Call::Withdraw);
            s.signer = env.id(2);
            (s, TxError::BadSignature)
        }),
        ("replayed transaction", |env| {
            let to = env.id(2);
            let s = env.sign(
                1,
                Call::Transfer {
                    to,
                    amount: Amount(5),
                },
            );
            let out = env.block(vec![s.clone()]);
            assert!(out[0].is_ok());
            let e = TxError::BadNonce {
                expected: Nonce(1),
                got: Nonce(0),
            };
            (s, e)
        }),
        ("nonce gap", |env| {
            let mut tx = env.sign(1, Call::Withdraw).tx;
            tx.nonce = Nonce(3);
            let e = TxError::BadNonce {
                expected: Nonce(0),
                got: Nonce(3),
            };
            (env.keys[1].sign_tx(tx), e)
        }),
        ("fee below minimum", |env| {
            let mut tx = env.sign(1, Call::Withdraw).tx;
            tx.fee = Amount(0);
            let e = TxError::FeeTooLow {
                min: Amount(1),
                offered: Amount(0),
            };
            (env.keys[1].sign_tx(tx), e)
        }),
        ("cannot pay fee", |env| {
            let k = Keypair::from_seed([99; 32]);
            let tx = Tx {
                chain_id: env.state.chain_id().clone(),
                nonce: Nonce(0),
                fee: Amount(FEE),
                call: Call::Withdraw,
            };
            let e = TxError::CannotPayFee {
                balance: Amount(0),
                fee: Amount(FEE),
            };
            (k.sign_tx(tx), e)
        }),
        ("zero transfer", |env| {
            let to = env.id(2);
            (
                env.sign(
                    1,
                    Call::Transfer {
                        to,
                        amount: Amount(0),
                    },
                ),
                TxError::ZeroAmount,
            )
        }),
        ("zero stake", |env| {
            (
                env.sign(1, Call::Stake { amount: Amount(0) }),
                TxError::ZeroAmount,
            )
        }),
        ("self transfer", |env| {
            let to = env.id(1);
            (
                env.sign(
                    1,
                    Call::Transfer {
                        to,
                        amount: Amount(1),
                    },
                ),
                TxError::SelfTransfer,
            )
        }),
        ("transfer more than balance after fee", |env| {
            let to = env.id(2);
            let e = TxError::InsufficientBalance {
                available: Amount(FUND - FEE),
                needed: Amount(FUND),
            };
            (
                env.sign(
                    1,
                    Call::Transfer {
                        to,
                        amount: Amount(FUND),
                    },
                ),
                e,
            )
        }),
        ("delegate more than balance", |env| {
            let hotkey = env.id(2);
            let e = TxError::InsufficientBalance {
                available: Amount(FUND - FEE),
                needed: Amount(u128::MAX),
            };
            (
                env.sign(
                    1,
                    Call::Delegate {
                        hotkey,
                        amount: Amount(u128::MAX),
                    },
                ),
                e,
            )
        }),
        ("task reward above balance", |env| {
            let mut spec = spec();
            spec.reward = Amount(FUND);
            let e = TxError::InsufficientBalance {
                available: Amount(FUND - FEE),
                needed: Amount(FUND),
            };
            (env.sign(1, Call::ProposeTask(spec)), e)
        }),
        ("registration cost above balance", |env| {
            let t = std_task(env);
            let to = env.id(2);
            env.ok(
                1,
                Call::Transfer {
                    to,
                    amount: Amount(FUND - 50),
                },
            );
            let e = TxError::InsufficientBalance {
                available: Amount(50 - 2 * FEE),
                needed: Amount(100),
            };
            (
                env.sign(
                    1,
                    Call::Register {
                        task: t,
                        role: Role::Validator,
                    },
                ),
                e,
            )
        }),
        ("unstake without stake", |env| {
            let e = TxError::InsufficientStake {
                hotkey: env.id(1),
                available: Amount(0),
                needed: Amount(1),
            };
            (env.sign(1, Call::Unstake { amount: Amount(1) }), e)
        }),
        ("undelegate more than delegated", |env| {
            let hotkey = env.id(2);
            env.ok(
                1,
                Call::Delegate {
                    hotkey,
                    amount: Amount(10),
                },
            );
            let e = TxError::InsufficientStake {
                hotkey,
                available: Amount(10),
                needed: Amount(11),
            };
            (
                env.sign(
                    1,
                    Call::Undelegate {
                        hotkey,
                        amount: Amount(11),
                    },
                ),
                e,
            )
        }),
        ("release height overflows", |env| {
            *env = Env::with(
                Params {
                    unbonding_blocks: u64::MAX,
                    ..params()
                },
                3,
            );
            env.ok(1, Call::Stake { amount: Amount(10) });
            let e = TxError::Overflow {
                what: "release height".into(),
            };
            (env.sign(1, Call::Unstake { amount: Amount(5) }), e)
        }),
        ("withdraw with nothing unbonding", |env| {
            (
                env.sign(1, Call::Withdraw),
                TxError::NothingToWithdraw { next_release: None },
            )
        }),
        ("withdraw before release", |env| {
            env.ok(1, Call::Stake { amount: Amount(10) });
            env.ok(1, Call::Unstake { amount: Amount(4) }); // at height 2, releases at 7
            let e = TxError::NothingToWithdraw {
                next_release: Some(Height(7)),
            };
            (env.sign(1, Call::Withdraw), e)
        }),
        ("take above max", |env| {
            let take = Fixed::from_bps(5_001);
            let e = TxError::TakeOutOfRange {
                take,
                max: Fixed::from_bps(5_000),
            };
            (env.sign(1, Call::SetTake { take }), e)
        }),
        ("negative take", |env| {
            let take = Fixed::from_int(-1);
            let e = TxError::TakeOutOfRange {
                take,
                max: Fixed::from_bps(5_000),
            };
            (env.sign(1, Call::SetTake { take }), e)
        }),
        ("register on unknown task", |env| {
            let task = TaskId(7);
            (
                env.sign(
                    1,
                    Call::Register {
                        task,
                        role: Role::Miner,
                    },
                ),
                TxError::UnknownTask { task },
            )
        }),
        ("register after the task ended", |env| {
            let task = std_task(env);
            env.goto(32);
            (
                env.sign(
                    1,
                    Call::Register {
                        task,
                        role: Role::Miner,
                    },
                ),
                TxError::TaskEnded {
                    task,
                    end: Height(32),
                },
            )
        }),
        ("invalid task spec", |env| {
            let mut s = spec();
            s.rounds = 0;
            let e = TxError::InvalidTaskSpec(deai_types::protocol::TaskSpecError::Zero {
                field: "rounds".into(),
            });
            (env.sign(1, Call::ProposeTask(s)), e)
        }),
        ("task capacity above limit", |env| {
            let mut s = spec();
            s.max_uids = 9;
            let e = TxError::TooManyUids {
                max_uids: 9,
                limit: 8,
            };
            (env.sign(1, Call::ProposeTask(s)), e)
        }),
        ("double registration", |env| {
            let task = std_task(env);
            reg(env, task, 1);
            let e = TxError::AlreadyRegistered {
                task,
                uid: Uid(0),
                offence: OffenceId(0),
            };
            (
                env.sign(
                    1,
                    Call::Register {
                        task,
                        role: Role::Validator,
                    },
                ),
                e,
            )
        }),
        ("task full", |env| {
            let task = env.task(0, |s| s.max_uids = 1);
            reg(env, task, 1);
            (
                env.sign(
                    2,
                    Call::Register {
                        task,
                        role: Role::Miner,
                    },
                ),
                TxError::TaskFull { task, capacity: 1 },
            )
        }),
        ("below min stake", |env| {
            let task = env.task(0, |s| s.min_stake = Amount(50));
            env.ok(1, Call::Stake { amount: Amount(49) });
            let e = TxError::BelowMinStake {
                task,
                stake: Amount(49),
                min_stake: Amount(50),
            };
            (
                env.sign(
                    1,
                    Call::Register {
                        task,
                        role: Role::Validator,
                    },
                ),
                e,
            )
        }),
        ("commit without registration", |env| {
            let task = std_task(env);
            let e = TxError::NotRegistered {
                task,
                account: env.id(1),
            };
            (
                env.sign(
                    1,
                    Call::Commit {
                        task,
                        round: Round(0),
                        kind: CommitKind::Update,
                        hash: Hash32::ZERO,
                    },
                ),
                e,
            )
        }),
        ("commit of a kind without window", |env| {
            let task = std_task(env);
            reg(env, task, 1);
            let e = TxError::NoWindow {
                task,
                kind: CommitKind::Vote,
            };
            (
                env.sign(
                    1,
                    Call::Commit {
                        task,
                        round: Round(0),
                        kind: CommitKind::Vote,
                        hash: Hash32::ZERO,
                    },
                ),
                e,
            )
        }),
        ("commit for a round past the last", |env| {
            let task = std_task(env);
            reg(env, task, 1);
            let e = TxError::RoundOutOfRange {
                task,
                round: Round(3),
                rounds: 3,
            };
            (
                env.sign(
                    1,
                    Call::Commit {
                        task,
                        round: Round(3),
                        kind: CommitKind::Update,
                        hash: Hash32::ZERO,
                    },
                ),
                e,
            )
        }),
        ("commit after the commit window", |env| {
            let task = std_task(env);
            reg(env, task, 1);
            env.goto(6);
            let e = TxError::OutsideWindow {
                task,
                round: Round(0),
                phase: Phase::Commit,
                height: Height(6),
                opens: Height(2),
                closes: Height(6),
            };
            (
                env.sign(
                    1,
                    Call::Commit {
                        task,
                        round: Round(0),
                        kind: CommitKind::Update,
                        hash: Hash32::ZERO,
                    },
                ),
                e,
            )
        }),
        ("commit for a future round", |env| {
            let task = std_task(env);
            reg(env, task, 1);
            let e = TxError::OutsideWindow {
                task,
                round: Round(1),
                phase: Phase::Commit,
                height: Height(3),
                opens: Height(12),
                closes: Height(16),
            };
            (
                env.sign(
                    1,
                    Call::Commit {
                        task,
                        round: Round(1),
                        kind: CommitKind::Update,
                        hash: Hash32::ZERO,
                    },
                ),
                e,
            )
        }),
        ("reveal before the reveal window", |env| {
            let task = std_task(env);
            reg(env, task, 1);
            commit(env, task, 0, CommitKind::Update, 1, &upd(b"u"));
            let e = TxError::OutsideWindow {
                task,
                round: Round(0),
                phase: Phase::Reveal,
                height: Height(4),
                opens: Height(6),
                closes: Height(10),
            };
            (
                env.sign(1, reveal_call(task, 0, CommitKind::Update, &upd(b"u"))),
                e,
            )
        }),
        ("commit twice", |env| {
            let task = std_task(env);
            reg(env, task, 1);
            commit(env, task, 0, CommitKind::Update, 1, &upd(b"u"));
            let key = key(env, task, 0, CommitKind::Update, 1);
            (
                env.sign(
                    1,
                    Call::Commit {
                        task,
                        round: Round(0),
                        kind: CommitKind::Update,
                        hash: Hash32::ZERO,
                    },
                ),
                TxError::AlreadyCommitted { key },
            )
        }),
        ("reveal without commitment", |env| {
            let task = std_task(env);
            reg(env, task, 1);
            env.goto(6);
            let key = key(env, task, 0, CommitKind::Update, 1);
            (
                env.sign(1, reveal_call(task, 0, CommitKind::Update, &upd(b"u"))),
                TxError::UnknownCommitment { key },
            )
        }),
        ("reveal twice", |env| {
            let task = std_task(env);
            reg(env, task, 1);
            commit(env, task, 0, CommitKind::Update, 1, &upd(b"u"));
            env.goto(6);
            env.ok(1, reveal_call(task, 0, CommitKind::Update, &upd(b"u")));
            let key = key(env, task, 0, CommitKind::Update, 1);
            (
                env.sign(1, reveal_call(task, 0, CommitKind::Update, &upd(b"u"))),
                TxError::AlreadyRevealed { key },
            )
        }),
        ("preimage too long", |env| {
            let task = std_task(env);
            let e = TxError::PreimageTooLong {
                len: 1025,
                max: 1024,
            };
            (
                env.sign(1, reveal_call(task, 0, CommitKind::Update, &[0; 1025])),
                e,
            )
        }),
        ("reveal mismatch", |env| {
            let task = std_task(env);
            reg(env, task, 1);
            commit(env, task, 0, CommitKind::Update, 1, &upd(b"u"));
            env.goto(6);
            let key = key(env, task, 0, CommitKind::Update, 1);
            (
                env.sign(1, reveal_call(task, 0, CommitKind::Update, &upd(b"v"))),
                TxError::RevealMismatch { key },
            )
        }),
        ("evidence: unknown commitment", |env| {
            let task = std_task(env);
            let key = key(env, task, 0, CommitKind::Update, 1);
            (
                env.sign(
                    2,
                    Call::Slash {
                        evidence: Evidence::MissedReveal(key),
                    },
                ),
                TxError::InvalidEvidence(EvidenceError::UnknownCommitment { key }),
            )
        }),
        ("evidence: reveal window still open", |env| {
            let task = std_task(env);
            reg(env, task, 1);
            commit(env, task, 0, CommitKind::Update, 1, &upd(b"u"));
            env.goto(9);
            let key = key(env, task, 0, CommitKind::Update, 1);
            (
                env.sign(
                    2,
                    Call::Slash {
                        evidence: Evidence::MissedReveal(key),
                    },
                ),
                TxError::InvalidEvidence(EvidenceError::RevealWindowOpen {
                    key,
                    closes: Height(10),
                }),
            )
        }),
        ("evidence: the reveal happened", |env| {
            let task = std_task(env);
            reg(env, task, 1);
            commit(env, task, 0, CommitKind::Update, 1, &upd(b"u"));
            env.goto(6);
            env.ok(1, reveal_call(task, 0, CommitKind::Update, &upd(b"u")));
            env.goto(12);
            let key = key(env, task, 0, CommitKind::Update, 1);
            (
                env.sign(
                    2,
                    Call::Slash {
                        evidence: Evidence::MissedReveal(key),
                    },
                ),
                TxError::InvalidEvidence(EvidenceError::Revealed { key }),
            )
        }),
        ("evidence: no mismatch", |env| {
            let task = std_task(env);
            reg(env, task, 1);
            commit(env, task, 0, CommitKind::Update, 1, &upd(b"u"));
            let key = key(env, task, 0, CommitKind::Update, 1);
            (
                env.sign(
                    2,
                    Call::Slash {
                        evidence: Evidence::RevealMismatch(key),
                    },
                ),
                TxError::InvalidEvidence(EvidenceError::NoMismatch { key }),
            )
        }),
        ("evidence: unknown offence", |env| {
            let id = OffenceId(3);
            (
                env.sign(
                    2,
                    Call::Slash {
                        evidence: Evidence::Offence(id),
                    },
                ),
                TxError::InvalidEvidence(EvidenceError::UnknownOffence { id }),
            )
        }),
        ("slash twice", |env| {
            let task = std_task(env);
            reg(env, task, 1);
            commit(env, task, 0, CommitKind::Update, 1, &upd(b"u"));
            env.goto(10);
            let key = key(env, task, 0, CommitKind::Update, 1);
            let evidence = Evidence::MissedReveal(key);
            env.ok(2, Call::Slash { evidence });
            (
                env.sign(3, Call::Slash { evidence }),
                TxError::AlreadySlashed { evidence },
            )
        }),
        ("slash an offence twice", |env| {
            let task = std_task(env);
            reg(env, task, 1);
            let again = Call::Register {
                task,
                role: Role::Miner,
            };
            assert!(env.exec(1, again).is_err());
            let evidence = Evidence::Offence(OffenceId(0));
            env.ok(2, Call::Slash { evidence });
            (
                env.sign(2, Call::Slash { evidence }),
                TxError::AlreadySlashed { evidence },
            )
        }),
        ("update preimage that does not decode", |env| {
            let task = std_task(env);
            reg(env, task, 1);
            commit(env, task, 0, CommitKind::Update, 1, b"junk");
            env.goto(6);
            let key = key(env, task, 0, CommitKind::Update, 1);
            (
                env.sign(1, reveal_call(task, 0, CommitKind::Update, b"junk")),
                TxError::MalformedPreimage {
                    key,
                    expected: "UpdatePreimage".into(),
                },
            )
        }),
        ("weights preimage with trailing bytes", |env| {
            let task = std_task(env);
            reg_as(env, task, 1, Role::Validator);
            let mut pre = weights(&[(0, 1)]);
            pre.push(0);
            env.goto(10);
            commit(env, task, 0, CommitKind::Weights, 1, &pre);
            let key = key(env, task, 0, CommitKind::Weights, 1);
            (
                env.sign(1, reveal_call(task, 0, CommitKind::Weights, &pre)),
                TxError::MalformedPreimage {
                    key,
                    expected: "WeightsPreimage".into(),
                },
            )
        }),
        ("vote preimage that does not decode", |env| {
            let task = pv_task(env);
            // Four participants registered before round 0 (at 4); three are drawn proposers.
            let calls = (1..=4)
                .map(|i| {
                    (
                        i,
                        Call::Register {
                            task,
                            role: Role::Miner,
                        },
                    )
                })
                .collect();
            env.multi(calls);
            env.goto(12);
            let roles = env.state.pv_roles(task, Round(0)).cloned().unwrap();
            assert_eq!((roles.proposers.len(), roles.voters.len()), (3, 1));
            let voter = roles.voters[0].0 as usize + 1;
            let pre = b"not a vote".to_vec();
            commit(env, task, 0, CommitKind::Vote, voter, &pre);
            let key = key(env, task, 0, CommitKind::Vote, voter);
            (
                env.sign(voter, reveal_call(task, 0, CommitKind::Vote, &pre)),
                TxError::MalformedPreimage {
                    key,
                    expected: "VotePreimage".into(),
                },
            )
        }),
        ("weight on an unassigned uid", |env| {
            let task = std_task(env);
            reg_as(env, task, 1, Role::Validator);
            env.goto(10);
            commit(env, task, 0, CommitKind::Weights, 1, &weights(&[(5, 1)]));
            (
                env.sign(
                    1,
                    reveal_call(task, 0, CommitKind::Weights, &weights(&[(5, 1)])),
                ),
                TxError::UnknownWeightTarget {
                    task,
                    uid: Uid(5),
                    uids: 1,
                },
            )
        }),
        ("weight on a uid twice", |env| {
            let task = std_task(env);
            reg_as(env, task, 1, Role::Validator);
            reg(env, task, 2);
            let pre = weights(&[(1, 1), (0, 3), (1, 2)]);
            env.goto(10);
            commit(env, task, 0, CommitKind::Weights, 1, &pre);
            (
                env.sign(1, reveal_call(task, 0, CommitKind::Weights, &pre)),
                TxError::DuplicateWeightTarget { task, uid: Uid(1) },
            )
        }),
        ("miner commits weights", |env| {
            let task = std_task(env);
            reg(env, task, 1);
            env.goto(10);
            (
                env.sign(
                    1,
                    Call::Commit {
                        task,
                        round: Round(0),
                        kind: CommitKind::Weights,
                        hash: Hash32::ZERO,
                    },
                ),
                TxError::WrongRole {
                    task,
                    kind: CommitKind::Weights,
                    role: Role::Miner,
                },
            )
        }),
        ("validator commits an update", |env| {
            let task = std_task(env);
            reg_as(env, task, 1, Role::Validator);
            (
                env.sign(
                    1,
                    Call::Commit {
                        task,
                        round: Round(0),
                        kind: CommitKind::Update,
                        hash: Hash32::ZERO,
                    },
                ),
                TxError::WrongRole {
                    task,
                    kind: CommitKind::Update,
                    role: Role::Validator,
                },
            )
        }),
        ("vote on a yuma task", |env| {
            let task = env.task(0, |s| s.windows[1].kind = CommitKind::Vote);
            reg(env, task, 1);
            env.goto(10);
            (
                env.sign(
                    1,
                    Call::Commit {
                        task,
                        round: Round(0),
                        kind: CommitKind::Vote,
                        hash: Hash32::ZERO,
                    },
                ),
                TxError::KindNotInMechanism {
                    task,
                    kind: CommitKind::Vote,
                    mechanism: Mechanism::Yuma,
                },
            )
        }),
        ("weights on a proposer/voter task", |env| {
            let task = env.task(0, |s| s.mechanism = Mechanism::ProposerVoter);
            reg_as(env, task, 1, Role::Validator);
            env.goto(10);
            (
                env.sign(
                    1,
                    Call::Commit {
                        task,
                        round: Round(0),
                        kind: CommitKind::Weights,
                        hash: Hash32::ZERO,
                    },
                ),
                TxError::KindNotInMechanism {
                    task,
                    kind: CommitKind::Weights,
                    mechanism: Mechanism::ProposerVoter,
                },
            )
        }),
        ("vote by a participant not drawn as voter", |env| {
            let task = pv_task(env);
            reg(env, task, 1); // the only participant: drawn as proposer
            env.goto(12);
            (
                env.sign(
                    1,
                    Call::Commit {
                        task,
                        round: Round(0),
                        kind: CommitKind::Vote,
                        hash: Hash32::ZERO,
                    },
                ),
                TxError::NotDrawn {
                    task,
                    round: Round(0),
                    kind: CommitKind::Vote,
                },
            )
        }),
        ("update by a participant registered after the draw", |env| {
            let task = pv_task(env);
            env.goto(5); // round 0 started at 4: its roles are drawn
            reg(env, task, 1);
            (
                env.sign(
                    1,
                    Call::Commit {
                        task,
                        round: Round(0),
                        kind: CommitKind::Update,
                        hash: Hash32::ZERO,
                    },
                ),
                TxError::NotDrawn {
                    task,
                    round: Round(0),
                    kind: CommitKind::Update,
                },
            )
        }),
        ("record a model of another's task", |env| {
            let task = std_task(env);
            env.goto(12);
            (
                env.sign(1, record(task, 0, &[])),
                TxError::NotTaskProposer {
                    task,
                    proposer: env.id(0),
                },
            )
        }),
        ("record a model of a round not ended", |env| {
            let task = std_task(env);
            env.goto(11);
            (
                env.sign(0, record(task, 0, &[])),
                TxError::RoundNotEnded {
                    task,
                    round: Round(0),
                    last_block: Height(11),
                },
            )
        }),
        ("record a model of a round past the last", |env| {
            let task = std_task(env);
            (
                env.sign(0, record(task, 3, &[])),
                TxError::RoundOutOfRange {
                    task,
                    round: Round(3),
                    rounds: 3,
                },
            )
        }),
        ("record a model of an unknown task", |env| {
            let task = TaskId(9);
            (
                env.sign(0, record(task, 0, &[])),
                TxError::UnknownTask { task },
            )
        }),
        ("record a model twice", |env| {
            let task = revealed_update(env);
            env.ok(0, record(task, 0, &[(0, b"u")]));
            (
                env.sign(0, record(task, 0, &[])),
                TxError::ModelAlreadyRecorded {
                    task,
                    round: Round(0),
                },
            )
        }),
        ("record a contributor twice", |env| {
            let task = revealed_update(env);
            (
                env.sign(0, record(task, 0, &[(0, b"u"), (0, b"u")])),
                TxError::DuplicateContributor { uid: Uid(0) },
            )
        }),
        ("record a contributor that did not reveal", |env| {
            let task = revealed_update(env);
            (
                env.sign(0, record(task, 0, &[(0, b"u"), (1, b"u")])),
                TxError::ContributorNotRevealed {
                    task,
                    round: Round(0),
                    uid: Uid(1),
                },
            )
        }),
        ("record a contributor with another blob", |env| {
            let task = revealed_update(env);
            (
                env.sign(0, record(task, 0, &[(0, b"w")])),
                TxError::ContributorBlobMismatch {
                    round: Round(0),
                    uid: Uid(0),
                    revealed: Hash32::of(b"u"),
                    given: Hash32::of(b"w"),
                },
            )
        }),
        ("invalid parameter change", |env| {
            env.ok(1, Call::Stake { amount: Amount(10) });
            let change = ParamChange::GovQuorum(Fixed::from_int(2));
            let e = TxError::InvalidParam(change.applied_to(env.state.params()).unwrap_err());
            (env.sign(1, Call::GovPropose { change }), e)
        }),
        ("vote on unknown proposal", |env| {
            env.ok(1, Call::Stake { amount: Amount(10) });
            let proposal = ProposalId(4);
            (
                env.sign(
                    1,
                    Call::GovVote {
                        proposal,
                        approve: true,
                    },
                ),
                TxError::UnknownProposal { proposal },
            )
        }),
        ("vote after voting closed", |env| {
            env.ok(1, Call::Stake { amount: Amount(10) });
            let change = ParamChange::MinFee(Amount(2));
            env.ok(1, Call::GovPropose { change }); // at 2, voting through 5
            env.goto(6);
            let proposal = ProposalId(0);
            (
                env.sign(
                    1,
                    Call::GovVote {
                        proposal,
                        approve: true,
                    },
                ),
                TxError::VotingClosed {
                    proposal,
                    voting_end: Height(5),
                },
            )
        }),
        ("vote twice", |env| {
            env.ok(1, Call::Stake { amount: Amount(10) });
            let change = ParamChange::MinFee(Amount(2));
            env.ok(1, Call::GovPropose { change });
            let proposal = ProposalId(0);
            let vote = Call::GovVote {
                proposal,
                approve: true,
            };
            env.ok(1, vote.clone());
            (env.sign(1, vote), TxError::AlreadyVoted { proposal })
        }),
        ("propose without stake", |env| {
            let change = ParamChange::MinFee(Amount(2));
            (
                env.sign(1, Call::GovPropose { change }),
                TxError::NoVotingPower,
            )
        }),
        ("vote without stake", |env| {
            env.ok(1, Call::Stake { amount: Amount(10) });
            let change = ParamChange::MinFee(Amount(2));
            env.ok(1, Call::GovPropose { change });
            (
                env.sign(
                    2,
                    Call::GovVote {
                        proposal: ProposalId(0),
                        approve: false,
                    },
                ),
                TxError::NoVotingPower,
            )
        }),
    ]
}

#[test]
fn every_error_path_has_its_exact_error_and_effect() {
    let mut covered = BTreeSet::new();
    for (name, setup) in cases() {
        let mut env = Env::new();
        let (stx, want) = setup(&mut env);
        let pre = env.state.clone();
        let ctx = env.ctx();
        let got = apply_tx(&mut env.state, &stx, &ctx);
        assert_eq!(got, Err(want.clone()), "case {name:?}");
        covered.insert(variant(&want));
        let post = mirror(&env.state);
        if want.is_rejection() {
            assert_eq!(
                post,
                mirror(&pre),
                "case {name:?}: a rejection changed the state"
            );
            // ... and a block producer drops it.
            let mut env2 = Env {
                state: pre.clone(),
                keys: env.keys.clone(),
                head: env.head.clone(),
            };
            let (block, _) = build_block(&mut env2.state, &env.head, 1 << 40, vec![stx]);
            assert!(
                block.txs.is_empty(),
                "case {name:?}: rejected tx entered a block"
            );
            continue;
        }
        let mut expected = fee_only(&pre, &stx.signer, stx.tx.fee);
        match &want {
            TxError::AlreadyRegistered { task, offence, .. } => {
                expected.offences.insert(
                    *offence,
                    Offence {
                        kind: OffenceKind::DoubleRegistration,
                        task: *task,
                        offender: stx.signer,
                        height: ctx.height,
                        slashed: false,
                    },
                );
                expected.counters.next_offence += 1;
            }
            TxError::RevealMismatch { key } => {
                expected.commitments.get_mut(key).unwrap().status =
                    CommitStatus::Mismatched { at: ctx.height };
            }
            e => assert!(!e.records_offence()),
        }
        assert_eq!(
            post, expected,
            "case {name:?}: changed more than fee and nonce"
        );
        env.state.check_invariants().unwrap();
    }
    let all: BTreeSet<&str> = ALL.into_iter().collect();
    let missing: Vec<_> = all.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "TxError variants without a case: {missing:?}"
    );
    assert_eq!(covered.len(), ALL.len());
}

#[test]
fn error_messages_say_what_is_accepted() {
    for (name, setup) in cases() {
        let mut env = Env::new();
        let (_, e) = setup(&mut env);
        let msg = e.to_string();
        assert!(msg.len() > 10, "case {name:?}: terse message {msg:?}");
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<TxError>(&json).unwrap(), e);
        assert_eq!(decode::<TxError>(&encode(&e)).unwrap(), e);
    }
}
