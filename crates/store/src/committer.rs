//! A background committer: writes prepared blocks to the [`Store`] on its own thread, so the
//! producer can execute block k+1 while block k is being made durable.
//!
//! Blocks are committed strictly in the order submitted. The queue is bounded (`depth`), so a
//! producer that outruns the disk blocks instead of buffering without limit. After the first
//! failed commit the committer stops and every later call reports the error. A block counts as
//! committed only once [`Committer::durable_height`] reaches it: a crash before that loses it
//! (and only it and its successors), which is what "loses no committed block" means.

use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use deai_types::{Block, Height};

use crate::error::StoreError;
use crate::store::{PreparedCommit, Store};

#[derive(Debug, Default)]
struct Progress {
    durable: u64,
    failure: Option<String>,
    exited: bool,
    committed: Vec<u64>,
}

#[derive(Debug, Default)]
struct Shared {
    progress: Mutex<Progress>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Progress> {
        // A poisoned lock only means the committer thread panicked; the data is still valid.
        self.progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Commits prepared blocks on a background thread; see the module docs.
#[derive(Debug)]
pub struct Committer {
    tx: Option<SyncSender<(Arc<Block>, Vec<u8>)>>,
    shared: Arc<Shared>,
    handle: Option<JoinHandle<()>>,
}

/// Marks the committer as exited when its thread ends, even by a panic.
struct ExitGuard(Arc<Shared>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        self.0.lock().exited = true;
        self.0.changed.notify_all();
    }
}

impl Committer {
    /// Starts a committer for `store`, whose head is at `head`, with at most `depth` blocks
    /// queued behind the one being written.
    pub fn start(store: Arc<Store>, head: Height, depth: usize) -> Self {
        let (tx, rx) = sync_channel::<(Arc<Block>, Vec<u8>)>(depth);
        let shared = Arc::new(Shared {
            progress: Mutex::new(Progress {
                durable: head.0,
                ..Progress::default()
            }),
            changed: Condvar::new(),
        });
        let thread_shared = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("deai-committer".into())
            .spawn(move || {
                let _guard = ExitGuard(Arc::clone(&thread_shared));
                for (block, state_bytes) in rx {
                    // Hashing and encoding the block also happen here, off the producer.
                    let prepared = PreparedCommit::with_state_bytes(block, state_bytes);
                    let height = prepared.height().0;
                    let result = store.commit_prepared(&prepared);
                    drop(prepared);
                    let mut progress = thread_shared.lock();
                    match result {
                        Ok(()) => {
                            progress.durable = height;
                            progress.committed.push(height);
                        }
                        Err(err) => {
                            tracing::error!(height, error = %err, "background commit failed");
                            progress.failure = Some(err.to_string());
                        }
                    }
                    let failed = progress.failure.is_some();
                    drop(progress);
                    thread_shared.changed.notify_all();
                    if failed {
                        break;
                    }
                }
            })
            .ok();
        Self {
            tx: Some(tx),
            shared,
            handle,
        }
    }

    fn stopped(&self) -> StoreError {
        let reason = self
            .shared
            .lock()
            .failure
            .clone()
            .unwrap_or_else(|| "the committer thread exited".into());
        StoreError::CommitterStopped { reason }
    }

    /// Fails if a commit failed or the committer thread is gone.
    pub fn check(&self) -> Result<(), StoreError> {
        let progress = self.shared.lock();
        if progress.failure.is_some() || progress.exited || self.handle.is_none() {
            drop(progress);
            return Err(self.stopped());
        }
        Ok(())
    }

    /// Queues a block and the encoding of its post-state for commit; blocks while the queue is
    /// full. Fails if an earlier commit failed.
    pub fn submit(&self, block: Arc<Block>, state_bytes: Vec<u8>) -> Result<(), StoreError> {
        if self.handle.is_none() {
            return Err(StoreError::CommitterStopped {
                reason: "the committer thread could not be started".into(),
            });
        }
        if self.shared.lock().failure.is_some() {
            return Err(self.stopped());
        }
        match &self.tx {
            Some(tx) => tx.send((block, state_bytes)).map_err(|_| self.stopped()),
            None => Err(self.stopped()),
        }
    }

    /// Height of the last block known to be durably committed.
    pub fn durable_height(&self) -> Height {
        Height(self.shared.lock().durable)
    }

    /// Heights durably committed since the last call, in order (non-blocking).
    pub fn drain_committed(&self) -> Vec<Height> {
        std::mem::take(&mut self.shared.lock().committed)
            .into_iter()
            .map(Height)
            .collect()
    }

    /// Waits until the block at `up_to` is durable; reports the committer's error if a commit
    /// failed first.
    pub fn wait_durable(&self, up_to: Height) -> Result<(), StoreError> {
        let mut progress = self.shared.lock();
        loop {
            if progress.durable >= up_to.0 {
                return Ok(());
            }
            if progress.failure.is_some() || progress.exited {
                drop(progress);
                return Err(self.stopped());
            }
            progress = self
                .shared
                .changed
                .wait(progress)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        // Closing the queue lets the thread finish the queued blocks and exit.
        self.tx = None;
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}
