//! The rules: parameters, preconditions, and the three paths (reference f64, production f32,
//! canonical) of each.

use std::fmt;

use serde_json::Value;

use crate::error::{AggregationError, Result};
use crate::fast;
use crate::params::{check_weights, Params};
use crate::reference::{self as rf, GmInit};
use crate::rows::{self, Elem};

/// Rules that have a canonical (bit-reproducible) mode.
pub const CANONICAL_RULES: &str = "fedavg, coordinate_median, trimmed_mean, krum, multi_krum, \
     geometric_median, centered_clipping, fltrust, norm_clipping_mean, and nnm+<any of these>";

/// Every rule name [`from_spec`] accepts (besides `nnm+<rule>`).
pub const RULE_NAMES: [&str; 10] = [
    "fedavg",
    "coordinate_median",
    "trimmed_mean",
    "krum",
    "multi_krum",
    "geometric_median",
    "centered_clipping",
    "fltrust",
    "foolsgold",
    "norm_clipping_mean",
];

/// Largest iteration count a rule accepts: `L` of centered clipping and `max_iter` of the
/// geometric median. Every iteration is a pass over all n × d values, so this bounds the work
/// of one call; larger values are [`AggregationError::InvalidParam`].
pub const MAX_ITERATIONS: usize = 10_000;

/// A Byzantine-robust aggregation rule over n flat updates (rows) of length d.
///
/// Three paths compute the same definition:
/// - [`Aggregator::aggregate_f64`]: the reference, f64 throughout, matches the vectors;
/// - [`Aggregator::aggregate`]: production, f32 in and out, f64 where sums need it, SIMD and
///   threads; agrees with the reference to float32 rounding (not bit for bit);
/// - [`Aggregator::aggregate_canonical`]: f32 in and out, the reference arithmetic on the
///   widened values, fixed order, no SIMD dispatch: the same bits on every thread count and
///   CPU. Use it for anything hashed onto the ledger. Rules without it return
///   [`AggregationError::CanonicalUnsupported`].
pub trait Aggregator: Send + Sync + fmt::Debug {
    /// The rule's name as [`from_spec`] takes it (`nnm+krum` for a composition).
    fn name(&self) -> String;
    /// The f64 reference path.
    fn aggregate_f64(&self, rows: &[&[f64]]) -> Result<Vec<f64>>;
    /// The production f32 path.
    fn aggregate(&self, rows: &[&[f32]]) -> Result<Vec<f32>>;
    /// The canonical bit-reproducible path.
    fn aggregate_canonical(&self, rows: &[&[f32]]) -> Result<Vec<f32>>;
    /// Whether [`Aggregator::aggregate_canonical`] is supported.
    fn supports_canonical(&self) -> bool;
}

/// A rule written once as a generic reference plus a fast f32 path.
pub(crate) trait Definition: Send + Sync + fmt::Debug {
    const NAME: &'static str;
    const CANONICAL: bool = true;
    /// The reference path (validates rows and parameters against n, d).
    fn reference<T: Elem>(&self, rows: &[&[T]]) -> Result<Vec<f64>>;
    /// The production path.
    fn fast(&self, rows: &[&[f32]]) -> Result<Vec<f32>>;
}

/// Refuses a result with NaN or ±Inf: finite inputs whose combination overflowed f64.
pub(crate) fn finite_output(rule: &str, v: Vec<f64>) -> Result<Vec<f64>> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(coord) => Err(AggregationError::NonFiniteOutput {
            rule: rule.to_string(),
            coord,
            value: format!("{:?}", v[coord]),
        }),
        None => Ok(v),
    }
}

/// Rounds an f64 result to f32, refusing values that do not fit.
pub(crate) fn narrow(rule: &'static str, v: &[f64]) -> Result<Vec<f32>> {
    let out: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    if out.iter().any(|x| !x.is_finite()) {
        return Err(AggregationError::Overflow { rule });
    }
    Ok(out)
}

impl<R: Definition> Aggregator for R {
    fn name(&self) -> String {
        R::NAME.to_string()
    }
    fn aggregate_f64(&self, rows: &[&[f64]]) -> Result<Vec<f64>> {
        finite_output(R::NAME, self.reference(rows)?)
    }
    fn aggregate(&self, rows: &[&[f32]]) -> Result<Vec<f32>> {
        self.fast(rows)
    }
    fn aggregate_canonical(&self, rows: &[&[f32]]) -> Result<Vec<f32>> {
        if !R::CANONICAL {
            return Err(AggregationError::CanonicalUnsupported {
                rule: R::NAME.into(),
                supported: CANONICAL_RULES,
            });
        }
        narrow(R::NAME, &finite_output(R::NAME, self.reference(rows)?)?)
    }
    fn supports_canonical(&self) -> bool {
        R::CANONICAL
    }
}

