//! The miner: train, publish the update, commit to it, reveal it.
//!
//! 1. **Train** ([`MinerRole::train`]): the behaviour turns the global model into an update.
//!    Training touches no chain, so a driver may train many miners in parallel.
//! 2. **Commit** (the update commit window, [`MinerRole::commit`]): put the update's blob
//!    ([`deai_ml::blob::encode`]) where validators can fetch it, encode an `UpdatePreimage`
//!    (blob address, number of values, salt) and commit to it. The miner keeps the preimage
//!    — unless its behaviour never reveals.
//! 3. **Reveal** (the update reveal window, [`MinerRole::reveal`]): submit the kept preimage.
//!    Under blind validation the miner first hands the same preimage to the task's relay off
//!    the chain ([`MinerRole::sealed`]) and reveals on chain only after the weights are bound.

use deai_types::{CommitKind, Hash32, UpdatePreimage};

use crate::behaviour::{Miner, MinerView};
use crate::commit::{RoundOf, Sealed};
use crate::port::ChainPort;
use crate::signer::Signer;
use crate::RoleError;

/// What a miner committed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommittedUpdate {
    /// The update's blob address.
    pub blob: Hash32,
    /// The commit transaction.
    pub tx: Hash32,
}

/// A miner: its behaviour and the preimage it keeps for its reveal (see the module docs).
pub struct MinerRole {
    behaviour: Box<dyn Miner>,
    sealed: Option<Sealed>,
}

impl std::fmt::Debug for MinerRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MinerRole")
            .field("behaviour", &self.behaviour.kind())
            .field("sealed", &self.sealed)
            .finish()
    }
}

impl MinerRole {
    /// A miner that behaves as `behaviour`.
    pub fn new(behaviour: Box<dyn Miner>) -> Self {
        Self {
            behaviour,
            sealed: None,
        }
    }

    /// Its behaviour.
    pub fn behaviour(&self) -> &dyn Miner {
        self.behaviour.as_ref()
    }

    /// The update its behaviour makes of the round's view.
    pub fn train(&mut self, view: &MinerView<'_>) -> Result<Vec<f32>, RoleError> {
        self.behaviour.update(view)
    }

    /// Puts `update`'s blob, then commits to it in `at` with `salt`. The preimage is kept for
    /// the reveal if the behaviour reveals.
    pub fn commit(
        &mut self,
        port: &mut dyn ChainPort,
        signer: &mut Signer,
        at: RoundOf,
        update: &[f32],
        salt: [u8; 32],
    ) -> Result<CommittedUpdate, RoleError> {
        let blob = port.put_blob(&deai_ml::blob::encode(update))?;
        let preimage = UpdatePreimage {
            blob,
            len: update.len() as u64,
            salt,
        };
        let sealed = Sealed::new(
            at.key(CommitKind::Update, signer.account()),
            deai_types::encode(&preimage),
        );
        let tx = sealed.commit(port, signer)?;
        self.sealed = self.behaviour.reveals().then_some(sealed);
        Ok(CommittedUpdate { blob, tx })
    }

    /// The preimage it keeps for its reveal, if any: what it hands the relay under blind
    /// validation.
    pub fn sealed(&self) -> Option<&Sealed> {
        self.sealed.as_ref()
    }

    /// Reveals the kept preimage, if any; returns the reveal transaction.
    pub fn reveal(
        &mut self,
        port: &mut dyn ChainPort,
        signer: &mut Signer,
    ) -> Result<Option<Hash32>, RoleError> {
        match self.sealed.take() {
            Some(sealed) => Ok(Some(sealed.reveal(port, signer)?)),
            None => Ok(None),
        }
    }
}
