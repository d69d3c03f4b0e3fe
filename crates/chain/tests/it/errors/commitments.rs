//! The error cases of tasks, registrations, commitments, reveals and evidence.

use deai_chain::*;
use deai_types::*;

use super::*;

pub(super) fn cases() -> Vec<(&'static str, Setup)> {
    vec![
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
    ]
}
