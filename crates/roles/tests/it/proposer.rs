//! The task proposer: the proposal's receipt, the watchdog and its slashes, the model record,
//! and the proposer/voter draw a participant re-derives.

use deai_roles::behaviour::SilentMiner;
use deai_roles::{ChainPort, MinerRole, RoleError, Signer, TaskProposer};
use deai_types::{Amount, Evidence, Keypair, Mechanism, Role, Round, Uid};

use crate::fixture::{spec, Net, FUND};

#[test]
fn the_watchdog_finds_a_missed_reveal_once_its_window_closes() {
    let mut net = Net::new(Mechanism::Yuma, &[Role::Miner, Role::Miner]);
    let at = net.at(0);
    let mut silent = MinerRole::new(Box::new(SilentMiner));
    let delta = vec![0.0f32; 2];
    silent
        .commit(&mut net.port, &mut net.signers[0], at, &delta, [1; 32])
        .unwrap();
    net.block();
    // The reveal window (offset 1) is still open for the next block: nothing to report.
    net.proposer.watch(&net.port).unwrap();
    assert!(net.proposer.evidence().is_empty());

    // The reveal block passes without a reveal: the window is closed for the next block.
    net.block();
    net.proposer.watch(&net.port).unwrap();
    net.proposer.watch(&net.port).unwrap();
    let key = at.key(deai_types::CommitKind::Update, net.signers[0].account());
    assert_eq!(net.proposer.evidence(), &[Evidence::MissedReveal(key)]);

    // The evidence goes out and slashes; the commitment is no longer open.
    let before = net.port.registrations(net.task).unwrap()[0].stake;
    let txs = net
        .proposer
        .submit_pending(&mut net.port, &mut net.proposer_signer)
        .unwrap();
    assert_eq!(txs.len(), 1);
    assert!(net.proposer.evidence().is_empty());
    net.block();
    let after = net.port.registrations(net.task).unwrap()[0].stake;
    assert!(
        after < before,
        "the silent miner lost stake: {before:?} -> {after:?}"
    );
    assert!(net.port.open_commitments(net.task).unwrap().is_empty());
    net.proposer.watch(&net.port).unwrap();
    assert!(net.proposer.evidence().is_empty());
}

#[test]
fn the_model_record_and_the_evidence_share_a_block_in_nonce_order() {
    let mut net = Net::new(Mechanism::Yuma, &[Role::Miner]);
    let at = net.at(0);
    let mut silent = MinerRole::new(Box::new(SilentMiner));
    silent
        .commit(&mut net.port, &mut net.signers[0], at, &[0.0], [1; 32])
        .unwrap();
    net.block();
    net.block();
    net.proposer.watch(&net.port).unwrap();
    net.until(1, 0);
    let hash = net
        .proposer
        .record_model(&mut net.port, Round(0), &[1.0, 2.0], Vec::new())
        .unwrap();
    assert_eq!(hash, deai_roles::model_hash(&[1.0, 2.0]));
    assert_eq!(
        deai_ml::blob::decode(&net.port.get_blob(&hash).unwrap(), 2).unwrap(),
        vec![1.0, 2.0]
    );
    let txs = net
        .proposer
        .submit_pending(&mut net.port, &mut net.proposer_signer)
        .unwrap();
    assert_eq!(txs.len(), 2, "the model record, then the slash");
    let produced = net.block();
    assert_eq!(produced.block.txs.len(), 2);
    assert!(
        produced.outcomes.iter().all(Result::is_ok),
        "{:?}",
        produced.outcomes
    );
    let record = net
        .port
        .chain()
        .state()
        .model_record(net.task, Round(0))
        .unwrap();
    assert_eq!(record.model, hash);
}

#[test]
fn a_rejected_proposal_is_a_typed_error() {
    let mut net = Net::new(Mechanism::Yuma, &[Role::Miner]);
    let mut short = Signer::new(Keypair::from_seed([1; 32]));
    let mut proposer = TaskProposer::new(Box::new(deai_aggregation::FedAvg::default()));
    let mut too_rich = spec(Mechanism::Yuma);
    too_rich.reward = Amount(FUND * 10);
    let tx = proposer
        .propose(&mut net.port, &mut short, too_rich)
        .unwrap();
    assert!(matches!(
        proposer.learn_task(&net.port, &tx),
        Err(RoleError::NoTask { .. })
    ));
    net.block();
    assert!(matches!(
        proposer.learn_task(&net.port, &tx),
        Err(RoleError::ProposalRejected { .. })
    ));
    assert_eq!(proposer.task(), None);
}

#[test]
fn the_draw_a_participant_re_derives_is_the_ledgers() {
    let roles = [Role::Miner, Role::Miner, Role::Miner, Role::Validator];
    let mut net = Net::new(Mechanism::ProposerVoter, &roles);
    for round in 0..2 {
        net.until(round, 0);
        let expected = deai_roles::pv::next_draw(&net.port, net.task, Round(round)).unwrap();
        net.block();
        let drawn = net.port.pv_roles(net.task, Round(round)).unwrap();
        assert_eq!(drawn.as_ref(), Some(&expected), "round {round}");
        let everyone: Vec<Uid> = expected
            .proposers
            .iter()
            .chain(&expected.voters)
            .copied()
            .collect();
        assert!(!expected.proposers.is_empty());
        assert!(everyone.len() <= roles.len());
    }
}
