//! The handler with in-memory ports: bad input, the safety switches, retryable failures.

use chrono::{Duration, Utc};
use endpoint_guard::alarms::{Alarm, Variant};
use endpoint_guard::idle::Action;
use endpoint_guard::ports::{
    Alarms, DeleteOutcome, EndpointSummary, EndpointView, Endpoints, ExistingAlarm, Metrics, Series,
};
use endpoint_guard::{Config, Guard, Summary};
use lambda_runtime::{Context, LambdaEvent};
use sagewatch::error::{AwsError, ErrorKind};
use sagewatch::notify::MemoryNotifier;
use sagewatch::output::MemorySink;
use sagewatch::testing::sample;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

#[derive(Default)]
struct Calls(Mutex<Vec<String>>);

impl Calls {
    fn push(&self, c: &str) {
        self.0.lock().unwrap().push(c.to_owned());
    }
    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// One old, idle, tagged endpoint; alarms that can be made to throttle.
#[derive(Default)]
struct Fake {
    calls: Calls,
    throttle_puts: bool,
}

fn view() -> EndpointView {
    EndpointView {
        name: "old".into(),
        arn: Some("arn:aws:sagemaker:us-east-1:123456789012:endpoint/old".into()),
        config_name: Some("old-config".into()),
        status: "InService".into(),
        creation_time: Some(Utc::now() - Duration::days(3)),
        variants: vec![Variant {
            name: "AllTraffic".into(),
            instance_type: Some("ml.m5.xlarge".into()),
            instance_count: 1,
            serverless: false,
        }],
    }
}

impl Endpoints for &Fake {
    async fn describe(&self, _name: &str) -> Result<Option<EndpointView>, AwsError> {
        self.calls.push("DescribeEndpoint");
        Ok(Some(view()))
    }
    async fn list_in_service(&self) -> Result<Vec<EndpointSummary>, AwsError> {
        self.calls.push("ListEndpoints");
        let v = view();
        Ok(vec![EndpointSummary {
            name: v.name,
            arn: v.arn,
            creation_time: v.creation_time,
            last_modified_time: v.creation_time,
        }])
    }
    async fn tags(&self, _arn: &str) -> Result<BTreeMap<String, String>, AwsError> {
        self.calls.push("ListTags");
        Ok([("sagewatch:idle-action".to_owned(), "delete".to_owned())].into())
    }
    async fn delete(&self, _name: &str) -> Result<DeleteOutcome, AwsError> {
        self.calls.push("DeleteEndpoint");
        Ok(DeleteOutcome::Deleting)
    }
}

impl Alarms for &Fake {
    async fn list(&self, _prefix: &str) -> Result<Vec<ExistingAlarm>, AwsError> {
        self.calls.push("DescribeAlarms");
        Ok(Vec::new())
    }
    async fn put(&self, _alarm: &Alarm, _actions: &[String]) -> Result<(), AwsError> {
        self.calls.push("PutMetricAlarm");
        if self.throttle_puts {
            return Err(AwsError::new(
                "PutMetricAlarm",
                ErrorKind::Throttled,
                "Throttling",
                "slow down",
            ));
        }
        Ok(())
    }
    async fn delete(&self, _names: &[String]) -> Result<(), AwsError> {
        self.calls.push("DeleteAlarms");
        Ok(())
    }
}

impl Metrics for &Fake {
    async fn invocation_sums(
        &self,
        series: &[Series],
        _start: chrono::DateTime<Utc>,
        _end: chrono::DateTime<Utc>,
    ) -> Result<HashMap<Series, f64>, AwsError> {
        self.calls.push("GetMetricData");
        Ok(series.iter().map(|s| (s.clone(), 0.0)).collect())
    }
}

fn guard(
    fake: &Fake,
    tweak: impl FnOnce(&mut Config),
) -> Guard<&Fake, &Fake, &Fake, MemoryNotifier, MemorySink> {
    let mut config = Config::new("arn:aws:sns:us-east-1:123456789012:alerts");
    tweak(&mut config);
    Guard {
        endpoints: fake,
        alarms: fake,
        metrics: fake,
        notifier: MemoryNotifier::default(),
        chat: None,
        sink: MemorySink::default(),
        config,
    }
}

async fn run(
    g: &Guard<&Fake, &Fake, &Fake, MemoryNotifier, MemorySink>,
    payload: Value,
) -> Result<Summary, lambda_runtime::Error> {
    g.handle(LambdaEvent::new(payload, Context::default()))
        .await
}

#[tokio::test]
async fn bad_input_is_counted_and_calls_nothing() {
    let fake = Fake::default();
    let g = guard(&fake, |_| {});
    for payload in [json!("nope"), sample("training-job-state-change.json"), {
        let mut e = sample("endpoint-state-change-in-service-2-variants.json");
        e["detail"]["EndpointName"] = json!("");
        e
    }] {
        run(&g, payload).await.expect("bad input succeeds");
    }
    assert!(fake.calls.all().is_empty(), "{:?}", fake.calls.all());
    let invalid = g
        .sink
        .json()
        .iter()
        .filter(|l| l["InvalidEvents"] == 1.0)
        .count();
    assert_eq!(invalid, 3);
}

#[tokio::test]
async fn a_tagged_idle_endpoint_is_deleted_only_without_dry_run_and_kill_switch() {
    let idle = sample("endpoint-guard-idle-check.json");
    let cases: [(bool, bool, Action); 3] = [
        (true, false, Action::DryRun),
        (false, true, Action::Disabled),
        (false, false, Action::Deleted),
    ];
    for (dry_run, kill_switch, want) in cases {
        let fake = Fake::default();
        let g = guard(&fake, |c| {
            c.dry_run = dry_run;
            c.kill_switch = kill_switch;
        });
        let Summary::Idle(r) = run(&g, idle.clone()).await.unwrap() else {
            panic!("not an idle run")
        };
        assert_eq!(r.idle.len(), 1);
        assert_eq!(r.idle[0].action, want);
        let deletes = fake
            .calls
            .all()
            .iter()
            .filter(|c| *c == "DeleteEndpoint")
            .count();
        assert_eq!(
            deletes,
            usize::from(want == Action::Deleted),
            "{dry_run} {kill_switch}"
        );
        assert_eq!(g.notifier.sent().len(), 1);
    }
}

#[tokio::test]
async fn a_throttled_put_fails_the_delivery_for_a_retry() {
    let fake = Fake {
        throttle_puts: true,
        ..Fake::default()
    };
    let g = guard(&fake, |_| {});
    let err = run(
        &g,
        sample("endpoint-state-change-in-service-2-variants.json"),
    )
    .await;
    assert!(err.is_err());
    assert_eq!(
        fake.calls
            .all()
            .iter()
            .filter(|c| *c == "PutMetricAlarm")
            .count(),
        1
    );
}

#[tokio::test]
async fn another_accounts_endpoint_touches_no_alarm_here() {
    let fake = Fake::default();
    let g = guard(&fake, |c| {
        c.common.home_account = Some("999999999999".into())
    });
    let Summary::Alarms(sync) = run(&g, sample("endpoint-state-change-deleting.json"))
        .await
        .unwrap()
    else {
        panic!("not an alarm sync")
    };
    assert_eq!(sync.decision, "other_account");
    assert!(fake.calls.all().is_empty(), "{:?}", fake.calls.all());
    // The same event in its own account removes the endpoint's alarms.
    let g = guard(&fake, |c| {
        c.common.home_account = Some("123456789012".into())
    });
    run(&g, sample("endpoint-state-change-deleting.json"))
        .await
        .unwrap();
    assert_eq!(fake.calls.all(), ["DescribeAlarms"]);
}

#[tokio::test]
async fn reconcile_gives_an_unalarmed_endpoint_its_alarms_and_counts_it() {
    let fake = Fake::default();
    let g = guard(&fake, |_| {});
    let Summary::Reconcile(done) = run(&g, json!({"action": "reconcile"})).await.unwrap() else {
        panic!("not a reconciliation");
    };
    assert_eq!(done.listed, 1);
    assert_eq!(done.synced.len(), 1);
    assert!(done.synced[0].reconciled);
    assert!(!done.synced[0].put.is_empty());
    let calls = fake.calls.all();
    assert_eq!(calls[..3], ["ListEndpoints", "DescribeAlarms", "ListTags"]);
    let counted: Vec<Value> = g
        .sink
        .json()
        .into_iter()
        .filter(|l| l["ReconciledEvents"] == json!(1.0))
        .collect();
    assert_eq!(counted.len(), 1, "{counted:?}");
    assert_eq!(counted[0]["Kind"], json!("Endpoint"));
    // Nothing is published for a repair: the alarms themselves are the effect.
    assert!(g.notifier.sent().is_empty());

    // A throttled put fails the run: the schedule's retry (or the next run) finishes it.
    let throttled = Fake {
        throttle_puts: true,
        ..Fake::default()
    };
    let g = guard(&throttled, |_| {});
    assert!(run(&g, json!({"action": "reconcile"})).await.is_err());
}

#[tokio::test]
async fn the_idle_digest_also_goes_to_chat_as_a_custom_notification_best_effort() {
    let fake = Fake::default();
    let mut g = guard(&fake, |c| {
        c.common.home_account = Some("123456789012".into())
    });
    g.chat = Some(MemoryNotifier::default());
    let Summary::Idle(r) = run(&g, sample("endpoint-guard-idle-check.json"))
        .await
        .unwrap()
    else {
        panic!("not an idle run")
    };
    assert_eq!(r.idle.len(), 1);
    assert_eq!(g.notifier.sent().len(), 1, "the e-mail/JSON digest");
    let chat = g.chat.as_ref().unwrap().sent();
    assert_eq!(chat.len(), 1);
    let doc = &chat[0].report;
    sagewatch::chat::check(doc).unwrap_or_else(|e| panic!("{e}: {doc}"));
    assert_eq!(
        doc["content"]["title"],
        json!(":zzz: 1 idle SageMaker endpoint(s)")
    );
    let description = doc["content"]["description"].as_str().unwrap();
    assert!(description.contains("old: ml.m5.xlarge"), "{description}");
    assert_eq!(
        doc["metadata"]["threadId"],
        json!("sagewatch-idle-123456789012-us-east-1")
    );
    assert_eq!(
        doc["metadata"]["relatedResources"],
        json!(["arn:aws:sagemaker:us-east-1:123456789012:endpoint/old"])
    );

    // The chat topic failing does not fail the run (the digest went out): counted.
    let fake = Fake::default();
    let mut g = guard(&fake, |_| {});
    let chat = MemoryNotifier::default();
    chat.fail_next(AwsError::new(
        "Publish",
        ErrorKind::Throttled,
        "Throttling",
        "slow down",
    ));
    g.chat = Some(chat);
    assert!(run(&g, sample("endpoint-guard-idle-check.json"))
        .await
        .is_ok());
    assert_eq!(g.notifier.sent().len(), 1);
    assert!(g
        .sink
        .json()
        .iter()
        .any(|l| l["ChatNoticeFailures"] == json!(1.0)));
}
