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

/// The line for `fields` (an object; anything else is wrapped as `{"value": …}`) plus
/// `sagewatch_event`. Null fields are dropped: Logs Insights treats absent and null alike
/// and the lines stay short.
pub fn render(kind: Kind, fields: Value) -> String {
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
    fn a_field_cannot_override_the_kind() {
        let line = render(Kind::ApiAudit, json!({"sagewatch_event": "job_summary"}));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["sagewatch_event"], "api_audit");
    }
}