fn check_len(rule: &'static str, param: &'static str, len: usize, expected: usize) -> Result<()> {
    if len != expected {
        return Err(AggregationError::InvalidParam {
            rule,
            param,
            value: format!("an array of length {len}"),
            expected: format!("length {expected} (one entry per row/coordinate)"),
        });
    }
    Ok(())
}

fn invalid(
    rule: &'static str,
    param: &'static str,
    value: impl fmt::Display,
    expected: &str,
) -> AggregationError {
    AggregationError::InvalidParam {
        rule,
        param,
        value: value.to_string(),
        expected: expected.into(),
    }
}

/// A finite number > 0.
fn positive(rule: &'static str, param: &'static str, v: f64) -> Result<f64> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(invalid(rule, param, v, "a finite number > 0"))
    }
}

/// An iteration count of at most [`MAX_ITERATIONS`].
fn iterations(rule: &'static str, param: &'static str, v: usize) -> Result<usize> {
    if v <= MAX_ITERATIONS {
        Ok(v)
    } else {
        Err(invalid(
            rule,
            param,
            v,
            &format!("an integer in 0..={MAX_ITERATIONS}"),
        ))
    }
}

/// A vector of finite numbers (a parameter built in code rather than parsed from JSON).
fn finite_vec(rule: &'static str, param: &'static str, v: &[f64]) -> Result<()> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(i) => Err(invalid(
            rule,
            param,
            format!("{:?} at index {i}", v[i]),
            "finite numbers",
        )),
        None => Ok(()),
    }
}

/// Optional sample weights: finite, non-negative, with a positive finite sum.
fn check_opt_weights(rule: &'static str, w: Option<&[f64]>, n: usize) -> Result<()> {
    if let Some(w) = w {
        check_len(rule, "weights", w.len(), n)?;
        check_weights(rule, w)?;
    }
    Ok(())
}

/// FedAvg (McMahan et al. 2017): Σ wᵢxᵢ / Σ wᵢ with wᵢ the sample counts (uniform when absent).
#[derive(Debug, Clone, Default)]
pub struct FedAvg {
    /// Sample counts, one per row.
    pub weights: Option<Vec<f64>>,
}

impl FedAvg {
    fn check<T>(&self, rows: &[&[T]]) -> Result<(usize, usize)> {
        let (n, d) = rows::shape(rows)?;
        check_opt_weights(Self::NAME, self.weights.as_deref(), n)?;
        Ok((n, d))
    }
}

impl Definition for FedAvg {
    const NAME: &'static str = "fedavg";
    fn reference<T: Elem>(&self, rows: &[&[T]]) -> Result<Vec<f64>> {
        self.check(rows)?;
        rows::validate(rows)?;
        Ok(rf::fedavg(rows, self.weights.as_deref()))
    }
    fn fast(&self, rows: &[&[f32]]) -> Result<Vec<f32>> {
        let (n, _) = self.check(rows)?;
        let coeffs = rf::normalized(self.weights.as_deref(), n);
        fast::combine(Self::NAME, rows, &coeffs, true)
    }
}

/// Coordinate-wise median (Yin et al. 2018); mean of the two middle values for even n.
#[derive(Debug, Clone, Default)]
pub struct CoordinateMedian;

impl Definition for CoordinateMedian {
    const NAME: &'static str = "coordinate_median";
    fn reference<T: Elem>(&self, rows: &[&[T]]) -> Result<Vec<f64>> {
        rows::validate(rows)?;
        Ok(rf::coordinate_median(rows))
    }
    fn fast(&self, rows: &[&[f32]]) -> Result<Vec<f32>> {
        rows::shape(rows)?;
        fast::order_statistic(Self::NAME, rows, fast::OrderStat::Median)
    }
}

/// How many values a trimmed mean drops at each end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trim {
    /// Exactly k.
    K(usize),
    /// k = ⌊βn⌋.
    Beta(f64),
}

/// Coordinate-wise trimmed mean (Yin et al. 2018): drop the k smallest and k largest.
#[derive(Debug, Clone)]
pub struct TrimmedMean {
    /// How much to trim.
    pub trim: Trim,
}

