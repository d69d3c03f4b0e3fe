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
//! # Who plays what
//! Every actor has a proposer and a voter behaviour that follows from its kind: an honest miner
//! trains on its shard minus [`crate::runner::PV_TEST_SHARE`] of it and votes on that held-out
//! part; a label flipper trains and votes on flipped labels; free-riders and overfitters vote
//! without evaluating (repeating the last vote); an honest or colluding validator trains on its
//! evaluation set and votes on it (the colluder approves any round its partner proposes in); a
//! lazy validator proposes a copy of the last step and repeats the last vote; silent actors
//! commit and never reveal.

use std::time::Instant;

use deai_types::{Call, CommitKind, Fixed, Hash32, Round, Uid, VotePreimage};

use crate::actors::{Candidate, VoteView};
use crate::runner::{apply_step, f32_bytes, model_hash, PvOutcome, RoundRecord};
use crate::{Sim, SimError};

impl Sim {
    /// The actor holding `uid` on the task.
    fn actor_of(&self, uid: Uid) -> Option<usize> {
        self.actors.iter().position(|a| a.info.uid == uid.0)
    }

    /// Plays round `round` of a proposer/voter task (see the module docs).
    pub(crate) fn pv_round(&mut self, round: u64) -> Result<RoundRecord, SimError> {
        let started = Instant::now();
        let seed = self.scenario.seed;
        let task = self.task;
        let r = Round(round);
        let balances_before = self.account_values();

        // The draw the ledger will make at the start of the next block.
        let parent = self.chain.head().hash();
        let state = self.chain.state();
        let min_stake = state
            .task(task)
            .map(|t| t.spec.min_stake)
            .unwrap_or_default();
        let eligible: Vec<Uid> = state
            .registrations(task)
            .filter(|(_, reg)| state.hotkey_stake(&reg.account) >= min_stake)
            .map(|(u, _)| u)
            .collect();
        let roles = deai_chain::draw_roles(
            deai_chain::draw_seed(parent, task, r),
            &eligible,
            state.params().pv_proposers,
        );
        let to_actors = |uids: &[Uid]| -> Vec<usize> {
            uids.iter().filter_map(|u| self.actor_of(*u)).collect()
        };
        let proposers = to_actors(&roles.proposers);
        let voters = to_actors(&roles.voters);

        // Offset 0: proposers train and commit.
        let (commits, reveals) = self.train_and_commit(round, &proposers)?;
        let mut txs = self.proposer_txs();
        txs.extend(commits);
        self.block(txs)?;
        if self.chain.state().pv_roles(task, r) != Some(&roles) {
            return Err(SimError::Chain(format!(
                "round {round}: the ledger drew other roles than {roles:?}"
            )));
        }

        // Offset 1: reveals; voters fetch and check the revealed updates.
        let txs = self.reveal_txs(round, CommitKind::Update, reveals);
        self.block(txs)?;
        self.collect_slashes();
        let mut rejected = Vec::new();
        let mut proposals: Vec<(usize, [u8; 32], Vec<f32>)> = Vec::new();
        for &i in &proposers {
            let Some(preimage) = self.revealed(round, CommitKind::Update, i) else {
                continue;
            };
            match self.fetch_update(&preimage) {
                Ok((blob, delta)) => proposals.push((i, blob, delta)),
                Err(reason) => rejected.push((i, reason)),
            }
        }
        let step = if proposals.is_empty() {
            None
        } else {
            let rows: Vec<&[f32]> = proposals.iter().map(|(_, _, d)| d.as_slice()).collect();
            Some(self.aggregator.aggregate_canonical(&rows)?)
        };

        // Voters score the round; offset 2: vote commits.
        let blind = self.scenario.task.blind_validation;
        let shown: Vec<Candidate<'_>> = proposals
            .iter()
            .map(|(i, blob, delta)| Candidate {
                blob: *blob,
                origin: if blind { None } else { self.miner_number(*i) },
                delta,
            })
            .collect();
        let view = VoteView {
            round,
            model: self.kind,
            global: &self.global,
            step: step.as_deref(),
            proposals: &shown,
            last_vote: self.last_vote,
        };
        let mut scores = Vec::new();
        for &v in &voters {
            let Some(b) = &mut self.behaviours[v].voter else {
                continue;
            };
            let score = b.score(&view)?;
            scores.push((v, score, b.reveals()));
        }
        let mut commit_txs = Vec::new();
        let mut vote_reveals = Vec::new();
        let mut votes = Vec::new();
        for (v, score, reveals_it) in scores {
            let pre = VotePreimage {
                score: Fixed::saturating_from_f64(score),
                salt: crate::runner::salt_for(seed, round, v, 3),
            };
            let bytes = deai_types::encode(&pre);
            commit_txs.push(self.commit_tx(v, task, r, CommitKind::Vote, &bytes));
            if reveals_it {
                vote_reveals.push((v, bytes));
                votes.push((v, score));
            }
        }
        self.block(commit_txs)?;
        // Offset 3: vote reveals, then the ledger settles the round.
        let txs = self.reveal_txs(round, CommitKind::Vote, vote_reveals);
        self.block(txs)?;
        self.collect_slashes();

        let record = self
            .chain
            .state()
            .pv_round(task, r)
            .cloned()
            .ok_or_else(|| {
                SimError::Chain(format!("no settlement of task {} round {round}", task.0))
            })?;
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

        // Accepted: the aggregate becomes the global model.
        let contributors: Vec<usize> = if record.accepted && step.is_some() {
            proposals.iter().map(|(i, _, _)| *i).collect()
        } else {
            Vec::new()
        };
        let previous: Vec<Vec<f32>> = proposals.iter().map(|(_, _, d)| d.clone()).collect();
        match (record.accepted, step) {
            (true, Some(step)) => {
                self.global = apply_step(&self.global, &step);
                self.last_step = Some(step);
            }
            _ => self.last_step = None,
        }
        self.seen = previous;
        if let Some(s) = &self.last_step {
            self.seen.push(s.clone());
        }
        let hash = model_hash(&self.global);
        self.blobs.put(&f32_bytes(&self.global))?;
        self.pending_record = Some(Call::RecordModel {
            task,
            round: r,
            model: hash,
            contributors: if contributors.is_empty() {
                Vec::new()
            } else {
                proposals
                    .iter()
                    .map(|(i, b, _)| (Uid(self.actors[*i].info.uid), Hash32(*b)))
                    .collect()
            },
        });

        let eval = deai_ml::evaluate(self.kind, &self.global, &self.data.test)?;
        let rewards = self.gains_since(&balances_before);
        Ok(RoundRecord {
            round,
            accuracy: eval.accuracy,
            loss: eval.loss,
            rewards,
            incentive,
            dividends,
            contributors,
            rejected,
            model_hash: hash,
            state_root: self.chain.state().root(),
            seconds: started.elapsed().as_secs_f64(),
            pv: Some(PvOutcome {
                proposers,
                voters,
                votes,
                vote_sum: record.vote_sum.to_f64(),
                accepted: record.accepted,
                void: record.void,
            }),
        })
    }
}
