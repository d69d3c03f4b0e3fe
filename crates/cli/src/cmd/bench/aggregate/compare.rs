//! What `deai bench aggregate` reports after its grid: one verdict line per speed target, and
//! with `--numpy` the same grid timed by `scripts/numpy_aggregate.py`, side by side.

use anyhow::Context;
use serde_json::{json, Value};

use super::BenchAggregateArgs;
use crate::Global;

/// One of our measurements, kept for the numpy comparison.
pub(super) struct Measured {
    pub(super) n: usize,
    pub(super) d: usize,
    pub(super) rule: String,
    pub(super) seconds: f64,
    pub(super) ratio: f64,
    /// Our single-pass bound, the contiguous sum alone and the X·Xᵀ product of the same
    /// matrix (seconds).
    pub(super) bound: f64,
    pub(super) contiguous: f64,
    pub(super) xxt: f64,
}

/// A rule's speed target: at most `limit` times the bound, or times one X·Xᵀ product of the
/// same matrix for Krum and Multi-Krum (the speed targets on 2 cores, docs/robustness.md).
pub(super) struct SpeedTarget {
    pub(super) limit: f64,
    pub(super) xxt: bool,
}

pub(super) fn speed_target(rule: &str) -> Option<SpeedTarget> {
    let (limit, xxt) = match rule {
        "fedavg" | "norm_clipping_mean" => (1.5, false),
        "coordinate_median" | "trimmed_mean" => (20.0, false),
        "krum" | "multi_krum" => (1.3, true),
        "geometric_median" => (15.0, false),
        _ => return None,
    };
    Some(SpeedTarget { limit, xxt })
}

impl Measured {
    /// The ratio its target is set against: to X·Xᵀ or to the bound.
    pub(super) fn target_ratio(&self, t: &SpeedTarget) -> f64 {
        if t.xxt {
            self.seconds / self.xxt
        } else {
            self.ratio
        }
    }
}

/// One line per rule with a speed target: in how many cells it is met and the worst cell;
/// for the rules held to the bound, the same against the contiguous sum alone.
pub(super) fn print_targets(ours: &[Measured]) {
    let mut rules: Vec<(&str, SpeedTarget)> = Vec::new();
    for m in ours {
        if rules.iter().all(|(r, _)| *r != m.rule) {
            if let Some(t) = speed_target(&m.rule) {
                rules.push((&m.rule, t));
            }
        }
    }
    if rules.is_empty() {
        return;
    }
    println!();
    println!(
        "speed targets (ratio to the bound; Krum and Multi-Krum to X·Xᵀ), over the cells above:"
    );
    for (rule, t) in rules {
        let cells: Vec<&Measured> = ours.iter().filter(|m| m.rule == rule).collect();
        let verdict = |ratio: &dyn Fn(&Measured) -> f64| {
            let missed = cells.iter().filter(|m| ratio(m) > t.limit).count();
            let worst = cells
                .iter()
                .max_by(|a, b| ratio(a).total_cmp(&ratio(b)))
                .map(|m| format!("worst {:.2}× at n = {}, d = {}", ratio(m), m.n, m.d))
                .unwrap_or_default();
            let count = if missed == 0 {
                format!("met in all {} cells", cells.len())
            } else {
                format!("MISSED in {missed} of {} cells", cells.len())
            };
            format!("{count} ({worst})")
        };
        let against = if t.xxt { "X·Xᵀ" } else { "bound" };
        let mut line = format!(
            "  {rule:<20} ≤ {:>4}× {against:<5}  {}",
            t.limit,
            verdict(&|m: &Measured| m.target_ratio(&t))
        );
        if !t.xxt {
            line.push_str(&format!(
                "; against the contiguous sum alone: {}",
                verdict(&|m: &Measured| m.seconds / m.contiguous)
            ));
        }
        println!("{line}");
    }
}

/// Rules whose bound is one X·Xᵀ product rather than one read of the matrix: at these sizes
/// their n²d flops dominate (the definition).
fn product_bound(rule: &str) -> bool {
    rule == "krum" || rule == "multi_krum"
}

