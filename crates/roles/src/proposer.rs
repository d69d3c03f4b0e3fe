//! The task proposer: propose the task, aggregate each round, record the model, watch for
//! missed reveals and offences.
//!
//! 1. **Propose** ([`TaskProposer::put_model`], [`TaskProposer::propose`]): put the initial
//!    model's blob and submit `ProposeTask` with its hash; once a block holds the proposal, its
//!    receipt names the task ([`TaskProposer::learn_task`]).
//! 2. **Aggregate** ([`TaskProposer::aggregate`]): the task's rule, in canonical mode, over
//!    the contributing updates in the order given — on a Yuma task the updates of the miners
//!    the epoch rewarded, in UID order ([`rewarded`]); on a proposer/voter task every valid
//!    proposal. The step is applied to the global model in fixed order ([`apply_step`]).
//! 3. **Record** ([`TaskProposer::record_model`]): put the new model's blob and stage a
//!    `RecordModel` with its hash ([`model_hash`]) and the contributing updates in aggregation
//!    order, so anyone can re-derive it from the blobs; it goes out with the next
//!    [`TaskProposer::submit_pending`].
//! 4. **Watch** ([`TaskProposer::watch`]): every open commitment of the task whose reveal
//!    window has closed by the next block is a missed reveal, and every offence the ledger
//!    recorded and nobody slashed is an offence; each becomes `Slash` evidence for the next
//!    [`TaskProposer::submit_pending`], which sends the model record first, then the evidence
//!    in the order found (commit-key order, then offence order).

use deai_aggregation::Aggregator;
use deai_chain::state::EpochRecord;
use deai_chain::Event;
use deai_types::{Call, Evidence, Hash32, Round, TaskId, TaskSpec, Uid};

use crate::port::{ChainPort, TxState};
use crate::signer::Signer;
use crate::RoleError;

/// Applies `step` to `global` in fixed order: the canonical model update.
pub fn apply_step(global: &[f32], step: &[f32]) -> Vec<f32> {
    global.iter().zip(step).map(|(g, s)| g + s).collect()
}

/// Hash of a model as recorded on the ledger: the content hash of its blob
/// ([`deai_ml::blob::hash`]), which is also its address in the blob store.
pub fn model_hash(params: &[f32]) -> Hash32 {
    Hash32(deai_ml::blob::hash(params))
}

/// The positions in `uids` (the miners of the fetched updates) whose incentive in the epoch
/// `record` is positive, in UID order: the updates a Yuma round aggregates.
pub fn rewarded(record: &EpochRecord, uids: &[Uid]) -> Vec<usize> {
    let mut picked: Vec<usize> = (0..uids.len())
        .filter(|&k| {
            record
                .incentive
                .get(usize::from(uids[k].0))
                .map_or(0.0, |x| x.to_f64())
                > 0.0
        })
        .collect();
    picked.sort_by_key(|&k| uids[k]);
    picked
}

/// The task proposer (see the module docs).
pub struct TaskProposer {
    /// The task's rule, in canonical mode.
    aggregator: Box<dyn Aggregator>,
    task: Option<TaskId>,
    record: Option<Call>,
    evidence: Vec<Evidence>,
}

impl std::fmt::Debug for TaskProposer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskProposer")
            .field("aggregator", &self.aggregator.name())
            .field("task", &self.task)
            .field("record", &self.record)
            .field("evidence", &self.evidence)
            .finish()
    }
}

impl TaskProposer {
    /// A proposer aggregating with `aggregator`, which must support canonical mode: its
    /// result is hashed onto the ledger.
    pub fn new(aggregator: Box<dyn Aggregator>) -> Self {
        Self {
            aggregator,
            task: None,
            record: None,
            evidence: Vec::new(),
        }
    }

    /// A proposer of the existing task `task` (one that resumes, or a watchdog).
    pub fn of_task(aggregator: Box<dyn Aggregator>, task: TaskId) -> Self {
        Self {
            task: Some(task),
            ..Self::new(aggregator)
        }
    }

    /// The task, once known.
    pub fn task(&self) -> Option<TaskId> {
        self.task
    }

