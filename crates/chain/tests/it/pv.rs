//! Proposer/voter rounds on the ledger: reproducible role draws, acceptance and rejection by
//! the stake-weighted vote, majority and minority voters, void rounds, and the `BadRound`
//! slash split. Expected amounts follow the rules in `deai_chain::pv`.

use deai_chain::*;
use deai_types::*;

use crate::common::*;

/// Account 0 proposes a proposer/voter task at height 1 (round 0 starts at 5; rounds of 10
/// blocks: Update commit [0,4) reveal [4,8), Vote commit [8,9) reveal [9,10)); at height 2
/// accounts 1..=n stake and register (UID = account − 1).
struct Pv {
    env: Env,
    task: TaskId,
    n: usize,
}

impl Pv {
    fn new(params: Params, stakes: &[u128]) -> Pv {
        let n = stakes.len();
        let mut env = Env::with(params, n + 1);
        let task = env.task(0, |s| {
            s.mechanism = Mechanism::ProposerVoter;
            s.start_delay = 4;
            s.max_uids = 8;
            s.windows[1].kind = CommitKind::Vote;
        });
        let mut calls = Vec::new();
        for (i, s) in stakes.iter().enumerate() {
            calls.push((i + 1, Call::Stake { amount: Amount(*s) }));
            calls.push((
                i + 1,
                Call::Register {
                    task,
                    role: Role::Miner,
                },
            ));
        }
        env.multi(calls);
        Pv { env, task, n }
    }

    fn start(&self, r: u64) -> u64 {
        let t = self.env.state.task(self.task).unwrap();
        t.round_start(Round(r)).unwrap().0
    }

    fn acct(u: Uid) -> usize {
        usize::from(u.0) + 1
    }

    /// The roles of round `r` predicted from the chain before its first block: the draw over
    /// every registered UID (all have stake >= min_stake 0) seeded by the parent hash.
    fn predict(&self, r: u64) -> PvRoles {
        assert_eq!(self.env.next_height(), self.start(r));
        let candidates: Vec<Uid> = (0..self.n as u16).map(Uid).collect();
        let seed = draw_seed(self.env.head.hash(), self.task, Round(r));
        draw_roles(seed, &candidates, self.env.state.params().pv_proposers)
    }

    /// Round `r`: every drawn proposer commits (in the round's first block) and reveals an
    /// update; every drawn voter with `score(uid, stake)` = Some commits and reveals that vote.
    /// Returns the roles.
    fn round(&mut self, r: u64, score: impl Fn(Uid, Amount) -> Option<Fixed>) -> PvRoles {
        let (task, s) = (self.task, self.start(r));
        self.env.goto(s);
        let roles = self.predict(r);
        let ups: Vec<(usize, Vec<u8>)> = roles
            .proposers
            .iter()
            .map(|u| (Self::acct(*u), upd(format!("{r} {}", u.0).as_bytes())))
            .collect();
        let calls = ups
            .iter()
            .map(|(i, p)| (*i, commit_of(&self.env, task, r, CommitKind::Update, *i, p)))
            .collect();
        self.env.multi(calls);
        assert_eq!(self.env.state.pv_roles(task, Round(r)), Some(&roles));
        self.env.goto(s + 4);
        let calls = ups
            .iter()
            .map(|(i, p)| (*i, reveal_of(task, r, CommitKind::Update, p)))
            .collect();
        self.env.multi(calls);
        self.env.goto(s + 8);
        let votes: Vec<(usize, Vec<u8>)> = roles
            .voters
            .iter()
            .filter_map(|u| {
                let stake = self.env.state.hotkey_stake(&self.env.id(Self::acct(*u)));
                score(*u, stake).map(|score| {
                    let pre = encode(&VotePreimage {
                        score,
                        salt: [u.0 as u8; 32],
                    });
                    (Self::acct(*u), pre)
                })
            })
            .collect();
        let calls = votes
            .iter()
            .map(|(i, p)| (*i, commit_of(&self.env, task, r, CommitKind::Vote, *i, p)))
            .collect();
        self.env.multi(calls);
        let calls = votes
            .iter()
            .map(|(i, p)| (*i, reveal_of(task, r, CommitKind::Vote, p)))
            .collect();
        self.env.multi(calls);
        assert_eq!(self.env.state.height().0, s + 9);
        roles
    }

