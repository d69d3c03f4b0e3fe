//! One module per subcommand family.

pub mod aggregate;
pub mod bench;
pub mod chain;
pub mod concentration;
pub mod eval;
pub mod init;
pub mod keys;
pub mod metrics;
pub mod node;
mod remote;
pub mod sim;
pub mod train;
pub mod tx;
pub mod yuma;

/// `scripts/<name>`: in the current directory if it is there (a checkout), else in the source
/// tree this binary was built from.
pub fn bundled_script(name: &str) -> std::path::PathBuf {
    let local = std::path::Path::new("scripts").join(name);
    if local.is_file() {
        local
    } else {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../scripts")
            .join(name)
    }
}

/// Prints a JSON value, pretty.
pub(crate) fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
