//! Integration tests of deai-metrics: reference vectors and properties.

mod properties;
mod vectors;
