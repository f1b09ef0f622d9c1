//! endpoint-canary against the local emulator with the real SDK clients: InvokeEndpoint
//! results seeded through the emulator's control API (infra/local/runtime_ext.py), alerts
//! received by an SQS subscriber, AWS calls counted.

use aws_sdk_sagemakerruntime as smr;
use aws_sdk_sns as sns;
use endpoint_canary::adapter::SageMakerEndpoints;
use endpoint_canary::check::parse_check_sets;
use endpoint_canary::kind::FailureKind;
use endpoint_canary::{Canary, Config};
use lambda_runtime::{Context, LambdaEvent};
use sagewatch::output::MemorySink;
use sagewatch_aws::sns::SnsNotifier;
use sagewatch_emulator::{unique_name, CallCounter, Emulator, Inbox};
use serde_json::{json, Value};

async fn seed(emu: &Emulator, endpoint: &str, results: Value) {
    emu.control(
        "POST",
        &format!("/_sagewatch/sagemaker-runtime/endpoints/{endpoint}"),
        Some(&json!({ "results": results })),
    )
    .await
    .expect("seeded");
}

#[tokio::test]
async fn every_mode_against_the_emulator() {
    let emu = Emulator::shared().await;
    let config = emu.sdk_config().await;
    let calls = CallCounter::default();
    let runtime = smr::Client::from_conf(
        smr::config::Builder::from(&config)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .interceptor(calls.clone())
            .build(),
    );
    let inbox = Inbox::new(&config, "canary").await;
    let ok = unique_name("ok");
    let model = unique_name("model");
    let throttled = unique_name("thr");
    let slow = unique_name("slow");
    let two = unique_name("twov");
    seed(
        emu,
        &ok,
        json!({"*": {"body": r#"{"predictions":[{"label":"ok"}]}"#, "variant": "AllTraffic"}}),
    )
    .await;
    seed(emu, &model, json!({"*": {"error": "ModelError", "original_status": 400, "original_message": "ValueError: could not convert string to float"}})).await;
    seed(
        emu,
        &throttled,
        json!({"*": {"error": "ThrottlingException"}}),
    )
    .await;
    seed(emu, &slow, json!({"*": {"body": "{}", "delay_ms": 1500}})).await;
    seed(
        emu,
        &two,
        json!({
            "blue": {"body": r#"{"predictions":[{"label":"ok"}]}"#},
            "green": {"body": r#"{"predictions":[{"label":"wrong"}]}"#}
        }),
    )
    .await;
    seed(emu, "gone-endpoint", json!({"*": {"error": "NotFound"}})).await;

    let mut cfg = Config::new(&inbox.topic_arn);
    cfg.check_sets = parse_check_sets(
        r#"{"smoke": [{"name": "ping", "body": "x", "expect": {"json_pointer": "/predictions/0/label", "equals": "ok"}}]}"#,
        5000,
    )
    .unwrap();
    let canary = Canary {
        endpoints: SageMakerEndpoints::with_client(runtime),
        notifier: SnsNotifier::new(sns::Client::new(&config), inbox.topic_arn.clone()),
        sink: MemorySink::default(),
        config: cfg,
    };
    let input = json!({"checks": [
        {"endpoint": ok, "body": "x", "expect": {"json_pointer": "/predictions/0/label", "equals": "ok"}},
        {"endpoint": model, "body": "x"},
        {"endpoint": throttled, "body": "x"},
        {"endpoint": slow, "body": "x", "timeout_ms": 300},
        {"endpoint": "gone-endpoint", "body": "x"},
    ]});
    let s = canary
        .handle(LambdaEvent::new(input, Context::default()))
        .await
        .unwrap();
    let kinds: Vec<_> = s.checks.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        vec![
            None,
            Some(FailureKind::ModelError),
            Some(FailureKind::Throttled),
            Some(FailureKind::ClientTimeout),
            Some(FailureKind::EndpointUnavailable),
        ],
        "{s:?}"
    );
    assert_eq!(s.checks[0].variant.as_deref(), Some("AllTraffic"));
    assert_eq!(s.checks[1].original_status, Some(400));
    assert_eq!(
        calls.total(),
        5,
        "one InvokeEndpoint per check, no retries: {:?}",
        calls.counts()
    );
    let success: Vec<f64> = canary
        .sink
        .json()
        .iter()
        .filter_map(|l| l.get("CanarySuccess")?.as_f64())
        .collect();
    assert_eq!(success, vec![1.0, 0.0, 0.0, 0.0, 0.0]);
    assert!(
        inbox.drain().await.is_empty(),
        "scheduled failures do not alert"
    );

    // Smoke test of a two-variant endpoint: one check per variant, one alert.
    calls.reset();
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/endpoint-state-change-in-service-canary.json"
        ))
        .unwrap(),
    )
    .unwrap();
    event["detail"]["EndpointName"] = json!(two);
    let s = canary
        .handle(LambdaEvent::new(event, Context::default()))
        .await
        .unwrap();
    assert_eq!((s.passed, s.failed, s.alerted), (1, 1, true), "{s:?}");
    assert_eq!(s.checks[1].variant.as_deref(), Some("green"));
    assert_eq!(calls.total(), 2);
    let got = inbox.drain().await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].attributes.get("category").map(String::as_str),
        Some("expectation_failed")
    );
}
