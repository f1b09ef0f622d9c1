//! The EventBridge rules of the SAM templates, against the samples in `events/`.
//!
//! The patterns are read from the templates themselves (so this tests what gets deployed,
//! not a copy), created as rules on a fresh bus in the emulator, each with an SQS queue as
//! its target. Every EventBridge sample is put on the bus once; each rule must receive
//! exactly the samples the table below routes to it, unchanged, and nothing else.
//!
//! The archive targets' input transformers are tested the same way: each is put on an SQS
//! target of its rule, every sample (plus variants carrying planted secrets) goes through it,
//! and the archived line must be one JSON object that names the event and holds none of the
//! secrets (issue #11 item 5).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use aws_sdk_eventbridge as eb;
use aws_sdk_eventbridge::types::{InputTransformer, PutEventsRequestEntry, RuleState, Target};
use aws_sdk_sqs as sqs;
use sagewatch_emulator::{unique_name, Emulator, Queue};
use serde_json::{json, Value};

/// What a rule is for. Rules of different templates that route alike share a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Route {
    /// Failed jobs, jobs stopped at their time limit, failed endpoints, failed pipeline
    /// executions and tuning jobs with failed children -> failure-enricher.
    FailedJob,
    /// Every SageMaker state or status change -> event-augmenter (or the monitoring bus).
    StateChange,
    /// SageMaker write API calls from CloudTrail -> event-augmenter (or the monitoring bus).
    ApiCall,
    /// Endpoints InService, Deleting or Failed -> endpoint-guard.
    EndpointState,
    /// Endpoints InService -> endpoint-canary (post-deploy smoke test).
    CanaryInService,
    /// Training jobs InProgress, Completed, Failed or Stopped -> overfit-guard (guard alarms).
    TrainingGuard,
    /// Endpoint deployments that finished or roll back -> failure-enricher (rollback report).
    Rollback,
}
use Route::{
    ApiCall, CanaryInService, EndpointState, FailedJob, Rollback, StateChange, TrainingGuard,
};

/// Every `AWS::Events::Rule` with an `EventPattern` in `infra/*.yaml`, and its route. A rule
/// missing here (or listed here but gone from its template) fails the test.
const RULES: &[(&str, &str, Route)] = &[
    ("template.yaml", "FailedJobsRule", FailedJob),
    ("template.yaml", "StateChangesRule", StateChange),
    ("template.yaml", "ApiCallsRule", ApiCall),
    ("template.yaml", "EndpointStatesRule", EndpointState),
    ("template.yaml", "CanaryInServiceRule", CanaryInService),
    ("template.yaml", "TrainingJobGuardRule", TrainingGuard),
    ("template.yaml", "EndpointRollbacksRule", Rollback),
    (
        "workload-account.yaml",
        "ForwardStateChangesRule",
        StateChange,
    ),
    ("workload-account.yaml", "ForwardApiCallsRule", ApiCall),
];

