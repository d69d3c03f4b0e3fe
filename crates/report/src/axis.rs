//! Axis ticks a person reads at a glance: round steps (1, 2 or 5 times a power of ten), whole
//! numbers on integer axes (rounds, epochs), and large values in SI units (`1.2M`, not
//! `1200000.0`).

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;

/// An f64 axis for plotters with our ticks and labels in place of plotters' own.
#[derive(Clone)]
pub(crate) struct TickedAxis {
    range: RangedCoordf64,
    ticks: Ticks,
}

impl TickedAxis {
    /// The axis over `[lo, hi]` with `ticks`.
    pub fn new((lo, hi): (f64, f64), ticks: Ticks) -> Self {
        Self {
            range: (lo..hi).into(),
            ticks,
        }
    }
}

impl Ranged for TickedAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.range.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Grid lines and labels at the ticks only; no light lines between them.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.values.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.range.range()
    }
}

impl ValueFormatter<f64> for TickedAxis {
    fn format_ext(&self, value: &f64) -> String {
        self.ticks.format.label(*value)
    }
}

/// Tick positions of one axis and how their labels are written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ticks {
    /// Tick values inside the axis range, ascending.
    pub values: Vec<f64>,
    /// How each value is written.
    pub format: TickFormat,
}

impl Ticks {
    /// At most `max_ticks` round ticks in `[lo, hi]`; with `integer` the step is a whole number,
    /// so an axis of rounds never shows `0.5`.
    pub fn new(lo: f64, hi: f64, max_ticks: usize, integer: bool) -> Self {
        let step = nice_step(hi - lo, max_ticks.max(2), integer);
        let first = (lo / step).ceil();
        let values: Vec<f64> = (0..)
            .map(|i| (first + f64::from(i)) * step)
            .take_while(|&v| v <= hi + step * 1e-9)
            .map(|v| if v == 0.0 { 0.0 } else { v }) // no "-0"
            .take(max_ticks.max(2) + 1)
            .collect();
        Self {
            values,
            format: TickFormat::new(lo, hi, step),
        }
    }

    /// The labels, one per tick.
    #[cfg(test)]
    pub fn labels(&self) -> Vec<String> {
        self.values.iter().map(|&v| self.format.label(v)).collect()
    }
}

/// The smallest step of 1, 2 or 5 times a power of ten that puts at most `max_ticks` steps in
/// `span`; at least 1 when `integer`.
fn nice_step(span: f64, max_ticks: usize, integer: bool) -> f64 {
    let raw = if span > 0.0 && span.is_finite() {
        span / max_ticks as f64
    } else {
        1.0
    };
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude);
    if integer {
        step.max(1.0)
    } else {
        step
    }
}

/// How the labels of one axis are written: one unit and one number of decimals for all of them,
/// chosen from the axis range and the tick step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TickFormat {
    /// The power of ten the labels are divided by: a multiple of 3 (with an SI suffix), or any
    /// power for scientific notation.
    exponent: i32,
    /// Digits after the decimal point.
    decimals: usize,
    /// Written as `1.5e-4` rather than with a suffix.
    scientific: bool,
}

/// SI suffixes for 10^0, 10^3, … 10^18.
const SI: [&str; 7] = ["", "k", "M", "G", "T", "P", "E"];

impl TickFormat {
    /// The format for an axis over `[lo, hi]` with ticks `step` apart: enough decimals to tell
    /// neighbouring ticks apart, none on whole-number steps.
    pub fn new(lo: f64, hi: f64, step: f64) -> Self {
        let largest = lo.abs().max(hi.abs());
        let step_exp = if step > 0.0 && step.is_finite() {
            step.log10().floor() as i32
        } else {
            0
        };
        let largest_exp = if largest > 0.0 && largest.is_finite() {
            largest.log10().floor() as i32
        } else {
            0
        };
        let decimals_below = |exponent: i32| (exponent - step_exp).clamp(0, 6) as usize;
        if !(-2..21).contains(&largest_exp) {
            return Self {
                exponent: largest_exp,
                decimals: decimals_below(largest_exp).min(3),
                scientific: true,
            };
        }
        let exponent = if largest_exp >= 3 {
            largest_exp.div_euclid(3) * 3
        } else {
            0
        };
        Self {
            exponent,
            decimals: decimals_below(exponent),
            scientific: false,
        }
    }

