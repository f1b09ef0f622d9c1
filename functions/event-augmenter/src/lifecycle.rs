//! Tuning, endpoint and pipeline (execution, step) events: one count by [Status], a few extra
//! metrics and properties, each counted once. They differ in what identifies a change (the
//! dedupe key) and what they carry, so each has its own short function over shared helpers.

use crate::ports::{HostMetrics, Sink};
use crate::records::{self, emf_timestamp};
use crate::Once;
use crate::FUNCTION;
use crate::{non_empty, redacted, Augmenter, Disposition, Failure, Processed};
use chrono::{DateTime, Utc};
use sagewatch::claims::{self, Attempt, ClaimStore};
use sagewatch::emf::Unit;
use sagewatch::events::{
    Endpoint, HyperParameterTuningJob, PipelineExecution, PipelineStep, SageMakerEvent,
};
use serde_json::{json, Map, Value};
use tracing::{info, warn};

/// The properties every status event carries.
fn event_props(event: &SageMakerEvent) -> Map<String, Value> {
    let mut props = Map::new();
    props.insert("account".into(), json!(event.account));
    props.insert("region".into(), json!(event.region));
    props
}

impl<D: ClaimStore, M: HostMetrics, S: Sink, J, B> Augmenter<D, M, S, J, B> {
    pub(crate) async fn tuning(
        &self,
        event: &SageMakerEvent,
        t: &HyperParameterTuningJob,
        now: DateTime<Utc>,
        attempt: &Attempt,
    ) -> Result<Processed, Failure> {
        let Some(status) = t.hyper_parameter_tuning_job_status.as_ref() else {
            return Err(Failure::Invalid("tuning job without a status".into()));
        };
        // Tuning jobs also emit InProgress events as their children progress: count end states.
        if !status.is_terminal_job_status() {
            return Ok(Processed::new(
                Disposition::NotTerminal,
                format!("tuning status {status} is not an end state"),
            ));
        }
        let Some(name) = non_empty(t.hyper_parameter_tuning_job_name.as_deref()) else {
            return Err(Failure::Invalid("tuning job without a name".into()));
        };
        let account = event.account.as_deref().unwrap_or("unknown");
        let key = claims::key(
            FUNCTION,
            &[account, "hyper_parameter_tuning", name, status.as_str()],
        );
        let best = t.best_training_job.as_ref();
        let objective =
            best.and_then(|b| b.final_hyper_parameter_tuning_job_objective_metric.as_ref());
        let mut props = event_props(event);
        props.insert("tuning_job_name".into(), json!(name));
        props.insert(
            "tuning_job_arn".into(),
            json!(t.hyper_parameter_tuning_job_arn),
        );
        props.insert(
            "training_job_status_counters".into(),
            json!(t.training_job_status_counters),
        );
        props.insert(
            "objective_status_counters".into(),
            json!(t.objective_status_counters),
        );
        props.insert(
            "best_training_job".into(),
            json!(best.and_then(|b| b.training_job_name.clone())),
        );
        props.insert(
            "best_objective_metric".into(),
            json!(objective.and_then(|o| o.metric_name.clone())),
        );
        props.insert(
            "best_objective_value".into(),
            json!(objective.and_then(|o| o.value)),
        );
        props.insert(
            "failure_reason".into(),
            json!(redacted(non_empty(t.failure_reason.as_deref()))),
        );
        if let (Some(c), Some(e)) = (t.creation_time, t.hyper_parameter_tuning_end_time) {
            props.insert("duration_seconds".into(), json!((e - c).num_seconds()));
        }
        let lines = records::status_counter(
            &self.config.common.metrics_namespace,
            emf_timestamp(event.time, now),
            status.as_str(),
            &[("TuningJobCount", 1.0, Unit::Count)],
            props,
        );
        let detail = format!("tuning job {name} {status}");
        self.count_once(key, event, lines, now, attempt, detail)
            .await
    }

