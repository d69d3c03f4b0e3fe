//! Successful paths of every transaction, rewards, slashing and governance, with amounts
//! computed by hand from the rules in the crate docs.

use deai_chain::*;
use deai_types::*;

use crate::common::*;

fn bal(env: &Env, i: usize) -> u128 {
    env.state.balance_of(&env.id(i)).0
}

#[test]
fn transfer_moves_balance_burns_fee_and_advances_nonce() {
    let mut env = Env::new();
    let to = env.id(2);
    let r = env
        .try_tx(
            1,
            Call::Transfer {
                to,
                amount: Amount(300),
            },
        )
        .unwrap();
    assert_eq!(r.fee, Amount(FEE));
    assert_eq!(bal(&env, 1), FUND - 300 - FEE);
    assert_eq!(bal(&env, 2), FUND + 300);
    assert_eq!(env.state.nonce_of(&env.id(1)), Nonce(1));
    assert_eq!(env.state.supply().burned, Amount(FEE));
    assert_eq!(env.state.total_supply(), Amount(6 * FUND - FEE));
    env.state.check_invariants().unwrap();
    // A transfer to a brand-new account creates it.
    let fresh = Keypair::from_seed([77; 32]).account();
    env.try_tx(
        1,
        Call::Transfer {
            to: fresh,
            amount: Amount(5),
        },
    )
    .unwrap();
    assert_eq!(env.state.balance_of(&fresh), Amount(5));
}

#[test]
fn stake_unstake_withdraw_respects_the_unbonding_delay() {
    let mut env = Env::new();
    let me = env.id(1);
    env.ok(
        1,
        Call::Stake {
            amount: Amount(100),
        },
    ); // height 1
    assert_eq!(env.state.stake(&me, &me), Amount(100));
    assert_eq!(env.state.hotkey_stake(&me), Amount(100));
    assert_eq!(env.state.staker_stake(&me), Amount(100));
    let r = env.ok(1, Call::Unstake { amount: Amount(40) }); // height 2, release 2 + 5
    assert_eq!(
        r.events,
        vec![Event::Unbonding {
            staker: me,
            hotkey: me,
            amount: Amount(40),
            release: Height(7),
        }]
    );
    assert_eq!(env.state.supply().unbonding, Amount(40));
    env.goto(6);
    assert!(matches!(
        env.exec(1, Call::Withdraw),
        Err(TxError::NothingToWithdraw { .. })
    ));
    env.goto(7);
    let r = env.ok(1, Call::Withdraw);
    assert_eq!(
        r.events,
        vec![Event::Withdrawn {
            account: me,
            amount: Amount(40),
        }]
    );
    assert_eq!(bal(&env, 1), FUND - 100 + 40 - 4 * FEE);
    assert_eq!(env.state.stake(&me, &me), Amount(60));
    assert_eq!(env.state.supply().unbonding, Amount(0));
    env.state.check_invariants().unwrap();
}

