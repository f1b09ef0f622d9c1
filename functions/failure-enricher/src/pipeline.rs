//! Pipeline executions that failed: which steps failed (ListPipelineExecutionSteps, paginated
//! and bounded), why, and for a training, processing or transform step the job report the
//! job path builds. One report per execution, not one per step.

use crate::report::{self, Report};
use crate::request::Via;
use chrono::{DateTime, Utc};
use sagewatch::classify::Classification;
use sagewatch::events::JobType;
use serde_json::{json, Value};
use std::fmt::Write as _;

/// ListPipelineExecutionSteps pages read at most (100 steps each): a pipeline has at most
/// 50 steps per definition, more only with retries and ForEach iterations.
pub const MAX_STEP_PAGES: usize = 5;
pub const STEPS_PER_PAGE: i32 = 100;
/// Failed steps whose job is explained (Describe + logs) at most; the others are listed
/// with their FailureReason only. The log budget is shared among them.
pub const MAX_JOBS_EXPLAINED: usize = 3;

/// A failed pipeline execution to explain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineRequest {
    pub execution_arn: String,
    pub pipeline_name: String,
    pub execution_id: String,
    pub display_name: Option<String>,
    /// The event's `failureReason` of the execution, when it carries one.
    pub failure_reason: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub via: Via,
    pub event_id: Option<String>,
}

/// One step as ListPipelineExecutionSteps tells it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepFacts {
    pub name: String,
    pub status: Option<String>,
    pub failure_reason: Option<String>,
    /// A training, processing or transform step's job (from `Metadata.<Kind>Job.Arn`).
    pub job: Option<(JobType, String)>,
    /// The `Metadata` member naming the step's kind (`TrainingJob`, `Condition`, `Fail`, …).
    pub kind: Option<String>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
}

/// The steps read, newest first as AWS lists them, and whether the listing was complete.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepList {
    pub steps: Vec<StepFacts>,
    pub complete: bool,
}

