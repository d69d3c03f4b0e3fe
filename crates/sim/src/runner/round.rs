//! What every round does, whatever the mechanism decides in between.
//!
//! A round starts by noting every actor's holdings ([`Sim::start_round`]) and, in its first
//! block, has the round's trainers train (in parallel: training touches no chain) and commit
//! through their [`deai_roles::MinerRole`]s, after the task proposer's pending transactions
//! ([`Sim::commit_updates`]). Whoever checks
//! the revealed updates does it the same way ([`Sim::fetch_updates`]). Once the mechanism has
//! settled the round — Yuma's epoch or the proposer/voter settlement — it hands a [`Settled`]
//! to [`Sim::end_round`], which is the one place where a round ends:
//!
//! 1. the global model takes the aggregate step, if the round applied one;
//! 2. validators remember the round's updates and the step (`seen`, for the next scoring);
//! 3. the task proposer puts the new model's blob and stages its `RecordModel` (hash and
//!    contributing updates, in the order the rule aggregated them) for the next round's first
//!    block ([`deai_roles::TaskProposer::record_model`]);
//! 4. the model is evaluated, every actor's gain since the round started is its reward, and
//!    the [`RoundRecord`] is assembled with the state root after the round's last block.

use std::time::Instant;

use deai_roles::{apply_step, MinerRole, SaltUse};
use deai_types::{AccountId, CommitKind, Hash32, Role, Round, Uid};

use super::records::{PvOutcome, RoundRecord};
use super::tx::{Preimage, RevealedUpdate};
use super::Sim;
use crate::actors::MinerView;
use crate::SimError;

/// What [`Sim::end_round`] needs from the start of the round.
pub(crate) struct RoundStart {
    round: u64,
    started: Instant,
    /// Every actor's [`Sim::account_value`] before the round.
    values: Vec<u128>,
}

/// The revealed updates of a round, checked off-chain.
pub(crate) struct Fetched {
    /// The valid ones, in the order they were handed over.
    pub(crate) updates: Vec<RevealedUpdate>,
    /// The rejected ones: (actor, reason), as the round record keeps them.
    pub(crate) rejected: Vec<(usize, String)>,
}

/// The step a round applies to the global model.
pub(crate) struct Applied {
    /// The task's rule over the contributing updates, in canonical mode.
    pub(crate) step: Vec<f32>,
    /// The contributing updates (indices into [`Settled::fetched`]'s updates), in the order
    /// the rule aggregated them.
    pub(crate) contributors: Vec<usize>,
}

/// How the mechanism settled a round.
pub(crate) struct Settled {
    /// The round's revealed updates.
    pub(crate) fetched: Fetched,
    /// The step applied to the global model; `None` leaves it as it was.
    pub(crate) applied: Option<Applied>,
    /// Incentive of each actor, in actor order.
    pub(crate) incentive: Vec<f64>,
    /// Dividends of each actor, in actor order.
    pub(crate) dividends: Vec<f64>,
    /// The proposer/voter outcome (`None` on Yuma tasks).
    pub(crate) pv: Option<PvOutcome>,
}

impl Sim {
    /// Notes what [`Sim::end_round`] measures from: the time and every actor's holdings.
    pub(crate) fn start_round(&self, round: u64) -> RoundStart {
        RoundStart {
            round,
            started: Instant::now(),
            values: self.account_values(),
        }
    }

    /// Offset 0: the actors `who` train and commit to their updates, in one block after the
    /// proposer's pending transactions. Returns the preimages the miners keep for their
    /// reveals, which under blind validation they hand to the relay.
    pub(crate) fn commit_updates(
        &mut self,
        round: u64,
        who: &[usize],
    ) -> Result<Vec<Preimage>, SimError> {
        let trained = self.train(round, who)?;
        self.submit_proposer()?;
        let at = self.at(round);
        let mut kept = Vec::new();
        for (i, delta) in trained {
            let salt = self.salt(round, i, SaltUse::Update);
            let Some(miner) = self.roles[i].miner.as_mut() else {
                continue;
            };
            let committed =
                miner.commit(&mut self.port, &mut self.actors[i].signer, at, &delta, salt)?;
            if let Some(sealed) = miner.sealed() {
                kept.push(Preimage {
                    actor: i,
                    bytes: sealed.preimage().to_vec(),
                });
            }
            // Off-chain messages: a miner may tell others which blob is its own.
            if let Some(no) = self.miner_number(i) {
                for b in &mut self.roles {
                    if let Some(v) = &mut b.validator {
                        v.hear(no, committed.blob.0);
                    }
                    if let Some(v) = &mut b.voter {
                        v.hear(no, committed.blob.0);
                    }
                }
            }
        }
        self.block()?;
        Ok(kept)
    }

