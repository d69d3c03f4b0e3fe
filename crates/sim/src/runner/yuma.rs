//! One round of a Yuma task, phase by phase (the blocks are in the [`super`] docs).
//!
//! 1. **Train & commit** (offset 0): miners train on the global model and commit to their
//!    updates ([`Sim::commit_updates`]).
//! 2. **Reveal** (offset 1): miners reveal on chain and validators fetch what was revealed.
//!    Under blind validation the miners hand their preimages to the task's relay instead, and
//!    reveal on chain only after the weights are bound.
//! 3. **Evaluate & set weights** (offset 2, or 1 when blind): validators score the updates
//!    ([`Sim::commit_weights`]) as the relay shows them — under blind validation in a seeded
//!    order under ids of the relay's own, without owners — and commit their weights; offset 3
//!    carries the weight reveals, after which the ledger runs the epoch.
//! 4. **Settle** ([`Sim::settle_epoch`]): the epoch's incentive and dividends are read back,
//!    the consensus weights are remembered for the next round's validators
//!    ([`deai_roles::validator::last_consensus`]), and the task proposer aggregates the updates
//!    of the miners the epoch rewarded (incentive > 0) in canonical mode, in UID order
//!    ([`deai_roles::proposer::rewarded`]). [`Sim::end_round`] then applies and records the new
//!    model.
//!
//! The relay of a blind round is the driver's: it gets the miners' preimages off the chain,
//! fetches their updates as a validator would, and shows them in a seeded order under ids of
//! its own.

use deai_roles::proposer::rewarded;
use deai_roles::validator::last_consensus;
use deai_roles::{seeded_salt, ChainPort, SaltUse};
use deai_types::{CommitKind, Epoch, Fixed, Role, Uid};

use super::records::RoundRecord;
use super::round::{Applied, Fetched, Settled};
use super::tx::RevealedUpdate;
use super::{Measurement, Sim};
use crate::actors::{Candidate, ValidatorView};
use crate::{LedgerError, SimError};

/// One validator's verdict on the round's updates.
struct Verdict {
    /// The validator (index in actor order).
    validator: usize,
    /// One weight per shown candidate, in the order shown.
    weights: Vec<u16>,
}

/// The order in which the relay shows `n` updates: as handed over, or under blind validation
/// a permutation seeded by the run and the round.
fn relay_order(seed: u64, round: u64, n: usize, blind: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    if blind {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(
            seed ^ round.wrapping_mul(0x9e37_79b9),
        ));
    }
    order
}

/// The id under which the relay shows the update at `slot` of a blind round: linked to the
/// blob only through a salt nobody else knows.
fn relay_id(seed: u64, round: u64, slot: usize, blob: &[u8; 32]) -> [u8; 32] {
    *blake3::hash(
        &[
            b"deai/sim/relay".as_slice(),
            &seeded_salt(seed, round, slot as u64, SaltUse::RelayId),
            blob,
        ]
        .concat(),
    )
    .as_bytes()
}

impl Sim {
    /// Plays round `round` of a Yuma task (see the module docs).
    pub(crate) fn yuma_round(&mut self, round: u64) -> Result<RoundRecord, SimError> {
        let start = self.start_round(round);
        let blind = self.scenario.task.blind_validation;
        let miners = self.with_role(Role::Miner);

        // Train & commit.
        let kept = self.commit_updates(round, &miners)?;

        // Reveal, or hand the preimages to the relay and reveal later.
        let handed = if blind {
            kept
        } else {
            self.reveal(CommitKind::Update, &miners)?;
            self.revealed_updates(round, &miners)?
        };
        let fetched = self.fetch_updates(&handed);

        // Evaluate & set weights; the blind reveals follow the weight commits.
        self.commit_weights(round, &fetched.updates)?;
        if blind {
            self.reveal(CommitKind::Update, &miners)?;
        }
        let validators = self.with_role(Role::Validator);
        self.reveal(CommitKind::Weights, &validators)?;

        // Settle: the epoch ran at the end of the last block.
        let settled = self.settle_epoch(round, fetched)?;
        self.end_round(start, settled)
    }

