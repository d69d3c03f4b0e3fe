//! Transaction plumbing: how actors sign, commit, reveal and get judged by the embedded chain.
//!
//! Every actor signs with its own key and keeps its own nonce; every transaction pays
//! [`FEE`]. A commitment binds the encoded preimage (`commitment_hash` of the commit key and the
//! bytes); the reveal carries the same bytes. [`Sim::block`] submits a batch, produces one
//! block at the next simulated timestamp and records every slash it applied; the proposer's
//! watchdog ([`Sim::collect_slashes`]) turns every reveal window that closed without a reveal,
//! and every offence the ledger recorded, into evidence for the next block.
//!
//! Off the chain, [`Sim::fetch_update`] is what any validator does with a revealed update
//! preimage: decode it, fetch the blob it names and check it with [`deai_ml::blob::decode`].

use deai_store::BlobError;
use deai_types::{
    commitment_hash, Amount, Call, CommitKey, CommitKind, DecodeError, Evidence, Hash32, Round,
    SignedTx, TaskId, Tx, UpdatePreimage,
};

use super::records::SlashRecord;
use super::{Sim, BLOCK_MS};
use crate::SimError;

/// Fee paid by every transaction of the simulation.
const FEE: u128 = 1;

/// An encoded preimage an actor committed to and will reveal.
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