    pub(crate) async fn endpoint(
        &self,
        event: &SageMakerEvent,
        e: &Endpoint,
        now: DateTime<Utc>,
        attempt: &Attempt,
    ) -> Result<Processed, Failure> {
        let (Some(name), Some(status)) = (
            non_empty(e.endpoint_name.as_deref()),
            e.endpoint_status.as_ref(),
        ) else {
            return Err(Failure::Invalid(
                "endpoint event without a name or status".into(),
            ));
        };
        // An endpoint goes through the same status many times (every update): the change is
        // identified by its LastModifiedTime, else by the event id.
        let Some(discriminator) = e
            .last_modified_time
            .map(|t| t.timestamp_millis().to_string())
            .or_else(|| event.id.clone())
        else {
            return Err(Failure::Invalid(
                "endpoint event without LastModifiedTime or event id".into(),
            ));
        };
        let account = event.account.as_deref().unwrap_or("unknown");
        let key = claims::key(
            FUNCTION,
            &[account, "endpoint", name, status.as_str(), &discriminator],
        );
        let failure = redacted(non_empty(e.failure_reason.as_deref()));
        if status.is("Failed") {
            warn!(
                endpoint = name,
                reason = failure.as_deref().unwrap_or("-"),
                "endpoint failed"
            );
        }
        let mut props = event_props(event);
        props.insert("endpoint_name".into(), json!(name));
        props.insert("endpoint_arn".into(), json!(e.endpoint_arn));
        props.insert("endpoint_config_name".into(), json!(e.endpoint_config_name));
        props.insert("failure_reason".into(), json!(failure));
        let at = emf_timestamp(event.time, now);
        if status.is("InService") {
            self.time_to_in_service(event, e, name, account, at, &props, now, attempt)
                .await?;
        }
        let lines = records::status_counter(
            &self.config.common.metrics_namespace,
            at,
            status.as_str(),
            &[("EndpointStatusChanges", 1.0, Unit::Count)],
            props,
        );
        let detail = format!("endpoint {name} {status}");
        self.count_once(key, event, lines, now, attempt, detail)
            .await
    }

    /// `EndpointTimeToInServiceSeconds` once per endpoint creation: the first InService after
    /// CreateEndpoint. Every later InService (after UpdateEndpoint) has the same CreationTime
    /// and a LastModifiedTime that can be days later; its own claim
    /// `account#endpoint#name#CreationTime-ms#first_in_service` is then taken. A claim of its
    /// own (not shared with the status change) keeps both emissions exactly-once: a failure
    /// between the two puts is retried, and the retry skips whichever is already written.
    #[allow(clippy::too_many_arguments)]
    async fn time_to_in_service(
        &self,
        event: &SageMakerEvent,
        e: &Endpoint,
        name: &str,
        account: &str,
        at: DateTime<Utc>,
        props: &Map<String, Value>,
        now: DateTime<Utc>,
        attempt: &Attempt,
    ) -> Result<(), Failure> {
        let (Some(c), Some(m)) = (e.creation_time, e.last_modified_time) else {
            return Ok(());
        };
        // Past the dedupe TTL the first claim may have expired: an "InService" that late is an
        // update, never the creation.
        if m < c || m - c >= self.dedupe_ttl() {
            return Ok(());
        }
        let created = c.timestamp_millis().to_string();
        let key = claims::key(
            FUNCTION,
            &[account, "endpoint", name, &created, "first_in_service"],
        );
        match self.claim(&key, event, now, attempt).await? {
            Once::First => {
                let secs = (m - c).num_milliseconds() as f64 / 1000.0;
                self.sink.write(records::status_counter(
                    &self.config.common.metrics_namespace,
                    at,
                    "InService",
                    &[("EndpointTimeToInServiceSeconds", secs, Unit::Seconds)],
                    props.clone(),
                ));
            }
            Once::Duplicate => {
                info!(key = %key, "not the first InService of this endpoint creation; no time-to-InService");
            }
        }
        Ok(())
    }

