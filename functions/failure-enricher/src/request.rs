//! What to triage: from an EventBridge job or endpoint state-change event, or a direct
//! invocation `{"job_type": "training", "job_name": "…"}` / `{"endpoint_name": "…"}`
//! (optionally with `account` and `region`).

use crate::endpoint::{failure_kind, EndpointRequest};
use crate::job::TIMEOUT_STATUSES;
use crate::notice::{self, NoticeRequest};
use crate::pipeline::{parse_execution_arn, PipelineRequest};
use crate::tuning::{is_failure, TuningRequest};

use crate::rollback::DeploymentEvent;
use sagewatch::events::{
    Detail, Endpoint, EndpointDeployment, HyperParameterTuningJob, JobType, PipelineExecution,
    SageMakerEvent,
};
use sagewatch::status::Status;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The tag SageMaker puts on a job that a pipeline step started (the SageMaker Python SDK's
/// lineage code reads the same key).
pub const PIPELINE_EXECUTION_TAG: &str = "sagemaker:pipeline-execution-arn";

/// A failed job to explain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub job_type: JobType,
    pub job_name: String,
    /// From the event envelope (or the direct request); `None` = the function's own.
    pub account: Option<String>,
    pub region: Option<String>,
    /// EventBridge deliveries can be duplicated; a direct request is always answered.
    pub via: Via,
    /// The EventBridge event id (kept on the claim for investigations).
    pub event_id: Option<String>,
    /// A training job `Stopped` at a time limit: its SecondaryStatus (`MaxRuntimeExceeded`,
    /// `MaxWaitTimeExceeded`).
    pub timeout: Option<String>,
    /// Re-emitted by event-augmenter's sweep: SageMaker's own event never arrived.
    pub reconciled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Event,
    Direct,
}

