//! One Yuma epoch on 4096 UIDs of which 256 are validators with dense weight rows, against a
//! plain read (sum) of the same weight matrix measured in the same run.
//!
//! `cargo bench -p deai-yuma --bench epoch` prints criterion's numbers and then one line per
//! mode with the epoch time, the read time and their ratio.
#![allow(clippy::disallowed_methods)] // a timing harness reads the clock (clippy.toml)

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_main, Criterion};
use deai_yuma::math::Fx;
use deai_yuma::{
    bonds_from_u16, epoch_fixed, weights_from_u16, FixedInput, FixedParams, Masks, UidMatrix,
};

const UIDS: usize = 4096;
const VALIDATORS: usize = 256;

/// Deterministic splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Validators 0..256 with uneven stake, dense random `u16` weights on all 4096 UIDs and
/// random previous bonds.
fn input(yuma3: bool) -> FixedInput {
    let mut rng = Rng(42);
    let stake: Vec<u128> = (0..UIDS)
        .map(|uid| {
            if uid < VALIDATORS {
                1_000_000_000 + u128::from(rng.next() % 1_000_000_000_000)
            } else {
                0
            }
        })
        .collect();
    let mut weights = UidMatrix::<u16>::new(UIDS);
    let mut bonds = UidMatrix::<u16>::new(UIDS);
    for uid in 0..VALIDATORS {
        let w: Vec<u16> = (0..UIDS).map(|_| (rng.next() % 65536) as u16).collect();
        weights.push_row("weights", uid, &w).unwrap();
        let b: Vec<u16> = (0..UIDS).map(|_| (rng.next() % 65536) as u16).collect();
        bonds.push_row("bonds", uid, &b).unwrap();
    }
    let mut params = FixedParams::chain_defaults();
    params.yuma3 = yuma3;
    params.liquid_alpha = yuma3;
    params.max_allowed_validators = Some(VALIDATORS);
    FixedInput {
        stake,
        weights: weights_from_u16(&weights),
        bonds: bonds_from_u16(&bonds, yuma3),
        masks: Masks::default(),
        params,
    }
}

/// The baseline: one pass over every stored weight.
fn read(weights: &UidMatrix<Fx>) -> i64 {
    weights
        .data()
        .iter()
        .fold(0i64, |acc, w| acc.wrapping_add(w.to_bits()))
}

fn median_time<R>(runs: usize, mut f: impl FnMut() -> R) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("epoch");
    group.sample_size(10);
    let classic = input(false);
    let yuma3 = input(true);
    let read_name = format!("read/validators={VALIDATORS},uids={UIDS}");
    group.bench_function(&read_name, |b| b.iter(|| read(black_box(&classic.weights))));
    let baseline = median_time(51, || read(black_box(&classic.weights)));
    let mut lines = Vec::new();
    for (mode, input) in [("run", &classic), ("run_yuma3", &yuma3)] {
        let name = format!("{mode}/validators={VALIDATORS},uids={UIDS}");
        group.bench_function(&name, |b| b.iter(|| epoch_fixed(black_box(input))));
        let epoch = median_time(11, || epoch_fixed(black_box(input)));
        lines.push(format!(
            "epoch/{name}: {:.2} ms per epoch; epoch/{read_name} (plain read of the weight matrix): {:.3} ms; ratio {:.0}x",
            epoch.as_secs_f64() * 1e3,
            baseline.as_secs_f64() * 1e3,
            epoch.as_secs_f64() / baseline.as_secs_f64()
        ));
    }
    group.finish();
    for line in lines {
        println!("{line}");
    }
}

#[allow(missing_docs)] // criterion_group! defines an undocumented `pub fn benches`
mod group {
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(group::benches);
