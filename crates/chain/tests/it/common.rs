//! A small harness: funded accounts, one-transaction blocks, a standard task.

use std::collections::BTreeMap;

use deai_chain::*;
use deai_types::*;

pub const FUND: u128 = 1_000_000;
pub const FEE: u128 = 1;

pub fn params() -> Params {
    Params {
        unbonding_blocks: 5,
        registration_cost: Amount(100),
        max_uids_per_task: 8,
        gov_voting_blocks: 3,
        gov_delay_blocks: 2,
        ..Params::default()
    }
}

pub struct Env {
    pub state: State,
    pub keys: Vec<Keypair>,
    pub head: Header,
}

impl Env {
    pub fn new() -> Env {
        Env::with(params(), 6)
    }

    pub fn with(params: Params, n: usize) -> Env {
        let keys: Vec<Keypair> = (0..n)
            .map(|i| Keypair::from_seed([i as u8 + 1; 32]))
            .collect();
        let cfg = GenesisConfig::funded(
            ChainId::new("deai-test").unwrap(),
            keys.iter().map(Keypair::account),
            Amount(FUND),
        )
        .with_params(params);
        let state = State::genesis(&cfg).unwrap();
        let head = genesis_header(&state);
        Env { state, keys, head }
    }

    pub fn id(&self, i: usize) -> AccountId {
        self.keys[i].account()
    }

    pub fn sign(&self, i: usize, call: Call) -> SignedTx {
        self.keys[i].sign_tx(Tx {
            chain_id: self.state.chain_id().clone(),
            nonce: self.state.nonce_of(&self.id(i)),
            fee: Amount(FEE),
            call,
        })
    }

    /// The context of the next block.
    pub fn ctx(&self) -> BlockCtx {
        BlockCtx::child_of(&self.head, self.head.timestamp_ms + 1000)
    }

    /// Height of the next block.
    pub fn next_height(&self) -> u64 {
        self.head.height.0 + 1
    }

    /// Apply one transaction at the next height without closing a block.
    pub fn try_tx(&mut self, i: usize, call: Call) -> Result<Receipt, TxError> {
        let stx = self.sign(i, call);
        let ctx = self.ctx();
        apply_tx(&mut self.state, &stx, &ctx)
    }

    /// Produce a block with these transactions; returns the outcomes of the included ones.
    pub fn block(&mut self, txs: Vec<SignedTx>) -> Vec<TxOutcome> {
        let ts = self.head.timestamp_ms + 1000;
        let (b, out) = build_block(&mut self.state, &self.head, ts, txs);
        self.head = b.header;
        out
    }

    /// Several transactions in one block (a signer may appear several times: nonces follow
    /// the order given). Every outcome must be `Ok`.
    pub fn multi(&mut self, calls: Vec<(usize, Call)>) {
        let mut next: BTreeMap<usize, u64> = BTreeMap::new();
        let txs: Vec<SignedTx> = calls
            .iter()
            .map(|(i, call)| {
                let n = next
                    .entry(*i)
                    .or_insert(self.state.nonce_of(&self.id(*i)).0);
                let tx = Tx {
                    chain_id: self.state.chain_id().clone(),
                    nonce: Nonce(*n),
                    fee: Amount(FEE),
                    call: call.clone(),
                };
                *n += 1;
                self.keys[*i].sign_tx(tx)
            })
            .collect();
        let out = self.block(txs);
        assert_eq!(out.len(), calls.len());
        for (o, (i, c)) in out.iter().zip(&calls) {
            if let Err(e) = o {
                panic!("{c:?} by {i} failed: {e}");
            }
        }
    }

    /// One transaction in its own block.
    pub fn exec(&mut self, i: usize, call: Call) -> TxOutcome {
        let stx = self.sign(i, call);
        let mut out = self.block(vec![stx]);
        assert!(out.len() <= 1);
        out.pop().unwrap_or(Err(TxError::BadSignature))
    }

    /// `exec` that must succeed.
    pub fn ok(&mut self, i: usize, call: Call) -> Receipt {
        match self.exec(i, call.clone()) {
            Ok(r) => r,
            Err(e) => panic!("{call:?} by {i} failed: {e}"),
        }
    }

    /// Produce empty blocks until the next block has height `h`.
    pub fn goto(&mut self, h: u64) {
        assert!(h >= self.next_height(), "cannot go back to {h}");
        while self.next_height() < h {
            self.block(vec![]);
        }
    }

    /// Propose the standard task from account `i`; returns its id. Round 0 starts at the
    /// next height after the proposal block + 1.
    pub fn task(&mut self, i: usize, f: impl FnOnce(&mut TaskSpec)) -> TaskId {
        let mut spec = spec();
        f(&mut spec);
        let r = self.ok(i, Call::ProposeTask(spec));
        match r.events[0] {
            Event::TaskProposed { task, .. } => task,
            ref e => panic!("unexpected {e:?}"),
        }
    }
}

