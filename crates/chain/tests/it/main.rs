//! Integration tests of the ledger state machine.

mod common;

mod blocks;
mod codec;
mod conformance;
mod epochs;
mod errors;
mod flows;
mod forged_sigs;
mod fuzz;
mod props;
mod pv;
mod slashing;