#[test]
fn rewards_split_by_take_then_pro_rata() {
    let mut env = Env::new();
    let (h, d2, d3) = (env.id(1), env.id(2), env.id(3));
    env.ok(
        1,
        Call::Stake {
            amount: Amount(100),
        },
    );
    env.ok(
        2,
        Call::Delegate {
            hotkey: h,
            amount: Amount(300),
        },
    );
    env.ok(
        3,
        Call::Delegate {
            hotkey: h,
            amount: Amount(600),
        },
    );
    env.ok(
        1,
        Call::SetTake {
            take: Fixed::from_ratio(1, 4).unwrap(),
        },
    );
    let minted_before = env.state.supply().minted;
    let split = env
        .state
        .atomically(|rw| {
            let funds = rw.mint(Amount(1000))?;
            distribute_reward(rw, h, funds)
        })
        .unwrap();
    // take = 1000/4 = 250; rest 750 split over 1000 staked: d2 = 225, d3 = 450; the hotkey
    // gets its own 75 + take 250 = 325.
    assert_eq!(split.take, Amount(250));
    assert_eq!(split.to_hotkey, Amount(325));
    let mut want = vec![(d2, Amount(225)), (d3, Amount(450))];
    want.sort(); // the chain iterates stakers in key order
    assert_eq!(split.to_delegators, want);
    assert_eq!(env.state.stake(&h, &h), Amount(425));
    assert_eq!(env.state.stake(&h, &d2), Amount(525));
    assert_eq!(env.state.stake(&h, &d3), Amount(1050));
    assert_eq!(env.state.supply().minted.0 - minted_before.0, 1000);
    env.state.check_invariants().unwrap();
    // Rounding: 7 split 1:3:6 with take 1/4 -> take 1, rest 6: d2 floor(1.8)=1, d3 floor(3.6)=3,
    // hotkey 6-1-3 = 2 (+ take) = 3.
    let split = env
        .state
        .atomically(|rw| {
            let funds = rw.mint(Amount(7))?;
            distribute_reward(rw, h, funds)
        })
        .unwrap();
    let total: u128 =
        split.to_hotkey.0 + split.to_delegators.iter().map(|(_, a)| a.0).sum::<u128>();
    assert_eq!(total, 7);
    env.state.check_invariants().unwrap();
    // A hotkey without stake keeps everything.
    let lone = env.id(4);
    let split = env
        .state
        .atomically(|rw| {
            let funds = rw.mint(Amount(10))?;
            distribute_reward(rw, lone, funds)
        })
        .unwrap();
    assert_eq!(split.to_hotkey, Amount(10));
    assert_eq!(env.state.stake(&lone, &lone), Amount(10));
    env.state.check_invariants().unwrap();
}

#[test]
fn escrow_pays_rewards_and_failed_closure_rolls_back() {
    let mut env = Env::new();
    let task = env.task(0, |_| {});
    assert_eq!(env.state.task(task).unwrap().escrow, Amount(10_000));
    assert_eq!(env.state.supply().escrowed, Amount(10_000));
    assert_eq!(bal(&env, 0), FUND - 10_000 - FEE);
    let h = env.id(1);
    env.state
        .atomically(|rw| {
            let f = rw.take_escrow(task, Amount(4_000))?;
            distribute_reward(rw, h, f)
        })
        .unwrap();
    assert_eq!(env.state.task(task).unwrap().escrow, Amount(6_000));
    assert_eq!(env.state.hotkey_stake(&h), Amount(4_000));
    let before = env.state.root();
    let r = env.state.atomically(|rw| {
        let f = rw.take_escrow(task, Amount(1_000))?;
        distribute_reward(rw, h, f)?;
        rw.take_escrow(task, Amount(10_000)).map(|f| rw.burn(f))
    });
    assert!(matches!(r, Err(TxError::InsufficientBalance { .. })));
    assert_eq!(
        env.state.root(),
        before,
        "a failed atomically() must undo everything"
    );
    env.state.check_invariants().unwrap();
}

#[test]
fn registration_assigns_sequential_uids_and_burns_the_cost() {
    let mut env = Env::new();
    let task = env.task(0, |_| {});
    let burned = env.state.supply().burned;
    for (n, i) in [1usize, 2, 3].into_iter().enumerate() {
        let role = if n == 0 { Role::Validator } else { Role::Miner };
        let r = env.ok(i, Call::Register { task, role });
        assert_eq!(
            r.events,
            vec![Event::Registered {
                task,
                uid: Uid(n as u16),
                account: env.id(i),
                role,
                cost: Amount(100),
            }]
        );
    }
    assert_eq!(env.state.supply().burned.0 - burned.0, 3 * (100 + FEE));
    let regs: Vec<_> = env
        .state
        .registrations(task)
        .map(|(u, r)| (u, r.account))
        .collect();
    assert_eq!(
        regs,
        vec![
            (Uid(0), env.id(1)),
            (Uid(1), env.id(2)),
            (Uid(2), env.id(3))
        ]
    );
    assert_eq!(env.state.uid_of(task, &env.id(2)), Some(Uid(1)));
    env.state.check_invariants().unwrap();
}

fn commit_call(env: &Env, task: TaskId, round: u64, i: usize, pre: &[u8]) -> Call {
    let k = key(env, task, round, CommitKind::Update, i);
    Call::Commit {
        task,
        round: Round(round),
        kind: CommitKind::Update,
        hash: commitment_hash(&k, &upd(pre)),
    }
}

