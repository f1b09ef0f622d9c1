//! The failure report: one JSON document (the SNS message for machines, the Logs Insights
//! line, the direct invocation's answer) and the short text people read. Everything is
//! redacted once, on the finished JSON, and the text is written from the redacted JSON, so no
//! path can leak a secret around the redaction.

use crate::job::JobFacts;
use crate::request::Request;
use chrono::{DateTime, Utc};
use sagewatch::classify::Classification;
use sagewatch::events::JobType;
use sagewatch::redact::{redact_json, redact_map, KnownSecrets};
use serde_json::{json, Value};
use std::fmt::Write as _;

/// What the logs step read, for the report and for tuning the budget.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogsRead {
    pub log_group: String,
    pub streams_found: usize,
    pub streams_read: usize,
    pub events: usize,
    pub bytes: usize,
    /// Some host's tail was cut by the budget (older lines not read).
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub json: Value,
    pub subject: String,
    pub text: String,
}

/// Only the last few SecondaryStatusTransitions messages: the failure is at the end.
const STATUS_MESSAGES: usize = 3;

pub fn build(request: &Request, job: &JobFacts, logs: &LogsRead, c: &Classification) -> Report {
    let region = request.region.as_deref();
    let evidence = evidence(c);
    let status_messages: Vec<&String> = job
        .status_messages
        .iter()
        .rev()
        .take(STATUS_MESSAGES)
        .rev()
        .collect();
    let mut doc = json!({
        "resource_type": crate::job::resource_type(request.job_type),
        "job_type": request.job_type.as_str(),
        "job_name": job.name,
        "job_arn": job.arn,
        "account": request.account,
        "region": region,
        "status": job.status,
        "category": c.category.as_str(),
        "confidence": c.confidence,
        "hint": c.hint,
        "signature": c.signature.as_ref().map(|s| s.pattern.clone()),
        "signature_hash": c.signature.as_ref().map(|s| s.hash.clone()),
        "evidence": evidence,
        "facts": c.facts,
        "exit_code": c.facts.exit_code,
        "instance_type": job.instance_type.clone().or_else(|| c.facts.instance_type.clone()),
        "instance_count": job.instance_count,
        "failure_reason": job.failure_reason,
        "exit_message": job.exit_message,
        "secondary_status": job.secondary_status,
        "status_messages": status_messages,
        "image": job.image,
        JobFacts::parameters_label(request.job_type): redact_map(&job.parameters),
        "input_uris": job.input_uris,
        "creation_time": job.creation_time,
        "end_time": job.end_time,
        "duration_seconds": job.duration_seconds(),
        "timeout": request.timeout.as_ref().map(|t| timeout_facts(t, job)),
        "log_group": logs.log_group,
        "log_streams_found": logs.streams_found,
        "log_streams_read": logs.streams_read,
        "log_events_read": logs.events,
        "log_bytes_read": logs.bytes,
        "log_truncated": logs.truncated,
        "console_url": region.map(|r| console_url(request.job_type, &job.name, r)),
    });
    if let Value::Object(map) = &mut doc {
        map.retain(|_, v| !v.is_null());
    }
    // The job's own secret values (secret-named hyperparameters and environment) wherever
    // they appear, even bare: a traceback quoting a password has no `password=` before it.
    let known = KnownSecrets::from_maps([&job.parameters]);
    redact_report(&mut doc, |d| {
        redact_json(d);
        known.redact_json(d);
    });
    let verb = if request.timeout.is_some() {
        "stopped by its time limit"
    } else {
        "failed"
    };
    let subject = format!("{} {verb}: {}", job.name, c.category.as_str());
    let text = text(&doc);
    Report {
        json: doc,
        subject,
        text,
    }
}

/// Where a report's `signature` waits while the report is redacted.
const SIGNATURE_IN_REDACTION: &str = "sagewatch_decisive_line";

/// Redacts a report document with `redact`. `signature` names a secret to the shared
/// redaction (URL signatures), but a report's `signature` is the classifier's masked decisive
/// line: it is redacted as text like every other value, under another name, then named back
/// (at every depth: a pipeline report holds job reports, a tuning report signature groups).
/// A report without a signature has no hash either: nothing to rename.
pub fn redact_report(doc: &mut Value, redact: impl FnOnce(&mut Value)) {
    rename_keys(doc, "signature", SIGNATURE_IN_REDACTION);
    redact(doc);
    rename_keys(doc, SIGNATURE_IN_REDACTION, "signature");
}

fn rename_keys(v: &mut Value, from: &str, to: &str) {
    match v {
        Value::Object(map) => {
            // Only the classifier's: an object that has its hash beside it (a hyperparameter
            // named `signature` stays a secret name).
            if map.contains_key("signature_hash") {
                if let Some(x) = map.remove(from) {
                    map.insert(to.to_owned(), x);
                }
            }
            map.values_mut().for_each(|x| rename_keys(x, from, to));
        }
        Value::Array(items) => items.iter_mut().for_each(|x| rename_keys(x, from, to)),
        _ => {}
    }
}

/// A job report's text from its (redacted) JSON: a pipeline report quotes its failed job's.
pub fn text_of(doc: &Value) -> String {
    text(doc)
}

