//! The chat notice of a report (AWS chat integration custom notification, rendered by
//! `sagewatch::chat`): the headline, the why and the evidence in markdown, the hint as the
//! next step; one thread per job or endpoint. Written from the redacted report JSON only.

use sagewatch::chat::ChatMessage;
use serde_json::Value;
use std::fmt::Write as _;

/// Where a report kind keeps its name and ARN (jobs: `job_name`, `job_arn`).
const NAMES: &[(&str, &str, &str)] = &[
    ("Endpoint", "endpoint_name", "endpoint_arn"),
    (
        "PipelineExecution",
        "pipeline_name",
        "pipeline_execution_arn",
    ),
    (
        "HyperParameterTuningJob",
        "tuning_job_name",
        "tuning_job_arn",
    ),
];

/// At most this many evidence lines in a chat notice (the report has them all).
const EVIDENCE_LINES: usize = 3;

pub fn render(report: &Value, subject: &str) -> ChatMessage {
    let s = |k: &str| report.get(k).and_then(Value::as_str).unwrap_or("");
    let resource_type = s("resource_type");
    let (name_key, arn_key) = NAMES
        .iter()
        .find(|(t, _, _)| *t == resource_type)
        .map_or(("job_name", "job_arn"), |(_, n, a)| (*n, *a));
    let mut name = s(name_key).to_owned();
    if resource_type == "PipelineExecution" {
        // One thread per execution: the pipeline runs again under the same name.
        name = format!("{name}/{}", s("execution_id"));
    }
    let arn = s(arn_key);
    let thread = format!("sagewatch/{resource_type}/{}/{name}", s("account"));
    if s("report_kind") == "notice" {
        return notice(report, subject, thread, arn);
    }
    let mut d = String::new();
    let _ = writeln!(
        d,
        "*{}* (confidence {:.2}) in {}/{}",
        s("category"),
        report
            .get("confidence")
            .and_then(Value::as_f64)
            .unwrap_or(0.0),
        s("account"),
        s("region")
    );
    if let Some(t) = report.get("timeout") {
        let n = |k: &str| {
            t.get(k)
                .and_then(Value::as_u64)
                .map_or("?".into(), |v| v.to_string())
        };
        let _ = writeln!(
            d,
            "Stopped by `{}` after {} s of {} s allowed.",
            t.get("reason").and_then(Value::as_str).unwrap_or(""),
            n("ran_seconds"),
            n("limit_seconds")
        );
    }
    if !s("failure_reason").is_empty() {
        let _ = writeln!(d, "FailureReason: `{}`", s("failure_reason"));
    }
    if let Some(r) = report.get("rollback") {
        rollback(&mut d, r);
    }
    for step in report
        .get("failed_steps")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .take(EVIDENCE_LINES)
    {
        let g = |k: &str| step.get(k).and_then(Value::as_str).unwrap_or("");
        let _ = writeln!(
            d,
            "Failed step *{}*: `{}`",
            g("step_name"),
            g("failure_reason")
        );
    }
    if let Some(top) = report
        .get("signatures")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        let _ = writeln!(
            d,
            "{} of {} failed training jobs: *{}*",
            top.get("count").and_then(Value::as_u64).unwrap_or(0),
            report
                .get("failed_training_jobs")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            top.get("category").and_then(Value::as_str).unwrap_or("")
        );
    }
    let evidence = report.get("evidence").and_then(Value::as_array);
    for e in evidence.into_iter().flatten().take(EVIDENCE_LINES) {
        let g = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("");
        let _ = writeln!(d, "> [{}] `{}`", g("host"), g("text"));
    }
    if !s("console_url").is_empty() {
        let _ = writeln!(d, "<{}|Open in the console>", s("console_url"));
    }
    let mut m = ChatMessage::new(subject, &d)
        .keyword(s("category"))
        .keyword(resource_type)
        .thread(thread)
        .summary(subject)
        .event_type(if report.get("timeout").is_some() {
            "timeout"
        } else if report.get("rollback").is_some() {
            "rollback"
        } else {
            "failure"
        })
        .context("account", s("account"))
        .context("region", s("region"));
    if !s("hint").is_empty() {
        m = m.next_step(s("hint"));
    }
    if !arn.is_empty() {
        m = m.resource(arn);
    }
    m
}

/// A deployment rollback: the alarm that triggered it (or that none could be named) and what
/// was being rolled out.
fn rollback(d: &mut String, r: &Value) {
    let g = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let first = r
        .get("triggered_by")
        .and_then(Value::as_array)
        .and_then(|a| a.first());
    match first {
        Some(t) => {
            let _ = writeln!(
                d,
                "Triggered by alarm *{}* ({}): `{}`",
                g(t, "alarm"),
                crate::rollback::evidence_label(&g(t, "evidence")),
                g(t, "state_reason")
            );
        }
        None => {
            let _ = writeln!(
                d,
                "Rolled back: {}; no alarm could be named.",
                g(r, "because")
            );
        }
    }
    if !g(r, "target_config_name").is_empty() {
        let _ = writeln!(d, "Was rolling out `{}`.", g(r, "target_config_name"));
    }
}

/// A completion notice: what it cost in time, in the job's thread (its failure reports, if
/// any, thread there too).
fn notice(report: &Value, subject: &str, thread: String, arn: &str) -> ChatMessage {
    let s = |k: &str| report.get(k).and_then(Value::as_str).unwrap_or("");
    let mut d = format!("*{}* in {}/{}\n", s("status"), s("account"), s("region"));
    let line = crate::notice::summary(report);
    if !line.is_empty() {
        let _ = writeln!(d, "{line}");
    }
    if !s("console_url").is_empty() {
        let _ = writeln!(d, "<{}|Open in the console>", s("console_url"));
    }
    let mut m = ChatMessage::new(subject, &d)
        .keyword(s("status"))
        .keyword(s("resource_type"))
        .thread(thread)
        .summary(subject)
        .event_type("completion")
        .context("account", s("account"))
        .context("region", s("region"));
    if !arn.is_empty() {
        m = m.resource(arn);
    }
    m
}