fn reveal(task: TaskId, round: u64, pre: &[u8]) -> Call {
    Call::Reveal {
        task,
        round: Round(round),
        kind: CommitKind::Update,
        preimage: upd(pre),
    }
}

#[test]
fn commit_then_reveal_records_the_preimage() {
    let mut env = Env::new();
    let task = env.task(0, |_| {}); // round 0 at 2: commit [2,6), reveal [6,10)
    env.ok(
        1,
        Call::Register {
            task,
            role: Role::Miner,
        },
    );
    let c = commit_call(&env, task, 0, 1, b"update-1");
    env.ok(1, c);
    env.goto(6);
    env.ok(1, reveal(task, 0, b"update-1"));
    let k = key(&env, task, 0, CommitKind::Update, 1);
    let c = env.state.commitment(&k).unwrap();
    assert_eq!(
        c.status,
        CommitStatus::Revealed {
            preimage: upd(b"update-1"),
            at: Height(6),
        }
    );
    // Copying someone else's hash does not let you reveal their preimage.
    env.goto(12); // round 1 commit window [12, 16)
    env.ok(
        2,
        Call::Register {
            task,
            role: Role::Miner,
        },
    );
    let honest = commit_call(&env, task, 1, 1, b"mine");
    let Call::Commit { hash, .. } = honest.clone() else {
        unreachable!()
    };
    env.ok(1, honest);
    env.ok(
        2,
        Call::Commit {
            task,
            round: Round(1),
            kind: CommitKind::Update,
            hash,
        },
    );
    env.goto(16);
    env.ok(1, reveal(task, 1, b"mine"));
    assert!(matches!(
        env.exec(2, reveal(task, 1, b"mine")),
        Err(TxError::RevealMismatch { .. })
    ));
}

/// Offender 1 (self-stake 1000, delegated 500 from 2) commits and never reveals; 3 reports.
fn missed_reveal_env(dest: SlashDestination) -> (Env, TaskId, Evidence) {
    let mut env = Env::with(
        Params {
            slash_destination: dest,
            ..params()
        },
        6,
    );
    let task = env.task(0, |_| {});
    let h = env.id(1);
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
            amount: Amount(500),
        },
    );
    env.ok(
        1,
        Call::Register {
            task,
            role: Role::Miner,
        },
    );
    let c = commit_call(&env, task, 0, 1, b"x");
    env.ok(1, c);
    env.goto(10);
    let ev = Evidence::MissedReveal(key(&env, task, 0, CommitKind::Update, 1));
    (env, task, ev)
}

#[test]
fn missed_reveal_is_slashed_to_the_task_pool_with_a_reporter_share() {
    let (mut env, task, evidence) = missed_reveal_env(SlashDestination::TaskPool);
    let h = env.id(1);
    let escrow = env.state.task(task).unwrap().escrow;
    let r = env.ok(3, Call::Slash { evidence });
    // 10% of 1000 and of 500 = 150; reporter 10% of 150 = 15; pool 135.
    assert_eq!(
        r.events,
        vec![Event::Slashed {
            evidence,
            offender: h,
            reporter: env.id(3),
            amount: Amount(150),
            to_reporter: Amount(15),
            to_pool: Amount(135),
            burned: Amount(0),
        }]
    );
    assert_eq!(env.state.stake(&h, &h), Amount(900));
    assert_eq!(env.state.stake(&h, &env.id(2)), Amount(450));
    assert_eq!(bal(&env, 3), FUND - FEE + 15);
    assert_eq!(env.state.task(task).unwrap().escrow.0, escrow.0 + 135);
    env.state.check_invariants().unwrap();
}

#[test]
fn slash_with_burn_destination_burns_and_catches_unbonding_stake() {
    let (mut env, _task, evidence) = missed_reveal_env(SlashDestination::Burn);
    let h = env.id(1);
    // The offender tries to run: unbonds 600 of its 1000 before being reported.
    env.ok(
        1,
        Call::Unstake {
            amount: Amount(600),
        },
    );
    let burned = env.state.supply().burned;
    let r = env.ok(3, Call::Slash { evidence });
    // 10% of bonded 400 (self) + 500 (delegated) + unbonding 600 = 40 + 50 + 60 = 150.
    let Event::Slashed {
        amount,
        to_reporter,
        burned: b,
        ..
    } = r.events[0].clone()
    else {
        panic!()
    };
    assert_eq!(
        (amount, to_reporter, b),
        (Amount(150), Amount(15), Amount(135))
    );
    assert_eq!(env.state.supply().burned.0 - burned.0, 135 + FEE);
    let unb: Vec<_> = env.state.unbonding_of(&h).collect();
    assert_eq!(unb.len(), 1);
    assert_eq!(unb[0].2, Amount(540));
    env.state.check_invariants().unwrap();
}

