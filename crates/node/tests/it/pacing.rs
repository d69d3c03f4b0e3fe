//! Block pacing of the replicated ledger: an idle network makes about one empty
//! block per idle interval — also while a transaction waits behind a nonce gap — and a ready
//! transaction is still finalized promptly. Virtual time (deterministic runtime), no wall clock.

use std::{sync::Arc, time::Duration};

use commonware_runtime::{deterministic, Clock, Runner as _, Supervisor as _};
use deai_node::{
    engine::{
        cluster::{Cluster, ClusterConfig, LinkSpec},
        Executor as _, Timing,
    },
    ledger::{BlockLimits, ReplicatedLedger},
};

use crate::ledger_sim::{genesis, transfer, users};

#[test]
fn an_idle_network_makes_one_empty_block_per_idle_interval() {
    let users = users(3);
    let genesis = genesis(&users);
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let ledgers: Vec<Arc<ReplicatedLedger>> = dirs
        .iter()
        .map(|d| {
            Arc::new(ReplicatedLedger::init(d.path(), &genesis, BlockLimits::default()).unwrap())
        })
        .collect();
    let idle = Duration::from_secs(2);
    let timing = Timing::local().with_idle_block_interval(idle);
    assert!(timing.leader_timeout > idle);
    let runner = deterministic::Runner::new(
        deterministic::Config::new()
            .with_seed(18)
            .with_timeout(Some(Duration::from_secs(600))),
    );
    runner.start(|context| async move {
        let config = ClusterConfig {
            validators: 4,
            participants: 0,
            epoch_length: 0,
            link: LinkSpec::reliable(Duration::from_millis(20)),
            namespace: b"deai-sim".to_vec(),
            max_payload_bytes: BlockLimits::default().max_bytes,
            timing,
            messages_per_second: 10_000,
        };
        let mut cluster = Cluster::new(context.child("cluster"), config)
            .await
            .unwrap();
        // Nonce 3 while the account expects 0: waits behind a gap on every node.
        let gapped = transfer(&users[0], &users[1], 3, 1);
        for l in &ledgers {
            l.submit(gapped.clone()).unwrap();
        }
        cluster.start_all(&ledgers).await.unwrap();
        let start = context.current();
        context.sleep(Duration::from_secs(30)).await;
        let height = ledgers[0].last_applied_height();
        // About one block per 2 s plus consensus latency: at most 16 in 30 s (one at the
        // start), and enough that windows counted in blocks still close. (Before pacing the
        // gapped transaction made every view propose: 77 blocks.)
        assert!(
            (8..=16).contains(&height),
            "height {height} after 30 s idle"
        );
        assert_eq!(
            ledgers[0].mempool_len(),
            1,
            "the gapped transaction still waits"
        );

        // A ready transaction is finalized well within one idle interval.
        let ready = transfer(&users[2], &users[1], 0, 1);
        for l in &ledgers {
            l.submit(ready.clone()).unwrap();
        }
        let sent = context.current();
        let account = users[2].account();
        while ledgers
            .iter()
            .any(|l| l.with_state(|s, _| s.nonce_of(&account).0) == 0)
        {
            assert!(
                context.current().duration_since(sent).unwrap() < Duration::from_secs(1),
                "a ready transaction waited for the idle interval"
            );
            context.sleep(Duration::from_millis(10)).await;
        }
        assert!(context.current().duration_since(start).unwrap() >= Duration::from_secs(30));
    });
}
