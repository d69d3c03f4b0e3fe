//! Integration tests of deai-aggregation.

mod attacks;
mod canonical;
mod common;
mod errors;
mod paths;
mod properties;
mod vectors;
