//! `deai train`: federated training on an MNIST-format dataset.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use deai_ml::partition::partition;
use deai_ml::{
    data, evaluate, fedavg, params, run_round, with_threads, Engine, FlRoundRecord, InitScheme,
    LocalCfg, ModelKind, Partition, PartitionSpec, PartitionSummary,
};
use serde::Serialize;

use crate::Global;

/// Settings shared by `deai train` and `deai bench fl`.
#[derive(Args, Debug, Clone)]
pub struct FlArgs {
    /// Model: mlp (784-200-10) or cnn (2 conv + 2 dense).
    #[arg(long, default_value = "mlp")]
    pub model: ModelKind,
    /// Number of federated clients.
    #[arg(long, default_value_t = 10)]
    pub clients: usize,
    /// Partition of the training set: iid, dirichlet:<alpha>, shards:<k>, quantity:<beta>.
    #[arg(long, default_value = "iid")]
    pub partition: PartitionSpec,
    /// Read the clients' sample indices from this JSON file (a list of index lists, as in the
    /// `partition_indices.json` that `deai train` writes) instead of drawing `--partition`.
    #[arg(long)]
    pub partition_file: Option<PathBuf>,
    /// Local epochs per round.
    #[arg(long, default_value_t = 1)]
    pub local_epochs: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 0.05)]
    pub lr: f32,
    /// Mini-batch size.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// SGD momentum (PyTorch semantics; 0 = plain SGD).
    #[arg(long, default_value_t = 0.0)]
    pub momentum: f32,
    /// L2 weight decay.
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f32,
    /// Training engine: auto (fused for mlp, candle for cnn), fused, candle.
    #[arg(long, default_value = "auto")]
    pub engine: Engine,
    /// Initialisation: kaiming (Kaiming/Xavier-uniform, zero biases) or torch (PyTorch's
    /// default U(±1/sqrt(fan_in)) for weights and biases).
    #[arg(long, default_value = "kaiming")]
    pub init: InitScheme,
    /// Run seed (partition, init, batch order).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Dataset folder with the four IDX files [default: data/mnist-10k].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Worker threads [default: one per core].
    #[arg(long)]
    pub threads: Option<usize>,
}

impl FlArgs {
    pub(crate) fn local(&self) -> LocalCfg {
        LocalCfg {
            model: self.model,
            engine: self.engine,
            epochs: self.local_epochs,
            batch: self.batch,
            lr: self.lr,
            momentum: self.momentum,
            weight_decay: self.weight_decay,
        }
    }

    /// The partition of `labels` and its summary (drawn from `--partition`, or read from
    /// `--partition-file`).
    pub(crate) fn partition(&self, labels: &[u8]) -> anyhow::Result<(Partition, PartitionSummary)> {
        let part = match &self.partition_file {
            None => partition(labels, self.clients, &self.partition, self.seed)?,
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let clients: Vec<Vec<usize>> = serde_json::from_str(&text).with_context(|| {
                    format!("{}: expected a JSON list of index lists", path.display())
                })?;
                Partition::from_clients(clients, labels.len())
                    .with_context(|| format!("partition file {}", path.display()))?
            }
        };
        let mut summary = part.summary(labels, &self.partition, self.seed);
        if let Some(path) = &self.partition_file {
            summary.spec = format!("file:{}", path.display());
        }
        Ok((part, summary))
    }

    pub(crate) fn data_dir(&self) -> PathBuf {
        if let Some(d) = &self.data {
            return d.clone();
        }
        let local = PathBuf::from("data/mnist-10k");
        if local.is_dir() {
            local
        } else {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/mnist-10k"))
        }
    }
}

/// Arguments of `deai train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    fl: FlArgs,
    /// Federated rounds.
    #[arg(long, default_value_t = 20)]
    rounds: u64,
    /// Output folder [default: <data-dir>/train/<model>-<partition>-c<clients>-r<rounds>-s<seed>].
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Peak resident set size of this process in bytes (`VmHWM` of /proc/self/status), if known.
pub(crate) fn max_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

pub(crate) fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(
        || "unknown".into(),
        |b| format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
    )
}

pub(crate) fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

#[derive(Serialize)]
struct TrainReport<'a> {
    model: ModelKind,
    dataset: String,
    clients: usize,
    rounds: u64,
    partition: String,
    local: LocalCfg,
    seed: u64,
    threads: usize,
    partition_summary: &'a deai_ml::PartitionSummary,
    history: &'a [FlRoundRecord],
    final_test_accuracy: f32,
    final_test_loss: f32,
    median_round_seconds: f64,
    total_seconds: f64,
    max_rss_bytes: Option<u64>,
    model_file: String,
}

fn write_csv(path: &Path, history: &[FlRoundRecord]) -> anyhow::Result<()> {
    let mut s = String::from(
        "round,test_accuracy,test_loss,train_loss,train_seconds,aggregate_seconds,eval_seconds\n",
    );
    for r in history {
        writeln!(
            s,
            "{},{},{},{},{},{},{}",
            r.round,
            r.test_accuracy,
            r.test_loss,
            r.train_loss,
            r.train_seconds,
            r.aggregate_seconds,
            r.eval_seconds
        )?;
    }
    std::fs::write(path, s).with_context(|| format!("writing {}", path.display()))
}

