//! Persist blocks and ledger state in redb atomically, recover after a crash, and keep content-addressed blobs.
