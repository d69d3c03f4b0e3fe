//! Federated MNIST with FedAvg from the library API:
//! `cargo run -p deai-ml --release --example fedavg -- [mlp|cnn] [partition] [rounds] [momentum] [engine] [seed]`.

use deai_ml::{data, evaluate, fedavg, partition, run_round, LocalCfg, ModelKind, PartitionSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: &str| args.get(i).cloned().unwrap_or_else(|| d.to_owned());
    let model: ModelKind = arg(0, "mlp").parse()?;
    let spec: PartitionSpec = arg(1, "iid").parse()?;
    let rounds: u64 = arg(2, "20").parse()?;
    let cfg = LocalCfg {
        model,
        momentum: arg(3, "0").parse()?,
        engine: arg(4, "auto").parse()?,
        ..LocalCfg::default()
    };
    let seed: u64 = arg(5, "0").parse()?;
    let splits = data::load_dir(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/mnist-10k"
    )))?;
    let part = partition::partition(splits.train.labels(), 10, &spec, seed)?;
    if std::env::var_os("QUIET").is_none() {
        print!("{}", part.summary(splits.train.labels(), &spec, seed));
    }
    let mut global = model.init(seed);
    for round in 0..rounds {
        let out = run_round(&global, &splits.train, &part, &cfg, seed, round, &fedavg)?;
        global = out.global;
        let ev = evaluate(model, &global, &splits.test)?;
        println!(
            "round {:>2}: train {:.3}s agg {:.4}s  train loss {:.4}  test loss {:.4}  acc {:.4}",
            round + 1,
            out.train_seconds,
            out.aggregate_seconds,
            out.train_loss,
            ev.loss,
            ev.accuracy
        );
    }
    Ok(())
}
