//! Hyperparameter tuning jobs that failed, or that finished with failed children: the tuning
//! job's FailureReason and child counts by status, and the most common failure signature
//! among its failed training jobs. Bounded: the failed children are listed (their
//! FailureReason comes with the listing), grouped by signature, and at most
//! [`MAX_DESCRIBED`] of them are described; the report names the sampled ones.

use crate::report::{self, Report};
use crate::request::Via;
use chrono::{DateTime, Utc};
use sagewatch::classify::{classify, lines_from_text, Classification};
use sagewatch::status::Status;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Failed children listed at most (two ListTrainingJobsForHyperParameterTuningJob pages).
pub const MAX_LISTED: usize = 200;
/// DescribeTrainingJob calls at most, spread over the signatures (largest group first).
pub const MAX_DESCRIBED: usize = 5;
/// Example job names kept per signature group.
const EXAMPLES: usize = 3;

/// `TrainingJobStatusCounters` members that count failed children.
const FAILED_COUNTERS: &[&str] = &["NonRetryableError", "RetryableError"];
/// Tuning job statuses after which nothing more happens.
const TERMINAL: &[&str] = &["Completed", "Failed", "Stopped"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TuningRequest {
    pub name: String,
    pub account: Option<String>,
    pub region: Option<String>,
    pub via: Via,
    pub event_id: Option<String>,
}

/// What DescribeHyperParameterTuningJob tells.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TuningFacts {
    pub name: String,
    pub arn: Option<String>,
    pub status: Option<String>,
    pub failure_reason: Option<String>,
    /// TrainingJobStatusCounters: Completed, InProgress, RetryableError, NonRetryableError,
    /// Stopped.
    pub counters: BTreeMap<String, i64>,
    pub creation_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
}

/// One failed child as the listing tells it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Child {
    pub name: String,
    pub failure_reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChildList {
    pub children: Vec<Child>,
    /// More failed children exist than were listed.
    pub more: bool,
}

/// Failed children by the counters (retryable and not).
pub fn failed_count(counters: &BTreeMap<String, i64>) -> i64 {
    FAILED_COUNTERS
        .iter()
        .filter_map(|k| counters.get(*k))
        .sum()
}

/// Whether a tuning job in this state is a failure to report: it failed, or it is over and
/// some of its children failed. A running one is not reported yet (it would be again).
pub fn is_failure(status: Option<&Status>, counters: &BTreeMap<String, i64>) -> bool {
    let Some(status) = status else {
        return false;
    };
    status.is("Failed") || (TERMINAL.iter().any(|t| status.is(t)) && failed_count(counters) > 0)
}

/// A group of failed children with the same signature.
#[derive(Debug, Clone)]
pub struct Group {
    pub key: String,
    pub classification: Classification,
    pub children: Vec<String>,
    /// The children of this group that were described, and the classification from
    /// DescribeTrainingJob when one was (it replaces the listing's).
    pub sampled: Vec<String>,
}

/// The failed children grouped by the signature of their FailureReason, largest first
/// (ties by first child name, so the order is stable).
pub fn group(children: &[Child]) -> Vec<Group> {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for child in children {
        let c = classify(
            &lines_from_text(child.failure_reason.as_deref(), None, "logs"),
            None,
        );
        let key = c.signature.as_ref().map_or_else(
            || format!("category:{}", c.category.as_str()),
            |s| s.hash.clone(),
        );
        groups
            .entry(key.clone())
            .or_insert_with(|| Group {
                key,
                classification: c,
                children: Vec::new(),
                sampled: Vec::new(),
            })
            .children
            .push(child.name.clone());
    }
    let mut out: Vec<Group> = groups.into_values().collect();
    out.sort_by(|a, b| {
        b.children
            .len()
            .cmp(&a.children.len())
            .then_with(|| a.children.first().cmp(&b.children.first()))
    });
    out
}

/// Which children to describe: one per group (largest group first), then more of the
/// largest groups, at most `n` in all.
pub fn sample(groups: &[Group], n: usize) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut round = 0;
    while out.len() < n {
        let before = out.len();
        for (i, g) in groups.iter().enumerate() {
            if out.len() == n {
                break;
            }
            if let Some(name) = g.children.get(round) {
                out.push((i, name.clone()));
            }
        }
        if out.len() == before {
            break;
        }
        round += 1;
    }
    out
}

