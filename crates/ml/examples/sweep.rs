//! Final test accuracy of the configuration (MLP, 10 clients, 20 rounds, 1 local epoch,
//! lr 0.05, batch 32, plain SGD, FedAvg) over several seeds, partitions and init schemes, to
//! tell seed noise from real differences; writes each partition's index lists to `OUT_DIR` (if
//! set) for `scripts/pytorch_fl.py --partition-file`.
//!
//! `cargo run -p deai-ml --release --example sweep -- <seeds> [partition…]`

use deai_ml::{
    data, evaluate, fedavg, partition, run_round, InitScheme, LocalCfg, ModelKind, PartitionSpec,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seeds: u64 = args.first().map_or(Ok(5), |s| s.parse())?;
    let specs: Vec<PartitionSpec> = if args.len() > 1 {
        args[1..]
            .iter()
            .map(|s| s.parse())
            .collect::<Result<_, _>>()?
    } else {
        vec![PartitionSpec::Iid, "dirichlet:0.5".parse()?]
    };
    let rounds: u64 = std::env::var("ROUNDS").map_or(Ok(20), |s| s.parse())?;
    let out_dir = std::env::var_os("OUT_DIR").map(std::path::PathBuf::from);
    let splits = data::load_dir(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/mnist-10k"
    )))?;
    let cfg = LocalCfg::default();
    for spec in &specs {
        for scheme in [InitScheme::KaimingXavier, InitScheme::Torch] {
            let mut accs = Vec::new();
            for seed in 0..seeds {
                let part = partition::partition(splits.train.labels(), 10, spec, seed)?;
                if let Some(dir) = &out_dir {
                    let name = format!("{}_s{seed}.json", spec.to_string().replace(':', "_"));
                    std::fs::write(dir.join(name), serde_json::to_string(&part.clients)?)?;
                }
                let mut g = ModelKind::Mlp.init_with(seed, scheme);
                for round in 0..rounds {
                    g = run_round(&g, &splits.train, &part, &cfg, seed, round, &fedavg)?.global;
                }
                accs.push(evaluate(ModelKind::Mlp, &g, &splits.test)?.accuracy);
            }
            let mean = accs.iter().sum::<f32>() / accs.len().max(1) as f32;
            let list: Vec<String> = accs.iter().map(|a| format!("{a:.4}")).collect();
            println!("{spec} {scheme:?}: mean {mean:.4} [{}]", list.join(" "));
        }
    }
    Ok(())
}
