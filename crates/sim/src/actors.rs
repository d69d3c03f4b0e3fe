//! Off-chain actors: miners that train (or pretend to), validators that score (or pretend to).
//!
//! Each behaviour is its own type behind the [`Miner`] or [`Validator`] trait; honest code never
//! asks "am I malicious?". The runner gives every actor the same view of the round and turns
//! what it returns into signed ledger transactions.
//!
//! # Honest scoring
//! An honest validator holds a private evaluation set. It scores each revealed update `Δⱼ` of
//! the round (with blind validation it does not know whose it is) by its marginal contribution
//! to the round's average: `L(w + mean₋ⱼ) − L(w + mean)` on its set, where `mean` is the mean
//! of the fresh updates and `mean₋ⱼ` the mean without `Δⱼ` (leave-one-out). An update that makes
//! the average better scores positive; noise and poisoned updates score 0 or less. Updates that
//! repeat an update already seen (a previous round's consensus step, or a previous round's
//! revealed update, by cosine similarity above [`COPY_SIMILARITY`]) score 0 and are left out of
//! the mean: they are stale copies. Scores are clamped at 0, gains under [`NOISE_FLOOR`] of the
//! best one are zeroed (indistinguishable from evaluation noise), scaled so the best update gets
//! `u16::MAX`, and quantized.
//!
//! Leave-one-out on a mean has one blind spot: removing `Δⱼ` also changes the mean's divisor
//! from `m` to `m − 1`. When the honest updates together overshoot (non-IID shards, several
//! local epochs), an update that only *shrinks* the step — Gaussian noise, orthogonal to
//! everything — scores positive by diluting the others. So an update also has to show an effect
//! of its own, on at least one of two tests (in the spirit of Zeno's descent score and RONI,
//! "reject on negative influence"); it scores 0 when it fails both:
//! - **alone**: `L(w) − L(w + Δⱼ/m)`, the update at its share of the mean applied alone, is
//!   above [`NOISE_FLOOR`] of the best such gain of the round;
//! - **at a fixed step**: `L(w + (S − Δⱼ)/m) − L(w + S/m) > 0` (`S` the sum of the fresh
//!   updates): with the divisor kept, the mean is better with `Δⱼ` than with nothing in its
//!   place.
//!
//! Noise fails both, since in expectation it moves the loss only through the divisor. An honest
//! update on a skewed shard may fail one test (it hurts alone, or the mean overshoots without
//! it) and loses its score only when it fails both, which happens mostly on strongly skewed
//! shards (`docs/perf/demo.md` measures the cost).

use deai_ml::{Dataset, LocalCfg, ModelKind};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::SimError;

/// Cosine similarity above which an update counts as a copy of an earlier one.
pub const COPY_SIMILARITY: f64 = 0.99;
/// Share of the best gain below which an honest validator scores an update 0.
pub const NOISE_FLOOR: f64 = 0.05;

/// What every miner sees at the start of a round.
#[derive(Debug, Clone, Copy)]
pub struct MinerView<'a> {
    /// Round number.
    pub round: u64,
    /// The global model.
    pub global: &'a [f32],
    /// The consensus step of the previous round (`global − previous global`), if any.
    pub last_step: Option<&'a [f32]>,
    /// Local training settings.
    pub cfg: &'a LocalCfg,
    /// Seed of this miner in this round.
    pub seed: u64,
}

/// A miner: produces the update it will commit to and reveal.
pub trait Miner: Send {
    /// Short name of the behaviour, for reports.
    fn kind(&self) -> &'static str;
    /// Whether this actor follows the protocol.
    fn honest(&self) -> bool;
    /// The update to commit to this round.
    fn update(&mut self, view: &MinerView<'_>) -> Result<Vec<f32>, SimError>;
    /// Whether it reveals what it committed (a silent miner does not).
    fn reveals(&self) -> bool {
        true
    }
    /// Training samples it processed this round (its compute contribution).
    fn samples(&self) -> usize;
}

fn train_delta(
    view: &MinerView<'_>,
    data: &Dataset,
    indices: &[usize],
) -> Result<Vec<f32>, SimError> {
    let trained = deai_ml::train_local(view.global, data, indices, view.cfg, view.seed)?;
    Ok(trained
        .params
        .iter()
        .zip(view.global)
        .map(|(n, o)| n - o)
        .collect())
}

/// Trains on its shard and reveals the result.
pub struct HonestMiner {
    data: std::sync::Arc<Dataset>,
    shard: Vec<usize>,
}

impl HonestMiner {
    /// A miner training on `shard` of `data`.
    pub fn new(data: std::sync::Arc<Dataset>, shard: Vec<usize>) -> Self {
        Self { data, shard }
    }
}

impl Miner for HonestMiner {
    fn kind(&self) -> &'static str {
        "honest"
    }
    fn honest(&self) -> bool {
        true
    }
    fn update(&mut self, view: &MinerView<'_>) -> Result<Vec<f32>, SimError> {
        train_delta(view, &self.data, &self.shard)
    }
    fn samples(&self) -> usize {
        self.shard.len()
    }
}

