//! `deai demo` and `deai run`: seeded scenarios over the embedded chain, with a report folder.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use deai_sim::report::{self, Provenance, References};
use deai_sim::{Measurement, RunOptions, RunReport, Scenario, Sim};
use deai_store::store::DataDirLock;
use indicatif::{ProgressBar, ProgressStyle};

use crate::Global;

/// Arguments of `deai demo`.
#[derive(Args, Debug)]
#[command(
    long_about = "Run the default scenario on the embedded chain: a proposer posts an MNIST task \
with a reward; 10 miners (2 free-riders, 1 label-flipper) train on Dirichlet(0.5) shards; 4 validators \
(1 lazy, 1 colluding with a free-rider) score the revealed updates and commit-reveal weights; Yuma \
consensus pays miners by incentive and validators by dividends for 20 rounds. Then two references \
with the same seed: every adversary replaced by an honest actor (all honest), and every adversary \
removed (honest only). Prints a summary with the accuracy gap to each and writes a report folder \
(report.md, summary.json, rounds.csv, accuracy.png, rewards.png)."
)]
pub struct DemoArgs {
    /// Seed of every random choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Rounds to run.
    #[arg(long)]
    pub rounds: Option<u64>,
    /// Report folder (default: <data-dir>/reports/demo-seed<SEED>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Skip the reference runs (all honest, honest only).
    #[arg(long)]
    pub no_reference: bool,
    /// Also measure oracle aggregation: the same run, each round aggregating exactly the honest
    /// miners' updates (a measurement, not the protocol).
    #[arg(long)]
    pub oracle: bool,
}

/// Arguments of `deai run`.
#[derive(Args, Debug)]
#[command(
    long_about = "Run a scenario file (TOML; schema in the deai-sim scenario module docs and \
examples in scenarios/). Unknown keys and invalid values are errors that name the key."
)]
pub struct RunArgs {
    /// The scenario file.
    pub scenario: PathBuf,
    /// Override the scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Report folder (default: <data-dir>/reports/<name>-seed<SEED>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also run the references: the scenario with every adversary replaced by an honest actor
    /// (all honest), and with every adversary removed (honest only).
    #[arg(long)]
    pub reference: bool,
    /// Also measure oracle aggregation (Yuma tasks): the same run, each round aggregating
    /// exactly the honest miners' updates.
    #[arg(long)]
    pub oracle: bool,
}

/// Runs `deai demo`.
pub fn demo(args: DemoArgs, global: &Global) -> anyhow::Result<()> {
    let mut s = Scenario::demo();
    s.seed = args.seed;
    if let Some(r) = args.rounds {
        s.rounds = r;
    }
    run_scenario(&s, args.out, !args.no_reference, args.oracle, global)
}

/// Runs `deai run`.
pub fn run(args: RunArgs, global: &Global) -> anyhow::Result<()> {
    let mut s = Scenario::load(&args.scenario)?;
    if let Some(seed) = args.seed {
        s.seed = seed;
    }
    run_scenario(&s, args.out, args.reference, args.oracle, global)
}

/// Deletes the previous run in `dir`, which must lie strictly inside `data_dir` (after
/// resolving symbolic links), under the run directory's lock: a node or another run that has
/// its chain open makes this an error, and nothing is deleted.
fn clear_previous_run(data_dir: &Path, dir: &Path) -> anyhow::Result<()> {
    if std::fs::symlink_metadata(dir).is_err() {
        return Ok(());
    }
    let root = data_dir
        .canonicalize()
        .with_context(|| format!("resolving the data directory {}", data_dir.display()))?;
    let target = dir
        .canonicalize()
        .with_context(|| format!("resolving the previous run {}", dir.display()))?;
    if target == root || !target.starts_with(&root) {
        anyhow::bail!(
            "refusing to delete {} (the previous run's directory resolves to {}): only a \
             folder inside the data directory {} is ever deleted",
            dir.display(),
            target.display(),
            root.display()
        );
    }
    let lock = DataDirLock::acquire(&target)
        .with_context(|| format!("cannot clear the previous run in {}", dir.display()))?;
    std::fs::remove_dir_all(&target)
        .with_context(|| format!("cannot clear the previous run in {}", dir.display()))?;
    drop(lock);
    Ok(())
}

