//! Content-addressed blob store: big off-ledger artifacts (model updates, datasets, task code)
//! live as files named by their blake3 hash, and the ledger only records the hash.
//!
//! Layout: `<root>/aa/bb/<64 hex chars>` where `aa` and `bb` are the first two bytes of the hash
//! in hex (two levels of fan-out keep directories small). Temporary files live in `<root>/tmp/`.
//!
//! Protocol:
//! - `put(bytes)` hashes the bytes, and if the blob is not present yet writes them to a fresh
//!   temporary file, `fsync`s it, renames it onto its final name and `fsync`s the directory.
//!   A reader therefore never sees a partially written blob under its final name, even after a
//!   crash; leftover temporary files are garbage and are removed by [`BlobStore::open`].
//! - `get(hash)` reads the file and re-hashes it: a blob whose content no longer matches its name
//!   is reported as [`BlobError::Corrupt`], never returned.
//! - Blobs larger than the store's size limit are refused on `put` and on `get`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use deai_types::Hash32;

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
        /// Size of the blob in bytes.
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

/// A directory of immutable blobs addressed by their blake3 hash.
#[derive(Debug)]
pub struct BlobStore {
    root: PathBuf,
    max_bytes: u64,
    tmp_counter: AtomicU64,
}

impl BlobStore {
    /// Opens (creating if needed) a blob store rooted at `root`, with the default size limit,
    /// and removes temporary files left by an interrupted `put`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, BlobError> {
        let root = root.into();
        let tmp = root.join("tmp");
        fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
        for entry in fs::read_dir(&tmp).map_err(io_err(&tmp))? {
            let entry = entry.map_err(io_err(&tmp))?;
            let path = entry.path();
            fs::remove_file(&path).map_err(io_err(&path))?;
        }
        Ok(Self {
            root,
            max_bytes: DEFAULT_MAX_BLOB_BYTES,
            tmp_counter: AtomicU64::new(0),
        })
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

    /// Where the blob with this hash is (or would be) stored.
    pub fn path_of(&self, hash: &Hash32) -> PathBuf {
        let name = hex(&hash.0);
        self.root.join(&name[0..2]).join(&name[2..4]).join(name)
    }

    /// Whether a blob with this hash is stored (its content is not checked).
    pub fn contains(&self, hash: &Hash32) -> bool {
        self.path_of(hash).is_file()
    }

    /// Stores `bytes` and returns their blake3 hash. Idempotent: storing the same bytes twice
    /// writes them once.
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
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        let tmp =
            self.root
                .join("tmp")
                .join(format!("{}.{}.{n}.tmp", hex(&hash.0), std::process::id()));
        {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(io_err(&tmp))?;
            file.write_all(bytes).map_err(io_err(&tmp))?;
            file.sync_all().map_err(io_err(&tmp))?;
        }
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        sync_dir(&dir)?;
        Ok(hash)
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

/// `fsync`s a directory so that a rename inside it is durable.
fn sync_dir(dir: &Path) -> Result<(), BlobError> {
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
}
