//! The handler with in-memory ports: a fake InvokeEndpoint whose answers are set per
//! endpoint/variant, MemoryNotifier, MemorySink.

use endpoint_canary::check::parse_check_sets;
use endpoint_canary::kind::FailureKind;
use endpoint_canary::ports::{Answer, Endpoints, Invocation, InvokeError, ModelFailure};
use endpoint_canary::{Canary, Config, Summary};
use lambda_runtime::{Context, LambdaEvent};
use sagewatch::error::{AwsError, ErrorKind};
use sagewatch::notify::MemoryNotifier;
use sagewatch::output::MemorySink;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Clone)]
enum Behaviour {
    Answer(&'static str, Option<&'static str>),
    Model(i32, &'static str),
    Aws(ErrorKind, &'static str),
    Sleep(u64),
}

#[derive(Default)]
struct FakeEndpoints {
    by_target: HashMap<(String, Option<String>), Behaviour>,
    calls: Mutex<Vec<Invocation>>,
}

impl FakeEndpoints {
    fn with(mut self, endpoint: &str, variant: Option<&str>, b: Behaviour) -> Self {
        self.by_target
            .insert((endpoint.to_owned(), variant.map(str::to_owned)), b);
        self
    }
    fn calls(&self) -> Vec<Invocation> {
        self.calls.lock().unwrap().clone()
    }
}

impl Endpoints for FakeEndpoints {
    async fn invoke(&self, inv: &Invocation) -> Result<Answer, InvokeError> {
        self.calls.lock().unwrap().push(inv.clone());
        let key = (inv.endpoint.clone(), inv.variant.clone());
        let b = self.by_target.get(&key).cloned().unwrap_or(Behaviour::Aws(
            ErrorKind::NotFound,
            "Endpoint x of account 1 not found.",
        ));
        match b {
            Behaviour::Answer(body, variant) => Ok(Answer {
                body: body.as_bytes().to_vec(),
                content_type: Some("application/json".into()),
                invoked_variant: variant.map(str::to_owned).or(inv.variant.clone()),
            }),
            Behaviour::Model(status, message) => Err(InvokeError::Model(ModelFailure {
                original_status: Some(status),
                original_message: Some(message.to_owned()),
                log_stream_arn: Some(
                    "arn:aws:logs:us-east-1:1:log-group:/aws/sagemaker/Endpoints/e".into(),
                ),
            })),
            Behaviour::Aws(kind, message) => Err(InvokeError::Aws(AwsError::new(
                "InvokeEndpoint",
                kind,
                "ValidationError",
                message,
            ))),
            Behaviour::Sleep(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(Answer::default())
            }
        }
    }
}

fn canary(
    endpoints: FakeEndpoints,
    config: Config,
) -> Canary<FakeEndpoints, MemoryNotifier, MemorySink> {
    Canary {
        endpoints,
        notifier: MemoryNotifier::default(),
        sink: MemorySink::default(),
        config,
    }
}

async fn run(c: &Canary<FakeEndpoints, MemoryNotifier, MemorySink>, payload: Value) -> Summary {
    c.handle(LambdaEvent::new(payload, Context::default()))
        .await
        .expect("handled")
}

fn sample(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

const OK: &str = r#"{"predictions":[{"label":"ok","score":0.97}]}"#;

fn metric_lines(sink: &MemorySink, metric: &str) -> Vec<Value> {
    sink.json()
        .into_iter()
        .filter(|l| l.get(metric).is_some())
        .collect()
}

#[tokio::test]
async fn the_schedule_sample_runs_one_passing_and_one_failing_check() {
    let fake = FakeEndpoints::default()
        .with("sagewatch-demo-canary", None, Behaviour::Answer(OK, Some("AllTraffic")))
        .with(
            "sagewatch-demo-canary-broken",
            None,
            Behaviour::Model(500, "Traceback: ValueError: could not convert string to float: 'abc' token=sk-abcdefghijklmnopqrstuvwxyz0123456789"),
        );
    let c = canary(fake, Config::new("arn:topic"));
    let s = run(&c, sample("endpoint-canary-schedule.json")).await;
    assert_eq!((s.passed, s.failed), (1, 1), "{s:?}");
    assert!(
        !s.alerted && c.notifier.sent().is_empty(),
        "scheduled failures never alert"
    );
    let ok = &s.checks[0];
    assert!(ok.passed && ok.latency_ms.is_some());
    assert_eq!(
        ok.variant.as_deref(),
        Some("AllTraffic"),
        "the answering variant"
    );
    let bad = &s.checks[1];
    assert_eq!(bad.kind, Some(FailureKind::ModelError));
    assert_eq!(bad.original_status, Some(500));
    assert!(bad.detail.contains("could not convert"), "{}", bad.detail);
    assert!(
        !bad.detail.contains("sk-abcdefghij"),
        "redacted: {}",
        bad.detail
    );
    assert!(bad.hint.as_deref().is_some_and(|h| !h.is_empty()));
    // The payload went as given.
    let calls = c.endpoints.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].body, br#"{"instances":[[0.5,1.5,2.5]]}"#);
    assert_eq!(calls[1].content_type, "text/csv");

    let success = metric_lines(&c.sink, "CanarySuccess");
    assert_eq!(success.len(), 2);
    assert_eq!(success[0]["CanarySuccess"], 1.0);
    assert_eq!(success[0]["VariantName"], "AllTraffic");
    assert_eq!(
        success[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["EndpointName"], ["EndpointName", "VariantName"]])
    );
    assert!(success[0]["CanaryLatency"].as_f64().is_some());
    assert_eq!(success[1]["CanarySuccess"], 0.0);
    assert!(
        success[1].get("CanaryLatency").is_none(),
        "no answer, no latency"
    );
    let errors = metric_lines(&c.sink, "CanaryErrors");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["ErrorKind"], "model_error");
    assert_eq!(errors[0]["EndpointName"], "sagewatch-demo-canary-broken");
    assert_eq!(
        errors[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["EndpointName", "ErrorKind"]])
    );
    for line in c.sink.lines() {
        assert!(
            !line.contains("0.97") && !line.contains("instances"),
            "no body in metrics: {line}"
        );
    }
}

