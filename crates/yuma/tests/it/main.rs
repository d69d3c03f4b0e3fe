//! Integration tests of deai-yuma: reference vectors, subtensor's own tests, properties.

mod vectors;
