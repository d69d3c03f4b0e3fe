//! The voter of a proposer/voter round: score the round's aggregate, commit the score, reveal
//! it.
//!
//! The round's voters ([`crate::pv::next_draw`]) fetch the proposers' revealed updates as a
//! validator does ([`crate::validator::fetch_update`]), apply the task's rule in canonical
//! mode, and score the result with their behaviour ([`VoterRole::score`]: the accuracy change
//! on their own split, for an honest one). In the vote commit window each commits to a
//! `VotePreimage` (the score in fixed point, a salt) and keeps it unless its behaviour never
//! reveals; in the vote reveal window it reveals, and the ledger settles the round at the end
//! of that block.

use deai_types::{CommitKind, Fixed, Hash32, VotePreimage};

use crate::behaviour::{VoteView, Voter};
use crate::commit::{RoundOf, Sealed};
use crate::port::ChainPort;
use crate::signer::Signer;
use crate::RoleError;

/// A voter: its behaviour and the vote it keeps for its reveal (see the module docs).
pub struct VoterRole {
    behaviour: Box<dyn Voter>,
    sealed: Option<Sealed>,
}

impl std::fmt::Debug for VoterRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoterRole")
            .field("behaviour", &self.behaviour.kind())
            .field("sealed", &self.sealed)
            .finish()
    }
}

impl VoterRole {
    /// A voter that behaves as `behaviour`.
    pub fn new(behaviour: Box<dyn Voter>) -> Self {
        Self {
            behaviour,
            sealed: None,
        }
    }

    /// Its behaviour.
    pub fn behaviour(&self) -> &dyn Voter {
        self.behaviour.as_ref()
    }

    /// An off-chain message: miner number `miner` says its update this round is `blob`.
    pub fn hear(&mut self, miner: usize, blob: [u8; 32]) {
        self.behaviour.hear(miner, blob);
    }

    /// The score its behaviour gives the round.
    pub fn score(&mut self, view: &VoteView<'_>) -> Result<f64, RoleError> {
        self.behaviour.score(view)
    }

    /// Commits to `score` (saturated into fixed point) in `at` with `salt`; the preimage is
    /// kept for the reveal if the behaviour reveals. Returns the commit transaction.
    pub fn commit_vote(
        &mut self,
        port: &mut dyn ChainPort,
        signer: &mut Signer,
        at: RoundOf,
        score: f64,
        salt: [u8; 32],
    ) -> Result<Hash32, RoleError> {
        let preimage = VotePreimage {
            score: Fixed::saturating_from_f64(score),
            salt,
        };
        let sealed = Sealed::new(
            at.key(CommitKind::Vote, signer.account()),
            deai_types::encode(&preimage),
        );
        let tx = sealed.commit(port, signer)?;
        self.sealed = self.behaviour.reveals().then_some(sealed);
        Ok(tx)
    }

    /// Reveals the kept vote, if any; returns the reveal transaction.
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
