//! Integration tests of deai-yuma: reference vectors, subtensor's own tests, properties.

mod fuzz;
mod properties;
mod subnet;
mod subtensor_epoch;
mod subtensor_math;
mod vectors;
