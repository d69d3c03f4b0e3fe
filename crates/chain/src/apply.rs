//! Transaction execution: admission, fee and nonce, then one handler per [`Call`].

use std::collections::BTreeSet;

use deai_types::{
    commitment_hash, decode, AccountId, Amount, Call, CommitKey, CommitKind, Evidence, Fixed,
    Hash32, Height, Mechanism, OffenceKind, ParamChange, ProposalId, Role, Round, SignedTx,
    SlashDestination, TaskId, TaskSpec, Uid, UpdatePreimage, VotePreimage, WeightsPreimage,
};

use crate::block::BlockCtx;
use crate::error::{EvidenceError, Phase, TxError};
use crate::receipt::{Event, Receipt};
use crate::rewards::slash_stake;
use crate::state::{
    CommitStatus, Commitment, Journal, ModelRecord, Proposal, ProposalStatus, Registration, Rw,
    State, Task,
};

/// Apply a signed transaction: verify its signature, then [`apply_tx_preverified`].
pub fn apply_tx(state: &mut State, stx: &SignedTx, ctx: &BlockCtx) -> Result<Receipt, TxError> {
    let mut j = Journal::default();
    apply_in(&mut Rw::new(state, &mut j), stx, ctx, false)
}

/// Apply a signed transaction whose signature the caller already verified (e.g. with
/// [`deai_types::verify_batch`]).
pub fn apply_tx_preverified(
    state: &mut State,
    stx: &SignedTx,
    ctx: &BlockCtx,
) -> Result<Receipt, TxError> {
    let mut j = Journal::default();
    apply_in(&mut Rw::new(state, &mut j), stx, ctx, true)
}

/// The admission checks, in order; `Ok` means the transaction would be charged its fee.
pub fn check_admission(state: &State, stx: &SignedTx, sig_ok: bool) -> Result<(), TxError> {
    let tx = &stx.tx;
    if tx.chain_id != state.chain_id {
        return Err(TxError::WrongChain {
            expected: state.chain_id.clone(),
            got: tx.chain_id.clone(),
        });
    }
    if !sig_ok && stx.verify().is_err() {
        return Err(TxError::BadSignature);
    }
    let expected = state.nonce_of(&stx.signer);
    if tx.nonce != expected || expected.next().is_none() {
        return Err(TxError::BadNonce {
            expected,
            got: tx.nonce,
        });
    }
    if tx.fee < state.params.min_fee {
        return Err(TxError::FeeTooLow {
            min: state.params.min_fee,
            offered: tx.fee,
        });
    }
    let balance = state.balance_of(&stx.signer);
    if balance < tx.fee {
        return Err(TxError::CannotPayFee {
            balance,
            fee: tx.fee,
        });
    }
    Ok(())
}

/// Admission, fee + nonce, then the call; a failed call is rolled back to just after the fee.
pub(crate) fn apply_in(
    rw: &mut Rw<'_>,
    stx: &SignedTx,
    ctx: &BlockCtx,
    sig_ok: bool,
) -> Result<Receipt, TxError> {
    check_admission(rw.s, stx, sig_ok)?;
    let signer = stx.signer;
    let fee = stx.tx.fee;
    // Charge the fee and advance the nonce: kept whatever the call does.
    let before_fee = rw.j.mark();
    let mut acct = rw.s.accounts.get(&signer).cloned().unwrap_or_default();
    acct.balance = acct.balance.saturating_sub(fee); // admission checked balance >= fee
    acct.nonce = acct.nonce.next().unwrap_or(acct.nonce); // admission checked no overflow
    rw.set_account(signer, acct);
    if let Err(e) = rw.burn_amount(fee) {
        // Only reachable if the cumulative burn counter overflows u128.
        rw.j.rollback(rw.s, before_fee);
        return Err(e);
    }
    let mark = rw.j.mark();
    let mut events = Vec::new();
    match execute(rw, signer, &stx.tx.call, ctx, &mut events) {
        Ok(()) => Ok(Receipt { fee, events }),
        Err(e) => {
            rw.j.rollback(rw.s, mark);
            record_offence_of(rw, &e, signer, ctx.height)?;
            Err(e)
        }
    }
}

