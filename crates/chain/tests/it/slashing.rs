//! Every slashable offence of the protocol, table-driven, with both slash destinations: the
//! evidence is accepted once, the offender loses `slash_fraction(kind)` of its stake, the
//! reporter gets `slash_reporter_share` of that, and the rest is added to the task's escrow
//! (`TaskPool`) or burned (`Burn`).

use deai_chain::*;
use deai_types::*;

use crate::common::*;
use crate::epochs::Net;

/// Builds the offence on a fresh network; returns (offender account index, evidence, kind).
type Offend = fn(&mut Net) -> (usize, Evidence, OffenceKind);

fn cases() -> Vec<(&'static str, Offend)> {
    vec![
        ("miner commits an update and does not reveal it", |net| {
            let (task, m) = (net.task, net.miners[0]);
            net.env.goto(net.start(0));
            let c = commit_of(&net.env, task, 0, CommitKind::Update, m, &upd(b"x"));
            net.env.ok(m, c);
            // Reveal window [start + 4, start + 8): missed from start + 8 on.
            net.env.goto(net.start(0) + 8);
            let k = key(&net.env, task, 0, CommitKind::Update, m);
            (m, Evidence::MissedReveal(k), OffenceKind::MissedReveal)
        }),
        ("miner reveals a preimage that does not match", |net| {
            let (task, m) = (net.task, net.miners[0]);
            net.env.goto(net.start(0));
            let c = commit_of(&net.env, task, 0, CommitKind::Update, m, &upd(b"x"));
            net.env.ok(m, c);
            net.env.goto(net.start(0) + 4);
            let bad = reveal_of(task, 0, CommitKind::Update, &upd(b"y"));
            let k = key(&net.env, task, 0, CommitKind::Update, m);
            assert_eq!(
                net.env.exec(m, bad),
                Err(TxError::RevealMismatch { key: k })
            );
            (m, Evidence::RevealMismatch(k), OffenceKind::RevealMismatch)
        }),
        (
            "validator commits weights and does not reveal them",
            |net| {
                let (task, v) = (net.task, net.validators[0]);
                net.env.goto(net.start(0) + 8);
                let c = commit_of(
                    &net.env,
                    task,
                    0,
                    CommitKind::Weights,
                    v,
                    &wpre(&[(0, 1)], 0),
                );
                net.env.ok(v, c);
                // Reveal window [start + 9, start + 10).
                net.env.goto(net.start(0) + 10);
                let k = key(&net.env, task, 0, CommitKind::Weights, v);
                (v, Evidence::MissedReveal(k), OffenceKind::MissedReveal)
            },
        ),
        ("double registration", |net| {
            let (task, m) = (net.task, net.miners[1]);
            let again = Call::Register {
                task,
                role: Role::Validator,
            };
            let Err(TxError::AlreadyRegistered { offence, .. }) = net.env.exec(m, again) else {
                panic!("double registration accepted")
            };
            (
                m,
                Evidence::Offence(offence),
                OffenceKind::DoubleRegistration,
            )
        }),
        ("validator out of consensus", |net| {
            let v = net.validators[2];
            net.round(
                0,
                &[
                    (0, vec![(0, 1)], true),
                    (1, vec![(0, 1)], true),
                    (2, vec![(1, 1)], true),
                ],
            );
            let (id, o) = net
                .env
                .state
                .offences()
                .next()
                .map(|(id, o)| (*id, o.clone()))
                .expect("no offence recorded");
            assert_eq!(
                (o.kind, o.offender),
                (OffenceKind::OutOfConsensus, net.env.id(v))
            );
            (v, Evidence::Offence(id), OffenceKind::OutOfConsensus)
        }),
    ]
}

fn net(dest: SlashDestination) -> Net {
    let p = Params {
        slash_destination: dest,
        out_of_consensus_epochs: 1,
        ..params()
    };
    Net::new(p, |_| {}, &[1000, 1000], &[1000, 1000, 1000])
}

#[test]
fn every_offence_is_slashed_once_to_the_configured_destination() {
    for dest in [SlashDestination::TaskPool, SlashDestination::Burn] {
        for (name, offend) in cases() {
            let mut net = net(dest);
            let (i, evidence, kind) = offend(&mut net);
            let offender = net.env.id(i);
            let st = &net.env.state;
            let stake = st.hotkey_stake(&offender);
            let escrow = net.escrow();
            let burned = st.supply().burned;
            let reporter_balance = st.balance_of(&net.env.id(0));
            let p = st.params().clone();
            let r = net.env.ok(0, Call::Slash { evidence });
            let amount = p.slash_fraction(kind).mul_amount(stake).unwrap();
            assert!(!amount.is_zero(), "{name}");
            let to_reporter = p.slash_reporter_share.mul_amount(amount).unwrap();
            let rest = Amount(amount.0 - to_reporter.0);
            let (to_pool, burn) = match dest {
                SlashDestination::TaskPool => (rest, Amount(0)),
                SlashDestination::Burn => (Amount(0), rest),
            };
            assert_eq!(
                r.events,
                vec![Event::Slashed {
                    evidence,
                    offender,
                    reporter: net.env.id(0),
                    amount,
                    to_reporter,
                    to_pool,
                    burned: burn,
                }],
                "{name} ({dest:?})"
            );
            let st = &net.env.state;
            assert_eq!(st.hotkey_stake(&offender).0, stake.0 - amount.0, "{name}");
            assert_eq!(net.escrow().0, escrow.0 + to_pool.0, "{name}");
            assert_eq!(st.supply().burned.0, burned.0 + burn.0 + FEE, "{name}");
            assert_eq!(
                st.balance_of(&net.env.id(0)).0,
                reporter_balance.0 + to_reporter.0 - FEE,
                "{name}"
            );
            st.check_invariants().unwrap();
            // The same evidence slashes once.
            assert_eq!(
                net.env.exec(0, Call::Slash { evidence }),
                Err(TxError::AlreadySlashed { evidence }),
                "{name}"
            );
        }
    }
}
