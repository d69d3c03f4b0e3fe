//! FLock-style proposer/voter rounds: random roles each round, proposers train, voters score,
//! the stake-weighted vote accepts or rejects the round, and the losing side is slashable.
//!
//! A task with `mechanism = ProposerVoter` runs these rules instead of Yuma epochs.
//!
//! # Roles
//! At the **beginning** of the first block of round `r` (before its transactions, so a commit in
//! that block already sees them), the ledger draws the round's roles among the task's
//! registered participants — whatever role they registered with — whose hotkey stake (self +
//! delegated) is at least the task's `min_stake`:
//! 1. `seed = Hash32::tagged("deai/pv/roles", [parent_hash, encode(task), encode(round)])`,
//!    where `parent_hash` is the hash of the header preceding the round's first block (in the
//!    [`BlockCtx`](crate::BlockCtx) of that block);
//! 2. every candidate UID `u` gets the ticket `Hash32::tagged("deai/pv/draw", [seed, u as u16
//!    little-endian])`; candidates are ordered by ticket (then UID);
//! 3. the first `min(pv_proposers, candidates)` are the **proposers**, the rest the **voters**;
//!    both lists are stored sorted by UID ([`State::pv_roles`](crate::State::pv_roles)).
//!
//! Anyone can re-derive the draw from the chain. Participants registering after the draw take
//! part from the next round on.
//!
//! # Work
//! Proposers commit and reveal `Update`s (an [`UpdatePreimage`]: blob address of their update).
//! Voters fetch the proposers' updates, aggregate them, measure the accuracy change on their own
//! test split and commit and reveal a `Vote` (a [`VotePreimage`] whose `score` is that change,
//! negative if the round hurt). Only drawn proposers may commit updates and only drawn voters
//! votes in the round; missed and mismatched reveals are slashable as on every task.
//!
//! # Settlement
//! At the **end** of the round's last block, with `P` the proposers that revealed an update and
//! `V` the voters that revealed a vote:
//! - The round reward is `R = floor(escrow / rounds_left)` (`rounds_left` counts this round), so
//!   the last round releases what is left.
//! - If `P` or `V` is empty the round is **void**: nothing is paid, nobody offends, `R` stays in
//!   the escrow.
//! - Otherwise `vote_sum = Σ_{v∈V} w_v · score_v` with `w_v = stake_v / Σ_V stake` (I32F32,
//!   rounded down; equal weights `1/|V|` if the voters hold no stake). The round is
//!   **accepted** iff `vote_sum ≥ 0`.
//! - Accepted: the proposers' part `floor(miner_share · R)` is split over `P` by stake
//!   (`floor(part · stake_p / Σ_P stake)`, equal split if `P` holds no stake).
//!   Rejected: the proposers' part stays in the escrow and every proposer in `P` gets a
//!   [`OffenceKind::BadRound`] offence.
//! - The voters on the majority side — score `≥ 0` if accepted, `< 0` if rejected — share the
//!   voters' part `R − proposers' part` by stake the same way; every minority voter gets a
//!   `BadRound` offence.
//! - Payments go through [`distribute_reward`] (take, then stakers pro rata, as bonded stake);
//!   rounding dust stays in the escrow. The settlement is stored as a
//!   [`PvRoundRecord`].
//!
//! A `BadRound` offence is slashed like any recorded offence (`Evidence::Offence`), except for
//! where the slashed stake goes: `pv_slash_to_pool` of it (default 90%) returns to the task's
//! escrow and the rest goes to the reporter (the evidence submitter); `slash_destination` and
//! `slash_reporter_share` do not apply.
//!
//! Role draws and round records are kept for the newest `records_kept` rounds per task.

use deai_types::{
    decode, encode, AccountId, Amount, CommitKey, CommitKind, Fixed, Hash32, Height, OffenceKind,
    Round, TaskId, Uid, UpdatePreimage, VotePreimage,
};

use crate::error::TxError;
use crate::receipt::Event;
use crate::rewards::distribute_reward;
use crate::state::{CommitStatus, PvRoles, PvRoundRecord, Rw, State, Task};