/// After a rollback: leave the record that makes an offence error slashable.
fn record_offence_of(
    rw: &mut Rw<'_>,
    e: &TxError,
    signer: AccountId,
    height: Height,
) -> Result<(), TxError> {
    match e {
        TxError::AlreadyRegistered { task, .. } => {
            rw.record_offence(OffenceKind::DoubleRegistration, *task, signer, height)?;
        }
        TxError::RevealMismatch { key } => {
            if let Some(mut c) = rw.s.commitments.get(key).cloned() {
                c.status = CommitStatus::Mismatched { at: height };
                rw.set_commitment(*key, c);
            }
        }
        _ => {}
    }
    Ok(())
}

fn execute(
    rw: &mut Rw<'_>,
    signer: AccountId,
    call: &Call,
    ctx: &BlockCtx,
    ev: &mut Vec<Event>,
) -> Result<(), TxError> {
    match call {
        Call::Transfer { to, amount } => transfer(rw, signer, *to, *amount, ev),
        Call::Stake { amount } => delegate(rw, signer, signer, *amount, ev),
        Call::Delegate { hotkey, amount } => delegate(rw, signer, *hotkey, *amount, ev),
        Call::Unstake { amount } => undelegate(rw, signer, signer, *amount, ctx, ev),
        Call::Undelegate { hotkey, amount } => undelegate(rw, signer, *hotkey, *amount, ctx, ev),
        Call::Withdraw => withdraw(rw, signer, ctx, ev),
        Call::SetTake { take } => set_take(rw, signer, *take, ev),
        Call::Register { task, role } => register(rw, signer, *task, *role, ctx, ev),
        Call::ProposeTask(spec) => propose_task(rw, signer, spec, ctx, ev),
        Call::Commit {
            task,
            round,
            kind,
            hash,
        } => commit(rw, signer, *task, *round, *kind, *hash, ctx, ev),
        Call::Reveal {
            task,
            round,
            kind,
            preimage,
        } => reveal(rw, signer, *task, *round, *kind, preimage, ctx, ev),
        Call::Slash { evidence } => slash(rw, signer, *evidence, ctx, ev),
        Call::GovPropose { change } => gov_propose(rw, signer, change, ctx, ev),
        Call::GovVote { proposal, approve } => gov_vote(rw, signer, *proposal, *approve, ctx, ev),
        Call::RecordModel {
            task,
            round,
            model,
            contributors,
        } => record_model(rw, signer, *task, *round, *model, contributors, ctx, ev),
    }
}

fn nonzero(amount: Amount) -> Result<(), TxError> {
    if amount.is_zero() {
        Err(TxError::ZeroAmount)
    } else {
        Ok(())
    }
}

fn transfer(
    rw: &mut Rw<'_>,
    from: AccountId,
    to: AccountId,
    amount: Amount,
    ev: &mut Vec<Event>,
) -> Result<(), TxError> {
    nonzero(amount)?;
    if from == to {
        return Err(TxError::SelfTransfer);
    }
    rw.debit(from, amount)?;
    rw.credit(to, amount)?;
    ev.push(Event::Transferred { from, to, amount });
    Ok(())
}

fn delegate(
    rw: &mut Rw<'_>,
    staker: AccountId,
    hotkey: AccountId,
    amount: Amount,
    ev: &mut Vec<Event>,
) -> Result<(), TxError> {
    nonzero(amount)?;
    rw.debit(staker, amount)?;
    rw.bond(hotkey, staker, amount)?;
    ev.push(Event::Bonded {
        staker,
        hotkey,
        amount,
    });
    Ok(())
}