impl TrimmedMean {
    /// The k used for n rows, checking 0 ≤ β < 0.5 and n − 2k ≥ 1 (without overflow for any k).
    pub fn k_for(&self, n: usize) -> Result<usize> {
        let k = match self.trim {
            Trim::K(k) => k,
            Trim::Beta(b) if (0.0..0.5).contains(&b) => (b * n as f64).floor() as usize,
            Trim::Beta(b) => return Err(invalid(Self::NAME, "beta", b, "0 <= beta < 0.5")),
        };
        if k.checked_mul(2).is_none_or(|two_k| n <= two_k) {
            return Err(AggregationError::TooFewRows {
                rule: Self::NAME,
                n,
                requirement: format!("n - 2k >= 1 (k = {k})"),
            });
        }
        Ok(k)
    }
}

impl Definition for TrimmedMean {
    const NAME: &'static str = "trimmed_mean";
    fn reference<T: Elem>(&self, rows: &[&[T]]) -> Result<Vec<f64>> {
        let (n, _) = rows::shape(rows)?;
        let k = self.k_for(n)?;
        rows::validate(rows)?;
        Ok(rf::trimmed_mean(rows, k))
    }
    fn fast(&self, rows: &[&[f32]]) -> Result<Vec<f32>> {
        let (n, _) = rows::shape(rows)?;
        let k = self.k_for(n)?;
        fast::order_statistic(Self::NAME, rows, fast::OrderStat::Trimmed(k))
    }
}

fn krum_check(rule: &'static str, n: usize, f: usize, nn: Option<usize>) -> Result<usize> {
    // n > 2f + 2, i.e. n ≥ 2f + 3, with no overflow for any f.
    let least = f.checked_mul(2).and_then(|two_f| two_f.checked_add(3));
    if least.is_none_or(|least| n < least) {
        return Err(AggregationError::TooFewRows {
            rule,
            n,
            requirement: format!("n > 2f + 2 (f = {f})"),
        });
    }
    let nn = nn.unwrap_or(n - f - 2);
    if nn == 0 || nn > n - 1 {
        return Err(invalid(
            rule,
            "num_neighbors",
            nn,
            &format!("1..={} (n - 1)", n - 1),
        ));
    }
    Ok(nn)
}

/// Krum (Blanchard et al. 2017): the row whose `num_neighbors` nearest rows are closest.
#[derive(Debug, Clone)]
pub struct Krum {
    /// Number of Byzantine rows tolerated.
    pub f: usize,
    /// Neighbours in the score (default n − f − 2).
    pub num_neighbors: Option<usize>,
}

impl Definition for Krum {
    const NAME: &'static str = "krum";
    fn reference<T: Elem>(&self, rows: &[&[T]]) -> Result<Vec<f64>> {
        let (n, _) = rows::shape(rows)?;
        let nn = krum_check(Self::NAME, n, self.f, self.num_neighbors)?;
        rows::validate(rows)?;
        Ok(rf::krum(rows, nn).0)
    }
    fn fast(&self, rows: &[&[f32]]) -> Result<Vec<f32>> {
        let (n, _) = rows::shape(rows)?;
        let nn = krum_check(Self::NAME, n, self.f, self.num_neighbors)?;
        let d2 = fast::pairwise_sq_dists(rows)?;
        let best = rf::rank_by_score(&rf::krum_scores(&d2, n, nn))[0];
        Ok(rows[best].to_vec())
    }
}

/// Multi-Krum: mean of the m rows with the lowest Krum scores (scores computed once).
#[derive(Debug, Clone)]
pub struct MultiKrum {
    /// Number of Byzantine rows tolerated.
    pub f: usize,
    /// Rows averaged (default n − f).
    pub m: Option<usize>,
    /// Neighbours in the score (default n − f − 2).
    pub num_neighbors: Option<usize>,
}

impl MultiKrum {
    fn check(&self, n: usize) -> Result<(usize, usize)> {
        let nn = krum_check(Self::NAME, n, self.f, self.num_neighbors)?;
        let m = self.m.unwrap_or(n - self.f);
        if m == 0 || m > n {
            return Err(invalid(Self::NAME, "m", m, &format!("1..={n} (n)")));
        }
        Ok((nn, m))
    }
}

