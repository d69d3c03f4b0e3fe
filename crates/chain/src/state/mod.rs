//! The ledger state, its root, its genesis, and the journaled write handle every transition
//! uses.
//!
//! # Layout
//! Every collection is a `BTreeMap`, so the canonical (borsh) encoding — and hence
//! [`State::root`] = `blake3("deai/state/v1" || encode(state))` — is a function of the state
//! alone. Alongside the primary maps the state keeps totals that are functions of them (stake per
//! hotkey and per staker, the supply buckets); [`State::check_invariants`] recomputes them.
//!
//! # Supply
//! `total_issuance = genesis + minted − burned`, and at every point between transactions
//! `Σ balances + staked + unbonding + escrowed == total_issuance`. Fees and registration
//! costs are burned; slashes are burned or moved to a task's escrow; emission is minted.
//!
//! # Atomicity
//! All writes go through [`Rw`], which records an undo entry per write in a [`Journal`]. A
//! failed transaction is rolled back to its mark; nothing is cloned per transaction.
//!
//! # Modules
//! - `records`: the records the state keeps (accounts, tasks, commitments, offences, proposals, models, epochs, proposer/voter rounds).
//! - `genesis`: [`GenesisConfig`] and [`State::genesis`].
//! - `journal`: the undo [`Journal`] and the write handle [`Rw`].

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use deai_types::{
    encode, AccountId, Amount, ChainId, CommitKey, Epoch, Fixed, Hash32, Height, Nonce, OffenceId,
    OffenceKind, Params, ProposalId, Round, TaskId, Uid,
};
use serde::{Deserialize, Serialize};

use crate::error::{ChainError, TxError};

mod genesis;
mod journal;
mod records;

pub use genesis::GenesisConfig;
pub use journal::{Journal, Rw};
pub use records::*;

/// The full ledger state.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct State {
    pub(crate) chain_id: ChainId,
    pub(crate) tip: Tip,
    pub(crate) params: Params,
    pub(crate) supply: Supply,
    pub(crate) counters: Counters,
    pub(crate) accounts: BTreeMap<AccountId, Account>,
    /// (hotkey, staker) → bonded stake.
    pub(crate) stakes: BTreeMap<(AccountId, AccountId), Amount>,
    /// hotkey → Σ stakes on it.
    pub(crate) hotkey_stake: BTreeMap<AccountId, Amount>,
    /// staker → Σ its stakes.
    pub(crate) staker_stake: BTreeMap<AccountId, Amount>,
    /// (staker, hotkey, release height) → unbonding amount.
    pub(crate) unbonding: BTreeMap<(AccountId, AccountId, Height), Amount>,
    pub(crate) tasks: BTreeMap<TaskId, Task>,
    pub(crate) registrations: BTreeMap<(TaskId, Uid), Registration>,
    pub(crate) uids: BTreeMap<(TaskId, AccountId), Uid>,
    pub(crate) commitments: BTreeMap<CommitKey, Commitment>,
    pub(crate) offences: BTreeMap<OffenceId, Offence>,
    pub(crate) proposals: BTreeMap<ProposalId, Proposal>,
    pub(crate) votes: BTreeMap<(ProposalId, AccountId), bool>,
    /// (height, proposal) → () : proposals to tally or execute at the end of that block.
    pub(crate) gov_queue: BTreeMap<(Height, ProposalId), ()>,
    /// Recorded global models (kept for every round).
    pub(crate) model_records: BTreeMap<(TaskId, Round), ModelRecord>,
    /// Yuma epoch records (the newest `records_kept` per task).
    pub(crate) epoch_records: BTreeMap<(TaskId, Epoch), EpochRecord>,
    /// Yuma bonds: (task, validator UID) → sparse row of non-zero `u16` bonds on UIDs.
    pub(crate) bonds: BTreeMap<(TaskId, Uid), Vec<(Uid, u16)>>,
    /// Consecutive epochs a validator's trust stayed below `out_of_consensus_trust`.
    pub(crate) low_trust_streaks: BTreeMap<(TaskId, Uid), u32>,
    /// Proposer/voter role draws (the newest `records_kept` per task).
    pub(crate) pv_roles: BTreeMap<(TaskId, Round), PvRoles>,
    /// Proposer/voter round settlements (the newest `records_kept` per task).
    pub(crate) pv_rounds: BTreeMap<(TaskId, Round), PvRoundRecord>,
}

pub(crate) const MIN_ID: AccountId = AccountId([0; 32]);
pub(crate) const MAX_ID: AccountId = AccountId([0xff; 32]);

impl State {
    /// `blake3("deai/state/v1" || encode(self))`: a function of the state alone.
    pub fn root(&self) -> Hash32 {
        Hash32::tagged(b"deai/state/v1", &[&encode(self)])
    }

