//! Integration tests of deai-store: round trips, atomic commits, crash recovery with a real
//! child process, verification against tampering, mempool rules and determinism.

mod common;
mod crash;
mod determinism;
mod forged_sigs;
mod mempool;
mod mempool_limits;
mod pacing;
mod store;
mod verify;
