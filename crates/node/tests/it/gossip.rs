//! Transaction gossip between replicated ledgers, under the deterministic runtime (simulated
//! network, virtual time): a transaction sent to a node that does not lead the next views, or
//! to a follower that never leads, is included within two views; a peer that sends a malformed
//! or forged batch is blocked and the chain goes on; the ledger drops duplicates by hash before
//! checking signatures and reports what no honest node forwards.

use std::{
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use commonware_codec::Encode as _;
use commonware_p2p::{Recipients, Sender as _};
use commonware_runtime::{deterministic, Clock, Quota, Runner as _, Supervisor as _};
use deai_chain::GenesisConfig;
use deai_node::{
    engine::{
        cluster::{Cluster, ClusterConfig, LinkSpec},
        gossip::{GossipFault, GossipReceipt, Outbox},
        ConsensusBlock, Digest, Executor, PublicKey, Timing, CHANNEL_IDS,
    },
    ledger::{BlockLimits, GossipError, ReplicatedLedger},
};
use deai_store::MempoolError;
use deai_types::{encode, Amount, Call, ChainId, Nonce, SignedTx, Tx};

use crate::ledger_sim::{genesis, transfer, users};

/// One block built: by which node, at which height.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Built {
    node: usize,
    height: u64,
}

/// A node's ledger, recording every block it builds (it leads that view).
struct Recorded {
    node: usize,
    ledger: Arc<ReplicatedLedger>,
    log: Arc<Mutex<Vec<Built>>>,
}

impl Executor for Recorded {
    fn genesis_payload(&self) -> Bytes {
        self.ledger.genesis_payload()
    }
    fn knows(&self, digest: &Digest) -> bool {
        self.ledger.knows(digest)
    }
    fn last_applied_height(&self) -> u64 {
        self.ledger.last_applied_height()
    }
    fn has_pending(&self, chain: &[ConsensusBlock]) -> bool {
        self.ledger.has_pending(chain)
    }
    fn build(&self, chain: &[ConsensusBlock], timestamp_ms: u64) -> Option<Bytes> {
        let payload = self.ledger.build(chain, timestamp_ms)?;
        self.log.lock().unwrap().push(Built {
            node: self.node,
            height: chain.last()?.height_u64() + 1,
        });
        Some(payload)
    }
    fn verify(&self, chain: &[ConsensusBlock], block: &ConsensusBlock) -> bool {
        self.ledger.verify(chain, block)
    }
    fn validators_after(&self, boundary_height: u64) -> Option<Vec<PublicKey>> {
        self.ledger.validators_after(boundary_height)
    }
    type Error = deai_node::ledger::FinalizeError;

    fn finalize(&self, block: &ConsensusBlock) -> Result<bool, Self::Error> {
        self.ledger.finalize(block)
    }
    fn connect_gossip(&self, outbox: Outbox) {
        self.ledger.connect_gossip(outbox);
    }
    fn receive_gossip(&self, txs: Vec<Bytes>) -> Result<GossipReceipt, GossipFault> {
        self.ledger.receive_gossip(txs)
    }
}

fn config(nodes: usize, participants: usize) -> ClusterConfig {
    ClusterConfig {
        validators: nodes,
        participants,
        epoch_length: 0,
        link: LinkSpec::reliable(Duration::from_millis(20)),
        namespace: b"deai-sim".to_vec(),
        max_payload_bytes: BlockLimits::default().max_bytes,
        timing: Timing::local(),
        messages_per_second: 10_000,
    }
}

fn open(genesis: &GenesisConfig, n: usize) -> (Vec<tempfile::TempDir>, Vec<Arc<ReplicatedLedger>>) {
    let dirs: Vec<_> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
    let ledgers = dirs
        .iter()
        .map(|d| {
            Arc::new(ReplicatedLedger::init(d.path(), genesis, BlockLimits::default()).unwrap())
        })
        .collect();
    (dirs, ledgers)
}

