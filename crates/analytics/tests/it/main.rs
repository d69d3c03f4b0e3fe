//! Integration tests of deai-analytics: the layers measured by replaying the chain a short
//! simulated run left (one row per epoch, the head's root, cumulative sums, model and data
//! contribution against the simulator's own record, grouping by owner), the report's use of
//! every layer, and the formats pinned byte for byte (table columns, Prometheus gauges).

mod distributions;
mod fixture;
mod layers;
mod report;
mod table;
