//! Proposer/voter rounds in the simulator: the FLock-style mechanism of `deai-chain`
//! ([`deai_chain::pv`]) played by the scenario's actors.
//!
//! # One round, block by block
//! The ledger draws the round's roles at the beginning of its first block from the parent
//! block's hash, among every participant with stake (miners and validators alike); the
//! simulator re-derives the same draw with [`deai_chain::draw_roles`] before building that
//! block, and checks it against the ledger's afterwards.
//!
//! | offset | what the block carries |
//! |---|---|
//! | 0 | proposers' `Commit(Update)`; the previous round's `RecordModel`; slash evidence |
//! | 1 | proposers' `Reveal(Update)` |
//! | 2 | voters' `Commit(Vote)`: each voter fetched the revealed updates, applied the task's rule (canonical mode, UID order) and measured the accuracy change of the global model on its own test split |
//! | 3 | voters' `Reveal(Vote)`; at the end of this block the ledger settles the round |
//!
//! If the stake-weighted vote is non-negative the ledger pays the proposers by stake and the
//! aggregate becomes the new global model (recorded with the proposers' updates as
//! contributors); otherwise the model stays, the proposers get a `BadRound` offence and the
//! watchdog's evidence slashes them in the next block. Voters on the minority side are slashed
//! the same way; `pv_slash_to_pool` of each slash returns to the task's escrow.
//!
//! The round then ends as a Yuma round does (`Sim::end_round` in `runner::round`): the model
//! is recorded with the accepted proposals, in the order the rule aggregated them, as its
//! contributors.
//!
//! Every participant acts through its roles ([`deai_roles::MinerRole`] as a proposer,
//! [`deai_roles::VoterRole`] as a voter) on the run's port; the draw is
//! [`deai_roles::pv::next_draw`], and the task's rule is the task proposer's.
//!
//! # Who plays what
//! Every actor has a proposer and a voter behaviour that follows from its kind: an honest miner
//! trains on its shard minus [`crate::runner::PV_TEST_SHARE`] of it and votes on that held-out
//! part; a label flipper trains and votes on flipped labels; free-riders and overfitters vote
//! without evaluating (repeating the last vote); an honest or colluding validator trains on its
//! evaluation set and votes on it (the colluder approves any round its partner proposes in); a
//! lazy validator proposes a copy of the last step and repeats the last vote; silent actors
//! commit and never reveal.

use deai_roles::{ChainPort, SaltUse};
use deai_types::{CommitKind, Round, Uid};

use crate::actors::{Candidate, VoteView};
use crate::runner::round::{Applied, Fetched, Settled};
use crate::runner::tx::RevealedUpdate;
use crate::runner::{PvOutcome, RoundRecord};
use crate::{LedgerError, Sim, SimError};

/// A voter's score of the round.
struct Ballot {
    /// The voter (index in actor order).
    voter: usize,
    /// The accuracy change it measured.
    score: f64,
}

/// What a proposer/voter round played before the ledger settled it.
struct Played {
    /// Actors drawn as proposers.
    proposers: Vec<usize>,
    /// Actors drawn as voters.
    voters: Vec<usize>,
    /// The proposals, checked.
    fetched: Fetched,
    /// The task's rule over the valid proposals, `None` if there was none.
    step: Option<Vec<f32>>,
    /// The revealed votes: (actor, score).
    scores: Vec<(usize, f64)>,
}

impl Sim {
    /// The actor holding `uid` on the task.
    fn actor_of(&self, uid: Uid) -> Option<usize> {
        self.actors.iter().position(|a| a.info.uid == uid.0)
    }

