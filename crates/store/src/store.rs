//! The block and state store: one redb file, `<data-dir>/chain.redb`.
//!
//! Schema (see [`schema`]):
//! - `blocks`: height → canonical encoding of the [`Block`];
//! - `block_hashes`: header hash → height;
//! - `tx_index`: signed-transaction hash → (height, index in the block);
//! - `state`: `"current"` → canonical encoding of the [`State`] after the head block;
//! - `meta`: `"schema_version"`, `"head"` (height as little-endian u64, then the head block's
//!   header hash) and `"genesis"` (the
//!   canonical encoding of the [`GenesisConfig`]).
//!
//! Atomicity: a block, its index entries, the post-state and the new head are written in ONE
//! redb write transaction with `Durability::Immediate`, so after a crash (even `kill -9` or a
//! power cut in the middle of a commit) the file holds exactly the blocks whose commit returned,
//! plus possibly the one in flight — never a block without its state or a state without its
//! block. The block at height 0 is the genesis block: no transactions, the genesis state root.
//!
//! Exclusion: a [`Store`] holds the data directory's [`DataDirLock`] (`<data-dir>/LOCK`) for its
//! lifetime, so a running node holds it as long as it runs; a command that deletes or rewrites a
//! data directory takes the same lock first ([`Store::reinit`] for `deai init --force`) and is
//! refused with [`StoreError::Locked`] while another process holds it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use deai_chain::{GenesisConfig, State};
use deai_types::{decode, encode, Block, Hash32, Header, Height};
use redb::{Database, Durability, ReadableTable, ReadableTableMetadata};

use crate::error::{DbContext, StoreError};

/// The redb tables of the store. Public so tools (and tamper tests) can inspect the file.
pub mod schema {
    use redb::TableDefinition;

    /// Height → encoded block.
    pub const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
    /// Header hash → height.
    pub const BLOCK_HASHES: TableDefinition<[u8; 32], u64> = TableDefinition::new("block_hashes");
    /// Signed-transaction hash → (height, index in block).
    pub const TX_INDEX: TableDefinition<[u8; 32], (u64, u32)> = TableDefinition::new("tx_index");
    /// `"current"` → encoded state after the head block.
    pub const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("state");
    /// Store metadata: schema version, head height, genesis configuration.
    pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

    /// Key of the current state in [`STATE`].
    pub const STATE_CURRENT: &str = "current";
    /// Key of the schema version (u32 little-endian) in [`META`].
    pub const META_SCHEMA_VERSION: &str = "schema_version";
    /// Key of the head in [`META`]: height (u64 little-endian) then header hash (32 bytes).
    pub const META_HEAD: &str = "head";
    /// Key of the encoded genesis configuration in [`META`].
    pub const META_GENESIS: &str = "genesis";

    /// Version of this schema.
    pub const SCHEMA_VERSION: u32 = 1;
}

use schema::*;

/// File name of the chain database inside the data directory.
pub const DB_FILE: &str = "chain.redb";

/// File name of the data directory's lock inside the data directory.
pub const LOCK_FILE: &str = "LOCK";

/// An exclusive advisory lock on a data directory, `<dir>/LOCK`, held until dropped.
///
/// [`Store::open`] and [`Store::init`] take it, so every process with the chain open (a node,
/// `deai tx`, the simulator) holds it; anything that deletes or rewrites a data directory takes
/// it first and gets [`StoreError::Locked`] while another process holds it. The file records
/// the holder's process id for that message. The lock is the operating system's (`flock` on
/// Unix, `LockFileEx` on Windows), released when the holder exits, even by a crash: a leftover
/// file never blocks anyone.
#[derive(Debug)]
pub struct DataDirLock {
    dir: PathBuf,
    /// Kept open: closing it releases the lock.
    _file: File,
}

impl DataDirLock {
    /// Takes the lock of the existing directory `dir`, or fails with [`StoreError::Locked`]
    /// naming the holder's process id.
    pub fn acquire(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let dir = dir.as_ref();
        let path = dir.join(LOCK_FILE);
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let holder = match file.read_to_string(&mut text) {
                    Ok(_) => match text.trim().parse::<u32>() {
                        Ok(pid) if pid == std::process::id() => format!("pid {pid}, this process"),
                        Ok(pid) => format!("pid {pid}"),
                        Err(_) => "pid unknown".into(),
                    },
                    Err(_) => "pid unknown".into(),
                };
                return Err(StoreError::Locked {
                    dir: dir.to_path_buf(),
                    holder,
                });
            }
            Err(std::fs::TryLockError::Error(source)) => return Err(io(source)),
        }
        file.set_len(0).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            _file: file,
        })
    }

    /// The locked directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The persistent chain: blocks, indexes, current state and metadata in one redb file.