fn undelegate(
    rw: &mut Rw<'_>,
    staker: AccountId,
    hotkey: AccountId,
    amount: Amount,
    ctx: &BlockCtx,
    ev: &mut Vec<Event>,
) -> Result<(), TxError> {
    nonzero(amount)?;
    rw.unbond(hotkey, staker, amount)?;
    let release = ctx
        .height
        .checked_add(rw.s.params.unbonding_blocks)
        .ok_or_else(|| TxError::overflow("release height"))?;
    let key = (staker, hotkey, release);
    let cur = rw.s.unbonding.get(&key).copied().unwrap_or_default();
    let new = cur
        .checked_add(amount)
        .ok_or_else(|| TxError::overflow("unbonding entry"))?;
    let mut sup = rw.s.supply;
    sup.unbonding = sup
        .unbonding
        .checked_add(amount)
        .ok_or_else(|| TxError::overflow("unbonding total"))?;
    rw.set_unbonding(key, new);
    rw.set_supply(sup);
    ev.push(Event::Unbonding {
        staker,
        hotkey,
        amount,
        release,
    });
    Ok(())
}

fn withdraw(
    rw: &mut Rw<'_>,
    account: AccountId,
    ctx: &BlockCtx,
    ev: &mut Vec<Event>,
) -> Result<(), TxError> {
    let entries: Vec<(AccountId, Height, Amount)> = rw.s.unbonding_of(&account).collect();
    let mut total = Amount::ZERO;
    let mut next_release: Option<Height> = None;
    let mut matured = Vec::new();
    for (hotkey, release, amount) in entries {
        if release <= ctx.height {
            total = total
                .checked_add(amount)
                .ok_or_else(|| TxError::overflow("withdrawal"))?;
            matured.push((account, hotkey, release));
        } else {
            next_release = Some(next_release.map_or(release, |n| n.min(release)));
        }
    }
    if matured.is_empty() {
        return Err(TxError::NothingToWithdraw { next_release });
    }
    for key in matured {
        rw.set_unbonding(key, Amount::ZERO);
    }
    let mut sup = rw.s.supply;
    sup.unbonding = sup
        .unbonding
        .checked_sub(total)
        .ok_or_else(|| TxError::overflow("unbonding total"))?;
    rw.set_supply(sup);
    rw.credit(account, total)?;
    ev.push(Event::Withdrawn {
        account,
        amount: total,
    });
    Ok(())
}

fn set_take(
    rw: &mut Rw<'_>,
    hotkey: AccountId,
    take: Fixed,
    ev: &mut Vec<Event>,
) -> Result<(), TxError> {
    let max = rw.s.params.max_take;
    if take < Fixed::ZERO || take > max {
        return Err(TxError::TakeOutOfRange { take, max });
    }
    let mut a = rw.s.accounts.get(&hotkey).cloned().unwrap_or_default();
    a.take = Some(take);
    rw.set_account(hotkey, a);
    ev.push(Event::TakeSet { hotkey, take });
    Ok(())
}

fn running_task(rw: &Rw<'_>, task: TaskId, ctx: &BlockCtx) -> Result<Task, TxError> {
    let t = rw.task(task)?;
    if ctx.height >= t.end {
        return Err(TxError::TaskEnded { task, end: t.end });
    }
    Ok(t)
}

fn register(
    rw: &mut Rw<'_>,
    account: AccountId,
    task: TaskId,
    role: Role,
    ctx: &BlockCtx,
    ev: &mut Vec<Event>,
) -> Result<(), TxError> {
    let mut t = running_task(rw, task, ctx)?;
    if let Some(uid) = rw.s.uid_of(task, &account) {
        return Err(TxError::AlreadyRegistered {
            task,
            uid,
            offence: deai_types::OffenceId(rw.s.counters.next_offence),
        });
    }
    if t.next_uid >= t.spec.max_uids {
        return Err(TxError::TaskFull {
            task,
            capacity: t.spec.max_uids,
        });
    }
    let stake = rw.s.hotkey_stake(&account);
    if stake < t.spec.min_stake {
        return Err(TxError::BelowMinStake {
            task,
            stake,
            min_stake: t.spec.min_stake,
        });
    }
    let cost = rw.s.params.registration_cost;
    rw.debit(account, cost)?;
    rw.burn_amount(cost)?;
    let uid = deai_types::Uid(t.next_uid);
    t.next_uid = t
        .next_uid
        .checked_add(1)
        .ok_or_else(|| TxError::overflow("uid"))?;
    rw.set_task(task, t);
    rw.set_registration(
        task,
        uid,
        Registration {
            account,
            role,
            registered_at: ctx.height,
        },
    );
    ev.push(Event::Registered {
        task,
        uid,
        account,
        role,
        cost,
    });
    Ok(())
}

