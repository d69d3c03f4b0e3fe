//! Integration tests of deai-node.

mod ledger_sim;
mod sim;
mod toy;
