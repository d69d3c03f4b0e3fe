//! The verifier's check: re-derive every recorded global model from the update blobs, bit for
//! bit.
//!
//! For each task the ledger holds the initial model's blob hash (`TaskSpec::model`) and, per
//! round, the hash of the new global model with the list of contributing update blobs. Anyone
//! with the blobs re-derives the chain of models: `wᵣ₊₁ = wᵣ + rule(updates)` with the task's
//! rule in canonical mode (fixed order, scalar, no CPU-feature dispatch, no thread-count
//! dependence), and compares each hash with the recorded one.

use deai_chain::State;
use deai_store::BlobStore;
use deai_types::{Round, TaskId};

use crate::proposer::{apply_step, model_hash};

/// What model verification found for one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskModels {
    /// The task.
    pub task: u64,
    /// Rounds whose recorded model was re-derived and matched.
    pub verified: u64,
    /// The first problem, if any: (round, description).
    pub problem: Option<(u64, String)>,
}

/// Re-derives the recorded models of every task that has any.
pub fn verify_models(state: &State, blobs: &BlobStore) -> Vec<TaskModels> {
    state
        .tasks()
        .filter(|(id, _)| state.model_record(**id, Round(0)).is_some())
        .map(|(id, task)| verify_task(state, blobs, *id, &task.spec.model, &task.spec.aggregation))
        .collect()
}

fn verify_task(
    state: &State,
    blobs: &BlobStore,
    task: TaskId,
    initial: &deai_types::Hash32,
    rule: &str,
) -> TaskModels {
    let mut out = TaskModels {
        task: task.0,
        verified: 0,
        problem: None,
    };
    let result = (|| -> Result<(), (u64, String)> {
        let bytes = blobs
            .get(initial)
            .map_err(|e| (0, format!("initial model blob: {e}")))?;
        let mut global = deai_ml::blob::decode_any(&bytes)
            .map_err(|e| (0, format!("initial model blob: {e}")))?;
        let agg = deai_aggregation::from_spec(rule, &serde_json::json!({}))
            .map_err(|e| (0, e.to_string()))?;
        let mut round = 0u64;
        while let Some(record) = state.model_record(task, Round(round)) {
            let mut rows = Vec::with_capacity(record.contributors.len());
            for (uid, blob) in &record.contributors {
                let b = blobs
                    .get(blob)
                    .map_err(|e| (round, format!("update of uid {}: {e}", uid.0)))?;
                rows.push(
                    deai_ml::blob::decode(&b, global.len())
                        .map_err(|e| (round, format!("update of uid {}: {e}", uid.0)))?,
                );
            }
            if !rows.is_empty() {
                let refs: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
                let step = agg
                    .aggregate_canonical(&refs)
                    .map_err(|e| (round, e.to_string()))?;
                global = apply_step(&global, &step);
            }
            let got = model_hash(&global);
            if got != record.model {
                return Err((
                    round,
                    format!(
                        "re-derived model {got} but the ledger recorded {}",
                        record.model
                    ),
                ));
            }
            out.verified += 1;
            round += 1;
        }
        Ok(())
    })();
    out.problem = result.err();
    out
}