    fn stake(&self, u: Uid) -> Amount {
        self.env.state.hotkey_stake(&self.env.id(Self::acct(u)))
    }

    fn escrow(&self) -> Amount {
        self.env.state.task(self.task).unwrap().escrow
    }

    fn record(&self, r: u64) -> PvRoundRecord {
        self.env
            .state
            .pv_round(self.task, Round(r))
            .cloned()
            .unwrap_or_else(|| panic!("round {r} not settled"))
    }
}

/// floor(part · w_i / Σw) per UID (the pro-rata rule).
fn pro_rata(part: u128, who: &[(Uid, Amount)]) -> Vec<(Uid, Amount)> {
    let total: u128 = who.iter().map(|(_, s)| s.0).sum();
    who.iter()
        .map(|(u, s)| (*u, Amount(part * s.0 / total)))
        .filter(|(_, a)| !a.is_zero())
        .collect()
}

const STAKES: [u128; 5] = [1_000, 2_000, 3_000, 4_000, 5_000];

fn pv_params() -> Params {
    Params {
        pv_proposers: 2,
        ..params()
    }
}

fn up(x: i32) -> Fixed {
    Fixed::from_ratio(i64::from(x), 100).unwrap()
}

#[test]
fn roles_are_drawn_reproducibly_at_the_start_of_each_round() {
    let play = || {
        let mut pv = Pv::new(pv_params(), &STAKES);
        // `round` asserts that the stored roles equal the prediction from the parent hash.
        let roles: Vec<PvRoles> = (0..3).map(|r| pv.round(r, |_, _| Some(up(1)))).collect();
        (roles, pv.env.state.root())
    };
    let (a, root_a) = play();
    for roles in &a {
        assert_eq!((roles.proposers.len(), roles.voters.len()), (2, 3));
    }
    // An independent run of the same blocks draws the same roles and reaches the same state.
    let (b, root_b) = play();
    assert_eq!(a, b);
    assert_eq!(root_a, root_b);
}

#[test]
fn an_accepted_round_pays_proposers_and_voters_by_stake() {
    let mut pv = Pv::new(pv_params(), &STAKES);
    let roles = pv.round(0, |_, _| Some(up(2)));
    let rec = pv.record(0);
    assert!(rec.accepted && !rec.void);
    assert!((rec.vote_sum.to_f64() - 0.02).abs() < 1e-6);
    assert_eq!(rec.reward, Amount(10_000 / 3));
    let part = 3_333 / 2; // floor(miner_share 0.5 · 3333)
    let props: Vec<(Uid, Amount)> = roles
        .proposers
        .iter()
        .map(|u| (*u, STAKES[u.0 as usize].into()))
        .collect();
    let voters: Vec<(Uid, Amount)> = roles
        .voters
        .iter()
        .map(|u| (*u, STAKES[u.0 as usize].into()))
        .collect();
    assert_eq!(rec.proposer_paid, pro_rata(part, &props));
    assert_eq!(rec.voter_paid, pro_rata(3_333 - part, &voters));
    assert!(rec.offences.is_empty());
    // Paid as bonded stake.
    for (u, a) in rec.proposer_paid.iter().chain(&rec.voter_paid) {
        assert_eq!(pv.stake(*u).0, STAKES[u.0 as usize] + a.0);
    }
    let paid: u128 = rec
        .proposer_paid
        .iter()
        .chain(&rec.voter_paid)
        .map(|(_, a)| a.0)
        .sum();
    assert_eq!(pv.escrow().0, 10_000 - paid);
    assert_eq!(pv.env.state.offences().count(), 0);
    pv.env.state.check_invariants().unwrap();
}

