//! Content-addressed blob store: big off-ledger artifacts (model updates, datasets, task code)
//! live as files named by their blake3 hash, and the ledger only records the hash.
//!
//! Layout: `<root>/aa/bb/<64 hex chars>` where `aa` and `bb` are the first two bytes of the hash
//! in hex (two levels of fan-out keep directories small). A blob admitted for an account has a
//! sidecar `<64 hex chars>.owner` beside it holding the account id in hex. Temporary files live
//! in `<root>/tmp/`.
//!
//! Protocol:
//! - `put(bytes)` hashes the bytes, and if the blob is not present yet writes them to a fresh
//!   temporary file, `fsync`s it, renames it onto its final name and `fsync`s the directory.
//!   A reader therefore never sees a partially written blob under its final name, even after a
//!   crash; leftover temporary files are garbage and are removed by [`BlobStore::open`].
//! - Streaming ([`BlobStore::writer`]): chunks go to a temporary file while they are hashed and
//!   counted; the writer refuses the chunk that would pass its size limit. [`BlobWriter::finish`]
//!   `fsync`s and yields a [`StagedBlob`] (hash and size known); [`BlobStore::admit`] charges it
//!   to an account under a [`Quota`] and renames it into place. Dropping a writer or a staged blob
//!   that was not admitted deletes its temporary file.
//! - `get(hash)` reads the file and re-hashes it: a blob whose content no longer matches its name
//!   is reported as [`BlobError::Corrupt`], never returned.
//! - Blobs larger than the store's size limit are refused on `put` and on `get`.
//!
//! Accounting ([`retention`]): the store keeps, in memory, the bytes each account owns and the
//! bytes of all blobs; [`BlobStore::open`] rebuilds both from the files and sidecars, so nothing
//! but the files has to survive a crash. The first account to upload a blob owns it (a second
//! upload of the same bytes stores nothing and charges nobody, it only renews the blob's age).
//! [`BlobStore::collect_garbage`] deletes blobs that no transaction references once they are
//! older than a retention period.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use deai_types::{AccountId, Hash32};

pub mod retention;

pub use retention::{referenced_blobs, Admitted, GcReport, Quota};

/// Default largest blob accepted: 256 MiB.
pub const DEFAULT_MAX_BLOB_BYTES: u64 = 256 * 1024 * 1024;

