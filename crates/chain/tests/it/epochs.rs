//! Yuma epochs on the ledger: consensus over revealed weights, payouts by incentive and
//! dividends, carried escrow, multi-round epochs, the out-of-consensus offence and record
//! pruning. Expected shares are derived by hand from the Yuma definition (see each test).

use deai_chain::*;
use deai_types::*;

use crate::common::*;

/// A Yuma network: account 0 proposes the task at height 1 (round 0 starts at 5, rounds of 10
/// blocks: Update commit [0,4) reveal [4,8), Weights commit [8,9) reveal [9,10)); at height 2
/// miners then validators stake and register, so UIDs follow that order.
pub struct Net {
    pub env: Env,
    pub task: TaskId,
    /// Accounts of the miners (UIDs 0..).
    pub miners: Vec<usize>,
    /// Accounts of the validators (UIDs after the miners).
    pub validators: Vec<usize>,
}

/// (validator index, weights on UIDs, whether it reveals them).
pub type Weights = (usize, Vec<(u16, u16)>, bool);

impl Net {
    pub fn new(
        params: Params,
        f: impl FnOnce(&mut TaskSpec),
        miner_stakes: &[u128],
        validator_stakes: &[u128],
    ) -> Net {
        let n = 1 + miner_stakes.len() + validator_stakes.len();
        let mut env = Env::with(params, n);
        let task = env.task(0, |s| {
            s.start_delay = 4;
            s.max_uids = 8;
            f(s)
        });
        let miners: Vec<usize> = (1..=miner_stakes.len()).collect();
        let validators: Vec<usize> = (miner_stakes.len() + 1..n).collect();
        let mut calls = Vec::new();
        for (i, s) in miners
            .iter()
            .zip(miner_stakes)
            .chain(validators.iter().zip(validator_stakes))
        {
            if *s > 0 {
                calls.push((*i, Call::Stake { amount: Amount(*s) }));
            }
        }
        for (i, role) in miners
            .iter()
            .map(|i| (*i, Role::Miner))
            .chain(validators.iter().map(|i| (*i, Role::Validator)))
        {
            calls.push((i, Call::Register { task, role }));
        }
        env.multi(calls);
        Net {
            env,
            task,
            miners,
            validators,
        }
    }

    pub fn start(&self, r: u64) -> u64 {
        self.env
            .state
            .task(self.task)
            .unwrap()
            .round_start(Round(r))
            .unwrap()
            .0
    }

    /// Round `r`: every miner commits and reveals an update; validator `v` (index into
    /// `validators`) commits `weights` and reveals them if `reveal`. Ends after the round's
    /// last block (where the epoch, if due, was processed).
    pub fn round(&mut self, r: u64, weights: &[Weights]) {
        let (task, s) = (self.task, self.start(r));
        self.env.goto(s);
        let ups: Vec<(usize, Vec<u8>)> = self
            .miners
            .iter()
            .map(|&i| (i, upd(format!("update {r} {i}").as_bytes())))
            .collect();
        let calls = ups
            .iter()
            .map(|(i, p)| (*i, commit_of(&self.env, task, r, CommitKind::Update, *i, p)))
            .collect();
        self.env.multi(calls);
        self.env.goto(s + 4);
        let calls = ups
            .iter()
            .map(|(i, p)| (*i, reveal_of(task, r, CommitKind::Update, p)))
            .collect();
        self.env.multi(calls);
        self.env.goto(s + 8);
        let pres: Vec<(usize, Vec<u8>, bool)> = weights
            .iter()
            .map(|(v, w, rev)| (self.validators[*v], wpre(w, r as u8), *rev))
            .collect();
        let calls = pres
            .iter()
            .map(|(i, p, _)| {
                (
                    *i,
                    commit_of(&self.env, task, r, CommitKind::Weights, *i, p),
                )
            })
            .collect();
        self.env.multi(calls);
        let calls = pres
            .iter()
            .filter(|(_, _, rev)| *rev)
            .map(|(i, p, _)| (*i, reveal_of(task, r, CommitKind::Weights, p)))
            .collect();
        self.env.multi(calls);
        assert_eq!(self.env.state.height().0, s + 9);
    }

    pub fn record(&self, e: u64) -> EpochRecord {
        self.env
            .state
            .epoch_record(self.task, Epoch(e))
            .cloned()
            .unwrap_or_else(|| panic!("no record of epoch {e}"))
    }

    pub fn escrow(&self) -> Amount {
        self.env.state.task(self.task).unwrap().escrow
    }
}

fn close(got: Fixed, want: f64) -> bool {
    (got.to_f64() - want).abs() < 1e-6
}

fn assert_shares(name: &str, got: &[Fixed], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{name}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(close(*g, *w), "{name}[{i}] = {g} but expected {w}");
    }
}

