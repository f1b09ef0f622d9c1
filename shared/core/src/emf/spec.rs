//! A validator for EMF documents, written from the CloudWatch Embedded Metric Format
//! specification and the CloudWatch PutMetricData limits. It is deliberately independent of
//! the writer: the property tests feed the writer random input and check its output here.
//!
//! Rules checked:
//! * the line is one JSON object, at most [`MAX_LINE_BYTES`] bytes;
//! * `_aws` is an object with an integer, non-negative `Timestamp` (epoch ms) and a non-empty
//!   `CloudWatchMetrics` array; no other members in `_aws` than those two (we emit no others);
//! * each MetricDirective has exactly `Namespace`, `Dimensions`, `Metrics`;
//!   `Namespace`: 1-255 chars of `[A-Za-z0-9.-_/#: ]`, not blank, not starting with `AWS/`;
//! * `Dimensions`: an array of DimensionSets; each an array of at most 30 distinct key strings;
//!   each key refers to a root member whose value is a string of printable ASCII, 1-1024
//!   characters, not blank;
//! * `Metrics`: 1-100 MetricDefinitions with distinct `Name`s; members only `Name`, `Unit`,
//!   `StorageResolution`; `Unit` one of CloudWatch's units; `StorageResolution` 1 or 60;
//!   `Name` refers to a root member holding a number (or an array of at most 100 numbers)
//!   within CloudWatch's accepted range; a name is never also a dimension key;
//! * names (metric and dimension keys): 1-255 characters of printable ASCII, not blank, not
//!   starting with `:`.

use serde_json::Value;
use std::collections::HashSet;

/// CloudWatch Logs caps an event at 256 KiB including 26 bytes of overhead; stay below.
pub const MAX_LINE_BYTES: usize = 256 * 1024 - 26;
pub const MAX_METRICS_PER_DIRECTIVE: usize = 100;
pub const MAX_DIMENSIONS_PER_SET: usize = 30;
pub const MAX_NAME_CHARS: usize = 255;
pub const MAX_DIMENSION_VALUE_CHARS: usize = 1024;
pub const MAX_VALUES_PER_METRIC: usize = 100;
/// PutMetricData accepts magnitudes in [8.515920e-109, 1.174271e+108] (and zero).
pub const MIN_MAGNITUDE: f64 = 8.515920e-109;
pub const MAX_MAGNITUDE: f64 = 1.174271e108;

pub const UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

fn printable_ascii(s: &str) -> bool {
    s.chars().all(|c| (' '..='~').contains(&c))
}

pub fn valid_namespace(ns: &str) -> bool {
    let len = ns.chars().count();
    (1..=MAX_NAME_CHARS).contains(&len)
        && !ns.trim().is_empty()
        && !ns.starts_with("AWS/")
        && ns.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | '#' | ':' | ' ')
        })
}

pub fn valid_name(name: &str) -> bool {
    let len = name.chars().count();
    (1..=MAX_NAME_CHARS).contains(&len)
        && printable_ascii(name)
        && !name.trim().is_empty()
        && !name.starts_with(':')
}

pub fn valid_dimension_value(v: &str) -> bool {
    let len = v.chars().count();
    (1..=MAX_DIMENSION_VALUE_CHARS).contains(&len) && printable_ascii(v) && !v.trim().is_empty()
}

/// Finite and not above CloudWatch's largest magnitude (tiny values are rounded to zero by the writer).
pub fn valid_value(v: f64) -> bool {
    v.is_finite() && v.abs() <= MAX_MAGNITUDE
}

fn valid_emitted_value(v: &Value) -> bool {
    match v.as_f64() {
        Some(f) => valid_value(f) && (f == 0.0 || f.abs() >= MIN_MAGNITUDE),
        None => false,
    }
}

