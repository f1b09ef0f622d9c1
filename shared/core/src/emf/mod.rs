//! CloudWatch Embedded Metric Format (EMF) writer.
//!
//! Why not awslabs' `metrique`: its EMF formatter fixes dimension sets on the formatter and
//! derives entries from structs at compile time; our dimension sets and metric lists differ per
//! event (job type, status, instance type vary, endpoints vs jobs), we must split past 100
//! metrics and shed properties to stay under the log-event size, and we need a spec validator
//! anyway. That is ~200 lines here, with no macro layer.
//!
//! Guarantees (checked by property tests against [`spec::validate`]): every emitted line is a
//! valid EMF document; invalid names, values or sets are dropped and reported, never emitted.

pub mod spec;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io::Write;

pub use spec::{validate, MAX_DIMENSIONS_PER_SET, MAX_LINE_BYTES, MAX_METRICS_PER_DIRECTIVE};

/// CloudWatch's metric units; only these are valid in EMF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Unit {
    Seconds,
    Microseconds,
    Milliseconds,
    Bytes,
    Kilobytes,
    Megabytes,
    Gigabytes,
    Terabytes,
    Bits,
    Kilobits,
    Megabits,
    Gigabits,
    Terabits,
    Percent,
    Count,
    #[serde(rename = "Bytes/Second")]
    BytesPerSecond,
    #[serde(rename = "Kilobytes/Second")]
    KilobytesPerSecond,
    #[serde(rename = "Megabytes/Second")]
    MegabytesPerSecond,
    #[serde(rename = "Gigabytes/Second")]
    GigabytesPerSecond,
    #[serde(rename = "Terabytes/Second")]
    TerabytesPerSecond,
    #[serde(rename = "Bits/Second")]
    BitsPerSecond,
    #[serde(rename = "Kilobits/Second")]
    KilobitsPerSecond,
    #[serde(rename = "Megabits/Second")]
    MegabitsPerSecond,
    #[serde(rename = "Gigabits/Second")]
    GigabitsPerSecond,
    #[serde(rename = "Terabits/Second")]
    TerabitsPerSecond,
    #[serde(rename = "Count/Second")]
    CountPerSecond,
    None,
}

impl Unit {
    pub const ALL: [Unit; 27] = [
        Unit::Seconds,
        Unit::Microseconds,
        Unit::Milliseconds,
        Unit::Bytes,
        Unit::Kilobytes,
        Unit::Megabytes,
        Unit::Gigabytes,
        Unit::Terabytes,
        Unit::Bits,
        Unit::Kilobits,
        Unit::Megabits,
        Unit::Gigabits,
        Unit::Terabits,
        Unit::Percent,
        Unit::Count,
        Unit::BytesPerSecond,
        Unit::KilobytesPerSecond,
        Unit::MegabytesPerSecond,
        Unit::GigabytesPerSecond,
        Unit::TerabytesPerSecond,
        Unit::BitsPerSecond,
        Unit::KilobitsPerSecond,
        Unit::MegabitsPerSecond,
        Unit::GigabitsPerSecond,
        Unit::TerabitsPerSecond,
        Unit::CountPerSecond,
        Unit::None,
    ];
}

/// Standard (60 s) or high (1 s) resolution storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Standard,
    High,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EmfError {
    #[error("invalid EMF namespace {0:?}: 1-255 characters of [A-Za-z0-9.-_/#: ], not starting with AWS/")]
    InvalidNamespace(String),
    #[error("EMF document still larger than {MAX_LINE_BYTES} bytes after shedding every property")]
    TooLarge,
}

#[derive(Debug, Clone)]
struct MetricEntry {
    name: String,
    value: f64,
    unit: Unit,
    resolution: Resolution,
}

