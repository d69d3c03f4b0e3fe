//! Integration tests of deai-node.

mod api;
mod bench;
mod blob_fetch;
mod blobs;
mod epochs;
mod gossip;
mod http;
mod http_errors;
mod ledger_sim;
mod pacing;
mod serve;
mod sim;
mod toy;