#[derive(Debug)]
pub struct Store {
    db: Database,
    path: PathBuf,
    /// Released after `db` is closed (fields drop in declaration order).
    _lock: DataDirLock,
}

/// Where a transaction was included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxLocation {
    /// Height of the block that holds it.
    pub height: Height,
    /// Position in that block's transaction list.
    pub index: u32,
}

/// A block ready to be written: the block, its encoding and the encoding of the post-state.
/// Built by [`PreparedCommit::new`] so the expensive encoding can run off the commit thread.
#[derive(Debug, Clone)]
pub struct PreparedCommit {
    /// The block.
    pub block: Arc<Block>,
    /// Hash of its header.
    pub block_hash: Hash32,
    /// Hashes of its transactions, in order.
    pub tx_hashes: Vec<Hash32>,
    /// Canonical encoding of the block.
    pub block_bytes: Vec<u8>,
    /// Canonical encoding of the state after the block.
    pub state_bytes: Vec<u8>,
}

impl PreparedCommit {
    /// Encodes a block and its post-state for [`Store::commit_prepared`].
    pub fn new(block: impl Into<Arc<Block>>, state: &State) -> Self {
        let state_bytes = encode(state);
        Self::with_state_bytes(block, state_bytes)
    }

    /// Like [`PreparedCommit::new`] with the state already encoded.
    pub fn with_state_bytes(block: impl Into<Arc<Block>>, state_bytes: Vec<u8>) -> Self {
        let block = block.into();
        let block_hash = block.header.hash();
        let tx_hashes = block.txs.iter().map(|tx| tx.hash()).collect();
        let block_bytes = encode(&*block);
        Self {
            block,
            block_hash,
            tx_hashes,
            block_bytes,
            state_bytes,
        }
    }

    /// Height of the block.
    pub fn height(&self) -> Height {
        self.block.header.height
    }
}

fn open_db(path: &Path, create: bool) -> Result<Database, StoreError> {
    let result = if create {
        Database::create(path)
    } else {
        Database::open(path)
    };
    result.map_err(|err| match err {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Locked {
            dir: path.parent().unwrap_or(path).to_path_buf(),
            holder: "pid unknown".into(),
        },
        other => StoreError::db("opening the database")(other.into()),
    })
}

/// Decodes the `head` meta record: (height, header hash).
fn decode_head(bytes: &[u8]) -> Result<(u64, Hash32), StoreError> {
    let arr: [u8; 40] = bytes.try_into().map_err(|_| StoreError::Corrupt {
        what: "head record".into(),
        reason: format!("expected 40 bytes, found {}", bytes.len()),
    })?;
    let mut height = [0u8; 8];
    height.copy_from_slice(&arr[..8]);
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&arr[8..]);
    Ok((u64::from_le_bytes(height), Hash32(hash)))
}

fn encode_head(height: u64, hash: &Hash32) -> [u8; 40] {
    let mut out = [0u8; 40];
    out[..8].copy_from_slice(&height.to_le_bytes());
    out[8..].copy_from_slice(&hash.0);
    out
}

fn corrupt(what: impl Into<String>) -> impl FnOnce(deai_types::DecodeError) -> StoreError {
    let what = what.into();
    move |err| StoreError::Corrupt {
        what,
        reason: err.to_string(),
    }
}

impl Store {
    /// Path of the database file inside a data directory.
    pub fn db_path(dir: &Path) -> PathBuf {
        dir.join(DB_FILE)
    }

    /// Whether `dir` holds a chain database.
    pub fn exists(dir: &Path) -> bool {
        Self::db_path(dir).is_file()
    }

