//! `deai bench fl`: seconds per federated round against this machine's f32 matmul peak, and
//! the plain PyTorch reference on the same partition.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use deai_ml::bench::matmul_peak;
use deai_ml::{
    data, evaluate, fedavg, run_round, with_threads, Engine, LocalCfg, ModelKind, Partition,
};
use serde::Serialize;

use crate::cmd::train::{max_rss_bytes, median, mib, FlArgs};
use crate::Global;

/// Arguments of `deai bench fl`.
#[derive(Args, Debug)]
pub struct BenchFlArgs {
    #[command(flatten)]
    fl: FlArgs,
    /// Timed rounds (the median is reported).
    #[arg(long, default_value_t = 20)]
    rounds: u64,
    /// Side of the square matrices of the peak measurement.
    #[arg(long, default_value_t = 512)]
    peak_size: usize,
    /// Seconds of each peak measurement (one before and one after the rounds).
    #[arg(long, default_value_t = 1.0)]
    peak_seconds: f64,
    /// Also run the plain PyTorch reference (scripts/pytorch_fl.py) on the same partition and
    /// print the speed ratio: auto (when the interpreter can import torch), on, off.
    #[arg(long, default_value = "auto")]
    pytorch: PytorchMode,
    /// Python interpreter for the PyTorch reference.
    #[arg(long, default_value = "python3")]
    python: String,
    /// The PyTorch reference script [default: scripts/pytorch_fl.py of this repository].
    #[arg(long)]
    pytorch_script: Option<PathBuf>,
}

/// Whether `deai bench fl` runs the PyTorch reference beside.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PytorchMode {
    /// When the interpreter can import torch and the configuration is one the script runs.
    Auto,
    /// Always (an error if it cannot run).
    On,
    /// Never.
    Off,
}

/// What the PyTorch reference reported (the last line of `pytorch_fl.py --json`).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
struct PytorchResult {
    implementation: String,
    threads: usize,
    rounds: u64,
    test_accuracy: Option<f64>,
    median_round_seconds: Option<f64>,
    first_round_seconds: Option<f64>,
}