/// The routes each EventBridge sample must take. Every EventBridge-shaped file in `events/`
/// must be listed (a new sample needs an expectation), plus the variants below.
const SAMPLES: &[(&str, &[Route])] = &[
    ("cloudtrail-api-call-error.json", &[ApiCall]),
    ("cloudtrail-api-call.json", &[ApiCall]),
    // A stage in the middle of a deployment (UPDATING, Baking): nothing to explain yet.
    ("endpoint-deployment-state-change.json", &[StateChange]),
    // Its end: failure-enricher tells whether it was rolled back.
    (
        "endpoint-deployment-state-change-rolled-back.json",
        &[StateChange, Rollback],
    ),
    (
        "endpoint-state-change.json",
        &[StateChange, EndpointState, CanaryInService],
    ),
    (
        "endpoint-state-change-in-service-2-variants.json",
        &[StateChange, EndpointState, CanaryInService],
    ),
    // endpoint-canary's smoke-test trigger (tagged sagewatch:canary, two variants).
    (
        "endpoint-state-change-in-service-canary.json",
        &[StateChange, EndpointState, CanaryInService],
    ),
    (
        "endpoint-state-change-deleting.json",
        &[StateChange, EndpointState],
    ),
    // failure-enricher explains it; endpoint-guard sees it too.
    (
        "endpoint-state-change-failed.json",
        &[StateChange, EndpointState, FailedJob],
    ),
    // Stopped at MaxRuntimeInSeconds: a failure; a job stopped by a person is not.
    (
        "training-job-state-change-max-runtime.json",
        &[StateChange, FailedJob, TrainingGuard],
    ),
    // endpoint-guard's schedule input (source aws.events): no SageMaker rule.
    ("endpoint-guard-idle-check.json", &[]),
    // event-augmenter's sweep schedule (source aws.events): no SageMaker rule either.
    ("sweep-schedule.json", &[]),
    // HyperPod's detail-types end in neither "State Change" nor "Status Change".
    ("hyperpod-cluster-event.json", &[StateChange]),
    ("hyperpod-cluster-node-health-event.json", &[StateChange]),
    (
        "hyperparameter-tuning-job-state-change.json",
        &[StateChange],
    ),
    ("model-package-state-change.json", &[StateChange]),
    ("pipeline-execution-status-change.json", &[StateChange]),
    // failure-enricher: a failed pipeline execution, a failed tuning job, and one that
    // completed with failed training jobs (the counters matched numerically).
    (
        "pipeline-execution-status-change-failed.json",
        &[StateChange, FailedJob],
    ),
    (
        "hyperparameter-tuning-job-state-change-failed.json",
        &[StateChange, FailedJob],
    ),
    (
        "hyperparameter-tuning-job-state-change-failed-children.json",
        &[StateChange, FailedJob],
    ),
    ("pipeline-step-status-change.json", &[StateChange]),
    (
        "processing-job-state-change.json",
        &[StateChange, FailedJob],
    ),
    (
        "training-job-state-change-doc-verbatim.json",
        &[StateChange, TrainingGuard],
    ),
    (
        "training-job-state-change-failed.json",
        &[StateChange, FailedJob, TrainingGuard],
    ),
    // The sweep's re-emission of a lost failure: failure-enricher only (event-augmenter
    // handled it in the sweep; overfit-guard's own sweep removes guard alarms).
    (
        "training-job-state-change-reconciled-failed.json",
        &[FailedJob],
    ),
    // Stopping is not an end yet: overfit-guard waits for Stopped.
    ("training-job-state-change-stopping.json", &[StateChange]),
    // failure-enricher: a Completed job opted in to completion notices.
    (
        "training-job-state-change-notify.json",
        &[StateChange, FailedJob, TrainingGuard],
    ),
    (
        "training-job-state-change.json",
        &[StateChange, TrainingGuard],
    ),
    (
        "training-job-state-change-gpu-2-hosts.json",
        &[StateChange, TrainingGuard],
    ),
    // overfit-guard's guard alarms: an opted-in job starts (alarms put) and ends (deleted).
    (
        "training-job-state-change-guard-in-progress.json",
        &[StateChange, TrainingGuard],
    ),
    (
        "training-job-state-change-guard-completed.json",
        &[StateChange, TrainingGuard],
    ),
    ("transform-job-state-change.json", &[StateChange, FailedJob]),
    // Feature groups have no dedicated handling, but they are SageMaker state changes.
    ("unknown-detail-type.json", &[StateChange]),
    // Variants (see VARIANTS).
    ("processing-job-state-change.json#Completed", &[StateChange]),
    ("transform-job-state-change.json#Completed", &[StateChange]),
    // A failed tuning job is failure-enricher's too.
    (
        "hyperparameter-tuning-job-state-change.json#Failed",
        &[StateChange, FailedJob],
    ),
    // A deployment rolling back is asked about too.
    (
        "endpoint-deployment-state-change.json#RollingBack",
        &[StateChange, Rollback],
    ),
    // A stage that carries a FailureReason is asked about (the function decides).
    (
        "endpoint-deployment-state-change.json#FailureReason",
        &[StateChange, Rollback],
    ),
    ("cloudtrail-api-call.json#readOnly", &[]),
    ("cloudtrail-api-call.json#dataEvent", &[]),
    ("cloudtrail-api-call.json#s3", &[]),
    ("training-job-state-change-failed.json#custom-source", &[]),
    // Planted secrets, for the archive test (routed like their base).
    (
        "training-job-state-change-failed.json#secret-reason",
        &[StateChange, FailedJob, TrainingGuard],
    ),
    (
        "training-job-state-change.json#secret-hyperparameters",
        &[StateChange, TrainingGuard],
    ),
    (
        "processing-job-state-change.json#secret-environment",
        &[StateChange, FailedJob],
    ),
    ("cloudtrail-api-call-error.json#secret-request", &[ApiCall]),
    ("cloudtrail-api-call-error.json#secret-message", &[ApiCall]),
];

