//! Who owns which blob, per-account quotas, and garbage collection of unreferenced blobs.
//!
//! - Ownership: [`BlobStore::admit`] records the uploader in a sidecar file written (and renamed
//!   into place) *before* the blob itself, so a crash leaves either nothing, an orphan sidecar
//!   (removed by the next [`BlobStore::open`]) or an owned blob — never an uncharged upload.
//! - Quotas: an account may own at most [`Quota::per_account`] bytes and the node stores at most
//!   [`Quota::total`] bytes; the check and the rename happen under one lock, so concurrent uploads
//!   cannot both squeeze under a limit.
//! - Retention: a blob is *referenced* when the ledger state names it ([`referenced_blobs`]: a
//!   task's model, dataset and eval commitments, a revealed update's blob, a recorded model and
//!   its contributors). [`BlobStore::collect_garbage`] deletes every blob that is not referenced
//!   and was last stored or re-uploaded at least the retention period before `now` (an input, so
//!   tests control the clock). An update is uploaded before its hash is committed and only named
//!   on the ledger at its reveal, so the retention period must cover a commit-reveal round.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use deai_chain::{CommitStatus, State};
use deai_types::{decode, AccountId, CommitKind, Hash32, UpdatePreimage};

use super::{hex, io_err, is_hex_name, sync_dir, BlobError, BlobInfo, BlobStore, StagedBlob};

/// Default bytes of blobs one account may own: 1 GiB.
pub const DEFAULT_ACCOUNT_QUOTA_BYTES: u64 = 1 << 30;
/// Default bytes of blobs one node stores: 64 GiB.
pub const DEFAULT_NODE_CAPACITY_BYTES: u64 = 64 << 30;

/// Storage limits applied by [`BlobStore::admit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Most bytes of blobs one account may own.
    pub per_account: u64,
    /// Most bytes of blobs the store holds.
    pub total: u64,
}

impl Default for Quota {
    fn default() -> Self {
        Self {
            per_account: DEFAULT_ACCOUNT_QUOTA_BYTES,
            total: DEFAULT_NODE_CAPACITY_BYTES,
        }
    }
}

/// What [`BlobStore::admit`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admitted {
    /// The blob's hash.
    pub hash: Hash32,
    /// Its size in bytes.
    pub size: u64,
    /// False if the blob was already stored (nothing written or charged; its age renewed).
    pub stored: bool,
}

/// What one garbage collection did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// The deleted blobs.
    pub deleted: Vec<Hash32>,
    /// Bytes freed.
    pub freed_bytes: u64,
    /// Blobs kept because the ledger references them.
    pub kept_referenced: usize,
    /// Unreferenced blobs kept because they are younger than the retention period.
    pub kept_young: usize,
}

/// Every blob hash the ledger state references (see the module docs).
pub fn referenced_blobs(state: &State) -> BTreeSet<Hash32> {
    let mut out = BTreeSet::new();
    for (_, task) in state.tasks() {
        out.extend([task.spec.model, task.spec.dataset, task.spec.eval]);
    }
    for (key, commitment) in state.commitments() {
        if key.kind != CommitKind::Update {
            continue;
        }
        if let CommitStatus::Revealed { preimage, .. } = &commitment.status {
            if let Ok(update) = decode::<UpdatePreimage>(preimage) {
                out.insert(update.blob);
            }
        }
    }
    for (_, record) in state.model_records() {
        out.insert(record.model);
        out.extend(record.contributors.iter().map(|(_, blob)| *blob));
    }
    out
}

fn not_found_ok(result: io::Result<()>, path: &std::path::Path) -> Result<(), BlobError> {
    match result {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(BlobError::Io {
            path: path.to_path_buf(),
            source: err,
        }),
        _ => Ok(()),
    }
}

impl BlobStore {
    /// Bytes `account` may still store under `quota` (the smaller of its own and the node's
    /// headroom).
    pub fn headroom(&self, account: &AccountId, quota: &Quota) -> u64 {
        let book = self.lock_book();
        let used = book.per_account.get(account).copied().unwrap_or(0);
        quota
            .per_account
            .saturating_sub(used)
            .min(quota.total.saturating_sub(book.total))
    }

