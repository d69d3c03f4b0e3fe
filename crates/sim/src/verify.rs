//! Re-deriving every recorded global model from the update blobs, bit for bit: the check is
//! [`deai_roles::verify`]'s; this module turns its first mismatch into a [`SimError`].

use deai_chain::State;
pub use deai_roles::verify::{verify_models, TaskModels};
use deai_store::BlobStore;

use crate::{LedgerError, SimError};

/// Convenience for callers that want an error on the first mismatch.
pub fn check_models(state: &State, blobs: &BlobStore) -> Result<Vec<TaskModels>, SimError> {
    let all = verify_models(state, blobs);
    if let Some(t) = all.iter().find(|t| t.problem.is_some()) {
        let (round, why) = t.problem.clone().unwrap_or_default();
        return Err(LedgerError::ModelNotReDerived {
            task: t.task,
            round,
            problem: why,
        }
        .into());
    }
    Ok(all)
}
