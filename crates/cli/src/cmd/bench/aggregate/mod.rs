//! `deai bench aggregate`: every rule on the production f32 path, against a memory-bound sum
//! and an X·Xᵀ product timed in the same run (the speed targets and the numpy comparison are in
//! `compare`).

mod compare;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use deai_aggregation::fast::matmul::{gram_f32, Parallelism};
use deai_aggregation::{from_spec, synthetic};
use serde_json::{json, Value};

use crate::Global;
use compare::{numpy_comparison, print_targets, speed_target, Measured};

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
    /// Timed runs per measurement at least; the minimum is reported.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Keep running each rule (in rounds over the rules, each run interleaved with the
    /// baselines) until its runs add up to this many seconds (at most 1000 runs): a
    /// sub-millisecond rule then gets about as many samples as the bound, which every rule's
    /// runs also sample, spread over the cell's whole time, so their minimums are comparable.
    #[arg(long, default_value_t = 0.2)]
    pub min_time: f64,
    /// Seed of the synthetic updates.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Afterwards, time the numpy baselines (`scripts/numpy_aggregate.py`, needs python3 with
    /// numpy) on the same grid and print ours/numpy side by side.
    #[arg(long)]
    pub numpy: bool,
    /// The numpy baseline script (default: `scripts/numpy_aggregate.py` in the current
    /// directory, else in the source tree this binary was built from).
    #[arg(long)]
    pub numpy_script: Option<PathBuf>,
}

/// Cap on the runs of one rule in one cell (with `--min-time`).
const MAX_RUNS: usize = 1000;

/// The compositions benchmarked besides every rule of [`deai_aggregation::RULE_NAMES`].
const BENCH_COMPOSITIONS: [&str; 2] = ["nnm+krum", "nnm+trimmed_mean"];

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
    /// The faster of two measurements of the same quantity (wall and CPU separately).
    fn min(self, other: Self) -> Self {
        Self {
            wall: self.wall.min(other.wall),
            cpu: self.cpu.min(other.cpu),
        }
    }
    /// Runs `f` once, keeps the faster times, and returns its result and this run's wall
    /// seconds.
    fn time<R>(&mut self, f: impl FnOnce() -> R) -> (R, f64) {
        let c0 = cpu_seconds();
        let t = Instant::now();
        let r = std::hint::black_box(f());
        let wall = t.elapsed().as_secs_f64();
        self.wall = self.wall.min(wall);
        if let (Some(a), Some(b)) = (c0, cpu_seconds()) {
            self.cpu = self.cpu.min(b - a);
        }
        (r, wall)
    }
}

/// Largest n × d matrix `deai bench aggregate` builds: 2³¹ f32 values (8 GiB).
const MAX_BENCH_VALUES: usize = 1 << 31;

/// Checks the grid and the time budget before anything is allocated.
fn check_bench_args(args: &BenchAggregateArgs) -> anyhow::Result<()> {
    for &n in &args.n {
        for &d in &args.d {
            if n == 0 || d == 0 || n.checked_mul(d).is_none_or(|v| v > MAX_BENCH_VALUES) {
                anyhow::bail!(
                    "--n {n} --d {d}: each cell needs n >= 1, d >= 1 and n × d <= \
                     {MAX_BENCH_VALUES} values"
                );
            }
        }
    }
    if !(args.min_time.is_finite() && args.min_time >= 0.0) {
        anyhow::bail!(
            "--min-time {}: expected a finite number of seconds >= 0",
            args.min_time
        );
    }
    Ok(())
}

