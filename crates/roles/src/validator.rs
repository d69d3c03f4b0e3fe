//! The validator: fetch the revealed updates, score them, commit weights, reveal them.
//!
//! 1. **Fetch** ([`revealed_preimage`], [`fetch_update`]): read a miner's revealed update
//!    preimage from its commitment, decode it, get the blob it names through the port and
//!    check it with [`deai_ml::blob::decode`] (the model's number of values, all finite). An
//!    update that fails is rejected off the chain with an [`UpdateRejection`] and scores
//!    nothing. Under blind validation the relay fetches the preimages it was handed the same
//!    way and shows the updates without their origin.
//! 2. **Score** ([`ValidatorRole::score`]): the behaviour turns the shown updates into one
//!    `u16` weight each ([`crate::behaviour::validator`]); a lazy one re-submits the last
//!    epoch's consensus ([`last_consensus`]).
//! 3. **Commit** (the weights commit window, [`ValidatorRole::commit_weights`]): encode a
//!    `WeightsPreimage` of `(uid, weight)` pairs and commit to it, keeping the preimage unless
//!    the behaviour never reveals.
//! 4. **Reveal** (the weights reveal window, [`ValidatorRole::reveal`]); the ledger runs the
//!    epoch at the end of the last block of the round.

use std::collections::BTreeMap;

use deai_chain::state::EpochRecord;
use deai_chain::CommitStatus;
use deai_types::{
    CommitKey, CommitKind, DecodeError, Hash32, Uid, UpdatePreimage, WeightsPreimage,
};

use crate::behaviour::{Candidate, Validator, ValidatorView};
use crate::commit::{RoundOf, Sealed};
use crate::port::{ChainPort, PortError};
use crate::signer::Signer;
use crate::RoleError;

/// A revealed update that passed the off-chain checks.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedUpdate {
    /// Its blob address: what the ledger records as a contribution.
    pub blob: Hash32,
    /// The update: finite, with the model's number of values.
    pub delta: Vec<f32>,
}

/// Why a revealed update was rejected off the chain.
#[derive(Debug, thiserror::Error)]
pub enum UpdateRejection {
    /// The revealed bytes are not an `UpdatePreimage`.
    #[error("preimage does not decode: {0}")]
    Preimage(#[source] DecodeError),
    /// The blob it names could not be fetched.
    #[error(transparent)]
    Blob(#[from] PortError),
    /// The blob is not an update of the model's size with finite values.
    #[error(transparent)]
    Format(#[from] deai_ml::BlobFormatError),
}

/// The preimage revealed for the commitment `key`, if it was revealed.
pub fn revealed_preimage(
    port: &dyn ChainPort,
    key: &CommitKey,
) -> Result<Option<Vec<u8>>, PortError> {
    Ok(port.commitment(key)?.and_then(|c| match c.status {
        CommitStatus::Revealed { preimage, .. } => Some(preimage),
        _ => None,
    }))
}

/// Fetches and checks the update an encoded update preimage points to: the preimage must
/// decode, the blob must exist and hold `values` finite values.
pub fn fetch_update(
    port: &dyn ChainPort,
    preimage: &[u8],
    values: usize,
) -> Result<FetchedUpdate, UpdateRejection> {
    let pre: UpdatePreimage = deai_types::decode(preimage).map_err(UpdateRejection::Preimage)?;
    let bytes = port.get_blob(&pre.blob)?;
    let delta = deai_ml::blob::decode(&bytes, values)?;
    Ok(FetchedUpdate {
        blob: pre.blob,
        delta,
    })
}

/// Each miner's consensus weight in the epoch `record`, scaled so the largest is 65535, by
/// UID: what a lazy validator re-submits.
pub fn last_consensus(record: &EpochRecord, miners: &[Uid]) -> BTreeMap<u16, u16> {
    let mut consensus: BTreeMap<u16, u16> = miners
        .iter()
        .map(|uid| {
            let c = record
                .consensus
                .get(usize::from(uid.0))
                .map_or(0.0, |x| x.to_f64());
            (uid.0, (c.clamp(0.0, 1.0) * 65535.0).round() as u16)
        })
        .collect();
    let max = consensus.values().copied().max().unwrap_or(0);
    if max > 0 {
        for v in consensus.values_mut() {
            *v = ((u32::from(*v) * 65535) / u32::from(max)) as u16;
        }
    }
    consensus
}

/// A validator: its behaviour and the weights it keeps for its reveal (see the module docs).
pub struct ValidatorRole {
    behaviour: Box<dyn Validator>,
    sealed: Option<Sealed>,
}

impl std::fmt::Debug for ValidatorRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidatorRole")
            .field("behaviour", &self.behaviour.kind())
            .field("sealed", &self.sealed)
            .finish()
    }
}

impl ValidatorRole {
    /// A validator that behaves as `behaviour`.
    pub fn new(behaviour: Box<dyn Validator>) -> Self {
        Self {
            behaviour,
            sealed: None,
        }
    }

    /// Its behaviour.
    pub fn behaviour(&self) -> &dyn Validator {
        self.behaviour.as_ref()
    }

    /// An off-chain message: miner number `miner` says its update this round is `blob`.
    pub fn hear(&mut self, miner: usize, blob: [u8; 32]) {
        self.behaviour.hear(miner, blob);
    }

    /// One weight per shown candidate, in the order shown.
    pub fn score(
        &mut self,
        view: &ValidatorView<'_>,
        candidates: &[Candidate<'_>],
    ) -> Result<Vec<u16>, RoleError> {
        self.behaviour.weights(view, candidates)
    }

    /// Commits to `weights` in `at` with `salt`; the preimage is kept for the reveal if the
    /// behaviour reveals. Returns the commit transaction.
    pub fn commit_weights(
        &mut self,
        port: &mut dyn ChainPort,
        signer: &mut Signer,
        at: RoundOf,
        weights: Vec<(Uid, u16)>,
        salt: [u8; 32],
    ) -> Result<Hash32, RoleError> {
        let preimage = WeightsPreimage { weights, salt };
        let sealed = Sealed::new(
            at.key(CommitKind::Weights, signer.account()),
            deai_types::encode(&preimage),
        );
        let tx = sealed.commit(port, signer)?;
        self.sealed = self.behaviour.reveals().then_some(sealed);
        Ok(tx)
    }

    /// Reveals the kept weights, if any; returns the reveal transaction.
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