async fn wait_until(context: &deterministic::Context, what: &str, done: impl Fn() -> bool) {
    let deadline = context.current() + Duration::from_secs(60);
    while !done() {
        assert!(context.current() < deadline, "timed out waiting: {what}");
        context.sleep(Duration::from_millis(5)).await;
    }
}

/// The height of the block that holds `tx` on `ledger`.
fn height_of(ledger: &ReplicatedLedger, tx: &SignedTx) -> u64 {
    let hash = tx.hash();
    (1..=ledger.last_applied_height())
        .find(|&h| {
            let block = ledger
                .store()
                .block(deai_types::Height(h))
                .unwrap()
                .unwrap();
            block.txs.iter().any(|t| t.hash() == hash)
        })
        .expect("the transaction is in a block")
}

/// What happened to one transfer sent to one node of a running cluster.
struct Sent {
    recipient: usize,
    /// The validators expected to lead the next two views, by node index.
    next_leaders: [usize; 2],
    /// The blocks built after the transaction was submitted, in order.
    builds: Vec<Built>,
    /// Height of the block that holds it.
    height: u64,
}

/// Runs `nodes` nodes (the first `participants` validate), and once the chain runs submits one
/// transfer to `follower` if given, otherwise to the validator that leads third from now
/// (round-robin over the validators sorted by key, commonware's `RoundRobin` elector).
fn send_to_a_non_leader(nodes: usize, participants: usize, follower: Option<usize>) -> Sent {
    let users = users(2);
    let genesis = genesis(&users);
    let (_dirs, ledgers) = open(&genesis, nodes);
    let runner = deterministic::Runner::new(
        deterministic::Config::new()
            .with_seed(21)
            .with_timeout(Some(Duration::from_secs(600))),
    );
    runner.start(|context| async move {
        let mut cluster = Cluster::new(context.child("cluster"), config(nodes, participants))
            .await
            .unwrap();
        let keys = cluster.public_keys();
        let log = Arc::new(Mutex::new(Vec::new()));
        let executors: Vec<_> = ledgers
            .iter()
            .enumerate()
            .map(|(node, ledger)| {
                Arc::new(Recorded {
                    node,
                    ledger: ledger.clone(),
                    log: log.clone(),
                })
            })
            .collect();
        cluster.start_all(&executors).await.unwrap();
        wait_until(&context, "height 5", || {
            ledgers.iter().all(|l| l.last_applied_height() >= 5)
        })
        .await;

        // Leaders rotate over the validators in key order.
        let mut order: Vec<usize> = (0..participants).collect();
        order.sort_by_key(|&i| keys[i].clone());
        let at = |offset: usize| {
            let last = log.lock().unwrap().last().unwrap().node;
            let p = order.iter().position(|&i| i == last).unwrap();
            order[(p + offset) % order.len()]
        };
        let next_leaders = [at(1), at(2)];
        let recipient = follower.unwrap_or_else(|| at(3));
        assert!(!next_leaders.contains(&recipient));
        // No await between reading the log and submitting: nothing is built in between.
        let tx = transfer(&users[0], &users[1], 0, 10);
        ledgers[recipient].submit(tx.clone()).unwrap();
        let submitted = log.lock().unwrap().len();

        let account = users[0].account();
        wait_until(&context, "the transfer final on every node", || {
            ledgers
                .iter()
                .all(|l| l.with_state(|s, _| s.nonce_of(&account).0) == 1)
        })
        .await;
        let height = height_of(&ledgers[0], &tx);
        for l in &ledgers {
            assert_eq!(height_of(l, &tx), height, "same block everywhere");
            assert_eq!(l.mempool_len(), 0, "every node's copy left its pool");
        }
        assert!(
            cluster.oracle().blocked().await.unwrap().is_empty(),
            "honest gossip blocks no one"
        );
        let builds = log.lock().unwrap()[submitted..].to_vec();
        Sent {
            recipient,
            next_leaders,
            builds,
            height,
        }
    })
}