/// One metric event: a namespace, dimension values, the sets to aggregate by, metric values and
/// free-form properties (searchable in Logs Insights, not metrics).
#[derive(Debug, Clone)]
pub struct MetricRecord {
    namespace: String,
    timestamp_ms: i64,
    dimensions: BTreeMap<String, String>,
    dimension_sets: Vec<Vec<String>>,
    metrics: Vec<MetricEntry>,
    properties: BTreeMap<String, Value>,
}

/// The rendered lines plus what had to be left out, so callers can log and count it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rendered {
    pub lines: Vec<String>,
    pub dropped: Vec<String>,
}

impl MetricRecord {
    pub fn new(namespace: impl Into<String>, timestamp: DateTime<Utc>) -> Self {
        MetricRecord {
            namespace: namespace.into(),
            timestamp_ms: timestamp.timestamp_millis().max(0),
            dimensions: BTreeMap::new(),
            dimension_sets: Vec::new(),
            metrics: Vec::new(),
            properties: BTreeMap::new(),
        }
    }

    /// Sets a dimension value (a root-level string). Use it in a set with [`Self::dimension_set`].
    pub fn dimension(&mut self, key: impl Into<String>, value: impl AsRef<str>) -> &mut Self {
        self.dimensions
            .insert(key.into(), clean_dimension_value(value.as_ref()));
        self
    }

    /// Adds a dimension set: the metrics are aggregated by exactly these keys.
    pub fn dimension_set(&mut self, keys: &[&str]) -> &mut Self {
        let mut set: Vec<String> = Vec::with_capacity(keys.len());
        for key in keys {
            if !set.iter().any(|k| k == key) {
                set.push((*key).to_owned());
            }
        }
        if !self.dimension_sets.contains(&set) {
            self.dimension_sets.push(set);
        }
        self
    }

    pub fn metric(&mut self, name: impl Into<String>, value: f64, unit: Unit) -> &mut Self {
        self.push_metric(name.into(), value, unit, Resolution::Standard)
    }

    pub fn metric_with_resolution(
        &mut self,
        name: impl Into<String>,
        value: f64,
        unit: Unit,
        resolution: Resolution,
    ) -> &mut Self {
        self.push_metric(name.into(), value, unit, resolution)
    }

    fn push_metric(
        &mut self,
        name: String,
        value: f64,
        unit: Unit,
        resolution: Resolution,
    ) -> &mut Self {
        // The last value for a name wins: a directive may not list a name twice.
        self.metrics.retain(|m| m.name != name);
        self.metrics.push(MetricEntry {
            name,
            value,
            unit,
            resolution,
        });
        self
    }

    /// A root-level property: any JSON, not a metric. Large ones may be shed to fit the size limit.
    pub fn property(&mut self, key: impl Into<String>, value: impl Serialize) -> &mut Self {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.properties.insert(key.into(), value);
        self
    }

    pub fn metric_count(&self) -> usize {
        self.metrics.len()
    }