/// Trains on its shard with every label `l` replaced by `9 − l` (data poisoning).
pub struct LabelFlipper {
    flipped: Dataset,
    all: Vec<usize>,
}

impl LabelFlipper {
    /// A label-flipping miner over `shard` of `data`.
    pub fn new(data: &Dataset, shard: &[usize]) -> Result<Self, SimError> {
        let mut flipped = data.subset(shard).map_err(deai_ml::MlError::from)?;
        for l in flipped.labels_mut() {
            *l = 9u8.saturating_sub(*l);
        }
        let all = (0..flipped.len()).collect();
        Ok(Self { flipped, all })
    }
}

impl Miner for LabelFlipper {
    fn kind(&self) -> &'static str {
        "label_flipper"
    }
    fn honest(&self) -> bool {
        false
    }
    fn update(&mut self, view: &MinerView<'_>) -> Result<Vec<f32>, SimError> {
        train_delta(view, &self.flipped, &self.all)
    }
    fn samples(&self) -> usize {
        self.all.len()
    }
}

/// A lookup attacker: trains on the evaluation sets it knows (true labels, repeated until they
/// weigh as much as its shard) together with its shard with every label `l` replaced by
/// `9 − l`. Its update fits the known sets and poisons the rest of the distribution, so only a
/// score on a set it has not seen exposes it.
pub struct Overfitter {
    mixed: Dataset,
    all: Vec<usize>,
    shard: usize,
}

impl Overfitter {
    /// An attacker holding `shard` of `data` and knowing the sets `known`.
    pub fn new(data: &Dataset, shard: &[usize], known: &[Dataset]) -> Result<Self, SimError> {
        let flipped = data.subset(shard).map_err(deai_ml::MlError::from)?;
        let known_len: usize = known.iter().map(Dataset::len).sum();
        let repeats = if known_len == 0 {
            0
        } else {
            shard.len().div_ceil(known_len).max(1)
        };
        let mut images = Vec::new();
        let mut labels = Vec::new();
        for _ in 0..repeats {
            for k in known {
                images.extend_from_slice(k.images());
                labels.extend_from_slice(k.labels());
            }
        }
        images.extend_from_slice(flipped.images());
        labels.extend(flipped.labels().iter().map(|l| 9u8.saturating_sub(*l)));
        let mixed = Dataset::new(images, labels, data.rows(), data.cols())
            .map_err(deai_ml::MlError::from)?;
        let all = (0..mixed.len()).collect();
        Ok(Self {
            mixed,
            all,
            shard: shard.len(),
        })
    }
}

impl Miner for Overfitter {
    fn kind(&self) -> &'static str {
        "overfitter"
    }
    fn honest(&self) -> bool {
        false
    }
    fn update(&mut self, view: &MinerView<'_>) -> Result<Vec<f32>, SimError> {
        train_delta(view, &self.mixed, &self.all)
    }
    fn samples(&self) -> usize {
        self.shard
    }
}

/// Reveals Gaussian noise: no training at all.
pub struct NoiseFreeRider {
    std: f32,
}

impl NoiseFreeRider {
    /// Noise with standard deviation `std` per coordinate.
    pub fn new(std: f32) -> Self {
        Self { std }
    }
}

impl Miner for NoiseFreeRider {
    fn kind(&self) -> &'static str {
        "free_rider_noise"
    }
    fn honest(&self) -> bool {
        false
    }
    fn update(&mut self, view: &MinerView<'_>) -> Result<Vec<f32>, SimError> {
        let mut rng = ChaCha8Rng::seed_from_u64(view.seed);
        let normal = Normal::new(0.0f32, self.std)
            .map_err(|e| SimError::Actor(format!("noise free-rider: {e}")))?;
        Ok((0..view.global.len())
            .map(|_| normal.sample(&mut rng))
            .collect())
    }
    fn samples(&self) -> usize {
        0
    }
}