fn run_one(
    s: &Scenario,
    data_dir: &Path,
    dir: &Path,
    label: &str,
    measurement: Measurement,
) -> anyhow::Result<RunReport> {
    clear_previous_run(data_dir, dir)?;
    let sim = Sim::measured(
        s,
        &RunOptions {
            dir: dir.to_path_buf(),
        },
        measurement,
    )
    .with_context(|| format!("cannot set up scenario `{}`", s.name))?;
    let bar = ProgressBar::new(s.rounds);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>14} [{bar:30}] {pos}/{len} rounds {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    let report = sim.run(|r| {
        bar.set_message(format!("accuracy {:.4}", r.accuracy));
        bar.inc(1);
    })?;
    bar.finish();
    Ok(report)
}

fn git_revision() -> String {
    std::process::Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn run_scenario(
    s: &Scenario,
    out: Option<PathBuf>,
    reference: bool,
    oracle: bool,
    global: &Global,
) -> anyhow::Result<()> {
    // The name becomes a folder under <data-dir>/runs that is deleted and recreated.
    deai_sim::scenario::check_name(&s.name)?;
    let tag = format!("{}-seed{}", s.name, s.seed);
    let runs = global.data_dir.join("runs");
    if oracle {
        Measurement::OracleAggregation.check(s)?;
    }
    let started = std::time::Instant::now();
    let data_dir = &global.data_dir;
    let main = run_one(
        s,
        data_dir,
        &runs.join(&tag),
        &s.name,
        Measurement::Protocol,
    )?;
    let (all_honest, honest_only) = if reference {
        (
            Some(run_one(
                &s.all_honest(),
                data_dir,
                &runs.join(format!("{tag}-all-honest")),
                "all honest",
                Measurement::Protocol,
            )?),
            Some(run_one(
                s,
                data_dir,
                &runs.join(format!("{tag}-honest-only")),
                "honest only",
                Measurement::HonestOnly,
            )?),
        )
    } else {
        (None, None)
    };
    let oracle = if oracle {
        Some(run_one(
            s,
            data_dir,
            &runs.join(format!("{tag}-oracle")),
            "oracle",
            Measurement::OracleAggregation,
        )?)
    } else {
        None
    };
    let refs = References {
        all_honest: all_honest.as_ref(),
        honest_only: honest_only.as_ref(),
        oracle: oracle.as_ref(),
    };
    let out = out.unwrap_or_else(|| global.data_dir.join("reports").join(&tag));
    let provenance = Provenance {
        git_revision: git_revision(),
        version: env!("CARGO_PKG_VERSION").into(),
    };
    let summary = report::write_with(&out, &main, &refs, provenance)?;
    if global.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    println!();
    println!("{}", report::actors_table(&main).to_markdown());
    println!("round  accuracy  contributors");
    for r in &main.rounds {
        println!(
            "{:>5}  {:>8.4}  {}",
            r.round,
            r.accuracy,
            r.contributors.len()
        );
    }
    println!();
    println!("final test accuracy      {:.4}", summary.final_accuracy);
    print!("{}", report::reference_lines(&summary, "  "));
    println!(
        "honest miners' share     {:.2}% of miner rewards",
        100.0 * summary.honest_miner_share
    );
    println!("slashes                  {}", summary.slashes);
    for sl in &main.slashes {
        println!(
            "  round {:>3}: {} lost {} ({})",
            sl.round, main.actors[sl.actor].name, sl.amount, sl.offence
        );
    }
    let adversaries: Vec<String> = main
        .actors
        .iter()
        .enumerate()
        .filter(|(_, a)| !a.honest)
        .map(|(i, a)| format!("{} {} ({})", a.name, a.kind, report::caught(&main, i)))
        .collect();
    println!("adversaries caught       {}", adversaries.join(", "));
    println!(
        "state root               {} at height {}",
        summary.state_root, summary.height
    );
    println!(
        "chain                    {} (deai chain verify --data-dir …)",
        runs.join(&tag).display()
    );
    println!(
        "report                   {}",
        out.join("report.md").display()
    );
    println!(
        "took                     {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