/// Each part is paid as `floor(share · part)` per UID.
fn assert_paid(paid: &[Amount], shares: &[Fixed], part: Amount) {
    for (p, s) in paid.iter().zip(shares) {
        assert_eq!(*p, s.mul_amount_floor(part).unwrap());
    }
}

fn sum(v: &[Amount]) -> u128 {
    v.iter().map(|a| a.0).sum()
}

#[test]
fn yuma_epoch_pays_miners_by_incentive_and_validators_by_dividends() {
    // Two validators (stake 3000 and 1000) give the same weights 3:1 to miners 0 and 1.
    // Yuma by hand: normalized weights (0.75, 0.25); the stake-weighted median of identical
    // weights is that weight, so consensus = (0.75, 0.25), nothing is clipped, validator trust
    // = 1; ranks = Σ s_i w_ij = (0.75, 0.25) = incentive. Bonds delta ΔB_ij = w_ij s_i
    // column-normalized = s_i; from zero bonds the EMA column-normalized is ΔB, so dividends
    // d_i = Σ_j s_i inc_j = s_i = (0.75, 0.25).
    let mut net = Net::new(params(), |_| {}, &[0, 0], &[3000, 1000]);
    let w = vec![(0, 3), (1, 1)];
    let before = net.env.state.total_supply();
    let burned_before = net.env.state.supply().burned;
    net.round(0, &[(0, w.clone(), true), (1, w.clone(), true)]);
    let r = net.record(0);
    assert_eq!(r.at, Height(net.start(0) + 9));
    assert_eq!(r.minted, Amount(0));
    assert_eq!(r.payout, Amount(10_000 / 3));
    assert_eq!(
        r.stake,
        vec![Amount(0), Amount(0), Amount(3000), Amount(1000)]
    );
    assert_eq!(r.weights_revealed, vec![false, false, true, true]);
    assert_shares("consensus", &r.consensus, &[0.75, 0.25, 0.0, 0.0]);
    assert_shares("incentive", &r.incentive, &[0.75, 0.25, 0.0, 0.0]);
    assert_shares("dividends", &r.dividends, &[0.0, 0.0, 0.75, 0.25]);
    assert_shares("validator_trust", &r.validator_trust, &[0.0, 0.0, 1.0, 1.0]);
    let miner_part = Amount(3333 / 2); // floor(0.5 · 3333)
    let validator_part = Amount(3333 - 3333 / 2);
    assert_paid(&r.miner_paid, &r.incentive, miner_part);
    assert_paid(&r.validator_paid, &r.dividends, validator_part);
    assert!(r.miner_paid[0].0.abs_diff(1249) <= 1 && r.miner_paid[1].0.abs_diff(416) <= 1);
    assert!(r.validator_paid[2].0.abs_diff(1250) <= 1);
    // Paid as bonded stake; the miners have no stakers, so they keep all of it.
    let st = &net.env.state;
    for (uid, i) in [(0usize, 1usize), (1, 2)] {
        assert_eq!(st.staker_stake(&net.env.id(i)), r.miner_paid[uid]);
    }
    assert_eq!(
        st.hotkey_stake(&net.env.id(3)).0,
        3000 + r.validator_paid[2].0
    );
    let paid = sum(&r.miner_paid) + sum(&r.validator_paid);
    assert_eq!(net.escrow().0, 10_000 - paid);
    // Only fees and registration costs burned; nothing minted.
    let s = st.supply();
    assert_eq!(s.minted, Amount(0));
    assert_eq!(
        st.total_supply().0 + (s.burned.0 - burned_before.0),
        before.0
    );
    st.check_invariants().unwrap();
    // Bonds stored for the validators, column maxima upscaled to 65535.
    let b0 = st.bonds_of(net.task, Uid(2));
    assert_eq!(
        b0.iter().map(|(u, _)| *u).collect::<Vec<_>>(),
        [Uid(0), Uid(1)]
    );
    assert!(b0.iter().all(|(_, b)| *b == 65535));
    assert!(!st.bonds_of(net.task, Uid(3)).is_empty());
    assert!(st.bonds_of(net.task, Uid(0)).is_empty());
}

#[test]
fn the_epoch_is_processed_at_the_end_of_its_last_block_only() {
    let mut net = Net::new(params(), |_| {}, &[0], &[1000]);
    net.round(0, &[(0, vec![(0, 1)], true)]);
    assert!(net.env.state.epoch_record(net.task, Epoch(0)).is_some());
    // Round 1: nobody does anything; its epoch is still processed, after block start + 9.
    net.env.goto(net.start(1) + 9);
    assert_eq!(net.env.state.height().0, net.start(1) + 8);
    assert!(net.env.state.epoch_record(net.task, Epoch(1)).is_none());
    net.env.block(vec![]);
    let r = net.record(1);
    assert_eq!(r.at, Height(net.start(1) + 9));
    assert_eq!(r.weights_revealed, vec![false, false]);
}