impl Definition for MultiKrum {
    const NAME: &'static str = "multi_krum";
    fn reference<T: Elem>(&self, rows: &[&[T]]) -> Result<Vec<f64>> {
        let (n, _) = rows::shape(rows)?;
        let (nn, m) = self.check(n)?;
        rows::validate(rows)?;
        Ok(rf::multi_krum(rows, m, nn).0)
    }
    fn fast(&self, rows: &[&[f32]]) -> Result<Vec<f32>> {
        let (n, _) = rows::shape(rows)?;
        let (nn, m) = self.check(n)?;
        fast::multi_krum(Self::NAME, rows, m, nn)
    }
}

/// Geometric median by smoothed Weiszfeld (RFA, Pillutla et al. 2022).
#[derive(Debug, Clone)]
pub struct GeometricMedian {
    /// Weights, one per row (uniform when absent).
    pub weights: Option<Vec<f64>>,
    /// Smoothing ν > 0 (default 1e-6).
    pub nu: f64,
    /// Iteration cap (default 1000, at most [`MAX_ITERATIONS`]).
    pub max_iter: usize,
    /// Stop when the step ‖z_{t+1} − z_t‖ ≤ tol (default 1e-10).
    pub tol: f64,
    /// Starting point (default the weighted mean).
    pub init: GmInit,
}

impl Default for GeometricMedian {
    fn default() -> Self {
        Self {
            weights: None,
            nu: 1e-6,
            max_iter: 1000,
            tol: 1e-10,
            init: GmInit::Mean,
        }
    }
}

impl GeometricMedian {
    fn check<T>(&self, rows: &[&[T]]) -> Result<(usize, usize)> {
        let (n, d) = rows::shape(rows)?;
        check_opt_weights(Self::NAME, self.weights.as_deref(), n)?;
        positive(Self::NAME, "nu", self.nu)?;
        if !(self.tol.is_finite() && self.tol >= 0.0) {
            return Err(invalid(Self::NAME, "tol", self.tol, "a finite number >= 0"));
        }
        iterations(Self::NAME, "max_iter", self.max_iter)?;
        Ok((n, d))
    }

    /// The reference estimate and the number of Weiszfeld iterations it took.
    pub fn reference_with_iterations(&self, rows: &[&[f64]]) -> Result<(Vec<f64>, usize)> {
        self.check(rows)?;
        rows::validate(rows)?;
        let (z, iterations) = rf::geometric_median(
            rows,
            self.weights.as_deref(),
            self.nu,
            self.max_iter,
            self.tol,
            self.init,
        );
        Ok((finite_output(Self::NAME, z)?, iterations))
    }
}

impl Definition for GeometricMedian {
    const NAME: &'static str = "geometric_median";
    fn reference<T: Elem>(&self, rows: &[&[T]]) -> Result<Vec<f64>> {
        self.check(rows)?;
        rows::validate(rows)?;
        Ok(rf::geometric_median(
            rows,
            self.weights.as_deref(),
            self.nu,
            self.max_iter,
            self.tol,
            self.init,
        )
        .0)
    }
    fn fast(&self, rows: &[&[f32]]) -> Result<Vec<f32>> {
        let (n, _) = self.check(rows)?;
        let gram = fast::gram(rows)?;
        let a = rf::normalized(self.weights.as_deref(), n);
        let coeffs =
            fast::weiszfeld_in_span(&gram, n, &a, self.nu, self.max_iter, self.tol, self.init);
        fast::combine(Self::NAME, rows, &coeffs, false)
    }
}

/// Centered clipping (Karimireddy et al. 2021).
#[derive(Debug, Clone)]
pub struct CenteredClipping {
    /// Clipping radius τ > 0.
    pub tau: f64,
    /// Number of iterations L (default 1, at most [`MAX_ITERATIONS`]).
    pub l: usize,
    /// Starting point (default 0), length d.
    pub v0: Option<Vec<f64>>,
}

impl CenteredClipping {
    fn check<T>(&self, rows: &[&[T]]) -> Result<(usize, usize)> {
        let (n, d) = rows::shape(rows)?;
        positive(Self::NAME, "tau", self.tau)?;
        iterations(Self::NAME, "L", self.l)?;
        if let Some(v0) = &self.v0 {
            check_len(Self::NAME, "v0", v0.len(), d)?;
            finite_vec(Self::NAME, "v0", v0)?;
        }
        Ok((n, d))
    }
}

impl Definition for CenteredClipping {
    const NAME: &'static str = "centered_clipping";
    fn reference<T: Elem>(&self, rows: &[&[T]]) -> Result<Vec<f64>> {
        self.check(rows)?;
        rows::validate(rows)?;
        Ok(rf::centered_clipping(
            rows,
            self.tau,
            self.l,
            self.v0.as_deref(),
        ))
    }
    fn fast(&self, rows: &[&[f32]]) -> Result<Vec<f32>> {
        self.check(rows)?;
        fast::centered_clipping(Self::NAME, rows, self.tau, self.l, self.v0.as_deref())
    }
}