/// Checks that the transaction is in one of the first two blocks built after it was sent, and
/// that the recipient built neither.
fn assert_within_two_views(sent: &Sent) {
    let first_two = &sent.builds[..2];
    assert_eq!(
        first_two.iter().map(|b| b.node).collect::<Vec<_>>(),
        sent.next_leaders,
        "the predicted leaders built the next two blocks: {:?}",
        sent.builds
    );
    assert!(first_two.iter().all(|b| b.node != sent.recipient));
    assert!(
        first_two.iter().any(|b| b.height == sent.height),
        "included at height {} but the next two views built {first_two:?}",
        sent.height
    );
}

#[test]
fn a_transaction_sent_to_a_node_that_does_not_lead_is_included_within_two_views() {
    let sent = send_to_a_non_leader(4, 4, None);
    assert_within_two_views(&sent);
}

#[test]
fn a_transaction_sent_to_a_follower_is_included_within_two_views() {
    // Node 4 follows epoch 0 and never leads: without gossip its transaction would wait forever.
    let sent = send_to_a_non_leader(5, 4, Some(4));
    assert_eq!(sent.recipient, 4);
    assert_within_two_views(&sent);
}

#[test]
fn a_peer_sending_malformed_or_forged_batches_is_blocked_and_the_chain_goes_on() {
    let users = users(3);
    let genesis = genesis(&users);
    let (_dirs, ledgers) = open(&genesis, 3);
    let runner = deterministic::Runner::new(
        deterministic::Config::new()
            .with_seed(22)
            .with_timeout(Some(Duration::from_secs(600))),
    );
    runner.start(|context| async move {
        // Four validators, three run honestly; the fourth key is the attacker's.
        let mut cluster = Cluster::new(context.child("cluster"), config(4, 4))
            .await
            .unwrap();
        let keys = cluster.public_keys();
        cluster.start_all(&ledgers).await.unwrap();
        let rogue = keys[3].clone();
        let (mut sender, _receiver) = cluster
            .oracle()
            .control(rogue.clone())
            .register(CHANNEL_IDS[5], Quota::per_second(NonZeroU32::MAX))
            .await
            .unwrap();
        wait_until(&context, "height 3", || {
            ledgers.iter().all(|l| l.last_applied_height() >= 3)
        })
        .await;

        let valid = transfer(&users[0], &users[1], 0, 10);
        let mut forged = transfer(&users[2], &users[1], 0, 10);
        forged.signature.0[0] ^= 1;
        let batch = |txs: &[&SignedTx]| -> Bytes {
            let txs: Vec<Bytes> = txs.iter().map(|tx| Bytes::from(encode(*tx))).collect();
            txs.encode()
        };
        // Node 2: the same valid transaction twice, then once more: admitted, not punished.
        for message in [batch(&[&valid, &valid]), batch(&[&valid])] {
            sender.send(Recipients::One(keys[2].clone()), message, false);
        }
        // Node 0: bytes that are no batch (a count past the end).
        sender.send(
            Recipients::One(keys[0].clone()),
            Bytes::from_static(&[0x05, 0x01]),
            false,
        );
        // Node 1: a batch whose transaction is not a transaction.
        let junk: Vec<Bytes> = vec![Bytes::from_static(b"not a signed transaction")];
        sender.send(Recipients::One(keys[1].clone()), junk.encode(), false);
        context.sleep(Duration::from_millis(200)).await;
        let blocked = cluster.oracle().blocked().await.unwrap();
        assert!(blocked.contains(&(keys[0].clone(), rogue.clone())));
        assert!(blocked.contains(&(keys[1].clone(), rogue.clone())));
        assert!(!blocked.iter().any(|(by, _)| *by == keys[2]));

        // Node 2: a forged signature.
        sender.send(Recipients::One(keys[2].clone()), batch(&[&forged]), false);
        context.sleep(Duration::from_millis(200)).await;
        let blocked = cluster.oracle().blocked().await.unwrap();
        assert!(blocked.contains(&(keys[2].clone(), rogue.clone())));
        assert_eq!(
            blocked.len(),
            3,
            "only the attacker is blocked: {blocked:?}"
        );

        // The valid transaction reached every node through node 2's mempool, and the chain
        // keeps finalizing without the attacker.
        let account = users[0].account();
        wait_until(&context, "the valid transfer final everywhere", || {
            ledgers
                .iter()
                .all(|l| l.with_state(|s, _| s.nonce_of(&account).0) == 1)
        })
        .await;
        let height = ledgers[0].last_applied_height();
        wait_until(&context, "three more blocks", || {
            ledgers
                .iter()
                .all(|l| l.last_applied_height() >= height + 3)
        })
        .await;
        let forger = users[2].account();
        assert!(ledgers
            .iter()
            .all(|l| l.with_state(|s, _| s.nonce_of(&forger).0) == 0));
    });
}

