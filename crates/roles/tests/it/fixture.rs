//! A small network on an embedded port: a task proposer, a few participants, one task.

use deai_aggregation::FedAvg;
use deai_chain::GenesisConfig;
use deai_roles::{ChainPort, EmbeddedPort, RoundOf, Signer, TaskProposer};
use deai_store::{BlobStore, EmbeddedChain, EmbeddedConfig, ProducedBlock};
use deai_types::{
    Amount, Call, ChainId, CommitKind, Fixed, Hash32, Keypair, Mechanism, PhaseWindow, Role, Round,
    TaskId, TaskSpec, Window,
};

/// What every account holds at genesis.
pub const FUND: u128 = 1_000_000_000;

/// Rounds of four blocks: update commit at offset 0, reveal at 1; weights commit at 2, reveal
/// at 3 (the simulator's windows).
pub fn spec(mechanism: Mechanism) -> TaskSpec {
    let w = |kind, c: u64, r: u64| PhaseWindow {
        kind,
        commit: Window {
            start: c,
            end: c + 1,
        },
        reveal: Window {
            start: r,
            end: r + 1,
        },
    };
    let second = match mechanism {
        Mechanism::Yuma => CommitKind::Weights,
        Mechanism::ProposerVoter => CommitKind::Vote,
    };
    TaskSpec {
        model: Hash32::ZERO,
        dataset: Hash32::of(b"deai/roles/test/dataset"),
        eval: Hash32::of(b"deai/roles/test/eval"),
        reward: Amount(1_000_000),
        start_delay: 2,
        round_blocks: 4,
        rounds: 3,
        epoch_rounds: 1,
        windows: vec![w(CommitKind::Update, 0, 1), w(second, 2, 3)],
        aggregation: "fedavg".into(),
        min_stake: Amount(1),
        max_uids: 8,
        mechanism,
        miner_share: Fixed::from_bps(5_000),
    }
}

/// An embedded chain with a proposed task and registered participants.
pub struct Net {
    pub port: EmbeddedPort,
    pub proposer: TaskProposer,
    pub proposer_signer: Signer,
    /// The participants, in registration (UID) order.
    pub signers: Vec<Signer>,
    pub task: TaskId,
    time_ms: u64,
    _dir: tempfile::TempDir,
}

impl Net {
    /// A task of `mechanism` with one participant per entry of `roles`, each staking 1 000,
    /// at the block before round 0.
    pub fn new(mechanism: Mechanism, roles: &[Role]) -> Net {
        let dir = tempfile::tempdir().unwrap();
        let key = |i: u8| Keypair::from_seed([i + 1; 32]);
        let genesis = GenesisConfig::funded(
            ChainId::new("deai-roles-test").unwrap(),
            (0..=roles.len() as u8).map(|i| key(i).account()),
            Amount(FUND),
        );
        let chain = EmbeddedChain::init(dir.path(), &genesis, EmbeddedConfig::default()).unwrap();
        let blobs = BlobStore::open(dir.path().join("blobs")).unwrap();
        let mut net = Net {
            port: EmbeddedPort::new(chain, blobs),
            proposer: TaskProposer::new(Box::new(FedAvg::default())),
            proposer_signer: Signer::new(key(0)),
            signers: (1..=roles.len() as u8)
                .map(|i| Signer::new(key(i)))
                .collect(),
            task: TaskId(0),
            time_ms: 0,
            _dir: dir,
        };
        let proposal = net
            .proposer
            .propose(&mut net.port, &mut net.proposer_signer, spec(mechanism))
            .unwrap();
        for s in &mut net.signers {
            s.submit(
                &mut net.port,
                Call::Stake {
                    amount: Amount(1_000),
                },
            )
            .unwrap();
        }
        net.block();
        net.task = net.proposer.learn_task(&net.port, &proposal).unwrap();
        for (s, &role) in net.signers.iter_mut().zip(roles) {
            let task = net.task;
            s.submit(&mut net.port, Call::Register { task, role })
                .unwrap();
        }
        net.block();
        net.until(0, 0);
        net
    }

    /// Produces one block with what was submitted since the last.
    pub fn block(&mut self) -> ProducedBlock {
        self.time_ms += 1_000;
        self.port.produce_block(self.time_ms).unwrap()
    }

    /// Produces empty blocks until the next block is at `offset` of `round`.
    pub fn until(&mut self, round: u64, offset: u64) {
        let task = self.port.task(self.task).unwrap().unwrap();
        let target = task.round_start(Round(round)).unwrap().0 + offset;
        while self.port.head().unwrap().height.0 + 1 < target {
            self.block();
        }
    }

    /// Round `round` of the task.
    pub fn at(&self, round: u64) -> RoundOf {
        RoundOf {
            task: self.task,
            round: Round(round),
        }
    }
}