    /// Puts a model's blob; returns its address, which is its [`model_hash`].
    pub fn put_model(&self, port: &mut dyn ChainPort, params: &[f32]) -> Result<Hash32, RoleError> {
        Ok(port.put_blob(&deai_ml::blob::encode(params))?)
    }

    /// Submits the proposal of `spec`; returns its transaction.
    pub fn propose(
        &mut self,
        port: &mut dyn ChainPort,
        signer: &mut Signer,
        spec: TaskSpec,
    ) -> Result<Hash32, RoleError> {
        Ok(signer.submit(port, Call::ProposeTask(spec))?)
    }

    /// Reads the task id from the receipt of the proposal `tx`, once a block holds it.
    pub fn learn_task(&mut self, port: &dyn ChainPort, tx: &Hash32) -> Result<TaskId, RoleError> {
        let receipt = match port.tx_state(tx)? {
            TxState::Executed {
                outcome: Ok(receipt),
                ..
            } => receipt,
            TxState::Executed {
                outcome: Err(source),
                ..
            } => return Err(RoleError::ProposalRejected { source }),
            _ => return Err(RoleError::NoTask { tx: *tx }),
        };
        let task = receipt
            .events
            .iter()
            .find_map(|e| match e {
                Event::TaskProposed { task, .. } => Some(*task),
                _ => None,
            })
            .ok_or(RoleError::NoTask { tx: *tx })?;
        self.task = Some(task);
        Ok(task)
    }

    /// The task's rule in canonical mode over `rows`, in the order given.
    pub fn aggregate(&self, rows: &[&[f32]]) -> Result<Vec<f32>, RoleError> {
        Ok(self.aggregator.aggregate_canonical(rows)?)
    }

    /// Puts the global model of `round` and stages its `RecordModel` with `contributors`
    /// (UID and update blob, in aggregation order) for the next
    /// [`TaskProposer::submit_pending`]. Returns the model's hash. Does nothing but return the
    /// hash before the task is known.
    pub fn record_model(
        &mut self,
        port: &mut dyn ChainPort,
        round: Round,
        model: &[f32],
        contributors: Vec<(Uid, Hash32)>,
    ) -> Result<Hash32, RoleError> {
        let hash = model_hash(model);
        self.put_model(port, model)?;
        if let Some(task) = self.task {
            self.record = Some(Call::RecordModel {
                task,
                round,
                model: hash,
                contributors,
            });
        }
        Ok(hash)
    }

    /// The watchdog (see the module docs): adds the evidence found now to what waits for the
    /// next [`TaskProposer::submit_pending`], each piece once.
    pub fn watch(&mut self, port: &dyn ChainPort) -> Result<(), RoleError> {
        let Some(id) = self.task else {
            return Ok(());
        };
        let Some(task) = port.task(id)? else {
            return Ok(());
        };
        let next = port.head()?.height.0.saturating_add(1);
        let mut found = Vec::new();
        for open in port.open_commitments(id)? {
            let key = open.key;
            let closes = task.spec.window(key.kind).and_then(|w| {
                task.round_start(key.round)
                    .map(|s| s.0.saturating_add(w.reveal.end))
            });
            if closes.is_some_and(|end| next >= end) {
                found.push(Evidence::MissedReveal(key));
            }
        }
        found.extend(
            port.open_offences(id)?
                .into_iter()
                .map(|open| Evidence::Offence(open.id)),
        );
        for evidence in found {
            if !self.evidence.contains(&evidence) {
                self.evidence.push(evidence);
            }
        }
        Ok(())
    }

    /// The evidence waiting for the next [`TaskProposer::submit_pending`].
    pub fn evidence(&self) -> &[Evidence] {
        &self.evidence
    }

    /// Submits the staged model record, then every piece of evidence; returns the
    /// transactions in that order.
    pub fn submit_pending(
        &mut self,
        port: &mut dyn ChainPort,
        signer: &mut Signer,
    ) -> Result<Vec<Hash32>, RoleError> {
        let mut txs = Vec::new();
        if let Some(call) = self.record.take() {
            txs.push(signer.submit(port, call)?);
        }
        for evidence in std::mem::take(&mut self.evidence) {
            txs.push(signer.submit(port, Call::Slash { evidence })?);
        }
        Ok(txs)
    }
}
