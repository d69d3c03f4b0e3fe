//! A miner's commitment and reveal, end to end on an embedded port.

use deai_chain::CommitStatus;
use deai_roles::behaviour::{Miner, MinerView, SilentMiner};
use deai_roles::validator::{fetch_update, revealed_preimage};
use deai_roles::{ChainPort, MinerRole, RoleError, TxState};
use deai_types::{CommitKind, Mechanism, Role, UpdatePreimage};

use crate::fixture::Net;

/// Commits to a fixed update.
struct Fixed(Vec<f32>);

impl Miner for Fixed {
    fn kind(&self) -> &'static str {
        "fixed"
    }
    fn honest(&self) -> bool {
        true
    }
    fn update(&mut self, _view: &MinerView<'_>) -> Result<Vec<f32>, RoleError> {
        Ok(self.0.clone())
    }
    fn samples(&self) -> usize {
        0
    }
}

fn view(global: &[f32]) -> MinerView<'_> {
    static CFG: std::sync::OnceLock<deai_ml::LocalCfg> = std::sync::OnceLock::new();
    MinerView {
        round: 0,
        global,
        last_step: None,
        cfg: CFG.get_or_init(deai_ml::LocalCfg::default),
        seed: 0,
    }
}

#[test]
fn commit_then_reveal_round_trips() {
    let mut net = Net::new(Mechanism::Yuma, &[Role::Miner]);
    let update = vec![0.5f32, -1.0, 2.0];
    let mut miner = MinerRole::new(Box::new(Fixed(update.clone())));
    let delta = miner.train(&view(&[0.0; 3])).unwrap();
    assert_eq!(delta, update);

    // Offset 0: the blob is put and the commitment lands.
    let at = net.at(0);
    let committed = miner
        .commit(&mut net.port, &mut net.signers[0], at, &delta, [9; 32])
        .unwrap();
    assert_eq!(net.port.tx_state(&committed.tx).unwrap(), TxState::Pending);
    net.block();
    assert!(matches!(
        net.port.tx_state(&committed.tx).unwrap(),
        TxState::Executed { outcome: Ok(_), .. }
    ));
    let sealed = miner
        .sealed()
        .expect("an honest miner keeps its preimage")
        .clone();
    let key = at.key(CommitKind::Update, net.signers[0].account());
    assert_eq!(sealed.key(), &key);
    let on_chain = net.port.commitment(&key).unwrap().unwrap();
    assert_eq!(on_chain.hash, sealed.hash());
    assert_eq!(on_chain.status, CommitStatus::Pending);
    let pre: UpdatePreimage = deai_types::decode(sealed.preimage()).unwrap();
    assert_eq!(pre.blob, committed.blob);
    assert_eq!(pre.salt, [9; 32]);

    // Offset 1: the reveal carries the same bytes, and a validator gets the update back.
    let tx = miner
        .reveal(&mut net.port, &mut net.signers[0])
        .unwrap()
        .unwrap();
    assert!(miner.sealed().is_none(), "a preimage is revealed once");
    net.block();
    assert!(matches!(
        net.port.tx_state(&tx).unwrap(),
        TxState::Executed { outcome: Ok(_), .. }
    ));
    let revealed = revealed_preimage(&net.port, &key).unwrap().unwrap();
    assert_eq!(revealed, sealed.preimage());
    let fetched = fetch_update(&net.port, &revealed, update.len()).unwrap();
    assert_eq!(fetched.blob, committed.blob);
    assert_eq!(fetched.delta, update);
}

#[test]
fn a_silent_miner_commits_and_keeps_nothing_to_reveal() {
    let mut net = Net::new(Mechanism::Yuma, &[Role::Miner]);
    let mut miner = MinerRole::new(Box::new(SilentMiner));
    let delta = miner.train(&view(&[1.0; 4])).unwrap();
    let at = net.at(0);
    miner
        .commit(&mut net.port, &mut net.signers[0], at, &delta, [1; 32])
        .unwrap();
    net.block();
    assert!(miner.sealed().is_none());
    assert_eq!(
        miner.reveal(&mut net.port, &mut net.signers[0]).unwrap(),
        None
    );
    let key = at.key(CommitKind::Update, net.signers[0].account());
    assert!(net.port.commitment(&key).unwrap().is_some());
    assert_eq!(revealed_preimage(&net.port, &key).unwrap(), None);
}
