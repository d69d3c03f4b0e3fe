//! End-of-epoch processing of Yuma tasks: consensus over revealed weights, payouts from the
//! escrow, bonds, and the out-of-consensus offence.
//!
//! # When
//! Epoch `e` of a task is the run of rounds `[e · epoch_rounds, min((e + 1) · epoch_rounds,
//! rounds))`. It is processed at the end of the last block of its last round
//! (`round_start(last) + round_blocks − 1`), after that block's transactions, so a reveal in the
//! round's last block still counts.
//!
//! # Inputs
//! - `n` = the task's UIDs so far (`next_uid`); every vector of the [`EpochRecord`] has length
//!   `n`, indexed by UID.
//! - Stake of UID `i` = the total stake on its hotkey (self + delegated) at that moment.
//! - Weights row of validator `i` = the [`WeightsPreimage`] it revealed in the *latest* round
//!   of the epoch in which it revealed one (rows of miners and of validators that revealed
//!   nothing are empty).
//! - Validator permits = the UIDs registered as validators (miners hold none); a validator is
//!   *active* iff it revealed weights in the epoch, so the stake of a silent validator does not
//!   drag consensus towards zero (subtensor's activity cutoff plays the same role).
//! - Bonds = the `u16` bonds stored by the previous epoch; classic Yuma (no Yuma3) with
//!   `yuma_kappa`, `yuma_bonds_penalty` and `yuma_bonds_moving_average` from [`Params`]
//!   (defaults κ = 32767/65535, penalty 1, moving average 0.9, as subtensor). The new bonds
//!   (`bonds_out_u16`) replace them.
//!
//! The epoch runs in `deai_yuma::epoch_fixed`, I32F32 fixed point, bit-identical everywhere.
//!
//! # Payout
//! 1. `emission_per_epoch` is minted into the task's escrow.
//! 2. `payout = floor(escrow / epochs_left)` where `epochs_left` counts this epoch and the later
//!    ones, so the last epoch releases the whole remaining escrow.
//! 3. The miners' part `floor(miner_share · payout)` is split by **incentive**: UID `i`
//!    receives `floor(incentive_i · part)` (in practice only miners receive weight, but a UID
//!    holding incentive is paid whatever its role). The validators' part, `payout − miners'
//!    part`, is split by **dividends** the same way.
//! 4. Every payment goes through [`distribute_reward`] (the hotkey's take, then its stakers pro
//!    rata; rewards are bonded stake). What is not paid — rounding dust, the miners' part when
//!    all incentive is 0, the validators' part when all dividends are 0 (nobody is paid for an
//!    epoch in which no validator revealed usable weights: Yuma's fallback of paying validators
//!    by stake would reward silence) — stays in the escrow for later epochs.
//!
//! # Out of consensus
//! With `out_of_consensus_epochs = k > 0`, each validator keeps a streak: an epoch in which it
//! revealed weights and its validator trust is below `out_of_consensus_trust` extends it; an
//! epoch with trust at or above the threshold, or without revealed weights, resets it to 0.
//! When the streak reaches exactly `k`, an [`OffenceKind::OutOfConsensus`] offence is recorded
//! (once per streak; slashable through `Evidence::Offence`). With `k = 0` (default) nothing is
//! tracked.
//!
//! # Records
//! An [`EpochRecord`] is stored per processed epoch; only the newest `records_kept` per task
//! are kept (0 = all) so the state (whose root is hashed every block) stays bounded.
//!
//! [`Params`]: deai_types::Params
//! [`WeightsPreimage`]: deai_types::WeightsPreimage

use deai_types::{
    decode, Amount, CommitKey, CommitKind, Epoch, Fixed, Height, OffenceKind, Role, Round, TaskId,
    Uid, WeightsPreimage,
};
use deai_yuma::{
    bonds_from_u16, epoch_fixed, weights_from_u16, FixedInput, FixedParams, Masks, Outdated,
    UidMatrix, I32F32, I96F32,
};

use crate::error::TxError;
use crate::receipt::Event;
use crate::rewards::distribute_reward;
use crate::state::{CommitStatus, EpochRecord, Rw, Task};

/// The epoch whose processing is due at the end of height `h`, if any.
pub(crate) fn epoch_due(t: &Task, h: Height) -> Option<Epoch> {
    let r = round_ending_at(t, h)?;
    let last_of_epoch = (r.0 + 1) % t.spec.epoch_rounds.max(1) == 0 || r.0 + 1 == t.spec.rounds;
    last_of_epoch.then(|| t.epoch_of(r))
}

/// The round whose last block is `h`, if any.
pub(crate) fn round_ending_at(t: &Task, h: Height) -> Option<Round> {
    let r = t.round_at(h)?;
    (t.round_last_block(r) == Some(h)).then_some(r)
}

fn fixed(x: I32F32) -> Fixed {
    Fixed(x)
}