    /// Opens the chain in `dir`; fails with [`StoreError::NotInitialized`] if there is none.
    /// Opening after a crash recovers to the last committed block.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let dir = dir.as_ref();
        let path = Self::db_path(dir);
        if !path.is_file() {
            return Err(StoreError::NotInitialized {
                dir: dir.to_path_buf(),
            });
        }
        let lock = DataDirLock::acquire(dir)?;
        let db = open_db(&path, false)?;
        let store = Self {
            db,
            path,
            _lock: lock,
        };
        let version = store.schema_version()?;
        match version {
            Some(SCHEMA_VERSION) => Ok(store),
            Some(found) => Err(StoreError::SchemaVersion {
                found,
                supported: SCHEMA_VERSION,
            }),
            // A crash during `init` leaves an empty file: it holds no chain.
            None => Err(StoreError::NotInitialized {
                dir: dir.to_path_buf(),
            }),
        }
    }

    /// Creates a new chain in `dir` from `genesis` and commits the genesis block (height 0,
    /// `deai_chain::genesis_header`, no transactions). Fails with
    /// [`StoreError::AlreadyInitialized`] if `dir` holds one.
    pub fn init(
        dir: impl AsRef<Path>,
        genesis: &GenesisConfig,
    ) -> Result<(Self, State), StoreError> {
        let dir = dir.as_ref();
        Self::init_locked(Self::lock_new_dir(dir)?, genesis)
    }

    /// Deletes the chain in `dir` (if any) and creates a new one from `genesis`, holding the
    /// directory's [`DataDirLock`] from before the deletion until the returned store is
    /// dropped: while another process has the chain open this fails with
    /// [`StoreError::Locked`] and deletes nothing (`deai init --force`).
    pub fn reinit(
        dir: impl AsRef<Path>,
        genesis: &GenesisConfig,
    ) -> Result<(Self, State), StoreError> {
        let dir = dir.as_ref();
        let lock = Self::lock_new_dir(dir)?;
        let path = Self::db_path(dir);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(StoreError::Io { path, source }),
        }
        Self::init_locked(lock, genesis)
    }

    /// Creates `dir` if needed and takes its lock.
    fn lock_new_dir(dir: &Path) -> Result<DataDirLock, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        DataDirLock::acquire(dir)
    }

    fn init_locked(
        lock: DataDirLock,
        genesis: &GenesisConfig,
    ) -> Result<(Self, State), StoreError> {
        let dir = lock.dir().to_path_buf();
        let path = Self::db_path(&dir);
        let db = open_db(&path, true)?;
        let store = Self {
            db,
            path,
            _lock: lock,
        };
        if store.schema_version()?.is_some() {
            return Err(StoreError::AlreadyInitialized { dir });
        }
        let state = State::genesis(genesis).map_err(|e| StoreError::Genesis(e.to_string()))?;
        let block = Block {
            header: deai_chain::genesis_header(&state),
            txs: Vec::new(),
        };
        let prepared = PreparedCommit::new(block, &state);
        store.write(&prepared, Some(genesis))?;
        Ok((store, state))
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn schema_version(&self) -> Result<Option<u32>, StoreError> {
        let rtx = self.db.begin_read().ctx("starting a read")?;
        let meta = match rtx.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(StoreError::db("opening the meta table")(e.into())),
        };
        let Some(v) = meta
            .get(META_SCHEMA_VERSION)
            .ctx("reading the schema version")?
        else {
            return Ok(None);
        };
        let bytes = v.value();
        let arr: [u8; 4] = bytes.try_into().map_err(|_| StoreError::Corrupt {
            what: "schema version".into(),
            reason: format!("expected 4 bytes, found {}", bytes.len()),
        })?;
        Ok(Some(u32::from_le_bytes(arr)))
    }

    /// Height and header hash of the last committed block.
    pub fn head_id(&self) -> Result<(Height, Hash32), StoreError> {
        let rtx = self.db.begin_read().ctx("starting a read")?;
        let meta = rtx.open_table(META).ctx("opening the meta table")?;
        let v = meta
            .get(META_HEAD)
            .ctx("reading the head")?
            .ok_or_else(|| StoreError::Corrupt {
                what: "head".into(),
                reason: "missing".into(),
            })?;
        let (height, hash) = decode_head(v.value())?;
        Ok((Height(height), hash))
    }

    /// Height of the last committed block.
    pub fn head_height(&self) -> Result<Height, StoreError> {
        Ok(self.head_id()?.0)
    }

    /// Header of the last committed block.
    pub fn head(&self) -> Result<Header, StoreError> {
        let h = self.head_height()?;
        let block = self.block(h)?.ok_or_else(|| StoreError::Corrupt {
            what: format!("block {}", h.0),
            reason: "the head block is missing".into(),
        })?;
        Ok(block.header)
    }

    /// The block at `height`, if committed.
    pub fn block(&self, height: Height) -> Result<Option<Block>, StoreError> {
        let rtx = self.db.begin_read().ctx("starting a read")?;
        let blocks = rtx.open_table(BLOCKS).ctx("opening the blocks table")?;
        let Some(v) = blocks.get(height.0).ctx("reading a block")? else {
            return Ok(None);
        };
        decode::<Block>(v.value())
            .map(Some)
            .map_err(corrupt(format!("block {}", height.0)))
    }

    /// Height of the block whose header hashes to `hash`, if committed.
    pub fn height_of_block(&self, hash: &Hash32) -> Result<Option<Height>, StoreError> {
        let rtx = self.db.begin_read().ctx("starting a read")?;
        let t = rtx
            .open_table(BLOCK_HASHES)
            .ctx("opening the block hash table")?;
        Ok(t.get(hash.0)
            .ctx("reading a block hash")?
            .map(|v| Height(v.value())))
    }

    /// Where the transaction with this hash was included, if it was.
    pub fn tx_location(&self, hash: &Hash32) -> Result<Option<TxLocation>, StoreError> {
        let rtx = self.db.begin_read().ctx("starting a read")?;
        let t = rtx.open_table(TX_INDEX).ctx("opening the tx index")?;
        Ok(t.get(hash.0).ctx("reading the tx index")?.map(|v| {
            let (height, index) = v.value();
            TxLocation {
                height: Height(height),
                index,
            }
        }))
    }

    /// Number of transactions in the index.
    pub fn tx_count(&self) -> Result<u64, StoreError> {
        let rtx = self.db.begin_read().ctx("starting a read")?;
        let t = rtx.open_table(TX_INDEX).ctx("opening the tx index")?;
        t.len().ctx("counting transactions")
    }

    /// The state after the head block.
    pub fn state(&self) -> Result<State, StoreError> {
        let rtx = self.db.begin_read().ctx("starting a read")?;
        let t = rtx.open_table(STATE).ctx("opening the state table")?;
        let v = t
            .get(STATE_CURRENT)
            .ctx("reading the state")?
            .ok_or_else(|| StoreError::Corrupt {
                what: "state".into(),
                reason: "missing".into(),
            })?;
        decode::<State>(v.value()).map_err(corrupt("state"))
    }

    /// The genesis configuration the chain was created from.
    pub fn genesis(&self) -> Result<GenesisConfig, StoreError> {
        let rtx = self.db.begin_read().ctx("starting a read")?;
        let meta = rtx.open_table(META).ctx("opening the meta table")?;
        let v = meta
            .get(META_GENESIS)
            .ctx("reading the genesis")?
            .ok_or_else(|| StoreError::Corrupt {
                what: "genesis".into(),
                reason: "missing".into(),
            })?;
        decode::<GenesisConfig>(v.value()).map_err(corrupt("genesis configuration"))
    }

    /// Commits `block` and the state after it, atomically. The block must extend the head and
    /// `state.root()` must equal the block's state root.
    pub fn commit_block(&self, block: &Block, state: &State) -> Result<(), StoreError> {
        let root = state.root();
        if root != block.header.state_root {
            return Err(StoreError::StateRootMismatch {
                height: block.header.height.0,
                expected: block.header.state_root.to_string(),
                actual: root.to_string(),
            });
        }
        self.commit_prepared(&PreparedCommit::new(block.clone(), state))
    }

    /// Commits a prepared block and post-state, atomically. The block must extend the head; the
    /// state bytes are trusted to be the post-state (the producer computed both).
    pub fn commit_prepared(&self, prepared: &PreparedCommit) -> Result<(), StoreError> {
        self.write(prepared, None)
    }

    fn write(&self, p: &PreparedCommit, genesis: Option<&GenesisConfig>) -> Result<(), StoreError> {
        let mut wtx = self.db.begin_write().ctx("starting a write")?;
        wtx.set_durability(Durability::Immediate);
        {
            let mut meta = wtx.open_table(META).ctx("opening the meta table")?;
            let height = p.block.header.height.0;
            match genesis {
                Some(g) => {
                    meta.insert(META_SCHEMA_VERSION, SCHEMA_VERSION.to_le_bytes().as_slice())
                        .ctx("writing the schema version")?;
                    meta.insert(META_GENESIS, encode(g).as_slice())
                        .ctx("writing the genesis")?;
                }
                None => {
                    let (head, head_hash) = match meta.get(META_HEAD).ctx("reading the head")? {
                        Some(v) => decode_head(v.value())?,
                        None => {
                            return Err(StoreError::Corrupt {
                                what: "head".into(),
                                reason: "missing".into(),
                            })
                        }
                    };
                    if Some(height) != head.checked_add(1)
                        || p.block.header.parent_hash != head_hash
                    {
                        return Err(StoreError::NotNextBlock {
                            got: height,
                            expected_height: head.saturating_add(1),
                            expected_parent: head_hash.to_string(),
                        });
                    }
                }
            }
            meta.insert(META_HEAD, encode_head(height, &p.block_hash).as_slice())
                .ctx("writing the head")?;
            let mut blocks = wtx.open_table(BLOCKS).ctx("opening the blocks table")?;
            blocks
                .insert(height, p.block_bytes.as_slice())
                .ctx("writing the block")?;
            let mut hashes = wtx
                .open_table(BLOCK_HASHES)
                .ctx("opening the block hash table")?;
            hashes
                .insert(p.block_hash.0, height)
                .ctx("writing the block hash")?;
            let mut txs = wtx.open_table(TX_INDEX).ctx("opening the tx index")?;
            for (i, h) in p.tx_hashes.iter().enumerate() {
                let index = u32::try_from(i).map_err(|_| StoreError::Corrupt {
                    what: format!("block {height}"),
                    reason: "more than 2^32 transactions".into(),
                })?;
                txs.insert(h.0, (height, index))
                    .ctx("writing the tx index")?;
            }
            let mut state = wtx.open_table(STATE).ctx("opening the state table")?;
            state
                .insert(STATE_CURRENT, p.state_bytes.as_slice())
                .ctx("writing the state")?;
        }
        wtx.commit().ctx("committing")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use deai_types::{ChainId, Params};

    use super::*;

    fn genesis(time: u64) -> GenesisConfig {
        GenesisConfig {
            chain_id: ChainId::new("deai-lock-test").unwrap(),
            genesis_time_ms: time,
            accounts: Vec::new(),
            stakes: Vec::new(),
            params: Params::default(),
        }
    }

    fn holder_of(err: StoreError) -> String {
        match err {
            StoreError::Locked { holder, .. } => holder,
            other => panic!("expected Locked, got {other}"),
        }
    }

    #[test]
    fn an_open_store_holds_the_data_dir_lock() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::init(dir.path(), &genesis(1)).unwrap();
        let me = format!("pid {}, this process", std::process::id());
        assert_eq!(
            std::fs::read_to_string(dir.path().join(LOCK_FILE))
                .unwrap()
                .trim(),
            std::process::id().to_string()
        );
        assert_eq!(holder_of(Store::open(dir.path()).unwrap_err()), me);
        assert_eq!(holder_of(DataDirLock::acquire(dir.path()).unwrap_err()), me);
        let err = Store::reinit(dir.path(), &genesis(2)).unwrap_err();
        assert!(
            err.to_string()
                .contains("is in use by another process (pid "),
            "{err}"
        );
        // reinit deleted nothing: the open store still reads the first genesis.
        let head = store.head().unwrap();
        drop(store);
        let reopened = Store::open(dir.path()).unwrap();
        assert_eq!(reopened.head().unwrap(), head);
        assert_eq!(reopened.genesis().unwrap(), genesis(1));
    }

    #[test]
    fn reinit_replaces_the_chain_once_the_lock_is_free() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::init(dir.path(), &genesis(1)).unwrap());
        // A leftover lock file (a crashed holder) blocks nobody.
        std::fs::write(dir.path().join(LOCK_FILE), "999999999\n").unwrap();
        let (store, _) = Store::reinit(dir.path(), &genesis(2)).unwrap();
        assert_eq!(store.genesis().unwrap(), genesis(2));
        drop(store);
        // reinit of a directory without a chain creates one.
        let empty = tempfile::tempdir().unwrap();
        let (store, _) = Store::reinit(empty.path().join("new"), &genesis(3)).unwrap();
        assert_eq!(store.genesis().unwrap(), genesis(3));
    }
}