    /// The canonical encoding and the root computed from it, in one pass (a store that persists
    /// the state bytes anyway should use this instead of `encode` + `root`).
    pub fn encode_with_root(&self) -> (Vec<u8>, Hash32) {
        let bytes = encode(self);
        let root = Hash32::tagged(b"deai/state/v1", &[&bytes]);
        (bytes, root)
    }

    /// The chain id.
    pub fn chain_id(&self) -> &ChainId {
        &self.chain_id
    }
    /// The last executed block.
    pub fn tip(&self) -> Tip {
        self.tip
    }
    /// Height of the last executed block.
    pub fn height(&self) -> Height {
        self.tip.height
    }
    /// Current parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }
    /// Supply buckets.
    pub fn supply(&self) -> Supply {
        self.supply
    }
    /// Total issuance (everything in existence).
    pub fn total_supply(&self) -> Amount {
        self.supply.total_issuance
    }
    /// Id counters.
    pub fn counters(&self) -> Counters {
        self.counters
    }
    /// An account (None if it never held anything).
    pub fn account(&self, id: &AccountId) -> Option<&Account> {
        self.accounts.get(id)
    }
    /// All accounts.
    pub fn accounts(&self) -> impl Iterator<Item = (&AccountId, &Account)> {
        self.accounts.iter()
    }
    /// Free balance (0 for an unknown account).
    pub fn balance_of(&self, id: &AccountId) -> Amount {
        self.accounts.get(id).map_or(Amount::ZERO, |a| a.balance)
    }
    /// Next nonce (0 for an unknown account).
    pub fn nonce_of(&self, id: &AccountId) -> Nonce {
        self.accounts.get(id).map_or(Nonce(0), |a| a.nonce)
    }
    /// Effective take rate of a hotkey.
    pub fn take_of(&self, hotkey: &AccountId) -> Fixed {
        self.accounts
            .get(hotkey)
            .and_then(|a| a.take)
            .unwrap_or(self.params.default_take)
    }
    /// Stake of `staker` on `hotkey`.
    pub fn stake(&self, hotkey: &AccountId, staker: &AccountId) -> Amount {
        self.stakes
            .get(&(*hotkey, *staker))
            .copied()
            .unwrap_or_default()
    }
    /// Total stake on `hotkey` (self + delegated): its weight in consensus.
    pub fn hotkey_stake(&self, hotkey: &AccountId) -> Amount {
        self.hotkey_stake.get(hotkey).copied().unwrap_or_default()
    }
    /// Total stake owned by `staker` across hotkeys: its governance voting power.
    pub fn staker_stake(&self, staker: &AccountId) -> Amount {
        self.staker_stake.get(staker).copied().unwrap_or_default()
    }
    /// Stakers on a hotkey and their stakes.
    pub fn stakers_of(&self, hotkey: &AccountId) -> impl Iterator<Item = (AccountId, Amount)> + '_ {
        self.stakes
            .range((*hotkey, MIN_ID)..=(*hotkey, MAX_ID))
            .map(|((_, s), a)| (*s, *a))
    }
    /// Unbonding entries of a staker: (hotkey, release height, amount).
    pub fn unbonding_of(
        &self,
        staker: &AccountId,
    ) -> impl Iterator<Item = (AccountId, Height, Amount)> + '_ {
        self.unbonding
            .range((*staker, MIN_ID, Height(0))..=(*staker, MAX_ID, Height(u64::MAX)))
            .map(|((_, h, r), a)| (*h, *r, *a))
    }
    /// A task.
    pub fn task(&self, id: TaskId) -> Option<&Task> {
        self.tasks.get(&id)
    }
    /// All tasks.
    pub fn tasks(&self) -> impl Iterator<Item = (&TaskId, &Task)> {
        self.tasks.iter()
    }
    /// The UID of `account` on `task`.
    pub fn uid_of(&self, task: TaskId, account: &AccountId) -> Option<Uid> {
        self.uids.get(&(task, *account)).copied()
    }
    /// The registrations of a task, by UID.
    pub fn registrations(&self, task: TaskId) -> impl Iterator<Item = (Uid, &Registration)> {
        self.registrations
            .range((task, Uid(0))..=(task, Uid(u16::MAX)))
            .map(|((_, u), r)| (*u, r))
    }
    /// A commitment.
    pub fn commitment(&self, key: &CommitKey) -> Option<&Commitment> {
        self.commitments.get(key)
    }
    /// All commitments (ordered by task, round, kind, account).
    pub fn commitments(&self) -> impl Iterator<Item = (&CommitKey, &Commitment)> {
        self.commitments.iter()
    }
    /// An offence record.
    pub fn offence(&self, id: OffenceId) -> Option<&Offence> {
        self.offences.get(&id)
    }
    /// All offence records.
    pub fn offences(&self) -> impl Iterator<Item = (&OffenceId, &Offence)> {
        self.offences.iter()
    }
    /// A governance proposal.
    pub fn proposal(&self, id: ProposalId) -> Option<&Proposal> {
        self.proposals.get(&id)
    }
    /// All proposals.
    pub fn proposals(&self) -> impl Iterator<Item = (&ProposalId, &Proposal)> {
        self.proposals.iter()
    }
    /// The recorded global model of a round.
    pub fn model_record(&self, task: TaskId, round: Round) -> Option<&ModelRecord> {
        self.model_records.get(&(task, round))
    }
    /// Every recorded global model, by (task, round).
    pub fn model_records(&self) -> impl Iterator<Item = (&(TaskId, Round), &ModelRecord)> {
        self.model_records.iter()
    }
    /// The record of a processed Yuma epoch (None if not processed yet or pruned).
    pub fn epoch_record(&self, task: TaskId, epoch: Epoch) -> Option<&EpochRecord> {
        self.epoch_records.get(&(task, epoch))
    }
    /// Every kept epoch record, by (task, epoch).
    pub fn epoch_records(&self) -> impl Iterator<Item = (&(TaskId, Epoch), &EpochRecord)> {
        self.epoch_records.iter()
    }
    /// The stored Yuma bonds row of a validator UID: `(uid, bond)` with non-zero bonds.
    pub fn bonds_of(&self, task: TaskId, uid: Uid) -> &[(Uid, u16)] {
        self.bonds.get(&(task, uid)).map_or(&[], Vec::as_slice)
    }
    /// Consecutive epochs the validator's trust stayed below `out_of_consensus_trust`.
    pub fn low_trust_streak(&self, task: TaskId, uid: Uid) -> u32 {
        self.low_trust_streaks
            .get(&(task, uid))
            .copied()
            .unwrap_or(0)
    }
    /// The roles drawn for a round of a proposer/voter task.
    pub fn pv_roles(&self, task: TaskId, round: Round) -> Option<&PvRoles> {
        self.pv_roles.get(&(task, round))
    }
    /// The settlement of a round of a proposer/voter task.
    pub fn pv_round(&self, task: TaskId, round: Round) -> Option<&PvRoundRecord> {
        self.pv_rounds.get(&(task, round))
    }
    /// The account holding a UID of a task.
    pub fn account_of(&self, task: TaskId, uid: Uid) -> Option<&Registration> {
        self.registrations.get(&(task, uid))
    }

    /// Recompute every derived total and the supply identity; `Err` names the first mismatch.
    pub fn check_invariants(&self) -> Result<(), String> {
        fn sum<'a>(mut it: impl Iterator<Item = &'a Amount>) -> Option<Amount> {
            it.try_fold(Amount::ZERO, |a, b| a.checked_add(*b))
        }
        let balances =
            sum(self.accounts.values().map(|a| &a.balance)).ok_or("balances overflow")?;
        let staked = sum(self.stakes.values()).ok_or("stakes overflow")?;
        let unbonding = sum(self.unbonding.values()).ok_or("unbonding overflow")?;
        let escrowed = sum(self.tasks.values().map(|t| &t.escrow)).ok_or("escrow overflow")?;
        let s = &self.supply;
        if staked != s.staked {
            return Err(format!("Σ stakes {staked} != supply.staked {}", s.staked));
        }
        if unbonding != s.unbonding {
            return Err(format!(
                "Σ unbonding {unbonding} != supply.unbonding {}",
                s.unbonding
            ));
        }
        if escrowed != s.escrowed {
            return Err(format!(
                "Σ escrow {escrowed} != supply.escrowed {}",
                s.escrowed
            ));
        }
        let held = [staked, unbonding, escrowed]
            .iter()
            .try_fold(balances, |a, b| a.checked_add(*b))
            .ok_or("holdings overflow")?;
        if held != s.total_issuance {
            return Err(format!(
                "balances {balances} + staked {staked} + unbonding {unbonding} + escrowed {escrowed} = {held} != total_issuance {}",
                s.total_issuance
            ));
        }
        let issued = s
            .genesis
            .checked_add(s.minted)
            .and_then(|x| x.checked_sub(s.burned));
        if issued != Some(s.total_issuance) {
            return Err(format!(
                "genesis {} + minted {} - burned {} != total_issuance {}",
                s.genesis, s.minted, s.burned, s.total_issuance
            ));
        }
        let mut per_hotkey: BTreeMap<AccountId, Amount> = BTreeMap::new();
        let mut per_staker: BTreeMap<AccountId, Amount> = BTreeMap::new();
        for ((h, st), a) in &self.stakes {
            if a.is_zero() {
                return Err(format!("zero stake entry ({h}, {st})"));
            }
            let e = per_hotkey.entry(*h).or_default();
            *e = e.checked_add(*a).ok_or("hotkey total overflow")?;
            let e = per_staker.entry(*st).or_default();
            *e = e.checked_add(*a).ok_or("staker total overflow")?;
        }
        if per_hotkey != self.hotkey_stake {
            return Err("hotkey_stake totals differ from stakes".into());
        }
        if per_staker != self.staker_stake {
            return Err("staker_stake totals differ from stakes".into());
        }
        if self.accounts.values().any(Account::is_empty) {
            return Err("an empty account is stored".into());
        }
        Ok(())
    }

    /// Run `f` with a journaled write handle; if it returns `Err`, every write it made is undone.
    pub fn atomically<T, E>(
        &mut self,
        f: impl FnOnce(&mut Rw<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut journal = Journal::default();
        let mut rw = Rw {
            s: self,
            j: &mut journal,
        };
        let out = f(&mut rw);
        if out.is_err() {
            journal.rollback(self, 0);
        }
        out
    }
}