/// Reveals the previous round's consensus step: a plausible update that cost nothing. (It cannot
/// copy this round's updates: they are committed before anyone reveals.)
pub struct CopyFreeRider;

impl Miner for CopyFreeRider {
    fn kind(&self) -> &'static str {
        "free_rider_copy"
    }
    fn honest(&self) -> bool {
        false
    }
    fn update(&mut self, view: &MinerView<'_>) -> Result<Vec<f32>, SimError> {
        Ok(match view.last_step {
            Some(step) => step.to_vec(),
            None => vec![0.0; view.global.len()],
        })
    }
    fn samples(&self) -> usize {
        0
    }
}

/// Commits and never reveals: the ledger records a missed reveal.
pub struct SilentMiner;

impl Miner for SilentMiner {
    fn kind(&self) -> &'static str {
        "silent"
    }
    fn honest(&self) -> bool {
        false
    }
    fn update(&mut self, view: &MinerView<'_>) -> Result<Vec<f32>, SimError> {
        Ok(vec![0.0; view.global.len()])
    }
    fn reveals(&self) -> bool {
        false
    }
    fn samples(&self) -> usize {
        0
    }
}

/// One revealed update as a validator sees it.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// How the update is addressed: its blob hash (what the ledger records), or under blind
    /// validation an id the relay made up for this round, which links it to nobody.
    pub blob: [u8; 32],
    /// Which miner sent it (index among all miners), or `None` under blind validation.
    pub origin: Option<usize>,
    /// The update.
    pub delta: &'a [f32],
}

/// What every validator sees when it scores a round.
#[derive(Debug, Clone, Copy)]
pub struct ValidatorView<'a> {
    /// Round number.
    pub round: u64,
    /// Model kind.
    pub model: ModelKind,
    /// The global model the updates apply to.
    pub global: &'a [f32],
    /// Steps already seen: the previous consensus step and the previous round's updates.
    pub seen: &'a [Vec<f32>],
    /// The previous epoch's consensus weight of each candidate (same order), if any.
    pub last_consensus: Option<&'a [u16]>,
}

/// A validator: turns the round's candidates into one u16 weight per candidate.
pub trait Validator: Send {
    /// Short name of the behaviour, for reports.
    fn kind(&self) -> &'static str;
    /// Whether this actor follows the protocol.
    fn honest(&self) -> bool;
    /// One weight per candidate, in candidate order.
    fn weights(
        &mut self,
        view: &ValidatorView<'_>,
        candidates: &[Candidate<'_>],
    ) -> Result<Vec<u16>, SimError>;
    /// Whether it reveals the weights it committed.
    fn reveals(&self) -> bool {
        true
    }
    /// An off-chain message: miner number `miner` says its update this round is `blob`.
    /// Protocol-following validators ignore it.
    fn hear(&mut self, _miner: usize, _blob: [u8; 32]) {}
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum()
}

/// Cosine similarity, 0 when either vector is zero.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (na, nb) = (dot(a, a).sqrt(), dot(b, b).sqrt());
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot(a, b) / (na * nb)
    }
}

/// Scales non-negative scores so the largest becomes `u16::MAX`; all-zero stays all-zero.
pub fn quantize(scores: &[f64]) -> Vec<u16> {
    let max = scores
        .iter()
        .copied()
        .filter(|s| s.is_finite())
        .fold(0.0f64, f64::max);
    scores
        .iter()
        .map(|&s| {
            if max > 0.0 && s.is_finite() && s > 0.0 {
                ((s / max) * f64::from(u16::MAX)).round() as u16
            } else {
                0
            }
        })
        .collect()
}

