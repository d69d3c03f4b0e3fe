//! Validator-set changes at consensus epoch boundaries, 4+1 nodes replicating the real ledger
//! under the deterministic runtime.
//!
//! Nodes 0–3 stake 100 each at genesis and form epoch 0's set; node 4 follows. Node 4 bonds 1000
//! on itself, so from the next boundary on the top-4 self-stakers are node 4 and the three of
//! nodes 0–3 with the smallest account ids (equal stakes tie-break by id); the fourth drops out.
//! After the switch the dropped node and one remaining old validator are crashed: the old set
//! would have only 2 of 4 live votes and stall, the new set has 3 of 4 (node 4 votes), so blocks
//! finalizing proves the new set is the one voting. Both restart and catch up; every node ends
//! with the same state roots, and the same seed twice gives the same audit hash.

use std::{sync::Arc, time::Duration};

use commonware_codec::Encode as _;
use commonware_cryptography::Signer as _;
use commonware_runtime::{deterministic, Clock, Runner as _, Supervisor as _};
use deai_chain::GenesisConfig;
use deai_node::{
    engine::{
        cluster::{Cluster, ClusterConfig, LinkSpec},
        Executor as _, PrivateKey, Timing,
    },
    ledger::{BlockLimits, ReplicatedLedger, ValidatorRule},
};
use deai_types::{AccountId, Amount, Call, ChainId, Hash32, Keypair, Nonce, Tx};

const NODES: usize = 5;
const SEATS: usize = 4;
const EPOCH: u64 = 12;

fn chain_id() -> ChainId {
    ChainId::new("deai-epochs").unwrap()
}

/// The ledger keypair of cluster node `i` (the same ed25519 seed as its consensus key).
fn node_keys() -> Vec<Keypair> {
    (0..NODES as u64)
        .map(|i| {
            let seed: [u8; 32] = PrivateKey::from_seed(i)
                .encode()
                .as_ref()
                .try_into()
                .unwrap();
            Keypair::from_seed(seed)
        })
        .collect()
}

fn genesis(keys: &[Keypair]) -> GenesisConfig {
    GenesisConfig::funded(
        chain_id(),
        keys.iter().map(Keypair::account),
        Amount(1_000_000_000),
    )
    .with_stakes(keys[..SEATS].iter().map(|k| (k.account(), Amount(100))))
}

async fn wait_height(
    context: &deterministic::Context,
    ledgers: &[Arc<ReplicatedLedger>],
    height: u64,
) {
    let deadline = context.current() + Duration::from_secs(900);
    while ledgers.iter().any(|l| l.last_applied_height() < height) {
        assert!(
            context.current() < deadline,
            "stuck below height {height}: {:?}",
            ledgers
                .iter()
                .map(|l| l.last_applied_height())
                .collect::<Vec<_>>()
        );
        context.sleep(Duration::from_millis(100)).await;
    }
}

struct Outcome {
    audit: String,
    roots: Vec<Hash32>,
    sets: Vec<Vec<AccountId>>,
}