/// The round of `t` whose first block is `h`, if any.
pub(crate) fn round_starting_at(t: &Task, h: Height) -> Option<Round> {
    let r = t.round_at(h)?;
    (t.round_start(r) == Some(h)).then_some(r)
}

/// The seed of a round's draw.
pub fn draw_seed(parent_hash: Hash32, task: TaskId, round: Round) -> Hash32 {
    Hash32::tagged(
        b"deai/pv/roles",
        &[&parent_hash.0, &encode(&task), &encode(&round)],
    )
}

/// Draw the roles of `round` of `task` from `candidates` (UIDs eligible for the draw) — the
/// pure part of the draw, see the module docs.
pub fn draw_roles(seed: Hash32, candidates: &[Uid], proposers: u16) -> PvRoles {
    let mut tickets: Vec<(Hash32, Uid)> = candidates
        .iter()
        .map(|u| {
            (
                Hash32::tagged(b"deai/pv/draw", &[&seed.0, &u.0.to_le_bytes()]),
                *u,
            )
        })
        .collect();
    tickets.sort();
    let k = usize::from(proposers).min(tickets.len());
    let mut p: Vec<Uid> = tickets.iter().take(k).map(|(_, u)| *u).collect();
    let mut v: Vec<Uid> = tickets.iter().skip(k).map(|(_, u)| *u).collect();
    p.sort();
    v.sort();
    PvRoles {
        proposers: p,
        voters: v,
    }
}

/// The candidates of a draw: registered UIDs whose hotkey stake is at least `min_stake`.
fn candidates(state: &State, task: TaskId, t: &Task) -> Vec<Uid> {
    state
        .registrations(task)
        .filter(|(_, r)| state.hotkey_stake(&r.account) >= t.spec.min_stake)
        .map(|(u, _)| u)
        .collect()
}

/// Begin-of-block: draw the roles of every proposer/voter round starting at this height.
pub(crate) fn draw_due(rw: &mut Rw<'_>, task: TaskId, round: Round, parent_hash: Hash32) -> Event {
    let t = rw.s.tasks.get(&task);
    let roles = match t {
        Some(t) => draw_roles(
            draw_seed(parent_hash, task, round),
            &candidates(rw.s, task, t),
            rw.s.params.pv_proposers,
        ),
        None => PvRoles::default(),
    };
    let event = Event::RolesDrawn {
        task,
        round,
        proposers: u16::try_from(roles.proposers.len()).unwrap_or(u16::MAX),
        voters: u16::try_from(roles.voters.len()).unwrap_or(u16::MAX),
    };
    rw.set_pv_roles(task, round, Some(roles));
    let kept = rw.s.params.records_kept;
    if kept > 0 && round.0 >= u64::from(kept) {
        let cutoff = Round(round.0 + 1 - u64::from(kept));
        let old: Vec<Round> =
            rw.s.pv_roles
                .range((task, Round(0))..(task, cutoff))
                .map(|((_, r), _)| *r)
                .collect();
        for r in old {
            rw.set_pv_roles(task, r, None);
        }
    }
    event
}

/// The revealed preimage of `(task, round, kind, account)`, if any.
fn revealed(
    state: &State,
    task: TaskId,
    round: Round,
    kind: CommitKind,
    account: AccountId,
) -> Option<&[u8]> {
    let key = CommitKey {
        task,
        round,
        kind,
        account,
    };
    match state.commitments.get(&key).map(|c| &c.status) {
        Some(CommitStatus::Revealed { preimage, .. }) => Some(preimage),
        _ => None,
    }
}

/// `floor(part · w_i / Σw)` for each `i`, or `floor(part / n)` each if `Σw = 0`.
fn split(part: Amount, weights: &[Amount]) -> Result<Vec<Amount>, TxError> {
    let total = weights
        .iter()
        .try_fold(Amount::ZERO, |a, b| a.checked_add(*b))
        .ok_or_else(|| TxError::overflow("stake total"))?;
    if total.is_zero() {
        let n = u128::try_from(weights.len()).unwrap_or(u128::MAX).max(1);
        return Ok(vec![Amount(part.0 / n); weights.len()]);
    }
    weights
        .iter()
        .map(|w| {
            part.mul_div_floor(*w, total)
                .ok_or_else(|| TxError::overflow("reward share"))
        })
        .collect()
}