/// Scores every candidate on an evaluation set (see the module docs).
pub fn honest_scores(
    view: &ValidatorView<'_>,
    candidates: &[Candidate<'_>],
    eval: &Dataset,
) -> Result<Vec<f64>, SimError> {
    let d = view.global.len();
    // Stale copies and malformed updates score 0 and stay out of the mean.
    let fresh: Vec<bool> = candidates
        .iter()
        .map(|c| {
            c.delta.len() == d
                && !view
                    .seen
                    .iter()
                    .any(|s| cosine(s, c.delta) > COPY_SIMILARITY)
        })
        .collect();
    let m = fresh.iter().filter(|&&f| f).count();
    let mut scores = vec![0.0; candidates.len()];
    if m == 0 {
        return Ok(scores);
    }
    let mut sum = vec![0.0f64; d];
    for (c, _) in candidates.iter().zip(&fresh).filter(|(_, &f)| f) {
        for (a, &x) in sum.iter_mut().zip(c.delta) {
            *a += f64::from(x);
        }
    }
    // The loss of a trial model on the evaluation set; a non-finite loss counts as infinite.
    let loss_of = |trial: &[f32]| -> Result<f64, SimError> {
        let l = f64::from(deai_ml::evaluate(view.model, trial, eval)?.loss);
        Ok(if l.is_finite() { l } else { f64::INFINITY })
    };
    let loss_with = |exclude: Option<&[f32]>| -> Result<f64, SimError> {
        let k = if exclude.is_some() { m - 1 } else { m };
        if k == 0 {
            return loss_of(view.global);
        }
        let trial: Vec<f32> = match exclude {
            Some(ex) => view
                .global
                .iter()
                .zip(&sum)
                .zip(ex)
                .map(|((&g, &s), &e)| g + ((s - f64::from(e)) / k as f64) as f32)
                .collect(),
            None => view
                .global
                .iter()
                .zip(&sum)
                .map(|(&g, &s)| g + (s / k as f64) as f32)
                .collect(),
        };
        loss_of(&trial)
    };
    let all = loss_with(None)?;
    let before = loss_of(view.global)?;
    let share = 1.0 / m as f64;
    // Per fresh candidate: its gain alone at its share of the mean, and whether the mean at a
    // fixed divisor is better with it than without (see the module docs).
    let mut alone = vec![f64::NEG_INFINITY; candidates.len()];
    let mut helps_at_fixed_step = vec![false; candidates.len()];
    let mut trial = vec![0.0f32; d];
    for (j, c) in candidates.iter().enumerate().filter(|&(j, _)| fresh[j]) {
        let gain = loss_with(Some(c.delta))? - all;
        scores[j] = if gain.is_finite() { gain.max(0.0) } else { 0.0 };
        for ((t, &g), &x) in trial.iter_mut().zip(view.global).zip(c.delta) {
            *t = g + (f64::from(x) * share) as f32;
        }
        alone[j] = before - loss_of(&trial)?;
        for (((t, &g), &s), &x) in trial.iter_mut().zip(view.global).zip(&sum).zip(c.delta) {
            *t = g + ((s - f64::from(x)) * share) as f32;
        }
        helps_at_fixed_step[j] = loss_of(&trial)? > all;
    }
    let best_alone = alone.iter().copied().fold(0.0f64, f64::max);
    for ((score, a), &fixed) in scores.iter_mut().zip(&alone).zip(&helps_at_fixed_step) {
        if !(*a > NOISE_FLOOR * best_alone || fixed) {
            *score = 0.0;
        }
    }
    // Gains below the noise floor are indistinguishable from evaluation noise.
    let best = scores.iter().copied().fold(0.0f64, f64::max);
    for s in &mut scores {
        if *s < NOISE_FLOOR * best {
            *s = 0.0;
        }
    }
    Ok(scores)
}

/// The evaluation sets of a validator: the first (assumed known to miners) and an optional
/// secret holdout, disjoint from it.
#[derive(Debug, Clone)]
pub struct EvalSets {
    /// The first set.
    pub public: Dataset,
    /// The secret holdout set, if the defence is on.
    pub holdout: Option<Dataset>,
}

impl EvalSets {
    /// Scores on the first set, or with a holdout the smaller of the two scores: an update
    /// must help on a set its sender could not have seen.
    pub fn scores(
        &self,
        view: &ValidatorView<'_>,
        candidates: &[Candidate<'_>],
    ) -> Result<Vec<f64>, SimError> {
        let mut scores = honest_scores(view, candidates, &self.public)?;
        if let Some(h) = &self.holdout {
            let hidden = honest_scores(view, candidates, h)?;
            for (s, h) in scores.iter_mut().zip(hidden) {
                *s = s.min(h);
            }
        }
        Ok(scores)
    }
}

/// Scores every candidate on its private evaluation set(s).
pub struct HonestValidator {
    eval: EvalSets,
}

impl HonestValidator {
    /// A validator with its evaluation sets.
    pub fn new(eval: EvalSets) -> Self {
        Self { eval }
    }
}

impl Validator for HonestValidator {
    fn kind(&self) -> &'static str {
        "honest"
    }
    fn honest(&self) -> bool {
        true
    }
    fn weights(
        &mut self,
        view: &ValidatorView<'_>,
        candidates: &[Candidate<'_>],
    ) -> Result<Vec<u16>, SimError> {
        Ok(quantize(&self.eval.scores(view, candidates)?))
    }
}

/// Evaluates nothing: re-submits the previous epoch's consensus (uniform in the first round).
pub struct LazyValidator;

impl Validator for LazyValidator {
    fn kind(&self) -> &'static str {
        "lazy"
    }
    fn honest(&self) -> bool {
        false
    }
    fn weights(
        &mut self,
        view: &ValidatorView<'_>,
        candidates: &[Candidate<'_>],
    ) -> Result<Vec<u16>, SimError> {
        Ok(match view.last_consensus {
            Some(c) if c.len() == candidates.len() => c.to_vec(),
            _ => vec![u16::MAX; candidates.len()],
        })
    }
}

/// Scores honestly, then gives its partner's update (recognized by its origin, or by the blob
/// hash the partner tells it off-chain) the maximum weight. Under blind validation it sees
/// neither, so it cannot find the update to boost.
pub struct ColludingValidator {
    eval: EvalSets,
    partner: usize,
    partner_blob: Option<[u8; 32]>,
}

impl ColludingValidator {
    /// A validator colluding with miner number `partner`, with its evaluation sets.
    pub fn new(eval: EvalSets, partner: usize) -> Self {
        Self {
            eval,
            partner,
            partner_blob: None,
        }
    }
}

impl Validator for ColludingValidator {
    fn kind(&self) -> &'static str {
        "colluding"
    }
    fn honest(&self) -> bool {
        false
    }
    fn hear(&mut self, miner: usize, blob: [u8; 32]) {
        if miner == self.partner {
            self.partner_blob = Some(blob);
        }
    }
    fn weights(
        &mut self,
        view: &ValidatorView<'_>,
        candidates: &[Candidate<'_>],
    ) -> Result<Vec<u16>, SimError> {
        let mut w = quantize(&self.eval.scores(view, candidates)?);
        for (wi, c) in w.iter_mut().zip(candidates) {
            if c.origin == Some(self.partner) || Some(c.blob) == self.partner_blob {
                *wi = u16::MAX;
            }
        }
        Ok(w)
    }
}

/// Commits weights and never reveals them: the ledger records a missed reveal.
pub struct SilentValidator;

impl Validator for SilentValidator {
    fn kind(&self) -> &'static str {
        "silent"
    }
    fn honest(&self) -> bool {
        false
    }
    fn weights(
        &mut self,
        _view: &ValidatorView<'_>,
        candidates: &[Candidate<'_>],
    ) -> Result<Vec<u16>, SimError> {
        Ok(vec![0; candidates.len()])
    }
    fn reveals(&self) -> bool {
        false
    }
}

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
    fn score(&mut self, view: &VoteView<'_>) -> Result<f64, SimError>;
    /// Whether it reveals the vote it committed.
    fn reveals(&self) -> bool {
        true
    }
    /// An off-chain message: miner number `miner` says its update this round is `blob`.
    fn hear(&mut self, _miner: usize, _blob: [u8; 32]) {}
}

/// The score of an honest voter: accuracy of `global + step` minus accuracy of `global` on
/// `eval`; −1 when no proposal was usable.
pub fn accuracy_change(view: &VoteView<'_>, eval: &Dataset) -> Result<f64, SimError> {
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
    fn score(&mut self, view: &VoteView<'_>) -> Result<f64, SimError> {
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
    fn score(&mut self, view: &VoteView<'_>) -> Result<f64, SimError> {
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
    fn score(&mut self, view: &VoteView<'_>) -> Result<f64, SimError> {
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
    fn score(&mut self, _view: &VoteView<'_>) -> Result<f64, SimError> {
        Ok(0.0)
    }
    fn reveals(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_scales_best_to_max() {
        assert_eq!(
            quantize(&[0.0, 1.0, 0.5, -2.0, f64::NAN]),
            vec![0, 65535, 32768, 0, 0]
        );
        assert_eq!(quantize(&[0.0, 0.0]), vec![0, 0]);
    }

    #[test]
    fn cosine_of_copies_is_one() {
        let a = [1.0f32, 2.0, -3.0];
        assert!((cosine(&a, &a) - 1.0).abs() < 1e-12);
        assert_eq!(cosine(&a, &[0.0; 3]), 0.0);
        assert!(cosine(&a, &[-1.0, -2.0, 3.0]) < -0.99);
    }
}
