//! How voters of a proposer/voter round score the round's aggregate: on their own test
//! split, by repeating the last vote, in collusion, or not at all.

use deai_ml::{Dataset, ModelKind};

use super::validator::Candidate;
use crate::RoleError;

/// What every voter of a proposer/voter round sees.
#[derive(Debug, Clone, Copy)]
pub struct VoteView<'a> {
    /// Round number.
    pub round: u64,
    /// Model kind.
    pub model: ModelKind,
    /// The global model before the round.
    pub global: &'a [f32],
    /// The task's rule applied to the proposers' valid updates, `None` if none was valid.
    pub step: Option<&'a [f32]>,
    /// The proposers' valid updates.
    pub proposals: &'a [Candidate<'a>],
    /// The stake-weighted vote of the previous settled round, if any (public on the ledger).
    pub last_vote: Option<f64>,
}

/// A voter of a proposer/voter round: turns the round's aggregate into a signed score.
pub trait Voter: Send {
    /// Short name of the behaviour, for reports.
    fn kind(&self) -> &'static str;
    /// The score it commits to: the accuracy change the round's model brings (negative = the
    /// round hurt).
    fn score(&mut self, view: &VoteView<'_>) -> Result<f64, RoleError>;
    /// Whether it reveals the vote it committed.
    fn reveals(&self) -> bool {
        true
    }
    /// An off-chain message: miner number `miner` says its update this round is `blob`.
    fn hear(&mut self, _miner: usize, _blob: [u8; 32]) {}
}

/// The score of an honest voter: accuracy of `global + step` minus accuracy of `global` on
/// `eval`; −1 when no proposal was usable.
pub fn accuracy_change(view: &VoteView<'_>, eval: &Dataset) -> Result<f64, RoleError> {
    let Some(step) = view.step else {
        return Ok(-1.0);
    };
    let before = deai_ml::evaluate(view.model, view.global, eval)?.accuracy;
    let trial: Vec<f32> = view.global.iter().zip(step).map(|(g, s)| g + s).collect();
    let after = deai_ml::evaluate(view.model, &trial, eval)?.accuracy;
    Ok(f64::from(after) - f64::from(before))
}

/// Measures the accuracy change on its own test split. (A label flipper votes with this type
/// too, on its flipped split: it is honest about what it believes.)
pub struct HonestVoter {
    eval: Dataset,
}

impl HonestVoter {
    /// A voter with its own test split.
    pub fn new(eval: Dataset) -> Self {
        Self { eval }
    }
}

impl Voter for HonestVoter {
    fn kind(&self) -> &'static str {
        "honest"
    }
    fn score(&mut self, view: &VoteView<'_>) -> Result<f64, RoleError> {
        accuracy_change(view, &self.eval)
    }
}

/// Evaluates nothing: repeats the previous round's vote (a small approval in the first round).
pub struct LazyVoter;

/// What a lazy voter says when there is nothing to copy yet.
pub const LAZY_FIRST_VOTE: f64 = 0.01;

impl Voter for LazyVoter {
    fn kind(&self) -> &'static str {
        "lazy"
    }
    fn score(&mut self, view: &VoteView<'_>) -> Result<f64, RoleError> {
        Ok(view.last_vote.unwrap_or(LAZY_FIRST_VOTE))
    }
}

/// Votes honestly, except that it approves with the maximum score any round in which it finds
/// its partner among the proposers (by origin, or by the blob hash the partner tells it).
pub struct ColludingVoter {
    eval: Dataset,
    partner: usize,
    partner_blob: Option<[u8; 32]>,
}

impl ColludingVoter {
    /// A voter colluding with miner number `partner`, with its own test split.
    pub fn new(eval: Dataset, partner: usize) -> Self {
        Self {
            eval,
            partner,
            partner_blob: None,
        }
    }
}

impl Voter for ColludingVoter {
    fn kind(&self) -> &'static str {
        "colluding"
    }
    fn hear(&mut self, miner: usize, blob: [u8; 32]) {
        if miner == self.partner {
            self.partner_blob = Some(blob);
        }
    }
    fn score(&mut self, view: &VoteView<'_>) -> Result<f64, RoleError> {
        let found = view
            .proposals
            .iter()
            .any(|c| c.origin == Some(self.partner) || Some(c.blob) == self.partner_blob);
        if found {
            Ok(1.0)
        } else {
            accuracy_change(view, &self.eval)
        }
    }
}

/// Commits a vote and never reveals it.
pub struct SilentVoter;

impl Voter for SilentVoter {
    fn kind(&self) -> &'static str {
        "silent"
    }
    fn score(&mut self, _view: &VoteView<'_>) -> Result<f64, RoleError> {
        Ok(0.0)
    }
    fn reveals(&self) -> bool {
        false
    }
}