#[test]
fn a_silent_validator_is_inactive_and_earns_no_dividends() {
    // Validator 1 commits but does not reveal: its row is empty and it is inactive, so
    // consensus is validator 0's weights alone and validator 0 holds every dividend.
    let mut net = Net::new(params(), |_| {}, &[0, 0], &[1000, 1000]);
    net.round(
        0,
        &[(0, vec![(0, 1), (1, 3)], true), (1, vec![(0, 1)], false)],
    );
    let r = net.record(0);
    assert_eq!(r.weights_revealed, vec![false, false, true, false]);
    assert_shares("incentive", &r.incentive, &[0.25, 0.75, 0.0, 0.0]);
    assert_shares("dividends", &r.dividends, &[0.0, 0.0, 1.0, 0.0]);
    assert_eq!(r.validator_paid[3], Amount(0));
    assert_eq!(r.validator_paid[2], Amount(3333 - 3333 / 2));
    net.env.state.check_invariants().unwrap();
}

#[test]
fn an_epoch_without_weights_pays_nothing_and_carries_the_escrow_with_emission() {
    let p = Params {
        emission_per_epoch: Amount(500),
        ..params()
    };
    let mut net = Net::new(p, |_| {}, &[0], &[1000]);
    let issued = net.env.state.total_supply();
    let burned = net.env.state.supply().burned;
    net.round(0, &[(0, vec![(0, 1)], false)]);
    let r = net.record(0);
    assert_eq!(r.minted, Amount(500));
    assert_eq!(r.payout, Amount(10_500 / 3));
    assert!(r.incentive.iter().all(|x| *x == Fixed::ZERO));
    assert!(r.dividends.iter().all(|x| *x == Fixed::ZERO));
    assert_eq!(sum(&r.miner_paid) + sum(&r.validator_paid), 0);
    assert_eq!(net.escrow(), Amount(10_500));
    let st = &net.env.state;
    let new_burn = st.supply().burned.0 - burned.0;
    assert_eq!(st.total_supply().0, issued.0 + 500 - new_burn);
    assert_eq!(st.supply().minted, Amount(500));
    // Next epoch: (10500 + 500) / 2 released, fully earned by the only miner and validator
    // (incentive and dividends are exactly 1).
    net.round(1, &[(0, vec![(0, 1)], true)]);
    let r = net.record(1);
    assert_eq!(r.payout, Amount(5_500));
    assert_eq!(r.miner_paid, vec![Amount(2_750), Amount(0)]);
    assert_eq!(r.validator_paid, vec![Amount(0), Amount(2_750)]);
    assert_eq!(net.escrow(), Amount(5_500));
    net.env.state.check_invariants().unwrap();
}

#[test]
fn multi_round_epochs_use_the_latest_reveal_and_the_last_epoch_releases_the_rest() {
    // Epochs of 2 rounds over 3 rounds: epoch 0 = rounds 0-1, epoch 1 = round 2 (shorter).
    let mut net = Net::new(params(), |s| s.epoch_rounds = 2, &[0, 0], &[1000]);
    net.round(0, &[(0, vec![(0, 1)], true)]);
    assert!(net.env.state.epoch_record(net.task, Epoch(0)).is_none());
    net.round(1, &[(0, vec![(1, 1)], true)]);
    let r = net.record(0);
    // Round 1's weights (all on miner 1) replace round 0's.
    assert_shares("incentive", &r.incentive, &[0.0, 1.0, 0.0]);
    assert_eq!(r.payout, Amount(5_000));
    assert_eq!(r.miner_paid, vec![Amount(0), Amount(2_500), Amount(0)]);
    let left = net.escrow();
    assert_eq!(left, Amount(5_000));
    net.round(2, &[(0, vec![(0, 2), (1, 2)], true)]);
    let r = net.record(1);
    assert_eq!(r.payout, left);
    assert_shares("incentive", &r.incentive, &[0.5, 0.5, 0.0]);
    let paid = sum(&r.miner_paid) + sum(&r.validator_paid);
    assert_paid(&r.miner_paid, &r.incentive, Amount(2_500));
    assert_eq!(net.escrow().0, left.0 - paid);
    net.env.state.check_invariants().unwrap();
}

/// Three validators of equal stake; two weight miner 0, the third only miner 1. The median of
/// miner 1's column at κ ≈ 1/2 is 0, so the dissenter's clipped row is empty: trust 0.
fn dissent(p: Params, epochs: u64) -> Net {
    let mut net = Net::new(p, |_| {}, &[0, 0], &[1000, 1000, 1000]);
    for r in 0..epochs {
        net.round(
            r,
            &[
                (0, vec![(0, 1)], true),
                (1, vec![(0, 1)], true),
                (2, vec![(1, 1)], true),
            ],
        );
        let rec = net.record(r);
        assert_shares(
            "validator_trust",
            &rec.validator_trust,
            &[0.0, 0.0, 1.0, 1.0, 0.0],
        );
    }
    net
}