/// Every planted secret contains this; no archived line may.
const PLANTED: &str = "PLANTED-SECRET";

/// Rule targets that archive through an input transformer: (template, rule, target id). A
/// transformer missing here (or listed but gone) fails the test.
const ARCHIVES: &[(&str, &str, &str)] = &[
    ("template.yaml", "StateChangesRule", "archive"),
    ("template.yaml", "ApiCallsRule", "archive"),
];

/// Cases `events/` has no file for: (name, sample, JSON pointer, new value).
fn variants() -> Vec<(&'static str, &'static str, &'static str, Value)> {
    vec![
        // The failed-jobs rule must look at the status, not just the job type.
        (
            "processing-job-state-change.json#Completed",
            "processing-job-state-change.json",
            "/detail/ProcessingJobStatus",
            json!("Completed"),
        ),
        (
            "transform-job-state-change.json#Completed",
            "transform-job-state-change.json",
            "/detail/TransformJobStatus",
            json!("Completed"),
        ),
        // Failed: failure-enricher reports tuning jobs too (issue #14).
        (
            "hyperparameter-tuning-job-state-change.json#Failed",
            "hyperparameter-tuning-job-state-change.json",
            "/detail/HyperParameterTuningJobStatus",
            json!("Failed"),
        ),
        // The rollback rule matches the deployment's status, not just its detail-type.
        (
            "endpoint-deployment-state-change.json#RollingBack",
            "endpoint-deployment-state-change.json",
            "/detail/EndpointStatus",
            json!("ROLLING_BACK"),
        ),
        (
            "endpoint-deployment-state-change.json#FailureReason",
            "endpoint-deployment-state-change.json",
            "/detail/FailureReason",
            json!("Canary instances failed the ping health check."),
        ),
        // Read-only calls are not audited.
        (
            "cloudtrail-api-call.json#readOnly",
            "cloudtrail-api-call.json",
            "/detail/readOnly",
            json!(true),
        ),
        // Data events (a trail logging Feature Store PutRecord) must not flood the queue.
        (
            "cloudtrail-api-call.json#dataEvent",
            "cloudtrail-api-call.json",
            "/detail/managementEvent",
            json!(false),
        ),
        (
            "cloudtrail-api-call.json#s3",
            "cloudtrail-api-call.json",
            "/detail/eventSource",
            json!("s3.amazonaws.com"),
        ),
        // Someone else's events that merely look like SageMaker's.
        (
            "training-job-state-change-failed.json#custom-source",
            "training-job-state-change-failed.json",
            "/source",
            json!("sagewatch.test"),
        ),
        // What issue #11 reproduced: a script-mode job failing with its secrets in the reason.
        (
            "training-job-state-change-failed.json#secret-reason",
            "training-job-state-change-failed.json",
            "/detail/FailureReason",
            json!(format!(
                "AlgorithmError: train.py: error: unrecognized arguments: --hf_token hf_{PLANTED}0 \
                 --db_url \"postgresql://u:{PLANTED}1@h/db\""
            )),
        ),
        (
            "training-job-state-change.json#secret-hyperparameters",
            "training-job-state-change.json",
            "/detail/HyperParameters",
            json!({"hf_token": format!("{PLANTED}2"), "wandb_key": format!("\"{PLANTED}3\"")}),
        ),
        (
            "processing-job-state-change.json#secret-environment",
            "processing-job-state-change.json",
            "/detail/Environment",
            json!({"DB_PASSWORD": format!("{PLANTED}4"), "DATABASE_URL": format!("mysql://a:{PLANTED}5@db")}),
        ),
        (
            "cloudtrail-api-call-error.json#secret-request",
            "cloudtrail-api-call-error.json",
            "/detail/requestParameters",
            json!({
                "trainingJobName": "sagewatch-demo-denied-1",
                "hyperParameters": {"api_key": format!("{PLANTED}6")},
                "environment": {"GITHUB_PAT": format!("ghp_{PLANTED}7")}
            }),
        ),
        (
            "cloudtrail-api-call-error.json#secret-message",
            "cloudtrail-api-call-error.json",
            "/detail/errorMessage",
            json!(format!("Invalid value for --password {PLANTED}8")),
        ),
    ]
}

