//! `deai metrics`: decentralization metrics of a holdings vector read from JSON.
//!
//! The input is a JSON array of numbers, `[3, 1.5, 0]`, or an object `{"values": [...]}`. The
//! output is one JSON object with the keys `gini`, `nakamoto_1_2`, `nakamoto_1_3`, `hhi`,
//! `entropy_normalized`, `theil`, `top_1_share`, `top_3_share`, `top_5_share`, `top_10_share`
//! and `n` (definitions in `deai-metrics`). A negative, non-finite or non-numeric entry is an
//! error that names its index.

use std::fmt;
use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::Global;

/// Arguments of `deai metrics`.
#[derive(Args, Debug)]
pub struct MetricsArgs {
    /// JSON file with an array of non-negative numbers or `{"values": [...]}`; `-` reads stdin.
    #[arg(long, short)]
    pub input: PathBuf,
}

/// Runs `deai metrics`.
pub fn run(args: MetricsArgs, _global: &Global) -> anyhow::Result<()> {
    let text = if args.input.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading holdings from stdin")?;
        s
    } else {
        std::fs::read_to_string(&args.input)
            .with_context(|| format!("reading {}", args.input.display()))?
    };
    let values = parse_values(&text).with_context(|| {
        format!(
            "parsing {} (expected a JSON array of numbers or {{\"values\": [...]}})",
            args.input.display()
        )
    })?;
    let metrics = deai_metrics::metrics(&values)?;
    println!("{}", serde_json::to_string_pretty(&metrics)?);
    Ok(())
}

/// Parses `[..]` or `{"values": [..]}` into numbers; errors name the element index.
pub fn parse_values(text: &str) -> anyhow::Result<Vec<f64>> {
    let input: Input = serde_json::from_str(text)?;
    Ok(input.0)
}

/// The holdings, from either accepted shape.
struct Input(Vec<f64>);

impl<'de> Deserialize<'de> for Input {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(InputVisitor)
    }
}

struct InputVisitor;

impl<'de> Visitor<'de> for InputVisitor {
    type Value = Input;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a JSON array of numbers or an object {"values": [...]}"#)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Input, A::Error> {
        Values::visit(seq).map(Input)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Input, A::Error> {
        let mut values = None;
        while let Some(key) = map.next_key::<String>()? {
            if key != "values" {
                return Err(de::Error::custom(format!(
                    "unknown key `{key}`; the only accepted key is `values`"
                )));
            }
            if values.is_some() {
                return Err(de::Error::custom("duplicate key `values`"));
            }
            values = Some(map.next_value::<Values>()?.0);
        }
        values
            .map(Input)
            .ok_or_else(|| de::Error::missing_field("values"))
    }
}

/// An array of numbers whose errors carry the element index.
struct Values(Vec<f64>);

impl Values {
    fn visit<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Vec<f64>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        loop {
            let index = out.len();
            match seq.next_element::<Number>() {
                Ok(Some(Number(x))) => out.push(x),
                Ok(None) => return Ok(out),
                Err(e) => return Err(de::Error::custom(format!("element at index {index}: {e}"))),
            }
        }
    }
}

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Values;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of numbers")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Values, A::Error> {
                Values::visit(seq).map(Values)
            }
        }
        d.deserialize_seq(V)
    }
}

/// One JSON number as f64.
struct Number(f64);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number, E> {
                Ok(Number(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
        }
        d.deserialize_f64(V)
    }
}