fn propose_task(
    rw: &mut Rw<'_>,
    proposer: AccountId,
    spec: &TaskSpec,
    ctx: &BlockCtx,
    ev: &mut Vec<Event>,
) -> Result<(), TxError> {
    spec.validate().map_err(TxError::InvalidTaskSpec)?;
    let limit = rw.s.params.max_uids_per_task;
    if spec.max_uids > limit {
        return Err(TxError::TooManyUids {
            max_uids: spec.max_uids,
            limit,
        });
    }
    let start = ctx
        .height
        .checked_add(spec.start_delay)
        .ok_or_else(|| TxError::overflow("task start"))?;
    let end = spec
        .rounds
        .checked_mul(spec.round_blocks)
        .and_then(|d| start.checked_add(d))
        .ok_or_else(|| TxError::overflow("task end"))?;
    let mut c = rw.s.counters;
    let task = TaskId(c.next_task);
    c.next_task = c
        .next_task
        .checked_add(1)
        .ok_or_else(|| TxError::overflow("task id"))?;
    rw.set_counters(c);
    rw.debit(proposer, spec.reward)?;
    rw.set_task(
        task,
        Task {
            spec: spec.clone(),
            proposer,
            proposed_at: ctx.height,
            start,
            end,
            escrow: Amount::ZERO,
            next_uid: 0,
        },
    );
    rw.escrow_in(task, spec.reward)?;
    ev.push(Event::TaskProposed {
        task,
        proposer,
        escrow: spec.reward,
        start,
    });
    Ok(())
}

/// The absolute `[opens, closes)` heights of a window of round `round`.
fn window_heights(
    t: &Task,
    task: TaskId,
    round: Round,
    w: deai_types::Window,
) -> Result<(Height, Height), TxError> {
    if round.0 >= t.spec.rounds {
        return Err(TxError::RoundOutOfRange {
            task,
            round,
            rounds: t.spec.rounds,
        });
    }
    let rs = t
        .round_start(round)
        .ok_or_else(|| TxError::overflow("round start"))?;
    let opens = rs
        .checked_add(w.start)
        .ok_or_else(|| TxError::overflow("window"))?;
    let closes = rs
        .checked_add(w.end)
        .ok_or_else(|| TxError::overflow("window"))?;
    Ok((opens, closes))
}

/// Checks that `height` is inside the `phase` window of `kind` in `round` of task `t`.
fn check_window(
    t: &Task,
    task: TaskId,
    round: Round,
    kind: CommitKind,
    phase: Phase,
    height: Height,
) -> Result<(), TxError> {
    let pw = t
        .spec
        .window(kind)
        .ok_or(TxError::NoWindow { task, kind })?;
    let window = match phase {
        Phase::Commit => pw.commit,
        Phase::Reveal => pw.reveal,
    };
    let (opens, closes) = window_heights(t, task, round, window)?;
    if height < opens || height >= closes {
        return Err(TxError::OutsideWindow {
            task,
            round,
            phase,
            height,
            opens,
            closes,
        });
    }
    Ok(())
}

/// The first height at which the reveal of `key` counts as missed.
pub(crate) fn reveal_closes(state: &State, key: &CommitKey) -> Result<Height, TxError> {
    let t = state
        .tasks
        .get(&key.task)
        .ok_or(TxError::UnknownTask { task: key.task })?;
    let pw = t.spec.window(key.kind).ok_or(TxError::NoWindow {
        task: key.task,
        kind: key.kind,
    })?;
    Ok(window_heights(t, key.task, key.round, pw.reveal)?.1)
}

