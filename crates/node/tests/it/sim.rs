//! Deterministic simulation of 4 validators in one process (commonware's deterministic runtime:
//! virtual time, seeded message loss and latency).

use std::{sync::Arc, time::Duration};

use commonware_consensus::simplex::{elector::RoundRobin, mocks};
use commonware_cryptography::{Sha256, Signer as _};
use commonware_p2p::utils::mux::Muxer;
use commonware_runtime::{deterministic, Clock, Quota, Runner as _, Supervisor as _};
use commonware_utils::NZU32;
use deai_node::engine::{
    cluster::{Cluster, ClusterConfig, LinkSpec},
    scheme_for, Timing,
};

use crate::toy::{Root, ToyExecutor};

const NAMESPACE: &[u8] = b"deai-sim";

fn config(link: LinkSpec) -> ClusterConfig {
    ClusterConfig {
        validators: 4,
        participants: 0,
        epoch_length: 0,
        link,
        namespace: NAMESPACE.to_vec(),
        max_payload_bytes: 1 << 20,
        timing: Timing::local(),
        messages_per_second: 10_000,
    }
}

/// Waits (in virtual time) until every executor has applied `height`; panics after `limit`.
async fn wait_for(
    context: &deterministic::Context,
    executors: &[Arc<ToyExecutor>],
    height: u64,
    limit: Duration,
) {
    let deadline = context.current() + limit;
    loop {
        if executors.iter().all(|e| e.roots().len() as u64 >= height) {
            return;
        }
        assert!(
            context.current() < deadline,
            "not all nodes reached height {height} within {limit:?}: {:?}",
            executors
                .iter()
                .map(|e| e.roots().len())
                .collect::<Vec<_>>()
        );
        context.sleep(Duration::from_millis(100)).await;
    }
}

/// Asserts that all executors applied identical (height, root) sequences up to `height`, and
/// returns that sequence.
fn assert_same_roots(executors: &[Arc<ToyExecutor>], height: u64) -> Vec<(u64, Root)> {
    let reference: Vec<_> = executors[0]
        .roots()
        .into_iter()
        .take(height as usize)
        .collect();
    assert_eq!(reference.len() as u64, height);
    for (h, (height_i, _)) in reference.iter().enumerate() {
        assert_eq!(
            *height_i,
            h as u64 + 1,
            "heights are applied in order without gaps"
        );
    }
    for (i, e) in executors.iter().enumerate().skip(1) {
        let roots: Vec<_> = e.roots().into_iter().take(height as usize).collect();
        assert_eq!(roots, reference, "validator {i} diverged");
    }
    reference
}

/// Runs 4 honest validators to `height` under `link`; returns the roots and the runtime's
/// audit hash (a digest of every scheduling decision and message).
fn run_honest(seed: u64, link: LinkSpec, height: u64) -> (Vec<(u64, Root)>, String) {
    let runner = deterministic::Runner::new(
        deterministic::Config::new()
            .with_seed(seed)
            .with_timeout(Some(Duration::from_secs(3_600))),
    );
    runner.start(|context| async move {
        let mut cluster = Cluster::new(context.child("cluster"), config(link))
            .await
            .unwrap();
        let executors: Vec<_> = (0..4).map(|_| ToyExecutor::new(3)).collect();
        cluster.start_all(&executors).await.unwrap();
        wait_for(&context, &executors, height, Duration::from_secs(600)).await;
        let roots = assert_same_roots(&executors, height);
        (roots, context.auditor().state())
    })
}

#[test]
fn four_honest_nodes_finalize_the_same_chain() {
    let (roots, _) = run_honest(1, LinkSpec::reliable(Duration::from_millis(10)), 20);
    assert_eq!(roots.len(), 20);
}

#[test]
fn lossy_slow_links_still_finalize_the_same_chain() {
    let link = LinkSpec {
        latency: Duration::from_millis(150),
        jitter: Duration::from_millis(50),
        success_rate: 0.8,
    };
    run_honest(2, link, 12);
}

