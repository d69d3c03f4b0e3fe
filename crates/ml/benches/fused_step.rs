//! Times the fused MLP path on one client at a time (800 samples, batch 32, one epoch, one thread) against
//! this machine's single-thread f32 GEMM peak measured in the same process, before and after.
//!
//! `cargo bench -p deai-ml --bench fused_step` (prints median µs per step, GFLOP/s executed and
//! the ratio to the peak).

use std::path::Path;
use std::time::Instant;

use deai_ml::bench::matmul_peak;
use deai_ml::fused::{train_mlp, FLOPS_PER_SAMPLE};
use deai_ml::kernel::{gemm_fused, Init, Lhs, Store};
use deai_ml::matmul::View;
use deai_ml::{data, LocalCfg, ModelKind};

/// Median seconds of `f` over `reps` calls.
fn time(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut s: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    s.sort_by(f64::total_cmp);
    s[reps / 2]
}

/// A named product: multiply-adds and the call.
type Case<'a> = (&'static str, usize, Box<dyn FnMut() + 'a>);

/// GFLOP/s of the kernel on the fused path's shapes (batch 32).
fn shapes(peak: f64) {
    let (b, hp, inp, xs, out) = (32, 208, 784, 800, 10);
    let x: Vec<f32> = (0..b * xs).map(|i| (i % 7) as f32 * 0.1 - 0.3).collect();
    let w1: Vec<f32> = (0..(inp + 1) * hp).map(|i| (i % 5) as f32 * 0.01).collect();
    let w2: Vec<f32> = (0..out * hp).map(|i| (i % 3) as f32 * 0.01).collect();
    let dz: Vec<f32> = (0..b * out).map(|i| (i % 3) as f32 * 0.01).collect();
    let mut h = vec![0.0f32; b * hp];
    let mut dh = vec![0.0f32; b * hp];
    let mut w1m = w1.clone();
    let mut w2m = w2.clone();
    let cases: [Case<'_>; 4] = [
        (
            "forward X·W1ᵀ+b1, relu (32×784·784×208)",
            b * inp * hp,
            Box::new(|| {
                let (w, b1) = w1.split_at(inp * hp);
                gemm_fused(
                    b,
                    hp,
                    inp,
                    &mut h,
                    hp,
                    Init::Row(b1),
                    Lhs::View(View::rows(&x, xs)),
                    w,
                    hp,
                    Store::Relu,
                )
                .unwrap()
            }),
        ),
        (
            "update W1ᵀ|b1 += Xᵀ·dH (785×32·32×208)",
            (inp + 1) * b * hp,
            Box::new(|| {
                gemm_fused(
                    inp + 1,
                    hp,
                    b,
                    &mut w1m,
                    hp,
                    Init::Scale(1.0),
                    Lhs::View(View::transposed(&x, xs)),
                    &w1[..b * hp],
                    hp,
                    Store::Plain,
                )
                .unwrap()
            }),
        ),
        (
            "dH = dZ·W2 masked (32×10·10×208)",
            b * out * hp,
            Box::new(|| {
                gemm_fused(
                    b,
                    hp,
                    out,
                    &mut dh,
                    hp,
                    Init::Zero,
                    Lhs::View(View::rows(&dz, out)),
                    &w2,
                    hp,
                    Store::Mask {
                        mask: &w1[..b * hp],
                        ld: hp,
                    },
                )
                .unwrap()
            }),
        ),
        (
            "update W2 += dZᵀ·H (10×32·32×208)",
            out * b * hp,
            Box::new(|| {
                gemm_fused(
                    out,
                    hp,
                    b,
                    &mut w2m,
                    hp,
                    Init::Scale(1.0),
                    Lhs::View(View::transposed(&dz, out)),
                    &w1[..b * hp],
                    hp,
                    Store::Plain,
                )
                .unwrap()
            }),
        ),
    ];
    for (name, macs, mut f) in cases {
        let sec = time(2000, &mut f);
        let g = 2.0 * macs as f64 / sec / 1e9;
        println!(
            "  kernel {name}: {:.2} µs, {g:.1} GFLOP/s, {:.3} of peak",
            sec * 1e6,
            g / peak
        );
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist-10k");
    let splits = data::load_dir(&dir)?;
    let train = &splits.train;
    // Ten clients of 800 samples spread over the whole training set (a stride-10 split), taken
    // in turn as one core does in a round, so the dataset is not all in cache.
    let clients: Vec<Vec<usize>> = (0..10)
        .map(|c| (c..train.len()).step_by(10).take(800).collect())
        .collect();
    let idx = &clients[0];
    let cfg = LocalCfg::default();
    let g = ModelKind::Mlp.init(0);
    let reps: usize = std::env::var("REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let before = matmul_peak(1, 512, 0.5)?;
    let _ = train_mlp(&g, train, idx, &cfg, 0)?; // warm-up
    let mut secs = Vec::with_capacity(reps);
    for r in 0..reps {
        let t = Instant::now();
        let out = train_mlp(&g, train, &clients[r % 10], &cfg, r as u64)?;
        secs.push(t.elapsed().as_secs_f64());
        std::hint::black_box(out);
    }
    let after = matmul_peak(1, 512, 0.5)?;
    secs.sort_by(f64::total_cmp);
    let med = secs[secs.len() / 2];
    let steps = idx.len().div_ceil(cfg.batch) as f64;
    let gflops = FLOPS_PER_SAMPLE as f64 * idx.len() as f64 / med / 1e9;
    let peak = before.gflops.max(after.gflops);
    println!(
        "fused/client (800 samples of 10 clients in turn, 1 thread): median {:.3} ms ({:.1} µs/step, min {:.3} ms), {gflops:.1} GFLOP/s executed; peak {peak:.1} GFLOP/s (before {:.1}, after {:.1}); ratio {:.3}",
        med * 1e3,
        med / steps * 1e6,
        secs[0] * 1e3,
        before.gflops,
        after.gflops,
        gflops / peak
    );
    shapes(peak);
    round_shares(train, &cfg, &g)?;
    Ok(())
}

/// Where a federated round's time goes (10 IID clients, 2 threads, FedAvg): local training
/// (with each update's delta and blake3 hash) and aggregation, medians over 20 rounds.
fn round_shares(
    train: &deai_ml::Dataset,
    cfg: &LocalCfg,
    g: &[f32],
) -> Result<(), Box<dyn std::error::Error>> {
    let spec: deai_ml::PartitionSpec = "iid".parse()?;
    let part = deai_ml::partition::partition(train.labels(), 10, &spec, 0)?;
    let (mut tr, mut ag) = (Vec::new(), Vec::new());
    deai_ml::with_threads(Some(2), || -> Result<(), deai_ml::MlError> {
        let mut g = g.to_vec();
        for round in 0..21 {
            let out = deai_ml::run_round(&g, train, &part, cfg, 0, round, &deai_ml::fedavg)?;
            if round > 0 {
                tr.push(out.train_seconds);
                ag.push(out.aggregate_seconds);
            }
            g = out.global;
        }
        Ok(())
    })??;
    tr.sort_by(f64::total_cmp);
    ag.sort_by(f64::total_cmp);
    let (t, a) = (tr[tr.len() / 2], ag[ag.len() / 2]);
    let trained = train_mlp(g, train, &part.clients[0], cfg, 0)?.params;
    let upd = time(200, || {
        let _ = std::hint::black_box(deai_ml::Update::between(g, &trained).map(|u| u.hash));
    });
    println!(
        "  one client's update (delta + blake3 of {} values): {:.3} ms; 10 per round on 2 threads ≈ {:.2} ms",
        g.len(),
        upd * 1e3,
        upd * 5e3
    );
    println!(
        "  round (10 clients, 2 threads): train + hash {:.2} ms, aggregate {:.2} ms ({:.1} % of the round)",
        t * 1e3,
        a * 1e3,
        100.0 * a / (t + a)
    );
    Ok(())
}