    /// Renders one or more JSON lines, each a valid EMF document.
    pub fn render(&self) -> Result<Rendered, EmfError> {
        if !spec::valid_namespace(&self.namespace) {
            return Err(EmfError::InvalidNamespace(self.namespace.clone()));
        }
        let mut dropped = Vec::new();

        let dimensions: BTreeMap<&str, &str> = self
            .dimensions
            .iter()
            .filter(|(k, _)| {
                let ok = spec::valid_name(k) && k.as_str() != "_aws";
                if !ok {
                    dropped.push(format!("dimension {k:?}: invalid name"));
                }
                ok
            })
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();

        let metrics: Vec<&MetricEntry> = self
            .metrics
            .iter()
            .filter(|m| {
                let reason = if !spec::valid_name(&m.name) || m.name == "_aws" {
                    Some("invalid name")
                } else if dimensions.contains_key(m.name.as_str()) {
                    Some("name is also a dimension")
                } else if !spec::valid_value(m.value) {
                    Some("value is not a finite number CloudWatch accepts")
                } else {
                    None
                };
                if let Some(reason) = reason {
                    dropped.push(format!("metric {:?}: {reason}", m.name));
                }
                reason.is_none()
            })
            .collect();

        let mut sets: Vec<Vec<&str>> = Vec::new();
        for set in &self.dimension_sets {
            let keys: Vec<&str> = set.iter().map(String::as_str).collect();
            if keys.len() > MAX_DIMENSIONS_PER_SET {
                dropped.push(format!(
                    "dimension set {keys:?}: more than {MAX_DIMENSIONS_PER_SET} keys"
                ));
            } else if let Some(missing) = keys.iter().find(|k| !dimensions.contains_key(*k)) {
                dropped.push(format!(
                    "dimension set {keys:?}: no valid value for {missing:?}"
                ));
            } else if !sets.contains(&keys) {
                sets.push(keys);
            }
        }
        if sets.is_empty() {
            sets.push(Vec::new());
        }

        if metrics.is_empty() {
            return Ok(Rendered {
                lines: Vec::new(),
                dropped,
            });
        }

        let mut properties: Vec<(&str, &Value)> = self
            .properties
            .iter()
            .filter(|(k, _)| {
                let clash = k.as_str() == "_aws"
                    || dimensions.contains_key(k.as_str())
                    || metrics.iter().any(|m| m.name == **k);
                if clash {
                    dropped.push(format!(
                        "property {k:?}: clashes with a metric or dimension"
                    ));
                }
                !clash
            })
            .map(|(k, v)| (k.as_str(), v))
            .collect();

        let mut lines = Vec::new();
        for (chunk_index, chunk) in metrics.chunks(MAX_METRICS_PER_DIRECTIVE).enumerate() {
            // Properties ride on the first line only, so a report is not counted twice.
            let props: &mut Vec<(&str, &Value)> = if chunk_index == 0 {
                &mut properties
            } else {
                &mut Vec::new()
            };
            let line = self.render_chunk(&dimensions, &sets, chunk, props, &mut dropped)?;
            lines.push(line);
        }
        Ok(Rendered { lines, dropped })
    }

    fn render_chunk(
        &self,
        dimensions: &BTreeMap<&str, &str>,
        sets: &[Vec<&str>],
        metrics: &[&MetricEntry],
        properties: &mut Vec<(&str, &Value)>,
        dropped: &mut Vec<String>,
    ) -> Result<String, EmfError> {
        let definitions: Vec<Value> = metrics
            .iter()
            .map(|m| {
                let mut def = Map::new();
                def.insert("Name".into(), Value::from(m.name.as_str()));
                def.insert(
                    "Unit".into(),
                    serde_json::to_value(m.unit).unwrap_or(Value::from("None")),
                );
                if m.resolution == Resolution::High {
                    def.insert("StorageResolution".into(), Value::from(1));
                }
                Value::Object(def)
            })
            .collect();
        let directive = serde_json::json!({
            "Namespace": self.namespace,
            "Dimensions": sets,
            "Metrics": definitions,
        });
        let mut root = Map::new();
        root.insert(
            "_aws".into(),
            serde_json::json!({"Timestamp": self.timestamp_ms, "CloudWatchMetrics": [directive]}),
        );
        for (k, v) in dimensions {
            root.insert((*k).to_owned(), Value::from(*v));
        }
        for m in metrics {
            root.insert(m.name.clone(), Value::from(normalise_value(m.value)));
        }
        let base = serde_json::to_string(&root).map_err(|_| EmfError::TooLarge)?;
        if base.len() > MAX_LINE_BYTES {
            return Err(EmfError::TooLarge);
        }

        // Shed the largest properties until the line fits.
        let mut sized: Vec<(usize, &str, &Value)> = properties
            .iter()
            .map(|(k, v)| {
                (
                    k.len() + serde_json::to_string(v).map(|s| s.len()).unwrap_or(0) + 4,
                    *k,
                    *v,
                )
            })
            .collect();
        sized.sort_by_key(|entry| std::cmp::Reverse(entry.0));
        let budget = MAX_LINE_BYTES.saturating_sub(base.len() + 64);
        let mut total: usize = sized.iter().map(|(n, _, _)| n).sum();
        let mut shed = Vec::new();
        let mut keep = Vec::new();
        for (n, k, v) in sized {
            if total > budget {
                total -= n;
                shed.push(k.to_owned());
                dropped.push(format!(
                    "property {k:?}: shed to stay under {MAX_LINE_BYTES} bytes"
                ));
            } else {
                keep.push((k, v));
            }
        }
        for (k, v) in keep {
            root.insert(k.to_owned(), v.clone());
        }
        if !shed.is_empty() && !root.contains_key("ShedProperties") {
            root.insert("ShedProperties".into(), Value::from(shed));
        }
        let mut line = serde_json::to_string(&root).map_err(|_| EmfError::TooLarge)?;
        if line.len() > MAX_LINE_BYTES {
            // Estimates were off (escaping): fall back to no properties at all.
            for (k, _) in properties.iter() {
                root.remove(*k);
            }
            root.remove("ShedProperties");
            line = serde_json::to_string(&root).map_err(|_| EmfError::TooLarge)?;
            if line.len() > MAX_LINE_BYTES {
                return Err(EmfError::TooLarge);
            }
        }
        Ok(line)
    }

