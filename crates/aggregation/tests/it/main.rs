//! Integration tests of deai-aggregation.

mod attacks;
mod canonical;
mod common;
mod errors;
mod limits;
mod paths;
mod properties;
mod vectors;