fn fx(x: Fixed) -> I32F32 {
    x.0
}

fn yuma_failed(e: impl std::fmt::Display) -> TxError {
    TxError::Overflow {
        what: format!("yuma epoch: {e}"),
    }
}

/// Process epoch `epoch` of Yuma task `task` at the end of block `at` (see the module docs).
pub(crate) fn process_epoch(
    rw: &mut Rw<'_>,
    task: TaskId,
    epoch: Epoch,
    at: Height,
) -> Result<Vec<Event>, TxError> {
    let mut events = Vec::new();
    let t = rw.task(task)?;
    let (first, last) = t
        .epoch_rounds(epoch)
        .ok_or_else(|| TxError::overflow("epoch"))?;
    let n = usize::from(t.next_uid);
    let params = rw.s.params.clone();

    // Inputs: registrations, stake, revealed weights.
    let mut accounts = Vec::with_capacity(n);
    let mut is_validator = Vec::with_capacity(n);
    let mut stake = Vec::with_capacity(n);
    for (_, reg) in rw.s.registrations(task) {
        accounts.push(reg.account);
        is_validator.push(reg.role == Role::Validator);
        stake.push(rw.s.hotkey_stake(&reg.account));
    }
    if accounts.len() != n {
        return Err(TxError::overflow("registrations of the task"));
    }
    let mut weights_revealed = vec![false; n];
    let mut weights = UidMatrix::<u16>::new(n);
    for (uid, account) in accounts.iter().enumerate() {
        if !is_validator.get(uid).copied().unwrap_or(false) {
            continue;
        }
        for r in (first.0..=last.0).rev() {
            let key = CommitKey {
                task,
                round: Round(r),
                kind: CommitKind::Weights,
                account: *account,
            };
            let Some(CommitStatus::Revealed { preimage, .. }) =
                rw.s.commitments.get(&key).map(|c| &c.status)
            else {
                continue;
            };
            let Ok(pre) = decode::<WeightsPreimage>(preimage) else {
                continue; // checked at reveal; unreachable
            };
            let entries: Vec<(u16, u16)> = pre.weights.iter().map(|(u, w)| (u.0, *w)).collect();
            weights
                .push_sparse_row("weights", uid, &entries)
                .map_err(yuma_failed)?;
            if let Some(w) = weights_revealed.get_mut(uid) {
                *w = true;
            }
            break;
        }
    }

    // Mint the emission into the escrow, then release this epoch's payout.
    let minted = params.emission_per_epoch;
    if !minted.is_zero() {
        let f = rw.mint(minted)?;
        rw.put_escrow(task, f)?;
    }
    let escrow = rw.s.tasks.get(&task).map_or(Amount::ZERO, |t| t.escrow);
    let epochs_left = t.spec.epochs().saturating_sub(epoch.0).max(1);
    let payout = Amount(escrow.0 / u128::from(epochs_left));

    let mut record = EpochRecord {
        at,
        payout,
        minted,
        stake: stake.clone(),
        consensus: vec![Fixed::ZERO; n],
        incentive: vec![Fixed::ZERO; n],
        dividends: vec![Fixed::ZERO; n],
        validator_trust: vec![Fixed::ZERO; n],
        miner_paid: vec![Amount::ZERO; n],
        validator_paid: vec![Amount::ZERO; n],
        weights_revealed: weights_revealed.clone(),
    };

    if n > 0 {
        let mut stored = UidMatrix::<u16>::new(n);
        let rows: Vec<(Uid, Vec<(Uid, u16)>)> =
            rw.s.bonds
                .range((task, Uid(0))..=(task, Uid(u16::MAX)))
                .map(|((_, u), row)| (*u, row.clone()))
                .collect();
        for (uid, row) in &rows {
            let entries: Vec<(u16, u16)> = row.iter().map(|(c, b)| (c.0, *b)).collect();
            stored
                .push_sparse_row("bonds", usize::from(uid.0), &entries)
                .map_err(yuma_failed)?;
        }
        let mut yp = FixedParams::chain_defaults();
        yp.kappa = fx(params.yuma_kappa);
        yp.bonds_penalty = fx(params.yuma_bonds_penalty);
        yp.bonds_moving_average = fx(params.yuma_bonds_moving_average);
        yp.emission = I96F32::ONE;
        let active: Vec<bool> = is_validator
            .iter()
            .zip(&weights_revealed)
            .map(|(v, w)| *v && *w)
            .collect();
        let input = FixedInput {
            stake: stake.iter().map(|a| a.0).collect(),
            weights: weights_from_u16(&weights),
            bonds: bonds_from_u16(&stored, false),
            masks: Masks {
                validator_permits: Some(is_validator.clone()),
                active: Some(active),
                outdated: Outdated::None,
                recently_registered: None,
            },
            params: yp,
        };
        let out = epoch_fixed(&input).map_err(yuma_failed)?;
        record.consensus = out.consensus.iter().copied().map(fixed).collect();
        record.incentive = out.incentive.iter().copied().map(fixed).collect();
        record.dividends = out.dividends.iter().copied().map(fixed).collect();
        record.validator_trust = out.validator_trust.iter().copied().map(fixed).collect();

        // Store the new bonds (rows with no non-zero bond are removed).
        for (uid, _) in &rows {
            if out.bonds_out_u16.row(usize::from(uid.0)).is_none() {
                rw.set_bonds(task, *uid, Vec::new());
            }
        }
        for (uid, row) in out.bonds_out_u16.rows() {
            let entries: Vec<(Uid, u16)> = row
                .iter()
                .enumerate()
                .filter(|(_, b)| **b != 0)
                .filter_map(|(j, b)| u16::try_from(j).ok().map(|j| (Uid(j), *b)))
                .collect();
            let uid = u16::try_from(uid).map_err(|_| TxError::overflow("uid"))?;
            rw.set_bonds(task, Uid(uid), entries);
        }

        // Pay.
        let miner_part = t
            .spec
            .miner_share
            .mul_amount_floor(payout)
            .ok_or_else(|| TxError::overflow("miner share"))?;
        let validator_part = payout
            .checked_sub(miner_part)
            .ok_or_else(|| TxError::overflow("validator part"))?;
        record.miner_paid = pay_by_shares(
            rw,
            task,
            &accounts,
            &record.incentive,
            miner_part,
            &mut events,
        )?;
        record.validator_paid = pay_by_shares(
            rw,
            task,
            &accounts,
            &record.dividends,
            validator_part,
            &mut events,
        )?;

        // Out of consensus.
        let k = params.out_of_consensus_epochs;
        if k > 0 {
            for (i, account) in accounts.iter().enumerate() {
                if !is_validator.get(i).copied().unwrap_or(false) {
                    continue;
                }
                let uid = Uid(u16::try_from(i).map_err(|_| TxError::overflow("uid"))?);
                let revealed = weights_revealed.get(i).copied().unwrap_or(false);
                let trust = record
                    .validator_trust
                    .get(i)
                    .copied()
                    .unwrap_or(Fixed::ZERO);
                let streak = if revealed && trust < params.out_of_consensus_trust {
                    rw.s.low_trust_streak(task, uid).saturating_add(1)
                } else {
                    0
                };
                rw.set_low_trust_streak(task, uid, streak);
                if streak == k {
                    let id = rw.record_offence(OffenceKind::OutOfConsensus, task, *account, at)?;
                    events.push(Event::OffenceRecorded {
                        id,
                        offender: *account,
                    });
                }
            }
        }
    }

    let paid = record
        .miner_paid
        .iter()
        .chain(&record.validator_paid)
        .try_fold(Amount::ZERO, |a, b| a.checked_add(*b))
        .ok_or_else(|| TxError::overflow("paid"))?;
    rw.set_epoch_record(task, epoch, Some(record));
    prune_epochs(rw, task, epoch, params.records_kept);
    events.push(Event::EpochProcessed {
        task,
        epoch,
        minted,
        paid,
    });
    Ok(events)
}

