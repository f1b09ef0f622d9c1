//! Report lines: one JSON object per line on stdout, for CloudWatch Logs Insights.
//!
//! Every report line carries `sagewatch_event` (what kind of report it is) so one saved query
//! can select one kind across all functions' log groups. The kinds are listed in [`Kind`]; the
//! saved queries in `infra/template.yaml` rely on these names and on the field names each
//! function documents next to where it builds its report.

use serde_json::{Map, Value};

/// The report kinds. Stable names: dashboards and saved queries filter on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// overfit-guard: one per alarm record (it is also the StopDecisions EMF line).
    StopDecision,
    /// failure-enricher: one per failed job.
    JobFailure,
    /// event-augmenter: one per terminal job (Completed, Failed, Stopped).
    JobSummary,
    /// event-augmenter: one per destructive or security-relevant CloudTrail call.
    ApiAudit,
}

impl Kind {
    pub const FIELD: &'static str = "sagewatch_event";

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::StopDecision => "stop_decision",
            Kind::JobFailure => "job_failure",
            Kind::JobSummary => "job_summary",
            Kind::ApiAudit => "api_audit",
        }
    }
}

/// The largest report line: below CloudWatch Logs' event limit (256 KiB less 26 bytes), with
/// room for what the Lambda runtime adds. A longer line would be split into events that are
/// each invalid JSON for Logs Insights.
pub const MAX_REPORT_BYTES: usize = 200 * 1024;

/// Names the fields left out of an oversized line.
pub const TRUNCATED_FIELDS: &str = "truncated_fields";

/// The line for `fields` (an object; anything else is wrapped as `{"value": …}`) plus
/// `sagewatch_event`. Null fields are dropped: Logs Insights treats absent and null alike
/// and the lines stay short. At most [`MAX_REPORT_BYTES`]: see [`render_within`].
pub fn render(kind: Kind, fields: Value) -> String {
    render_within(kind, fields, MAX_REPORT_BYTES)
}

/// [`render`] with a size cap: while the line is longer than `max_bytes`, the largest field
/// is left out and named in `truncated_fields`, so the line stays one valid JSON object with
/// every small field (ids, status, category) intact. `sagewatch_event` is never dropped; a cap
/// below the smallest possible line yields that smallest line.
pub fn render_within(kind: Kind, fields: Value, max_bytes: usize) -> String {
    let mut out = Map::new();
    out.insert(Kind::FIELD.to_owned(), Value::from(kind.as_str()));
    match fields {
        Value::Object(map) => {
            for (k, v) in map {
                if !v.is_null() && k != Kind::FIELD {
                    out.insert(k, v);
                }
            }
        }
        Value::Null => {}
        other => {
            out.insert("value".to_owned(), other);
        }
    }
    let line = Value::Object(out).to_string();
    if line.len() <= max_bytes {
        return line;
    }
    let Ok(Value::Object(mut out)) = serde_json::from_str::<Value>(&line) else {
        return minimal(kind, &[]);
    };
    // A caller's own list of left-out fields is continued, not dropped as a field.
    let mut dropped: Vec<String> = match out.remove(TRUNCATED_FIELDS) {
        Some(Value::Array(names)) => names
            .iter()
            .filter_map(|n| n.as_str().map(str::to_owned))
            .collect(),
        Some(other) => {
            out.insert(TRUNCATED_FIELDS.to_owned(), other);
            Vec::new()
        }
        None => Vec::new(),
    };
    // Largest first; ties by name so the same report always loses the same fields.
    let mut by_size: Vec<(usize, String)> = out
        .iter()
        .filter(|(k, _)| k.as_str() != Kind::FIELD)
        .map(|(k, v)| (k.len() + v.to_string().len(), k.clone()))
        .collect();
    by_size.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let mut by_size = by_size.into_iter();
    loop {
        out.insert(
            TRUNCATED_FIELDS.to_owned(),
            Value::from(capped_names(&dropped)),
        );
        let line = Value::Object(out.clone()).to_string();
        if line.len() <= max_bytes {
            return line;
        }
        match by_size.next() {
            Some((_, key)) => {
                out.remove(&key);
                dropped.push(key);
            }
            None => return minimal(kind, &dropped),
        }
    }
}