/// Errors of the blob store.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// A file-system operation failed.
    #[error("blob store I/O error at {path}: {source}")]
    Io {
        /// The path that was being accessed.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The blob is larger than the store accepts.
    #[error("blob of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Size of the blob in bytes (for a stream: the bytes received when it was cut off).
        size: u64,
        /// Largest size accepted in bytes.
        max: u64,
    },
    /// No blob with this hash is stored.
    #[error("no blob with hash {hash} is stored")]
    NotFound {
        /// The requested hash (hex).
        hash: String,
    },
    /// The stored file does not hash to its name: it was corrupted or tampered with.
    #[error("blob {expected} is corrupt: its content hashes to {actual}")]
    Corrupt {
        /// The hash the blob is stored under (hex).
        expected: String,
        /// The hash of the content found (hex).
        actual: String,
    },
    /// Storing the blob would take the account past its quota.
    #[error(
        "account {account} stores {used} bytes of blobs; {size} more would exceed its quota of \
         {quota} bytes (unreferenced blobs are deleted after the retention period)"
    )]
    QuotaExceeded {
        /// The uploader.
        account: AccountId,
        /// Bytes it owns now.
        used: u64,
        /// Size of the refused blob (or the bytes received when the stream was cut off).
        size: u64,
        /// Its quota in bytes.
        quota: u64,
    },
    /// Storing the blob would take the node past its total blob capacity.
    #[error("the node stores {used} bytes of blobs; {size} more would exceed its capacity of {capacity} bytes")]
    StoreFull {
        /// Bytes stored now.
        used: u64,
        /// Size of the refused blob.
        size: u64,
        /// The node-wide capacity in bytes.
        capacity: u64,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> BlobError + '_ {
    move |source| BlobError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Lower-case hex of a byte string.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Bytes owned per account and in total (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Book {
    pub(crate) per_account: BTreeMap<AccountId, u64>,
    pub(crate) total: u64,
}

impl Book {
    fn add(&mut self, owner: Option<AccountId>, size: u64) {
        self.total = self.total.saturating_add(size);
        if let Some(owner) = owner {
            let used = self.per_account.entry(owner).or_insert(0);
            *used = used.saturating_add(size);
        }
    }

    pub(crate) fn remove(&mut self, owner: Option<AccountId>, size: u64) {
        self.total = self.total.saturating_sub(size);
        if let Some(owner) = owner {
            if let Some(used) = self.per_account.get_mut(&owner) {
                *used = used.saturating_sub(size);
                if *used == 0 {
                    self.per_account.remove(&owner);
                }
            }
        }
    }
}

/// A directory of immutable blobs addressed by their blake3 hash.
#[derive(Debug)]
pub struct BlobStore {
    root: PathBuf,
    max_bytes: u64,
    tmp_counter: AtomicU64,
    book: Mutex<Book>,
}

impl BlobStore {
    /// Opens (creating if needed) a blob store rooted at `root`, with the default size limit,
    /// removes temporary files left by an interrupted write, and rebuilds the byte accounting
    /// from the stored files.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, BlobError> {
        let root = root.into();
        let tmp = root.join("tmp");
        fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
        for entry in fs::read_dir(&tmp).map_err(io_err(&tmp))? {
            let entry = entry.map_err(io_err(&tmp))?;
            let path = entry.path();
            fs::remove_file(&path).map_err(io_err(&path))?;
        }
        let store = Self {
            root,
            max_bytes: DEFAULT_MAX_BLOB_BYTES,
            tmp_counter: AtomicU64::new(0),
            book: Mutex::new(Book::default()),
        };
        let mut book = Book::default();
        for blob in store.list()? {
            book.add(blob.owner, blob.size);
        }
        *store.lock_book() = book;
        Ok(store)
    }

    /// Sets the largest blob size accepted, in bytes.
    #[must_use]
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// The largest blob size accepted, in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// The directory the blobs live in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn lock_book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes of blobs owned by `account`.
    pub fn usage_of(&self, account: &AccountId) -> u64 {
        self.lock_book()
            .per_account
            .get(account)
            .copied()
            .unwrap_or(0)
    }

    /// Bytes of all stored blobs.
    pub fn total_bytes(&self) -> u64 {
        self.lock_book().total
    }

    /// Where the blob with this hash is (or would be) stored.
    pub fn path_of(&self, hash: &Hash32) -> PathBuf {
        let name = hex(&hash.0);
        self.root.join(&name[0..2]).join(&name[2..4]).join(name)
    }

    /// Where the owner of the blob with this hash is recorded.
    pub fn owner_path_of(&self, hash: &Hash32) -> PathBuf {
        self.path_of(hash).with_extension("owner")
    }

    /// Whether a blob with this hash is stored (its content is not checked).
    pub fn contains(&self, hash: &Hash32) -> bool {
        self.path_of(hash).is_file()
    }

    fn tmp_path(&self, label: &str) -> PathBuf {
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        self.root
            .join("tmp")
            .join(format!("{label}.{}.{n}.tmp", std::process::id()))
    }

    /// Stores `bytes` and returns their blake3 hash. Idempotent: storing the same bytes twice
    /// writes them once. The blob is owned by no account.
    pub fn put(&self, bytes: &[u8]) -> Result<Hash32, BlobError> {
        let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if size > self.max_bytes {
            return Err(BlobError::TooLarge {
                size,
                max: self.max_bytes,
            });
        }
        let hash = Hash32(*blake3::hash(bytes).as_bytes());
        let path = self.path_of(&hash);
        if path.is_file() {
            return Ok(hash);
        }
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let tmp = self.tmp_path(&hex(&hash.0));
        {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(io_err(&tmp))?;
            file.write_all(bytes).map_err(io_err(&tmp))?;
            file.sync_all().map_err(io_err(&tmp))?;
        }
        let mut book = self.lock_book();
        if !path.is_file() {
            fs::rename(&tmp, &path).map_err(io_err(&path))?;
            book.add(None, size);
        } else {
            let _ = fs::remove_file(&tmp);
        }
        drop(book);
        sync_dir(&dir)?;
        Ok(hash)
    }

    /// A writer that streams one blob of at most `max_bytes` (and at most the store's limit)
    /// into a temporary file.
    pub fn writer(&self, max_bytes: u64) -> Result<BlobWriter, BlobError> {
        let tmp = self.tmp_path("upload");
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io_err(&tmp))?;
        Ok(BlobWriter {
            file,
            tmp: TempFile(Some(tmp)),
            hasher: blake3::Hasher::new(),
            size: 0,
            max: max_bytes.min(self.max_bytes),
        })
    }

    /// Reads the blob with this hash, checking that its content still hashes to it.
    pub fn get(&self, hash: &Hash32) -> Result<Vec<u8>, BlobError> {
        let path = self.path_of(hash);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(BlobError::NotFound { hash: hex(&hash.0) })
            }
            Err(source) => return Err(BlobError::Io { path, source }),
        };
        let size = file.metadata().map_err(io_err(&path))?.len();
        if size > self.max_bytes {
            return Err(BlobError::TooLarge {
                size,
                max: self.max_bytes,
            });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        file.take(self.max_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(io_err(&path))?;
        let actual = blake3::hash(&bytes);
        if actual.as_bytes() != &hash.0 {
            return Err(BlobError::Corrupt {
                expected: hex(&hash.0),
                actual: hex(actual.as_bytes()),
            });
        }
        Ok(bytes)
    }
}

/// A temporary file that is deleted when dropped unless it was taken.
#[derive(Debug)]
struct TempFile(Option<PathBuf>);

impl TempFile {
    fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }

    fn take(&mut self) -> Option<PathBuf> {
        self.0.take()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = fs::remove_file(path);
        }
    }
}

