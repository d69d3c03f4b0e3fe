//! What a caller knows about a chain beyond the chain itself: display names, the entities
//! controlling accounts, and the training behind each miner's updates.
//!
//! The ledger records identities (accounts) and what an update *is*; it does not record who
//! controls an account, nor how many samples and passes produced an update. A replay without
//! knowledge ([`Knowledge::default`]) names accounts by their first 8 hex characters, counts
//! every account as its own entity and leaves out the data and compute layers. A simulator
//! knows all three for its own runs (`deai_sim::layers::knowledge`).

use std::collections::BTreeMap;

use deai_types::AccountId;
use serde::Serialize;

/// What a miner did off-chain in every round it revealed an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Training {
    /// Training samples it holds (its data).
    pub samples: u64,
    /// Passes over them per round (local epochs; 0 if it reveals something it did not train).
    pub passes: u64,
}

/// What the caller knows beyond the chain: names, owners, and off-chain training.
#[derive(Debug, Clone, Default)]
pub struct Knowledge {
    /// Display name of known accounts; others show as their first 8 hex characters.
    pub names: BTreeMap<AccountId, String>,
    /// The entity controlling an account, where known; every other account is its own entity.
    pub owners: BTreeMap<AccountId, String>,
    /// Off-chain training of miners; empty: no data or compute layers.
    pub training: BTreeMap<AccountId, Training>,
    /// Training FLOPs per sample per pass (≈ 6 × parameters: forward and backward).
    pub flops_per_sample: f64,
}

impl Knowledge {
    /// The display name of an account.
    pub fn name(&self, account: &AccountId) -> String {
        self.names
            .get(account)
            .cloned()
            .unwrap_or_else(|| account.short())
    }

    /// The entity controlling an account.
    pub fn entity(&self, account: &AccountId) -> String {
        self.owners
            .get(account)
            .cloned()
            .unwrap_or_else(|| self.name(account))
    }
}
