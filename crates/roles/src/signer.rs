//! Who acts: a participant's key, and the nonce of its next transaction.
//!
//! A participant may submit several transactions before a block includes any of them (a task
//! proposer's model record and its slash evidence; a proposer/voter participant's update and
//! vote), and the ledger's nonce counts only included ones. So a [`Signer`] counts its own
//! nonces: it asks the port for the chain id and the ledger's nonce on its first transaction,
//! then numbers the following ones itself. [`Signer::resync`] forgets the count, for a
//! participant that learns a transaction of its never reached a block.

use deai_types::{AccountId, Amount, Call, ChainId, Hash32, Keypair, Nonce, SignedTx, Tx};

use crate::port::{ChainPort, PortError};

/// The fee every transaction of a role pays.
pub const FEE: Amount = Amount(1);

/// A participant's key and nonce count (see the module docs).
pub struct Signer {
    key: Keypair,
    account: AccountId,
    chain: Option<ChainId>,
    next_nonce: Option<u64>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("account", &self.account)
            .field("next_nonce", &self.next_nonce)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer with `key`; it learns the chain and its nonce from the port when it first signs.
    pub fn new(key: Keypair) -> Self {
        let account = key.account();
        Self {
            key,
            account,
            chain: None,
            next_nonce: None,
        }
    }

    /// The account it signs for.
    pub fn account(&self) -> AccountId {
        self.account
    }

    /// Forgets the nonce count: the next transaction asks the port for the ledger's nonce.
    pub fn resync(&mut self) {
        self.next_nonce = None;
    }

    /// `call` signed with the next nonce, paying [`FEE`].
    pub fn sign(&mut self, port: &dyn ChainPort, call: Call) -> Result<SignedTx, PortError> {
        let chain_id = match &self.chain {
            Some(id) => id.clone(),
            None => {
                let id = port.chain_id()?;
                self.chain = Some(id.clone());
                id
            }
        };
        let nonce = match self.next_nonce {
            Some(n) => n,
            None => port.next_nonce(&self.account)?.0,
        };
        let tx = Tx {
            chain_id,
            nonce: Nonce(nonce),
            fee: FEE,
            call,
        };
        self.next_nonce = Some(nonce.saturating_add(1));
        Ok(self.key.sign_tx(tx))
    }

    /// Signs `call` and submits it; returns the transaction's hash. A refused transaction
    /// leaves the nonce count where it was.
    pub fn submit(&mut self, port: &mut dyn ChainPort, call: Call) -> Result<Hash32, PortError> {
        let tx = self.sign(port, call)?;
        let nonce = tx.tx.nonce.0;
        port.submit(tx)
            .inspect_err(|_| self.next_nonce = Some(nonce))
    }
}
