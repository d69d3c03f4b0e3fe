//! The layers table: its columns and cell formats are what `layers.csv` has always held.

use deai_analytics::{layer_columns, layer_rows, EpochLayers, Layer, LayerRow};

#[test]
fn columns_are_the_layers_csv_header() {
    assert_eq!(
        layer_columns(),
        [
            "task",
            "epoch",
            "height",
            "layer",
            "total",
            "n",
            "gini",
            "nakamoto_1_2",
            "nakamoto_1_3",
            "hhi",
            "entropy_normalized",
            "theil",
            "top_1_share",
            "top_3_share",
            "top_5_share",
            "top_10_share",
        ]
    );
}

#[test]
fn counts_are_integers_and_ratios_have_six_decimals() {
    let holdings = [8u128, 1, 1];
    let epochs = [EpochLayers {
        task: 2,
        epoch: 7,
        last_round: 7,
        height: 40,
        layers: vec![LayerRow {
            layer: Layer::MinerRewards,
            total: 10.0,
            metrics: deai_metrics::metrics_of_amounts(&holdings),
            holdings: vec![("a".into(), 8.0), ("b".into(), 1.0), ("c".into(), 1.0)],
        }],
    }];
    let rows = layer_rows(&epochs);
    assert_eq!(
        rows,
        [[
            "2",
            "7",
            "40",
            "miner_rewards",
            "10",
            "3",
            "0.466667",
            "1",
            "1",
            "0.660000",
            "0.581672",
            "0.459580",
            "0.800000",
            "1.000000",
            "1.000000",
            "1.000000",
        ]]
    );
}
