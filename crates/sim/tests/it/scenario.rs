use std::path::Path;

use deai_sim::Scenario;

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

#[test]
fn demo_file_is_the_demo_scenario() {
    let s = Scenario::load(&repo("scenarios/demo.toml")).unwrap();
    assert_eq!(s, Scenario::demo());
    assert_eq!(s.miner_count(), 10);
    assert_eq!(s.validator_count(), 4);
}

#[test]
fn every_shipped_scenario_parses() {
    for entry in std::fs::read_dir(repo("scenarios")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            Scenario::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }
}

fn parse_err(text: &str) -> String {
    Scenario::from_toml(text, Path::new("t.toml"))
        .unwrap_err()
        .to_string()
}

const MIN: &str = "[[miners]]\nkind = \"honest\"\n[[validators]]\nkind = \"honest\"\n";

#[test]
fn unknown_keys_and_bad_values_name_the_key() {
    assert!(Scenario::from_toml(MIN, Path::new("t.toml")).is_ok());
    assert!(parse_err(&format!("roundz = 3\n{MIN}")).contains("roundz"));
    assert!(parse_err(&format!("{MIN}[task]\nrewards = 3\n")).contains("rewards"));
    assert!(parse_err(
        "[[miners]]\nkind = \"honest\"\ncolour = 1\n[[validators]]\nkind = \"honest\"\n"
    )
    .contains("colour"));
    assert!(
        parse_err("[[miners]]\nkind = \"wizard\"\n[[validators]]\nkind = \"honest\"\n")
            .contains("wizard")
    );
    assert!(parse_err(&format!("rounds = 0\n{MIN}")).contains("`rounds`"));
    assert!(parse_err(&format!("[task]\nminer_share = 1.5\n{MIN}")).contains("task.miner_share"));
    assert!(parse_err(&format!("[data]\npartition = \"zipf\"\n{MIN}")).contains("data.partition"));
    assert!(parse_err(&format!("[training]\nmodel = \"gpt\"\n{MIN}")).contains("training.model"));
    assert!(
        parse_err("[[miners]]\nkind = \"honest\"\n[[validators]]\nkind = \"colluding\"\n")
            .contains("validators[0].partner")
    );
    assert!(parse_err(
        "[[miners]]\nkind = \"honest\"\n[[validators]]\nkind = \"colluding\"\npartner = 5\n"
    )
    .contains("validators[0].partner"));
    assert!(parse_err(
        "[[miners]]\nkind = \"honest\"\nmode = \"noise\"\n[[validators]]\nkind = \"honest\"\n"
    )
    .contains("miners[0].mode"));
    assert!(parse_err(
        "[[miners]]\nkind = \"honest\"\nowner = \" \"\n[[validators]]\nkind = \"honest\"\n"
    )
    .contains("miners[0].owner"));
    assert!(Scenario::from_toml(
        "[[miners]]\nkind = \"honest\"\nowner = \"op\"\n[[validators]]\nkind = \"honest\"\nowner = \"op\"\n",
        Path::new("t.toml")
    )
    .is_ok());
    assert!(parse_err("rounds = 3\n").contains("miners"));
    assert!(parse_err(&format!("[task]\nmechanism = \"flock\"\n{MIN}")).contains("mechanism"));
    assert!(parse_err(&format!(
        "[task]\nmechanism = \"proposer_voter\"\npv_proposers = 0\n{MIN}"
    ))
    .contains("task.pv_proposers"));
    assert!(parse_err(&format!("[task]\npv_slash_to_pool = 1.5\n{MIN}"))
        .contains("task.pv_slash_to_pool"));
}

#[test]
fn all_honest_replaces_every_adversary() {
    let h = Scenario::demo().all_honest();
    assert!(h
        .miners
        .iter()
        .all(|g| g.kind == deai_sim::scenario::MinerKind::Honest && g.mode.is_none()));
    assert!(h
        .validators
        .iter()
        .all(|g| g.kind == deai_sim::scenario::ValidatorKind::Honest));
    assert_eq!(h.miner_count(), 10);
}