/// FLTrust (Cao et al. 2021): trust = ReLU(cos(xᵢ, g₀)), updates rescaled to ‖g₀‖.
#[derive(Debug, Clone)]
pub struct FlTrust {
    /// The server's own update g₀ on its root dataset, length d.
    pub server_update: Vec<f64>,
}

impl FlTrust {
    fn check<T>(&self, rows: &[&[T]]) -> Result<(usize, usize)> {
        let (n, d) = rows::shape(rows)?;
        check_len(Self::NAME, "server_update", self.server_update.len(), d)?;
        finite_vec(Self::NAME, "server_update", &self.server_update)?;
        Ok((n, d))
    }
}

impl Definition for FlTrust {
    const NAME: &'static str = "fltrust";
    fn reference<T: Elem>(&self, rows: &[&[T]]) -> Result<Vec<f64>> {
        self.check(rows)?;
        rows::validate(rows)?;
        Ok(rf::fltrust(rows, &self.server_update).0)
    }
    fn fast(&self, rows: &[&[f32]]) -> Result<Vec<f32>> {
        self.check(rows)?;
        let (sq_norms, dots) = fast::norms_and_dots(Self::NAME, rows, &self.server_update)?;
        let (_, coeffs) = rf::fltrust_coeffs(&sq_norms, &dots, rf::sq_norm(&self.server_update));
        fast::combine(Self::NAME, rows, &coeffs, false)
    }
}

/// How FoolsGold turns its weights αᵢ into an output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoolsGoldOutput {
    /// Σ αᵢxᵢ (the reference code's update; default).
    WeightedSum,
    /// Σ αᵢxᵢ / n.
    Mean,
    /// Σ αᵢxᵢ / Σ αᵢ (0 when all weights are 0).
    Normalized,
}

/// FoolsGold (Fung et al. 2020): down-weights clients whose histories are too similar.
#[derive(Debug, Clone)]
pub struct FoolsGold {
    /// Per-client history of updates (n rows of equal length); the updates when absent.
    pub history: Option<Vec<Vec<f64>>>,
    /// Logit confidence κ > 0 (default 1).
    pub kappa: f64,
    /// Output form (default weighted sum).
    pub aggregate: FoolsGoldOutput,
}

impl FoolsGold {
    /// The FoolsGold weights αᵢ of these rows (f64 reference).
    pub fn weights_f64(&self, rows: &[&[f64]]) -> Result<Vec<f64>> {
        let (n, _) = rows::validate(rows)?;
        self.weights_from_gram(rows, n, None)
    }

    fn weights_from_gram<T: Elem>(
        &self,
        rows: &[&[T]],
        n: usize,
        fast_gram: Option<Vec<f64>>,
    ) -> Result<Vec<f64>> {
        positive(Self::NAME, "kappa", self.kappa)?;
        let gram = match &self.history {
            Some(h) => {
                check_len(Self::NAME, "history", h.len(), n)?;
                let h = rows::as_rows(h);
                rows::shape(&h).map_err(|_| {
                    invalid(
                        Self::NAME,
                        "history",
                        "rows of different or zero length",
                        "n equal-length, non-empty rows",
                    )
                })?;
                for row in &h {
                    finite_vec(Self::NAME, "history", row)?;
                }
                rf::gram(&h)
            }
            None => match fast_gram {
                Some(g) => g,
                None => rf::gram(rows),
            },
        };
        Ok(rf::foolsgold_weights_from_gram(&gram, n, self.kappa))
    }

    fn coeffs(&self, alpha: &[f64]) -> Vec<f64> {
        let n = alpha.len() as f64;
        let total: f64 = alpha.iter().sum();
        alpha
            .iter()
            .map(|a| match self.aggregate {
                FoolsGoldOutput::WeightedSum => *a,
                FoolsGoldOutput::Mean => a / n,
                FoolsGoldOutput::Normalized if total > 0.0 => a / total,
                FoolsGoldOutput::Normalized => 0.0,
            })
            .collect()
    }
}