fn run(seed: u64) -> Outcome {
    let keys = node_keys();
    let genesis = genesis(&keys);
    let rule = ValidatorRule {
        seats: SEATS,
        epoch_length: EPOCH,
    };
    let dirs: Vec<_> = (0..NODES).map(|_| tempfile::tempdir().unwrap()).collect();
    let paths: Vec<_> = dirs.iter().map(|d| d.path().to_path_buf()).collect();
    let open = |i: usize| {
        Arc::new(
            ReplicatedLedger::open(&paths[i], BlockLimits::default())
                .unwrap()
                .with_validator_rule(rule)
                .unwrap(),
        )
    };
    for p in &paths {
        drop(ReplicatedLedger::init(p, &genesis, BlockLimits::default()).unwrap());
    }
    let ledgers: Vec<_> = (0..NODES).map(open).collect();
    let runner = deterministic::Runner::new(
        deterministic::Config::new()
            .with_seed(seed)
            .with_timeout(Some(Duration::from_secs(7_200))),
    );
    let outcome = runner.start(|context| async move {
        let config = ClusterConfig {
            validators: NODES,
            participants: SEATS,
            epoch_length: EPOCH,
            link: LinkSpec {
                latency: Duration::from_millis(20),
                jitter: Duration::from_millis(5),
                success_rate: 1.0,
            },
            namespace: b"deai-epochs".to_vec(),
            max_payload_bytes: BlockLimits::default().max_bytes,
            timing: Timing::local(),
            messages_per_second: 10_000,
        };
        let mut cluster = Cluster::new(context.child("cluster"), config)
            .await
            .unwrap();
        let mut ledgers = ledgers;
        cluster.start_all(&ledgers).await.unwrap();
        // Node 4 bonds 1000 on itself; every node's mempool gets it.
        let stake = keys[4].sign_tx(Tx {
            chain_id: chain_id(),
            nonce: Nonce(0),
            fee: Amount(1),
            call: Call::Stake {
                amount: Amount(1_000),
            },
        });
        for l in &ledgers {
            l.submit(stake.clone()).unwrap();
        }
        wait_height(&context, &ledgers, 2 * EPOCH).await;

        // From the definition: self-stake descending, ties by account id, first 4.
        let mut expected: Vec<(Amount, AccountId)> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (Amount(if i == 4 { 1_000 } else { 100 }), k.account()))
            .collect();
        expected.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let expected: Vec<AccountId> = expected.into_iter().take(SEATS).map(|(_, a)| a).collect();
        assert!(expected.contains(&keys[4].account()));
        let dropped = (0..SEATS)
            .find(|&i| !expected.contains(&keys[i].account()))
            .unwrap();
        let kept = (0..SEATS).find(|&i| i != dropped).unwrap();
        let stake_height = ledgers[0].with_state(|s, _| {
            assert_eq!(
                s.stake(&keys[4].account(), &keys[4].account()),
                Amount(1_000)
            );
            s.height().0
        });
        assert!(stake_height >= 2 * EPOCH);

        // Crash the dropped validator and one kept one: only the new set can still finalize.
        cluster.crash(dropped);
        cluster.crash(kept);
        let live: Vec<_> = (0..NODES)
            .filter(|&i| i != dropped && i != kept)
            .map(|i| ledgers[i].clone())
            .collect();
        let before = live.iter().map(|l| l.last_applied_height()).max().unwrap();
        // Past the next boundary too, so the set is re-derived with these nodes down.
        wait_height(&context, &live, before + EPOCH + 3).await;

        // Restart both from disk; they catch up across the epoch switch.
        for i in [dropped, kept] {
            let weak = Arc::downgrade(&ledgers[i]);
            ledgers[i] = live[0].clone();
            let deadline = context.current() + Duration::from_secs(60);
            while weak.strong_count() > 0 {
                assert!(
                    context.current() < deadline,
                    "crashed node's ledger still held"
                );
                context.sleep(Duration::from_millis(100)).await;
            }
        }
        for i in [dropped, kept] {
            let reopened = Arc::new(
                ReplicatedLedger::open(&paths[i], BlockLimits::default())
                    .unwrap()
                    .with_validator_rule(rule)
                    .unwrap(),
            );
            ledgers[i] = reopened.clone();
            cluster.start(i, reopened).await.unwrap();
        }
        let target = live.iter().map(|l| l.last_applied_height()).max().unwrap() + 3;
        wait_height(&context, &ledgers, target).await;

        let root_at = |l: &ReplicatedLedger, h: u64| {
            l.store()
                .block(deai_types::Height(h))
                .unwrap()
                .unwrap()
                .header
                .state_root
        };
        let roots: Vec<Hash32> = (1..=target)
            .map(|h| {
                let root = root_at(&ledgers[0], h);
                for (i, l) in ledgers.iter().enumerate() {
                    assert_eq!(root_at(l, h), root, "node {i} differs at height {h}");
                }
                root
            })
            .collect();
        // Every node recorded the same sets; the first boundary after the stake has the new set.
        let sets = ledgers[0].validator_sets();
        for l in &ledgers[1..] {
            assert_eq!(
                l.validator_sets().range(..=target).collect::<Vec<_>>(),
                sets.range(..=target).collect::<Vec<_>>()
            );
        }
        let sets: Vec<Vec<AccountId>> = sets
            .values()
            .map(|set| {
                set.iter()
                    .map(|pk| AccountId(pk.as_ref().try_into().unwrap()))
                    .collect()
            })
            .collect();
        let genesis_set: Vec<AccountId> = keys[..SEATS].iter().map(|k| k.account()).collect();
        let first_new = sets.iter().position(|s| s.contains(&keys[4].account()));
        let first_new = first_new.expect("node 4 entered the set at a boundary");
        for s in &sets[..first_new] {
            let mut a = s.clone();
            let mut b = genesis_set.clone();
            a.sort();
            b.sort();
            assert_eq!(a, b, "before the stake the set is the genesis set");
        }
        for s in &sets[first_new..] {
            let mut a = s.clone();
            let mut b = expected.clone();
            a.sort();
            b.sort();
            assert_eq!(
                a, b,
                "after the stake the set is the top-4 by stake, ties by id"
            );
        }
        Outcome {
            audit: context.auditor().state(),
            roots,
            sets,
        }
    });
    drop(dirs);
    outcome
}

#[test]
fn a_new_top_staker_enters_the_validator_set_at_the_epoch_boundary() {
    let a = run(5);
    assert!(
        a.sets.len() >= 3,
        "crossed several boundaries: {}",
        a.sets.len()
    );
    let b = run(5);
    assert_eq!(a.audit, b.audit, "same seed, same audit hash");
    assert_eq!(a.roots, b.roots, "same seed, same state roots");
}
