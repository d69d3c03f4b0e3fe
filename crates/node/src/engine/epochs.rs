//! Validator sets per consensus epoch, derived from the finalized chain.
//!
//! A consensus epoch is `epoch_length` consecutive heights (commonware's [`FixedEpocher`]: epoch
//! `e` spans `e·K ..= (e+1)·K − 1`, epoch 0 includes genesis). The set of epoch 0 is the one in
//! the engine config; the set of epoch `e > 0` is what [`Executor::validators_after`] returns for
//! the boundary height `e·K − 1` (the last block of epoch `e − 1`), or the set of epoch `e − 1`
//! when it returns `None`. It is known only once the boundary block is applied, so every node
//! derives the same set from the same finalized state, and marshal cannot verify certificates of
//! an epoch whose boundary this node has not applied yet (it retries them later).

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use commonware_consensus::types::{Epoch, Epocher as _, FixedEpocher, Height};
use commonware_cryptography::certificate::{Provider, Scoped};

use super::{Executor, PrivateKey, PublicKey, Scheme};

/// An epoch's sorted validators, this node's scheme for it and whether that scheme signs.
type Entry = (Vec<PublicKey>, Arc<Scheme>, bool);

/// The validator set of each epoch, computed lazily from the executor and cached.
pub struct EpochSets<X> {
    executor: Arc<X>,
    epocher: FixedEpocher,
    namespace: Vec<u8>,
    signer: PrivateKey,
    genesis: Vec<PublicKey>,
    cache: Mutex<BTreeMap<Epoch, Entry>>,
}

/// A cloneable handle to [`EpochSets`]: marshal's certificate provider.
pub struct EpochProvider<X>(pub Arc<EpochSets<X>>);

impl<X> Clone for EpochProvider<X> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<X: Executor> EpochSets<X> {
    /// Sets over `epocher`, starting from `genesis` (epoch 0).
    pub fn new(
        executor: Arc<X>,
        epocher: FixedEpocher,
        namespace: Vec<u8>,
        signer: PrivateKey,
        genesis: Vec<PublicKey>,
    ) -> Self {
        Self {
            executor,
            epocher,
            namespace,
            signer,
            genesis,
            cache: Mutex::new(BTreeMap::new()),
        }
    }

    /// The validators of `epoch` (sorted), or `None` while its boundary block is not applied.
    pub fn participants(&self, epoch: Epoch) -> Option<Vec<PublicKey>> {
        self.entry(epoch).map(|(set, _, _)| set)
    }

    /// This node's scheme for `epoch`: a signer if it is a validator of the epoch, else a
    /// verifier (the node follows the epoch as an observer). The flag says which.
    pub fn scheme(&self, epoch: Epoch) -> Option<(Arc<Scheme>, bool)> {
        self.entry(epoch).map(|(_, scheme, signs)| (scheme, signs))
    }

    fn entry(&self, epoch: Epoch) -> Option<Entry> {
        if let Some(hit) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&epoch)
        {
            return Some(hit.clone());
        }
        let set = match epoch.previous() {
            None => self.genesis.clone(),
            Some(previous) => {
                let boundary = self.epocher.last(previous)?.get();
                if self.executor.last_applied_height() < boundary {
                    return None;
                }
                match self.executor.validators_after(boundary) {
                    Some(set) if !set.is_empty() => set,
                    _ => self.participants(previous)?,
                }
            }
        };
        let ordered = commonware_utils::ordered::Set::from_iter_dedup(set.iter().cloned());
        let sorted: Vec<PublicKey> = ordered.iter().cloned().collect();
        let (scheme, signs) =
            match Scheme::signer(&self.namespace, ordered.clone(), self.signer.clone()) {
                Some(scheme) => (scheme, true),
                None => (Scheme::verifier(&self.namespace, ordered), false),
            };
        let entry = (sorted, Arc::new(scheme), signs);
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        // Keep a bounded window of recent epochs.
        while cache.len() > 16 {
            cache.pop_first();
        }
        cache.insert(epoch, entry.clone());
        Some(entry)
    }

    /// The epoch that the next block to apply belongs to.
    pub fn current_epoch(&self) -> Epoch {
        let next = self.executor.last_applied_height().saturating_add(1);
        self.epocher
            .containing(Height::new(next))
            .map_or(Epoch::zero(), |info| info.epoch())
    }
}

impl<X: Executor> Provider for EpochProvider<X> {
    type Scope = Epoch;
    type Scheme = Scheme;

    fn scoped(&self, epoch: Epoch) -> Option<Scoped<Scheme>> {
        let (scheme, signs) = self.0.scheme(epoch)?;
        Some(if signs {
            Scoped::scheme(scheme)
        } else {
            Scoped::verifier(scheme)
        })
    }
}
