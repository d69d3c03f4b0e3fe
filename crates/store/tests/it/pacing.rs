//! The embedded producer's pacing: a block at once when a transaction is ready, and
//! while idle at most one empty block per idle interval — driven by the `now_ms` input, no
//! wall clock.

use deai_store::{EmbeddedChain, EmbeddedConfig, DEFAULT_IDLE_BLOCK_MS};

use crate::common::{genesis, keys, transfer};

#[test]
fn an_idle_producer_makes_one_empty_block_per_interval() {
    let dir = tempfile::tempdir().unwrap();
    let k = keys(2);
    let g = genesis(&k);
    let mut chain = EmbeddedChain::init(dir.path(), &g, EmbeddedConfig::default()).unwrap();
    let start = g.genesis_time_ms;
    // A transaction stuck behind a nonce gap does not make the pool busy.
    chain.submit(transfer(&k[0], 5, k[1].account(), 1)).unwrap();
    // Without an idle interval, no empty block at all.
    assert_eq!(chain.idle_block_interval_ms(), None);
    for tick in 1..=40u64 {
        assert!(chain.produce_if_due(start + tick * 250).unwrap().is_none());
    }
    let mut chain = chain.with_idle_block_interval(DEFAULT_IDLE_BLOCK_MS);
    assert_eq!(chain.idle_block_interval_ms(), Some(2_000));
    // One minute of 250 ms ticks.
    let mut heights = Vec::new();
    for tick in 1..=240u64 {
        let now = start + tick * 250;
        if let Some(p) = chain.produce_if_due(now).unwrap() {
            assert!(p.block.txs.is_empty());
            heights.push((now, p.block.header.height.0));
        }
    }
    // One block every 2 s: 30 in 60 s, each exactly 2 s after the previous one.
    assert_eq!(heights.len(), 30, "{heights:?}");
    assert!(heights.windows(2).all(|w| w[1].0 - w[0].0 == 2_000));
    assert_eq!(chain.head().height.0, 30);
}

#[test]
fn a_ready_transaction_is_produced_at_the_next_tick() {
    let dir = tempfile::tempdir().unwrap();
    let k = keys(2);
    let g = genesis(&k);
    let mut chain = EmbeddedChain::init(dir.path(), &g, EmbeddedConfig::default())
        .unwrap()
        .with_idle_block_interval(60_000);
    let t0 = g.genesis_time_ms;
    assert!(!chain.block_due(t0 + 250));
    assert!(chain.produce_if_due(t0 + 250).unwrap().is_none());
    chain.submit(transfer(&k[0], 0, k[1].account(), 1)).unwrap();
    assert!(chain.block_due(t0 + 500));
    let p = chain.produce_if_due(t0 + 500).unwrap().unwrap();
    assert_eq!(p.block.txs.len(), 1);
    // Nothing ready again: the next block waits for the idle interval from this block.
    assert!(chain.produce_if_due(t0 + 750).unwrap().is_none());
    assert!(!chain.block_due(t0 + 500 + 59_999));
    assert!(chain.block_due(t0 + 500 + 60_000));
}