/// Runs scripts/pytorch_fl.py on the same partition and configuration (`Ok(None)`: skipped in
/// auto mode, with the reason printed).
fn run_pytorch(
    args: &BenchFlArgs,
    cfg: &LocalCfg,
    data_dir: &Path,
    part: &Partition,
    threads: usize,
    quiet: bool,
) -> anyhow::Result<Option<PytorchResult>> {
    let skip = |reason: String| -> anyhow::Result<Option<PytorchResult>> {
        if args.pytorch == PytorchMode::On {
            anyhow::bail!("--pytorch on: {reason}");
        }
        if !quiet {
            println!("  (PyTorch reference skipped: {reason})");
        }
        Ok(None)
    };
    if args.pytorch == PytorchMode::Off {
        return Ok(None);
    }
    if cfg.model != ModelKind::Mlp || cfg.momentum != 0.0 || cfg.weight_decay != 0.0 {
        return skip(
            "the script runs only the MLP with plain SGD (momentum 0, weight decay 0)".into(),
        );
    }
    let script = args
        .pytorch_script
        .clone()
        .unwrap_or_else(|| crate::cmd::bundled_script("pytorch_fl.py"));
    if !script.is_file() {
        return skip(format!("{} not found", script.display()));
    }
    let probe = std::process::Command::new(&args.python)
        .args(["-c", "import torch"])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(_) => return skip(format!("{} cannot import torch", args.python)),
        Err(e) => return skip(format!("cannot start {}: {e}", args.python)),
    }
    let part_file = std::env::temp_dir().join(format!("deai-bench-fl-{}.json", std::process::id()));
    std::fs::write(&part_file, serde_json::to_string(&part.clients)?)
        .with_context(|| format!("writing {}", part_file.display()))?;
    let out = std::process::Command::new(&args.python)
        .arg(&script)
        .arg("--json")
        .arg("--data")
        .arg(data_dir)
        .arg("--partition-file")
        .arg(&part_file)
        .args(["--rounds", &args.rounds.to_string()])
        .args(["--local-epochs", &cfg.epochs.to_string()])
        .args(["--lr", &cfg.lr.to_string()])
        .args(["--batch", &cfg.batch.to_string()])
        .args(["--seed", &args.fl.seed.to_string()])
        .args(["--threads", &threads.to_string()])
        .output();
    let _ = std::fs::remove_file(&part_file);
    let out = out.with_context(|| format!("running {} {}", args.python, script.display()))?;
    if !out.status.success() {
        anyhow::bail!(
            "{} failed ({}): {}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    let res: PytorchResult = serde_json::from_str(last)
        .with_context(|| format!("{}: unexpected output {last:?}", script.display()))?;
    Ok(Some(res))
}

#[derive(Serialize)]
struct BenchReport {
    model: ModelKind,
    engine: String,
    clients: usize,
    partition: String,
    rounds: u64,
    threads: usize,
    samples_per_round: usize,
    median_round_seconds: f64,
    min_round_seconds: f64,
    samples_per_second: f64,
    gflops_convention: f64,
    gflops_executed: Option<f64>,
    peak_gflops_before: f64,
    peak_gflops_after: f64,
    peak_gflops: f64,
    ratio_convention_to_peak: f64,
    ratio_executed_to_peak: Option<f64>,
    final_test_accuracy: f32,
    max_rss_bytes: Option<u64>,
    pytorch: Option<PytorchResult>,
    speedup_vs_pytorch: Option<f64>,
}

/// Runs `deai bench fl`: median seconds per federated round against this machine's matmul peak.
pub fn run_bench_fl(args: BenchFlArgs, global: &Global) -> anyhow::Result<()> {
    let fl = &args.fl;
    let cfg = fl.local();
    cfg.validate()?;
    if args.rounds == 0 {
        anyhow::bail!("--rounds must be at least 1");
    }
    let dir = fl.data_dir();
    let splits =
        data::load_dir(&dir).with_context(|| format!("loading dataset from {}", dir.display()))?;
    let (part, summary) = fl.partition(splits.train.labels())?;
    let samples: usize = part.clients.iter().map(Vec::len).sum::<usize>() * cfg.epochs;
    let report = with_threads(fl.threads, || -> anyhow::Result<BenchReport> {
        let threads = deai_ml::threads();
        let before = matmul_peak(threads, args.peak_size, args.peak_seconds)?;
        let mut g = fl.model.init_with(fl.seed, fl.init);
        let mut secs = Vec::with_capacity(args.rounds as usize);
        for round in 0..args.rounds {
            let out = run_round(&g, &splits.train, &part, &cfg, fl.seed, round, &fedavg)?;
            secs.push(out.train_seconds + out.aggregate_seconds);
            g = out.global;
        }
        let after = matmul_peak(threads, args.peak_size, args.peak_seconds)?;
        let acc = evaluate(fl.model, &g, &splits.test)?.accuracy;
        let med = median(&secs);
        let params = fl.model.num_params() as f64;
        let gflops_convention = 6.0 * params * samples as f64 / med / 1e9;
        let gflops_executed = (cfg.resolved_engine() == Engine::Fused)
            .then(|| deai_ml::fused::FLOPS_PER_SAMPLE as f64 * samples as f64 / med / 1e9);
        let peak = before.gflops.max(after.gflops);
        Ok(BenchReport {
            model: fl.model,
            engine: format!("{:?}", cfg.resolved_engine()).to_lowercase(),
            clients: fl.clients,
            partition: summary.spec.clone(),
            rounds: args.rounds,
            threads,
            samples_per_round: samples,
            median_round_seconds: med,
            min_round_seconds: secs.iter().copied().fold(f64::INFINITY, f64::min),
            samples_per_second: samples as f64 / med,
            gflops_convention,
            gflops_executed,
            peak_gflops_before: before.gflops,
            peak_gflops_after: after.gflops,
            peak_gflops: peak,
            ratio_convention_to_peak: gflops_convention / peak,
            ratio_executed_to_peak: gflops_executed.map(|g| g / peak),
            final_test_accuracy: acc,
            max_rss_bytes: None,
            pytorch: None,
            speedup_vs_pytorch: None,
        })
    })??;
    let pytorch = run_pytorch(&args, &cfg, &dir, &part, report.threads, global.json)?;
    let speedup_vs_pytorch = pytorch
        .as_ref()
        .and_then(|p| p.median_round_seconds)
        .map(|p| p / report.median_round_seconds);
    let report = BenchReport {
        max_rss_bytes: max_rss_bytes(),
        pytorch,
        speedup_vs_pytorch,
        ..report
    };
    if global.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "fl/round/model={}/engine={}/clients={}/partition={} ({} rounds, {} samples per round, {} threads)",
        report.model, report.engine, report.clients, report.partition, report.rounds, samples, report.threads
    );
    println!(
        "  median round (train + aggregate) {:.4} s (min {:.4} s), {:.0} samples/s",
        report.median_round_seconds, report.min_round_seconds, report.samples_per_second
    );
    println!(
        "  achieved {:.1} GFLOP/s by the 6 x params x samples convention{}",
        report.gflops_convention,
        report.gflops_executed.map_or(String::new(), |g| format!(" ({g:.1} GFLOP/s actually executed: the fused path skips the first layer's input gradient)"))
    );
    println!(
        "  f32 matmul peak (gemm, {}x{} per thread, {} threads at once): {:.1} GFLOP/s before, {:.1} after; using {:.1}",
        args.peak_size, args.peak_size, report.threads, report.peak_gflops_before, report.peak_gflops_after, report.peak_gflops
    );
    println!(
        "  ratio achieved/peak {:.3} (target >= 0.75){}",
        report.ratio_convention_to_peak,
        report
            .ratio_executed_to_peak
            .map_or(String::new(), |r| format!(" (executed/peak {r:.3})"))
    );
    println!(
        "  final test accuracy {:.4}; max RSS {}",
        report.final_test_accuracy,
        mib(report.max_rss_bytes)
    );
    if let (Some(p), Some(x)) = (&report.pytorch, report.speedup_vs_pytorch) {
        println!(
            "  plain PyTorch (scripts/pytorch_fl.py, {}, {} threads, same partition, run right after): median round {:.4} s (first {:.4} s), final test accuracy {:.4}",
            p.implementation,
            p.threads,
            p.median_round_seconds.unwrap_or(f64::NAN),
            p.first_round_seconds.unwrap_or(f64::NAN),
            p.test_accuracy.unwrap_or(f64::NAN)
        );
        println!("  ratio PyTorch/ours per round {x:.2}x (target >= 5x)");
    }
    Ok(())
}