type Undo = Box<dyn FnOnce(&mut State) + Send>;

#[cfg(test)]
mod tests {
    use super::*;
    use deai_types::TaskSpec;

    fn genesis() -> State {
        State::genesis(&GenesisConfig {
            chain_id: ChainId::new("t").unwrap(),
            genesis_time_ms: 0,
            accounts: vec![(AccountId([1; 32]), Amount(100))],
            stakes: vec![(AccountId([2; 32]), Amount(50))],
            params: Params::default(),
        })
        .unwrap()
    }

    #[test]
    fn journal_rollback_restores_the_exact_state() {
        let mut s = genesis();
        let before = s.clone();
        let (a, b) = (AccountId([1; 32]), AccountId([2; 32]));
        let mut j = Journal::default();
        let mut rw = Rw::new(&mut s, &mut j);
        rw.debit(a, Amount(30)).unwrap();
        let mark = rw.j.mark();
        rw.bond(b, a, Amount(30)).unwrap();
        rw.unbond(b, b, Amount(50)).unwrap();
        rw.credit(b, Amount(50)).unwrap();
        rw.record_offence(OffenceKind::BadRound, TaskId(0), b, Height(1))
            .unwrap();
        rw.j.rollback(rw.s, mark);
        rw.credit(a, Amount(30)).unwrap();
        assert_eq!(s, before);
        s.check_invariants().unwrap();
        let (bytes, root) = s.encode_with_root();
        assert_eq!((bytes, root), (encode(&s), s.root()));
    }

