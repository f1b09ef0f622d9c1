//! Endpoints: a creation or update that failed (`Failed`, `UpdateRollbackFailed`), or an update
//! that SageMaker rolled back (the endpoint is `InService` again, with a FailureReason). What
//! DescribeEndpoint tells, where its logs are, and its report in the job report's shape. A
//! deployment that its guardrails rolled back is the same report with a `rollback` part
//! ([`crate::rollback`]).

use crate::report::{LogsRead, Report};
use crate::request::Via;
use crate::rollback::{DeploymentEvent, Judged};
use chrono::{DateTime, Utc};
use sagewatch::classify::Classification;
use sagewatch::status::Status;
use serde_json::{json, Value};
use std::fmt::Write as _;

/// A failed endpoint to explain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRequest {
    pub name: String,
    pub account: Option<String>,
    pub region: Option<String>,
    pub via: Via,
    pub event_id: Option<String>,
    /// When the event says so: the LastModifiedTime of the failed attempt, so a later failure
    /// of the same endpoint is a new report, and a redelivery is not.
    pub attempt: Option<String>,
    /// From a "SageMaker Endpoint Deployment State Change": the question is whether the
    /// deployment was rolled back, and by which alarm.
    pub deployment: Option<DeploymentEvent>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Variant {
    pub name: String,
    pub instance_type: Option<String>,
    pub instance_count: Option<i64>,
}

/// What DescribeEndpoint tells about it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointFacts {
    pub name: String,
    pub arn: Option<String>,
    pub status: Option<String>,
    pub failure_reason: Option<String>,
    pub config_name: Option<String>,
    pub variants: Vec<Variant>,
    pub creation_time: Option<DateTime<Utc>>,
    pub last_modified_time: Option<DateTime<Utc>>,
    /// `LastDeploymentConfig.AutoRollbackConfiguration.Alarms`: what SageMaker watches.
    pub rollback_alarms: Vec<String>,
}

/// A rollback established by [`crate::rollback::judge`], for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollback<'a> {
    pub judged: &'a Judged,
    pub event: &'a DeploymentEvent,
}

const ROLLBACK_HINT: &str = "SageMaker kept the previous endpoint config. Look at the metric \
behind the triggering alarm (rollback.triggered_by) for the new variant against the old fleet, \
fix the model, container or instance size of the config that was being rolled out, then update \
the endpoint again.";

/// The statuses that are a failure by themselves; `InService` with a FailureReason is an
/// update that was rolled back.
const FAILED: &[&str] = &["Failed", "UpdateRollbackFailed"];

/// `Some(outcome)` when this endpoint status is a failure to report: "failed" or "rolled_back".
pub fn failure_kind(status: Option<&Status>, failure_reason: Option<&str>) -> Option<&'static str> {
    let status = status?;
    if FAILED.iter().any(|s| status.is(s)) {
        return Some("failed");
    }
    let has_reason = failure_reason.is_some_and(|r| !r.trim().is_empty());
    (status.is("InService") && has_reason).then_some("rolled_back")
}

/// Endpoint logs: `/aws/sagemaker/Endpoints/<name>`, one stream per instance named
/// `<variant>/<instance id>`.
pub fn log_group(name: &str) -> String {
    format!("/aws/sagemaker/Endpoints/{name}")
}

pub fn build(
    request: &EndpointRequest,
    e: &EndpointFacts,
    logs: &LogsRead,
    c: &Classification,
    rollback: Option<&Rollback>,
) -> Report {
    let region = request.region.as_deref();
    let outcome = match rollback {
        Some(r) if r.judged.in_progress => "rolling_back",
        Some(_) => "rolled_back",
        None => failure_kind(
            e.status.as_deref().map(Status::new).as_ref(),
            e.failure_reason.as_deref(),
        )
        .unwrap_or("failed"),
    };
    let first = e.variants.first();
    let mut doc = json!({
        "resource_type": "Endpoint",
        "endpoint_name": e.name,
        "endpoint_arn": e.arn,
        "endpoint_config_name": e.config_name,
        "outcome": outcome,
        "account": request.account,
        "region": region,
        "status": e.status,
        "category": c.category.as_str(),
        "confidence": c.confidence,
        // The logs may say nothing (a latency alarm): then what to do about the alarm.
        "hint": match rollback {
            Some(_) if c.category == sagewatch::classify::Category::Unknown => ROLLBACK_HINT,
            _ => c.hint.as_str(),
        },
        "signature": c.signature.as_ref().map(|s| s.pattern.clone()),
        "signature_hash": c.signature.as_ref().map(|s| s.hash.clone()),
        "evidence": crate::report::evidence(c),
        "facts": c.facts,
        "instance_type": first.and_then(|v| v.instance_type.clone())
            .or_else(|| c.facts.instance_type.clone()),
        "variants": e.variants.iter().map(|v| json!({
            "name": v.name, "instance_type": v.instance_type, "instance_count": v.instance_count,
        })).collect::<Vec<_>>(),
        "failure_reason": e.failure_reason,
        "creation_time": e.creation_time,
        "last_modified_time": e.last_modified_time,
        "log_group": logs.log_group,
        "log_streams_found": logs.streams_found,
        "log_streams_read": logs.streams_read,
        "log_events_read": logs.events,
        "log_bytes_read": logs.bytes,
        "log_truncated": logs.truncated,
        "console_url": region.map(|r| console_url(&e.name, r)),
        "rollback": rollback.map(|r| rollback_part(r, e)),
    });
    if let Value::Object(map) = &mut doc {
        map.retain(|_, v| !v.is_null());
    }
    crate::report::redact_report(&mut doc, sagewatch::redact::redact_json);
    let verb = match outcome {
        "rolled_back" => "update rolled back",
        "rolling_back" => "update rolling back",
        _ => "failed",
    };
    let by = rollback
        .and_then(|r| r.judged.triggered.first())
        .filter(|t| t.evidence != crate::rollback::Evidence::ChangedDuringDeployment)
        .map(|t| format!(" by alarm {}", t.alarm.name))
        .unwrap_or_default();
    let subject = format!("Endpoint {} {verb}{by}: {}", e.name, c.category.as_str());
    let text = text(&doc, &format!("{verb}{by}"));
    Report {
        json: doc,
        subject,
        text,
    }
}

