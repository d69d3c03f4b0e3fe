//! Partitions: every sample assigned exactly once, seeded reproducibility, measurable skew.

use deai_ml::data::load_dir;
use deai_ml::partition::{partition, Partition, PartitionSpec};

fn labels() -> Vec<u8> {
    load_dir(&crate::mnist_dir())
        .unwrap()
        .train
        .labels()
        .to_vec()
}

fn assert_exact_cover(p: &Partition, n: usize) {
    let mut seen = vec![0u8; n];
    for c in &p.clients {
        for &i in c {
            seen[i] += 1;
        }
    }
    assert!(
        seen.iter().all(|&s| s == 1),
        "some sample is missing or duplicated"
    );
}

const SPECS: [&str; 6] = [
    "iid",
    "dirichlet:0.5",
    "dirichlet:0.1",
    "shards:2",
    "quantity:0.5",
    "quantity:5",
];

#[test]
fn every_sample_is_assigned_once() {
    let labels = labels();
    for spec in SPECS {
        let spec: PartitionSpec = spec.parse().unwrap();
        for clients in [1, 3, 10, 37] {
            let p = partition(&labels, clients, &spec, 0).unwrap();
            assert_eq!(p.len(), clients);
            assert_exact_cover(&p, labels.len());
            assert!(
                p.clients.iter().all(|c| !c.is_empty()),
                "{spec} {clients}: empty client"
            );
        }
    }
}

#[test]
fn same_seed_same_partition_other_seed_other_partition() {
    let labels = labels();
    for spec in SPECS {
        let spec: PartitionSpec = spec.parse().unwrap();
        let a = partition(&labels, 10, &spec, 7).unwrap();
        assert_eq!(a, partition(&labels, 10, &spec, 7).unwrap());
        assert_ne!(a, partition(&labels, 10, &spec, 8).unwrap(), "{spec}");
    }
}

#[test]
fn iid_sizes_are_equal() {
    let labels = labels();
    let p = partition(&labels, 10, &PartitionSpec::Iid, 0).unwrap();
    assert!(p.clients.iter().all(|c| c.len() == 800));
}

#[test]
fn dirichlet_skew_grows_as_alpha_shrinks() {
    let labels = labels();
    let skew = |s: &str| {
        let spec: PartitionSpec = s.parse().unwrap();
        partition(&labels, 10, &spec, 0)
            .unwrap()
            .summary(&labels, &spec, 0)
            .label_skew
    };
    let (iid, d10, d05, d01, sh1) = (
        skew("iid"),
        skew("dirichlet:10"),
        skew("dirichlet:0.5"),
        skew("dirichlet:0.1"),
        skew("shards:1"),
    );
    // IID label mixes differ from the global one only by sampling noise (800 samples per client).
    assert!(iid < 0.06, "iid skew {iid}");
    assert!(
        iid < d10 && d10 < d05 && d05 < d01,
        "{iid} {d10} {d05} {d01}"
    );
    assert!(d05 > 0.3, "dirichlet:0.5 skew {d05}");
    // one label-sorted shard per client: each client holds one or two classes
    assert!(sh1 > 0.8, "shards:1 skew {sh1}");
}

#[test]
fn shards_give_few_labels_per_client() {
    let labels = labels();
    let spec = PartitionSpec::Shards { per_client: 2 };
    let p = partition(&labels, 10, &spec, 0).unwrap();
    let s = p.summary(&labels, &spec, 0);
    for c in &s.clients {
        let classes = c.histogram.iter().filter(|&&h| h > 0).count();
        // two shards, each spanning at most two adjacent classes
        assert!(classes <= 4, "client {} has {classes} classes", c.client);
        assert_eq!(c.samples, 800);
    }
}

#[test]
fn quantity_skew_varies_sizes_not_labels() {
    let labels = labels();
    let spec = PartitionSpec::Quantity { beta: 0.5 };
    let p = partition(&labels, 10, &spec, 0).unwrap();
    let sizes: Vec<usize> = p.clients.iter().map(Vec::len).collect();
    let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
    assert!(max > &(3 * min), "{sizes:?}");
    assert!(sizes.iter().all(|&s| s >= 10));
}

#[test]
fn summary_serializes_and_prints() {
    let labels = labels();
    let spec: PartitionSpec = "dirichlet:0.5".parse().unwrap();
    let s = partition(&labels, 4, &spec, 3)
        .unwrap()
        .summary(&labels, &spec, 3);
    let json = serde_json::to_string(&s).unwrap();
    let back: deai_ml::PartitionSummary = serde_json::from_str(&json).unwrap();
    assert_eq!(back.clients, s.clients);
    assert!((back.label_skew - s.label_skew).abs() < 1e-12);
    assert_eq!(s.clients.iter().map(|c| c.samples).sum::<usize>(), 8000);
    for c in &s.clients {
        assert_eq!(c.histogram.iter().sum::<usize>(), c.samples);
    }
    let text = s.to_string();
    assert!(
        text.contains("dirichlet:0.5") && text.lines().count() == 6,
        "{text}"
    );
}

#[test]
fn impossible_requests_are_errors() {
    let labels = vec![0u8; 5];
    assert!(partition(&labels, 0, &PartitionSpec::Iid, 0).is_err());
    assert!(partition(&labels, 6, &PartitionSpec::Iid, 0).is_err());
    assert!(partition(&labels, 3, &PartitionSpec::Shards { per_client: 2 }, 0).is_err());
}