/// Pay each `(uid, account)` its amount out of the escrow; returns `(uid, paid)` for non-zero
/// payments.
fn pay(
    rw: &mut Rw<'_>,
    task: TaskId,
    who: &[(Uid, AccountId)],
    amounts: &[Amount],
    events: &mut Vec<Event>,
) -> Result<Vec<(Uid, Amount)>, TxError> {
    let mut out = Vec::new();
    for ((uid, account), amount) in who.iter().zip(amounts) {
        if amount.is_zero() {
            continue;
        }
        let funds = rw.take_escrow(task, *amount)?;
        let s = distribute_reward(rw, *account, funds)?;
        events.push(Event::Rewarded {
            hotkey: *account,
            amount: *amount,
            take: s.take,
        });
        out.push((*uid, *amount));
    }
    Ok(out)
}

/// End-of-block: settle round `round` of proposer/voter task `task` (see the module docs).
pub(crate) fn settle_round(
    rw: &mut Rw<'_>,
    task: TaskId,
    round: Round,
    at: Height,
) -> Result<Vec<Event>, TxError> {
    let mut events = Vec::new();
    let t = rw.task(task)?;
    let roles = rw.s.pv_roles(task, round).cloned().unwrap_or_default();
    let account = |s: &State, u: Uid| s.registrations.get(&(task, u)).map(|r| r.account);
    let mut proposers: Vec<(Uid, AccountId)> = Vec::new();
    for u in &roles.proposers {
        let Some(a) = account(rw.s, *u) else { continue };
        let ok = revealed(rw.s, task, round, CommitKind::Update, a)
            .is_some_and(|p| decode::<UpdatePreimage>(p).is_ok());
        if ok {
            proposers.push((*u, a));
        }
    }
    let mut voters: Vec<(Uid, AccountId, Fixed)> = Vec::new();
    for u in &roles.voters {
        let Some(a) = account(rw.s, *u) else { continue };
        if let Some(v) = revealed(rw.s, task, round, CommitKind::Vote, a)
            .and_then(|p| decode::<VotePreimage>(p).ok())
        {
            voters.push((*u, a, v.score));
        }
    }
    let escrow = rw.s.tasks.get(&task).map_or(Amount::ZERO, |t| t.escrow);
    let rounds_left = t.spec.rounds.saturating_sub(round.0).max(1);
    let reward = Amount(escrow.0 / u128::from(rounds_left));
    let mut record = PvRoundRecord {
        at,
        accepted: false,
        void: proposers.is_empty() || voters.is_empty(),
        vote_sum: Fixed::ZERO,
        reward,
        proposer_paid: Vec::new(),
        voter_paid: Vec::new(),
        offences: Vec::new(),
    };
    if !record.void {
        // The stake-weighted mean score.
        let stakes: Vec<Amount> = voters
            .iter()
            .map(|(_, a, _)| rw.s.hotkey_stake(a))
            .collect();
        let weights = split(Amount(1u128 << 32), &stakes)?;
        let mut sum = Fixed::ZERO;
        for ((_, _, score), w) in voters.iter().zip(&weights) {
            let w = Fixed::from_bits(i64::try_from(w.0).map_err(|_| TxError::overflow("vote"))?);
            sum = Fixed(sum.0.saturating_add(w.0.saturating_mul(score.0)));
        }
        record.vote_sum = sum;
        record.accepted = sum >= Fixed::ZERO;

        let proposer_part = t
            .spec
            .miner_share
            .mul_amount_floor(reward)
            .ok_or_else(|| TxError::overflow("proposer share"))?;
        let voter_part = reward
            .checked_sub(proposer_part)
            .ok_or_else(|| TxError::overflow("voter part"))?;
        if record.accepted {
            let stakes: Vec<Amount> = proposers
                .iter()
                .map(|(_, a)| rw.s.hotkey_stake(a))
                .collect();
            let amounts = split(proposer_part, &stakes)?;
            record.proposer_paid = pay(rw, task, &proposers, &amounts, &mut events)?;
        } else {
            for (u, a) in &proposers {
                let id = rw.record_offence(OffenceKind::BadRound, task, *a, at)?;
                record.offences.push((*u, id));
                events.push(Event::OffenceRecorded { id, offender: *a });
            }
        }
        let (majority, minority): (Vec<_>, Vec<_>) = voters
            .iter()
            .partition(|(_, _, s)| (*s >= Fixed::ZERO) == record.accepted);
        let who: Vec<(Uid, AccountId)> = majority.iter().map(|(u, a, _)| (*u, *a)).collect();
        let stakes: Vec<Amount> = who.iter().map(|(_, a)| rw.s.hotkey_stake(a)).collect();
        let amounts = split(voter_part, &stakes)?;
        record.voter_paid = pay(rw, task, &who, &amounts, &mut events)?;
        for (u, a, _) in minority {
            let id = rw.record_offence(OffenceKind::BadRound, task, a, at)?;
            record.offences.push((u, id));
            events.push(Event::OffenceRecorded { id, offender: a });
        }
    }
    let paid = record
        .proposer_paid
        .iter()
        .chain(&record.voter_paid)
        .try_fold(Amount::ZERO, |a, (_, b)| a.checked_add(*b))
        .ok_or_else(|| TxError::overflow("paid"))?;
    events.push(Event::RoundSettled {
        task,
        round,
        accepted: record.accepted,
        paid,
    });
    rw.set_pv_round(task, round, Some(record));
    let kept = rw.s.params.records_kept;
    if kept > 0 && round.0 >= u64::from(kept) {
        let cutoff = Round(round.0 + 1 - u64::from(kept));
        let old: Vec<Round> =
            rw.s.pv_rounds
                .range((task, Round(0))..(task, cutoff))
                .map(|((_, r), _)| *r)
                .collect();
        for r in old {
            rw.set_pv_round(task, r, None);
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_reproducible_partitions() {
        let c: Vec<Uid> = (0..10).map(Uid).collect();
        let seed = draw_seed(Hash32::of(b"parent"), TaskId(1), Round(2));
        let a = draw_roles(seed, &c, 3);
        assert_eq!(a, draw_roles(seed, &c, 3));
        assert_eq!(a.proposers.len(), 3);
        assert_eq!(a.voters.len(), 7);
        let mut all: Vec<Uid> = a.proposers.iter().chain(&a.voters).copied().collect();
        all.sort();
        assert_eq!(all, c);
        assert!(a.proposers.windows(2).all(|w| w[0] < w[1]));
        // Another parent hash, task or round changes the seed.
        assert_ne!(seed, draw_seed(Hash32::of(b"other"), TaskId(1), Round(2)));
        assert_ne!(seed, draw_seed(Hash32::of(b"parent"), TaskId(2), Round(2)));
        assert_ne!(seed, draw_seed(Hash32::of(b"parent"), TaskId(1), Round(3)));
        // Fewer candidates than proposer slots: everyone proposes.
        let few = draw_roles(seed, &c[..2], 3);
        assert_eq!((few.proposers.len(), few.voters.len()), (2, 0));
    }

    #[test]
    fn draws_are_fair_over_many_seeds() {
        // Over 2000 seeds each of 10 candidates is drawn as proposer about 3/10 of the time.
        let c: Vec<Uid> = (0..10).map(Uid).collect();
        let mut hits = [0u32; 10];
        for i in 0u64..2000 {
            let seed = draw_seed(Hash32::of(&i.to_le_bytes()), TaskId(0), Round(0));
            for u in draw_roles(seed, &c, 3).proposers {
                hits[usize::from(u.0)] += 1;
            }
        }
        // Binomial(2000, 0.3): mean 600, sd ≈ 20.5; 5 sd bounds.
        assert!(hits.iter().all(|h| (497..=703).contains(h)), "{hits:?}");
    }

    #[test]
    fn split_is_floor_pro_rata_or_equal() {
        assert_eq!(
            split(Amount(10), &[Amount(1), Amount(2)]).unwrap(),
            vec![Amount(3), Amount(6)]
        );
        assert_eq!(
            split(Amount(10), &[Amount(0), Amount(0), Amount(0)]).unwrap(),
            vec![Amount(3); 3]
        );
        assert_eq!(split(Amount(10), &[]).unwrap(), Vec::<Amount>::new());
    }
}