/// The ledger's side alone: duplicates are dropped by hash before any signature check, stale
/// nonces are refused, and what no honest node forwards is a fault naming the transaction.
#[test]
fn the_ledger_drops_duplicates_and_reports_what_no_honest_node_forwards() {
    let users = users(3);
    let genesis = genesis(&users);
    let (_dirs, ledgers) = open(&genesis, 1);
    let ledger = &ledgers[0];
    let bytes = |tx: &SignedTx| Bytes::from(encode(tx));
    let a0 = transfer(&users[0], &users[1], 0, 1);
    let a1 = transfer(&users[0], &users[1], 1, 1);

    let receipt = ledger
        .receive_gossip(vec![bytes(&a0), bytes(&a0), bytes(&a1)])
        .unwrap();
    assert_eq!(
        receipt,
        GossipReceipt {
            admitted: 2,
            duplicates: 1,
            refused: 0
        }
    );
    assert_eq!(ledger.mempool_len(), 2);
    // Seen before (admitted here): dropped without a signature check.
    let receipt = ledger.receive_gossip(vec![bytes(&a0)]).unwrap();
    assert_eq!(receipt.duplicates, 1);
    // A client submitting what gossip delivered gets the mempool's answer.
    assert!(ledger.submit(a1.clone()).is_err());

    let fault = |txs: Vec<Bytes>| ledger.receive_gossip(txs).unwrap_err();

    let junk = fault(vec![bytes(&a0), Bytes::from_static(b"junk")]);
    assert_eq!(junk.index, 1);
    assert!(matches!(
        junk.source.downcast_ref::<GossipError>(),
        Some(GossipError::Malformed(_))
    ));

    let mut forged = transfer(&users[2], &users[1], 0, 1);
    forged.signature.0[5] ^= 0x40;
    let bad = fault(vec![bytes(&forged)]);
    assert!(matches!(
        bad.source.downcast_ref::<GossipError>(),
        Some(GossipError::Invalid(MempoolError::BadSignature { .. }))
    ));

    let elsewhere = users[2].sign_tx(Tx {
        chain_id: ChainId::new("another-chain").unwrap(),
        nonce: Nonce(0),
        fee: Amount(1),
        call: Call::Transfer {
            to: users[1].account(),
            amount: Amount(1),
        },
    });
    let wrong = fault(vec![bytes(&elsewhere)]);
    assert!(matches!(
        wrong.source.downcast_ref::<GossipError>(),
        Some(GossipError::Invalid(MempoolError::WrongChain { .. }))
    ));
    assert_eq!(ledger.mempool_len(), 2, "nothing invalid entered the pool");

    // Once a block used nonce 0, another transaction with that nonce is refused before its
    // signature is checked, and the included one is still a duplicate.
    let genesis_block = ConsensusBlock::genesis(ledger.genesis_payload());
    let payload = ledger
        .build(std::slice::from_ref(&genesis_block), 1)
        .unwrap();
    let block = ConsensusBlock::new(genesis_block.id(), 1, payload);
    assert!(ledger.finalize(&block).unwrap());
    assert_eq!(
        ledger.with_state(|s, _| s.nonce_of(&users[0].account()).0),
        2
    );
    let replaced = transfer(&users[0], &users[1], 0, 2);
    let receipt = ledger
        .receive_gossip(vec![bytes(&replaced), bytes(&a0)])
        .unwrap();
    assert_eq!(
        receipt,
        GossipReceipt {
            admitted: 0,
            duplicates: 1,
            refused: 1
        }
    );
}
