//! The embedded transport: a [`ChainPort`] over an in-process [`EmbeddedChain`] and
//! [`BlobStore`].
//!
//! The port answers from the chain's in-memory state, which is always the head block's: no
//! read ever waits. Whoever owns the port — the simulator's lockstep driver, `deai demo` —
//! decides when a block is made ([`EmbeddedPort::produce_block`]), so
//! [`ChainPort::wait_for_height`] returns the head at once.
//!
//! A submitted transaction waits in the chain's mempool until the next block. The port
//! remembers it, then the outcome of its block, in a bounded [`ReceiptIndex`], so a role
//! learns its receipt as it would from a node; a transaction older than the index is still
//! located through the store's transaction index, without its outcome.

use deai_chain::state::{Commitment, EpochRecord, PvRoles, PvRoundRecord, Task};
use deai_chain::CommitStatus;
use deai_store::TxState as StoreTxState;
use deai_store::{BlobStore, EmbeddedChain, ProducedBlock, ReceiptIndex, DEFAULT_RECEIPT_CAPACITY};
use deai_types::{
    AccountId, ChainId, CommitKey, Epoch, Hash32, Height, Nonce, Params, Round, SignedTx, TaskId,
};

use crate::port::{ChainPort, Head, OpenCommitment, OpenOffence, PortError, Registered, TxState};

/// The embedded chain and blob store as a [`ChainPort`] (see the module docs).
#[derive(Debug)]
pub struct EmbeddedPort {
    chain: EmbeddedChain,
    blobs: BlobStore,
    receipts: ReceiptIndex,
}

impl EmbeddedPort {
    /// A port over `chain` and `blobs`.
    pub fn new(chain: EmbeddedChain, blobs: BlobStore) -> Self {
        Self {
            chain,
            blobs,
            receipts: ReceiptIndex::new(DEFAULT_RECEIPT_CAPACITY),
        }
    }

    /// The chain, for what a driver reads beyond the roles' needs (state roots, holdings).
    pub fn chain(&self) -> &EmbeddedChain {
        &self.chain
    }

    /// The blob store.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// The chain and the blob store back.
    pub fn into_parts(self) -> (EmbeddedChain, BlobStore) {
        (self.chain, self.blobs)
    }

    /// Produces the next block from the waiting transactions at `timestamp_ms`
    /// ([`EmbeddedChain::produce_block`]) and keeps the outcome of each.
    pub fn produce_block(&mut self, timestamp_ms: u64) -> Result<ProducedBlock, PortError> {
        let produced = self.chain.produce_block(timestamp_ms)?;
        self.receipts.included(&produced.block, &produced.outcomes);
        Ok(produced)
    }

    /// Waits until every block produced so far is on disk.
    pub fn flush(&self) -> Result<(), PortError> {
        Ok(self.chain.flush()?)
    }
}

impl ChainPort for EmbeddedPort {
    fn chain_id(&self) -> Result<ChainId, PortError> {
        Ok(self.chain.state().chain_id().clone())
    }

    fn head(&self) -> Result<Head, PortError> {
        let h = self.chain.head();
        Ok(Head {
            height: h.height,
            hash: h.hash(),
            state_root: h.state_root,
            timestamp_ms: h.timestamp_ms,
        })
    }

    fn params(&self) -> Result<Params, PortError> {
        Ok(self.chain.state().params().clone())
    }

    fn next_nonce(&self, account: &AccountId) -> Result<Nonce, PortError> {
        Ok(self.chain.state().nonce_of(account))
    }

    fn submit(&mut self, tx: SignedTx) -> Result<Hash32, PortError> {
        let (signer, nonce) = (tx.signer, tx.tx.nonce);
        let hash = self.chain.submit(tx)?;
        self.receipts.submitted(hash, signer, nonce);
        Ok(hash)
    }

    fn tx_state(&self, hash: &Hash32) -> Result<TxState, PortError> {
        let mempool = self.chain.mempool();
        let store = self.chain.store();
        let known = self.receipts.state(
            hash,
            |signer, nonce| mempool.contains(signer, nonce, hash),
            |hash| store.tx_location(hash),
        );
        Ok(match known.map_err(deai_store::EmbeddedError::from)? {
            None => TxState::Unknown,
            Some(StoreTxState::Pending) => TxState::Pending,
            Some(StoreTxState::Included {
                location,
                outcome: Some(outcome),
            }) => TxState::Executed {
                at: location,
                outcome,
            },
            Some(StoreTxState::Included {
                location,
                outcome: None,
            }) => TxState::Included { at: location },
        })
    }

    fn task(&self, task: TaskId) -> Result<Option<Task>, PortError> {
        Ok(self.chain.state().task(task).cloned())
    }

    fn registrations(&self, task: TaskId) -> Result<Vec<Registered>, PortError> {
        let state = self.chain.state();
        Ok(state
            .registrations(task)
            .map(|(uid, reg)| Registered {
                uid,
                account: reg.account,
                role: reg.role,
                stake: state.hotkey_stake(&reg.account),
            })
            .collect())
    }

    fn commitment(&self, key: &CommitKey) -> Result<Option<Commitment>, PortError> {
        Ok(self.chain.state().commitment(key).cloned())
    }

    fn open_commitments(&self, task: TaskId) -> Result<Vec<OpenCommitment>, PortError> {
        Ok(self
            .chain
            .state()
            .commitments()
            .filter(|(key, c)| {
                key.task == task && !c.slashed && matches!(c.status, CommitStatus::Pending)
            })
            .map(|(key, c)| OpenCommitment {
                key: *key,
                commitment: c.clone(),
            })
            .collect())
    }

    fn open_offences(&self, task: TaskId) -> Result<Vec<OpenOffence>, PortError> {
        Ok(self
            .chain
            .state()
            .offences()
            .filter(|(_, o)| o.task == task && !o.slashed)
            .map(|(id, o)| OpenOffence {
                id: *id,
                offence: o.clone(),
            })
            .collect())
    }

    fn epoch_record(&self, task: TaskId, epoch: Epoch) -> Result<Option<EpochRecord>, PortError> {
        Ok(self.chain.state().epoch_record(task, epoch).cloned())
    }

    fn pv_roles(&self, task: TaskId, round: Round) -> Result<Option<PvRoles>, PortError> {
        Ok(self.chain.state().pv_roles(task, round).cloned())
    }

    fn pv_round(&self, task: TaskId, round: Round) -> Result<Option<PvRoundRecord>, PortError> {
        Ok(self.chain.state().pv_round(task, round).cloned())
    }

    fn put_blob(&mut self, bytes: &[u8]) -> Result<Hash32, PortError> {
        Ok(self.blobs.put(bytes)?)
    }

    fn get_blob(&self, hash: &Hash32) -> Result<Vec<u8>, PortError> {
        Ok(self.blobs.get(hash)?)
    }

    fn wait_for_height(&mut self, _after: Height) -> Result<Head, PortError> {
        self.head()
    }
}