#[test]
fn same_seed_gives_same_audit_and_roots() {
    let link = LinkSpec {
        latency: Duration::from_millis(50),
        jitter: Duration::from_millis(20),
        success_rate: 0.95,
    };
    let a = run_honest(7, link, 8);
    let b = run_honest(7, link, 8);
    assert_eq!(a, b, "same seed must replay bit for bit");
    let c = run_honest(8, link, 8);
    assert_ne!(
        a.1, c.1,
        "a different seed schedules differently (the audit is not constant)"
    );
}

#[test]
fn crashed_node_restarts_and_catches_up_with_same_roots() {
    let runner = deterministic::Runner::new(
        deterministic::Config::new()
            .with_seed(3)
            .with_timeout(Some(Duration::from_secs(3_600))),
    );
    runner.start(|context| async move {
        let link = LinkSpec::reliable(Duration::from_millis(20));
        let mut cluster = Cluster::new(context.child("cluster"), config(link))
            .await
            .unwrap();
        let mut executors: Vec<_> = (0..4).map(|_| ToyExecutor::new(2)).collect();
        cluster.start_all(&executors).await.unwrap();
        wait_for(&context, &executors, 5, Duration::from_secs(300)).await;

        // Crash validator 3; the other three (a quorum) keep finalizing without it.
        cluster.crash(3);
        let crashed_at = executors[3].roots().len() as u64;
        wait_for(
            &context,
            &executors[..3],
            crashed_at + 15,
            Duration::from_secs(300),
        )
        .await;
        assert_eq!(
            executors[3].roots().len() as u64,
            crashed_at,
            "a crashed node applies nothing"
        );

        // Restart it from what it had persisted; it backfills and rejoins.
        let reopened = ToyExecutor::open(executors[3].disk(), 2);
        executors[3] = reopened.clone();
        cluster.start(3, reopened).await.unwrap();
        let target = executors[0].roots().len() as u64 + 5;
        wait_for(&context, &executors, target, Duration::from_secs(600)).await;
        assert_same_roots(&executors, target);
    });
}

#[test]
fn byzantine_equivocator_cannot_break_safety_or_liveness() {
    let runner = deterministic::Runner::new(
        deterministic::Config::new()
            .with_seed(5)
            .with_timeout(Some(Duration::from_secs(3_600))),
    );
    runner.start(|context| async move {
        let link = LinkSpec::reliable(Duration::from_millis(20));
        let mut cluster = Cluster::new(context.child("cluster"), config(link))
            .await
            .unwrap();
        let executors: Vec<_> = (0..3).map(|_| ToyExecutor::new(2)).collect();
        cluster.start_all(&executors).await.unwrap();

        // Validator 3 runs commonware's Byzantine equivocator: whenever it leads, it signs two
        // different proposals for the same view and sends one to a victim, the other to the rest.
        let key = cluster.key(3).unwrap();
        let scheme = scheme_for(NAMESPACE, &cluster.public_keys(), &key).unwrap();
        let control = cluster.oracle().control(key.public_key());
        let quota = Quota::per_second(NZU32!(10_000));
        let (votes_tx, votes_rx) = control.register(0, quota).await.unwrap();
        let (certs_tx, certs_rx) = control.register(1, quota).await.unwrap();
        // Consensus messages travel on per-epoch sub-channels; the equivocator speaks epoch 0's.
        let (mux, mut votes_mux) = Muxer::new(context.child("byz_votes"), votes_tx, votes_rx);
        mux.start();
        let (mux, mut certs_mux) = Muxer::new(context.child("byz_certs"), certs_tx, certs_rx);
        mux.start();
        let votes = votes_mux.register(0).await.unwrap();
        let certificates = certs_mux.register(0).await.unwrap();
        let relay = Arc::new(mocks::relay::Relay::new());
        let equivocator = mocks::equivocator::Equivocator::<_, _, _, Sha256>::new(
            context.child("byzantine"),
            mocks::equivocator::Config {
                scheme,
                elector: RoundRobin::<Sha256>::default(),
                epoch: commonware_consensus::types::Epoch::zero(),
                relay,
            },
        );
        let _byzantine = equivocator.start(votes, certificates);

        // Liveness: the three honest validators (a quorum) keep finalizing across many views in
        // which the equivocator leads. Safety: they finalize the same chain.
        wait_for(&context, &executors, 20, Duration::from_secs(900)).await;
        assert_same_roots(&executors, 20);
    });
}