#[test]
fn mismatch_and_double_registration_are_slashable_once() {
    let mut env = Env::new();
    let task = env.task(0, |_| {});
    let h = env.id(1);
    env.ok(
        1,
        Call::Stake {
            amount: Amount(1000),
        },
    );
    env.ok(
        1,
        Call::Register {
            task,
            role: Role::Miner,
        },
    );
    let c = commit_call(&env, task, 0, 1, b"x");
    env.ok(1, c);
    // Double registration: fails, is charged, and records offence 0.
    assert!(matches!(
        env.exec(
            1,
            Call::Register {
                task,
                role: Role::Validator
            }
        ),
        Err(TxError::AlreadyRegistered {
            offence: OffenceId(0),
            ..
        })
    ));
    let o = env.state.offence(OffenceId(0)).unwrap();
    assert_eq!(
        (o.kind, o.offender, o.slashed),
        (OffenceKind::DoubleRegistration, h, false)
    );
    let r = env.ok(
        2,
        Call::Slash {
            evidence: Evidence::Offence(OffenceId(0)),
        },
    );
    let Event::Slashed { amount, .. } = r.events[0] else {
        panic!()
    };
    assert_eq!(amount, Amount(50)); // 5% of 1000
    assert!(env.state.offence(OffenceId(0)).unwrap().slashed);
    assert_eq!(env.next_height(), 7); // inside the reveal window [6, 10)
    assert!(matches!(
        env.exec(1, reveal(task, 0, b"y")),
        Err(TxError::RevealMismatch { .. })
    ));
    let k = key(&env, task, 0, CommitKind::Update, 1);
    let r = env.ok(
        2,
        Call::Slash {
            evidence: Evidence::RevealMismatch(k),
        },
    );
    let Event::Slashed { amount, .. } = r.events[0] else {
        panic!()
    };
    assert_eq!(amount, Amount(190)); // 20% of 950
                                     // The mismatched commitment cannot then be revealed correctly.
    assert!(matches!(
        env.exec(1, reveal(task, 0, b"x")),
        Err(TxError::AlreadyRevealed { .. })
    ));
    env.state.check_invariants().unwrap();
}

#[test]
fn governance_passes_with_quorum_and_executes_after_the_delay() {
    let mut env = Env::new();
    env.ok(
        1,
        Call::Stake {
            amount: Amount(600),
        },
    ); // h1
    env.ok(
        2,
        Call::Stake {
            amount: Amount(300),
        },
    ); // h2
    env.ok(
        3,
        Call::Stake {
            amount: Amount(100),
        },
    ); // h3
    let change = ParamChange::UnbondingBlocks(2);
    env.ok(3, Call::GovPropose { change }); // h4, voting through 7
    env.ok(
        1,
        Call::GovVote {
            proposal: ProposalId(0),
            approve: true,
        },
    ); // h5
    env.ok(
        2,
        Call::GovVote {
            proposal: ProposalId(0),
            approve: false,
        },
    ); // h6
    env.goto(7);
    let out = env.block(vec![]); // block 7 tallies: yes 600 >= 33.4% of 1000, 600 > 300
    assert!(out.is_empty());
    let p = env.state.proposal(ProposalId(0)).unwrap();
    assert_eq!(
        p.status,
        ProposalStatus::Passed {
            execute_at: Height(9)
        }
    );
    assert_eq!((p.yes, p.no), (Amount(600), Amount(300)));
    env.block(vec![]); // 8
    assert_eq!(env.state.params().unbonding_blocks, 5);
    env.block(vec![]); // 9 executes
    assert_eq!(env.state.params().unbonding_blocks, 2);
    assert_eq!(
        env.state.proposal(ProposalId(0)).unwrap().status,
        ProposalStatus::Executed
    );
    env.state.check_invariants().unwrap();
}