/// Runs `deai train`.
pub fn run(args: TrainArgs, global: &Global) -> anyhow::Result<()> {
    let fl = &args.fl;
    let cfg = fl.local();
    cfg.validate()?;
    let dir = fl.data_dir();
    let splits =
        data::load_dir(&dir).with_context(|| format!("loading dataset from {}", dir.display()))?;
    let (part, summary) = fl.partition(splits.train.labels())?;
    let out = args.out.clone().unwrap_or_else(|| {
        global.data_dir.join("train").join(format!(
            "{}-{}-c{}-r{}-s{}",
            fl.model,
            if fl.partition_file.is_some() {
                "file".to_owned()
            } else {
                fl.partition.to_string().replace(':', "_")
            },
            fl.clients,
            args.rounds,
            fl.seed
        ))
    });
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    if !global.json {
        println!(
            "dataset {} ({} train, {} test); model {} ({} parameters); engine {:?}; lr {} batch {} momentum {} weight decay {}; {} local epoch(s)",
            dir.display(),
            splits.train.len(),
            splits.test.len(),
            fl.model,
            fl.model.num_params(),
            cfg.resolved_engine(),
            cfg.lr,
            cfg.batch,
            cfg.momentum,
            cfg.weight_decay,
            cfg.epochs
        );
        print!("{summary}");
    }

    let started = Instant::now();
    let (history, final_params, threads) = with_threads(fl.threads, || -> anyhow::Result<_> {
        let bar = if global.json {
            indicatif::ProgressBar::hidden()
        } else {
            indicatif::ProgressBar::new(args.rounds)
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] round {pos}/{len} {msg}",
            )?
            .progress_chars("=> "),
        );
        let mut g = fl.model.init_with(fl.seed, fl.init);
        let mut history = Vec::with_capacity(args.rounds as usize);
        for round in 0..args.rounds {
            let outcome = run_round(&g, &splits.train, &part, &cfg, fl.seed, round, &fedavg)?;
            g = outcome.global;
            let t = Instant::now();
            let ev = evaluate(fl.model, &g, &splits.test)?;
            let rec = FlRoundRecord {
                round: round + 1,
                test_accuracy: ev.accuracy,
                test_loss: ev.loss,
                train_loss: outcome.train_loss,
                train_seconds: outcome.train_seconds,
                aggregate_seconds: outcome.aggregate_seconds,
                eval_seconds: t.elapsed().as_secs_f64(),
            };
            bar.set_message(format!("test acc {:.4} loss {:.4}", ev.accuracy, ev.loss));
            bar.inc(1);
            history.push(rec);
        }
        bar.finish();
        Ok((history, g, deai_ml::threads()))
    })??;
    let total_seconds = started.elapsed().as_secs_f64();

    let model_file = out.join("model.safetensors");
    params::save(&model_file, fl.model, &final_params)?;
    write_csv(&out.join("rounds.csv"), &history)?;
    let round_secs: Vec<f64> = history
        .iter()
        .map(|r| r.train_seconds + r.aggregate_seconds)
        .collect();
    let last = history.last().copied();
    let report = TrainReport {
        model: fl.model,
        dataset: dir.display().to_string(),
        clients: fl.clients,
        rounds: args.rounds,
        partition: summary.spec.clone(),
        local: cfg,
        seed: fl.seed,
        threads,
        partition_summary: &summary,
        history: &history,
        final_test_accuracy: last.map_or(f32::NAN, |r| r.test_accuracy),
        final_test_loss: last.map_or(f32::NAN, |r| r.test_loss),
        median_round_seconds: median(&round_secs),
        total_seconds,
        max_rss_bytes: max_rss_bytes(),
        model_file: model_file.display().to_string(),
    };
    let json = serde_json::to_string_pretty(&report)?;
    let json_path = out.join("rounds.json");
    std::fs::write(&json_path, &json)
        .with_context(|| format!("writing {}", json_path.display()))?;
    std::fs::write(
        out.join("partition.json"),
        serde_json::to_string_pretty(&summary)?,
    )?;
    std::fs::write(
        out.join("partition_indices.json"),
        serde_json::to_string(&part.clients)?,
    )?;

    if global.json {
        println!("{json}");
        return Ok(());
    }
    println!(
        "{:>5} {:>9} {:>9} {:>10} {:>9} {:>9} {:>8}",
        "round", "test acc", "test loss", "train loss", "train s", "agg s", "eval s"
    );
    for r in &history {
        println!(
            "{:>5} {:>9.4} {:>9.4} {:>10.4} {:>9.4} {:>9.5} {:>8.4}",
            r.round,
            r.test_accuracy,
            r.test_loss,
            r.train_loss,
            r.train_seconds,
            r.aggregate_seconds,
            r.eval_seconds
        );
    }
    println!(
        "final test accuracy {:.4}, loss {:.4}; median round (train + aggregate) {:.4} s on {} threads; total {:.2} s",
        report.final_test_accuracy, report.final_test_loss, report.median_round_seconds, threads, total_seconds
    );
    println!("max RSS {}", mib(report.max_rss_bytes));
    println!(
        "wrote {}, {}, {}",
        json_path.display(),
        out.join("rounds.csv").display(),
        model_file.display()
    );
    Ok(())
}
