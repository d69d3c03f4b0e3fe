//! The one list of metrics: every field of [`Metrics`] as a [`Metric`], with its key, a short
//! name for files, a human label and its value.
//!
//! Code that treats every metric alike — a CSV column per metric, a plot per metric, a
//! Prometheus gauge per metric — iterates over [`Metric::ALL`] (or a selection of it) instead of
//! naming the fields again, so adding a metric means adding it here and to [`Metrics`]. A unit
//! test pins [`Metric::ALL`] to the serialized field order of [`Metrics`].

use crate::Metrics;

/// One metric of a [`Metrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// Population Gini coefficient ([`Metrics::gini`]).
    Gini,
    /// Nakamoto coefficient at ½ ([`Metrics::nakamoto_1_2`]).
    NakamotoHalf,
    /// Nakamoto coefficient at ⅓ ([`Metrics::nakamoto_1_3`]).
    NakamotoThird,
    /// Herfindahl–Hirschman index ([`Metrics::hhi`]).
    Hhi,
    /// Normalized Shannon entropy ([`Metrics::entropy_normalized`]).
    EntropyNormalized,
    /// Theil-T index ([`Metrics::theil`]).
    Theil,
    /// Share of the largest holder ([`Metrics::top_1_share`]).
    Top1Share,
    /// Share of the three largest holders ([`Metrics::top_3_share`]).
    Top3Share,
    /// Share of the five largest holders ([`Metrics::top_5_share`]).
    Top5Share,
    /// Share of the ten largest holders ([`Metrics::top_10_share`]).
    Top10Share,
    /// Number of entities, zero holdings included ([`Metrics::n`]).
    Entities,
}

impl Metric {
    /// Every metric, in the field order of [`Metrics`] (its JSON key order).
    pub const ALL: [Metric; 11] = [
        Metric::Gini,
        Metric::NakamotoHalf,
        Metric::NakamotoThird,
        Metric::Hhi,
        Metric::EntropyNormalized,
        Metric::Theil,
        Metric::Top1Share,
        Metric::Top3Share,
        Metric::Top5Share,
        Metric::Top10Share,
        Metric::Entities,
    ];

    /// The field name of [`Metrics`]: its JSON key and CSV column.
    pub const fn key(self) -> &'static str {
        match self {
            Metric::Gini => "gini",
            Metric::NakamotoHalf => "nakamoto_1_2",
            Metric::NakamotoThird => "nakamoto_1_3",
            Metric::Hhi => "hhi",
            Metric::EntropyNormalized => "entropy_normalized",
            Metric::Theil => "theil",
            Metric::Top1Share => "top_1_share",
            Metric::Top3Share => "top_3_share",
            Metric::Top5Share => "top_5_share",
            Metric::Top10Share => "top_10_share",
            Metric::Entities => "n",
        }
    }

    /// A short kebab-case name for file names, e.g. `layers-stake-nakamoto.png`.
    pub const fn slug(self) -> &'static str {
        match self {
            Metric::Gini => "gini",
            Metric::NakamotoHalf => "nakamoto",
            Metric::NakamotoThird => "nakamoto-third",
            Metric::Hhi => "hhi",
            Metric::EntropyNormalized => "entropy",
            Metric::Theil => "theil",
            Metric::Top1Share => "top1",
            Metric::Top3Share => "top3",
            Metric::Top5Share => "top5",
            Metric::Top10Share => "top10",
            Metric::Entities => "n",
        }
    }

    /// A human label for titles, axes and help texts.
    pub const fn label(self) -> &'static str {
        match self {
            Metric::Gini => "Gini coefficient",
            Metric::NakamotoHalf => "Nakamoto coefficient (1/2)",
            Metric::NakamotoThird => "Nakamoto coefficient (1/3)",
            Metric::Hhi => "Herfindahl-Hirschman index",
            Metric::EntropyNormalized => "Normalized Shannon entropy",
            Metric::Theil => "Theil-T index",
            Metric::Top1Share => "Share of the largest holder",
            Metric::Top3Share => "Share of the three largest holders",
            Metric::Top5Share => "Share of the five largest holders",
            Metric::Top10Share => "Share of the ten largest holders",
            Metric::Entities => "Number of holders",
        }
    }

    /// Whether the metric counts entities (an integer) rather than being a ratio.
    pub const fn is_count(self) -> bool {
        matches!(
            self,
            Metric::NakamotoHalf | Metric::NakamotoThird | Metric::Entities
        )
    }

    /// The metric's value in `m`, as `f64` (counts convert exactly below 2⁵³).
    pub fn of(self, m: &Metrics) -> f64 {
        match self {
            Metric::Gini => m.gini,
            Metric::NakamotoHalf => m.nakamoto_1_2 as f64,
            Metric::NakamotoThird => m.nakamoto_1_3 as f64,
            Metric::Hhi => m.hhi,
            Metric::EntropyNormalized => m.entropy_normalized,
            Metric::Theil => m.theil,
            Metric::Top1Share => m.top_1_share,
            Metric::Top3Share => m.top_3_share,
            Metric::Top5Share => m.top_5_share,
            Metric::Top10Share => m.top_10_share,
            Metric::Entities => m.n as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_follows_the_serialized_fields_of_metrics() {
        let m = crate::metrics(&[5.0, 3.0, 2.0, 1.0]).unwrap();
        let text = serde_json::to_string(&m).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let object = value.as_object().unwrap();
        assert_eq!(object.len(), Metric::ALL.len());
        let positions: Vec<usize> = Metric::ALL
            .iter()
            .map(|x| text.find(&format!("\"{}\":", x.key())).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
        for metric in Metric::ALL {
            let field = &object[metric.key()];
            assert_eq!(field.as_f64(), Some(metric.of(&m)), "{metric:?}");
            assert_eq!(field.is_u64(), metric.is_count(), "{metric:?}");
        }
    }

    #[test]
    fn names_are_distinct() {
        for name in [Metric::key, Metric::slug, Metric::label] {
            let mut seen: Vec<&str> = Metric::ALL.iter().map(|m| name(*m)).collect();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), Metric::ALL.len());
        }
    }
}
