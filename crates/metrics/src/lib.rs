//! Measure how decentralized a distribution of holdings is: Gini, Nakamoto coefficient, HHI, entropy, Theil and top-k shares.
//!
//! A *holdings vector* `x₁ … xₙ` gives what each of `n` entities holds — stake, voting power,
//! rewards, samples contributed. Every entry is finite and non-negative; zero entries count as
//! entities. With total `T = Σ xᵢ`, shares `sᵢ = xᵢ / T` and mean `μ = T / n`:
//!
//! | metric | definition | range |
//! |---|---|---|
//! | `gini` | `Σᵢ Σⱼ \|xᵢ − xⱼ\| / (2 n² μ)` (population Gini, no `n/(n−1)` correction) | `[0, (n−1)/n]` |
//! | `nakamoto_1_2` | smallest `k` whose `k` largest holdings sum to **strictly** more than `T/2` | `1 … n` |
//! | `nakamoto_1_3` | the same with `T/3` | `1 … n` |
//! | `hhi` | Herfindahl–Hirschman index `Σ sᵢ²` | `[1/n, 1]` |
//! | `entropy_normalized` | `−Σ sᵢ ln sᵢ / ln n` with `0 ln 0 = 0` | `[0, 1]` |
//! | `theil` | Theil-T `(1/n) Σ (xᵢ/μ) ln(xᵢ/μ)` with `0 ln 0 = 0` (`= ln n − H`) | `[0, ln n]` |
//! | `top_k_share` | `(sum of the k largest) / T`, exactly `1` when `k ≥ n` | `[k/n, 1]` |
//! | `n` | number of entities, zero entries included | |
//!
//! A lower Gini, HHI, Theil and top-k share and a higher Nakamoto coefficient and entropy mean
//! a more even distribution. The Nakamoto coefficient at ½ is the number of entities that must
//! collude to control a majority; at ⅓, the number that can halt a BFT protocol.
//!
//! # Edge cases
//!
//! Nothing here panics. When the vector is empty or the total is zero, every metric is `0`
//! (including both Nakamoto coefficients and every top-k share) and `n` is the length. With a
//! single entity holding a positive amount: `gini = 0`, Nakamoto `1`, `hhi = 1`,
//! `entropy_normalized = 0`, `theil = 0`, every top-k share `1`. A tie at exactly one half is not
//! "strictly more": ten equal holders need six, not five, for a majority, and `[1, 1]` needs two.
//!
//! # Exactness
//!
//! The Nakamoto thresholds decide "strictly more than ½" on exact rationals, never on rounded
//! floats. Every finite `f64` is a dyadic rational, so the sums of the `k` largest holdings and
//! the total are computed exactly as 2240-bit fixed-point integers (see `exact.rs`) and compared
//! as `2 · prefix > total` (`3 · prefix > total` for ⅓). The `u128` API ([`Holdings::from_amounts`])
//! feeds the ledger integers into the same exact sums. Sorting is by value, so the result does
//! not depend on the order of the input, and scaling every holding by a power of two leaves the
//! decisions unchanged.
//!
//! The other metrics are ratios reported as `f64`. They are computed on the holdings sorted in
//! descending order and scaled by a power of two so that the largest lies in `[1, 2)` (exact, and
//! it keeps sums of up to 2^1000 holdings from overflowing). Gini is computed from the gaps
//! between consecutive sorted holdings, `Σₖ k (n−k) (x₍ₖ₎ − x₍ₖ₊₁₎) / (n T)`, a sum of
//! non-negative terms, so it is exactly `0` for equal holdings and never negative. Entropy is
//! clamped to `[0, 1]` and Theil to `≥ 0`, which changes a result by at most a rounding error.
//! For `u128` holdings the float metrics use each amount rounded to the nearest `f64`
//! (relative error below 2⁻⁵³).
//!
//! # One list
//!
//! [`Metric`] names every field of [`Metrics`] once, with its key, file name, label and value;
//! tables, plots and gauges iterate over [`Metric::ALL`] rather than listing the fields again.
#![cfg_attr(not(test), warn(unused_crate_dependencies))]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod exact;
mod metric;