/// Field names are ours, but a caller could pass a map with huge keys: each name is cut to
/// 128 bytes.
fn capped_names(names: &[String]) -> Vec<String> {
    names
        .iter()
        .map(|n| {
            let mut cut = n.len().min(128);
            while !n.is_char_boundary(cut) {
                cut -= 1;
            }
            n[..cut].to_owned()
        })
        .collect()
}

/// The line when even the names of the dropped fields do not fit: kind and the names that
/// fit in 4 KiB, then `…`.
fn minimal(kind: Kind, dropped: &[String]) -> String {
    let mut names = Vec::new();
    let mut used = 0;
    for n in capped_names(dropped) {
        used += n.len() + 3;
        if used > 4096 {
            names.push("…".to_owned());
            break;
        }
        names.push(n);
    }
    let mut out = Map::new();
    out.insert(Kind::FIELD.to_owned(), Value::from(kind.as_str()));
    out.insert(TRUNCATED_FIELDS.to_owned(), Value::from(names));
    Value::Object(out).to_string()
}

/// Writes the report line to stdout in one write.
pub fn emit(kind: Kind, fields: Value) {
    crate::emf::emit_lines(&[render(kind, fields)]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kind_first_nulls_dropped_one_line() {
        let line = render(
            Kind::JobFailure,
            json!({"job_name": "a\nb", "category": "disk_full", "hint": null}),
        );
        assert!(!line.contains('\n'));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["sagewatch_event"], "job_failure");
        assert_eq!(v["job_name"], "a\nb");
        assert!(v.get("hint").is_none());
    }

    #[test]
    fn an_oversized_line_drops_its_largest_fields_and_names_them() {
        let line = render(
            Kind::JobFailure,
            json!({
                "job_name": "sagewatch-demo-failed-1",
                "category": "out_of_memory",
                "log_excerpt": "é\n".repeat(150 * 1024),
                "hyperparameters": {"big": "x".repeat(100 * 1024)},
                "signature": "CUDA out of memory",
            }),
        );
        assert!(line.len() <= MAX_REPORT_BYTES, "{}", line.len());
        assert!(!line.contains('\n'));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["sagewatch_event"], "job_failure");
        assert_eq!(v["job_name"], "sagewatch-demo-failed-1");
        assert_eq!(v["category"], "out_of_memory");
        assert_eq!(v["signature"], "CUDA out of memory");
        // Only the largest had to go: the rest fits.
        assert_eq!(v[TRUNCATED_FIELDS], json!(["log_excerpt"]));
        assert!(v["hyperparameters"]["big"].is_string());
    }

    #[test]
    fn fields_go_largest_first_until_the_line_fits() {
        let fields: Map<String, Value> = (0..10)
            .map(|i| (format!("f{i}"), Value::from("x".repeat(1000 + i * 100))))
            .collect();
        let line = render_within(Kind::JobSummary, Value::Object(fields), 5000);
        assert!(line.len() <= 5000, "{}", line.len());
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            v[TRUNCATED_FIELDS],
            json!(["f9", "f8", "f7", "f6", "f5", "f4"])
        );
        // f0..f3 are 4600 bytes of text: they fit in 5000, f4 on top would not.
        assert!(v["f3"].is_string() && v["f0"].is_string());
        // Small lines are untouched and carry no truncated_fields.
        let small = render(Kind::JobSummary, json!({"a": 1}));
        assert!(!small.contains(TRUNCATED_FIELDS));
    }

    #[test]
    fn nothing_fits_gives_the_smallest_valid_line() {
        let huge_key = "k".repeat(10_000);
        for (fields, max) in [
            (json!("a bare string that is too long"), 10),
            (json!({ huge_key.clone(): "v" }), 100),
            (json!({"a": "x".repeat(1000), "b": "y".repeat(1000)}), 0),
        ] {
            let line = render_within(Kind::ApiAudit, fields, max);
            let v: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(v["sagewatch_event"], "api_audit");
            assert!(v[TRUNCATED_FIELDS].is_array(), "{line}");
            assert!(line.len() < 4300, "{}", line.len());
        }
    }

    #[test]
    fn a_field_cannot_override_the_kind() {
        let line = render(Kind::ApiAudit, json!({"sagewatch_event": "job_summary"}));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["sagewatch_event"], "api_audit");
    }
}
