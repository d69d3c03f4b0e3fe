//! The distributions of one state, and their Prometheus gauges byte for byte.

use deai_analytics::{prometheus_text, state_distributions, Distribution};
use deai_chain::{GenesisConfig, State};
use deai_types::{AccountId, Amount, ChainId};

#[test]
fn a_genesis_state_has_balances_stake_and_governance_power() {
    let accounts = [AccountId([1; 32]), AccountId([2; 32]), AccountId([3; 32])];
    let cfg = GenesisConfig::funded(ChainId::new("deai-test").unwrap(), accounts, Amount(1_000))
        .with_stakes([(accounts[0], Amount(600))]);
    let got = state_distributions(&State::genesis(&cfg).unwrap());
    let names: Vec<&str> = got.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        ["balances", "stake per hotkey", "governance voting power"]
    );
    assert_eq!(got[0].metrics.n, 3);
    // One self-staker holds every stake and every governance vote.
    for d in &got[1..] {
        assert_eq!((d.metrics.n, d.metrics.nakamoto_1_2), (1, 1), "{}", d.name);
    }
}

#[test]
fn gauges_are_one_family_per_metric_with_escaped_labels() {
    let metrics = deai_metrics::metrics_of_amounts(&[5, 3, 2]);
    let rows = [Distribution {
        name: "task \"1\" stake".into(),
        metrics,
    }];
    let text = prometheus_text(&rows);
    let label = r#"{distribution="task \"1\" stake"}"#;
    let expected = format!(
        "# HELP deai_distribution_gini Gini coefficient of a ledger distribution\n\
         # TYPE deai_distribution_gini gauge\n\
         deai_distribution_gini{label} {}\n\
         # HELP deai_distribution_nakamoto_1_2 Nakamoto coefficient (1/2) of a ledger distribution\n\
         # TYPE deai_distribution_nakamoto_1_2 gauge\n\
         deai_distribution_nakamoto_1_2{label} 2\n\
         # HELP deai_distribution_nakamoto_1_3 Nakamoto coefficient (1/3) of a ledger distribution\n\
         # TYPE deai_distribution_nakamoto_1_3 gauge\n\
         deai_distribution_nakamoto_1_3{label} 1\n\
         # HELP deai_distribution_hhi Herfindahl-Hirschman index of a ledger distribution\n\
         # TYPE deai_distribution_hhi gauge\n\
         deai_distribution_hhi{label} {}\n\
         # HELP deai_distribution_entropy_normalized Normalized Shannon entropy of a ledger distribution\n\
         # TYPE deai_distribution_entropy_normalized gauge\n\
         deai_distribution_entropy_normalized{label} {}\n\
         # HELP deai_distribution_entities Number of holders of a ledger distribution\n\
         # TYPE deai_distribution_entities gauge\n\
         deai_distribution_entities{label} 3\n",
        metrics.gini, metrics.hhi, metrics.entropy_normalized
    );
    assert_eq!(text, expected);
}