#[tokio::test]
async fn each_error_kind_is_told_apart() {
    let fake = FakeEndpoints::default()
        .with(
            "throttled",
            None,
            Behaviour::Aws(ErrorKind::Throttled, "Rate exceeded"),
        )
        .with(
            "invalid",
            None,
            Behaviour::Aws(ErrorKind::Validation, "bad content type"),
        )
        .with(
            "denied",
            None,
            Behaviour::Aws(ErrorKind::AccessDenied, "no"),
        )
        .with("down", None, Behaviour::Aws(ErrorKind::Unavailable, "503"))
        .with("slow", None, Behaviour::Sleep(2000))
        .with(
            "wrong",
            None,
            Behaviour::Answer(r#"{"predictions":[{"label":"bad"}]}"#, None),
        )
        .with("late", None, Behaviour::Sleep(30));
    let c = canary(fake, Config::new("arn:topic"));
    let input = json!({"checks": [
        {"endpoint": "throttled"},
        {"endpoint": "invalid"},
        {"endpoint": "denied"},
        {"endpoint": "down"},
        {"endpoint": "missing"},
        {"endpoint": "slow", "timeout_ms": 50},
        {"endpoint": "wrong", "expect": {"json_pointer": "/predictions/0/label", "equals": "ok"}},
        {"endpoint": "late", "expect": {"latency_budget_ms": 5}},
    ]});
    let started = std::time::Instant::now();
    let s = run(&c, input).await;
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "the timeout cut the slow call"
    );
    let kinds: Vec<_> = s.checks.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        vec![
            Some(FailureKind::Throttled),
            Some(FailureKind::ValidationError),
            Some(FailureKind::AccessDenied),
            Some(FailureKind::ServiceError),
            Some(FailureKind::EndpointUnavailable),
            Some(FailureKind::ClientTimeout),
            Some(FailureKind::ExpectationFailed),
            Some(FailureKind::LatencyBudgetExceeded),
        ]
    );
    assert_eq!(s.failed, 8);
    let errors = metric_lines(&c.sink, "CanaryErrors");
    let dims: Vec<&str> = errors
        .iter()
        .map(|e| e["ErrorKind"].as_str().unwrap())
        .collect();
    assert_eq!(
        dims,
        [
            "throttled",
            "validation_error",
            "access_denied",
            "service_error",
            "endpoint_unavailable",
            "client_timeout",
            "expectation_failed",
            "latency_budget_exceeded"
        ]
    );
}

