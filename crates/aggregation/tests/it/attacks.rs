//! Attacks (later).
