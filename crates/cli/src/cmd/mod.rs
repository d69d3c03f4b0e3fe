//! One module per subcommand family.

pub mod aggregate;
pub mod bench;
pub mod concentration;
pub mod eval;
pub mod ledger;
pub mod metrics;
pub mod node;
pub mod sim;
pub mod train;
pub mod yuma;