/// The report's `rollback` object: why it is one, the alarms named (with why), what
/// SageMaker watched, and what the deployment was rolling out.
fn rollback_part(r: &Rollback, e: &EndpointFacts) -> Value {
    let j = r.judged;
    let mut part = json!({
        "because": j.because,
        "in_progress": j.in_progress,
        "triggered_by": j.triggered.iter().map(|t| json!({
            "alarm": t.alarm.name,
            "evidence": t.evidence,
            "state": t.alarm.state,
            "state_reason": t.alarm.reason,
            "state_updated": t.alarm.updated,
        })).collect::<Vec<_>>(),
        "auto_rollback_alarms": e.rollback_alarms,
        "target_config_name": r.event.pending_config,
        "deployment_started": r.event.started,
        "event_status": r.event.status,
        "status_messages": r.event.messages,
        "alarms_unreadable": j.alarms_unreadable,
        "alarms_not_described": (!j.undescribed.is_empty()).then_some(&j.undescribed),
    });
    if let Value::Object(map) = &mut part {
        map.retain(|_, v| !v.is_null());
    }
    part
}

fn text(doc: &Value, verb: &str) -> String {
    let s = |k: &str| doc.get(k).and_then(Value::as_str).unwrap_or("");
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Endpoint {} {verb}: {} (confidence {:.2})",
        s("endpoint_name"),
        s("category"),
        doc.get("confidence").and_then(Value::as_f64).unwrap_or(0.0)
    );
    let _ = writeln!(out, "\nWhat to do: {}", s("hint"));
    if !s("failure_reason").is_empty() {
        let _ = writeln!(out, "\nFailureReason: {}", s("failure_reason"));
    }
    if let Some(r) = doc.get("rollback") {
        write_rollback(&mut out, r);
    }
    crate::report::write_evidence(&mut out, doc);
    crate::report::write_logs_read(&mut out, doc, "instance streams");
    let _ = writeln!(
        out,
        "\nEndpoint: {} (config {})\nAccount/region: {}/{}",
        if s("endpoint_arn").is_empty() {
            s("endpoint_name")
        } else {
            s("endpoint_arn")
        },
        s("endpoint_config_name"),
        s("account"),
        s("region")
    );
    if !s("console_url").is_empty() {
        let _ = writeln!(out, "Console: {}", s("console_url"));
    }
    out
}

fn write_rollback(out: &mut String, r: &Value) {
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let _ = writeln!(out, "\nRollback: {}.", s(r, "because"));
    let triggered = r.get("triggered_by").and_then(Value::as_array);
    let mut any = false;
    for t in triggered.into_iter().flatten() {
        any = true;
        let why = crate::rollback::evidence_label(&s(t, "evidence"));
        let _ = writeln!(
            out,
            "  alarm {} ({why}; now {} since {}): {}",
            s(t, "alarm"),
            s(t, "state"),
            s(t, "state_updated"),
            s(t, "state_reason")
        );
    }
    if !any && !s(r, "alarms_unreadable").is_empty() {
        let _ = writeln!(
            out,
            "  No alarm can be named: the auto-rollback alarms could not be read ({}).",
            s(r, "alarms_unreadable")
        );
    } else if !any {
        let alarms = crate::report::strings(r, "auto_rollback_alarms").len();
        let _ = writeln!(
            out,
            "  No alarm can be named: none of the {alarms} auto-rollback alarm(s) is in ALARM or changed state during the deployment."
        );
    }
    let undescribed = crate::report::strings(r, "alarms_not_described");
    if !undescribed.is_empty() {
        let _ = writeln!(
            out,
            "  Not described by DescribeAlarms (deleted, or composite): {}.",
            undescribed.join(", ")
        );
    }
    if !s(r, "target_config_name").is_empty() {
        let _ = writeln!(
            out,
            "  The deployment was rolling out {}.",
            s(r, "target_config_name")
        );
    }
}

pub fn console_url(name: &str, region: &str) -> String {
    let host = sagewatch::target::console_host(region);
    format!("https://{region}.{host}/sagemaker/home?region={region}#/endpoints/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_statuses_are_failures() {
        let st = |s: &str| Some(Status::new(s));
        assert_eq!(failure_kind(st("FAILED").as_ref(), None), Some("failed"));
        assert_eq!(
            failure_kind(st("UPDATE_ROLLBACK_FAILED").as_ref(), None),
            Some("failed")
        );
        assert_eq!(
            failure_kind(st("IN_SERVICE").as_ref(), Some("update failed")),
            Some("rolled_back")
        );
        assert_eq!(failure_kind(st("IN_SERVICE").as_ref(), Some("  ")), None);
        assert_eq!(failure_kind(st("Creating").as_ref(), Some("x")), None);
        assert_eq!(failure_kind(None, Some("x")), None);
    }
}