impl Definition for FoolsGold {
    const NAME: &'static str = "foolsgold";
    const CANONICAL: bool = false;
    fn reference<T: Elem>(&self, rows: &[&[T]]) -> Result<Vec<f64>> {
        let (n, _) = rows::validate(rows)?;
        let alpha = self.weights_from_gram(rows, n, None)?;
        Ok(rf::weighted_sum(rows, &self.coeffs(&alpha)))
    }
    fn fast(&self, rows: &[&[f32]]) -> Result<Vec<f32>> {
        let (n, _) = rows::shape(rows)?;
        let g = if self.history.is_none() {
            Some(fast::gram(rows)?)
        } else {
            None
        };
        let alpha = self.weights_from_gram(rows, n, g)?;
        fast::combine(
            Self::NAME,
            rows,
            &self.coeffs(&alpha),
            self.history.is_some(),
        )
    }
}

/// Norm-clipping mean (Sun et al. 2019): clip each row to ‖xᵢ‖ ≤ M, then FedAvg.
#[derive(Debug, Clone)]
pub struct NormClippingMean {
    /// The norm bound M > 0.
    pub max_norm: f64,
    /// Sample counts (uniform when absent).
    pub weights: Option<Vec<f64>>,
}

impl NormClippingMean {
    fn check<T>(&self, rows: &[&[T]]) -> Result<(usize, usize)> {
        let (n, d) = rows::shape(rows)?;
        positive(Self::NAME, "max_norm", self.max_norm)?;
        check_opt_weights(Self::NAME, self.weights.as_deref(), n)?;
        Ok((n, d))
    }
}

impl Definition for NormClippingMean {
    const NAME: &'static str = "norm_clipping_mean";
    fn reference<T: Elem>(&self, rows: &[&[T]]) -> Result<Vec<f64>> {
        self.check(rows)?;
        rows::validate(rows)?;
        Ok(rf::norm_clipping_mean(
            rows,
            self.weights.as_deref(),
            self.max_norm,
        ))
    }
    fn fast(&self, rows: &[&[f32]]) -> Result<Vec<f32>> {
        let (n, _) = self.check(rows)?;
        let a = rf::normalized(self.weights.as_deref(), n);
        fast::norm_clipped_sum(Self::NAME, rows, &a, self.max_norm)
    }
}

/// Nearest-neighbour mixing (Allouah et al. 2023): row i → mean of the k = n − f nearest rows
/// to xᵢ (itself included). A pre-aggregator: compose it with any rule (`nnm+krum`).
#[derive(Debug, Clone)]
pub struct Nnm {
    /// Number of Byzantine rows tolerated.
    pub f: usize,
    /// Neighbours averaged (default n − f).
    pub k: Option<usize>,
}

impl Nnm {
    /// Name of the pre-aggregator.
    pub const NAME: &'static str = "nnm";

    fn k_for(&self, n: usize) -> Result<usize> {
        if self.f >= n {
            return Err(AggregationError::TooFewRows {
                rule: Self::NAME,
                n,
                requirement: format!("n > f (f = {})", self.f),
            });
        }
        let k = self.k.unwrap_or(n - self.f);
        if k == 0 || k > n {
            return Err(invalid(Self::NAME, "k", k, &format!("1..={n} (n)")));
        }
        Ok(k)
    }

    fn reference<T: Elem>(&self, rows: &[&[T]]) -> Result<Vec<Vec<f64>>> {
        let (n, _) = rows::shape(rows)?;
        let k = self.k_for(n)?;
        rows::validate(rows)?;
        rf::nnm(rows, k)
            .into_iter()
            .map(|row| finite_output(Self::NAME, row))
            .collect()
    }

    /// The mixed rows, f64 reference path.
    pub fn transform_f64(&self, rows: &[&[f64]]) -> Result<Vec<Vec<f64>>> {
        self.reference(rows)
    }

    /// The mixed rows, production f32 path.
    pub fn transform(&self, rows: &[&[f32]]) -> Result<Vec<Vec<f32>>> {
        let (n, _) = rows::shape(rows)?;
        let k = self.k_for(n)?;
        let d2 = fast::pairwise_sq_dists(rows)?;
        let neighbours = rf::nnm_neighbours(&d2, n, k);
        let mut mix = vec![0.0; n * n];
        for (i, near) in neighbours.iter().enumerate() {
            for &j in near {
                mix[i * n + j] = 1.0 / k as f64;
            }
        }
        fast::mix(Self::NAME, rows, &mix)
    }

    /// The mixed rows, canonical path (f64 rows; the reference on the widened inputs).
    pub fn transform_canonical(&self, rows: &[&[f32]]) -> Result<Vec<Vec<f64>>> {
        self.reference(rows)
    }
}

