//! Define the ids, amounts, fixed-point numbers, hashes, keys and signed transactions that every deai crate shares.
