//! Moving value in and out of stake outside ordinary transfers: rewards and slashes.
//!
//! # Rewards
//! Epoch processing obtains [`Funds`] — by minting emission ([`Rw::mint`]) or by releasing a
//! task's escrow ([`Rw::take_escrow`]) — and pays them to hotkeys with [`distribute_reward`]:
//! the hotkey keeps `take × amount` (its take rate, default the `default_take` parameter); the
//! rest is split pro rata over every stake on the hotkey (its own self-stake included), each
//! share rounded down; the rounding dust goes to the hotkey. Everything is credited as bonded
//! stake (rewards compound, as in subtensor). A hotkey without stake keeps everything.
//!
//! [`Funds`] is a linear token: it cannot be cloned, and every path that consumes it places the
//! amount in exactly one bucket, so the supply identity holds by construction.
//!
//! # Slashes
//! [`slash_stake`] takes `fraction` of every bonded stake on the offender's hotkey (delegators
//! share the risk they chose) and of the offender's own unbonding entries from itself, each
//! rounded down.

use deai_types::{AccountId, Amount, Fixed, Height, TaskId};

use crate::error::TxError;
use crate::state::Rw;

/// Value removed from every bucket and not yet placed: must be distributed, escrowed or burned.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "Funds must be placed (distribute_reward, put_escrow, burn) or the supply breaks"]
pub struct Funds(Amount);

impl Funds {
    /// The amount held.
    pub fn amount(&self) -> Amount {
        self.0
    }
    /// Split off `amount` (at most what is held).
    pub fn split(self, amount: Amount) -> Result<(Funds, Funds), (Funds, TxError)> {
        match self.0.checked_sub(amount) {
            Some(rest) => Ok((Funds(amount), Funds(rest))),
            None => {
                let available = self.0;
                Err((
                    self,
                    TxError::InsufficientBalance {
                        available,
                        needed: amount,
                    },
                ))
            }
        }
    }
}

/// How a reward was split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewardSplit {
    /// The hotkey's take (part of `to_hotkey`).
    pub take: Amount,
    /// Bonded on the hotkey's self-stake: take + its pro-rata share + rounding dust.
    pub to_hotkey: Amount,
    /// Bonded for each other staker on the hotkey (pro rata after the take, rounded down).
    pub to_delegators: Vec<(AccountId, Amount)>,
}

impl Rw<'_> {
    /// Mint emission.
    pub fn mint(&mut self, amount: Amount) -> Result<Funds, TxError> {
        self.mint_amount(amount)?;
        Ok(Funds(amount))
    }
    /// Release `amount` from a task's escrow.
    pub fn take_escrow(&mut self, task: TaskId, amount: Amount) -> Result<Funds, TxError> {
        self.escrow_out(task, amount)?;
        Ok(Funds(amount))
    }
    /// Put funds into a task's escrow.
    pub fn put_escrow(&mut self, task: TaskId, funds: Funds) -> Result<(), TxError> {
        self.escrow_in(task, funds.0)
    }
    /// Burn funds.
    pub fn burn(&mut self, funds: Funds) -> Result<(), TxError> {
        self.burn_amount(funds.0)
    }
    /// Pay funds to a free balance.
    pub fn pay(&mut self, to: AccountId, funds: Funds) -> Result<(), TxError> {
        self.credit(to, funds.0)
    }
}

/// Pay a reward to `hotkey` and its delegators (see the module docs). Returns the split.
pub fn distribute_reward(
    rw: &mut Rw<'_>,
    hotkey: AccountId,
    funds: Funds,
) -> Result<RewardSplit, TxError> {
    let amount = funds.0;
    let take = rw
        .state()
        .take_of(&hotkey)
        .mul_amount(amount)
        .ok_or_else(|| TxError::overflow("take"))?;
    let rest = amount
        .checked_sub(take)
        .ok_or_else(|| TxError::overflow("reward split"))?;
    let total = rw.state().hotkey_stake(&hotkey);
    let mut to_delegators: Vec<(AccountId, Amount)> = Vec::new();
    let mut paid = Amount::ZERO;
    for (staker, stake) in rw.state().stakers_of(&hotkey) {
        if staker == hotkey {
            continue;
        }
        // total > 0 here, since this staker has a positive stake on the hotkey.
        let share = rest
            .mul_div_floor(stake, total)
            .ok_or_else(|| TxError::overflow("reward share"))?;
        paid = paid
            .checked_add(share)
            .ok_or_else(|| TxError::overflow("reward share"))?;
        to_delegators.push((staker, share));
    }
    let to_hotkey = amount
        .checked_sub(paid)
        .ok_or_else(|| TxError::overflow("reward remainder"))?;
    for (staker, share) in &to_delegators {
        rw.bond(hotkey, *staker, *share)?;
    }
    rw.bond(hotkey, hotkey, to_hotkey)?;
    Ok(RewardSplit {
        take,
        to_hotkey,
        to_delegators,
    })
}

/// Remove `fraction` of the offender's bonded stake (all stakers on it) and of its own
/// unbonding from itself. Returns the funds removed.
pub fn slash_stake(
    rw: &mut Rw<'_>,
    offender: AccountId,
    fraction: Fixed,
) -> Result<Funds, TxError> {
    let cuts: Vec<(AccountId, Amount)> = rw
        .state()
        .stakers_of(&offender)
        .map(|(s, a)| fraction.mul_amount(a).map(|c| (s, c)))
        .collect::<Option<_>>()
        .ok_or_else(|| TxError::overflow("slash fraction"))?;
    let unb: Vec<((AccountId, AccountId, Height), Amount, Amount)> = rw
        .state()
        .unbonding
        .range((offender, offender, Height(0))..=(offender, offender, Height(u64::MAX)))
        .map(|(k, a)| fraction.mul_amount(*a).map(|c| (*k, *a, c)))
        .collect::<Option<_>>()
        .ok_or_else(|| TxError::overflow("slash fraction"))?;
    let mut total = Amount::ZERO;
    for (staker, cut) in cuts {
        rw.unbond(offender, staker, cut)?;
        total = total
            .checked_add(cut)
            .ok_or_else(|| TxError::overflow("slash total"))?;
    }
    let mut unbonding_cut = Amount::ZERO;
    for (key, amount, cut) in unb {
        if cut.is_zero() {
            continue;
        }
        let left = amount
            .checked_sub(cut)
            .ok_or_else(|| TxError::overflow("slash unbonding"))?;
        rw.set_unbonding(key, left);
        unbonding_cut = unbonding_cut
            .checked_add(cut)
            .ok_or_else(|| TxError::overflow("slash unbonding"))?;
    }
    if !unbonding_cut.is_zero() {
        let mut sup = rw.state().supply;
        sup.unbonding = sup
            .unbonding
            .checked_sub(unbonding_cut)
            .ok_or_else(|| TxError::overflow("unbonding total"))?;
        rw.set_supply(sup);
        total = total
            .checked_add(unbonding_cut)
            .ok_or_else(|| TxError::overflow("slash total"))?;
    }
    Ok(Funds(total))
}
