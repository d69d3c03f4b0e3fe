//! The run report of the shared run plots and tabulates every layer.

use deai_analytics::Layer;
use deai_sim::report::{layers_plot_name, Provenance, PLOTTED, SHOWN};

use crate::fixture::{run, store_lock, ROUNDS};

#[test]
fn the_run_report_plots_and_tabulates_every_layer() {
    let (_, report) = run();
    let out = tempfile::tempdir().unwrap();
    {
        let _guard = store_lock();
        deai_sim::report::write(
            out.path(),
            report,
            None,
            Provenance {
                git_revision: "test".into(),
                version: "0".into(),
            },
        )
        .unwrap();
    }
    let csv = std::fs::read_to_string(out.path().join("layers.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + ROUNDS as usize * Layer::ALL.len());
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("layers.json")).unwrap()).unwrap();
    assert_eq!(json.as_array().unwrap().len() as u64, ROUNDS);
    let md = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(md.contains("## Decentralization over time"));
    for layer in Layer::ALL {
        assert!(
            md.contains(layer.label()),
            "{layer:?} missing from report.md"
        );
    }
    let keys: Vec<&str> = PLOTTED.iter().map(|m| m.slug()).collect();
    assert_eq!(
        keys,
        [
            "nakamoto",
            "nakamoto-third",
            "gini",
            "hhi",
            "entropy",
            "theil",
            "top1"
        ]
    );
    for family in Layer::FAMILIES {
        for metric in PLOTTED {
            let name = layers_plot_name(family, metric.slug());
            let png = std::fs::read(out.path().join(&name)).unwrap();
            assert!(png.starts_with(b"\x89PNG"), "{name}");
            if SHOWN.contains(&metric) {
                assert!(md.contains(&name), "{name} not shown in report.md");
            }
        }
    }
}
