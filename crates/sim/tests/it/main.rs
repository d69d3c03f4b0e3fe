//! Integration tests of deai-sim: scenario files, a short run end to end, determinism,
//! slashing of actors that do not reveal, and model re-derivation.

mod conformance;
mod defences;
mod fuzz;
mod harness;
mod pv;
mod run;
mod scenario;
mod targets;