    /// Every validator scores `updates` as the relay shows them and commits its weights, in
    /// one block.
    fn commit_weights(&mut self, round: u64, updates: &[RevealedUpdate]) -> Result<(), SimError> {
        let seed = self.scenario.seed;
        let blind = self.scenario.task.blind_validation;
        let order = relay_order(seed, round, updates.len(), blind);
        let shown: Vec<Candidate<'_>> = order
            .iter()
            .enumerate()
            .map(|(slot, &k)| {
                let u = &updates[k];
                Candidate {
                    blob: if blind {
                        relay_id(seed, round, slot, &u.blob.0)
                    } else {
                        u.blob.0
                    },
                    origin: if blind {
                        None
                    } else {
                        self.miner_number(u.actor)
                    },
                    delta: &u.delta,
                }
            })
            .collect();
        // The uid of each shown candidate, and its consensus weight in the last epoch.
        let uids: Vec<u16> = order
            .iter()
            .map(|&k| self.actors[updates[k].actor].info.uid)
            .collect();
        let last_consensus: Vec<u16> = uids
            .iter()
            .map(|uid| self.last_consensus.get(uid).copied().unwrap_or(0))
            .collect();
        let view = ValidatorView {
            round,
            model: self.kind,
            global: &self.global,
            seen: &self.seen,
            last_consensus: (!self.last_consensus.is_empty()).then_some(last_consensus.as_slice()),
        };
        let mut verdicts = Vec::new();
        for v in self.with_role(Role::Validator) {
            let Some(b) = &mut self.roles[v].validator else {
                continue;
            };
            verdicts.push(Verdict {
                validator: v,
                weights: b.score(&view, &shown)?,
            });
        }

        let at = self.at(round);
        for verdict in verdicts {
            let v = verdict.validator;
            let weights: Vec<(Uid, u16)> = uids
                .iter()
                .zip(&verdict.weights)
                .map(|(&uid, &w)| (Uid(uid), w))
                .collect();
            let salt = self.salt(round, v, SaltUse::Weights);
            if let Some(b) = self.roles[v].validator.as_mut() {
                b.commit_weights(
                    &mut self.port,
                    &mut self.actors[v].signer,
                    at,
                    weights,
                    salt,
                )?;
            }
        }
        self.block()?;
        Ok(())
    }

    /// Reads the epoch's verdict, remembers the consensus for the next round's validators and
    /// aggregates the rewarded updates (the honest miners' under
    /// [`Measurement::OracleAggregation`]).
    fn settle_epoch(&mut self, round: u64, fetched: Fetched) -> Result<Settled, SimError> {
        let task = self.task;
        let epoch = Epoch(round);
        let record = self
            .port
            .epoch_record(task, epoch)?
            .ok_or(LedgerError::NoEpochRecord { task, epoch })?;
        let fixed = |v: &[Fixed], uid: u16| v.get(usize::from(uid)).map_or(0.0, |x| x.to_f64());
        let incentive: Vec<f64> = self
            .actors
            .iter()
            .map(|a| fixed(&record.incentive, a.info.uid))
            .collect();
        let dividends: Vec<f64> = self
            .actors
            .iter()
            .map(|a| fixed(&record.dividends, a.info.uid))
            .collect();

        // The miners' consensus weights, scaled so the largest is 65535.
        let miners: Vec<Uid> = self
            .actors
            .iter()
            .filter(|a| a.info.role == Role::Miner)
            .map(|a| Uid(a.info.uid))
            .collect();
        self.last_consensus = last_consensus(&record, &miners);

        // The contributing updates, in UID order: those the epoch rewarded, or the honest
        // miners' for the oracle.
        let uid_of = |k: usize| Uid(self.actors[fetched.updates[k].actor].info.uid);
        let contributors: Vec<usize> = if self.measurement == Measurement::OracleAggregation {
            let mut honest: Vec<usize> = (0..fetched.updates.len())
                .filter(|&k| self.actors[fetched.updates[k].actor].info.honest)
                .collect();
            honest.sort_by_key(|&k| uid_of(k));
            honest
        } else {
            let uids: Vec<Uid> = (0..fetched.updates.len()).map(uid_of).collect();
            rewarded(&record, &uids)
        };
        let applied = if contributors.is_empty() {
            None
        } else {
            let rows: Vec<&[f32]> = contributors
                .iter()
                .map(|&k| fetched.updates[k].delta.as_slice())
                .collect();
            Some(Applied {
                step: self.task_proposer.aggregate(&rows)?,
                contributors,
            })
        };
        Ok(Settled {
            fetched,
            applied,
            incentive,
            dividends,
            pv: None,
        })
    }
}
