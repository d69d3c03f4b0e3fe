//! Integration tests of deai-node.

mod bench;
mod http;
mod ledger_sim;
mod sim;
mod toy;
