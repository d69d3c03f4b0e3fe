//! Quick timing of production rules against the plain single-pass sum (the faster of the
//! contiguous and the column-blocked one; development aid; the
//! full benchmark is `deai bench aggregate`). Usage: fastbench N D REPEAT RULE...
//! Environment: `BOUNDS=1` prints both bounds; `FLUSH=1` reads a 256 MiB buffer before each
//! timed call, so every measurement starts from memory rather than a partly warm cache.
#![allow(clippy::disallowed_methods)] // a timing harness reads the clock (clippy.toml)
use std::time::Instant;

use deai_aggregation::{fast, from_spec, synthetic};
use serde_json::json;

/// CPU time of this process so far (sum over its threads, from /proc).
fn cpu() -> f64 {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        if let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) {
            total += stat
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total as f64 * 1e-9
}

/// Times `f`, keeping the minimum wall and CPU seconds.
fn time<R>(best: &mut (f64, f64), f: impl FnOnce() -> R) {
    if let Some(buf) = FLUSH.get() {
        std::hint::black_box(fast::plain_sum(buf));
    }
    let c = cpu();
    let t = Instant::now();
    std::hint::black_box(f());
    best.0 = best.0.min(t.elapsed().as_secs_f64());
    best.1 = best.1.min(cpu() - c);
}

static FLUSH: std::sync::OnceLock<Vec<f32>> = std::sync::OnceLock::new();

fn main() {
    if std::env::var_os("FLUSH").is_some() {
        let _ = FLUSH.set(vec![1.0; 64 << 20]);
    }
    let a: Vec<String> = std::env::args().collect();
    let n: usize = a.get(1).and_then(|s| s.parse().ok()).unwrap_or(50);
    let d: usize = a.get(2).and_then(|s| s.parse().ok()).unwrap_or(159_010);
    let rep: usize = a.get(3).and_then(|s| s.parse().ok()).unwrap_or(5);
    let f = n / 5;
    let s = synthetic::updates(1, n, f, d);
    let rows = s.rows();
    let hn = (1.25 * d as f64).sqrt();
    for rule in &a[4..] {
        let p = match rule.as_str() {
            "fedavg" => json!({ "weights": s.sample_counts }),
            "norm_clipping_mean" => json!({ "max_norm": 1.25 * hn, "weights": s.sample_counts }),
            "trimmed_mean" => json!({ "k": f }),
            "krum" | "multi_krum" | "nnm+krum" => json!({ "f": f }),
            "nnm+trimmed_mean" => json!({ "nnm": { "f": f }, "k": f }),
            "centered_clipping" => json!({ "tau": 0.1 * hn, "L": 3 }),
            "fltrust" => json!({ "server_update": s.server_update }),
            _ => json!({}),
        };
        let agg = from_spec(rule, &p).unwrap();
        // Best (wall, CPU) seconds: contiguous bound, column-blocked bound, rule, X·Xᵀ.
        let (mut tc, mut tk, mut tr, mut tg) = (
            (f64::MAX, f64::MAX),
            (f64::MAX, f64::MAX),
            (f64::MAX, f64::MAX),
            (f64::MAX, f64::MAX),
        );
        let mut g = vec![0.0f32; n * n];
        for _ in 0..rep {
            time(&mut tc, || fast::plain_sum(&s.data));
            time(&mut tk, || fast::plain_sum_blocked(&rows));
            time(&mut tr, || agg.aggregate(&rows).unwrap());
            if rule.contains("krum") || rule.contains("geometric") {
                time(&mut tg, || {
                    fast::matmul::gram_f32(
                        &s.data,
                        n,
                        d,
                        d,
                        &mut g,
                        fast::matmul::Parallelism::Rayon(0),
                    )
                    .unwrap()
                });
            }
        }
        let tb = (tc.0.min(tk.0), tc.1.min(tk.1));
        if std::env::var_os("BOUNDS").is_some() {
            println!(
                "contiguous {:.3} ms, column-blocked {:.3} ms",
                tc.0 * 1e3,
                tk.0 * 1e3
            );
        }
        println!(
            "{n:>4} {d:>8} {rule:<20} {:>8.2} ms  bound {:>7.2} ms  x{:>6.2} (cpu {:>6.2})  xXXt {:>6.2} (cpu {:>6.2})",
            tr.0 * 1e3,
            tb.0 * 1e3,
            tr.0 / tb.0,
            tr.1 / tb.1,
            tr.0 / tg.0,
            tr.1 / tg.1,
        );
    }
}