/// Runs the numpy script on the same grid; `None` (with a note on stderr) when python3 or
/// numpy is missing.
fn run_numpy(args: &BenchAggregateArgs, rules: &[&str]) -> anyhow::Result<Option<Vec<Value>>> {
    let script = args
        .numpy_script
        .clone()
        .unwrap_or_else(|| crate::cmd::bundled_script("numpy_aggregate.py"));
    anyhow::ensure!(
        script.exists(),
        "the numpy baseline script {} does not exist (pass --numpy-script)",
        script.display()
    );
    let probe = std::process::Command::new("python3")
        .args(["-c", "import numpy"])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        _ => {
            eprintln!("note: numpy comparison skipped: python3 with numpy is not available");
            return Ok(None);
        }
    }
    let list = |v: &[usize]| {
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let out = std::process::Command::new("python3")
        .arg(&script)
        .args(["--json", "--n", &list(&args.n), "--d", &list(&args.d)])
        .args(["--rules", &rules.join(",")])
        .args(["--repeat", &args.repeat.max(1).to_string()])
        .args(["--min-time", &args.min_time.to_string()])
        .args(["--seed", &args.seed.to_string()])
        .output()
        .with_context(|| format!("running python3 {}", script.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "python3 {} failed: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let records: Vec<Value> = serde_json::from_slice(&out.stdout)
        .context("parsing the numpy script's JSON output (an array of records)")?;
    Ok(Some(records))
}

/// How far numpy's time for this rule is off its bound: numpy seconds / numpy's own
/// measurement of the bound, timed in the same process interleaved with the rule (so both see
/// the same load): one read of the matrix (`X.sum()`), or for krum and multi_krum one X·Xᵀ
/// product (`x @ x.T`). Falls back to ours when the record lacks it; `None` without a time.
fn numpy_off_its_bound(m: &Measured, np: &Value) -> Option<f64> {
    let seconds = np["seconds"].as_f64()?;
    let (ours, theirs) = if product_bound(&m.rule) {
        (m.xxt, np["xxt_seconds"].as_f64())
    } else {
        (m.bound, np["bound_seconds"].as_f64())
    };
    let bound = theirs.unwrap_or(ours);
    (bound.is_finite() && bound > 0.0).then(|| seconds / bound)
}

/// The target for one cell: "n/a" where numpy is within 5× of its bound, else "met"
/// when ours is at least 5× faster than numpy, else "MISSED".
fn target(numpy_off: f64, speedup: f64) -> &'static str {
    if numpy_off <= 5.0 {
        "n/a"
    } else if speedup >= 5.0 {
        "met"
    } else {
        "MISSED"
    }
}

/// With `--numpy`, times the numpy baselines on the same grid and prints ours/numpy side by
/// side (with `--json`, adds them to the records); then prints the records with `--json`.
pub(super) fn numpy_comparison(
    args: &BenchAggregateArgs,
    rules: &[String],
    mut records: Vec<Value>,
    ours: &[Measured],
    global: &Global,
) -> anyhow::Result<()> {
    // `scripts/numpy_aggregate.py` implements exactly the rules that have a speed target.
    let numpy_rules: Vec<&str> = rules
        .iter()
        .map(String::as_str)
        .filter(|r| speed_target(r).is_some())
        .collect();
    let numpy = if args.numpy && !numpy_rules.is_empty() {
        run_numpy(args, &numpy_rules)?
    } else {
        None
    };
    let find = |m: &Measured| {
        numpy.as_ref().and_then(|recs| {
            recs.iter().find(|r| {
                r["n"].as_u64() == Some(m.n as u64)
                    && r["d"].as_u64() == Some(m.d as u64)
                    && r["rule"].as_str() == Some(m.rule.as_str())
            })
        })
    };
    if global.json {
        if numpy.is_some() {
            for (rec, m) in records.iter_mut().zip(ours) {
                if let Some(np) = find(m) {
                    rec["numpy_seconds"] = np["seconds"].clone();
                    rec["numpy_ratio_to_bound"] = np["ratio_to_bound"].clone();
                    if let Some(s) = np["seconds"].as_f64() {
                        rec["speedup_vs_numpy"] = json!(s / m.seconds);
                    }
                    if let Some(off) = numpy_off_its_bound(m, np) {
                        rec["numpy_bound"] =
                            json!(if product_bound(&m.rule) { "xxt" } else { "sum" });
                        rec["numpy_ratio_to_its_bound"] = json!(off);
                        rec["numpy_target"] = json!(target(
                            off,
                            np["seconds"].as_f64().unwrap_or(0.0) / m.seconds
                        ));
                    }
                }
            }
        }
        println!("{}", Value::Array(records));
    } else if numpy.is_some() {
        println!();
        println!(
            "numpy comparison (scripts/numpy_aggregate.py, run right after on the same grid). \
             Target: ours ≥ 5× faster than numpy wherever numpy is more than 5× off its bound; \
             the bound is one plain read of the matrix, and for krum and multi_krum one X·Xᵀ \
             product of the same matrix (their n²d flops dominate); numpy's off-ness is against \
             its own X.sum() or x @ x.T, timed interleaved with each rule in its process."
        );
        println!(
            "{:>4} {:>8} {:<20} {:>9} {:>8} {:>10} {:>6} {:>10} {:>9} {:>7}",
            "n",
            "d",
            "rule",
            "ours ms",
            "x bound",
            "numpy ms",
            "bound",
            "numpy off",
            "speedup",
            "target"
        );
        for m in ours {
            let Some(np) = find(m) else { continue };
            let (Some(ns), Some(off)) = (np["seconds"].as_f64(), numpy_off_its_bound(m, np)) else {
                continue;
            };
            let speedup = ns / m.seconds;
            println!(
                "{:>4} {:>8} {:<20} {:>9.2} {:>8.2} {:>10.2} {:>6} {:>9.2}x {:>8.1}x {:>7}",
                m.n,
                m.d,
                m.rule,
                m.seconds * 1e3,
                m.ratio,
                ns * 1e3,
                if product_bound(&m.rule) {
                    "XXᵀ"
                } else {
                    "sum"
                },
                off,
                speedup,
                target(off, speedup)
            );
        }
    }
    Ok(())
}