/// Runs `deai bench aggregate`.
pub fn run_bench(args: BenchAggregateArgs, global: &Global) -> anyhow::Result<()> {
    check_bench_args(&args)?;
    let rules: Vec<String> = if args.rules.is_empty() {
        deai_aggregation::RULE_NAMES
            .iter()
            .chain(&BENCH_COMPOSITIONS)
            .map(|s| s.to_string())
            .collect()
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
    let mut ours: Vec<Measured> = Vec::new();
    if !global.json {
        println!(
            "deai bench aggregate: production f32 path, {threads} threads, min of at least {} \
             runs per rule (more until they add up to {} s) interleaved with the baselines; \
             bound = plain single-pass sum of the n×d f32 matrix (the faster of a contiguous \
             and a column-blocked sum, both timed); x contig = ratio to the contiguous sum \
             alone (one read in memory order, as numpy's X.sum()); XXᵀ = one gemm X·Xᵀ (f32); \
             cpu = ratio of process CPU time (robust to other load on the machine)",
            args.repeat, args.min_time
        );
        println!(
            "{:>4} {:>8} {:<20} {:>9} {:>8} {:>8} {:>8} {:>8}",
            "n", "d", "rule", "wall ms", "x bound", "x contig", "x XXᵀ", "cpu x"
        );
    }
    for &d in &args.d {
        for &n in &args.n {
            let f = n / 5;
            let s = synthetic::updates(args.seed, n, f, d);
            let rows = s.rows();
            let mut contiguous = Best::new();
            let mut blocked = Best::new();
            let mut xxt = Best::new();
            let mut g = vec![0.0f32; n * n];
            let aggs = rules
                .iter()
                .map(|rule| {
                    from_spec(rule, &bench_params(rule, &s, f))
                        .with_context(|| format!("building {rule}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let mut best = vec![Best::new(); rules.len()];
            let mut runs = vec![0usize; rules.len()];
            let mut spent = vec![0.0f64; rules.len()];
            // Rounds over the rules, each run interleaved with the baselines, so that all see
            // the same machine load, and a cheap rule's runs are spread over the whole cell
            // rather than bunched into one moment of it.
            loop {
                let mut ran = false;
                for (i, (rule, agg)) in rules.iter().zip(&aggs).enumerate() {
                    let needs = runs[i] < args.repeat.max(1)
                        || (spent[i] < args.min_time && runs[i] < MAX_RUNS);
                    if !needs {
                        continue;
                    }
                    ran = true;
                    runs[i] += 1;
                    contiguous.time(|| deai_aggregation::fast::plain_sum(&s.data));
                    blocked.time(|| deai_aggregation::fast::plain_sum_blocked(&rows));
                    let (out, wall) = best[i].time(|| agg.aggregate(&rows));
                    spent[i] += wall;
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
                if !ran {
                    break;
                }
            }
            let measured: Vec<(String, Best, usize)> = rules
                .iter()
                .cloned()
                .zip(best)
                .zip(runs)
                .map(|((rule, t), runs)| (rule, t, runs))
                .collect();
            let bound = contiguous.min(blocked);
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
                // Process CPU time can read 0 for runs of a few microseconds (0/0 here).
                let cpu = t.cpu / bound.cpu;
                let cpu = if cpu.is_finite() {
                    format!("{cpu:>8.2}")
                } else {
                    format!("{:>8}", "-")
                };
                println!(
                    "{n:>4} {d:>8} {rule:<20} {:>9.2} {:>8.2} {:>8.2} {x} {cpu}",
                    t.wall * 1e3,
                    t.wall / bound.wall,
                    t.wall / contiguous.wall,
                );
            };
            if !global.json {
                row("[bound] plain sum", bound, false);
                row("  contiguous sum", contiguous, false);
                row("  column-blocked sum", blocked, false);
                row("[XXᵀ] gemm", xxt, true);
            }
            for (rule, t, runs) in measured {
                ours.push(Measured {
                    n,
                    d,
                    rule: rule.clone(),
                    seconds: t.wall,
                    ratio: t.wall / bound.wall,
                    bound: bound.wall,
                    contiguous: contiguous.wall,
                    xxt: xxt.wall,
                });
                let vs_xxt = rule.contains("krum") || rule.starts_with("nnm");
                if global.json {
                    records.push(json!({
                        "n": n, "d": d, "f": f, "rule": rule, "seconds": t.wall, "cpu_seconds": t.cpu,
                        "bound_seconds": bound.wall, "xxt_seconds": xxt.wall,
                        "contiguous_seconds": contiguous.wall,
                        "ratio_to_bound": t.wall / bound.wall, "ratio_to_xxt": t.wall / xxt.wall,
                        "ratio_to_contiguous": t.wall / contiguous.wall,
                        "cpu_ratio_to_bound": t.cpu / bound.cpu, "threads": threads,
                        "runs": runs,
                    }));
                    if let (Some(t), Some(m), Some(rec)) =
                        (speed_target(&rule), ours.last(), records.last_mut())
                    {
                        rec["target"] = json!({
                            "limit": t.limit,
                            "against": if t.xxt { "xxt" } else { "bound" },
                            "met": m.target_ratio(&t) <= t.limit,
                        });
                    }
                } else {
                    row(&rule, t, vs_xxt);
                }
            }
        }
    }
    if !global.json {
        print_targets(&ours);
    }
    numpy_comparison(&args, &rules, records, &ours, global)
}
