//! Reading a rule's parameters from JSON, with unknown names rejected by name.

use serde_json::{Map, Value};

use crate::error::{AggregationError, Result};

/// The parameters object of one rule, checked against the names the rule accepts.
#[derive(Debug)]
pub(crate) struct Params<'a> {
    rule: &'static str,
    map: Option<&'a Map<String, Value>>,
}

impl<'a> Params<'a> {
    /// Accepts an object (or null, meaning no parameters) whose keys are all in `accepted`.
    pub(crate) fn new(rule: &'static str, value: &'a Value, accepted: &[&str]) -> Result<Self> {
        let map = match value {
            Value::Null => None,
            Value::Object(m) => Some(m),
            other => {
                return Err(AggregationError::InvalidParam {
                    rule,
                    param: "params",
                    value: other.to_string(),
                    expected: "a JSON object of named parameters".into(),
                })
            }
        };
        if let Some(m) = map {
            if let Some(unknown) = m.keys().find(|k| !accepted.contains(&k.as_str())) {
                return Err(AggregationError::UnknownParam {
                    rule,
                    param: unknown.clone(),
                    accepted: if accepted.is_empty() {
                        "none".into()
                    } else {
                        accepted.join(", ")
                    },
                });
            }
        }
        Ok(Self { rule, map })
    }

    /// The raw value (`None` when absent or null).
    pub(crate) fn raw(&self, name: &str) -> Option<&'a Value> {
        self.map.and_then(|m| m.get(name)).filter(|v| !v.is_null())
    }

    fn invalid(&self, param: &'static str, value: &Value, expected: &str) -> AggregationError {
        AggregationError::InvalidParam {
            rule: self.rule,
            param,
            value: value.to_string(),
            expected: expected.into(),
        }
    }

    /// A finite number.
    pub(crate) fn f64(&self, name: &'static str) -> Result<Option<f64>> {
        self.raw(name)
            .map(|v| {
                v.as_f64()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| self.invalid(name, v, "a finite number"))
            })
            .transpose()
    }

    /// A finite number that must be present.
    pub(crate) fn required_f64(&self, name: &'static str) -> Result<f64> {
        self.f64(name)?.ok_or(AggregationError::MissingParam {
            rule: self.rule,
            param: name,
        })
    }

    /// A non-negative integer (an integral float such as `4.0` is accepted).
    pub(crate) fn usize(&self, name: &'static str) -> Result<Option<usize>> {
        self.raw(name)
            .map(|v| {
                v.as_u64()
                    .or_else(|| {
                        v.as_f64()
                            .filter(|x| *x >= 0.0 && x.fract() == 0.0 && *x < 1e15)
                            .map(|x| x as u64)
                    })
                    .and_then(|x| usize::try_from(x).ok())
                    .ok_or_else(|| self.invalid(name, v, "a non-negative integer"))
            })
            .transpose()
    }

    /// A non-negative integer that must be present.
    pub(crate) fn required_usize(&self, name: &'static str) -> Result<usize> {
        self.usize(name)?.ok_or(AggregationError::MissingParam {
            rule: self.rule,
            param: name,
        })
    }

    /// An array of finite numbers.
    pub(crate) fn vec(&self, name: &'static str) -> Result<Option<Vec<f64>>> {
        self.raw(name)
            .map(|v| {
                v.as_array()
                    .and_then(|a| {
                        a.iter()
                            .map(|x| x.as_f64().filter(|x| x.is_finite()))
                            .collect::<Option<Vec<f64>>>()
                    })
                    .ok_or_else(|| self.invalid(name, v, "an array of finite numbers"))
            })
            .transpose()
    }

    /// An array of arrays of finite numbers, all of one non-zero length.
    pub(crate) fn matrix(&self, name: &'static str) -> Result<Option<Vec<Vec<f64>>>> {
        self.raw(name)
            .map(|v| {
                let m = v
                    .as_array()
                    .and_then(|rows| {
                        rows.iter()
                            .map(|r| {
                                r.as_array().and_then(|a| {
                                    a.iter()
                                        .map(|x| x.as_f64().filter(|x| x.is_finite()))
                                        .collect::<Option<Vec<f64>>>()
                                })
                            })
                            .collect::<Option<Vec<Vec<f64>>>>()
                    })
                    .filter(|m| {
                        m.first().is_some_and(|r0| {
                            !r0.is_empty() && m.iter().all(|r| r.len() == r0.len())
                        })
                    });
                m.ok_or_else(|| {
                    self.invalid(
                        name,
                        v,
                        "a non-empty array of equal-length, non-empty arrays of finite numbers",
                    )
                })
            })
            .transpose()
    }

    /// A string.
    pub(crate) fn string(&self, name: &'static str) -> Result<Option<&'a str>> {
        self.raw(name)
            .map(|v| v.as_str().ok_or_else(|| self.invalid(name, v, "a string")))
            .transpose()
    }
}

/// Checks sample weights: finite, non-negative, positive total that does not overflow.
pub(crate) fn check_weights(rule: &'static str, w: &[f64]) -> Result<()> {
    let total = w.iter().sum::<f64>();
    if w.iter().any(|x| !x.is_finite() || *x < 0.0) || !total.is_finite() || total <= 0.0 {
        return Err(AggregationError::InvalidParam {
            rule,
            param: "weights",
            value: format!("{w:?}"),
            expected: "finite non-negative numbers with a positive, finite sum".into(),
        });
    }
    Ok(())
}
