//! Fuzzing of the JSON case parser (`parse_epoch_input`) and of the epoch on whatever it
//! accepts: arbitrary text, and the shipped vector cases with leaves and shapes mutated. No
//! input may panic; bad input is a `YumaError`.
//!
//! `PROPTEST_CASES=100000 cargo test --release -p deai-yuma --test it fuzz` runs longer (see
//! `docs/fuzzing.md`).

use deai_yuma::{parse_epoch_input, run_epoch};
use proptest::prelude::*;
use serde_json::Value;

/// Cases per property in the default suite, unless `PROPTEST_CASES` says otherwise.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn shipped_cases() -> Vec<Value> {
    let v = crate::vectors::load();
    v["cases"].as_array().cloned().unwrap_or_default()
}

/// Values a mutated leaf takes: the edges of every numeric type the parser might convert to,
/// and wrong types.
fn odd_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(Value::Bool(true)),
        Just(Value::String("1".into())),
        Just(Value::Array(vec![])),
        Just(serde_json::json!({})),
        Just(serde_json::json!(-1)),
        Just(serde_json::json!(-0.0)),
        Just(serde_json::json!(65536)),
        Just(serde_json::json!(u64::MAX)),
        Just(serde_json::json!(i64::MIN)),
        Just(serde_json::json!(1e308)),
        Just(serde_json::json!(-1e308)),
        Just(serde_json::json!(5e-324)),
        Just(serde_json::json!(2147483648.0)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| serde_json::json!(f)),
        any::<i64>().prop_map(|i| serde_json::json!(i)),
    ]
}

/// Applies one edit at the `pick`-th node (pre-order) of `v`: replace it with `leaf`, drop
/// it from its parent, or duplicate it inside its parent array.
fn mutate(v: &mut Value, pick: &mut usize, leaf: &Value, kind: u8) -> bool {
    if *pick == 0 {
        *v = leaf.clone();
        return true;
    }
    *pick -= 1;
    match v {
        Value::Array(items) => {
            for i in 0..items.len() {
                if *pick == 0 {
                    match kind % 3 {
                        1 => {
                            items.remove(i);
                            return true;
                        }
                        2 => {
                            let copy = items[i].clone();
                            items.insert(i, copy);
                            return true;
                        }
                        _ => {}
                    }
                }
                if mutate(&mut items[i], pick, leaf, kind) {
                    return true;
                }
            }
            false
        }
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                if *pick == 0 && kind % 3 == 1 {
                    map.remove(&k);
                    return true;
                }
                if let Some(child) = map.get_mut(&k) {
                    if mutate(child, pick, leaf, kind) {
                        return true;
                    }
                }
            }
            false
        }
        _ => false,
    }
}

/// Parse, and run the epoch on whatever parses; neither may panic.
fn parse_and_run(text: &str) {
    if let Ok(input) = parse_epoch_input(text) {
        let _ = run_epoch(&input);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn fuzz_parse_epoch_input_on_arbitrary_text(text in ".{0,200}") {
        parse_and_run(&text);
    }

    #[test]
    fn fuzz_parse_epoch_input_on_mutated_cases(
        case in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<usize>(), odd_leaf(), any::<u8>()), 1..4),
        inputs_only in any::<bool>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let all = shipped_cases();
        prop_assume!(!all.is_empty());
        let mut v = all[case.index(all.len())].clone();
        if inputs_only {
            v = v["inputs"].clone();
        }
        for (pick, leaf, kind) in edits {
            let mut p = pick % 400;
            mutate(&mut v, &mut p, &leaf, kind);
        }
        let text = v.to_string();
        parse_and_run(&text);
        // And a truncated copy (cut on a char boundary).
        let mut at = cut.index(text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        parse_and_run(&text[..at]);
    }
}
