//! 4 validators replicating the real deai ledger (redb stores, signed transfers) under the
//! deterministic runtime.

use std::{path::Path, sync::Arc, time::Duration};

use commonware_runtime::{deterministic, Clock, Runner as _, Supervisor as _};
use deai_chain::GenesisConfig;
use deai_node::{
    engine::{
        cluster::{Cluster, ClusterConfig, LinkSpec},
        Executor as _, Timing,
    },
    ledger::{BlockLimits, ReplicatedLedger},
};
use deai_types::{Amount, Call, ChainId, Hash32, Keypair, Nonce, SignedTx, Tx};

pub fn genesis(users: &[Keypair]) -> GenesisConfig {
    GenesisConfig::funded(
        ChainId::new("deai-sim").unwrap(),
        users.iter().map(Keypair::account),
        Amount(1_000_000_000),
    )
}

pub fn users(n: u8) -> Vec<Keypair> {
    (0..n).map(|i| Keypair::from_seed([i + 1; 32])).collect()
}

pub fn transfer(from: &Keypair, to: &Keypair, nonce: u64, amount: u128) -> SignedTx {
    from.sign_tx(Tx {
        chain_id: ChainId::new("deai-sim").unwrap(),
        nonce: Nonce(nonce),
        fee: Amount(1),
        call: Call::Transfer {
            to: to.account(),
            amount: Amount(amount),
        },
    })
}

fn open_all(dirs: &[tempfile::TempDir], genesis: &GenesisConfig) -> Vec<Arc<ReplicatedLedger>> {
    dirs.iter()
        .map(|d| {
            Arc::new(ReplicatedLedger::init(d.path(), genesis, BlockLimits::default()).unwrap())
        })
        .collect()
}

fn root_at(dir: &Path, height: u64) -> Hash32 {
    let store = deai_store::Store::open(dir).unwrap();
    store
        .block(deai_types::Height(height))
        .unwrap()
        .unwrap()
        .header
        .state_root
}

async fn wait_height(context: &deterministic::Context, ledgers: &[Arc<ReplicatedLedger>], h: u64) {
    let deadline = context.current() + Duration::from_secs(600);
    while ledgers.iter().any(|l| l.last_applied_height() < h) {
        assert!(context.current() < deadline, "stuck below height {h}");
        context.sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn four_nodes_replicate_signed_transfers_and_survive_a_crash() {
    let users = users(8);
    let genesis = genesis(&users);
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let paths: Vec<_> = dirs.iter().map(|d| d.path().to_path_buf()).collect();
    let ledgers = open_all(&dirs, &genesis);
    let task_paths = paths.clone();
    let runner = deterministic::Runner::new(
        deterministic::Config::new()
            .with_seed(11)
            .with_timeout(Some(Duration::from_secs(3_600))),
    );
    let final_height = runner.start(|context| async move {
        let config = ClusterConfig {
            validators: 4,
            participants: 0,
            epoch_length: 0,
            link: LinkSpec::reliable(Duration::from_millis(20)),
            namespace: b"deai-sim".to_vec(),
            max_payload_bytes: BlockLimits::default().max_bytes,
            timing: Timing::local(),
            messages_per_second: 10_000,
        };
        let mut cluster = Cluster::new(context.child("cluster"), config)
            .await
            .unwrap();
        let mut ledgers = ledgers;
        cluster.start_all(&ledgers).await.unwrap();
        // Every user sends 5 transfers to the next user; every node gets every transaction.
        let mut sent = 0u64;
        for round in 0..5u64 {
            for (i, u) in users.iter().enumerate() {
                let tx = transfer(u, &users[(i + 1) % users.len()], round, 10);
                for l in &ledgers {
                    l.submit(tx.clone()).unwrap();
                }
                sent += 1;
            }
        }
        wait_height(&context, &ledgers, 3).await;

        // Crash validator 3, drop its ledger (closing redb), keep going, reopen it from disk.
        cluster.crash(3);
        context.sleep(Duration::from_secs(1)).await;
        let before = ledgers[3].last_applied_height();
        let weak = Arc::downgrade(&ledgers[3]);
        ledgers[3] = ledgers[0].clone();
        let deadline = context.current() + Duration::from_secs(30);
        while weak.strong_count() > 0 {
            assert!(
                context.current() < deadline,
                "crashed node's ledger still referenced"
            );
            context.sleep(Duration::from_millis(100)).await;
        }
        wait_height(&context, &ledgers[..3], before + 10).await;
        let reopened =
            Arc::new(ReplicatedLedger::open(&task_paths[3], BlockLimits::default()).unwrap());
        assert_eq!(
            reopened.last_applied_height(),
            before,
            "restart recovers the last committed block"
        );
        ledgers[3] = reopened.clone();
        cluster.start(3, reopened).await.unwrap();
        let target = ledgers[0].last_applied_height() + 3;
        wait_height(&context, &ledgers, target).await;

        // All transfers executed everywhere with identical state.
        let counted: u64 =
            ledgers[0].with_state(|s, _| users.iter().map(|u| s.nonce_of(&u.account()).0).sum());
        assert_eq!(
            counted, sent,
            "every submitted transfer was finalized exactly once"
        );
        let root = ledgers[0].with_state(|s, _| s.root());
        for l in &ledgers {
            assert_eq!(
                l.with_state(|s, h| (s.root(), h.height.0 >= target)),
                (root, true)
            );
        }
        target
    });
    // The stores on disk agree block by block.
    for h in 1..=final_height {
        let r0 = root_at(&paths[0], h);
        for p in &paths[1..] {
            assert_eq!(root_at(p, h), r0, "state root differs at height {h}");
        }
    }
}
