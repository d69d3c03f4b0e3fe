//! What a run records: the actors, one [`RoundRecord`] per round, the slashes that landed, and
//! the [`RunReport`] that gathers them with the final state root.
//!
//! These are the run's output, serialized as they are into the report folder
//! (`summary.json`, `rounds.csv`, …); nothing here is read back by the round loop.

use std::path::PathBuf;

use deai_types::{AccountId, Hash32, Role};
use serde::Serialize;

use super::Measurement;
use crate::Scenario;

/// One actor as the report lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ActorInfo {
    /// `miner-3`, `validator-1`, …
    pub name: String,
    /// Miner or validator.
    pub role: Role,
    /// Behaviour (`honest`, `lazy`, `label_flipper`, …).
    pub kind: String,
    /// Whether it follows the protocol.
    pub honest: bool,
    /// Its account.
    pub account: AccountId,
    /// Its UID on the task.
    pub uid: u16,
}

/// What happened in one round.
#[derive(Debug, Clone, Serialize)]
pub struct RoundRecord {
    /// Round number.
    pub round: u64,
    /// Test accuracy of the global model after the round.
    pub accuracy: f32,
    /// Test loss of the global model after the round.
    pub loss: f32,
    /// Reward paid to each actor this round (actor order).
    pub rewards: Vec<u128>,
    /// Incentive of each actor (miners; 0 for validators) as a float for the report.
    pub incentive: Vec<f64>,
    /// Dividends of each actor (validators; 0 for miners).
    pub dividends: Vec<f64>,
    /// Miners whose updates went into the global model.
    pub contributors: Vec<usize>,
    /// Updates rejected off-chain (bad blob) with the reason: (actor, reason).
    pub rejected: Vec<(usize, String)>,
    /// Blake3 of the new global model.
    pub model_hash: Hash32,
    /// State root after the round's last block.
    pub state_root: Hash32,
    /// How a proposer/voter round went (`None` on Yuma tasks).
    pub pv: Option<PvOutcome>,
    /// Wall-clock seconds of the round (not part of any hash).
    pub seconds: f64,
}

/// How a proposer/voter round went.
#[derive(Debug, Clone, Serialize)]
pub struct PvOutcome {
    /// Actors drawn as proposers.
    pub proposers: Vec<usize>,
    /// Actors drawn as voters.
    pub voters: Vec<usize>,
    /// Each voter's score (actor, accuracy change), for those that revealed.
    pub votes: Vec<(usize, f64)>,
    /// The stake-weighted vote the ledger computed.
    pub vote_sum: f64,
    /// Whether the ledger accepted the round's model.
    pub accepted: bool,
    /// No proposer or no voter revealed: nothing was paid.
    pub void: bool,
}

/// A slash that landed.
#[derive(Debug, Clone, Serialize)]
pub struct SlashRecord {
    /// Round in which the evidence was submitted.
    pub round: u64,
    /// The offender (actor index).
    pub actor: usize,
    /// What it did.
    pub offence: String,
    /// Stake it lost.
    pub amount: u128,
}

/// The outcome of a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The scenario that ran.
    pub scenario: Scenario,
    /// The actors, miners first.
    pub actors: Vec<ActorInfo>,
    /// Per-round records.
    pub rounds: Vec<RoundRecord>,
    /// Slashes applied.
    pub slashes: Vec<SlashRecord>,
    /// Final state root.
    pub state_root: Hash32,
    /// Chain height at the end.
    pub height: u64,
    /// Folder of the chain database the run left (replayed by `layers`).
    pub chain_dir: PathBuf,
    /// How the run was measured ([`Measurement::Protocol`] for a run of the protocol).
    pub measurement: Measurement,
}

impl RunReport {
    /// Total reward of each actor over the run.
    pub fn total_rewards(&self) -> Vec<u128> {
        let mut t = vec![0u128; self.actors.len()];
        for r in &self.rounds {
            for (a, &x) in t.iter_mut().zip(&r.rewards) {
                *a = a.saturating_add(x);
            }
        }
        t
    }

    /// Share of all miner rewards earned by honest miners (1 when miners earned nothing).
    pub fn honest_miner_share(&self) -> f64 {
        let totals = self.total_rewards();
        let (mut honest, mut all) = (0u128, 0u128);
        for (a, &t) in self.actors.iter().zip(&totals) {
            if a.role == Role::Miner {
                all += t;
                if a.honest {
                    honest += t;
                }
            }
        }
        if all == 0 {
            1.0
        } else {
            honest as f64 / all as f64
        }
    }

    /// Test accuracy after the last round.
    pub fn final_accuracy(&self) -> f32 {
        self.rounds.last().map_or(0.0, |r| r.accuracy)
    }
}