    pub(crate) async fn pipeline_execution(
        &self,
        event: &SageMakerEvent,
        p: &PipelineExecution,
        now: DateTime<Utc>,
        attempt: &Attempt,
    ) -> Result<Processed, Failure> {
        let Some(status) = p.current_pipeline_execution_status.as_ref() else {
            return Err(Failure::Invalid(
                "pipeline execution without a status".into(),
            ));
        };
        let Some(execution) = non_empty(p.pipeline_execution_arn.as_deref()) else {
            return Err(Failure::Invalid(
                "pipeline execution without an execution ARN".into(),
            ));
        };
        let account = event.account.as_deref().unwrap_or("unknown");
        let key = claims::key(
            FUNCTION,
            &[account, "pipeline_execution", execution, status.as_str()],
        );
        let mut metrics = vec![("PipelineExecutionCount", 1.0, Unit::Count)];
        if let (Some(s), Some(e)) = (p.execution_start_time, p.execution_end_time) {
            if e >= s {
                metrics.push((
                    "PipelineExecutionDurationSeconds",
                    (e - s).num_milliseconds() as f64 / 1000.0,
                    Unit::Seconds,
                ));
            }
        }
        let mut props = event_props(event);
        props.insert("pipeline_arn".into(), json!(p.pipeline_arn));
        props.insert(
            "pipeline_name".into(),
            json!(p.pipeline_arn.as_deref().and_then(|a| a.rsplit('/').next())),
        );
        props.insert("pipeline_execution_arn".into(), json!(execution));
        props.insert(
            "pipeline_execution_display_name".into(),
            json!(p.pipeline_execution_display_name),
        );
        props.insert(
            "failure_reason".into(),
            json!(redacted(non_empty(p.failure_reason.as_deref()))),
        );
        let lines = records::status_counter(
            &self.config.common.metrics_namespace,
            emf_timestamp(event.time, now),
            status.as_str(),
            &metrics,
            props,
        );
        let detail = format!("pipeline execution {status}");
        self.count_once(key, event, lines, now, attempt, detail)
            .await
    }

    pub(crate) async fn pipeline_step(
        &self,
        event: &SageMakerEvent,
        s: &PipelineStep,
        now: DateTime<Utc>,
        attempt: &Attempt,
    ) -> Result<Processed, Failure> {
        let (Some(status), Some(step), Some(execution)) = (
            s.current_step_status.as_ref(),
            non_empty(s.step_name.as_deref()),
            non_empty(s.pipeline_execution_arn.as_deref()),
        ) else {
            return Err(Failure::Invalid(
                "pipeline step without a status, step name or execution ARN".into(),
            ));
        };
        let account = event.account.as_deref().unwrap_or("unknown");
        let key = claims::key(
            FUNCTION,
            &[account, "pipeline_step", execution, step, status.as_str()],
        );
        let mut props = event_props(event);
        props.insert("step_name".into(), json!(step));
        props.insert("step_type".into(), json!(s.step_type));
        props.insert("pipeline_arn".into(), json!(s.pipeline_arn));
        props.insert("pipeline_execution_arn".into(), json!(execution));
        if let (Some(a), Some(b)) = (s.step_start_time, s.step_end_time) {
            props.insert(
                "step_duration_seconds".into(),
                json!((b - a).num_milliseconds() as f64 / 1000.0),
            );
        }
        props.insert(
            "failure_reason".into(),
            json!(redacted(non_empty(s.failure_reason.as_deref()))),
        );
        let lines = records::status_counter(
            &self.config.common.metrics_namespace,
            emf_timestamp(event.time, now),
            status.as_str(),
            &[("PipelineStepCount", 1.0, Unit::Count)],
            props,
        );
        let detail = format!("pipeline step {step} {status}");
        self.count_once(key, event, lines, now, attempt, detail)
            .await
    }
}