/// The e-mail / default text, from the redacted document.
fn text(doc: &Value) -> String {
    let s = |k: &str| doc.get(k).and_then(Value::as_str).unwrap_or("");
    let mut out = String::new();
    let verb = if doc.get("timeout").is_some() {
        "stopped by its time limit"
    } else {
        "failed"
    };
    let _ = writeln!(
        out,
        "{} ({} job) {verb}: {} (confidence {:.2})",
        s("job_name"),
        s("job_type"),
        s("category"),
        doc.get("confidence").and_then(Value::as_f64).unwrap_or(0.0)
    );
    let _ = writeln!(out, "\nWhat to do: {}", s("hint"));
    if let Some(t) = doc.get("timeout") {
        let n = |k: &str| t.get(k).and_then(Value::as_u64);
        let _ = writeln!(
            out,
            "\nTime limit: {} after {} of {} allowed",
            t.get("reason").and_then(Value::as_str).unwrap_or(""),
            n("ran_seconds").map_or("?".into(), |v| format!("{v} s")),
            n("limit_seconds").map_or("?".into(), |v| format!("{v} s")),
        );
    }
    write_evidence(&mut out, doc);
    let mut facts = Vec::new();
    if let Some(code) = doc.get("exit_code").and_then(Value::as_i64) {
        facts.push(format!("exit code {code}"));
    }
    if let Some(t) = doc.get("instance_type").and_then(Value::as_str) {
        match doc.get("instance_count").and_then(Value::as_i64) {
            Some(n) => facts.push(format!("{n} x {t}")),
            None => facts.push(t.to_owned()),
        }
    }
    if let Some(f) = doc.get("facts") {
        if let Some(h) = f.get("hyperparameter").and_then(Value::as_str) {
            facts.push(format!("hyperparameter '{h}'"));
        }
        if let Some(u) = f.get("s3_uri").and_then(Value::as_str) {
            facts.push(u.to_owned());
        }
    }
    if !facts.is_empty() {
        let _ = writeln!(out, "\nFacts: {}", facts.join("; "));
    }
    if !s("signature").is_empty() {
        let _ = writeln!(
            out,
            "Signature: {} (#{})",
            s("signature"),
            s("signature_hash")
        );
    }
    write_logs_read(&mut out, doc, "host streams");
    if !s("failure_reason").is_empty() {
        let _ = writeln!(out, "\nFailureReason: {}", s("failure_reason"));
    }
    let _ = writeln!(
        out,
        "\nJob: {}\nAccount/region: {}/{}",
        if s("job_arn").is_empty() {
            s("job_name")
        } else {
            s("job_arn")
        },
        s("account"),
        s("region")
    );
    if !s("console_url").is_empty() {
        let _ = writeln!(out, "Console: {}", s("console_url"));
    }
    out
}

/// The classifier's evidence lines as report JSON.
pub fn evidence(c: &Classification) -> Vec<Value> {
    c.evidence
        .iter()
        .map(|e| {
            json!({
                "host": e.source,
                "timestamp": e.timestamp.and_then(iso_ms),
                "text": e.text,
            })
        })
        .collect()
}

/// How long the job ran against the limit it hit (`MaxRuntimeExceeded`: the runtime limit;
/// `MaxWaitTimeExceeded`: the spot wait limit, which counts waiting as well).
fn timeout_facts(reason: &str, job: &JobFacts) -> Value {
    let (ran, limit) = if reason == "MaxWaitTimeExceeded" {
        let waited = job
            .end_time
            .zip(job.creation_time)
            .map(|(e, c)| (e - c).num_seconds().max(0));
        (waited, job.max_wait_seconds)
    } else {
        (
            job.training_seconds.or_else(|| job.duration_seconds()),
            job.max_runtime_seconds,
        )
    };
    json!({"reason": reason, "ran_seconds": ran, "limit_seconds": limit})
}

/// The evidence block of a report's text.
/// The strings of the array `doc[key]` (none when it is missing or not an array), for the
/// texts written from the redacted report JSON.
pub fn strings<'a>(doc: &'a Value, key: &str) -> Vec<&'a str> {
    doc.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

pub fn write_evidence(out: &mut String, doc: &Value) {
    let Some(evidence) = doc.get("evidence").and_then(Value::as_array) else {
        return;
    };
    if !evidence.is_empty() {
        let _ = writeln!(out, "\nEvidence:");
    }
    for e in evidence {
        let g = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("");
        let when = g("timestamp");
        let when = if when.is_empty() {
            String::new()
        } else {
            format!(" {when}")
        };
        let _ = writeln!(out, "  [{}{when}] {}", g("host"), g("text"));
    }
}

/// The "Logs read" line of a report's text.
pub fn write_logs_read(out: &mut String, doc: &Value, streams: &str) {
    let s = |k: &str| doc.get(k).and_then(Value::as_str).unwrap_or("");
    let n = |k: &str| doc.get(k).and_then(Value::as_u64).unwrap_or(0);
    let _ = writeln!(
        out,
        "Logs read: {} of {} {streams} in {}, {} events, {} bytes{}",
        n("log_streams_read"),
        n("log_streams_found"),
        s("log_group"),
        n("log_events_read"),
        n("log_bytes_read"),
        if doc.get("log_truncated") == Some(&Value::Bool(true)) {
            " (tails only: older lines were not read)"
        } else {
            ""
        }
    );
}

fn iso_ms(ms: i64) -> Option<String> {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// The job's page in the SageMaker console of its partition.
pub fn console_url(job_type: JobType, name: &str, region: &str) -> String {
    let host = sagewatch::target::console_host(region);
    let page = match job_type {
        JobType::Training => "jobs",
        JobType::Processing => "processing-jobs",
        JobType::Transform => "transform-jobs",
    };
    format!("https://{region}.{host}/sagemaker/home?region={region}#/{page}/{name}")
}