#[allow(clippy::too_many_arguments)]
fn commit(
    rw: &mut Rw<'_>,
    account: AccountId,
    task: TaskId,
    round: Round,
    kind: CommitKind,
    hash: Hash32,
    ctx: &BlockCtx,
    ev: &mut Vec<Event>,
) -> Result<(), TxError> {
    let t = rw.task(task)?;
    if rw.s.uid_of(task, &account).is_none() {
        return Err(TxError::NotRegistered { task, account });
    }
    check_window(&t, task, round, kind, Phase::Commit, ctx.height)?;
    check_role(rw.s, &t, task, round, kind, &account)?;
    let key = CommitKey {
        task,
        round,
        kind,
        account,
    };
    if rw.s.commitments.contains_key(&key) {
        return Err(TxError::AlreadyCommitted { key });
    }
    rw.set_commitment(
        key,
        Commitment {
            hash,
            committed_at: ctx.height,
            status: CommitStatus::Pending,
            slashed: false,
        },
    );
    ev.push(Event::Committed { key });
    Ok(())
}

/// Who may commit what (see the crate docs): on Yuma tasks miners commit updates and
/// validators weights; on proposer/voter tasks the round's drawn proposers commit updates and
/// its drawn voters votes; verdicts are open to every registered participant.
fn check_role(
    state: &State,
    t: &Task,
    task: TaskId,
    round: Round,
    kind: CommitKind,
    account: &AccountId,
) -> Result<(), TxError> {
    let uid = state.uid_of(task, account).ok_or(TxError::NotRegistered {
        task,
        account: *account,
    })?;
    let mechanism = t.spec.mechanism;
    let unused = TxError::KindNotInMechanism {
        task,
        kind,
        mechanism,
    };
    match (mechanism, kind) {
        (_, CommitKind::Verdict) => Ok(()),
        (Mechanism::Yuma, CommitKind::Vote) | (Mechanism::ProposerVoter, CommitKind::Weights) => {
            Err(unused)
        }
        (Mechanism::Yuma, CommitKind::Update | CommitKind::Weights) => {
            let role = state
                .registrations
                .get(&(task, uid))
                .map(|r| r.role)
                .ok_or(TxError::NotRegistered {
                    task,
                    account: *account,
                })?;
            let needed = if kind == CommitKind::Update {
                Role::Miner
            } else {
                Role::Validator
            };
            if role == needed {
                Ok(())
            } else {
                Err(TxError::WrongRole { task, kind, role })
            }
        }
        (Mechanism::ProposerVoter, CommitKind::Update | CommitKind::Vote) => {
            let drawn = state.pv_roles.get(&(task, round)).is_some_and(|r| {
                let list = if kind == CommitKind::Update {
                    &r.proposers
                } else {
                    &r.voters
                };
                list.binary_search(&uid).is_ok()
            });
            if drawn {
                Ok(())
            } else {
                Err(TxError::NotDrawn { task, round, kind })
            }
        }
    }
}

/// A matching preimage must also decode as its kind's preimage type, and weights must name
/// distinct UIDs of the task.
fn check_preimage(t: &Task, key: &CommitKey, preimage: &[u8]) -> Result<(), TxError> {
    let malformed = |expected: &str| TxError::MalformedPreimage {
        key: *key,
        expected: expected.to_string(),
    };
    match key.kind {
        CommitKind::Update => decode::<UpdatePreimage>(preimage)
            .map(|_| ())
            .map_err(|_| malformed("UpdatePreimage")),
        CommitKind::Vote => decode::<VotePreimage>(preimage)
            .map(|_| ())
            .map_err(|_| malformed("VotePreimage")),
        CommitKind::Weights => {
            let w =
                decode::<WeightsPreimage>(preimage).map_err(|_| malformed("WeightsPreimage"))?;
            let mut seen = BTreeSet::new();
            for (uid, _) in &w.weights {
                if uid.0 >= t.next_uid {
                    return Err(TxError::UnknownWeightTarget {
                        task: key.task,
                        uid: *uid,
                        uids: t.next_uid,
                    });
                }
                if !seen.insert(*uid) {
                    return Err(TxError::DuplicateWeightTarget {
                        task: key.task,
                        uid: *uid,
                    });
                }
            }
            Ok(())
        }
        CommitKind::Verdict => Ok(()),
    }
}

