//! Apply signed transactions to the deai ledger state as a pure, deterministic state machine.
