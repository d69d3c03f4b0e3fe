//! The error cases of preimages, roles, recorded models and governance.

use deai_chain::*;
use deai_types::*;

use super::*;

pub(super) fn cases() -> Vec<(&'static str, Setup)> {
    vec![
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
