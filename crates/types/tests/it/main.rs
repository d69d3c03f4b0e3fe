//! Integration tests of deai-types: canonical encoding round-trips, random-bytes decoding,
//! fixed-point text, signatures.

mod codec;
mod conformance;
mod fuzz;
