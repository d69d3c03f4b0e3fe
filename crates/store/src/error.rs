//! Errors of the chain store.

use std::path::PathBuf;

/// Errors of [`crate::Store`].
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory holds no chain yet.
    #[error("no chain found in {dir}: run `deai init` first to create one")]
    NotInitialized {
        /// The data directory that was searched.
        dir: PathBuf,
    },
    /// `init` was called on a directory that already holds a chain.
    #[error("a chain already exists in {dir}: open it, or remove it (`deai init --force`) to start over")]
    AlreadyInitialized {
        /// The data directory.
        dir: PathBuf,
    },
    /// Another process holds the data directory's lock (`<dir>/LOCK`): a node or another
    /// command has the chain open.
    #[error("data directory {dir} is in use by another process ({holder}); stop it and retry")]
    Locked {
        /// The data directory.
        dir: PathBuf,
        /// Who holds it, e.g. `pid 1234`, as recorded in the lock file.
        holder: String,
    },
    /// A file-system operation failed.
    #[error("I/O error at {path}: {source}")]
    Io {
        /// The path that was being accessed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The embedded database reported an error.
    #[error("database error while {context}: {source}")]
    Db {
        /// What the store was doing.
        context: &'static str,
        /// The underlying error.
        source: Box<redb::Error>,
    },
    /// A stored record failed to decode: the database is corrupt or from another version.
    #[error("stored {what} is corrupt: {reason}")]
    Corrupt {
        /// Which record.
        what: String,
        /// Why it could not be used.
        reason: String,
    },
    /// The database was written by an incompatible version of this store.
    #[error(
        "database schema version {found} is not supported (this build reads version {supported})"
    )]
    SchemaVersion {
        /// Version found on disk.
        found: u32,
        /// Version this build reads and writes.
        supported: u32,
    },
    /// A block does not extend the current head.
    #[error("block at height {got} does not extend the head: expected height {expected_height} with parent {expected_parent}")]
    NotNextBlock {
        /// Height of the offered block.
        got: u64,
        /// Height the next block must have.
        expected_height: u64,
        /// Hash the next block's parent must be (hex).
        expected_parent: String,
    },
    /// The state offered with a block does not have the block's state root.
    #[error("state root {actual} does not match the root {expected} in block {height}'s header")]
    StateRootMismatch {
        /// Height of the block.
        height: u64,
        /// Root in the header (hex).
        expected: String,
        /// Root of the state offered (hex).
        actual: String,
    },
    /// The ledger refused the genesis configuration.
    #[error("invalid genesis: {0}")]
    Genesis(String),
    /// The background committer stopped (its error was reported earlier, or it panicked).
    #[error("the background block committer stopped: {reason}")]
    CommitterStopped {
        /// What is known about why.
        reason: String,
    },
}

impl StoreError {
    pub(crate) fn db(context: &'static str) -> impl FnOnce(redb::Error) -> StoreError {
        move |source| StoreError::Db {
            context,
            source: Box::new(source),
        }
    }
}

/// Converts any redb error into [`StoreError::Db`] with a short context.
pub(crate) trait DbContext<T> {
    fn ctx(self, context: &'static str) -> Result<T, StoreError>;
}

impl<T, E: Into<redb::Error>> DbContext<T> for Result<T, E> {
    fn ctx(self, context: &'static str) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::db(context)(e.into()))
    }
}