    /// Makes a staged blob visible, charged to `owner` under `quota`. A blob already stored is
    /// not written or charged again; its age is renewed. Over a limit, nothing is stored and the
    /// temporary file is deleted.
    pub fn admit(
        &self,
        staged: StagedBlob,
        owner: &AccountId,
        quota: &Quota,
    ) -> Result<Admitted, BlobError> {
        let StagedBlob {
            hash,
            size,
            mut tmp,
        } = staged;
        let path = self.path_of(&hash);
        let mut book = self.lock_book();
        if path.is_file() {
            let renewed = File::options()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_modified(SystemTime::now()));
            not_found_ok(renewed, &path)?;
            return Ok(Admitted {
                hash,
                size,
                stored: false,
            });
        }
        let used = book.per_account.get(owner).copied().unwrap_or(0);
        if used.saturating_add(size) > quota.per_account {
            return Err(BlobError::QuotaExceeded {
                account: *owner,
                used,
                size,
                quota: quota.per_account,
            });
        }
        if book.total.saturating_add(size) > quota.total {
            return Err(BlobError::StoreFull {
                used: book.total,
                size,
                capacity: quota.total,
            });
        }
        let dir = path.parent().unwrap_or(self.root()).to_path_buf();
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let owner_tmp = self.tmp_path("owner");
        {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&owner_tmp)
                .map_err(io_err(&owner_tmp))?;
            writeln!(file, "{}", hex(owner.as_bytes())).map_err(io_err(&owner_tmp))?;
            file.sync_all().map_err(io_err(&owner_tmp))?;
        }
        let owner_path = self.owner_path_of(&hash);
        if let Err(source) = fs::rename(&owner_tmp, &owner_path) {
            let _ = fs::remove_file(&owner_tmp);
            return Err(BlobError::Io {
                path: owner_path,
                source,
            });
        }
        let Some(blob_tmp) = tmp.take() else {
            return Err(BlobError::Io {
                path,
                source: io::Error::other("staged blob has no temporary file"),
            });
        };
        if let Err(source) = fs::rename(&blob_tmp, &path) {
            let _ = fs::remove_file(&blob_tmp);
            let _ = fs::remove_file(&owner_path);
            return Err(BlobError::Io { path, source });
        }
        book.add(Some(*owner), size);
        drop(book);
        sync_dir(&dir)?;
        Ok(Admitted {
            hash,
            size,
            stored: true,
        })
    }

    /// Every stored blob with its size, owner and modification time.
    pub fn list(&self) -> Result<Vec<BlobInfo>, BlobError> {
        Ok(self.scan()?.0)
    }

    /// The blobs, and the sidecars whose blob is missing.
    pub(crate) fn scan(&self) -> Result<(Vec<BlobInfo>, Vec<PathBuf>), BlobError> {
        let mut blobs = Vec::new();
        let mut orphans = Vec::new();
        let root = self.root();
        let subdirs = |dir: &std::path::Path| -> Result<Vec<PathBuf>, BlobError> {
            let mut out = Vec::new();
            for entry in fs::read_dir(dir).map_err(io_err(dir))? {
                let path = entry.map_err(io_err(dir))?.path();
                let hexdir = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| is_hex_name(n, 2));
                if hexdir && path.is_dir() {
                    out.push(path);
                }
            }
            Ok(out)
        };
        for first in subdirs(root)? {
            for second in subdirs(&first)? {
                for entry in fs::read_dir(&second).map_err(io_err(&second))? {
                    let path = entry.map_err(io_err(&second))?.path();
                    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                        continue;
                    };
                    if let Some(stem) = name.strip_suffix(".owner") {
                        if is_hex_name(stem, 64) && !path.with_extension("").is_file() {
                            orphans.push(path);
                        }
                        continue;
                    }
                    let Ok(hash) = name.parse::<Hash32>() else {
                        continue;
                    };
                    if !is_hex_name(name, 64) {
                        continue;
                    }
                    let meta = fs::metadata(&path).map_err(io_err(&path))?;
                    let owner = match fs::read_to_string(self.owner_path_of(&hash)) {
                        Ok(text) => text.trim().parse::<AccountId>().ok(),
                        Err(_) => None,
                    };
                    blobs.push(BlobInfo {
                        hash,
                        size: meta.len(),
                        owner,
                        modified: meta.modified().map_err(io_err(&path))?,
                    });
                }
            }
        }
        blobs.sort_by_key(|b| b.hash.0);
        Ok((blobs, orphans))
    }

    /// Deletes every blob not in `referenced` whose last store is at least `retention` before
    /// `now`, and returns what it did. Runs file-system I/O: call it off async runtime threads.
    pub fn collect_garbage(
        &self,
        referenced: &BTreeSet<Hash32>,
        now: SystemTime,
        retention: Duration,
    ) -> Result<GcReport, BlobError> {
        let mut report = GcReport::default();
        let (blobs, orphans) = self.scan()?;
        for orphan in orphans {
            not_found_ok(fs::remove_file(&orphan), &orphan)?;
        }
        for blob in blobs {
            if referenced.contains(&blob.hash) {
                report.kept_referenced += 1;
                continue;
            }
            let path = self.path_of(&blob.hash);
            let mut book = self.lock_book();
            // Re-read the age under the lock: an upload may have renewed the blob meanwhile.
            let modified = match fs::metadata(&path).and_then(|m| m.modified()) {
                Ok(modified) => modified,
                Err(_) => continue,
            };
            if now.duration_since(modified).unwrap_or(Duration::ZERO) < retention {
                report.kept_young += 1;
                continue;
            }
            not_found_ok(fs::remove_file(&path), &path)?;
            let owner_path = self.owner_path_of(&blob.hash);
            not_found_ok(fs::remove_file(&owner_path), &owner_path)?;
            book.remove(blob.owner, blob.size);
            report.deleted.push(blob.hash);
            report.freed_bytes = report.freed_bytes.saturating_add(blob.size);
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deai_types::Keypair;

    fn stage(store: &BlobStore, bytes: &[u8]) -> StagedBlob {
        let mut w = store.writer(u64::MAX).unwrap();
        w.write(bytes).unwrap();
        w.finish().unwrap()
    }

    fn age(store: &BlobStore, hash: &Hash32, when: SystemTime) {
        File::options()
            .write(true)
            .open(store.path_of(hash))
            .unwrap()
            .set_modified(when)
            .unwrap();
    }

    #[test]
    fn admission_charges_the_first_uploader_and_enforces_both_limits() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let alice = Keypair::from_seed([1; 32]).account();
        let bob = Keypair::from_seed([2; 32]).account();
        let quota = Quota {
            per_account: 10,
            total: 15,
        };
        let a = store
            .admit(stage(&store, b"0123456"), &alice, &quota)
            .unwrap();
        assert!(a.stored);
        assert_eq!(store.usage_of(&alice), 7);
        assert_eq!(store.headroom(&alice, &quota), 3);
        // The same bytes again, by anyone: nothing stored, nobody charged.
        let again = store
            .admit(stage(&store, b"0123456"), &bob, &quota)
            .unwrap();
        assert!(!again.stored);
        assert_eq!(store.usage_of(&bob), 0);
        // Alice's quota.
        let err = store
            .admit(stage(&store, b"abcd"), &alice, &quota)
            .unwrap_err();
        assert!(matches!(
            err,
            BlobError::QuotaExceeded {
                used: 7,
                size: 4,
                quota: 10,
                ..
            }
        ));
        // The node's capacity.
        let err = store
            .admit(stage(&store, b"abcdefghi"), &bob, &quota)
            .unwrap_err();
        assert!(matches!(
            err,
            BlobError::StoreFull {
                used: 7,
                size: 9,
                capacity: 15
            }
        ));
        assert_eq!(fs::read_dir(store.root().join("tmp")).unwrap().count(), 0);
        assert_eq!(store.list().unwrap().len(), 1);
        // Reopening rebuilds the accounting from the files.
        drop(store);
        let store = BlobStore::open(dir.path()).unwrap();
        assert_eq!(store.usage_of(&alice), 7);
        assert_eq!(store.total_bytes(), 7);
        assert_eq!(store.list().unwrap()[0].owner, Some(alice));
    }

    #[test]
    fn garbage_collection_deletes_only_old_unreferenced_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let alice = Keypair::from_seed([1; 32]).account();
        let quota = Quota::default();
        let old = store
            .admit(stage(&store, b"old"), &alice, &quota)
            .unwrap()
            .hash;
        let referenced = store
            .admit(stage(&store, b"ref"), &alice, &quota)
            .unwrap()
            .hash;
        let young = store
            .admit(stage(&store, b"young!"), &alice, &quota)
            .unwrap()
            .hash;
        let now = SystemTime::now() + Duration::from_secs(10);
        let day = Duration::from_secs(86_400);
        age(&store, &old, now - day - Duration::from_secs(1));
        age(&store, &referenced, now - 2 * day);
        let report = store
            .collect_garbage(&BTreeSet::from([referenced]), now, day)
            .unwrap();
        assert_eq!(report.deleted, vec![old]);
        assert_eq!(report.freed_bytes, 3);
        assert_eq!((report.kept_referenced, report.kept_young), (1, 1));
        assert!(!store.contains(&old) && !store.owner_path_of(&old).exists());
        assert!(store.contains(&referenced) && store.contains(&young));
        assert_eq!(store.usage_of(&alice), 9);
        assert_eq!(store.total_bytes(), 9);
    }
}