use exact::ExactSum;
pub use metric::Metric;
use serde::{Deserialize, Serialize};

/// Why a holdings vector or a threshold was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    /// A holding is below zero.
    #[error("holding at index {index} is {value}; holdings must be non-negative")]
    Negative {
        /// Position of the offending holding in the input.
        index: usize,
        /// The value found there.
        value: f64,
    },
    /// A holding is NaN or infinite.
    #[error("holding at index {index} is {value}; holdings must be finite numbers")]
    NonFinite {
        /// Position of the offending holding in the input.
        index: usize,
        /// The value found there.
        value: f64,
    },
    /// A Nakamoto threshold outside `(0, 1)`.
    #[error(
        "threshold {numerator}/{denominator} is invalid; expected 0 < numerator < denominator"
    )]
    InvalidThreshold {
        /// Numerator given.
        numerator: u32,
        /// Denominator given.
        denominator: u32,
    },
}

/// A fraction of the total in `(0, 1)`; the Nakamoto coefficient at this threshold is the
/// smallest number of entities holding strictly more than it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold {
    numerator: u32,
    denominator: u32,
}

impl Threshold {
    /// One half: control of a majority.
    pub const HALF: Self = Self {
        numerator: 1,
        denominator: 2,
    };
    /// One third: enough to halt a BFT protocol.
    pub const THIRD: Self = Self {
        numerator: 1,
        denominator: 3,
    };

    /// The threshold `numerator / denominator`, which must lie strictly between 0 and 1.
    pub fn new(numerator: u32, denominator: u32) -> Result<Self, MetricsError> {
        if numerator == 0 || numerator >= denominator {
            return Err(MetricsError::InvalidThreshold {
                numerator,
                denominator,
            });
        }
        Ok(Self {
            numerator,
            denominator,
        })
    }
}

/// The exact values behind a [`Holdings`], sorted in descending order.
#[derive(Debug, Clone, PartialEq)]
enum Exact {
    Float(Vec<f64>),
    Int(Vec<u128>),
}

/// A validated holdings vector, sorted in descending order, ready for any metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Holdings {
    /// The holdings as `f64`, descending, scaled by a power of two so the largest is in `[1, 2)`.
    scaled: Vec<f64>,
    /// The exact holdings, descending, for the Nakamoto thresholds.
    exact: Exact,
}

impl Holdings {
    /// Validates `f64` holdings: each must be finite and non-negative (`-0.0` counts as zero).
    pub fn from_f64(values: &[f64]) -> Result<Self, MetricsError> {
        let mut sorted = Vec::with_capacity(values.len());
        for (index, &value) in values.iter().enumerate() {
            if !value.is_finite() {
                return Err(MetricsError::NonFinite { index, value });
            }
            if value < 0.0 {
                return Err(MetricsError::Negative { index, value });
            }
            // `+ 0.0` turns -0.0 into +0.0 so that sorting sees one zero.
            sorted.push(value + 0.0);
        }
        sorted.sort_by(|a, b| b.total_cmp(a));
        let scaled = scale_to_unit(&sorted);
        Ok(Self {
            scaled,
            exact: Exact::Float(sorted),
        })
    }

    /// Integer holdings (ledger amounts); always valid, and the Nakamoto thresholds are exact.
    pub fn from_amounts(values: &[u128]) -> Self {
        let mut sorted = values.to_vec();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        // Rounding to nearest is monotone, so the f64 copy stays sorted.
        let as_f64: Vec<f64> = sorted.iter().map(|v| *v as f64).collect();
        Self {
            scaled: scale_to_unit(&as_f64),
            exact: Exact::Int(sorted),
        }
    }

    /// Number of entities, zero holdings included.
    pub fn len(&self) -> usize {
        self.scaled.len()
    }

    /// Whether there are no entities.
    pub fn is_empty(&self) -> bool {
        self.scaled.is_empty()
    }

