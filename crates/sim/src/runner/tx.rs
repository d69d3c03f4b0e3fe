//! The driver's side of the chain: blocks, reveals, the watchdog's turn, and what validators
//! read back.
//!
//! The roles of [`deai_roles`] sign and submit their own transactions through the run's
//! [`EmbeddedPort`]; the driver decides which roles act before each block and then makes the
//! block ([`Sim::block`], one simulated [`BLOCK_MS`] later), recording every slash it applied.
//! A reveal phase ([`Sim::reveal`]) has the actors reveal what they kept, in actor order, in one
//! block, after which the task proposer's watchdog looks at the windows that closed with it;
//! its evidence and the last model record go out first in the next round's first block
//! ([`Sim::submit_proposer`]).
//!
//! Off the chain, [`Sim::fetch_update`] is what any validator does with a revealed update
//! preimage ([`deai_roles::validator::fetch_update`]): decode it, get the blob it names through
//! the port and check it with [`deai_ml::blob::decode`]. The lockstep driver fetches each
//! update once per round and shows it to every validator.

use deai_roles::validator::{fetch_update, revealed_preimage};
use deai_roles::{seeded_salt, EmbeddedPort, RoundOf, SaltUse, UpdateRejection};
use deai_types::{CommitKind, Evidence, Hash32, Round};

use super::records::SlashRecord;
use super::{Sim, BLOCK_MS};
use crate::SimError;

/// An encoded preimage an actor committed to and revealed or handed over.
#[derive(Debug, Clone)]
pub(crate) struct Preimage {
    /// The actor (index in actor order).
    pub(crate) actor: usize,
    /// The canonical encoding of the preimage (`UpdatePreimage`, `WeightsPreimage`, …).
    pub(crate) bytes: Vec<u8>,
}

/// A revealed update that passed the off-chain checks.
#[derive(Debug, Clone)]
pub(crate) struct RevealedUpdate {
    /// The miner (index in actor order).
    pub(crate) actor: usize,
    /// The address of its blob: what the ledger records as a contribution.
    pub(crate) blob: Hash32,
    /// The update: finite, with the model's number of values.
    pub(crate) delta: Vec<f32>,
}

/// How a slash's evidence reads in the report.
fn evidence_name(e: &Evidence) -> String {
    match e {
        Evidence::MissedReveal(k) => format!("missed {:?} reveal in round {}", k.kind, k.round.0),
        Evidence::RevealMismatch(k) => {
            format!("{:?} reveal did not match in round {}", k.kind, k.round.0)
        }
        Evidence::Offence(id) => format!("offence #{}", id.0),
    }
}

impl Sim {
    /// The round `round` of the run's task, as the roles take it.
    pub(crate) fn at(&self, round: u64) -> RoundOf {
        RoundOf {
            task: self.task,
            round: Round(round),
        }
    }

    /// Actor `actor`'s salt for `purpose` in `round`, seeded by the run.
    pub(crate) fn salt(&self, round: u64, actor: usize, purpose: SaltUse) -> [u8; 32] {
        seeded_salt(self.scenario.seed, round, actor as u64, purpose)
    }

    /// Produces one block with every transaction submitted since the last; records the
    /// slashes it applied and returns the outcome of every transaction, in order.
    pub(crate) fn block(&mut self) -> Result<Vec<deai_chain::TxOutcome>, SimError> {
        self.time_ms += BLOCK_MS;
        let produced = self.port.produce_block(self.time_ms)?;
        let round = self.records.len() as u64;
        let mut failed = Vec::new();
        for outcome in &produced.outcomes {
            match outcome {
                Ok(receipt) => {
                    for event in &receipt.events {
                        if let deai_chain::Event::Slashed {
                            evidence,
                            offender,
                            amount,
                            ..
                        } = event
                        {
                            if let Some(actor) = self.actor_with(offender) {
                                self.slashes.push(SlashRecord {
                                    round,
                                    actor,
                                    offence: evidence_name(evidence),
                                    amount: amount.0,
                                });
                            }
                        }
                    }
                }
                Err(e) => failed.push(e.to_string()),
            }
        }
        if !failed.is_empty() {
            tracing::debug!(
                height = produced.block.header.height.0,
                ?failed,
                "transactions failed"
            );
        }
        Ok(produced.outcomes)
    }

    /// The actors `who` reveal what they kept of `kind` (those that kept nothing skip), in
    /// one block; then the watchdog looks at the reveal windows that closed with it.
    pub(crate) fn reveal(&mut self, kind: CommitKind, who: &[usize]) -> Result<(), SimError> {
        for &i in who {
            let port: &mut EmbeddedPort = &mut self.port;
            let signer = &mut self.actors[i].signer;
            let roles = &mut self.roles[i];
            match kind {
                CommitKind::Update => roles.miner.as_mut().map(|m| m.reveal(port, signer)),
                CommitKind::Weights => roles.validator.as_mut().map(|v| v.reveal(port, signer)),
                CommitKind::Vote => roles.voter.as_mut().map(|v| v.reveal(port, signer)),
                CommitKind::Verdict => None,
            }
            .transpose()?;
        }
        self.block()?;
        self.task_proposer.watch(&self.port)?;
        Ok(())
    }

    /// The task proposer submits what it holds for the next block: the previous round's model
    /// record, then the slash evidence found since the last block.
    pub(crate) fn submit_proposer(&mut self) -> Result<(), SimError> {
        self.task_proposer
            .submit_pending(&mut self.port, &mut self.proposer.signer)?;
        Ok(())
    }

    /// The preimage actor `i` revealed on chain for `kind` in `round`, if any.
    pub(crate) fn revealed(
        &self,
        round: u64,
        kind: CommitKind,
        i: usize,
    ) -> Result<Option<Preimage>, SimError> {
        let key = self.at(round).key(kind, self.actors[i].info.account);
        let bytes = revealed_preimage(&self.port, &key)?;
        Ok(bytes.map(|bytes| Preimage { actor: i, bytes }))
    }

    /// Fetches and checks the update an update preimage points to: the preimage must decode,
    /// the blob must exist, have the model's length and hold only finite values.
    pub(crate) fn fetch_update(
        &self,
        preimage: &Preimage,
    ) -> Result<RevealedUpdate, UpdateRejection> {
        let fetched = fetch_update(&self.port, &preimage.bytes, self.global.len())?;
        Ok(RevealedUpdate {
            actor: preimage.actor,
            blob: fetched.blob,
            delta: fetched.delta,
        })
    }
}
