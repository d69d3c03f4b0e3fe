//! Integration tests of deai-yuma: reference vectors, subtensor's own tests, properties.

mod properties;
mod subnet;
mod subtensor_epoch;
mod subtensor_math;
mod vectors;
