//! Every sample in `events/` parses into the right typed value.

use sagewatch::alarm::{alarms_from_payload, AlarmState, Delivery};
use sagewatch::events::{Detail, JobType, SageMakerEvent};
use serde_json::Value;
use std::path::PathBuf;

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

fn load(name: &str) -> Value {
    let path = events_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn event(name: &str) -> SageMakerEvent {
    SageMakerEvent::from_value(load(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Which typed value each EventBridge sample must become.
const EVENT_SAMPLES: &[(&str, &str)] = &[
    ("training-job-state-change.json", "TrainingJob"),
    ("training-job-state-change-gpu-2-hosts.json", "TrainingJob"),
    ("training-job-state-change-failed.json", "TrainingJob"),
    (
        "training-job-state-change-reconciled-failed.json",
        "TrainingJob",
    ),
    (
        "training-job-state-change-guard-in-progress.json",
        "TrainingJob",
    ),
    (
        "training-job-state-change-guard-completed.json",
        "TrainingJob",
    ),
    ("training-job-state-change-stopping.json", "TrainingJob"),
    ("training-job-state-change-doc-verbatim.json", "TrainingJob"),
    ("processing-job-state-change.json", "ProcessingJob"),
    ("transform-job-state-change.json", "TransformJob"),
    (
        "hyperparameter-tuning-job-state-change.json",
        "HyperParameterTuningJob",
    ),
    ("endpoint-state-change.json", "Endpoint"),
    // endpoint-canary's smoke-test trigger: two variants and the sagewatch:canary tag.
    ("endpoint-state-change-in-service-canary.json", "Endpoint"),
    // endpoint-guard: a 2-variant endpoint InService, then Deleting; its schedule input.
    (
        "endpoint-state-change-in-service-2-variants.json",
        "Endpoint",
    ),
    ("endpoint-state-change-deleting.json", "Endpoint"),
    // failure-enricher: an endpoint that failed to create; a job stopped at its time limit.
    ("endpoint-state-change-failed.json", "Endpoint"),
    ("training-job-state-change-max-runtime.json", "TrainingJob"),
    // failure-enricher: a failed pipeline execution; tuning jobs failed / with failed children.
    (
        "pipeline-execution-status-change-failed.json",
        "PipelineExecution",
    ),
    (
        "hyperparameter-tuning-job-state-change-failed.json",
        "HyperParameterTuningJob",
    ),
    (
        "hyperparameter-tuning-job-state-change-failed-children.json",
        "HyperParameterTuningJob",
    ),
    // failure-enricher: a Completed job opted in to completion notices.
    ("training-job-state-change-notify.json", "TrainingJob"),
    ("endpoint-guard-idle-check.json", "Other"),
    // event-augmenter's sweep schedule (a Scheduled Event; functions/event-augmenter tests it).
    ("sweep-schedule.json", "Other"),
    (
        "endpoint-deployment-state-change.json",
        "EndpointDeployment",
    ),
    // failure-enricher: the deployment's end after its auto-rollback alarm tripped.
    (
        "endpoint-deployment-state-change-rolled-back.json",
        "EndpointDeployment",
    ),
    ("pipeline-execution-status-change.json", "PipelineExecution"),
    ("pipeline-step-status-change.json", "PipelineStep"),
    ("model-package-state-change.json", "ModelPackage"),
    ("cloudtrail-api-call.json", "ApiCall"),
    ("cloudtrail-api-call-error.json", "ApiCall"),
    ("unknown-detail-type.json", "Other"),
    // HyperPod events have no typed detail in the core (yet): routed and archived by the
    // rules, ignored by the functions.
    ("hyperpod-cluster-node-health-event.json", "Other"),
    ("hyperpod-cluster-event.json", "Other"),
];

fn kind(d: &Detail) -> &'static str {
    match d {
        Detail::TrainingJob(_) => "TrainingJob",
        Detail::ProcessingJob(_) => "ProcessingJob",
        Detail::TransformJob(_) => "TransformJob",
        Detail::HyperParameterTuningJob(_) => "HyperParameterTuningJob",
        Detail::Endpoint(_) => "Endpoint",
        Detail::EndpointDeployment(_) => "EndpointDeployment",
        Detail::PipelineExecution(_) => "PipelineExecution",
        Detail::PipelineStep(_) => "PipelineStep",
        Detail::ModelPackage(_) => "ModelPackage",
        Detail::ApiCall(_) => "ApiCall",
        Detail::Other(_) => "Other",
    }
}

#[test]
fn every_event_sample_has_its_type_and_a_time() {
    for (file, want) in EVENT_SAMPLES {
        let e = event(file);
        assert_eq!(kind(&e.detail), *want, "{file}");
        assert!(e.time.is_some(), "{file}: envelope time not parsed");
        assert_eq!(e.account.as_deref(), Some("123456789012"), "{file}");
    }
}

#[test]
fn every_json_sample_is_covered_by_a_test() {
    let mut covered: Vec<&str> = EVENT_SAMPLES.iter().map(|(f, _)| *f).collect();
    covered.extend(ALARM_SAMPLES.iter().map(|(f, ..)| *f));
    covered.extend([
        "failure-direct-invoke.json",
        "sqs-batch-training-job-state-change.json",
        // endpoint-canary's schedule input (functions/endpoint-canary tests it).
        "endpoint-canary-schedule.json",
        // endpoint-guard's reconciliation schedule input (functions/endpoint-guard tests it).
        "endpoint-guard-reconcile.json",
        // overfit-guard's guard-alarm sweep input (functions/overfit-guard tests it).
        "training-job-guard-sweep.json",
    ]);
    for entry in std::fs::read_dir(events_dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") {
            assert!(
                covered.contains(&name.as_str()),
                "{name} has no expectation in shared/core/tests/samples.rs"
            );
        }
    }
}

#[test]
fn training_samples_carry_what_the_functions_need() {
    let e = event("training-job-state-change.json");
    let job = e.detail.job().unwrap();
    assert_eq!(job.job_type, JobType::Training);
    assert_eq!(job.name, Some("sagewatch-demo-train-1"));
    assert!(job.status.unwrap().is_terminal_job_status());
    assert!(job.instance_type.is_some() && job.instance_count.is_some());
    assert!(
        job.start_time.is_some() && job.end_time.is_some(),
        "epoch-ms strings parsed"
    );
    assert!(!job.tags.is_empty(), "Tags map parsed");

    let failed = event("training-job-state-change-failed.json");
    let job = failed.detail.job().unwrap();
    assert_eq!(job.status.unwrap().as_str(), "Failed");
    assert!(job.failure_reason.is_some_and(|r| !r.is_empty()));

    let stopping = event("training-job-state-change-stopping.json");
    let status = stopping.detail.job().unwrap().status.unwrap().clone();
    assert_eq!(status.as_str(), "Stopping");
    assert!(
        !status.is_terminal_job_status(),
        "Stopping is never terminal"
    );
}

#[test]
fn processing_and_transform_samples() {
    let p = event("processing-job-state-change.json");
    let job = p.detail.job().unwrap();
    assert_eq!(job.job_type, JobType::Processing);
    assert_eq!(job.name, Some("sagewatch-demo-processing-1"));
    assert_eq!(job.status.unwrap().as_str(), "Failed");
    assert!(job.instance_count.is_some());
    let t = event("transform-job-state-change.json");
    let job = t.detail.job().unwrap();
    assert_eq!(job.job_type, JobType::Transform);
    assert!(job.start_time.is_some(), "ISO time parsed");
}

#[test]
fn endpoint_quirks_in_service_spelling_and_float_times() {
    let e = event("endpoint-state-change.json");
    let Detail::Endpoint(ep) = &e.detail else {
        panic!()
    };
    assert_eq!(ep.endpoint_status.as_ref().unwrap().as_str(), "InService");
    assert!(ep.creation_time.is_some() && ep.last_modified_time.is_some());
    let d = event("endpoint-deployment-state-change.json");
    let Detail::EndpointDeployment(dep) = &d.detail else {
        panic!()
    };
    assert_eq!(dep.endpoint_status.as_ref().unwrap().as_str(), "Updating");
    assert_eq!(dep.pending_variant_stages()[0].1.as_str(), "Baking");
    assert_eq!(
        dep.pending_config(),
        Some("sagewatch-demo-endpoint-config-2")
    );
    assert_eq!(
        dep.pending_start().map(|t| t.timestamp_millis()),
        Some(1_718_042_580_181)
    );
    let messages = dep.status_messages();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].starts_with("Baking for 600 seconds"));
    // The deployment's end: back in service on the old config, nothing pending.
    let d = event("endpoint-deployment-state-change-rolled-back.json");
    let Detail::EndpointDeployment(dep) = &d.detail else {
        panic!()
    };
    assert_eq!(dep.endpoint_status.as_ref().unwrap().as_str(), "InService");
    assert_eq!(dep.pending_config(), None);
    assert_eq!(dep.pending_start(), None);
}

