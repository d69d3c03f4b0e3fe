//! Integration tests of deai-roles: the roles on an embedded port, as a driver plays them.

mod fixture;
mod miner;
mod proposer;
mod validator;
