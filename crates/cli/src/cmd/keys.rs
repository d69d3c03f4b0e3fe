//! `deai keys …`: named ed25519 keys under `<data-dir>/keys`, and the key helpers the other
//! ledger commands share (load a key, resolve a key name or account id).
//!
//! Everything lives under `--data-dir` (default `./.deai`):
//! - `chain.redb` — blocks, indexes and state (crate `deai-store`);
//! - `keys/NAME.key` — one ed25519 secret seed per named key, as 64 hex characters, mode 0600;
//! - `blobs/` — content-addressed artifacts.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use clap::Subcommand;
use deai_types::{AccountId, Keypair};
use serde_json::json;

use super::print_json;
use crate::Global;

/// `deai keys …`.
#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Generate a new key and store it as <data-dir>/keys/NAME.key.
    New {
        /// Key name: 1-64 of A-Z a-z 0-9 - _.
        name: String,
    },
    /// Print a key's account id (its public key).
    Show {
        /// Key name.
        name: String,
    },
    /// List the stored keys and their account ids.
    List,
}

pub(super) fn keys_dir(global: &Global) -> PathBuf {
    global.data_dir.join("keys")
}

fn check_key_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        bail!("invalid key name {name:?}: use 1-64 of A-Z a-z 0-9 - _");
    }
    Ok(())
}

fn key_path(global: &Global, name: &str) -> anyhow::Result<PathBuf> {
    check_key_name(name)?;
    Ok(keys_dir(global).join(format!("{name}.key")))
}

fn hex_seed(seed: &[u8; 32]) -> String {
    seed.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_seed(text: &str, path: &Path) -> anyhow::Result<[u8; 32]> {
    let t = text.trim();
    if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!(
            "key file {} is malformed: expected 64 hex characters (a 32-byte ed25519 seed)",
            path.display()
        );
    }
    let mut seed = [0u8; 32];
    for (i, byte) in seed.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&t[2 * i..2 * i + 2], 16)?;
    }
    Ok(seed)
}

fn write_key(path: &Path, key: &Keypair) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts
        .open(path)
        .with_context(|| format!("creating key file {}", path.display()))?;
    writeln!(file, "{}", hex_seed(&key.seed()))?;
    file.sync_all()?;
    Ok(())
}

pub(super) fn load_key(global: &Global, name: &str) -> anyhow::Result<Keypair> {
    let path = key_path(global, name)?;
    let text = fs::read_to_string(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow!(
                "no key named {name:?} in {}: create it with `deai keys new {name}` (or run `deai init`)",
                keys_dir(global).display()
            )
        } else {
            anyhow!("reading key file {}: {e}", path.display())
        }
    })?;
    Ok(Keypair::from_seed(parse_seed(&text, &path)?))
}

/// Loads the key `name`, or creates it; returns it and whether it was created.
pub(super) fn load_or_create_key(global: &Global, name: &str) -> anyhow::Result<(Keypair, bool)> {
    let path = key_path(global, name)?;
    if path.exists() {
        return Ok((load_key(global, name)?, false));
    }
    let key = Keypair::generate(&mut rand::rngs::OsRng);
    write_key(&path, &key)?;
    Ok((key, true))
}

fn list_keys(global: &Global) -> anyhow::Result<Vec<(String, AccountId)>> {
    let dir = keys_dir(global);
    let mut out = Vec::new();
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(anyhow!("reading {}: {e}", dir.display())),
    };
    for entry in entries {
        let path = entry?.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".key"))
        else {
            continue;
        };
        let name = name.to_string();
        let key = load_key(global, &name)?;
        out.push((name, key.account()));
    }
    out.sort();
    Ok(out)
}

/// A key name or a hex account id.
pub(super) fn resolve_account(global: &Global, who: &str) -> anyhow::Result<AccountId> {
    let hexish = who.strip_prefix("0x").unwrap_or(who);
    if hexish.len() == 64 && hexish.bytes().all(|b| b.is_ascii_hexdigit()) {
        return who
            .parse::<AccountId>()
            .map_err(|e| anyhow!("invalid account id {who:?}: {e}"));
    }
    load_key(global, who).map(|k| k.account()).map_err(|e| {
        anyhow!("{who:?} is neither a 64-hex-character account id nor a known key name ({e})")
    })
}

/// Runs `deai keys …`.
pub fn run_keys(cmd: KeysCommand, global: &Global) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::New { name } => {
            let path = key_path(global, &name)?;
            if path.exists() {
                bail!(
                    "a key named {name:?} already exists at {}; pick another name",
                    path.display()
                );
            }
            let key = Keypair::generate(&mut rand::rngs::OsRng);
            write_key(&path, &key)?;
            if global.json {
                print_json(&json!({"name": name, "account": key.account().to_string(),
                    "path": path.display().to_string()}))?;
            } else {
                println!("created key {name}: account {}", key.account());
                println!("secret seed stored in {} (mode 0600)", path.display());
            }
        }
        KeysCommand::Show { name } => {
            let key = load_key(global, &name)?;
            if global.json {
                print_json(&json!({"name": name, "account": key.account().to_string()}))?;
            } else {
                println!("{}", key.account());
            }
        }
        KeysCommand::List => {
            let keys = list_keys(global)?;
            if global.json {
                let list: Vec<_> = keys
                    .iter()
                    .map(|(n, a)| json!({"name": n, "account": a.to_string()}))
                    .collect();
                print_json(&serde_json::Value::Array(list))?;
            } else if keys.is_empty() {
                println!(
                    "no keys in {}; create one with `deai keys new NAME` or run `deai init`",
                    keys_dir(global).display()
                );
            } else {
                for (name, account) in keys {
                    println!("{name:<16} {account}");
                }
            }
        }
    }
    Ok(())
}