    /// The lines, with whatever the writer had to drop logged (warn) and a record that cannot
    /// render at all logged (error) and left out: metrics never fail the caller.
    pub fn render_logged(&self) -> Vec<String> {
        match self.render() {
            Ok(r) => {
                if !r.dropped.is_empty() {
                    tracing::warn!(namespace = %self.namespace, dropped = ?r.dropped, "EMF entries dropped");
                }
                r.lines
            }
            Err(e) => {
                tracing::error!(namespace = %self.namespace, error = %e, "cannot render EMF");
                Vec::new()
            }
        }
    }

    /// Renders and writes the lines to stdout (CloudWatch Logs picks EMF up from there). Each
    /// line is one `write` so concurrent output does not interleave inside a document.
    pub fn emit(&self) -> Result<Rendered, EmfError> {
        let rendered = self.render()?;
        emit_lines(&rendered.lines);
        if !rendered.dropped.is_empty() {
            tracing::warn!(namespace = %self.namespace, dropped = ?rendered.dropped, "EMF entries dropped");
        }
        Ok(rendered)
    }
}

/// A function's own health counter (`InvalidEvents`, `DuplicateEvents`, …): 1 by
/// [Function], with properties (null ones left out).
pub fn function_counter(
    namespace: &str,
    at: DateTime<Utc>,
    function: &str,
    metric: &str,
    props: &[(&str, Value)],
) -> Vec<String> {
    let mut m = MetricRecord::new(namespace, at);
    m.dimension("Function", function)
        .dimension_set(&["Function"])
        .metric(metric, 1.0, Unit::Count);
    for (k, v) in props {
        if !v.is_null() {
            m.property(*k, v.clone());
        }
    }
    m.render_logged()
}

/// Writes whole lines to stdout, one write each.
pub fn emit_lines(lines: &[String]) {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in lines {
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        if let Err(e) = out.write_all(&buf).and_then(|_| out.flush()) {
            tracing::error!(error = %e, "cannot write EMF line to stdout");
        }
    }
}

/// Dimension values must be printable ASCII with a non-blank character, ≤ 1024 characters.
fn clean_dimension_value(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '_' })
        .take(spec::MAX_DIMENSION_VALUE_CHARS)
        .collect();
    if cleaned.trim().is_empty() {
        "unknown".to_owned()
    } else {
        cleaned
    }
}

/// CloudWatch rejects magnitudes below ~8.5e-109; they are zero for any metric we emit.
fn normalise_value(v: f64) -> f64 {
    if v != 0.0 && v.abs() < spec::MIN_MAGNITUDE {
        0.0
    } else {
        v
    }
}

#[cfg(test)]
mod tests;
