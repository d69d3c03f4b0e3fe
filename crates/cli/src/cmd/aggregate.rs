//! `deai aggregate` (one rule on a JSON case, f64 reference path) and `deai bench aggregate`
//! (every rule on the production f32 path, against a memory-bound sum and an X·Xᵀ product
//! timed in the same run).

use std::io::Read;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use deai_aggregation::fast::matmul::{gram_f32, Parallelism};
use deai_aggregation::{as_rows, from_spec, nnm_from_params, synthetic};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::Global;

/// Arguments of `deai aggregate`.
#[derive(Args, Debug)]
pub struct AggregateArgs {
    /// JSON file `{"rule": "...", "params": {...}, "X": [[...], ...]}`; `-` reads stdin.
    #[arg(long)]
    pub input: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    rule: String,
    #[serde(default)]
    params: Value,
    #[serde(rename = "X")]
    x: Vec<Vec<f64>>,
}

/// Runs `deai aggregate`: prints `{"output": [...]}` (an n×d matrix for `nnm`).
pub fn run(args: AggregateArgs, _global: &Global) -> anyhow::Result<()> {
    let text = if args.input.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the case from stdin")?;
        s
    } else {
        std::fs::read_to_string(&args.input)
            .with_context(|| format!("reading {}", args.input.display()))?
    };
    let case: Case = serde_json::from_str(&text).context(
        "parsing the case: expected {\"rule\": string, \"params\": object, \"X\": array of rows of numbers}",
    )?;
    let rows = as_rows(&case.x);
    let output = if case.rule == "nnm" {
        json!(nnm_from_params(&case.params)?.transform_f64(&rows)?)
    } else {
        json!(from_spec(&case.rule, &case.params)?.aggregate_f64(&rows)?)
    };
    println!("{}", json!({ "output": output }));
    Ok(())
}

/// Arguments of `deai bench aggregate`.
#[derive(Args, Debug)]
pub struct BenchAggregateArgs {
    /// Row counts n (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [10usize, 50, 100])]
    pub n: Vec<usize>,
    /// Row lengths d (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [159_010usize, 1_000_000])]
    pub d: Vec<usize>,
    /// Rules to time (comma-separated; default every rule plus nnm+krum).
    #[arg(long, value_delimiter = ',')]
    pub rules: Vec<String>,
    /// Timed runs per measurement; the minimum is reported.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Seed of the synthetic updates.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

const BENCH_RULES: [&str; 12] = [
    "fedavg",
    "norm_clipping_mean",
    "coordinate_median",
    "trimmed_mean",
    "krum",
    "multi_krum",
    "geometric_median",
    "centered_clipping",
    "fltrust",
    "foolsgold",
    "nnm+krum",
    "nnm+trimmed_mean",
];

/// The parameters each rule is benchmarked with, for n rows of length d with f = ⌊0.2n⌋.
fn bench_params(rule: &str, s: &synthetic::Synthetic, f: usize) -> Value {
    // Honest rows have norm ≈ √(1.25 d); the bound clips the Byzantine rows (norm ≈ 20√d).
    let honest_norm = (1.25 * s.d as f64).sqrt();
    match rule {
        "fedavg" => json!({ "weights": s.sample_counts }),
        "norm_clipping_mean" => {
            json!({ "max_norm": 1.25 * honest_norm, "weights": s.sample_counts })
        }
        "trimmed_mean" => json!({ "k": f }),
        "nnm+trimmed_mean" => json!({ "nnm": { "f": f }, "k": f }),
        "krum" | "multi_krum" | "nnm+krum" => json!({ "f": f }),
        "centered_clipping" => json!({ "tau": 0.1 * honest_norm, "L": 3 }),
        "fltrust" => json!({ "server_update": s.server_update }),
        _ => json!({}),
    }
}

/// CPU time of this process so far (sum over its threads, from /proc), if readable.
fn cpu_seconds() -> Option<f64> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total as f64 * 1e-9)
}

/// Best (minimum) wall and CPU seconds of a measurement over its runs.
#[derive(Clone, Copy)]
struct Best {
    wall: f64,
    cpu: f64,
}

