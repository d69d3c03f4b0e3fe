//! What a validator accepts of a revealed update, and its weights' commitment.

use deai_roles::behaviour::{LazyValidator, Validator};
use deai_roles::validator::fetch_update;
use deai_roles::{ChainPort, PortError, UpdateRejection, ValidatorRole};
use deai_types::{CommitKind, Hash32, Mechanism, Role, Uid, UpdatePreimage, WeightsPreimage};

use crate::fixture::Net;

fn preimage(blob: Hash32, values: usize) -> Vec<u8> {
    deai_types::encode(&UpdatePreimage {
        blob,
        len: values as u64,
        salt: [3; 32],
    })
}

#[test]
fn a_blob_of_the_wrong_length_is_rejected() {
    let mut net = Net::new(Mechanism::Yuma, &[Role::Validator]);
    let blob = net
        .port
        .put_blob(&deai_ml::blob::encode(&[1.0, 2.0, 3.0]))
        .unwrap();
    match fetch_update(&net.port, &preimage(blob, 3), 4) {
        Err(UpdateRejection::Format(_)) => {}
        other => panic!("expected a format rejection, got {other:?}"),
    }
    // The same blob is fine for a model of three values.
    assert_eq!(
        fetch_update(&net.port, &preimage(blob, 3), 3)
            .unwrap()
            .delta,
        vec![1.0, 2.0, 3.0]
    );
}

#[test]
fn a_missing_blob_or_a_garbled_preimage_is_rejected() {
    let net = Net::new(Mechanism::Yuma, &[Role::Validator]);
    match fetch_update(&net.port, &preimage(Hash32::of(b"nowhere"), 3), 3) {
        Err(UpdateRejection::Blob(PortError::Blob(deai_store::BlobError::NotFound { .. }))) => {}
        other => panic!("expected a missing blob, got {other:?}"),
    }
    match fetch_update(&net.port, &[1, 2, 3], 3) {
        Err(UpdateRejection::Preimage(_)) => {}
        other => panic!("expected an undecodable preimage, got {other:?}"),
    }
}

#[test]
fn weights_commit_then_reveal_on_the_miners_uids() {
    let mut net = Net::new(Mechanism::Yuma, &[Role::Miner, Role::Validator]);
    let behaviour: Box<dyn Validator> = Box::new(LazyValidator);
    let mut validator = ValidatorRole::new(behaviour);
    let weights = vec![(Uid(0), u16::MAX)];
    net.until(0, 2);
    let at = net.at(0);
    validator
        .commit_weights(
            &mut net.port,
            &mut net.signers[1],
            at,
            weights.clone(),
            [5; 32],
        )
        .unwrap();
    net.block();
    let key = at.key(CommitKind::Weights, net.signers[1].account());
    assert!(net.port.commitment(&key).unwrap().is_some());
    validator
        .reveal(&mut net.port, &mut net.signers[1])
        .unwrap()
        .unwrap();
    net.block();
    let revealed = deai_roles::validator::revealed_preimage(&net.port, &key)
        .unwrap()
        .unwrap();
    let pre: WeightsPreimage = deai_types::decode(&revealed).unwrap();
    assert_eq!(pre.weights, weights);
    // The epoch ran at the end of the round's last block.
    assert!(net
        .port
        .epoch_record(net.task, deai_types::Epoch(0))
        .unwrap()
        .is_some());
}