    /// The label of `value`: `"0"`, `"2"`, `"0.25"`, `"35k"`, `"1.2M"` or `"1.5e-4"`.
    pub fn label(&self, value: f64) -> String {
        if value == 0.0 {
            return "0".into();
        }
        let scaled = value / 10f64.powi(self.exponent);
        let digits = format!("{scaled:.prec$}", prec = self.decimals);
        if self.scientific {
            format!("{digits}e{}", self.exponent)
        } else {
            let suffix = SI[(self.exponent / 3).clamp(0, 6) as usize];
            format!("{digits}{suffix}")
        }
    }
}

/// True when every value is a whole number (rounds, epochs), so the axis gets integer ticks.
pub(crate) fn all_integers(values: impl IntoIterator<Item = f64>) -> bool {
    values
        .into_iter()
        .all(|v| v.fract() == 0.0 && v.abs() < 9.0e15)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_axis_labels_are_whole_numbers() {
        // 20 rounds with at most 10 ticks: 0, 2, 4, … — written "2", not "2.0".
        let t = Ticks::new(0.0, 19.38, 10, true);
        assert_eq!(
            t.labels(),
            ["0", "2", "4", "6", "8", "10", "12", "14", "16", "18"]
        );
        // A short run still steps by whole rounds, never 0.5.
        let t = Ticks::new(1.0, 3.04, 10, true);
        assert_eq!(t.labels(), ["1", "2", "3"]);
        // One round only (bounds padded by ±0.5).
        assert_eq!(Ticks::new(4.5, 5.5, 10, true).labels(), ["5"]);
        assert!(all_integers([0.0, 3.0, 120.0]));
        assert!(!all_integers([0.0, 0.5]));
    }

    #[test]
    fn fraction_axis_labels_have_just_enough_decimals() {
        let t = Ticks::new(0.0, 1.0, 6, false);
        assert_eq!(t.labels(), ["0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        let t = Ticks::new(0.1, 0.35, 6, false);
        assert_eq!(t.labels(), ["0.10", "0.15", "0.20", "0.25", "0.30", "0.35"]);
        let t = Ticks::new(-2.0, 2.0, 4, false);
        assert_eq!(t.labels(), ["-2", "-1", "0", "1", "2"]);
    }

    #[test]
    fn large_values_use_si_units_of_bounded_length() {
        // The rewards plot: cumulative rewards in base units reach ~1e8 and beyond.
        let f = TickFormat::new(0.0, 123_456_789.0, 100_000.0);
        assert_eq!(f.label(123_456_789.0), "123.5M");
        let t = Ticks::new(0.0, 123_456_789.0, 8, true);
        assert_eq!(
            t.labels(),
            ["0", "20M", "40M", "60M", "80M", "100M", "120M"]
        );
        assert_eq!(
            Ticks::new(0.0, 1.5e9, 6, true).labels(),
            ["0", "0.5G", "1.0G", "1.5G"]
        );
        assert_eq!(
            TickFormat::new(0.0, 35_000.0, 5_000.0).label(35_000.0),
            "35k"
        );
        for (lo, hi) in [
            (0.0, 9.9e20),
            (0.0, 4.2e30),
            (-7.7e12, 3.0e12),
            (0.0, 3.0e-4),
        ] {
            for label in Ticks::new(lo, hi, 10, false).labels() {
                assert!(label.len() <= 8, "{label} from [{lo}, {hi}] is too long");
                assert!(!label.contains("0000"), "{label} from [{lo}, {hi}]");
            }
        }
        assert_eq!(TickFormat::new(0.0, 3.0e-4, 5.0e-5).label(1.5e-4), "1.5e-4");
    }
}