/// Pay `floor(share_i · part)` out of the escrow to each UID's hotkey (never more than `part`
/// in total); returns what each UID received.
fn pay_by_shares(
    rw: &mut Rw<'_>,
    task: TaskId,
    accounts: &[deai_types::AccountId],
    shares: &[Fixed],
    part: Amount,
    events: &mut Vec<Event>,
) -> Result<Vec<Amount>, TxError> {
    let mut paid = vec![Amount::ZERO; accounts.len()];
    let mut left = part;
    for ((account, share), out) in accounts.iter().zip(shares).zip(paid.iter_mut()) {
        let amount = share
            .mul_amount_floor(part)
            .ok_or_else(|| TxError::overflow("reward share"))?
            .min(left);
        if amount.is_zero() {
            continue;
        }
        left = left.saturating_sub(amount);
        let funds = rw.take_escrow(task, amount)?;
        let split = distribute_reward(rw, *account, funds)?;
        events.push(Event::Rewarded {
            hotkey: *account,
            amount,
            take: split.take,
        });
        *out = amount;
    }
    Ok(paid)
}

/// Drop the epoch records of `task` older than the newest `kept` (0 = keep all).
fn prune_epochs(rw: &mut Rw<'_>, task: TaskId, newest: Epoch, kept: u32) {
    if kept == 0 || newest.0 < u64::from(kept) {
        return;
    }
    let cutoff = Epoch(newest.0 + 1 - u64::from(kept));
    let old: Vec<Epoch> =
        rw.s.epoch_records
            .range((task, Epoch(0))..(task, cutoff))
            .map(|((_, e), _)| *e)
            .collect();
    for e in old {
        rw.set_epoch_record(task, e, None);
    }
}
