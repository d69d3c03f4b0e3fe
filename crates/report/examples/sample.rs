//! Draws a sample chart and heatmap into the folder given as the first argument.
use deai_report::{Heatmap, LineChart, Series};
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    LineChart::new("Test accuracy per round", "round", "accuracy")
        .with(Series::new(
            "honest",
            (0..20).map(|r| (r as f64, 1.0 - 0.9f64.powi(r))).collect(),
        ))
        .with(Series::new(
            "attacked",
            (0..20).map(|r| (r as f64, 0.8 - 0.9f64.powi(r))).collect(),
        ))
        .save_png(&dir.join("sample-line.png"), 800, 480)?;
    // Fourteen actors' cumulative rewards in base units: large y values, a legend of 14.
    let kinds = ["honest", "free_rider", "sign_flip", "alie", "validator"];
    let mut rewards = LineChart::new("Cumulative rewards", "round", "reward");
    for a in 0..14u32 {
        let rate = 4.0e6 * f64::from(14 - a) + 1.0e6;
        let name = format!("miner-{a} ({})", kinds[a as usize % kinds.len()]);
        rewards = rewards.with(Series::new(
            name,
            (1..=20)
                .map(|r| (f64::from(r), rate * f64::from(r)))
                .collect(),
        ));
    }
    rewards.save_png(&dir.join("sample-rewards.png"), 1000, 600)?;
    Heatmap {
        title: "Final accuracy, 20% Byzantine".into(),
        rows: vec!["alie".into(), "sign_flip".into()],
        cols: vec!["fedavg".into(), "median".into(), "krum".into()],
        values: vec![vec![0.2, 0.85, f64::NAN], vec![0.1, 0.88, 0.87]],
        range: (0.0, 1.0),
    }
    .save_png(&dir.join("sample-heat.png"))?;
    Ok(())
}