/// Checks one line; returns every rule it breaks.
pub fn validate(line: &str) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    if line.len() > MAX_LINE_BYTES {
        errors.push(format!(
            "line is {} bytes, more than {MAX_LINE_BYTES}",
            line.len()
        ));
    }
    if line.contains('\n') {
        errors.push("line contains a newline".into());
    }
    let root: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return Err(vec![format!("not JSON: {e}")]),
    };
    let Some(root) = root.as_object() else {
        return Err(vec!["root is not an object".into()]);
    };
    let Some(aws) = root.get("_aws").and_then(Value::as_object) else {
        return Err(vec!["_aws missing or not an object".into()]);
    };
    for k in aws.keys() {
        if k != "Timestamp" && k != "CloudWatchMetrics" {
            errors.push(format!("_aws has unexpected member {k:?}"));
        }
    }
    match aws.get("Timestamp") {
        Some(Value::Number(n)) if n.as_u64().is_some() => {}
        other => errors.push(format!(
            "_aws.Timestamp must be a non-negative integer, got {other:?}"
        )),
    }
    let directives = match aws.get("CloudWatchMetrics").and_then(Value::as_array) {
        Some(d) if !d.is_empty() => d,
        _ => {
            errors.push("_aws.CloudWatchMetrics must be a non-empty array".into());
            return Err(errors);
        }
    };
    for (i, d) in directives.iter().enumerate() {
        validate_directive(i, d, root, &mut errors);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn validate_directive(
    i: usize,
    d: &Value,
    root: &serde_json::Map<String, Value>,
    errors: &mut Vec<String>,
) {
    let Some(d) = d.as_object() else {
        errors.push(format!("directive {i} is not an object"));
        return;
    };
    for k in d.keys() {
        if !matches!(k.as_str(), "Namespace" | "Dimensions" | "Metrics") {
            errors.push(format!("directive {i} has unexpected member {k:?}"));
        }
    }
    match d.get("Namespace").and_then(Value::as_str) {
        Some(ns) if valid_namespace(ns) => {}
        other => errors.push(format!("directive {i}: invalid Namespace {other:?}")),
    }
    let mut dimension_keys = HashSet::new();
    match d.get("Dimensions").and_then(Value::as_array) {
        None => errors.push(format!("directive {i}: Dimensions must be an array")),
        Some(sets) => {
            for set in sets {
                let Some(keys) = set.as_array() else {
                    errors.push(format!("directive {i}: a DimensionSet is not an array"));
                    continue;
                };
                if keys.len() > MAX_DIMENSIONS_PER_SET {
                    errors.push(format!(
                        "directive {i}: DimensionSet has {} keys",
                        keys.len()
                    ));
                }
                let mut seen = HashSet::new();
                for key in keys {
                    let Some(key) = key.as_str() else {
                        errors.push(format!(
                            "directive {i}: dimension key {key} is not a string"
                        ));
                        continue;
                    };
                    if !seen.insert(key) {
                        errors.push(format!(
                            "directive {i}: dimension key {key:?} repeated in a set"
                        ));
                    }
                    if !valid_name(key) {
                        errors.push(format!("directive {i}: invalid dimension name {key:?}"));
                    }
                    match root.get(key).and_then(Value::as_str) {
                        Some(v) if valid_dimension_value(v) => {}
                        other => errors.push(format!(
                            "dimension {key:?}: root value {other:?} is not a valid string"
                        )),
                    }
                    dimension_keys.insert(key.to_owned());
                }
            }
        }
    }
    let Some(metrics) = d.get("Metrics").and_then(Value::as_array) else {
        errors.push(format!("directive {i}: Metrics must be an array"));
        return;
    };
    if metrics.is_empty() || metrics.len() > MAX_METRICS_PER_DIRECTIVE {
        errors.push(format!(
            "directive {i}: {} metrics (allowed 1-100)",
            metrics.len()
        ));
    }
    let mut names = HashSet::new();
    for m in metrics {
        let Some(m) = m.as_object() else {
            errors.push(format!(
                "directive {i}: a MetricDefinition is not an object"
            ));
            continue;
        };
        for k in m.keys() {
            if !matches!(k.as_str(), "Name" | "Unit" | "StorageResolution") {
                errors.push(format!("metric definition has unexpected member {k:?}"));
            }
        }
        let Some(name) = m.get("Name").and_then(Value::as_str) else {
            errors.push("metric definition without a string Name".into());
            continue;
        };
        if !valid_name(name) {
            errors.push(format!("invalid metric name {name:?}"));
        }
        if !names.insert(name) {
            errors.push(format!("metric {name:?} listed twice"));
        }
        if dimension_keys.contains(name) {
            errors.push(format!("metric {name:?} is also a dimension"));
        }
        if let Some(unit) = m.get("Unit") {
            if !unit.as_str().is_some_and(|u| UNITS.contains(&u)) {
                errors.push(format!("metric {name:?}: invalid Unit {unit}"));
            }
        }
        if let Some(res) = m.get("StorageResolution") {
            if !matches!(res.as_u64(), Some(1) | Some(60)) {
                errors.push(format!(
                    "metric {name:?}: StorageResolution {res} is not 1 or 60"
                ));
            }
        }
        match root.get(name) {
            Some(v @ Value::Number(_)) if valid_emitted_value(v) => {}
            Some(Value::Array(vs))
                if !vs.is_empty()
                    && vs.len() <= MAX_VALUES_PER_METRIC
                    && vs.iter().all(valid_emitted_value) => {}
            other => errors.push(format!(
                "metric {name:?}: root value {other:?} is not a valid number"
            )),
        }
    }
}