#[allow(clippy::too_many_arguments)]
fn reveal(
    rw: &mut Rw<'_>,
    account: AccountId,
    task: TaskId,
    round: Round,
    kind: CommitKind,
    preimage: &[u8],
    ctx: &BlockCtx,
    ev: &mut Vec<Event>,
) -> Result<(), TxError> {
    let max = rw.s.params.max_preimage_len;
    let len = preimage.len() as u64;
    if len > u64::from(max) {
        return Err(TxError::PreimageTooLong { len, max });
    }
    let t = rw.task(task)?;
    check_window(&t, task, round, kind, Phase::Reveal, ctx.height)?;
    let key = CommitKey {
        task,
        round,
        kind,
        account,
    };
    let mut c =
        rw.s.commitments
            .get(&key)
            .cloned()
            .ok_or(TxError::UnknownCommitment { key })?;
    if c.status != CommitStatus::Pending {
        return Err(TxError::AlreadyRevealed { key });
    }
    if commitment_hash(&key, preimage) != c.hash {
        return Err(TxError::RevealMismatch { key });
    }
    check_preimage(&t, &key, preimage)?;
    c.status = CommitStatus::Revealed {
        preimage: preimage.to_vec(),
        at: ctx.height,
    };
    rw.set_commitment(key, c);
    ev.push(Event::Revealed { key });
    Ok(())
}

