//! Integration tests of deai-node.

mod sim;
mod toy;
