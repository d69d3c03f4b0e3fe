//! Integration tests of deai-aggregation.

mod attacks;
mod canonical;
mod common;
mod conformance;
mod errors;
mod limits;
mod paths;
mod properties;
mod vectors;
