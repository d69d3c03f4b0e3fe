//! Aggregate flat model updates with Byzantine-robust rules, and craft the attacks they defend against.