/// A pre-aggregator composed with a rule: `nnm+<rule>`.
#[derive(Debug)]
pub struct WithNnm {
    /// The mixing step.
    pub nnm: Nnm,
    /// The rule run on the mixed rows.
    pub inner: Box<dyn Aggregator>,
}

impl Aggregator for WithNnm {
    fn name(&self) -> String {
        format!("nnm+{}", self.inner.name())
    }
    fn aggregate_f64(&self, rows: &[&[f64]]) -> Result<Vec<f64>> {
        let mixed = self.nnm.transform_f64(rows)?;
        self.inner.aggregate_f64(&rows::as_rows(&mixed))
    }
    fn aggregate(&self, rows: &[&[f32]]) -> Result<Vec<f32>> {
        let mixed = self.nnm.transform(rows)?;
        self.inner.aggregate(&rows::as_rows(&mixed))
    }
    fn aggregate_canonical(&self, rows: &[&[f32]]) -> Result<Vec<f32>> {
        if !self.inner.supports_canonical() {
            return Err(AggregationError::CanonicalUnsupported {
                rule: self.name(),
                supported: CANONICAL_RULES,
            });
        }
        let mixed = self.nnm.transform_canonical(rows)?;
        narrow(
            Nnm::NAME,
            &self.inner.aggregate_f64(&rows::as_rows(&mixed))?,
        )
    }
    fn supports_canonical(&self) -> bool {
        self.inner.supports_canonical()
    }
}

fn weights_param(rule: &'static str, p: &Params<'_>) -> Result<Option<Vec<f64>>> {
    let w = p.vec("weights")?;
    if let Some(w) = &w {
        check_weights(rule, w)?;
    }
    Ok(w)
}

/// Builds the pre-aggregator `nnm` from its parameters (`f`, optional `k`).
pub fn nnm_from_params(params: &Value) -> Result<Nnm> {
    let p = Params::new(Nnm::NAME, params, &["f", "k"])?;
    Ok(Nnm {
        f: p.required_usize("f")?,
        k: p.usize("k")?,
    })
}