/// Why a revealed update was rejected off-chain. The text is what the round record keeps.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpdateRejection {
    /// The revealed bytes are not an `UpdatePreimage`.
    #[error("preimage does not decode: {0}")]
    Preimage(#[source] DecodeError),
    /// The blob it names could not be read.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// The blob is not an update of the model's size with finite values.
    #[error(transparent)]
    Format(#[from] deai_ml::BlobFormatError),
}

/// The salt of actor `actor`'s preimage of kind `kind` (0 update, 1 weights, 2 relay id,
/// 3 vote) in `round`.
pub(crate) fn salt_for(seed: u64, round: u64, actor: usize, kind: u8) -> [u8; 32] {
    let bytes = [
        b"deai/sim/salt".as_slice(),
        &seed.to_le_bytes(),
        &round.to_le_bytes(),
        &(actor as u64).to_le_bytes(),
        &[kind],
    ]
    .concat();
    *blake3::hash(&bytes).as_bytes()
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
    /// Actor `actor`'s signed transaction of `call`, with its next nonce.
    pub(crate) fn sign(&mut self, actor: usize, call: Call) -> SignedTx {
        let a = &mut self.actors[actor];
        let tx = Tx {
            chain_id: self.chain.state().chain_id().clone(),
            nonce: deai_types::Nonce(a.nonce),
            fee: Amount(FEE),
            call,
        };
        a.nonce += 1;
        a.key.sign_tx(tx)
    }

    /// The task proposer's signed transaction of `call`, with its next nonce.
    pub(crate) fn sign_proposer(&mut self, call: Call) -> SignedTx {
        let tx = Tx {
            chain_id: self.chain.state().chain_id().clone(),
            nonce: deai_types::Nonce(self.proposer.nonce),
            fee: Amount(FEE),
            call,
        };
        self.proposer.nonce += 1;
        self.proposer.key.sign_tx(tx)
    }

    /// Actor `actor`'s signed commitment to `preimage` for `kind` in `round` of `task`.
    pub(crate) fn commit_tx(
        &mut self,
        actor: usize,
        task: TaskId,
        round: Round,
        kind: CommitKind,
        preimage: &[u8],
    ) -> SignedTx {
        let key = CommitKey {
            task,
            round,
            kind,
            account: self.actors[actor].info.account,
        };
        let hash = commitment_hash(&key, preimage);
        self.sign(
            actor,
            Call::Commit {
                task,
                round,
                kind,
                hash,
            },
        )
    }

    /// Reveal transactions of `kind` in `round` for `preimages`.
    pub(crate) fn reveal_txs(
        &mut self,
        round: u64,
        kind: CommitKind,
        preimages: Vec<Preimage>,
    ) -> Vec<SignedTx> {
        let task = self.task;
        preimages
            .into_iter()
            .map(|p| {
                self.sign(
                    p.actor,
                    Call::Reveal {
                        task,
                        round: Round(round),
                        kind,
                        preimage: p.bytes,
                    },
                )
            })
            .collect()
    }

    /// Produces one block with `txs`; records the slashes it applied and returns the outcome of
    /// every transaction, in order.
    pub(crate) fn block(
        &mut self,
        txs: Vec<SignedTx>,
    ) -> Result<Vec<deai_chain::TxOutcome>, SimError> {
        for tx in txs {
            self.chain.submit(tx)?;
        }
        self.time_ms += BLOCK_MS;
        let produced = self.chain.produce_block(self.time_ms)?;
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

    /// Submits `preimages` as reveals of `kind` in one block, then collects the evidence of
    /// the reveal windows that closed with it.
    pub(crate) fn reveal(
        &mut self,
        round: u64,
        kind: CommitKind,
        preimages: Vec<Preimage>,
    ) -> Result<(), SimError> {
        let txs = self.reveal_txs(round, kind, preimages);
        self.block(txs)?;
        self.collect_slashes();
        Ok(())
    }

    /// The proposer's pending transactions: the previous round's model record, then the
    /// slash evidence collected since the last block.
    pub(crate) fn proposer_txs(&mut self) -> Vec<SignedTx> {
        let mut txs = Vec::new();
        if let Some(call) = self.pending_record.take() {
            txs.push(self.sign_proposer(call));
        }
        for evidence in std::mem::take(&mut self.pending_slashes) {
            txs.push(self.sign_proposer(Call::Slash { evidence }));
        }
        txs
    }

    /// The watchdog: every missed reveal of this task whose window has closed and every
    /// offence, of one of the actors and not slashed yet, becomes evidence for the next block.
    pub(crate) fn collect_slashes(&mut self) {
        let height = self.chain.state().height();
        let task = self.task;
        let Some(t) = self.chain.state().task(task) else {
            return;
        };
        let mut evidence = Vec::new();
        for (key, c) in self.chain.state().commitments() {
            if key.task != task
                || c.slashed
                || !matches!(c.status, deai_chain::state::CommitStatus::Pending)
            {
                continue;
            }
            let closes = t
                .spec
                .window(key.kind)
                .and_then(|w| t.round_start(key.round).map(|s| s.0 + w.reveal.end));
            if closes.is_some_and(|end| height.0 + 1 >= end)
                && self.actor_with(&key.account).is_some()
            {
                evidence.push(Evidence::MissedReveal(*key));
            }
        }
        for (id, offence) in self.chain.state().offences() {
            if offence.task == task
                && !offence.slashed
                && self.actor_with(&offence.offender).is_some()
            {
                evidence.push(Evidence::Offence(*id));
            }
        }
        for ev in evidence {
            if !self.pending_slashes.contains(&ev) {
                self.pending_slashes.push(ev);
            }
        }
    }

    /// The preimage actor `i` revealed on chain for `kind` in `round`, if any.
    pub(crate) fn revealed(&self, round: u64, kind: CommitKind, i: usize) -> Option<Preimage> {
        let key = CommitKey {
            task: self.task,
            round: Round(round),
            kind,
            account: self.actors[i].info.account,
        };
        match &self.chain.state().commitment(&key)?.status {
            deai_chain::state::CommitStatus::Revealed { preimage, .. } => Some(Preimage {
                actor: i,
                bytes: preimage.clone(),
            }),
            _ => None,
        }
    }

    /// Fetches and checks the update an update preimage points to: the preimage must decode,
    /// the blob must exist, have the model's length and hold only finite values.
    pub(crate) fn fetch_update(
        &self,
        preimage: &Preimage,
    ) -> Result<RevealedUpdate, UpdateRejection> {
        let pre: UpdatePreimage =
            deai_types::decode(&preimage.bytes).map_err(UpdateRejection::Preimage)?;
        let bytes = self.blobs.get(&pre.blob)?;
        let delta = deai_ml::blob::decode(&bytes, self.global.len())?;
        Ok(RevealedUpdate {
            actor: preimage.actor,
            blob: pre.blob,
            delta,
        })
    }
}