    /// Trains the miners `who` (actor indices) in parallel on the global model; returns each
    /// one's update, in actor order.
    fn train(&mut self, round: u64, who: &[usize]) -> Result<Vec<(usize, Vec<f32>)>, SimError> {
        use rayon::prelude::*;
        let seed = self.scenario.seed;
        let view_global = self.global.clone();
        let last_step = self.last_step.clone();
        let cfg = self.cfg;
        let slots: Vec<u64> = self
            .actors
            .iter()
            .map(|a| a.slot.saturating_sub(1))
            .collect();
        let mut jobs: Vec<(usize, &mut MinerRole)> = self
            .roles
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| who.contains(i))
            .filter_map(|(i, b)| b.miner.as_mut().map(|m| (i, m)))
            .collect();
        jobs.par_iter_mut()
            .with_max_len(1)
            .map(|(i, m)| {
                let view = MinerView {
                    round,
                    global: &view_global,
                    last_step: last_step.as_deref(),
                    cfg: &cfg,
                    seed: deai_ml::seed::client_seed(seed, round, slots[*i]),
                };
                Ok((*i, m.train(&view)?))
            })
            .collect()
    }

    /// The update preimages the actors `who` revealed on chain in `round`, in that order.
    pub(crate) fn revealed_updates(
        &self,
        round: u64,
        who: &[usize],
    ) -> Result<Vec<Preimage>, SimError> {
        let mut revealed = Vec::new();
        for &i in who {
            revealed.extend(self.revealed(round, CommitKind::Update, i)?);
        }
        Ok(revealed)
    }

    /// Fetches and checks every update `preimages` point to ([`Sim::fetch_update`]).
    pub(crate) fn fetch_updates(&self, preimages: &[Preimage]) -> Fetched {
        let mut fetched = Fetched {
            updates: Vec::new(),
            rejected: Vec::new(),
        };
        for p in preimages {
            match self.fetch_update(p) {
                Ok(update) => fetched.updates.push(update),
                Err(reason) => fetched.rejected.push((p.actor, reason.to_string())),
            }
        }
        fetched
    }

    /// Ends a settled round (see the module docs): applies the step, records the model for the
    /// next block, evaluates it and assembles the round's record.
    pub(crate) fn end_round(
        &mut self,
        start: RoundStart,
        settled: Settled,
    ) -> Result<RoundRecord, SimError> {
        let Settled {
            fetched: Fetched { updates, rejected },
            applied,
            incentive,
            dividends,
            pv,
        } = settled;
        let contributing: Vec<&RevealedUpdate> = applied
            .iter()
            .flat_map(|a| a.contributors.iter().map(|&k| &updates[k]))
            .collect();
        let contributors: Vec<usize> = contributing.iter().map(|u| u.actor).collect();
        let recorded: Vec<(Uid, Hash32)> = contributing
            .iter()
            .map(|u| (Uid(self.actors[u.actor].info.uid), u.blob))
            .collect();
        match applied {
            Some(Applied { step, .. }) => {
                self.global = apply_step(&self.global, &step);
                self.last_step = Some(step);
            }
            None => self.last_step = None,
        }
        self.seen = updates.into_iter().map(|u| u.delta).collect();
        if let Some(s) = &self.last_step {
            self.seen.push(s.clone());
        }
        let hash = self.task_proposer.record_model(
            &mut self.port,
            Round(start.round),
            &self.global,
            recorded,
        )?;

        let eval = deai_ml::evaluate(self.kind, &self.global, &self.data.test)?;
        Ok(RoundRecord {
            round: start.round,
            accuracy: eval.accuracy,
            loss: eval.loss,
            rewards: self.gains_since(&start.values),
            incentive,
            dividends,
            contributors,
            rejected,
            model_hash: hash,
            state_root: self.port.chain().state().root(),
            pv,
            seconds: start.started.elapsed().as_secs_f64(),
        })
    }

    /// The actors of `role`, in actor order.
    pub(crate) fn with_role(&self, role: Role) -> Vec<usize> {
        (0..self.actors.len())
            .filter(|&i| self.actors[i].info.role == role)
            .collect()
    }

    /// The actor whose account is `account`, if any.
    pub(crate) fn actor_with(&self, account: &AccountId) -> Option<usize> {
        self.actors.iter().position(|a| a.info.account == *account)
    }

    /// The index of actor `i` among the miners, if it is one.
    pub(crate) fn miner_number(&self, i: usize) -> Option<usize> {
        (self.actors.get(i)?.info.role == Role::Miner).then(|| {
            self.actors[..i]
                .iter()
                .filter(|a| a.info.role == Role::Miner)
                .count()
        })
    }

    /// Balance plus bonded stake: rewards paid to either show up here.
    pub(crate) fn account_value(&self, id: &AccountId) -> u128 {
        let s = self.port.chain().state();
        s.balance_of(id).0.saturating_add(s.staker_stake(id).0)
    }

    /// Every actor's [`Sim::account_value`], in actor order.
    pub(crate) fn account_values(&self) -> Vec<u128> {
        self.actors
            .iter()
            .map(|a| self.account_value(&a.info.account))
            .collect()
    }

    /// What every actor gained since `before` (an earlier [`Sim::account_values`]).
    pub(crate) fn gains_since(&self, before: &[u128]) -> Vec<u128> {
        self.account_values()
            .iter()
            .zip(before)
            .map(|(now, was)| now.saturating_sub(*was))
            .collect()
    }
}
