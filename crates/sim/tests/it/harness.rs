//! The evaluation harness: a quick grid end to end (files, an attack that hurts FedAvg,
//! resuming), and the data attacks changing what they claim to.

use std::path::{Path, PathBuf};

use deai_ml::data;
use deai_sim::harness::{self, run_grid, Backdoor, Flip, Grid, LabelFlip};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn quick() -> Grid {
    Grid::load(&root().join("eval/quick.toml")).unwrap()
}

fn acc(records: &[harness::CellRecord], fraction: f64, attack: &str, defense: &str) -> f64 {
    records
        .iter()
        .find(|r| {
            r.cell.attack == attack && r.cell.defense == defense && r.cell.fraction == fraction
        })
        .and_then(|r| r.final_accuracy)
        .unwrap_or_else(|| panic!("no result for {attack} / {defense} at {fraction}"))
}

#[test]
fn quick_grid_writes_files_hurts_fedavg_and_resumes() {
    let grid = quick();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let first = run_grid(&grid, out, &|_| {}).unwrap();
    assert_eq!(first.records.len(), grid.cells().len());
    assert_eq!(first.reused, 0);
    assert!(first.records.iter().all(|r| r.error.is_none()));
    for f in ["cells.jsonl", "results.json", "results.csv", "results.md"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    assert!(out
        .join(harness::report::heatmap_name("iid", 0.2))
        .is_file());
    let clean = acc(&first.records, 0.0, "none", "fedavg");
    assert!(clean > 0.6, "no-attack FedAvg reached only {clean}");
    // One sign flipper of five slows FedAvg down; one scaled update derails it.
    for (attack, drop) in [("sign_flip", 0.02), ("scaling:10", 0.1)] {
        let hit = acc(&first.records, 0.2, attack, "fedavg");
        assert!(
            hit < clean - drop,
            "{attack}: {hit} vs {clean} without attack"
        );
    }
    // The median shrugs off the scaled update.
    assert!(acc(&first.records, 0.2, "scaling:10", "coordinate_median") > clean - 0.03);
    let bd = first
        .records
        .iter()
        .find(|r| r.cell.attack == "backdoor:0")
        .unwrap();
    assert!(bd.backdoor_success.is_some());

    // Resume: nothing runs again, results identical.
    let lines_before = std::fs::read_to_string(out.join("cells.jsonl"))
        .unwrap()
        .lines()
        .count();
    let second = run_grid(&grid, out, &|_| {}).unwrap();
    assert_eq!(second.ran, 0);
    assert_eq!(second.reused, grid.cells().len());
    let lines_after = std::fs::read_to_string(out.join("cells.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(lines_before, lines_after);
    let strip = |rs: &[harness::CellRecord]| -> Vec<Vec<f64>> {
        rs.iter().map(|r| r.accuracy.clone()).collect()
    };
    assert_eq!(strip(&first.records), strip(&second.records));

    // Dropping one cell from the file re-runs exactly that cell, with the same result.
    let text = std::fs::read_to_string(out.join("cells.jsonl")).unwrap();
    let kept: Vec<&str> = text.lines().skip(1).collect();
    std::fs::write(out.join("cells.jsonl"), kept.join("\n") + "\n").unwrap();
    let third = run_grid(&grid, out, &|_| {}).unwrap();
    assert_eq!(third.ran, 1);
    assert_eq!(strip(&first.records), strip(&third.records));
}

#[test]
fn label_flip_flips_the_attackers_labels() {
    let splits = data::load_dir(&root().join("data/mnist-10k")).unwrap();
    let shard = splits.train.subset(&(0..200).collect::<Vec<_>>()).unwrap();
    let mut flipped = shard.clone();
    LabelFlip {
        flip: Flip::Reverse,
    }
    .poison(&mut flipped);
    for (a, b) in shard.labels().iter().zip(flipped.labels()) {
        assert_eq!(*b, 9 - *a);
    }
    assert_eq!(shard.images(), flipped.images());
}

#[test]
fn backdoor_stamps_the_trigger_and_relabels() {
    let splits = data::load_dir(&root().join("data/mnist-10k")).unwrap();
    let shard = splits.train.subset(&(0..200).collect::<Vec<_>>()).unwrap();
    let mut poisoned = shard.clone();
    let b = Backdoor::new(3);
    let chosen = b.poison(&mut poisoned, 5).unwrap();
    assert_eq!(chosen.len(), 100);
    let (rows, cols) = (shard.rows(), shard.cols());
    for i in 0..shard.len() {
        let img = poisoned.image(i).unwrap();
        let corner = (rows - 4..rows)
            .flat_map(|r| (cols - 4..cols).map(move |c| r * cols + c))
            .all(|p| img[p] == 1.0);
        if chosen.contains(&i) {
            assert!(corner, "sample {i}: trigger missing");
            assert_eq!(poisoned.labels()[i], 3);
            // Outside the corner the image is untouched.
            let orig = shard.image(i).unwrap();
            let changed = (0..rows * cols)
                .filter(|&p| img[p] != orig[p])
                .all(|p| p / cols >= rows - 4 && p % cols >= cols - 4);
            assert!(changed);
        } else {
            assert_eq!(img, shard.image(i).unwrap());
            assert_eq!(poisoned.labels()[i], shard.labels()[i]);
        }
    }
    let t = b.triggered_test_set(&splits.test).unwrap();
    let others = splits.test.labels().iter().filter(|&&l| l != 3).count();
    assert_eq!(t.len(), others);
    assert!(t.labels().iter().all(|&l| l == 3));
}

#[test]
fn attack_specs_parse() {
    assert!(matches!(
        harness::parse_attack("label_flip").unwrap(),
        harness::Attack::Data(harness::DataAttack::LabelFlip(LabelFlip {
            flip: Flip::Reverse
        }))
    ));
    assert!(matches!(
        harness::parse_attack("label_flip:2").unwrap(),
        harness::Attack::Data(harness::DataAttack::LabelFlip(LabelFlip {
            flip: Flip::Shift(2)
        }))
    ));
    assert!(harness::parse_attack("nonsense").is_err());
}
