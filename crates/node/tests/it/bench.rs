//! The replication benchmark at a small size (the full one is `deai bench replication`).

use deai_node::bench::{replication, ReplicationBench};

#[test]
#[ignore = "timing run; `cargo test -p deai-node --release -- --ignored replication_bench_slow --nocapture`"]
fn replication_bench_slow() {
    let report = replication(ReplicationBench {
        txs: 8_000,
        senders: 500,
        ..ReplicationBench::default()
    })
    .unwrap();
    println!("{report:#?}");
    assert!(report.replicated_tx_per_s > 0.0 && report.embedded_tx_per_s > 0.0);
    assert!(report.replicated_blocks > 0);
}