    #[test]
    fn atomically_undoes_on_error_only() {
        let mut s = genesis();
        let before = s.root();
        let a = AccountId([1; 32]);
        let r: Result<(), TxError> = s.atomically(|rw| {
            rw.debit(a, Amount(10))?;
            rw.debit(a, Amount(1_000))
        });
        assert!(r.is_err());
        assert_eq!(s.root(), before);
        s.atomically(|rw| {
            rw.debit(a, Amount(10))
                .and_then(|_| rw.burn_amount(Amount(10)))
        })
        .unwrap();
        assert_eq!(s.balance_of(&a), Amount(90));
        s.check_invariants().unwrap();
    }

    #[test]
    fn rounds_of_a_task() {
        let t = Task {
            spec: TaskSpec {
                model: Hash32::ZERO,
                dataset: Hash32::ZERO,
                eval: Hash32::ZERO,
                reward: Amount(0),
                start_delay: 0,
                round_blocks: 10,
                rounds: 2,
                epoch_rounds: 1,
                windows: vec![],
                aggregation: "x".into(),
                min_stake: Amount(0),
                max_uids: 1,
                mechanism: deai_types::Mechanism::Yuma,
                miner_share: Fixed::from_bps(5_000),
            },
            proposer: AccountId([0; 32]),
            proposed_at: Height(4),
            start: Height(5),
            end: Height(25),
            escrow: Amount(0),
            next_uid: 0,
        };
        assert_eq!(t.round_at(Height(4)), None);
        assert_eq!(t.round_at(Height(5)), Some(deai_types::Round(0)));
        assert_eq!(t.round_at(Height(15)), Some(deai_types::Round(1)));
        assert_eq!(t.round_at(Height(25)), None);
        assert_eq!(t.round_start(deai_types::Round(1)), Some(Height(15)));
        assert_eq!(t.round_start(deai_types::Round(u64::MAX)), None);
    }
}
