//! Atomic writes: every mutation goes through [`Rw`], which records an undo entry in a
//! [`Journal`]; a failed transaction rolls back to its mark.

use super::*;

/// Undo entries, newest last. Marks allow nested rollback (a transaction inside a block).
#[derive(Default)]
pub struct Journal {
    undo: Vec<Undo>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Journal({} entries)", self.undo.len())
    }
}

impl Journal {
    /// The current position.
    pub fn mark(&self) -> usize {
        self.undo.len()
    }
    /// Undo every write after `mark`, newest first.
    pub fn rollback(&mut self, state: &mut State, mark: usize) {
        while self.undo.len() > mark {
            if let Some(u) = self.undo.pop() {
                u(state);
            }
        }
    }
}

/// A journaled write handle on the state: every mutation goes through it.
pub struct Rw<'a> {
    pub(crate) s: &'a mut State,
    pub(crate) j: &'a mut Journal,
}

impl std::fmt::Debug for Rw<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Rw({:?})", self.j)
    }
}

type Field<K, V> = fn(&mut State) -> &mut BTreeMap<K, V>;

impl<'a> Rw<'a> {
    /// A write handle recording into `j`.
    pub fn new(s: &'a mut State, j: &'a mut Journal) -> Rw<'a> {
        Rw { s, j }
    }
    /// Read access.
    pub fn state(&self) -> &State {
        self.s
    }
    /// A copy of task `task`, or [`TxError::UnknownTask`].
    pub fn task(&self, task: TaskId) -> Result<Task, TxError> {
        self.s
            .tasks
            .get(&task)
            .cloned()
            .ok_or(TxError::UnknownTask { task })
    }

    fn put<K, V>(&mut self, field: Field<K, V>, k: K, v: Option<V>)
    where
        K: Ord + Clone + Send + 'static,
        V: Send + 'static,
    {
        let map = field(self.s);
        let old = match v {
            Some(v) => map.insert(k.clone(), v),
            None => map.remove(&k),
        };
        self.j.undo.push(Box::new(move |s: &mut State| {
            let map = field(s);
            match old {
                Some(o) => {
                    map.insert(k, o);
                }
                None => {
                    map.remove(&k);
                }
            }
        }));
    }

    pub(crate) fn set_supply(&mut self, new: Supply) {
        let old = std::mem::replace(&mut self.s.supply, new);
        self.j
            .undo
            .push(Box::new(move |s: &mut State| s.supply = old));
    }
    pub(crate) fn set_counters(&mut self, new: Counters) {
        let old = std::mem::replace(&mut self.s.counters, new);
        self.j
            .undo
            .push(Box::new(move |s: &mut State| s.counters = old));
    }
    pub(crate) fn set_tip(&mut self, new: Tip) {
        let old = std::mem::replace(&mut self.s.tip, new);
        self.j.undo.push(Box::new(move |s: &mut State| s.tip = old));
    }
    pub(crate) fn set_params(&mut self, new: Params) {
        let old = std::mem::replace(&mut self.s.params, new);
        self.j
            .undo
            .push(Box::new(move |s: &mut State| s.params = old));
    }
    pub(crate) fn set_account(&mut self, id: AccountId, a: Account) {
        let v = if a.is_empty() { None } else { Some(a) };
        self.put(|s| &mut s.accounts, id, v);
    }
    pub(crate) fn set_task(&mut self, id: TaskId, t: Task) {
        self.put(|s| &mut s.tasks, id, Some(t));
    }
    pub(crate) fn set_registration(&mut self, task: TaskId, uid: Uid, r: Registration) {
        let account = r.account;
        self.put(|s| &mut s.registrations, (task, uid), Some(r));
        self.put(|s| &mut s.uids, (task, account), Some(uid));
    }
    pub(crate) fn set_commitment(&mut self, key: CommitKey, c: Commitment) {
        self.put(|s| &mut s.commitments, key, Some(c));
    }
    pub(crate) fn set_offence(&mut self, id: OffenceId, o: Offence) {
        self.put(|s| &mut s.offences, id, Some(o));
    }
    pub(crate) fn set_proposal(&mut self, id: ProposalId, p: Proposal) {
        self.put(|s| &mut s.proposals, id, Some(p));
    }
    pub(crate) fn set_vote(&mut self, id: ProposalId, voter: AccountId, v: Option<bool>) {
        self.put(|s| &mut s.votes, (id, voter), v);
    }
    pub(crate) fn set_queue(&mut self, at: Height, id: ProposalId, present: bool) {
        self.put(|s| &mut s.gov_queue, (at, id), present.then_some(()));
    }
    pub(crate) fn set_model_record(&mut self, task: TaskId, round: Round, r: ModelRecord) {
        self.put(|s| &mut s.model_records, (task, round), Some(r));
    }
    pub(crate) fn set_epoch_record(&mut self, task: TaskId, epoch: Epoch, r: Option<EpochRecord>) {
        self.put(|s| &mut s.epoch_records, (task, epoch), r);
    }
    pub(crate) fn set_bonds(&mut self, task: TaskId, uid: Uid, row: Vec<(Uid, u16)>) {
        let v = if row.is_empty() { None } else { Some(row) };
        self.put(|s| &mut s.bonds, (task, uid), v);
    }
    pub(crate) fn set_low_trust_streak(&mut self, task: TaskId, uid: Uid, n: u32) {
        let v = if n == 0 { None } else { Some(n) };
        self.put(|s| &mut s.low_trust_streaks, (task, uid), v);
    }
    pub(crate) fn set_pv_roles(&mut self, task: TaskId, round: Round, r: Option<PvRoles>) {
        self.put(|s| &mut s.pv_roles, (task, round), r);
    }
    pub(crate) fn set_pv_round(&mut self, task: TaskId, round: Round, r: Option<PvRoundRecord>) {
        self.put(|s| &mut s.pv_rounds, (task, round), r);
    }
    pub(crate) fn set_unbonding(&mut self, key: (AccountId, AccountId, Height), a: Amount) {
        let v = if a.is_zero() { None } else { Some(a) };
        self.put(|s| &mut s.unbonding, key, v);
    }

    // ----- balance-level operations (checked; each keeps the supply identity) -----

    /// Add to a free balance (the caller removed `amount` elsewhere).
    pub(crate) fn credit(&mut self, id: AccountId, amount: Amount) -> Result<(), TxError> {
        let mut a = self.s.accounts.get(&id).cloned().unwrap_or_default();
        a.balance = a
            .balance
            .checked_add(amount)
            .ok_or_else(|| TxError::overflow("balance"))?;
        self.set_account(id, a);
        Ok(())
    }
    /// Remove from a free balance (the caller puts `amount` elsewhere).
    pub(crate) fn debit(&mut self, id: AccountId, amount: Amount) -> Result<(), TxError> {
        let mut a = self.s.accounts.get(&id).cloned().unwrap_or_default();
        a.balance = a
            .balance
            .checked_sub(amount)
            .ok_or(TxError::InsufficientBalance {
                available: a.balance,
                needed: amount,
            })?;
        self.set_account(id, a);
        Ok(())
    }
    /// Destroy `amount` that the caller removed from a bucket.
    pub(crate) fn burn_amount(&mut self, amount: Amount) -> Result<(), TxError> {
        let mut s = self.s.supply;
        s.total_issuance = s
            .total_issuance
            .checked_sub(amount)
            .ok_or_else(|| TxError::overflow("total issuance"))?;
        s.burned = s
            .burned
            .checked_add(amount)
            .ok_or_else(|| TxError::overflow("burned"))?;
        self.set_supply(s);
        Ok(())
    }
    /// Create `amount` (emission); the caller must place it in a bucket.
    pub(crate) fn mint_amount(&mut self, amount: Amount) -> Result<(), TxError> {
        let mut s = self.s.supply;
        s.total_issuance = s
            .total_issuance
            .checked_add(amount)
            .ok_or_else(|| TxError::overflow("total issuance"))?;
        s.minted = s
            .minted
            .checked_add(amount)
            .ok_or_else(|| TxError::overflow("minted"))?;
        self.set_supply(s);
        Ok(())
    }
    /// Add bonded stake of `staker` on `hotkey` (the caller removed `amount` elsewhere).
    pub(crate) fn bond(
        &mut self,
        hotkey: AccountId,
        staker: AccountId,
        amount: Amount,
    ) -> Result<(), TxError> {
        if amount.is_zero() {
            return Ok(());
        }
        let e = self.s.stake(&hotkey, &staker).checked_add(amount);
        let h = self.s.hotkey_stake(&hotkey).checked_add(amount);
        let st = self.s.staker_stake(&staker).checked_add(amount);
        let tot = self.s.supply.staked.checked_add(amount);
        let (Some(e), Some(h), Some(st), Some(tot)) = (e, h, st, tot) else {
            return Err(TxError::overflow("stake"));
        };
        self.put(|s| &mut s.stakes, (hotkey, staker), Some(e));
        self.put(|s| &mut s.hotkey_stake, hotkey, Some(h));
        self.put(|s| &mut s.staker_stake, staker, Some(st));
        let mut sup = self.s.supply;
        sup.staked = tot;
        self.set_supply(sup);
        Ok(())
    }
    /// Remove bonded stake of `staker` on `hotkey` (the caller puts `amount` elsewhere).
    pub(crate) fn unbond(
        &mut self,
        hotkey: AccountId,
        staker: AccountId,
        amount: Amount,
    ) -> Result<(), TxError> {
        if amount.is_zero() {
            return Ok(());
        }
        let available = self.s.stake(&hotkey, &staker);
        let e = available
            .checked_sub(amount)
            .ok_or(TxError::InsufficientStake {
                hotkey,
                available,
                needed: amount,
            })?;
        let h = self.s.hotkey_stake(&hotkey).checked_sub(amount);
        let st = self.s.staker_stake(&staker).checked_sub(amount);
        let tot = self.s.supply.staked.checked_sub(amount);
        let (Some(h), Some(st), Some(tot)) = (h, st, tot) else {
            return Err(TxError::overflow("stake totals"));
        };
        let nz = |a: Amount| if a.is_zero() { None } else { Some(a) };
        self.put(|s| &mut s.stakes, (hotkey, staker), nz(e));
        self.put(|s| &mut s.hotkey_stake, hotkey, nz(h));
        self.put(|s| &mut s.staker_stake, staker, nz(st));
        let mut sup = self.s.supply;
        sup.staked = tot;
        self.set_supply(sup);
        Ok(())
    }
    /// Move `amount` into a task's escrow (the caller removed it elsewhere).
    pub(crate) fn escrow_in(&mut self, task: TaskId, amount: Amount) -> Result<(), TxError> {
        let mut t = self.task(task)?;
        t.escrow = t
            .escrow
            .checked_add(amount)
            .ok_or_else(|| TxError::overflow("escrow"))?;
        let mut sup = self.s.supply;
        sup.escrowed = sup
            .escrowed
            .checked_add(amount)
            .ok_or_else(|| TxError::overflow("escrowed"))?;
        self.set_task(task, t);
        self.set_supply(sup);
        Ok(())
    }
    /// Take `amount` out of a task's escrow (the caller puts it elsewhere).
    pub(crate) fn escrow_out(&mut self, task: TaskId, amount: Amount) -> Result<(), TxError> {
        let mut t = self.task(task)?;
        t.escrow = t
            .escrow
            .checked_sub(amount)
            .ok_or(TxError::InsufficientBalance {
                available: t.escrow,
                needed: amount,
            })?;
        let mut sup = self.s.supply;
        sup.escrowed = sup
            .escrowed
            .checked_sub(amount)
            .ok_or_else(|| TxError::overflow("escrowed"))?;
        self.set_task(task, t);
        self.set_supply(sup);
        Ok(())
    }
    /// Record an offence and return its id.
    pub fn record_offence(
        &mut self,
        kind: OffenceKind,
        task: TaskId,
        offender: AccountId,
        height: Height,
    ) -> Result<OffenceId, TxError> {
        let mut c = self.s.counters;
        let id = OffenceId(c.next_offence);
        c.next_offence = c
            .next_offence
            .checked_add(1)
            .ok_or_else(|| TxError::overflow("offence id"))?;
        self.set_counters(c);
        self.set_offence(
            id,
            Offence {
                kind,
                task,
                offender,
                height,
                slashed: false,
            },
        );
        Ok(id)
    }
}