/// Builds a rule from its name and JSON parameters (named as in the vectors file).
///
/// `nnm+<rule>` composes nearest-neighbour mixing with `<rule>`: the parameters are those of
/// `<rule>`, plus an optional object `nnm` with nnm's own (`f`, `k`); without it nnm takes
/// `f` from the top level (which `<rule>` also reads if it has an `f`). Unknown rule names and
/// unknown parameter names are errors that name them.
pub fn from_spec(rule: &str, params: &Value) -> Result<Box<dyn Aggregator>> {
    if let Some(inner_name) = rule.strip_prefix("nnm+") {
        return nnm_composition(inner_name, params);
    }
    Ok(match rule {
        "fedavg" => {
            let p = Params::new(FedAvg::NAME, params, &["weights"])?;
            Box::new(FedAvg {
                weights: weights_param(FedAvg::NAME, &p)?,
            })
        }
        "coordinate_median" => {
            Params::new(CoordinateMedian::NAME, params, &[])?;
            Box::new(CoordinateMedian)
        }
        "trimmed_mean" => {
            let p = Params::new(TrimmedMean::NAME, params, &["k", "beta"])?;
            let trim = match (p.usize("k")?, p.f64("beta")?) {
                (Some(k), _) => Trim::K(k),
                (None, Some(b)) if (0.0..0.5).contains(&b) => Trim::Beta(b),
                (None, Some(b)) => {
                    return Err(invalid(TrimmedMean::NAME, "beta", b, "0 <= beta < 0.5"))
                }
                (None, None) => {
                    return Err(AggregationError::MissingParam {
                        rule: TrimmedMean::NAME,
                        param: "k",
                    })
                }
            };
            Box::new(TrimmedMean { trim })
        }
        "krum" => {
            let p = Params::new(Krum::NAME, params, &["f", "num_neighbors"])?;
            Box::new(Krum {
                f: p.required_usize("f")?,
                num_neighbors: p.usize("num_neighbors")?,
            })
        }
        "multi_krum" => {
            let p = Params::new(MultiKrum::NAME, params, &["f", "m", "num_neighbors"])?;
            Box::new(MultiKrum {
                f: p.required_usize("f")?,
                m: p.usize("m")?,
                num_neighbors: p.usize("num_neighbors")?,
            })
        }
        "geometric_median" => {
            let name = GeometricMedian::NAME;
            let p = Params::new(name, params, &["weights", "nu", "max_iter", "tol", "init"])?;
            let d = GeometricMedian::default();
            let init = match p.string("init")? {
                None | Some("mean") => GmInit::Mean,
                Some("zero") | Some("zeros") => GmInit::Zero,
                Some(other) => return Err(invalid(name, "init", other, "\"mean\" or \"zero\"")),
            };
            let tol = p.f64("tol")?.unwrap_or(d.tol);
            if tol < 0.0 {
                return Err(invalid(name, "tol", tol, "a number >= 0"));
            }
            Box::new(GeometricMedian {
                weights: weights_param(name, &p)?,
                nu: positive(name, "nu", p.f64("nu")?.unwrap_or(d.nu))?,
                max_iter: iterations(name, "max_iter", p.usize("max_iter")?.unwrap_or(d.max_iter))?,
                tol,
                init,
            })
        }
        "centered_clipping" => {
            let name = CenteredClipping::NAME;
            let p = Params::new(name, params, &["tau", "L", "v0"])?;
            Box::new(CenteredClipping {
                tau: positive(name, "tau", p.required_f64("tau")?)?,
                l: iterations(name, "L", p.usize("L")?.unwrap_or(1))?,
                v0: p.vec("v0")?,
            })
        }
        "fltrust" => {
            let p = Params::new(FlTrust::NAME, params, &["server_update"])?;
            Box::new(FlTrust {
                server_update: p
                    .vec("server_update")?
                    .ok_or(AggregationError::MissingParam {
                        rule: FlTrust::NAME,
                        param: "server_update",
                    })?,
            })
        }
        "foolsgold" => {
            let name = FoolsGold::NAME;
            let p = Params::new(name, params, &["history", "kappa", "aggregate"])?;
            let aggregate = match p.string("aggregate")? {
                None | Some("weighted_sum") => FoolsGoldOutput::WeightedSum,
                Some("mean") => FoolsGoldOutput::Mean,
                Some("normalized") => FoolsGoldOutput::Normalized,
                Some(other) => {
                    return Err(invalid(
                        name,
                        "aggregate",
                        other,
                        "\"weighted_sum\", \"mean\" or \"normalized\"",
                    ))
                }
            };
            Box::new(FoolsGold {
                history: p.matrix("history")?,
                kappa: positive(name, "kappa", p.f64("kappa")?.unwrap_or(1.0))?,
                aggregate,
            })
        }
        "norm_clipping_mean" => {
            let name = NormClippingMean::NAME;
            let p = Params::new(name, params, &["max_norm", "weights"])?;
            Box::new(NormClippingMean {
                max_norm: positive(name, "max_norm", p.required_f64("max_norm")?)?,
                weights: weights_param(name, &p)?,
            })
        }
        "nnm" => {
            return Err(invalid(
                Nnm::NAME,
                "rule",
                "nnm",
                "a rule: nnm is a pre-aggregator, compose it as nnm+<rule>",
            ))
        }
        other => {
            return Err(AggregationError::UnknownRule {
                name: other.to_string(),
                known: RULE_NAMES.join(", "),
            })
        }
    })
}

fn nnm_composition(inner_name: &str, params: &Value) -> Result<Box<dyn Aggregator>> {
    let mut inner_params = match params {
        Value::Null => serde_json::Map::new(),
        Value::Object(m) => m.clone(),
        other => {
            return Err(invalid(
                Nnm::NAME,
                "params",
                other,
                "a JSON object of named parameters",
            ))
        }
    };
    let nnm = match inner_params.remove("nnm") {
        Some(p) => nnm_from_params(&p)?,
        None => {
            let f = inner_params
                .get("f")
                .cloned()
                .ok_or(AggregationError::MissingParam {
                    rule: Nnm::NAME,
                    param: "f",
                })?;
            // nnm reads the top-level f; drop it for an inner rule that has no f.
            let inner_takes_f = matches!(inner_name, "krum" | "multi_krum");
            if !inner_takes_f {
                inner_params.remove("f");
            }
            nnm_from_params(&serde_json::json!({ "f": f }))?
        }
    };
    if inner_name.starts_with("nnm") {
        return Err(invalid(
            Nnm::NAME,
            "rule",
            inner_name,
            "one rule after nnm+ (not another nnm)",
        ));
    }
    let inner = from_spec(inner_name, &Value::Object(inner_params))?;
    Ok(Box::new(WithNnm { nnm, inner }))
}
