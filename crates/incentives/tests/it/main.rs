//! Integration tests of deai-incentives.

mod float_yuma;
mod scenarios;
