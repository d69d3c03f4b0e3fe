//! Integration tests of deai-node.

mod bench;
mod epochs;
mod http;
mod ledger_sim;
mod sim;
mod toy;