#[test]
fn a_rejected_round_offends_its_proposers_and_keeps_their_part() {
    let mut pv = Pv::new(pv_params(), &STAKES);
    let roles = pv.round(0, |_, _| Some(up(-3)));
    let rec = pv.record(0);
    assert!(!rec.accepted && !rec.void);
    assert!(rec.vote_sum < Fixed::ZERO);
    assert!(rec.proposer_paid.is_empty());
    // All voters voted "reject": all are on the majority side.
    let voters: Vec<(Uid, Amount)> = roles
        .voters
        .iter()
        .map(|u| (*u, STAKES[u.0 as usize].into()))
        .collect();
    assert_eq!(rec.voter_paid, pro_rata(3_333 - 3_333 / 2, &voters));
    let offenders: Vec<Uid> = rec.offences.iter().map(|(u, _)| *u).collect();
    assert_eq!(offenders, roles.proposers);
    for (u, id) in &rec.offences {
        let o = pv.env.state.offence(*id).unwrap();
        assert_eq!(o.kind, OffenceKind::BadRound);
        assert_eq!(o.offender, pv.env.id(Pv::acct(*u)));
    }
    let paid: u128 = rec.voter_paid.iter().map(|(_, a)| a.0).sum();
    assert_eq!(pv.escrow().0, 10_000 - paid);
}

#[test]
fn the_vote_is_stake_weighted_and_the_minority_offends() {
    // The largest voter rejects (−0.5), the others accept (+0.1): with three voters the
    // stake-weighted sum is ≤ −0.5·s_max + 0.1·2·s_max < 0 although most voters accept.
    let mut pv = Pv::new(pv_params(), &STAKES);
    pv.round(0, |_, _| None); // a void round first: no votes at all
    assert!(pv.record(0).void);
    let top = |pv: &Pv, r: u64| {
        let roles = pv.predict(r);
        *roles
            .voters
            .iter()
            .max_by_key(|u| STAKES[u.0 as usize])
            .unwrap()
    };
    pv.env.goto(pv.start(1));
    let t1 = top(&pv, 1);
    let roles = pv.round(1, move |u, _| Some(if u == t1 { up(-50) } else { up(10) }));
    let rec = pv.record(1);
    assert!(!rec.accepted);
    let minority: Vec<Uid> = roles.voters.iter().copied().filter(|u| *u != t1).collect();
    let offended: Vec<Uid> = rec
        .offences
        .iter()
        .map(|(u, _)| *u)
        .filter(|u| roles.voters.contains(u))
        .collect();
    assert_eq!(offended, minority);
    assert_eq!(rec.voter_paid.len(), 1);
    assert_eq!(rec.voter_paid[0].0, t1);
    // And the mirror image: the largest voter accepts, the rest reject → accepted.
    pv.env.goto(pv.start(2));
    let t2 = top(&pv, 2);
    let roles = pv.round(2, move |u, _| Some(if u == t2 { up(50) } else { up(-10) }));
    let rec = pv.record(2);
    assert!(rec.accepted);
    let offended: Vec<Uid> = rec.offences.iter().map(|(u, _)| *u).collect();
    let minority: Vec<Uid> = roles.voters.iter().copied().filter(|u| *u != t2).collect();
    assert_eq!(offended, minority);
    assert_eq!(rec.proposer_paid.len(), 2);
    pv.env.state.check_invariants().unwrap();
}

#[test]
fn a_void_round_pays_nothing_and_keeps_the_reward() {
    let mut pv = Pv::new(pv_params(), &STAKES);
    pv.round(0, |_, _| None);
    let rec = pv.record(0);
    assert!(rec.void && !rec.accepted);
    assert!(rec.proposer_paid.is_empty() && rec.voter_paid.is_empty() && rec.offences.is_empty());
    assert_eq!(pv.escrow(), Amount(10_000));
    // Next round's reward is the carried escrow over the rounds left: 10000 / 2.
    pv.round(1, |_, _| Some(up(1)));
    assert_eq!(pv.record(1).reward, Amount(5_000));
}