    /// Plays round `round` of a proposer/voter task (see the module docs).
    pub(crate) fn pv_round(&mut self, round: u64) -> Result<RoundRecord, SimError> {
        let start = self.start_round(round);
        let r = Round(round);

        // The draw the ledger will make at the start of the next block.
        let roles = deai_roles::pv::next_draw(&self.port, self.task, r)?;
        let to_actors = |uids: &[Uid]| -> Vec<usize> {
            uids.iter().filter_map(|u| self.actor_of(*u)).collect()
        };
        let proposers = to_actors(&roles.proposers);
        let voters = to_actors(&roles.voters);

        // Offset 0: proposers train and commit.
        self.commit_updates(round, &proposers)?;
        if self.port.pv_roles(self.task, r)?.as_ref() != Some(&roles) {
            return Err(LedgerError::OtherRoles {
                round: r,
                expected: roles,
            }
            .into());
        }

        // Offset 1: reveals; voters fetch and check the revealed updates and apply the rule.
        self.reveal(CommitKind::Update, &proposers)?;
        let fetched = self.fetch_updates(&self.revealed_updates(round, &proposers)?);
        let step = if fetched.updates.is_empty() {
            None
        } else {
            let rows: Vec<&[f32]> = fetched.updates.iter().map(|u| u.delta.as_slice()).collect();
            Some(self.task_proposer.aggregate(&rows)?)
        };

        // Offset 2: vote commits; offset 3: vote reveals, then the ledger settles the round.
        let scores = self.commit_votes(round, &voters, &fetched.updates, step.as_deref())?;
        self.reveal(CommitKind::Vote, &voters)?;
        let played = Played {
            proposers,
            voters,
            fetched,
            step,
            scores,
        };
        let settled = self.settle_pv(round, played)?;
        self.end_round(start, settled)
    }

    /// The voters score the round's aggregate `step` of `proposals` and commit their votes, in
    /// one block. Returns the score of each voter that will reveal: (actor, score), as
    /// [`PvOutcome::votes`].
    fn commit_votes(
        &mut self,
        round: u64,
        voters: &[usize],
        proposals: &[RevealedUpdate],
        step: Option<&[f32]>,
    ) -> Result<Vec<(usize, f64)>, SimError> {
        let blind = self.scenario.task.blind_validation;
        let shown: Vec<Candidate<'_>> = proposals
            .iter()
            .map(|u| Candidate {
                blob: u.blob.0,
                origin: if blind {
                    None
                } else {
                    self.miner_number(u.actor)
                },
                delta: &u.delta,
            })
            .collect();
        let view = VoteView {
            round,
            model: self.kind,
            global: &self.global,
            step,
            proposals: &shown,
            last_vote: self.last_vote,
        };
        let mut ballots = Vec::new();
        for &v in voters {
            let Some(b) = &mut self.roles[v].voter else {
                continue;
            };
            ballots.push(Ballot {
                voter: v,
                score: b.score(&view)?,
            });
        }
        let at = self.at(round);
        let mut scores = Vec::new();
        for Ballot { voter: v, score } in ballots {
            let salt = self.salt(round, v, SaltUse::Vote);
            let Some(b) = self.roles[v].voter.as_mut() else {
                continue;
            };
            b.commit_vote(&mut self.port, &mut self.actors[v].signer, at, score, salt)?;
            if b.behaviour().reveals() {
                scores.push((v, score));
            }
        }
        self.block()?;
        Ok(scores)
    }

    /// Reads the ledger's settlement of the round: who was paid what, and whether the
    /// aggregate `step` of the proposals becomes the new global model.
    fn settle_pv(&mut self, round: u64, played: Played) -> Result<Settled, SimError> {
        let Played {
            proposers,
            voters,
            fetched,
            step,
            scores,
        } = played;
        let task = self.task;
        let r = Round(round);
        let record = self
            .port
            .pv_round(task, r)?
            .ok_or(LedgerError::NoSettlement { task, round: r })?;
        if !record.void {
            self.last_vote = Some(record.vote_sum.to_f64());
        }
        let round_reward = record.reward.0.max(1) as f64;
        let mut incentive = vec![0.0; self.actors.len()];
        let mut dividends = vec![0.0; self.actors.len()];
        for (uid, paid) in &record.proposer_paid {
            if let Some(i) = self.actor_of(*uid) {
                incentive[i] = paid.0 as f64 / round_reward;
            }
        }
        for (uid, paid) in &record.voter_paid {
            if let Some(i) = self.actor_of(*uid) {
                dividends[i] = paid.0 as f64 / round_reward;
            }
        }
        // Accepted: the aggregate of every valid proposal becomes the global model.
        let applied = match step {
            Some(step) if record.accepted => Some(Applied {
                step,
                contributors: (0..fetched.updates.len()).collect(),
            }),
            _ => None,
        };
        Ok(Settled {
            fetched,
            applied,
            incentive,
            dividends,
            pv: Some(PvOutcome {
                proposers,
                voters,
                votes: scores,
                vote_sum: record.vote_sum.to_f64(),
                accepted: record.accepted,
                void: record.void,
            }),
        })
    }
}