#[test]
fn tuning_pipeline_and_registry_samples() {
    let Detail::HyperParameterTuningJob(h) =
        event("hyperparameter-tuning-job-state-change.json").detail
    else {
        panic!()
    };
    assert_eq!(
        h.hyper_parameter_tuning_job_status.unwrap().as_str(),
        "Completed"
    );
    assert!(!h.training_job_status_counters.is_empty());
    let Detail::PipelineExecution(p) = event("pipeline-execution-status-change.json").detail else {
        panic!()
    };
    assert_eq!(
        p.current_pipeline_execution_status.unwrap().as_str(),
        "Succeeded"
    );
    assert!(p.execution_end_time.unwrap() > p.execution_start_time.unwrap());
    let Detail::PipelineStep(s) = event("pipeline-step-status-change.json").detail else {
        panic!()
    };
    assert_eq!(s.step_type.as_deref(), Some("Processing"));
    let Detail::ModelPackage(m) = event("model-package-state-change.json").detail else {
        panic!()
    };
    assert_eq!(m.model_approval_status.unwrap().as_str(), "Rejected");
    assert_eq!(m.model_package_version, Some(2));
}

#[test]
fn cloudtrail_samples() {
    let Detail::ApiCall(c) = event("cloudtrail-api-call.json").detail else {
        panic!()
    };
    assert_eq!(c.event_name.as_deref(), Some("StopTrainingJob"));
    assert!(c.user_identity.arn.is_some() && c.source_ip_address.is_some());
    assert!(c.error_code.is_none());
    let Detail::ApiCall(c) = event("cloudtrail-api-call-error.json").detail else {
        panic!()
    };
    assert_eq!(c.error_code.as_deref(), Some("AccessDenied"));
}