    /// The total of the scaled holdings (summed in descending order).
    fn scaled_total(&self) -> f64 {
        self.scaled.iter().sum()
    }

    /// Population Gini coefficient; `0` when `n ≤ 1` or the total is zero.
    pub fn gini(&self) -> f64 {
        let n = self.len();
        let total = self.scaled_total();
        if n <= 1 || total <= 0.0 {
            return 0.0;
        }
        let nf = n as f64;
        // Σᵢ Σⱼ |xᵢ − xⱼ| = 2 Σₖ k (n − k) (y_k − y_{k+1}) over the descending y.
        let weighted_gaps: f64 = self
            .scaled
            .windows(2)
            .enumerate()
            .map(|(i, w)| {
                let k = (i + 1) as f64;
                k * (nf - k) * (w[0] - w[1])
            })
            .sum();
        weighted_gaps / (nf * total)
    }

    /// Smallest number of entities whose holdings sum to strictly more than `threshold` of the
    /// total (exact comparison); `0` when the total is zero.
    pub fn nakamoto(&self, threshold: Threshold) -> usize {
        let mut total = ExactSum::ZERO;
        match &self.exact {
            Exact::Float(v) => v.iter().for_each(|x| total.add_f64(*x)),
            Exact::Int(v) => v.iter().for_each(|x| total.add_u128(*x)),
        }
        if total.is_zero() {
            return 0;
        }
        // prefix / total > num / den  ⇔  den · prefix > num · total.
        let bar = total.times(u64::from(threshold.numerator));
        let den = u64::from(threshold.denominator);
        let mut prefix = ExactSum::ZERO;
        for k in 0..self.len() {
            match &self.exact {
                Exact::Float(v) => prefix.add_f64(v[k]),
                Exact::Int(v) => prefix.add_u128(v[k]),
            }
            if prefix.times(den) > bar {
                return k + 1;
            }
        }
        // Unreachable for a positive total (den · T > num · T), kept total for safety.
        self.len()
    }

    /// Herfindahl–Hirschman index `Σ sᵢ²`; `0` when the total is zero.
    pub fn hhi(&self) -> f64 {
        let total = self.scaled_total();
        if total <= 0.0 {
            return 0.0;
        }
        self.scaled
            .iter()
            .map(|x| {
                let s = x / total;
                s * s
            })
            .sum()
    }

    /// Shannon entropy of the shares divided by `ln n`, in `[0, 1]`; `0` when `n ≤ 1` or the
    /// total is zero.
    pub fn entropy_normalized(&self) -> f64 {
        let n = self.len();
        let total = self.scaled_total();
        if n <= 1 || total <= 0.0 {
            return 0.0;
        }
        let h: f64 = self
            .scaled
            .iter()
            .filter(|x| **x > 0.0)
            .map(|x| {
                let s = x / total;
                -s * s.ln()
            })
            .sum();
        (h / (n as f64).ln()).clamp(0.0, 1.0)
    }

    /// Theil-T index `(1/n) Σ (xᵢ/μ) ln(xᵢ/μ)`, `≥ 0`; `0` when `n ≤ 1` or the total is zero.
    pub fn theil(&self) -> f64 {
        let n = self.len();
        let total = self.scaled_total();
        if n <= 1 || total <= 0.0 {
            return 0.0;
        }
        let nf = n as f64;
        let mean = total / nf;
        let sum: f64 = self
            .scaled
            .iter()
            .filter(|x| **x > 0.0)
            .map(|x| {
                let r = x / mean;
                r * r.ln()
            })
            .sum();
        (sum / nf).max(0.0)
    }

    /// Share of the total held by the `k` largest holders; exactly `1` when `k ≥ n` (and the
    /// total is positive), `0` when the total is zero.
    pub fn top_k_share(&self, k: usize) -> f64 {
        let total = self.scaled_total();
        if total <= 0.0 {
            return 0.0;
        }
        if k >= self.len() {
            return 1.0;
        }
        let top: f64 = self.scaled[..k].iter().sum();
        // Both sums run over the same descending prefix, so `top ≤ total` holds in floats too.
        top / total
    }

