//! Apply signed transactions to the deai ledger state as a pure, deterministic state machine.
//!
//! Each transaction is a pure transition
//! `apply_tx(&mut State, &SignedTx, &BlockCtx) -> Result<Receipt, TxError>`: no clock, no I/O,
//! no randomness; time and the parent hash arrive in the [`BlockCtx`]. All collections are
//! `BTreeMap`s, all arithmetic is checked integer or `I32F32` fixed point, and
//! [`State::root`] hashes the canonical encoding of the whole state.
//!
//! # Admission, fee and nonce
//! A transaction is *rejected* — no change at all, never included in a block — if its chain id
//! is not this ledger's, its signature does not verify, its nonce is not the signer's next
//! nonce (this stops replays), its fee is below `min_fee`, or the signer's balance cannot pay
//! the fee. Otherwise the fee is burned and the nonce advances, and the call runs. If the call
//! fails, everything it did is undone (an undo journal, not a state copy): *a failed
//! transaction changes only the fee and the nonce*, with one documented exception — the two
//! offence errors leave their evidence: [`TxError::AlreadyRegistered`] records a
//! `DoubleRegistration` offence and [`TxError::RevealMismatch`] marks the commitment as
//! mismatched.
//!
//! # Calls — who may do what
//! - **Transfer** `{to, amount}`: any account, `amount > 0`, not to itself.
//! - **Stake** `{amount}` / **Delegate** `{hotkey, amount}`: move free balance into bonded stake
//!   on the signer itself or on any hotkey (miner or validator). A hotkey's total stake is its
//!   weight; a staker's total stake is its governance voting power.
//! - **Unstake** / **Undelegate**: move bonded stake into unbonding, withdrawable from
//!   `height + unbonding_blocks`. **Withdraw** moves every matured entry to the free balance.
//!   Unbonding stake still counts for slashing of the offender's own stake, so an offender
//!   cannot escape a slash by unstaking.
//! - **SetTake** `{take}`: a hotkey sets the share of its rewards it keeps before its
//!   delegators are paid pro rata (`0 ≤ take ≤ max_take`). See [`rewards::distribute_reward`].
//! - **ProposeTask** `{spec}`: anyone; the reward moves from the proposer's balance into the
//!   task's escrow; round 0 starts `start_delay` blocks later; `max_uids ≤ max_uids_per_task`.
//! - **Register** `{task, role}`: while the task has not ended; total stake at least the task's
//!   `min_stake`; burns `registration_cost`; assigns the next UID up to `max_uids`. Registering
//!   twice on a task is an *offence* (recorded, slashable).
//! - **Commit** `{task, round, kind, hash}`: a registered participant, inside the commit window
//!   of that kind in that round, once per `(task, round, kind, account)`, and only in its role:
//!   on a Yuma task miners commit `Update`s and validators `Weights` (`Vote` is not used); on a
//!   proposer/voter task the round's drawn proposers commit `Update`s and its drawn voters
//!   `Vote`s (`Weights` is not used); anyone registered may commit a `Verdict`.
//! - **Reveal** `{task, round, kind, preimage}`: inside the reveal window; the preimage must hash
//!   to the commitment (`commitment_hash`, which binds the account). A mismatch is an offence;
//!   a commitment still pending when its reveal window closes is a *missed reveal*. A matching
//!   preimage must also decode as its kind's type — `UpdatePreimage`, `WeightsPreimage` (every
//!   UID assigned on the task, none twice; self-weights are accepted and masked by Yuma),
//!   `VotePreimage` — or the reveal fails and the commitment stays pending.
//! - **RecordModel** `{task, round, model, contributors}`: the task's proposer, once per round,
//!   after the round's last block: records the hash of the round's global model and the
//!   updates it aggregates, in order. Every contributor must have revealed, in that round, an
//!   update whose `UpdatePreimage.blob` is the named hash, so anyone holding the blobs can
//!   re-derive the model.
//! - **Slash** `{evidence}`: anyone. The evidence must hold in the state: a missed reveal (the
//!   window closed, no reveal), a recorded mismatch, or a recorded offence. Each piece of
//!   evidence slashes once. The offender loses `slash_fraction(kind)` of every bonded stake on
//!   its hotkey (its delegators' included) and of its own unbonding; `slash_reporter_share` of
//!   that goes to the reporter, the rest is burned or added to the task's escrow
//!   (`slash_destination`). A `BadRound` offence (proposer/voter rounds) is split differently:
//!   `pv_slash_to_pool` of the slashed stake returns to the task's escrow, the rest goes to the
//!   reporter.
//! - **GovPropose** `{change}`: a staker proposes one typed parameter change (it must validate).
//!   **GovVote** `{proposal, approve}`: a staker votes once while voting is open (through
//!   `voting_end`, inclusive). At the end of block `voting_end` the votes are weighed by each
//!   voter's stake *at that moment*; the proposal passes if yes ≥ `gov_quorum` × all bonded
//!   stake and yes > no, and executes at the end of block `voting_end + gov_delay_blocks`
//!   (re-validated then).
//!
//! # Epochs and rounds
//! At the end of the last block of each epoch of a Yuma task, the ledger runs Yuma over stake and
//! revealed weights and pays the epoch's share of the escrow by incentive and dividends
//! ([`epoch`]). Tasks of the proposer/voter mechanism instead draw random proposers and voters at
//! the start of each round and settle each round at its end by the stake-weighted vote
//! ([`pv`]).
//!
//! # Supply
//! `Σ balances + staked + unbonding + escrowed == total_issuance == genesis + minted − burned`
//! after every transaction and block. Only fees, registration costs and burned slashes burn;
//! only epoch emission ([`Rw::mint`]) mints.
#![cfg_attr(not(test), warn(unused_crate_dependencies))]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod apply;
pub mod block;
pub mod epoch;
pub mod error;
pub mod pv;
pub mod receipt;
pub mod rewards;
pub mod state;

pub use apply::{apply_tx, apply_tx_preverified, check_admission};
pub use block::{
    apply_block, apply_block_with_sigs, build_block, build_block_preverified, execute_block,
    genesis_header, BlockCtx,
};
pub use error::{BlockError, ChainError, EvidenceError, Phase, TxError};
pub use pv::{draw_roles, draw_seed};
pub use receipt::{Event, Receipt, TxOutcome};
pub use rewards::{distribute_reward, slash_stake, Funds, RewardSplit};
pub use state::{
    Account, CommitStatus, Commitment, Counters, EpochRecord, GenesisConfig, Journal, ModelRecord,
    Offence, Proposal, ProposalStatus, PvRoles, PvRoundRecord, Registration, Rw, State, Supply,
    Task, Tip,
};
