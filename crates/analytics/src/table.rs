//! Every metric of every layer at every epoch as one table: the columns of `layers.csv` and of
//! `deai chain metrics --over-time`.
//!
//! One row per (task, epoch, layer): `task`, `epoch`, `height`, `layer`, `total`, then the
//! holder count `n` and every other [`Metric`] in [`Metric::ALL`] order. Counts are written as
//! integers, ratios with six decimals. The cells are plain strings so that any renderer (the
//! report crate's CSV and markdown tables) can take them.

use deai_metrics::Metric;

use crate::layer::EpochLayers;

/// The columns that precede the metrics.
const LEADING: [&str; 5] = ["task", "epoch", "height", "layer", "total"];

/// The metrics in column order: the holder count first, then the rest of [`Metric::ALL`].
fn metric_columns() -> impl Iterator<Item = Metric> {
    std::iter::once(Metric::Entities)
        .chain(Metric::ALL.into_iter().filter(|m| *m != Metric::Entities))
}

/// The column names of [`layer_rows`].
pub fn layer_columns() -> Vec<String> {
    LEADING
        .into_iter()
        .map(str::to_string)
        .chain(metric_columns().map(|m| m.key().to_string()))
        .collect()
}

/// One row of formatted cells per (task, epoch, layer), in the order of `epochs` and of their
/// layers.
pub fn layer_rows(epochs: &[EpochLayers]) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for e in epochs {
        for row in &e.layers {
            let mut cells = vec![
                e.task.to_string(),
                e.epoch.to_string(),
                e.height.to_string(),
                row.layer.key().to_string(),
                format!("{}", row.total),
            ];
            cells.extend(metric_columns().map(|m| {
                let value = m.of(&row.metrics);
                // `f64`'s `Display` writes an integral value without a fraction: `12`.
                if m.is_count() {
                    format!("{value}")
                } else {
                    format!("{value:.6}")
                }
            }));
            rows.push(cells);
        }
    }
    rows
}