/// A blob being streamed to a temporary file (see [`BlobStore::writer`]).
#[derive(Debug)]
pub struct BlobWriter {
    file: File,
    tmp: TempFile,
    hasher: blake3::Hasher,
    size: u64,
    max: u64,
}

impl BlobWriter {
    /// Appends a chunk. Refuses (writing nothing of it) a chunk that would take the blob past
    /// the writer's limit; the caller then drops the writer, which deletes the temporary file.
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), BlobError> {
        let size = self
            .size
            .saturating_add(u64::try_from(chunk.len()).unwrap_or(u64::MAX));
        if size > self.max {
            return Err(BlobError::TooLarge {
                size,
                max: self.max,
            });
        }
        self.file
            .write_all(chunk)
            .map_err(io_err(self.tmp.path()))?;
        self.hasher.update(chunk);
        self.size = size;
        Ok(())
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The largest blob this writer accepts.
    pub fn limit(&self) -> u64 {
        self.max
    }

    /// `fsync`s the temporary file and returns the staged blob with its hash and size.
    pub fn finish(self) -> Result<StagedBlob, BlobError> {
        self.file.sync_all().map_err(io_err(self.tmp.path()))?;
        Ok(StagedBlob {
            hash: Hash32(*self.hasher.finalize().as_bytes()),
            size: self.size,
            tmp: self.tmp,
        })
    }
}

/// A fully written blob in a temporary file, not yet visible (see [`BlobStore::admit`]).
#[derive(Debug)]
pub struct StagedBlob {
    hash: Hash32,
    size: u64,
    tmp: TempFile,
}

impl StagedBlob {
    /// The blake3 hash of the content.
    pub fn hash(&self) -> Hash32 {
        self.hash
    }

    /// The size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }
}

/// `fsync`s a directory so that a rename inside it is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), BlobError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// A stored blob as found on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobInfo {
    /// Its hash.
    pub hash: Hash32,
    /// Its size in bytes.
    pub size: u64,
    /// The account charged for it, if any.
    pub owner: Option<AccountId>,
    /// When it was last stored or re-uploaded (the file's modification time).
    pub modified: SystemTime,
}

fn is_hex_name(name: &str, len: usize) -> bool {
    name.len() == len
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_matches_definition() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }

    #[test]
    fn put_get_round_trip_and_layout() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path().join("blobs")).unwrap();
        let hash = store.put(b"hello blobs").unwrap();
        assert_eq!(hash.0, *blake3::hash(b"hello blobs").as_bytes());
        let name = hex(&hash.0);
        let expected = dir
            .path()
            .join("blobs")
            .join(&name[..2])
            .join(&name[2..4])
            .join(&name);
        assert!(expected.is_file());
        assert_eq!(store.get(&hash).unwrap(), b"hello blobs");
        // Idempotent.
        assert_eq!(store.put(b"hello blobs").unwrap(), hash);
        assert_eq!(store.total_bytes(), 11);
    }

    #[test]
    fn corrupt_missing_and_oversized_blobs_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap().with_max_bytes(16);
        let hash = store.put(b"0123456789").unwrap();
        fs::write(store.path_of(&hash), b"0123456789!").unwrap();
        assert!(matches!(store.get(&hash), Err(BlobError::Corrupt { .. })));
        let missing = Hash32([7; 32]);
        assert!(matches!(
            store.get(&missing),
            Err(BlobError::NotFound { .. })
        ));
        assert!(matches!(
            store.put(&[0u8; 17]),
            Err(BlobError::TooLarge { size: 17, max: 16 })
        ));
    }

    #[test]
    fn open_removes_leftover_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("tmp")).unwrap();
        fs::write(dir.path().join("tmp").join("x.tmp"), b"partial").unwrap();
        let _store = BlobStore::open(dir.path()).unwrap();
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    fn tmp_count(store: &BlobStore) -> usize {
        fs::read_dir(store.root().join("tmp")).unwrap().count()
    }

    #[test]
    fn streamed_writer_stops_at_its_limit_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap().with_max_bytes(100);
        let mut w = store.writer(10).unwrap();
        assert_eq!(w.limit(), 10);
        w.write(b"012345").unwrap();
        assert!(matches!(
            w.write(b"6789x"),
            Err(BlobError::TooLarge { size: 11, max: 10 })
        ));
        assert_eq!(tmp_count(&store), 1);
        drop(w);
        assert_eq!(tmp_count(&store), 0);
        // A finished but unadmitted blob is deleted too.
        let mut w = store.writer(1_000).unwrap();
        assert_eq!(w.limit(), 100, "capped by the store's limit");
        w.write(b"abc").unwrap();
        let staged = w.finish().unwrap();
        assert_eq!(staged.hash(), Hash32::of(b"abc"));
        assert_eq!(staged.size(), 3);
        drop(staged);
        assert_eq!(tmp_count(&store), 0);
        assert!(!store.contains(&Hash32::of(b"abc")));
    }
}