fn slash(
    rw: &mut Rw<'_>,
    reporter: AccountId,
    evidence: Evidence,
    ctx: &BlockCtx,
    ev: &mut Vec<Event>,
) -> Result<(), TxError> {
    // Establish the offence and mark the evidence used.
    let (offender, task, kind) = match evidence {
        Evidence::MissedReveal(key) | Evidence::RevealMismatch(key) => {
            let mut c =
                rw.s.commitments
                    .get(&key)
                    .cloned()
                    .ok_or(TxError::InvalidEvidence(EvidenceError::UnknownCommitment {
                        key,
                    }))?;
            let kind = match (&evidence, &c.status) {
                (Evidence::MissedReveal(_), CommitStatus::Pending) => {
                    let closes = reveal_closes(rw.s, &key)?;
                    if ctx.height < closes {
                        return Err(TxError::InvalidEvidence(EvidenceError::RevealWindowOpen {
                            key,
                            closes,
                        }));
                    }
                    OffenceKind::MissedReveal
                }
                (Evidence::MissedReveal(_), _) => {
                    return Err(TxError::InvalidEvidence(EvidenceError::Revealed { key }))
                }
                (_, CommitStatus::Mismatched { .. }) => OffenceKind::RevealMismatch,
                _ => return Err(TxError::InvalidEvidence(EvidenceError::NoMismatch { key })),
            };
            if c.slashed {
                return Err(TxError::AlreadySlashed { evidence });
            }
            c.slashed = true;
            rw.set_commitment(key, c);
            (key.account, key.task, kind)
        }
        Evidence::Offence(id) => {
            let mut o =
                rw.s.offences
                    .get(&id)
                    .cloned()
                    .ok_or(TxError::InvalidEvidence(EvidenceError::UnknownOffence {
                        id,
                    }))?;
            if o.slashed {
                return Err(TxError::AlreadySlashed { evidence });
            }
            o.slashed = true;
            let out = (o.offender, o.task, o.kind);
            rw.set_offence(id, o);
            out
        }
    };
    let fraction = rw.s.params.slash_fraction(kind);
    let funds = slash_stake(rw, offender, fraction)?;
    let amount = funds.amount();
    let has_pool = rw.s.tasks.contains_key(&task);
    if kind == OffenceKind::BadRound && has_pool {
        // Proposer/voter rounds: `pv_slash_to_pool` back to the pool, the rest to the reporter.
        let to_pool =
            rw.s.params
                .pv_slash_to_pool
                .mul_amount(amount)
                .ok_or_else(|| TxError::overflow("pool share"))?;
        let (pool_funds, reporter_funds) = funds.split(to_pool).map_err(|(_, e)| e)?;
        let to_reporter = reporter_funds.amount();
        rw.put_escrow(task, pool_funds)?;
        rw.pay(reporter, reporter_funds)?;
        ev.push(Event::Slashed {
            evidence,
            offender,
            reporter,
            amount,
            to_reporter,
            to_pool,
            burned: Amount::ZERO,
        });
        return Ok(());
    }
    let to_reporter =
        rw.s.params
            .slash_reporter_share
            .mul_amount(amount)
            .ok_or_else(|| TxError::overflow("reporter share"))?;
    let (reporter_funds, rest) = funds.split(to_reporter).map_err(|(_, e)| e)?;
    rw.pay(reporter, reporter_funds)?;
    let rest_amount = rest.amount();
    let (to_pool, burned) = match rw.s.params.slash_destination {
        SlashDestination::TaskPool if has_pool => {
            rw.put_escrow(task, rest)?;
            (rest_amount, Amount::ZERO)
        }
        _ => {
            rw.burn(rest)?;
            (Amount::ZERO, rest_amount)
        }
    };
    ev.push(Event::Slashed {
        evidence,
        offender,
        reporter,
        amount,
        to_reporter,
        to_pool,
        burned,
    });
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn record_model(
    rw: &mut Rw<'_>,
    signer: AccountId,
    task: TaskId,
    round: Round,
    model: Hash32,
    contributors: &[(Uid, Hash32)],
    ctx: &BlockCtx,
    ev: &mut Vec<Event>,
) -> Result<(), TxError> {
    let t = rw.s.tasks.get(&task).ok_or(TxError::UnknownTask { task })?;
    if signer != t.proposer {
        return Err(TxError::NotTaskProposer {
            task,
            proposer: t.proposer,
        });
    }
    if round.0 >= t.spec.rounds {
        return Err(TxError::RoundOutOfRange {
            task,
            round,
            rounds: t.spec.rounds,
        });
    }
    let last_block = t
        .round_last_block(round)
        .ok_or_else(|| TxError::overflow("round end"))?;
    if last_block >= ctx.height {
        return Err(TxError::RoundNotEnded {
            task,
            round,
            last_block,
        });
    }
    if rw.s.model_records.contains_key(&(task, round)) {
        return Err(TxError::ModelAlreadyRecorded { task, round });
    }
    let mut seen = BTreeSet::new();
    for (uid, given) in contributors {
        if !seen.insert(*uid) {
            return Err(TxError::DuplicateContributor { uid: *uid });
        }
        let not_revealed = TxError::ContributorNotRevealed {
            task,
            round,
            uid: *uid,
        };
        let account = match rw.s.registrations.get(&(task, *uid)) {
            Some(r) => r.account,
            None => return Err(not_revealed),
        };
        let key = CommitKey {
            task,
            round,
            kind: CommitKind::Update,
            account,
        };
        let Some(CommitStatus::Revealed { preimage, .. }) =
            rw.s.commitments.get(&key).map(|c| &c.status)
        else {
            return Err(not_revealed);
        };
        let pre = decode::<UpdatePreimage>(preimage).map_err(|_| not_revealed.clone())?;
        if pre.blob != *given {
            return Err(TxError::ContributorBlobMismatch {
                round,
                uid: *uid,
                revealed: pre.blob,
                given: *given,
            });
        }
    }
    rw.set_model_record(
        task,
        round,
        ModelRecord {
            model,
            contributors: contributors.to_vec(),
            at: ctx.height,
        },
    );
    ev.push(Event::ModelRecorded {
        task,
        round,
        model,
        contributors: u32::try_from(contributors.len()).unwrap_or(u32::MAX),
    });
    Ok(())
}

fn gov_propose(
    rw: &mut Rw<'_>,
    proposer: AccountId,
    change: &ParamChange,
    ctx: &BlockCtx,
    ev: &mut Vec<Event>,
) -> Result<(), TxError> {
    if rw.s.staker_stake(&proposer).is_zero() {
        return Err(TxError::NoVotingPower);
    }
    change
        .applied_to(&rw.s.params)
        .map_err(TxError::InvalidParam)?;
    let voting_end = ctx
        .height
        .checked_add(rw.s.params.gov_voting_blocks)
        .ok_or_else(|| TxError::overflow("voting end"))?;
    let mut c = rw.s.counters;
    let proposal = ProposalId(c.next_proposal);
    c.next_proposal = c
        .next_proposal
        .checked_add(1)
        .ok_or_else(|| TxError::overflow("proposal id"))?;
    rw.set_counters(c);
    rw.set_proposal(
        proposal,
        Proposal {
            proposer,
            change: change.clone(),
            voting_end,
            status: ProposalStatus::Voting,
            yes: Amount::ZERO,
            no: Amount::ZERO,
        },
    );
    rw.set_queue(voting_end, proposal, true);
    ev.push(Event::Proposed {
        proposal,
        change: change.clone(),
        voting_end,
    });
    Ok(())
}

fn gov_vote(
    rw: &mut Rw<'_>,
    voter: AccountId,
    proposal: ProposalId,
    approve: bool,
    ctx: &BlockCtx,
    ev: &mut Vec<Event>,
) -> Result<(), TxError> {
    let p =
        rw.s.proposals
            .get(&proposal)
            .ok_or(TxError::UnknownProposal { proposal })?;
    if p.status != ProposalStatus::Voting || ctx.height > p.voting_end {
        return Err(TxError::VotingClosed {
            proposal,
            voting_end: p.voting_end,
        });
    }
    if rw.s.staker_stake(&voter).is_zero() {
        return Err(TxError::NoVotingPower);
    }
    if rw.s.votes.contains_key(&(proposal, voter)) {
        return Err(TxError::AlreadyVoted { proposal });
    }
    rw.set_vote(proposal, voter, Some(approve));
    ev.push(Event::Voted {
        proposal,
        voter,
        approve,
    });
    Ok(())
}

/// End-of-block governance: tally proposals whose voting ended, execute passed ones whose delay
/// elapsed. Votes weigh the voter's bonded stake *at the tally*, so moving stake between
/// accounts during the vote cannot count it twice.
pub(crate) fn governance_end_block(rw: &mut Rw<'_>, now: Height) -> Result<Vec<Event>, TxError> {
    let mut events = Vec::new();
    while let Some((&(at, id), _)) = rw.s.gov_queue.first_key_value() {
        if at > now {
            break;
        }
        rw.set_queue(at, id, false);
        let Some(mut p) = rw.s.proposals.get(&id).cloned() else {
            continue;
        };
        match p.status {
            ProposalStatus::Voting => {
                let votes: Vec<(AccountId, bool)> =
                    rw.s.votes
                        .range((id, crate::state::MIN_ID)..=(id, crate::state::MAX_ID))
                        .map(|((_, v), a)| (*v, *a))
                        .collect();
                let (mut yes, mut no) = (Amount::ZERO, Amount::ZERO);
                for (voter, approve) in votes {
                    let w = rw.s.staker_stake(&voter);
                    let side = if approve { &mut yes } else { &mut no };
                    *side = side
                        .checked_add(w)
                        .ok_or_else(|| TxError::overflow("tally"))?;
                    rw.set_vote(id, voter, None);
                }
                let quorum =
                    rw.s.params
                        .gov_quorum
                        .mul_amount(rw.s.supply.staked)
                        .ok_or_else(|| TxError::overflow("quorum"))?;
                let passed = !yes.is_zero() && yes >= quorum && yes > no;
                p.yes = yes;
                p.no = no;
                if passed {
                    let execute_at = now
                        .checked_add(rw.s.params.gov_delay_blocks)
                        .ok_or_else(|| TxError::overflow("execution height"))?;
                    p.status = ProposalStatus::Passed { execute_at };
                    rw.set_queue(execute_at, id, true);
                } else {
                    p.status = ProposalStatus::Rejected;
                }
                events.push(Event::Tallied {
                    proposal: id,
                    yes,
                    no,
                    passed,
                });
            }
            ProposalStatus::Passed { .. } => {
                let applied = match p.change.applied_to(&rw.s.params) {
                    Ok(params) => {
                        rw.set_params(params);
                        p.status = ProposalStatus::Executed;
                        true
                    }
                    Err(e) => {
                        p.status = ProposalStatus::Failed(e);
                        false
                    }
                };
                events.push(Event::Executed {
                    proposal: id,
                    applied,
                });
            }
            _ => {}
        }
        rw.set_proposal(id, p);
    }
    Ok(events)
}