    /// Every metric at once.
    pub fn metrics(&self) -> Metrics {
        Metrics {
            gini: self.gini(),
            nakamoto_1_2: self.nakamoto(Threshold::HALF),
            nakamoto_1_3: self.nakamoto(Threshold::THIRD),
            hhi: self.hhi(),
            entropy_normalized: self.entropy_normalized(),
            theil: self.theil(),
            top_1_share: self.top_k_share(1),
            top_3_share: self.top_k_share(3),
            top_5_share: self.top_k_share(5),
            top_10_share: self.top_k_share(10),
            n: self.len(),
        }
    }
}

/// Every metric of one holdings vector; field names match the `deai metrics` JSON keys and the
/// reference vectors, and [`Metric::ALL`] lists them in this order.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// Population Gini coefficient.
    pub gini: f64,
    /// Nakamoto coefficient at ½ (exact).
    pub nakamoto_1_2: usize,
    /// Nakamoto coefficient at ⅓ (exact).
    pub nakamoto_1_3: usize,
    /// Herfindahl–Hirschman index over shares.
    pub hhi: f64,
    /// Shannon entropy over `ln n`.
    pub entropy_normalized: f64,
    /// Theil-T index.
    pub theil: f64,
    /// Share of the largest holder.
    pub top_1_share: f64,
    /// Share of the three largest holders.
    pub top_3_share: f64,
    /// Share of the five largest holders.
    pub top_5_share: f64,
    /// Share of the ten largest holders.
    pub top_10_share: f64,
    /// Number of entities, zero holdings included.
    pub n: usize,
}

/// Every metric of `f64` holdings; errors name the first negative or non-finite entry.
pub fn metrics(values: &[f64]) -> Result<Metrics, MetricsError> {
    Holdings::from_f64(values).map(|h| h.metrics())
}

/// Every metric of integer holdings (ledger amounts), with exact Nakamoto thresholds.
pub fn metrics_of_amounts(values: &[u128]) -> Metrics {
    Holdings::from_amounts(values).metrics()
}

/// `2^k` for `k` in the normal exponent range `[-1022, 1023]`.
fn pow2(k: i32) -> f64 {
    let k = k.clamp(-1022, 1023);
    f64::from_bits(((k + 1023) as u64) << 52)
}