#[tokio::test]
async fn checks_run_concurrently_within_the_bound() {
    let mut fake = FakeEndpoints::default();
    for i in 0..8 {
        fake = fake.with(
            Box::leak(format!("e{i}").into_boxed_str()),
            None,
            Behaviour::Sleep(100),
        );
    }
    let mut config = Config::new("arn:topic");
    config.concurrency = 4;
    let c = canary(fake, config);
    let checks: Vec<Value> = (0..8)
        .map(|i| json!({"endpoint": format!("e{i}")}))
        .collect();
    let started = std::time::Instant::now();
    let s = run(&c, json!({ "checks": checks })).await;
    let took = started.elapsed();
    assert_eq!(s.passed, 8);
    // 8 checks of 100 ms, 4 at a time: two rounds, not one and not eight.
    assert!(
        took >= Duration::from_millis(190) && took < Duration::from_millis(600),
        "{took:?}"
    );
    let names: Vec<_> = s.checks.iter().map(|c| c.endpoint.clone()).collect();
    assert_eq!(
        names,
        (0..8).map(|i| format!("e{i}")).collect::<Vec<_>>(),
        "results in order"
    );
}

fn smoke_config() -> Config {
    let mut config = Config::new("arn:topic");
    config.check_sets = parse_check_sets(
        r#"{"smoke": [{"name": "ping", "body_json": {"instances": [[1]]}, "expect": {"json_pointer": "/predictions/0/label", "equals": "ok"}}]}"#,
        5000,
    )
    .unwrap();
    config
}