#[test]
fn governance_rejects_without_quorum_and_weighs_stake_at_the_tally() {
    let mut env = Env::new();
    env.ok(
        1,
        Call::Stake {
            amount: Amount(300),
        },
    ); // h1
    env.ok(
        2,
        Call::Stake {
            amount: Amount(700),
        },
    ); // h2
    env.ok(
        1,
        Call::GovPropose {
            change: ParamChange::MinFee(Amount(3)),
        },
    ); // h3, through 6
    env.ok(
        1,
        Call::GovVote {
            proposal: ProposalId(0),
            approve: true,
        },
    ); // h4
    env.goto(7);
    // 300 yes of 1000 bonded < 33.4% quorum.
    let p = env.state.proposal(ProposalId(0)).unwrap();
    assert_eq!(p.status, ProposalStatus::Rejected);
    assert_eq!(p.yes, Amount(300));
    // A voter who unbonds before the tally loses its weight.
    env.ok(
        2,
        Call::GovPropose {
            change: ParamChange::MinFee(Amount(3)),
        },
    ); // h7, through 10
    env.ok(
        2,
        Call::GovVote {
            proposal: ProposalId(1),
            approve: true,
        },
    ); // h8
    env.ok(
        2,
        Call::Unstake {
            amount: Amount(700),
        },
    ); // h9
    env.goto(11);
    let p = env.state.proposal(ProposalId(1)).unwrap();
    assert_eq!(p.status, ProposalStatus::Rejected);
    assert_eq!(p.yes, Amount(0));
    assert_eq!(env.state.params().min_fee, Amount(1));
}

#[test]
fn a_failed_transaction_is_included_and_charged() {
    let mut env = Env::new();
    let to = env.id(2);
    let good = env.sign(
        1,
        Call::Transfer {
            to,
            amount: Amount(5),
        },
    );
    let bad_nonce_later = env.keys[1].sign_tx(Tx {
        nonce: Nonce(1),
        ..good.tx.clone()
    });
    let failing = env.sign(3, Call::Unstake { amount: Amount(1) });
    let out = env.block(vec![good, bad_nonce_later, failing]);
    assert_eq!(out.len(), 3);
    assert!(out[0].is_ok() && out[1].is_ok());
    assert!(matches!(out[2], Err(TxError::InsufficientStake { .. })));
    assert_eq!(bal(&env, 3), FUND - FEE);
    assert_eq!(env.state.nonce_of(&env.id(3)), Nonce(1));
}

#[test]
fn the_proposer_records_a_round_model_with_revealed_contributors() {
    let mut env = Env::new();
    let task = env.task(0, |_| {});
    for i in [1, 2] {
        env.ok(
            i,
            Call::Register {
                task,
                role: Role::Miner,
            },
        );
    }
    for (i, tag) in [(1, b"a"), (2, b"b")] {
        let c = commit_call(&env, task, 0, i, tag);
        env.ok(i, c);
    }
    env.goto(6);
    for (i, tag) in [(1, b"a"), (2, b"b")] {
        env.ok(i, reveal(task, 0, tag));
    }
    env.goto(12);
    let contributors = vec![(Uid(1), Hash32::of(b"b")), (Uid(0), Hash32::of(b"a"))];
    let model = Hash32::of(b"global-1");
    let r = env.ok(
        0,
        Call::RecordModel {
            task,
            round: Round(0),
            model,
            contributors: contributors.clone(),
        },
    );
    assert_eq!(
        r.events,
        vec![Event::ModelRecorded {
            task,
            round: Round(0),
            model,
            contributors: 2,
        }]
    );
    let want = ModelRecord {
        model,
        contributors,
        at: Height(12),
    };
    assert_eq!(env.state.model_record(task, Round(0)), Some(&want));
    assert_eq!(env.state.model_record(task, Round(1)), None);
    let all: Vec<_> = env.state.model_records().collect();
    assert_eq!(all, vec![(&(task, Round(0)), &want)]);
    // An empty round (nobody rewarded) is recorded too.
    env.goto(22);
    env.ok(
        0,
        Call::RecordModel {
            task,
            round: Round(1),
            model,
            contributors: vec![],
        },
    );
    assert!(env.state.model_record(task, Round(1)).is_some());
    env.state.check_invariants().unwrap();
}