#[test]
fn out_of_consensus_is_off_by_default() {
    let net = dissent(params(), 3);
    assert_eq!(net.env.state.offences().count(), 0);
    assert_eq!(net.env.state.low_trust_streak(net.task, Uid(4)), 0);
}

#[test]
fn out_of_consensus_for_k_epochs_records_one_offence_per_streak_and_is_slashable() {
    let p = Params {
        out_of_consensus_epochs: 2,
        out_of_consensus_trust: Fixed::from_bps(5_000),
        ..params()
    };
    let mut net = Net::new(p, |_| {}, &[0, 0], &[1000, 1000, 1000]);
    let dissenter = net.env.id(net.validators[2]);
    let weights = [
        (0, vec![(0, 1)], true),
        (1, vec![(0, 1)], true),
        (2, vec![(1, 1)], true),
    ];
    net.round(0, &weights);
    assert_eq!(net.env.state.offences().count(), 0);
    assert_eq!(net.env.state.low_trust_streak(net.task, Uid(4)), 1);
    net.round(1, &weights);
    let offences: Vec<_> = net
        .env
        .state
        .offences()
        .map(|(id, o)| (*id, o.clone()))
        .collect();
    assert_eq!(
        offences,
        vec![(
            OffenceId(0),
            Offence {
                kind: OffenceKind::OutOfConsensus,
                task: net.task,
                offender: dissenter,
                height: Height(net.start(1) + 9),
                slashed: false,
            }
        )]
    );
    net.round(2, &weights);
    assert_eq!(net.env.state.low_trust_streak(net.task, Uid(4)), 3);
    assert_eq!(net.env.state.offences().count(), 1, "once per streak");
    // The agreeing validators never start a streak.
    assert_eq!(net.env.state.low_trust_streak(net.task, Uid(2)), 0);
    let stake = net.env.state.hotkey_stake(&dissenter);
    let r = net.env.ok(
        0,
        Call::Slash {
            evidence: Evidence::Offence(OffenceId(0)),
        },
    );
    let Event::Slashed { amount, .. } = r.events[0] else {
        panic!("{:?}", r.events)
    };
    // 5% (default OutOfConsensus fraction) of the dissenter's stake.
    assert_eq!(amount, Fixed::from_bps(500).mul_amount(stake).unwrap());
    assert_eq!(net.env.state.hotkey_stake(&dissenter).0, stake.0 - amount.0);
    net.env.state.check_invariants().unwrap();
}

#[test]
fn a_streak_is_reset_by_agreement_or_silence() {
    let p = Params {
        out_of_consensus_epochs: 2,
        ..params()
    };
    let mut net = Net::new(p, |_| {}, &[0, 0], &[1000, 1000, 1000]);
    let agree = (0, vec![(0, 1)], true);
    let agree2 = (1, vec![(0, 1)], true);
    net.round(0, &[agree.clone(), agree2.clone(), (2, vec![(1, 1)], true)]);
    assert_eq!(net.env.state.low_trust_streak(net.task, Uid(4)), 1);
    net.round(
        1,
        &[agree.clone(), agree2.clone(), (2, vec![(1, 1)], false)],
    );
    assert_eq!(net.env.state.low_trust_streak(net.task, Uid(4)), 0);
    net.round(2, &[agree, agree2, (2, vec![(1, 1)], true)]);
    assert_eq!(net.env.state.low_trust_streak(net.task, Uid(4)), 1);
    assert_eq!(net.env.state.offences().count(), 0);
}

#[test]
fn only_the_newest_records_are_kept() {
    let p = Params {
        records_kept: 2,
        ..params()
    };
    let mut net = Net::new(p, |_| {}, &[0], &[1000]);
    for r in 0..3 {
        net.round(r, &[(0, vec![(0, 1)], true)]);
    }
    let kept: Vec<Epoch> = net
        .env
        .state
        .epoch_records()
        .map(|((_, e), _)| *e)
        .collect();
    assert_eq!(kept, vec![Epoch(1), Epoch(2)]);
}

#[test]
fn ledger_yuma_defaults_are_subtensors() {
    let d = deai_yuma::FixedParams::chain_defaults();
    let p = Params::default();
    assert_eq!(p.yuma_kappa, Fixed(d.kappa));
    assert_eq!(p.yuma_bonds_penalty, Fixed(d.bonds_penalty));
    assert_eq!(p.yuma_bonds_moving_average, Fixed(d.bonds_moving_average));
}