pub fn build(
    request: &TuningRequest,
    t: &TuningFacts,
    listed: &ChildList,
    groups: &[Group],
    c: &Classification,
) -> Report {
    let region = request.region.as_deref();
    let signatures: Vec<Value> = groups
        .iter()
        .map(|g| {
            let gc = &g.classification;
            json!({
                "signature": gc.signature.as_ref().map(|s| s.pattern.clone()),
                "signature_hash": gc.signature.as_ref().map(|s| s.hash.clone()),
                "category": gc.category.as_str(),
                "count": g.children.len(),
                "examples": g.children.iter().take(EXAMPLES).collect::<Vec<_>>(),
                "sampled": g.sampled,
            })
        })
        .collect();
    let sampled: Vec<&String> = groups.iter().flat_map(|g| g.sampled.iter()).collect();
    let mut doc = json!({
        "resource_type": "HyperParameterTuningJob",
        "tuning_job_name": t.name,
        "tuning_job_arn": t.arn,
        "account": request.account,
        "region": region,
        "status": t.status,
        "category": c.category.as_str(),
        "confidence": c.confidence,
        "hint": c.hint,
        "signature": c.signature.as_ref().map(|s| s.pattern.clone()),
        "signature_hash": c.signature.as_ref().map(|s| s.hash.clone()),
        "evidence": report::evidence(c),
        "failure_reason": t.failure_reason,
        "training_job_counts": t.counters,
        "failed_training_jobs": failed_count(&t.counters),
        "failed_children_listed": listed.children.len(),
        "failed_children_listing_complete": !listed.more,
        "failed_children_sampled": sampled,
        "signatures": signatures,
        "creation_time": t.creation_time,
        "end_time": t.end_time,
        "console_url": region.map(|r| console_url(&t.name, r)),
    });
    if let Value::Object(map) = &mut doc {
        map.retain(|_, v| !v.is_null());
    }
    crate::report::redact_report(&mut doc, sagewatch::redact::redact_json);
    let verb = if t.status.as_deref() == Some("Failed") {
        "failed"
    } else {
        "finished with failed training jobs"
    };
    let subject = format!("Tuning job {} {verb}: {}", t.name, c.category.as_str());
    let text = text(&doc, verb);
    Report {
        json: doc,
        subject,
        text,
    }
}

fn text(doc: &Value, verb: &str) -> String {
    let s = |k: &str| doc.get(k).and_then(Value::as_str).unwrap_or("");
    let n = |k: &str| doc.get(k).and_then(Value::as_u64).unwrap_or(0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Tuning job {} {verb}: {} (confidence {:.2})",
        s("tuning_job_name"),
        s("category"),
        doc.get("confidence").and_then(Value::as_f64).unwrap_or(0.0)
    );
    let _ = writeln!(out, "\nWhat to do: {}", s("hint"));
    if !s("failure_reason").is_empty() {
        let _ = writeln!(out, "\nFailureReason: {}", s("failure_reason"));
    }
    if let Some(counts) = doc.get("training_job_counts").and_then(Value::as_object) {
        let parts: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(out, "\nTraining jobs: {}", parts.join(", "));
    }
    let _ = writeln!(
        out,
        "Failure signatures among {} failed training jobs listed{}:",
        n("failed_children_listed"),
        if doc.get("failed_children_listing_complete") == Some(&Value::Bool(false)) {
            " (more not listed)"
        } else {
            ""
        }
    );
    for g in doc
        .get("signatures")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let gs = |k: &str| g.get(k).and_then(Value::as_str).unwrap_or("");
        let examples = crate::report::strings(g, "examples");
        let _ = writeln!(
            out,
            "  {} x {}: {} (e.g. {})",
            g.get("count").and_then(Value::as_u64).unwrap_or(0),
            gs("category"),
            if gs("signature").is_empty() {
                "(no signature)"
            } else {
                gs("signature")
            },
            examples.join(", ")
        );
    }
    let sampled = crate::report::strings(doc, "failed_children_sampled");
    let _ = writeln!(out, "Described: {}", sampled.join(", "));
    crate::report::write_evidence(&mut out, doc);
    let _ = writeln!(
        out,
        "\nTuning job: {}\nAccount/region: {}/{}",
        if s("tuning_job_arn").is_empty() {
            s("tuning_job_name")
        } else {
            s("tuning_job_arn")
        },
        s("account"),
        s("region")
    );
    if !s("console_url").is_empty() {
        let _ = writeln!(out, "Console: {}", s("console_url"));
    }
    out
}

pub fn console_url(name: &str, region: &str) -> String {
    let host = sagewatch::target::console_host(region);
    format!("https://{region}.{host}/sagemaker/home?region={region}#/hyper-tuning-jobs/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child(name: &str, reason: &str) -> Child {
        Child {
            name: name.into(),
            failure_reason: Some(reason.into()),
        }
    }

    #[test]
    fn which_tuning_states_are_failures() {
        let st = |s: &str| Some(Status::new(s));
        let none = BTreeMap::new();
        let failed_children = BTreeMap::from([("NonRetryableError".to_owned(), 3)]);
        assert!(is_failure(st("Failed").as_ref(), &none));
        assert!(is_failure(st("Completed").as_ref(), &failed_children));
        assert!(!is_failure(st("Completed").as_ref(), &none));
        assert!(!is_failure(st("InProgress").as_ref(), &failed_children));
        assert!(!is_failure(None, &failed_children));
    }

    #[test]
    fn groups_largest_first_and_samples_spread_over_them() {
        let oom = "AlgorithmError: torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB";
        let hp = "ClientError: Hyperparameter 'eta' value 7 is out of range [0, 1]";
        let mut children: Vec<Child> = (0..6).map(|i| child(&format!("c-{i}"), oom)).collect();
        children.push(child("h-1", hp));
        children.push(child("h-2", hp));
        let groups = group(&children);
        assert_eq!(groups.len(), 2, "{groups:?}");
        assert_eq!(groups[0].children.len(), 6);
        assert_eq!(groups[0].classification.category.as_str(), "out_of_memory");
        let s = sample(&groups, 3);
        let names: Vec<&str> = s.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(names, ["c-0", "h-1", "c-1"]);
        assert_eq!(sample(&groups, 50).len(), 8, "never more than there are");
        assert!(sample(&[], 5).is_empty());
    }
}