/// (file, state, alarm name, job names found in dimensions)
const ALARM_SAMPLES: &[(&str, AlarmState, &[&str])] = &[
    (
        "alarm-sns-single-metric.json",
        AlarmState::Alarm,
        &["sagewatch-demo-train-1"],
    ),
    (
        "alarm-sns-ok.json",
        AlarmState::Ok,
        &["sagewatch-demo-train-1"],
    ),
    (
        "alarm-sns-host-dimension.json",
        AlarmState::Alarm,
        &["sagewatch-demo-train-1/algo-1"],
    ),
    (
        "alarm-sns-metric-math.json",
        AlarmState::Alarm,
        &["sagewatch-demo-train-1"],
    ),
    (
        "alarm-sns-metric-math-legacy.json",
        AlarmState::Alarm,
        &["sagewatch-demo-train-1"],
    ),
    (
        "alarm-sns-two-jobs.json",
        AlarmState::Alarm,
        &["sagewatch-demo-train-1", "sagewatch-demo-train-2"],
    ),
    (
        "alarm-lambda-action.json",
        AlarmState::Alarm,
        &["sagewatch-demo-train-1"],
    ),
];

#[test]
fn every_alarm_sample_parses_with_region_and_account_from_the_arn() {
    for (file, state, dims) in ALARM_SAMPLES {
        let alarms = alarms_from_payload(&load(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(alarms.len(), 1, "{file}");
        let a = alarms[0].as_ref().unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(&a.new_state, state, "{file}");
        assert_eq!(
            a.region.as_deref(),
            Some("us-east-1"),
            "{file}: region from AlarmArn, not the display name"
        );
        assert_eq!(a.account.as_deref(), Some("123456789012"), "{file}");
        assert!(a.state_change_time.is_some(), "{file}: +0000 time parsed");
        let mut values: Vec<&str> = a
            .metrics
            .iter()
            .flat_map(|m| m.dimensions.iter())
            .filter(|(n, _)| n == "TrainingJobName" || n == "Host")
            .map(|(_, v)| v.as_str())
            .collect();
        values.sort();
        values.dedup();
        assert_eq!(values, *dims, "{file}");
        if file.starts_with("alarm-sns") {
            assert!(matches!(a.delivery, Delivery::Sns { .. }));
        } else {
            assert_eq!(a.delivery, Delivery::LambdaAction);
        }
    }
}

#[test]
fn metric_math_sample_keeps_expression_and_null_description() {
    let alarms = alarms_from_payload(&load("alarm-sns-metric-math.json")).unwrap();
    let a = alarms[0].as_ref().unwrap();
    assert!(!a.expressions.is_empty());
    assert_eq!(a.metrics.len(), 2);
    let single = alarms_from_payload(&load("alarm-sns-single-metric.json")).unwrap();
    assert_eq!(
        single[0].as_ref().unwrap().description,
        None,
        "AlarmDescription: null tolerated"
    );
}

#[test]
fn sqs_batch_bodies_are_eventbridge_events() {
    let batch = load("sqs-batch-training-job-state-change.json");
    let records = batch["Records"].as_array().unwrap();
    assert_eq!(records.len(), 2);
    for r in records {
        let body = r["body"].as_str().unwrap();
        let e = SageMakerEvent::from_slice(body.as_bytes()).unwrap();
        assert!(e.detail.job().is_some());
    }
    let direct = load("failure-direct-invoke.json");
    assert_eq!(direct["job_type"], "training");
}

#[test]
fn failure_enricher_endpoint_and_timeout_samples() {
    let e = event("endpoint-state-change-failed.json");
    let Detail::Endpoint(ep) = &e.detail else {
        panic!("not an endpoint")
    };
    assert!(ep.endpoint_status.as_ref().is_some_and(|s| s.is("Failed")));
    assert!(ep
        .failure_reason
        .as_deref()
        .is_some_and(|r| r.contains("ping health check")));
    let t = event("training-job-state-change-max-runtime.json");
    let Detail::TrainingJob(j) = &t.detail else {
        panic!("not a training job")
    };
    assert!(j
        .training_job_status
        .as_ref()
        .is_some_and(|s| s.is("Stopped")));
    assert!(j
        .secondary_status
        .as_ref()
        .is_some_and(|s| s.is("MaxRuntimeExceeded")));
    assert_eq!(j.stopping_condition.max_runtime_in_seconds, Some(3600));
    let ran = j
        .training_end_time
        .zip(j.training_start_time)
        .map(|(e, s)| (e - s).num_seconds());
    assert_eq!(ran, Some(3600));
}
