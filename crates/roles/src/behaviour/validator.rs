//! How validators score a round's updates: honestly, lazily, in collusion, or not at all.
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

use deai_ml::{Dataset, ModelKind};

use crate::RoleError;

/// Cosine similarity above which an update counts as a copy of an earlier one.
pub const COPY_SIMILARITY: f64 = 0.99;
/// Share of the best gain below which an honest validator scores an update 0.
pub const NOISE_FLOOR: f64 = 0.05;

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
    ) -> Result<Vec<u16>, RoleError>;
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
) -> Result<Vec<f64>, RoleError> {
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
    let loss_of = |trial: &[f32]| -> Result<f64, RoleError> {
        let l = f64::from(deai_ml::evaluate(view.model, trial, eval)?.loss);
        Ok(if l.is_finite() { l } else { f64::INFINITY })
    };
    let loss_with = |exclude: Option<&[f32]>| -> Result<f64, RoleError> {
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
    ) -> Result<Vec<f64>, RoleError> {
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
    ) -> Result<Vec<u16>, RoleError> {
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
    ) -> Result<Vec<u16>, RoleError> {
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
    ) -> Result<Vec<u16>, RoleError> {
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
    ) -> Result<Vec<u16>, RoleError> {
        Ok(vec![0; candidates.len()])
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