/// What the input asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Triage(Request),
    Endpoint(EndpointRequest),
    Pipeline(PipelineRequest),
    Tuning(TuningRequest),
    /// A job that opted in to completion notices ended Completed or Stopped.
    Notice(NoticeRequest),
    /// A job event whose status is not `Failed`, or another detail-type: nothing to do.
    Ignore {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

#[derive(Deserialize)]
struct DirectEndpoint {
    endpoint_name: String,
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    region: Option<String>,
}

#[derive(Deserialize)]
struct DirectPipeline {
    pipeline_execution_arn: String,
}

#[derive(Deserialize)]
struct DirectTuning {
    tuning_job_name: String,
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    region: Option<String>,
}

#[derive(Deserialize)]
struct Direct {
    job_type: String,
    job_name: String,
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    region: Option<String>,
}

/// Job names: 1–63 of `[a-zA-Z0-9-]`, starting with a letter or digit (SageMaker's rule for
/// training, processing and transform jobs). Anything else cannot be a job, and must not reach
/// a log-stream prefix.
pub fn valid_job_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn job_type(raw: &str) -> Option<JobType> {
    const NAMES: &[(&str, JobType)] = &[
        ("training", JobType::Training),
        ("processing", JobType::Processing),
        ("transform", JobType::Transform),
    ];
    let raw = raw.trim().to_ascii_lowercase();
    let raw = raw.trim_end_matches("-job").trim_end_matches("_job");
    NAMES.iter().find(|(n, _)| *n == raw).map(|(_, t)| *t)
}

pub fn parse(payload: Value) -> Result<Input, InvalidInput> {
    if !payload.is_object() {
        return Err(InvalidInput(format!(
            "expected a JSON object (an EventBridge event or {{\"job_type\", \"job_name\"}}), got {}",
            kind_of(&payload)
        )));
    }
    if payload.get("detail-type").is_some() {
        return from_event(payload);
    }
    if payload.get("endpoint_name").is_some() {
        let d: DirectEndpoint = serde_json::from_value(payload)
            .map_err(|e| InvalidInput(format!("direct request: {e}")))?;
        let name = d.endpoint_name.trim().to_owned();
        if !valid_job_name(&name) {
            return Err(InvalidInput(format!(
                "endpoint_name {name:?} is not a SageMaker endpoint name"
            )));
        }
        return Ok(Input::Endpoint(EndpointRequest {
            name,
            account: d.account.filter(|a| !a.is_empty()),
            region: d.region.filter(|r| !r.is_empty()),
            via: Via::Direct,
            event_id: None,
            attempt: None,
            deployment: None,
        }));
    }
    if payload.get("pipeline_execution_arn").is_some() {
        let d: DirectPipeline = serde_json::from_value(payload)
            .map_err(|e| InvalidInput(format!("direct request: {e}")))?;
        return pipeline_request(
            &d.pipeline_execution_arn,
            None,
            None,
            Via::Direct,
            None,
            None,
        );
    }
    if payload.get("tuning_job_name").is_some() {
        let d: DirectTuning = serde_json::from_value(payload)
            .map_err(|e| InvalidInput(format!("direct request: {e}")))?;
        let name = d.tuning_job_name.trim().to_owned();
        if !valid_tuning_job_name(&name) {
            return Err(InvalidInput(format!(
                "tuning_job_name {name:?} is not a SageMaker tuning job name"
            )));
        }
        return Ok(Input::Tuning(TuningRequest {
            name,
            account: d.account.filter(|a| !a.is_empty()),
            region: d.region.filter(|r| !r.is_empty()),
            via: Via::Direct,
            event_id: None,
        }));
    }
    if payload.get("job_name").is_some() || payload.get("job_type").is_some() {
        let d: Direct = serde_json::from_value(payload)
            .map_err(|e| InvalidInput(format!("direct request: {e}")))?;
        let job_type = job_type(&d.job_type).ok_or_else(|| {
            InvalidInput(format!(
                "job_type {:?}: expected training, processing or transform",
                d.job_type
            ))
        })?;
        let job_name = d.job_name.trim().to_owned();
        if !valid_job_name(&job_name) {
            return Err(InvalidInput(format!(
                "job_name {job_name:?} is not a SageMaker job name"
            )));
        }
        return Ok(Input::Triage(Request {
            job_type,
            job_name,
            account: d.account.filter(|a| !a.is_empty()),
            region: d.region.filter(|r| !r.is_empty()),
            via: Via::Direct,
            event_id: None,
            timeout: None,
            reconciled: false,
        }));
    }
    Err(InvalidInput(
        "neither an EventBridge event (no detail-type) nor a direct request (no job_name)".into(),
    ))
}

fn from_event(payload: Value) -> Result<Input, InvalidInput> {
    let event = SageMakerEvent::from_value(payload).map_err(|e| InvalidInput(e.to_string()))?;
    match &event.detail {
        Detail::Endpoint(e) => return from_endpoint_event(&event, e),
        Detail::EndpointDeployment(d) => return from_deployment_event(&event, d),
        Detail::PipelineExecution(p) => return from_pipeline_event(&event, p),
        Detail::HyperParameterTuningJob(t) => return from_tuning_event(&event, t),
        _ => {}
    }
    let Some(job) = event.detail.job() else {
        let what = match &event.detail {
            Detail::Other(_) => "not modelled",
            _ => "not a training, processing or transform job",
        };
        return Ok(Input::Ignore {
            reason: format!("detail-type {:?} is {what}", event.detail_type),
        });
    };
    let status = job.status.map(Status::as_str).unwrap_or("(none)");
    let timeout = timeout_of(&event.detail);
    if timeout.is_none() {
        if let Some(ended) = notice::wanted(job.tags, status) {
            return notice_request(&event, &job, ended);
        }
    }
    if !job.status.is_some_and(|s| s.is("Failed")) && timeout.is_none() {
        return Ok(Input::Ignore {
            reason: format!(
                "{} job status is {status}, not Failed nor stopped at a time limit",
                job.job_type.as_str()
            ),
        });
    }
    // SageMaker tags the jobs a pipeline step starts with their execution; the execution's
    // own failure event reports them, inside one notification per pipeline failure.
    // Only a real execution ARN counts: user code may set `sagemaker:` tags too.
    if let Some(execution) = job
        .tags
        .get(PIPELINE_EXECUTION_TAG)
        .filter(|v| parse_execution_arn(v).is_some())
    {
        return Ok(Input::Ignore {
            reason: format!(
                "{} job ran in pipeline execution {execution}: the execution's report carries it",
                job.job_type.as_str()
            ),
        });
    }
    let name = job
        .name
        .map(str::to_owned)
        .or_else(|| {
            job.arn
                .and_then(|a| a.rsplit('/').next())
                .map(str::to_owned)
        })
        .ok_or_else(|| InvalidInput("failed job event without a job name or ARN".into()))?;
    if !valid_job_name(&name) {
        return Err(InvalidInput(format!(
            "job name {name:?} is not a SageMaker job name"
        )));
    }
    Ok(Input::Triage(Request {
        job_type: job.job_type,
        job_name: name,
        account: event.account.clone(),
        region: event.region.clone(),
        via: Via::Event,
        event_id: event.id.clone(),
        timeout,
        reconciled: event.is_reconciled(),
    }))
}

fn notice_request(
    event: &SageMakerEvent,
    job: &sagewatch::events::JobSummary<'_>,
    status: &'static str,
) -> Result<Input, InvalidInput> {
    let name = job
        .name
        .or_else(|| job.arn.and_then(|a| a.rsplit('/').next()))
        .map(str::to_owned)
        .filter(|n| valid_job_name(n))
        .ok_or_else(|| InvalidInput("job event without a valid job name or ARN".into()))?;
    Ok(Input::Notice(NoticeRequest {
        job_type: job.job_type,
        job_name: name,
        job_arn: job.arn.map(str::to_owned),
        status,
        account: event.account.clone(),
        region: event.region.clone(),
        via: Via::Event,
        event_id: event.id.clone(),
        start_time: job.start_time.or(job.creation_time),
        end_time: job.end_time,
        billable_seconds: job.billable_seconds,
        instance_type: job.instance_type.map(str::to_owned),
        instance_count: job.instance_count,
    }))
}

/// A training job `Stopped` with a time-limit SecondaryStatus; `None` for anything else (a
/// job a person stopped is not a failure).
fn timeout_of(detail: &Detail) -> Option<String> {
    let Detail::TrainingJob(j) = detail else {
        return None;
    };
    if !j
        .training_job_status
        .as_ref()
        .is_some_and(|s| s.is("Stopped"))
    {
        return None;
    }
    let secondary = j.secondary_status.as_ref()?;
    TIMEOUT_STATUSES
        .iter()
        .find(|t| secondary.is(t))
        .map(|t| (*t).to_owned())
}

fn from_endpoint_event(event: &SageMakerEvent, e: &Endpoint) -> Result<Input, InvalidInput> {
    let status = e.endpoint_status.as_ref();
    if failure_kind(status, e.failure_reason.as_deref()).is_none() {
        return Ok(Input::Ignore {
            reason: format!(
                "endpoint status is {}, not a failure",
                status.map(Status::as_str).unwrap_or("(none)")
            ),
        });
    }
    Ok(Input::Endpoint(EndpointRequest {
        name: endpoint_name(e.endpoint_name.as_deref(), e.endpoint_arn.as_deref())?,
        account: event.account.clone(),
        region: event.region.clone(),
        via: Via::Event,
        event_id: event.id.clone(),
        attempt: e
            .last_modified_time
            .map(|t| t.timestamp_millis().to_string()),
        deployment: None,
    }))
}

/// The endpoint's name from the event's name, else its ARN, checked against SageMaker's rule.
fn endpoint_name(name: Option<&str>, arn: Option<&str>) -> Result<String, InvalidInput> {
    let name = name
        .or_else(|| arn.and_then(|a| a.rsplit('/').next()))
        .map(str::to_owned)
        .ok_or_else(|| InvalidInput("endpoint event without a name or ARN".into()))?;
    if !valid_job_name(&name) {
        return Err(InvalidInput(format!(
            "endpoint name {name:?} is not a SageMaker endpoint name"
        )));
    }
    Ok(name)
}

/// A deployment event is a question for [`crate::rollback::judge`]: the rule sends the ones
/// that end a deployment (`IN_SERVICE`) or roll it back; the stages in between are ignored.
fn from_deployment_event(
    event: &SageMakerEvent,
    d: &EndpointDeployment,
) -> Result<Input, InvalidInput> {
    const ASKED: &[&str] = &["InService", "RollingBack"];
    let status = d.endpoint_status.as_ref();
    let asked = status.is_some_and(|s| ASKED.iter().any(|a| s.is(a)));
    let reason = d.failure_reason.as_deref().filter(|r| !r.trim().is_empty());
    if !asked && reason.is_none() {
        return Ok(Input::Ignore {
            reason: format!(
                "endpoint deployment status is {}: not the end of a deployment",
                status.map(Status::as_str).unwrap_or("(none)")
            ),
        });
    }
    Ok(Input::Endpoint(EndpointRequest {
        name: endpoint_name(d.endpoint_name.as_deref(), d.endpoint_arn.as_deref())?,
        account: event.account.clone(),
        region: event.region.clone(),
        via: Via::Event,
        event_id: event.id.clone(),
        attempt: d
            .last_modified_time
            .map(|t| t.timestamp_millis().to_string()),
        deployment: Some(DeploymentEvent {
            status: status.map(|s| s.as_str().to_owned()),
            pending_config: d.pending_config().map(str::to_owned),
            started: d.pending_start(),
            messages: d.status_messages(),
            failure_reason: reason.map(str::to_owned),
            time: event.time,
        }),
    }))
}

/// Tuning job names: 1–32 of `[a-zA-Z0-9-]`, starting with a letter or digit.
pub fn valid_tuning_job_name(name: &str) -> bool {
    name.len() <= 32 && valid_job_name(name)
}

fn pipeline_request(
    arn: &str,
    account: Option<String>,
    region: Option<String>,
    via: Via,
    event_id: Option<String>,
    p: Option<&PipelineExecution>,
) -> Result<Input, InvalidInput> {
    let arn = arn.trim();
    let (pipeline_name, execution_id) = parse_execution_arn(arn).ok_or_else(|| {
        InvalidInput(format!("{arn:?} is not a SageMaker pipeline execution ARN"))
    })?;
    // The ARN names where the execution is (a direct request has nothing else).
    let mut fields = arn.split(':');
    let arn_region = fields.nth(3).filter(|r| !r.is_empty()).map(str::to_owned);
    let arn_account = fields.next().filter(|a| !a.is_empty()).map(str::to_owned);
    Ok(Input::Pipeline(PipelineRequest {
        execution_arn: arn.to_owned(),
        pipeline_name,
        execution_id,
        display_name: p.and_then(|p| p.pipeline_execution_display_name.clone()),
        failure_reason: p.and_then(|p| p.failure_reason.clone()),
        account: account.or(arn_account),
        region: region.or(arn_region),
        via,
        event_id,
    }))
}

fn from_pipeline_event(
    event: &SageMakerEvent,
    p: &PipelineExecution,
) -> Result<Input, InvalidInput> {
    let status = p.current_pipeline_execution_status.as_ref();
    if !status.is_some_and(|s| s.is("Failed")) {
        return Ok(Input::Ignore {
            reason: format!(
                "pipeline execution status is {}, not Failed",
                status.map(Status::as_str).unwrap_or("(none)")
            ),
        });
    }
    let arn = p
        .pipeline_execution_arn
        .clone()
        .ok_or_else(|| InvalidInput("failed pipeline execution event without its ARN".into()))?;
    pipeline_request(
        &arn,
        event.account.clone(),
        event.region.clone(),
        Via::Event,
        event.id.clone(),
        Some(p),
    )
}

/// `TrainingJobStatusCounters` as numbers (the event may carry them as strings).
pub fn counters(raw: &BTreeMap<String, Value>) -> BTreeMap<String, i64> {
    raw.iter()
        .filter_map(|(k, v)| {
            let n = v
                .as_i64()
                .or_else(|| v.as_f64().map(|f| f as i64))
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))?;
            Some((k.clone(), n))
        })
        .collect()
}