#[test]
fn a_bad_round_slash_returns_most_of_it_to_the_pool_and_the_rest_to_the_reporter() {
    let mut pv = Pv::new(pv_params(), &STAKES);
    pv.round(0, |_, _| Some(up(-1)));
    let rec = pv.record(0);
    let (uid, id) = rec.offences[0];
    let offender = pv.env.id(Pv::acct(uid));
    let stake = pv.env.state.hotkey_stake(&offender);
    let escrow = pv.escrow();
    let reporter = pv.env.state.balance_of(&pv.env.id(0));
    let evidence = Evidence::Offence(id);
    let r = pv.env.ok(0, Call::Slash { evidence });
    let p = pv.env.state.params().clone();
    let amount = p
        .slash_fraction(OffenceKind::BadRound)
        .mul_amount(stake)
        .unwrap();
    let to_pool = p.pv_slash_to_pool.mul_amount(amount).unwrap();
    assert!(!amount.is_zero() && to_pool < amount);
    assert_eq!(
        r.events,
        vec![Event::Slashed {
            evidence,
            offender,
            reporter: pv.env.id(0),
            amount,
            to_reporter: Amount(amount.0 - to_pool.0),
            to_pool,
            burned: Amount(0),
        }]
    );
    assert_eq!(pv.escrow().0, escrow.0 + to_pool.0);
    assert_eq!(
        pv.env.state.balance_of(&pv.env.id(0)).0,
        reporter.0 + amount.0 - to_pool.0 - FEE
    );
    pv.env.state.check_invariants().unwrap();
}

#[test]
fn only_drawn_participants_commit_their_kind() {
    let mut pv = Pv::new(pv_params(), &STAKES);
    let task = pv.task;
    pv.env.goto(pv.start(0));
    let roles = pv.predict(0);
    pv.env.block(vec![]);
    let voter = Pv::acct(roles.voters[0]);
    let proposer = Pv::acct(roles.proposers[0]);
    let c = commit_of(&pv.env, task, 0, CommitKind::Update, voter, &upd(b"x"));
    assert_eq!(
        pv.env.exec(voter, c),
        Err(TxError::NotDrawn {
            task,
            round: Round(0),
            kind: CommitKind::Update
        })
    );
    pv.env.goto(pv.start(0) + 8);
    let c = commit_of(&pv.env, task, 0, CommitKind::Vote, proposer, b"x");
    assert_eq!(
        pv.env.exec(proposer, c),
        Err(TxError::NotDrawn {
            task,
            round: Round(0),
            kind: CommitKind::Vote
        })
    );
}

#[test]
fn participants_below_min_stake_are_not_drawn() {
    let mut env = Env::with(pv_params(), 4);
    let task = env.task(0, |s| {
        s.mechanism = Mechanism::ProposerVoter;
        s.start_delay = 4;
        s.windows[1].kind = CommitKind::Vote;
        s.min_stake = Amount(100);
    });
    let mut calls = Vec::new();
    for i in 1..=3 {
        calls.push((
            i,
            Call::Stake {
                amount: Amount(500),
            },
        ));
        calls.push((
            i,
            Call::Register {
                task,
                role: Role::Miner,
            },
        ));
    }
    calls.push((
        1,
        Call::Unstake {
            amount: Amount(450),
        },
    )); // UID 0 falls below 100
    env.multi(calls);
    env.goto(6);
    let roles = env.state.pv_roles(task, Round(0)).unwrap();
    let mut all: Vec<Uid> = roles
        .proposers
        .iter()
        .chain(&roles.voters)
        .copied()
        .collect();
    all.sort();
    assert_eq!(all, vec![Uid(1), Uid(2)]);
}