/// The value at `pointer`, created (as null) when only its last segment is missing.
fn slot<'a>(event: &'a mut Value, pointer: &str) -> Option<&'a mut Value> {
    let (parent, key) = pointer.rsplit_once('/')?;
    let object = event.pointer_mut(parent)?.as_object_mut()?;
    Some(object.entry(key).or_insert(Value::Null))
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `(template file name, logical id) -> EventPattern` for every rule in `infra/*.yaml`.
fn template_rules() -> BTreeMap<(String, String), Value> {
    let infra = repo_root().join("infra");
    let mut rules = BTreeMap::new();
    for entry in std::fs::read_dir(&infra).expect("read infra/") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).expect("read template");
        // CloudFormation's tags (!Sub, !Ref, ...) parse as tagged values; patterns have none.
        let doc: yaml_serde::Value =
            yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("{file} is not YAML: {e}"));
        let Some(resources) = doc.get("Resources").and_then(|r| r.as_mapping()) else {
            continue;
        };
        for (id, resource) in resources {
            if resource.get("Type").and_then(|t| t.as_str()) != Some("AWS::Events::Rule") {
                continue;
            }
            let id = id.as_str().expect("logical id").to_owned();
            let Some(pattern) = resource
                .get("Properties")
                .and_then(|p| p.get("EventPattern"))
            else {
                continue; // a scheduled rule: nothing to match
            };
            let pattern: Value = yaml_serde::from_value(pattern.clone()).unwrap_or_else(|e| {
                panic!("{file} {id}: EventPattern must be literal JSON-like YAML: {e}")
            });
            assert!(pattern.is_object(), "{file} {id}: pattern {pattern}");
            rules.insert((file.clone(), id), pattern);
        }
    }
    rules
}

/// An EventBridge envelope, as opposed to the SNS/SQS records, CloudWatch's direct Lambda
/// alarm action and the direct-invoke payloads that share `events/`.
fn is_eventbridge(sample: &Value) -> bool {
    sample.get("source").is_some_and(Value::is_string)
        && sample.get("detail-type").is_some_and(Value::is_string)
        && sample.get("detail").is_some_and(Value::is_object)
}

/// `name -> event` for every EventBridge sample in `events/` and every variant.
fn samples() -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(repo_root().join("events")).expect("read events/") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read sample");
        let sample: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        if is_eventbridge(&sample) {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            out.insert(name, sample);
        }
    }
    for (name, base, pointer, value) in variants() {
        let mut event = out
            .get(base)
            .unwrap_or_else(|| panic!("variant {name}: no sample {base}"))
            .clone();
        *slot(&mut event, pointer)
            .unwrap_or_else(|| panic!("variant {name}: {base} has no parent of {pointer}")) = value;
        out.insert(name.to_owned(), event);
    }
    out
}

/// Puts one sample on the bus as SageMaker (or CloudTrail) would emit it; returns its id.
async fn put(client: &eb::Client, bus: &str, name: &str, event: &Value) -> String {
    let text = |field: &str| {
        event[field]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: {field} is not a string"))
            .to_owned()
    };
    let resources = event["resources"].as_array().map(|r| {
        r.iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    });
    let entry = PutEventsRequestEntry::builder()
        .event_bus_name(bus)
        .source(text("source"))
        .detail_type(text("detail-type"))
        .detail(event["detail"].to_string())
        .set_resources(resources)
        .build();
    let out = client
        .put_events()
        .entries(entry)
        .send()
        .await
        .expect("PutEvents");
    assert_eq!(out.failed_entry_count(), 0, "{name}: {:?}", out.entries());
    out.entries()[0]
        .event_id()
        .unwrap_or_else(|| panic!("{name}: no EventId"))
        .to_owned()
}