fn from_tuning_event(
    event: &SageMakerEvent,
    t: &HyperParameterTuningJob,
) -> Result<Input, InvalidInput> {
    let status = t.hyper_parameter_tuning_job_status.as_ref();
    if !is_failure(status, &counters(&t.training_job_status_counters)) {
        return Ok(Input::Ignore {
            reason: format!(
                "tuning job status is {} without failed training jobs",
                status.map(Status::as_str).unwrap_or("(none)")
            ),
        });
    }
    let name = t
        .hyper_parameter_tuning_job_name
        .clone()
        .or_else(|| {
            t.hyper_parameter_tuning_job_arn
                .as_deref()
                .and_then(|a| a.rsplit('/').next())
                .map(str::to_owned)
        })
        .ok_or_else(|| InvalidInput("tuning job event without a name or ARN".into()))?;
    if !valid_tuning_job_name(&name) {
        return Err(InvalidInput(format!(
            "tuning job name {name:?} is not a SageMaker tuning job name"
        )));
    }
    Ok(Input::Tuning(TuningRequest {
        name,
        account: event.account.clone(),
        region: event.region.clone(),
        via: Via::Event,
        event_id: event.id.clone(),
    }))
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn direct_requests() {
        let r = parse(json!({"job_type": "Processing", "job_name": "p-1"})).unwrap();
        assert!(matches!(
            r,
            Input::Triage(Request {
                job_type: JobType::Processing,
                via: Via::Direct,
                ..
            })
        ));
        assert!(parse(json!({"job_type": "tuning", "job_name": "p-1"})).is_err());
        assert!(parse(json!({"job_type": "training", "job_name": "a/b"})).is_err());
        assert!(parse(json!({"job_type": "training"})).is_err());
        assert!(parse(json!([1])).is_err());
        assert!(parse(json!({"hello": 1})).is_err());
    }

    #[test]
    fn job_names_follow_sagemaker_rules() {
        assert!(valid_job_name("train-42"));
        assert!(!valid_job_name("-x"));
        assert!(!valid_job_name(&"a".repeat(64)));
        assert!(!valid_job_name("job/"));
        assert!(!valid_job_name(""));
    }
}