/// `arn:<partition>:sagemaker:<region>:<account>:pipeline/<name>/execution/<id>` →
/// (pipeline name, execution id).
pub fn parse_execution_arn(arn: &str) -> Option<(String, String)> {
    let resource = arn.split(':').nth(5)?;
    let mut parts = resource.split('/');
    let (kind, name, exec, id) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let valid = |s: &str| {
        (1..=256).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    (kind == "pipeline"
        && exec == "execution"
        && parts.next().is_none()
        && valid(name)
        && valid(id))
    .then(|| (name.to_owned(), id.to_owned()))
}

/// The job of a step from its `Metadata` (`TrainingJob.Arn`, …): the kind and the job name.
pub fn job_of_arn(job_type: JobType, arn: &str) -> Option<(JobType, String)> {
    let name = arn.rsplit('/').next()?;
    crate::request::valid_job_name(name).then(|| (job_type, name.to_owned()))
}

/// The failed steps, the first to fail first (start time, then name: a stable order).
pub fn failed_steps(list: &StepList) -> Vec<&StepFacts> {
    let mut failed: Vec<&StepFacts> = list
        .steps
        .iter()
        .filter(|s| s.status.as_deref() == Some("Failed"))
        .collect();
    failed.sort_by(|a, b| (a.start_time, &a.name).cmp(&(b.start_time, &b.name)));
    failed
}

/// What was found about one failed step: its job's report when one was explained.
#[derive(Debug, Clone)]
pub struct FailedStep {
    pub step: StepFacts,
    pub job_report: Option<Report>,
    /// The job was named by the step but no longer exists.
    pub job_missing: bool,
}

pub fn build(
    request: &PipelineRequest,
    list: &StepList,
    failed: &[FailedStep],
    c: &Classification,
) -> Report {
    let region = request.region.as_deref();
    let steps: Vec<Value> = failed
        .iter()
        .map(|f| {
            let (job_type, job_name) = match &f.step.job {
                Some((t, n)) => (Some(t.as_str()), Some(n.as_str())),
                None => (None, None),
            };
            json!({
                "step_name": f.step.name,
                "step_kind": f.step.kind,
                "status": f.step.status,
                "failure_reason": f.step.failure_reason,
                "start_time": f.step.start_time,
                "end_time": f.step.end_time,
                "job_type": job_type,
                "job_name": job_name,
                "job_missing": f.job_missing.then_some(true),
                "category": f.job_report.as_ref().and_then(|r| r.json.get("category").cloned()),
                "job_report": f.job_report.as_ref().map(|r| r.json.clone()),
            })
        })
        .map(|mut v| {
            if let Value::Object(m) = &mut v {
                m.retain(|_, v| !v.is_null());
            }
            v
        })
        .collect();
    let first = failed.first();
    let mut doc = json!({
        "resource_type": "PipelineExecution",
        "pipeline_name": request.pipeline_name,
        "pipeline_execution_arn": request.execution_arn,
        "execution_id": request.execution_id,
        "execution_display_name": request.display_name,
        "account": request.account,
        "region": region,
        "status": "Failed",
        "category": c.category.as_str(),
        "confidence": c.confidence,
        "hint": c.hint,
        "signature": c.signature.as_ref().map(|s| s.pattern.clone()),
        "signature_hash": c.signature.as_ref().map(|s| s.hash.clone()),
        "evidence": report::evidence(c),
        "failure_reason": request.failure_reason,
        "failed_step": first.map(|f| f.step.name.clone()),
        "failed_steps": steps,
        "steps_listed": list.steps.len(),
        "steps_listing_complete": list.complete,
    });
    if let Value::Object(map) = &mut doc {
        map.retain(|_, v| !v.is_null());
    }
    crate::report::redact_report(&mut doc, sagewatch::redact::redact_json);
    let subject = match first {
        Some(f) => format!(
            "Pipeline {} failed at step {}: {}",
            request.pipeline_name,
            f.step.name,
            c.category.as_str()
        ),
        None => format!(
            "Pipeline {} failed: {}",
            request.pipeline_name,
            c.category.as_str()
        ),
    };
    let text = text(&doc, failed);
    Report {
        json: doc,
        subject,
        text,
    }
}

fn text(doc: &Value, failed: &[FailedStep]) -> String {
    let s = |k: &str| doc.get(k).and_then(Value::as_str).unwrap_or("");
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Pipeline {} execution {} failed: {} (confidence {:.2})",
        s("pipeline_name"),
        s("execution_id"),
        s("category"),
        doc.get("confidence").and_then(Value::as_f64).unwrap_or(0.0)
    );
    let _ = writeln!(out, "\nWhat to do: {}", s("hint"));
    if !s("failure_reason").is_empty() {
        let _ = writeln!(out, "\nFailureReason: {}", s("failure_reason"));
    }
    let steps = doc.get("failed_steps").and_then(Value::as_array);
    let _ = writeln!(out, "\nFailed steps:");
    for step in steps.into_iter().flatten() {
        let g = |k: &str| step.get(k).and_then(Value::as_str).unwrap_or("");
        let job = if g("job_name").is_empty() {
            String::new()
        } else {
            format!(" ({} job {})", g("job_type"), g("job_name"))
        };
        let _ = writeln!(out, "  {}{job}: {}", g("step_name"), g("failure_reason"));
    }
    if failed.is_empty() {
        let _ = writeln!(out, "  (no step is marked Failed)");
    }
    // The first explained job's own report (redacted JSON → text, the job path's words).
    if let Some(job) = steps
        .into_iter()
        .flatten()
        .find_map(|s| s.get("job_report"))
    {
        let _ = writeln!(out, "\n--- The failed step's job ---");
        out.push_str(&report::text_of(job));
    }
    let _ = writeln!(
        out,
        "\nExecution: {}\nAccount/region: {}/{}",
        s("pipeline_execution_arn"),
        s("account"),
        s("region")
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_arns() {
        assert_eq!(
            parse_execution_arn(
                "arn:aws:sagemaker:us-east-1:123456789012:pipeline/sagewatch-demo-pipeline/execution/p4jn9xou8a8s"
            ),
            Some(("sagewatch-demo-pipeline".into(), "p4jn9xou8a8s".into()))
        );
        for bad in [
            "arn:aws:sagemaker:us-east-1:123456789012:pipeline/p",
            "arn:aws:sagemaker:us-east-1:123456789012:pipeline/p/execution/x/y",
            "arn:aws:sagemaker:us-east-1:123456789012:training-job/p/execution/x",
            "arn:aws:sagemaker:us-east-1:123456789012:pipeline/p q/execution/x",
            "nonsense",
        ] {
            assert_eq!(parse_execution_arn(bad), None, "{bad}");
        }
    }

    #[test]
    fn failed_steps_first_failure_first() {
        let t = |s: i64| DateTime::from_timestamp(s, 0);
        let step = |name: &str, status: &str, start: i64| StepFacts {
            name: name.into(),
            status: Some(status.into()),
            start_time: t(start),
            ..StepFacts::default()
        };
        let list = StepList {
            steps: vec![
                step("Evaluate", "Failed", 30),
                step("Train", "Failed", 20),
                step("Prep", "Succeeded", 10),
            ],
            complete: true,
        };
        let names: Vec<&str> = failed_steps(&list)
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, ["Train", "Evaluate"]);
    }
}