/// Standard task: round 0 starts 1 block after the proposal, rounds of 10 blocks, 3 rounds,
/// Update commit in offsets [0, 4), reveal in [4, 8); Weights commit [8, 9), reveal [9, 10).
pub fn spec() -> TaskSpec {
    TaskSpec {
        model: Hash32::of(b"model"),
        dataset: Hash32::of(b"data"),
        eval: Hash32::of(b"eval"),
        reward: Amount(10_000),
        start_delay: 1,
        round_blocks: 10,
        rounds: 3,
        epoch_rounds: 1,
        windows: vec![
            PhaseWindow {
                kind: CommitKind::Update,
                commit: Window { start: 0, end: 4 },
                reveal: Window { start: 4, end: 8 },
            },
            PhaseWindow {
                kind: CommitKind::Weights,
                commit: Window { start: 8, end: 9 },
                reveal: Window { start: 9, end: 10 },
            },
        ],
        aggregation: "fedavg".into(),
        min_stake: Amount(0),
        max_uids: 4,
        mechanism: Mechanism::Yuma,
        miner_share: Fixed::from_bps(5_000),
    }
}

/// The encoded `UpdatePreimage` of a test update named `tag` (blob = blake3(tag)).
pub fn upd(tag: &[u8]) -> Vec<u8> {
    encode(&UpdatePreimage {
        blob: Hash32::of(tag),
        len: tag.len() as u64,
        salt: [7; 32],
    })
}

pub fn key(env: &Env, task: TaskId, round: u64, kind: CommitKind, i: usize) -> CommitKey {
    CommitKey {
        task,
        round: Round(round),
        kind,
        account: env.id(i),
    }
}

/// A test-side mirror of `State`'s canonical layout (same fields, same order, all public), so
/// tests can state expected states independently of the chain's own code paths. If `State`
/// gains a field, decoding into the mirror fails and these tests must be updated.
#[derive(Clone, Debug, PartialEq, Eq, borsh::BorshSerialize, borsh::BorshDeserialize)]
pub struct Mirror {
    pub chain_id: ChainId,
    pub tip: Tip,
    pub params: Params,
    pub supply: Supply,
    pub counters: Counters,
    pub accounts: BTreeMap<AccountId, Account>,
    pub stakes: BTreeMap<(AccountId, AccountId), Amount>,
    pub hotkey_stake: BTreeMap<AccountId, Amount>,
    pub staker_stake: BTreeMap<AccountId, Amount>,
    pub unbonding: BTreeMap<(AccountId, AccountId, Height), Amount>,
    pub tasks: BTreeMap<TaskId, Task>,
    pub registrations: BTreeMap<(TaskId, Uid), Registration>,
    pub uids: BTreeMap<(TaskId, AccountId), Uid>,
    pub commitments: BTreeMap<CommitKey, Commitment>,
    pub offences: BTreeMap<OffenceId, Offence>,
    pub proposals: BTreeMap<ProposalId, Proposal>,
    pub votes: BTreeMap<(ProposalId, AccountId), bool>,
    pub gov_queue: BTreeMap<(Height, ProposalId), ()>,
    pub model_records: BTreeMap<(TaskId, Round), ModelRecord>,
    pub epoch_records: BTreeMap<(TaskId, Epoch), EpochRecord>,
    pub bonds: BTreeMap<(TaskId, Uid), Vec<(Uid, u16)>>,
    pub low_trust_streaks: BTreeMap<(TaskId, Uid), u32>,
    pub pv_roles: BTreeMap<(TaskId, Round), PvRoles>,
    pub pv_rounds: BTreeMap<(TaskId, Round), PvRoundRecord>,
}

pub fn mirror(s: &State) -> Mirror {
    decode::<Mirror>(&encode(s)).expect("State layout changed: update tests/it/common.rs Mirror")
}

/// The documented effect of a failed (but admitted) transaction: fee burned, nonce advanced.
pub fn fee_only(pre: &State, signer: &AccountId, fee: Amount) -> Mirror {
    let mut m = mirror(pre);
    let a = m.accounts.entry(*signer).or_default();
    a.balance = Amount(a.balance.0 - fee.0);
    a.nonce = Nonce(a.nonce.0 + 1);
    m.supply.burned = Amount(m.supply.burned.0 + fee.0);
    m.supply.total_issuance = Amount(m.supply.total_issuance.0 - fee.0);
    m
}

/// The encoded `WeightsPreimage` of `(uid, weight)` pairs.
pub fn wpre(w: &[(u16, u16)], salt: u8) -> Vec<u8> {
    encode(&WeightsPreimage {
        weights: w.iter().map(|&(u, x)| (Uid(u), x)).collect(),
        salt: [salt; 32],
    })
}

/// The commit call of `pre` for account `i`.
pub fn commit_of(
    env: &Env,
    task: TaskId,
    round: u64,
    kind: CommitKind,
    i: usize,
    pre: &[u8],
) -> Call {
    let k = key(env, task, round, kind, i);
    Call::Commit {
        task,
        round: Round(round),
        kind,
        hash: commitment_hash(&k, pre),
    }
}

/// The reveal call of `pre`.
pub fn reveal_of(task: TaskId, round: u64, kind: CommitKind, pre: &[u8]) -> Call {
    Call::Reveal {
        task,
        round: Round(round),
        kind,
        preimage: pre.to_vec(),
    }
}