#[test]
fn rule_and_sample_tables_cover_the_templates_and_events() {
    let in_templates: BTreeSet<(String, String)> = template_rules().into_keys().collect();
    let in_table: BTreeSet<(String, String)> = RULES
        .iter()
        .map(|(file, id, _)| (file.to_string(), id.to_string()))
        .collect();
    assert_eq!(
        in_templates, in_table,
        "RULES must list every rule of infra/*.yaml"
    );

    let in_events: BTreeSet<String> = samples().into_keys().collect();
    let expected: BTreeSet<String> = SAMPLES.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(
        in_events, expected,
        "SAMPLES must list every EventBridge sample"
    );
    // The shape filter must not be vacuous: these are EventBridge events, the rest not.
    assert!(in_events.contains("training-job-state-change.json"));
    assert!(!in_events.contains("sqs-batch-training-job-state-change.json"));
    assert!(!in_events.contains("alarm-lambda-action.json"));
    assert!(!in_events.contains("failure-direct-invoke.json"));
}

#[tokio::test]
async fn each_rule_receives_exactly_its_samples() {
    let config = Emulator::shared().await.sdk_config().await;
    let events = eb::Client::new(&config);
    let bus = unique_name("bus");
    events
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .expect("CreateEventBus");

    let rules = template_rules();
    let mut targets = Vec::new(); // (file, id, route, queue url)
    for ((file, id), pattern) in &rules {
        let route = RULES
            .iter()
            .find(|(f, i, _)| f == file && i == id)
            .map(|(_, _, route)| *route)
            .unwrap_or_else(|| panic!("{file} {id}: not in RULES"));
        let rule_name = unique_name("rule");
        events
            .put_rule()
            .name(&rule_name)
            .event_bus_name(&bus)
            .event_pattern(pattern.to_string())
            .state(RuleState::Enabled)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{file} {id}: PutRule rejected the pattern: {e:?}"));
        let queue = Queue::new(&config, "rule-target").await;
        let target = Target::builder()
            .id("queue")
            .arn(&queue.arn)
            .build()
            .expect("Target");
        let out = events
            .put_targets()
            .rule(&rule_name)
            .event_bus_name(&bus)
            .targets(target)
            .send()
            .await
            .expect("PutTargets");
        assert_eq!(out.failed_entry_count(), 0, "{:?}", out.failed_entries());
        targets.push((file.clone(), id.clone(), route, queue));
    }

    let samples = samples();
    let mut by_id = BTreeMap::new();
    for (name, event) in &samples {
        by_id.insert(put(&events, &bus, name, event).await, name.clone());
    }

    let mut wrong = Vec::new();
    for (file, id, route, queue) in &targets {
        let mut got = Vec::new();
        for body in queue.drain().await.into_iter().map(|r| r.body) {
            let event_id = body["id"].as_str().expect("delivered event has an id");
            let name = by_id
                .get(event_id)
                .unwrap_or_else(|| panic!("{file} {id}: unknown event {body}"));
            // The target gets the event itself (no input transformer): what the functions parse.
            let sample = &samples[name];
            for field in ["source", "detail-type", "detail"] {
                assert_eq!(body[field], sample[field], "{file} {id}: {name}: {field}");
            }
            got.push(name.clone());
        }
        got.sort();
        // Sorted like `got`; duplicates in `got` (one event delivered twice) still differ.
        let want: Vec<String> = SAMPLES
            .iter()
            .filter(|(_, routes)| routes.contains(route))
            .map(|(name, _)| name.to_string())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        assert!(
            !want.is_empty(),
            "{file} {id}: no sample exercises {route:?}"
        );
        if got != want {
            wrong.push(format!(
                "{file} {id} ({route:?}):\n  received {got:?}\n  expected {want:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// An archive target as the template defines it.
struct Archive {
    file: String,
    rule: String,
    target: String,
    pattern: Value,
    paths: BTreeMap<String, String>,
    template: String,
}

/// Every rule target with an `InputTransformer` in `infra/*.yaml` (literal YAML: a
/// transformer built with intrinsic functions could not be tested here).
fn template_archives() -> Vec<Archive> {
    let infra = repo_root().join("infra");
    let patterns = template_rules();
    let mut out = Vec::new();
    for ((file, rule), pattern) in &patterns {
        let text = std::fs::read_to_string(infra.join(file)).expect("read template");
        let doc: yaml_serde::Value = yaml_serde::from_str(&text).expect("YAML");
        let targets = doc
            .get("Resources")
            .and_then(|r| r.get(rule.as_str()))
            .and_then(|r| r.get("Properties"))
            .and_then(|p| p.get("Targets"))
            .and_then(|t| t.as_sequence())
            .cloned()
            .unwrap_or_default();
        for target in targets {
            let Some(transformer) = target.get("InputTransformer") else {
                continue;
            };
            let id = target
                .get("Id")
                .and_then(|i| i.as_str())
                .expect("target Id");
            let paths: BTreeMap<String, String> =
                yaml_serde::from_value(transformer.get("InputPathsMap").cloned().expect("paths"))
                    .unwrap_or_else(|e| panic!("{file} {rule} {id}: InputPathsMap: {e}"));
            let template = transformer
                .get("InputTemplate")
                .and_then(|t| t.as_str())
                .unwrap_or_else(|| panic!("{file} {rule} {id}: InputTemplate is not a string"))
                .to_owned();
            out.push(Archive {
                file: file.clone(),
                rule: rule.clone(),
                target: id.to_owned(),
                pattern: pattern.clone(),
                paths,
                template,
            });
        }
    }
    out
}

#[test]
fn archive_table_covers_the_templates() {
    let found: BTreeSet<(String, String, String)> = template_archives()
        .into_iter()
        .map(|a| (a.file, a.rule, a.target))
        .collect();
    let table: BTreeSet<(String, String, String)> = ARCHIVES
        .iter()
        .map(|(f, r, t)| (f.to_string(), r.to_string(), t.to_string()))
        .collect();
    assert_eq!(found, table, "ARCHIVES must list every input transformer");
}

/// A value the transformer picked, or None for a path the event lacks (EventBridge leaves
/// it empty; the emulator leaves the placeholder).
fn picked<'a>(line: &'a Value, field: &str) -> Option<&'a str> {
    let value = line.get(field)?.as_str()?;
    let placeholder = value.starts_with('<') && value.ends_with('>');
    (!value.is_empty() && !placeholder).then_some(value)
}

#[tokio::test]
async fn archives_keep_the_facts_and_drop_the_secrets() {
    let config = Emulator::shared().await.sdk_config().await;
    let (events, queues) = (eb::Client::new(&config), sqs::Client::new(&config));
    let bus = unique_name("bus");
    events
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .expect("CreateEventBus");

    let archives = template_archives();
    assert!(!archives.is_empty());
    let mut targets = Vec::new();
    for archive in &archives {
        let where_ = format!("{} {} {}", archive.file, archive.rule, archive.target);
        assert!(
            archive.paths.len() <= 100,
            "{where_}: EventBridge takes 100 paths"
        );
        assert!(
            archive.template.len() <= 8192,
            "{where_}: InputTemplate over 8192"
        );
        // CloudWatch Logs targets take exactly {"timestamp", "message": <string>}.
        let shape: Value = serde_json::from_str(&archive.template)
            .unwrap_or_else(|e| panic!("{where_}: InputTemplate is not JSON: {e}"));
        let keys: BTreeSet<&str> = shape
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, BTreeSet::from(["message", "timestamp"]), "{where_}");
        let message: Value =
            serde_json::from_str(shape["message"].as_str().expect("message string"))
                .unwrap_or_else(|e| panic!("{where_}: the message is not JSON: {e}"));
        for (key, value) in message.as_object().expect("message object") {
            let value = value
                .as_str()
                .unwrap_or_else(|| panic!("{where_}: {key} is not a string"));
            // Every placeholder is quoted: an absent path then leaves valid JSON behind.
            if let Some(name) = value.strip_prefix('<').and_then(|v| v.strip_suffix('>')) {
                assert!(
                    archive.paths.contains_key(name) || name.starts_with("aws.events."),
                    "{where_}: <{name}> undefined"
                );
            }
        }
        let route = RULES
            .iter()
            .find(|(f, r, _)| *f == archive.file && *r == archive.rule)
            .map(|(_, _, route)| *route)
            .expect("archiving rule in RULES");
        let rule_name = unique_name("archive-rule");
        events
            .put_rule()
            .name(&rule_name)
            .event_bus_name(&bus)
            .event_pattern(archive.pattern.to_string())
            .state(RuleState::Enabled)
            .send()
            .await
            .expect("PutRule");
        let archive_queue = Queue::new(&config, "archive-target").await;
        let (url, arn) = (archive_queue.url.clone(), archive_queue.arn.clone());
        let transformer = InputTransformer::builder()
            .set_input_paths_map(Some(archive.paths.clone().into_iter().collect()))
            .input_template(&archive.template)
            .build()
            .expect("InputTransformer");
        let target = Target::builder()
            .id("archive")
            .arn(arn)
            .input_transformer(transformer)
            .build()
            .expect("Target");
        let out = events
            .put_targets()
            .rule(&rule_name)
            .event_bus_name(&bus)
            .targets(target)
            .send()
            .await
            .expect("PutTargets");
        assert_eq!(out.failed_entry_count(), 0, "{:?}", out.failed_entries());
        targets.push((where_, route, url));
    }

    let samples = samples();
    let mut by_id = BTreeMap::new();
    for (name, event) in &samples {
        by_id.insert(put(&events, &bus, name, event).await, name.clone());
    }

    for (where_, route, url) in &targets {
        let mut got = BTreeSet::new();
        for body in drain_raw(&queues, url).await {
            assert!(
                !body.contains(PLANTED),
                "{where_}: a secret reached the archive: {body}"
            );
            let delivered: Value = serde_json::from_str(&body).expect("transformed body is JSON");
            assert!(
                picked(&delivered, "timestamp").is_some(),
                "{where_}: no timestamp: {body}"
            );
            let line: Value = serde_json::from_str(delivered["message"].as_str().expect("message"))
                .unwrap_or_else(|e| panic!("{where_}: archived line is not JSON ({e}): {body}"));
            let id = picked(&line, "id").unwrap_or_else(|| panic!("{where_}: no id: {line}"));
            let name = by_id
                .get(id)
                .unwrap_or_else(|| panic!("{where_}: unknown event {line}"));
            let event = &samples[name];
            for field in ["account", "region"] {
                assert_eq!(
                    picked(&line, field),
                    event[field].as_str(),
                    "{where_}: {name}: {field}"
                );
            }
            // What identifies the event survives (one field per kind of sample).
            let facts = [
                ("/detail-type", "detail_type"),
                ("/detail/TrainingJobName", "training_job"),
                ("/detail/TrainingJobStatus", "training_status"),
                ("/detail/ProcessingJobName", "processing_job"),
                ("/detail/EndpointName", "endpoint"),
                ("/detail/HealthSummary/HealthStatus", "node_health"),
                ("/detail/ClusterName", "cluster"),
                ("/detail/EventDetails/EventLevel", "cluster_event_level"),
                (
                    "/detail/EventDetails/ResourceType",
                    "cluster_event_resource_type",
                ),
                ("/detail/eventName", "event_name"),
                ("/detail/errorCode", "error_code"),
                ("/detail/userIdentity/arn", "user_arn"),
                ("/detail/requestParameters/trainingJobName", "training_job"),
            ];
            let mut checked = 0;
            for (pointer, field) in facts {
                let Some(want) = event.pointer(pointer).and_then(Value::as_str) else {
                    continue;
                };
                if line.get(field).is_none() {
                    continue; // the other archive's field
                }
                assert_eq!(
                    picked(&line, field),
                    Some(want),
                    "{where_}: {name}: {field}"
                );
                checked += 1;
            }
            assert!(
                checked > 0,
                "{where_}: {name}: no identifying field archived: {line}"
            );
            for secret_field in [
                "HyperParameters",
                "Environment",
                "FailureReason",
                "hyperParameters",
                "environment",
                "errorMessage",
                "requestParameters",
            ] {
                assert!(
                    !body.contains(secret_field),
                    "{where_}: {name}: {secret_field} archived"
                );
            }
            assert!(got.insert(name.clone()), "{where_}: {name} archived twice");
        }
        let want: BTreeSet<String> = SAMPLES
            .iter()
            .filter(|(_, routes)| routes.contains(route))
            .map(|(name, _)| name.to_string())
            .collect();
        assert_eq!(got, want, "{where_}: archived samples");
        assert!(
            want.iter().any(|n| n.contains("#secret-")),
            "{where_}: no planted secret exercises this archive"
        );
    }
}

/// Every message body in the queue, as received.
async fn drain_raw(client: &sqs::Client, url: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let out = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(300)
            .send()
            .await
            .expect("ReceiveMessage");
        if out.messages().is_empty() {
            return bodies;
        }
        bodies.extend(
            out.messages()
                .iter()
                .filter_map(|m| m.body().map(str::to_owned)),
        );
    }
}