#[tokio::test]
async fn a_deploy_with_two_variants_tests_each_and_alerts_on_a_failure() {
    let fake = FakeEndpoints::default()
        .with(
            "sagewatch-demo-canary-2v",
            Some("blue"),
            Behaviour::Answer(OK, None),
        )
        .with(
            "sagewatch-demo-canary-2v",
            Some("green"),
            Behaviour::Model(507, "CUDA out of memory. Tried to allocate 2.00 GiB"),
        );
    let c = canary(fake, smoke_config());
    let s = run(&c, sample("endpoint-state-change-in-service-canary.json")).await;
    assert_eq!(s.check_set.as_deref(), Some("smoke"));
    assert_eq!((s.passed, s.failed), (1, 1), "{s:?}");
    let targeted: Vec<_> = c
        .endpoints
        .calls()
        .iter()
        .map(|i| i.variant.clone())
        .collect();
    assert_eq!(targeted, vec![Some("blue".into()), Some("green".into())]);
    assert!(s.alerted);
    let sent = c.notifier.sent();
    assert_eq!(sent.len(), 1);
    let n = &sent[0];
    assert!(
        n.subject.contains("sagewatch-demo-canary-2v"),
        "{}",
        n.subject
    );
    assert_eq!(n.attributes["source"], "endpoint-canary");
    assert_eq!(n.attributes["category"], "model_error");
    assert_eq!(n.attributes["endpoint"], "sagewatch-demo-canary-2v");
    assert!(
        n.text.contains("ping/green") && n.text.contains("507"),
        "{}",
        n.text
    );
    assert_eq!(n.report["failed"], 1);
    assert_eq!(n.report["checks"][1]["category"], "out_of_memory");
    let success = metric_lines(&c.sink, "CanarySuccess");
    let by_variant: Vec<_> = success
        .iter()
        .map(|l| {
            (
                l["VariantName"].as_str().unwrap().to_owned(),
                l["CanarySuccess"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        by_variant,
        vec![("blue".into(), 1.0), ("green".into(), 0.0)]
    );
}

#[tokio::test]
async fn a_passing_smoke_test_does_not_alert_and_other_events_are_skipped() {
    let fake = FakeEndpoints::default()
        .with(
            "sagewatch-demo-canary-2v",
            Some("blue"),
            Behaviour::Answer(OK, None),
        )
        .with(
            "sagewatch-demo-canary-2v",
            Some("green"),
            Behaviour::Answer(OK, None),
        );
    let c = canary(fake, smoke_config());
    let s = run(&c, sample("endpoint-state-change-in-service-canary.json")).await;
    assert_eq!((s.passed, s.failed, s.alerted), (2, 0, false));
    assert!(c.notifier.sent().is_empty());

    // The doc sample: InService, but no tag and no default set.
    let s = run(&c, sample("endpoint-state-change.json")).await;
    assert!(
        s.skipped
            .as_deref()
            .is_some_and(|w| w.contains("sagewatch:canary")),
        "{s:?}"
    );
    // Not InService.
    let mut updating = sample("endpoint-state-change-in-service-canary.json");
    updating["detail"]["EndpointStatus"] = json!("Updating");
    let s = run(&c, updating).await;
    assert!(
        s.skipped.as_deref().is_some_and(|w| w.contains("Updating")),
        "{s:?}"
    );
    assert_eq!(c.endpoints.calls().len(), 2, "only the first event invoked");
}

#[tokio::test]
async fn a_retryable_alert_failure_fails_the_invocation() {
    let fake = FakeEndpoints::default();
    let c = canary(fake, smoke_config());
    c.notifier.fail_next(AwsError::new(
        "Publish",
        ErrorKind::Throttled,
        "Throttling",
        "slow",
    ));
    let r = c
        .handle(LambdaEvent::new(
            sample("endpoint-state-change-in-service-canary.json"),
            Context::default(),
        ))
        .await;
    assert!(r.is_err(), "throttled publish is retried");
    c.notifier.fail_next(AwsError::new(
        "Publish",
        ErrorKind::AccessDenied,
        "AuthorizationError",
        "no",
    ));
    let s = run(&c, sample("endpoint-state-change-in-service-canary.json")).await;
    assert!(
        !s.alerted && s.failed == 2,
        "a refused publish is logged, the result stands"
    );
}

#[tokio::test]
async fn bad_input_is_counted_and_calls_nothing() {
    let c = canary(FakeEndpoints::default(), smoke_config());
    let cases = [
        (json!({"hello": 1}), "unrecognised_payload"),
        (json!({"checks": "nope"}), "invalid_schedule_input"),
        (json!({"checks": []}), "invalid_check"),
        (
            json!({"checks": [{"endpoint": "e", "body_base64": "%%%"}]}),
            "invalid_check",
        ),
        (
            json!({"checks": [{"endpoint": "e", "surprise": true}]}),
            "invalid_schedule_input",
        ),
        (json!({"detail-type": 7}), "malformed_event"),
    ];
    for (payload, reason) in cases {
        c.sink.clear();
        let s = run(&c, payload.clone()).await;
        assert!(s.invalid.is_some(), "{payload}");
        let lines = c.sink.json();
        assert_eq!(lines.len(), 1, "{payload}");
        assert_eq!(lines[0]["InvalidEvents"], 1.0);
        assert_eq!(lines[0]["reason"], reason, "{payload}");
    }
    let mut unknown = sample("endpoint-state-change-in-service-canary.json");
    unknown["detail"]["Tags"]["sagewatch:canary"] = json!("nope");
    c.sink.clear();
    let s = run(&c, unknown).await;
    assert!(s.invalid.is_some());
    assert_eq!(c.sink.json()[0]["reason"], "unknown_check_set");
    assert!(c.endpoints.calls().is_empty());
}

#[tokio::test]
async fn bodies_are_logged_only_with_the_debug_flag() {
    // The flag only changes logging; the results are the same (the log text itself is
    // tracing output, checked by reading the code path: debug_text redacts and bounds).
    let fake = FakeEndpoints::default().with("e", None, Behaviour::Answer(OK, None));
    let mut config = Config::new("arn:topic");
    config.debug_bodies = true;
    let c = canary(fake, config);
    let s = run(
        &c,
        json!({"checks": [{"endpoint": "e", "body": "password=hunter2"}]}),
    )
    .await;
    assert_eq!(s.passed, 1);
    for line in c.sink.lines() {
        assert!(!line.contains("hunter2"));
    }
}