/// Scales descending holdings by a power of two so the largest lies in `[1, 2)`.
///
/// Multiplying by a power of two is exact unless a result falls below 2⁻¹⁰²², which needs a
/// holding 2¹⁰²² times smaller than the largest — negligible in every ratio computed here.
fn scale_to_unit(desc: &[f64]) -> Vec<f64> {
    let Some(&max) = desc.first() else {
        return Vec::new();
    };
    if max <= 0.0 {
        return desc.to_vec();
    }
    // Exponent of `max`, computed for subnormals as well.
    let bits = max.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let exponent = if biased == 0 {
        let frac = bits & ((1u64 << 52) - 1);
        // Value = frac · 2^-1074; floor(log2) = (63 − leading_zeros) − 1074.
        (63 - frac.leading_zeros() as i32) - 1074
    } else {
        biased - 1023
    };
    // Scale by 2^-exponent in at most two exact normal-range steps.
    let shift = -exponent;
    let first = shift.clamp(-1022, 1023);
    let second = shift - first;
    desc.iter()
        .map(|x| {
            let y = x * pow2(first);
            if second == 0 {
                y
            } else {
                y * pow2(second)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_all_zero_are_zero_everywhere() {
        for v in [vec![], vec![0.0, 0.0, -0.0]] {
            let m = metrics(&v).unwrap();
            assert_eq!(m.n, v.len());
            assert_eq!(
                (
                    m.gini,
                    m.hhi,
                    m.entropy_normalized,
                    m.theil,
                    m.top_1_share,
                    m.top_10_share
                ),
                (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
            );
            assert_eq!((m.nakamoto_1_2, m.nakamoto_1_3), (0, 0));
        }
    }

    #[test]
    fn one_entity_holds_everything() {
        let m = metrics(&[7.5]).unwrap();
        assert_eq!((m.nakamoto_1_2, m.nakamoto_1_3, m.n), (1, 1, 1));
        assert_eq!(
            (m.gini, m.hhi, m.entropy_normalized, m.theil),
            (0.0, 1.0, 0.0, 0.0)
        );
        assert_eq!((m.top_1_share, m.top_10_share), (1.0, 1.0));
        // One positive holder among zeros: Gini (n−1)/n, Nakamoto 1.
        let m = metrics(&[0.0, 3.0, 0.0, 0.0]).unwrap();
        assert_eq!((m.nakamoto_1_2, m.nakamoto_1_3), (1, 1));
        assert!((m.gini - 0.75).abs() < 1e-15);
        assert_eq!(m.entropy_normalized, 0.0);
        assert!((m.theil - 4f64.ln()).abs() < 1e-15);
    }

    #[test]
    fn exactly_half_is_not_a_majority() {
        assert_eq!(
            Holdings::from_f64(&[1.0, 1.0])
                .unwrap()
                .nakamoto(Threshold::HALF),
            2
        );
        assert_eq!(
            Holdings::from_amounts(&[5, 3, 2]).nakamoto(Threshold::HALF),
            2
        );
        assert_eq!(
            Holdings::from_amounts(&[5, 3, 2]).nakamoto(Threshold::THIRD),
            1
        );
        // Exactly one third is not more than a third.
        assert_eq!(
            Holdings::from_amounts(&[1, 1, 1]).nakamoto(Threshold::THIRD),
            2
        );
        // x = y + z exactly, so the largest holder has exactly half: no majority. The float
        // total rounds (2^54 + 2 + 2 → 2^54), so a float comparison would wrongly say 1.
        let y = 2f64.powi(53);
        let x = y + 2.0;
        let z = 2.0;
        assert!(2.0 * x > (x + y) + z);
        assert_eq!(
            Holdings::from_f64(&[y, x, z])
                .unwrap()
                .nakamoto(Threshold::HALF),
            2
        );
    }

    #[test]
    fn huge_and_tiny_values_do_not_overflow() {
        let m = metrics(&[f64::MAX, f64::MAX, f64::MAX]).unwrap();
        assert_eq!((m.nakamoto_1_2, m.nakamoto_1_3), (2, 2));
        assert!(m.gini.abs() < 1e-15 && (m.hhi - 1.0 / 3.0).abs() < 1e-15);
        let tiny = f64::from_bits(1);
        let m = metrics(&[tiny, tiny, 2.0 * tiny]).unwrap();
        assert_eq!((m.nakamoto_1_2, m.top_1_share), (2, 0.5));
        let m = metrics_of_amounts(&[u128::MAX, u128::MAX, 1]);
        assert_eq!((m.nakamoto_1_2, m.nakamoto_1_3, m.n), (2, 1, 3));
    }

    #[test]
    fn errors_name_the_index() {
        assert_eq!(
            metrics(&[1.0, -2.0]).unwrap_err(),
            MetricsError::Negative {
                index: 1,
                value: -2.0
            }
        );
        assert!(matches!(
            metrics(&[1.0, 2.0, f64::NAN]),
            Err(MetricsError::NonFinite { index: 2, .. })
        ));
        assert!(matches!(
            metrics(&[f64::INFINITY]),
            Err(MetricsError::NonFinite { index: 0, .. })
        ));
        assert!(Threshold::new(1, 1).is_err() && Threshold::new(0, 3).is_err());
        assert_eq!(Threshold::new(1, 2).unwrap(), Threshold::HALF);
    }

    #[test]
    fn two_thirds_threshold_generalizes() {
        let h = Holdings::from_amounts(&[1; 9]);
        assert_eq!(h.nakamoto(Threshold::new(2, 3).unwrap()), 7);
        assert_eq!(h.nakamoto(Threshold::THIRD), 4);
    }
}