impl Best {
    fn new() -> Self {
        Self {
            wall: f64::INFINITY,
            cpu: f64::INFINITY,
        }
    }
    fn time<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let c0 = cpu_seconds();
        let t = Instant::now();
        let r = std::hint::black_box(f());
        self.wall = self.wall.min(t.elapsed().as_secs_f64());
        if let (Some(a), Some(b)) = (c0, cpu_seconds()) {
            self.cpu = self.cpu.min(b - a);
        }
        r
    }
}

/// Runs `deai bench aggregate`.
pub fn run_bench(args: BenchAggregateArgs, global: &Global) -> anyhow::Result<()> {
    let rules: Vec<String> = if args.rules.is_empty() {
        BENCH_RULES.iter().map(|s| s.to_string()).collect()
    } else {
        args.rules
            .iter()
            .map(|r| match r.as_str() {
                "median" => "coordinate_median".to_string(),
                "trimmed" => "trimmed_mean".to_string(),
                "gm" => "geometric_median".to_string(),
                other => other.to_string(),
            })
            .collect()
    };
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; benchmark numbers are only meaningful with --release");
    }
    let threads = deai_aggregation::fast::threads();
    let mut records = Vec::new();
    if !global.json {
        println!(
            "deai bench aggregate: production f32 path, {threads} threads, min of {} runs \
             interleaved with the baselines; bound = plain single-pass sum of the n×d f32 \
             matrix; XXᵀ = one gemm X·Xᵀ (f32); cpu = ratio of process CPU time (robust to \
             other load on the machine)",
            args.repeat
        );
        println!(
            "{:>4} {:>8} {:<20} {:>9} {:>8} {:>8} {:>8}",
            "n", "d", "rule", "wall ms", "x bound", "x XXᵀ", "cpu x"
        );
    }
    for &d in &args.d {
        for &n in &args.n {
            let f = n / 5;
            let s = synthetic::updates(args.seed, n, f, d);
            let rows = s.rows();
            let mut bound = Best::new();
            let mut xxt = Best::new();
            let mut g = vec![0.0f32; n * n];
            let mut measured = Vec::new();
            for rule in &rules {
                let agg = from_spec(rule, &bench_params(rule, &s, f))
                    .with_context(|| format!("building {rule}"))?;
                let mut best = Best::new();
                // Interleaved with the baselines, so that all see the same machine load.
                for _ in 0..args.repeat.max(1) {
                    bound.time(|| deai_aggregation::fast::plain_sum(&s.data));
                    let out = best.time(|| agg.aggregate(&rows));
                    out.with_context(|| format!("{rule} at n = {n}, d = {d}"))?;
                    if rule.contains("krum")
                        || rule.starts_with("nnm")
                        || rule == "geometric_median"
                    {
                        xxt.time(|| {
                            gram_f32(&s.data, n, d, d, &mut g, Parallelism::Rayon(0)).is_ok()
                        });
                    }
                }
                measured.push((rule.clone(), best));
            }
            if xxt.wall.is_infinite() {
                for _ in 0..args.repeat.max(1) {
                    xxt.time(|| gram_f32(&s.data, n, d, d, &mut g, Parallelism::Rayon(0)).is_ok());
                }
            }
            let row = |rule: &str, t: Best, vs_xxt: bool| {
                let x = if vs_xxt {
                    format!("{:>8.2}", t.wall / xxt.wall)
                } else {
                    format!("{:>8}", "")
                };
                println!(
                    "{n:>4} {d:>8} {rule:<20} {:>9.2} {:>8.2} {x} {:>8.2}",
                    t.wall * 1e3,
                    t.wall / bound.wall,
                    t.cpu / bound.cpu,
                );
            };
            if !global.json {
                row("[bound] plain sum", bound, false);
                row("[XXᵀ] gemm", xxt, true);
            }
            for (rule, t) in measured {
                let vs_xxt = rule.contains("krum") || rule.starts_with("nnm");
                if global.json {
                    records.push(json!({
                        "n": n, "d": d, "f": f, "rule": rule, "seconds": t.wall, "cpu_seconds": t.cpu,
                        "bound_seconds": bound.wall, "xxt_seconds": xxt.wall,
                        "ratio_to_bound": t.wall / bound.wall, "ratio_to_xxt": t.wall / xxt.wall,
                        "cpu_ratio_to_bound": t.cpu / bound.cpu, "threads": threads,
                    }));
                } else {
                    row(&rule, t, vs_xxt);
                }
            }
        }
    }
    if global.json {
        println!("{}", Value::Array(records));
    }
    Ok(())
}
