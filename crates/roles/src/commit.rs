//! Commit and reveal: how every role binds itself to a value before anyone can see it.
//!
//! A participant encodes its preimage (`UpdatePreimage`, `WeightsPreimage`, `VotePreimage`),
//! commits to `commitment_hash(key, preimage)` inside the commit window and keeps the
//! preimage ([`Sealed`]) until the reveal window, when it submits the same bytes. The ledger
//! checks the reveal against the commitment; a commitment whose reveal window closes without a
//! reveal is evidence a watchdog turns into a slash ([`crate::proposer`]).
//!
//! The salt makes the commitment hiding. A participant draws it however it likes; a seeded
//! run derives it from the run's seed, the round and the participant ([`seeded_salt`]), so
//! the run is reproducible.

use deai_types::{commitment_hash, AccountId, Call, CommitKey, CommitKind, Hash32, Round, TaskId};

use crate::port::{ChainPort, PortError};
use crate::signer::Signer;

/// The round of a task a role acts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundOf {
    /// The task.
    pub task: TaskId,
    /// The round.
    pub round: Round,
}

impl RoundOf {
    /// The key of `account`'s commitment of `kind` in this round.
    pub fn key(self, kind: CommitKind, account: AccountId) -> CommitKey {
        CommitKey {
            task: self.task,
            round: self.round,
            kind,
            account,
        }
    }
}

/// A preimage committed to and kept for its reveal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    key: CommitKey,
    preimage: Vec<u8>,
}

impl Sealed {
    /// The commitment of `key`'s holder to `preimage` (canonically encoded).
    pub fn new(key: CommitKey, preimage: Vec<u8>) -> Self {
        Self { key, preimage }
    }

    /// Whose commitment, for what.
    pub fn key(&self) -> &CommitKey {
        &self.key
    }

    /// The encoded preimage.
    pub fn preimage(&self) -> &[u8] {
        &self.preimage
    }

    /// The committed hash.
    pub fn hash(&self) -> Hash32 {
        commitment_hash(&self.key, &self.preimage)
    }

    /// The commit transaction's call.
    pub fn commit_call(&self) -> Call {
        Call::Commit {
            task: self.key.task,
            round: self.key.round,
            kind: self.key.kind,
            hash: self.hash(),
        }
    }

    /// The reveal transaction's call.
    pub fn reveal_call(&self) -> Call {
        Call::Reveal {
            task: self.key.task,
            round: self.key.round,
            kind: self.key.kind,
            preimage: self.preimage.clone(),
        }
    }

    /// Signs and submits the commitment; returns the transaction's hash.
    pub fn commit(
        &self,
        port: &mut dyn ChainPort,
        signer: &mut Signer,
    ) -> Result<Hash32, PortError> {
        signer.submit(port, self.commit_call())
    }

    /// Signs and submits the reveal; returns the transaction's hash.
    pub fn reveal(
        &self,
        port: &mut dyn ChainPort,
        signer: &mut Signer,
    ) -> Result<Hash32, PortError> {
        signer.submit(port, self.reveal_call())
    }
}

/// What a salt is for: one per commitment kind, plus the relay's ids under blind validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaltUse {
    /// An update commitment.
    Update,
    /// A weights commitment.
    Weights,
    /// The id under which the relay shows an update.
    RelayId,
    /// A vote commitment.
    Vote,
}

impl SaltUse {
    fn tag(self) -> u8 {
        match self {
            SaltUse::Update => 0,
            SaltUse::Weights => 1,
            SaltUse::RelayId => 2,
            SaltUse::Vote => 3,
        }
    }
}

/// The salt of participant `index` for `purpose` in `round` of a run seeded `seed`:
/// `blake3("deai/sim/salt" ‖ seed ‖ round ‖ index ‖ tag)`, integers little-endian, the tag
/// 0 update, 1 weights, 2 relay id, 3 vote.
pub fn seeded_salt(seed: u64, round: u64, index: u64, purpose: SaltUse) -> [u8; 32] {
    let bytes = [
        b"deai/sim/salt".as_slice(),
        &seed.to_le_bytes(),
        &round.to_le_bytes(),
        &index.to_le_bytes(),
        &[purpose.tag()],
    ]
    .concat();
    *blake3::hash(&bytes).as_bytes()
}
