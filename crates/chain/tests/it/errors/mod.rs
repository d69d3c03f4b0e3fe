//! Table-driven: every `TxError` variant (and the distinct paths to several of them), each
//! checked for the exact error value and for the documented effect on the state:
//! rejections change nothing; execution failures change only fee and nonce (plus the offence
//! record for the two offence errors).

use std::collections::BTreeSet;

use deai_chain::*;
use deai_types::*;

use crate::common::*;

mod commitments;
mod ledger;
mod records;

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
    [ledger::cases(), commitments::cases(), records::cases()].concat()
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
