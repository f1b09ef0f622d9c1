//! failure-enricher against the local emulator with the real SDK clients: jobs seeded through
//! the emulator's control API, logs written with PutLogEvents, the report received by an SQS
//! subscriber of the SNS topic, AWS calls counted by an interceptor.

use aws_sdk_cloudwatch as cw;
use aws_sdk_cloudwatchlogs as cwl;
use aws_sdk_dynamodb as ddb;
use aws_sdk_sagemaker as sm;
use aws_sdk_sns as sns;
use failure_enricher::adapter::{Clients, JobAccounts};
use failure_enricher::logs::LogBudget;
use failure_enricher::{Config, Enricher, Outcome};
use lambda_runtime::{Context, LambdaEvent};
use sagewatch::claims::{schema, ClaimStore, NoClaims};
use sagewatch::config::Common;
use sagewatch::output::MemorySink;
use sagewatch_aws::claims::DynamoClaims;
use sagewatch_aws::sns::SnsNotifier;
use sagewatch_emulator::{
    create_dedupe_table, unique_name, CallCounter, Emulator, Inbox, JobKind, LoseAnswers,
    ACCOUNT_ID,
};
use serde_json::{json, Value};

struct Fixture {
    emu: &'static Emulator,
    logs: cwl::Client,
    inbox: Inbox,
    calls: CallCounter,
    accounts: JobAccounts,
    notifier: SnsNotifier,
}

async fn fixture() -> Fixture {
    let emu = Emulator::shared().await;
    let config = emu.sdk_config().await;
    let calls = CallCounter::default();
    let counted = Clients {
        sagemaker: sm::Client::from_conf(
            sm::config::Builder::from(&config)
                .interceptor(calls.clone())
                .build(),
        ),
        logs: cwl::Client::from_conf(
            cwl::config::Builder::from(&config)
                .interceptor(calls.clone())
                .build(),
        ),
        cloudwatch: cw::Client::from_conf(
            cw::config::Builder::from(&config)
                .interceptor(calls.clone())
                .build(),
        ),
    };
    let counted_sns = sns::Client::from_conf(
        sns::config::Builder::from(&config)
            .interceptor(calls.clone())
            .build(),
    );
    let inbox = Inbox::new(&config, "alerts").await;
    let notifier = SnsNotifier::new(counted_sns, inbox.topic_arn.clone());
    Fixture {
        emu,
        logs: cwl::Client::new(&config),
        inbox,
        calls,
        accounts: JobAccounts::with_clients(config.clone(), counted),
        notifier,
    }
}

fn config() -> Config {
    let mut common = Common::new(failure_enricher::FUNCTION);
    common.home_account = Some(ACCOUNT_ID.into());
    Config {
        common,
        budget: LogBudget::default(),
        alerts_topic_arn: String::new(),
        chat_topic_arn: None,
        claims: None,
    }
}

impl Fixture {
    fn enricher<C: ClaimStore>(
        &self,
        claims: C,
    ) -> Enricher<&JobAccounts, &JobAccounts, SnsNotifier, C, MemorySink> {
        Enricher {
            jobs: &self.accounts,
            logs: &self.accounts,
            notifier: self.notifier.clone(),
            chat: None,
            claims,
            sink: MemorySink::default(),
            config: config(),
        }
    }

    async fn group(&self, group: &str) {
        // Log groups are shared by every test of this process; creating one twice is fine.
        let _ = self
            .logs
            .create_log_group()
            .log_group_name(group)
            .send()
            .await;
    }

    async fn stream(&self, group: &str, stream: &str, lines: &[String]) {
        self.logs
            .create_log_stream()
            .log_group_name(group)
            .log_stream_name(stream)
            .send()
            .await
            .unwrap();
        let now = chrono::Utc::now().timestamp_millis() - 60_000;
        for (chunk_no, chunk) in lines.chunks(5000).enumerate() {
            let events: Vec<cwl::types::InputLogEvent> = chunk
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    cwl::types::InputLogEvent::builder()
                        .timestamp(now + (chunk_no * 5000 + i) as i64)
                        .message(l)
                        .build()
                        .unwrap()
                })
                .collect();
            self.logs
                .put_log_events()
                .log_group_name(group)
                .log_stream_name(stream)
                .set_log_events(Some(events))
                .send()
                .await
                .unwrap();
        }
    }
}

fn failed_event(name: &str) -> Value {
    json!({
        "version": "0", "id": unique_name("evt"), "detail-type": "SageMaker Training Job State Change",
        "source": "aws.sagemaker", "account": ACCOUNT_ID, "region": "us-east-1", "time": "2026-11-21T10:00:00Z",
        "resources": [format!("arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}:training-job/{name}")],
        "detail": {"TrainingJobName": name, "TrainingJobStatus": "Failed", "SecondaryStatus": "Failed"}
    })
}

async fn invoke<C: ClaimStore>(
    e: &Enricher<&JobAccounts, &JobAccounts, SnsNotifier, C, MemorySink>,
    payload: Value,
) -> Result<Outcome, String> {
    e.handle(LambdaEvent::new(payload, Context::default()))
        .await
        .map_err(|e| e.to_string())
}

const SECRET_ARG: &str = "sk-live-0123456789abcdef";
const SECRET_HP: &str = "hf_TopSecretValue42";

#[tokio::test]
async fn failed_job_with_three_hosts_and_a_decoy_stream_is_reported_once_redacted_within_budget() {
    let f = fixture().await;
    let name = unique_name("train");
    f.emu
        .seed_job(
            JobKind::Training,
            &name,
            json!({
                "TrainingJobStatus": "Failed",
                "FailureReason": format!("AlgorithmError: ExecuteUserScriptError:\nExitCode 1\nErrorMessage \"\"\nCommand \"/opt/conda/bin/python3.10 train.py --epochs 3 --api_key={SECRET_ARG}\", exit code: 1"),
                "ResourceConfig": {"InstanceType": "ml.g5.2xlarge", "InstanceCount": 3, "VolumeSizeInGB": 50},
                "HyperParameters": {"epochs": "3", "hf_token": SECRET_HP},
            }),
        )
        .await;
    let group = "/aws/sagemaker/TrainingJobs";
    f.group(group).await;
    let normal = |h: u32| {
        (0..50)
            .map(|i| format!("[algo-{h}] step {i} loss 0.{i}"))
            .collect::<Vec<_>>()
    };
    f.stream(group, &format!("{name}/algo-1-1763719200"), &normal(1))
        .await;
    let mut oom = normal(2);
    oom.extend([
        "Traceback (most recent call last):".to_owned(),
        "  File \"train.py\", line 88, in <module>".to_owned(),
        "    download('https://b.s3.amazonaws.com/w.bin?X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20261121&X-Amz-Signature=0123456789abcdef0123')".to_owned(),
        "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 4.00 GiB (GPU 0; 22.19 GiB total capacity; 19.02 GiB already allocated)".to_owned(),
    ]);
    f.stream(group, &format!("{name}/algo-2-1763719200"), &oom)
        .await;
    f.stream(group, &format!("{name}/algo-3-1763719200"), &normal(3))
        .await;
    // The decoy: `<name>-2` starts with `<name>` but is another job.
    f.stream(
        group,
        &format!("{name}-2/algo-1-1763719200"),
        &["OSError: [Errno 28] No space left on device DECOY".to_owned()],
    )
    .await;

    let e = f.enricher(NoClaims);
    f.calls.reset();
    let out = invoke(&e, failed_event(&name)).await.unwrap();
    assert!(matches!(out, Outcome::Reported { .. }), "{out:?}");

    // Calls: Describe, one DescribeLogStreams page, one GetLogEvents per host, Publish.
    let counts = f.calls.counts();
    assert_eq!(counts.get("DescribeTrainingJob"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("DescribeLogStreams"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("GetLogEvents"), Some(&3), "{counts:?}");
    assert_eq!(counts.get("Publish"), Some(&1), "{counts:?}");
    assert_eq!(f.calls.total(), 6, "{counts:?}");

    let received = f.inbox.drain().await;
    assert_eq!(received.len(), 1);
    let (report, attrs) = (&received[0].body, &received[0].attributes);
    assert_eq!(report["category"], "out_of_memory", "{report:#}");
    assert_eq!(report["job_name"], name.as_str());
    assert_eq!(report["instance_type"], "ml.g5.2xlarge");
    assert_eq!(report["log_streams_found"], 3);
    assert_eq!(report["log_streams_read"], 3);
    let evidence = report["evidence"].as_array().unwrap();
    assert!(!evidence.is_empty());
    for ev in evidence {
        let host = ev["host"].as_str().unwrap();
        assert!(
            ["FailureReason", "algo-1", "algo-2", "algo-3"].contains(&host),
            "{ev}"
        );
    }
    assert!(evidence
        .iter()
        .any(|ev| ev["host"] == "algo-2"
            && ev["text"].as_str().unwrap().contains("CUDA out of memory")));
    let body = report.to_string();
    for leaked in [
        "DECOY",
        SECRET_ARG,
        SECRET_HP,
        "AKIAIOSFODNN7EXAMPLE",
        "0123456789abcdef0123",
    ] {
        assert!(!body.contains(leaked), "{leaked} leaked: {body}");
    }
    assert_eq!(report["hyperparameters"]["hf_token"], "[REDACTED]");
    assert_eq!(
        attrs.get("category").map(String::as_str),
        Some("out_of_memory")
    );
    assert_eq!(attrs.get("job_type").map(String::as_str), Some("training"));
    assert_eq!(attrs.get("account").map(String::as_str), Some(ACCOUNT_ID));
    assert_eq!(attrs.get("region").map(String::as_str), Some("us-east-1"));

    let lines = e.sink.lines();
    let emf: Vec<&String> = lines.iter().filter(|l| l.contains("\"_aws\"")).collect();
    // `Failures` by [ResourceType, Category], and the dashboard's `FailedJobs`.
    assert_eq!(emf.len(), 2);
    for l in &emf {
        sagewatch::emf::spec::validate(l).unwrap();
    }
    let doc: Value = serde_json::from_str(emf[1]).unwrap();
    assert_eq!(
        (
            doc["FailedJobs"].as_f64(),
            doc["JobType"].as_str(),
            doc["Category"].as_str()
        ),
        (Some(1.0), Some("training"), Some("out_of_memory"))
    );
    let line: Value =
        serde_json::from_str(lines.iter().find(|l| l.contains("job_failure")).unwrap()).unwrap();
    assert_eq!(line["signature_hash"], report["signature_hash"]);
}

#[tokio::test]
async fn a_job_that_does_not_exist_is_rejected_without_publishing() {
    let f = fixture().await;
    let e = f.enricher(NoClaims);
    f.calls.reset();
    let out = invoke(
        &e,
        json!({"job_type": "processing", "job_name": unique_name("nope")}),
    )
    .await
    .unwrap();
    assert!(
        matches!(out, Outcome::Rejected { ref reason, .. } if reason == "job_not_found"),
        "{out:?}"
    );
    assert_eq!(f.calls.counts().get("DescribeProcessingJob"), Some(&1));
    assert_eq!(f.calls.total(), 1);
    assert!(f.inbox.drain().await.is_empty());
}

#[tokio::test]
async fn processing_exit_message_and_transform_without_data_logs() {
    let f = fixture().await;
    let p = unique_name("proc");
    f.emu
        .seed_job(JobKind::Processing, &p, json!({
            "ProcessingJobStatus": "Failed",
            "FailureReason": "AlgorithmError: See job logs for more information",
            "ExitMessage": "Traceback (most recent call last):\n  File \"/opt/ml/processing/input/code/preprocess.py\", line 12\nKeyError: 'label'",
        }))
        .await;
    let e = f.enricher(NoClaims);
    let Outcome::Reported { report } = invoke(&e, json!({"job_type": "processing", "job_name": p}))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(report["job_type"], "processing");
    assert_eq!(
        report["log_streams_found"], 0,
        "no log group streams: reported from Describe alone"
    );
    assert!(
        report["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["host"] == "ExitMessage"),
        "{report:#}"
    );

    let t = unique_name("tr");
    f.emu
        .seed_job(JobKind::Transform, &t, json!({"TransformJobStatus": "Failed", "FailureReason": "ClientError: See job logs for more information"}))
        .await;
    let group = "/aws/sagemaker/TransformJobs";
    f.group(group).await;
    f.stream(
        group,
        &format!("{t}/i-0123456789abcdef0-1763719200"),
        &["java.lang.OutOfMemoryError: Java heap space".to_owned()],
    )
    .await;
    f.stream(
        group,
        &format!("{t}/i-0123456789abcdef0-1763719200/data-log"),
        &["DATA RECORD DECOY".to_owned()],
    )
    .await;
    f.calls.reset();
    let Outcome::Reported { report } = invoke(&e, json!({"job_type": "transform", "job_name": t}))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(report["log_streams_found"], 1);
    assert_eq!(report["category"], "out_of_memory", "{report:#}");
    assert!(!report.to_string().contains("DECOY"));
    assert_eq!(f.calls.counts().get("DescribeTransformJob"), Some(&1));
    assert_eq!(f.calls.counts().get("GetLogEvents"), Some(&1));
    assert_eq!(f.inbox.drain().await.len(), 2);
}

#[tokio::test]
async fn the_budget_holds_on_a_large_job_and_each_host_is_read_once() {
    let f = fixture().await;
    let name = unique_name("big");
    f.emu.seed_job(JobKind::Training, &name, json!({"TrainingJobStatus": "Failed", "FailureReason": "AlgorithmError: see logs", "ResourceConfig": {"InstanceType": "ml.p4d.24xlarge", "InstanceCount": 20, "VolumeSizeInGB": 50}})).await;
    let group = "/aws/sagemaker/TrainingJobs";
    f.group(group).await;
    let filler = "x".repeat(200);
    for h in 1..=20 {
        let lines: Vec<String> = (0..1500)
            .map(|i| format!("[algo-{h}] step {i} {filler}"))
            .collect();
        f.stream(group, &format!("{name}/algo-{h}-1763719200"), &lines)
            .await;
    }
    let e = f.enricher(NoClaims);
    f.calls.reset();
    let Outcome::Reported { report } =
        invoke(&e, json!({"job_type": "training", "job_name": name}))
            .await
            .unwrap()
    else {
        panic!()
    };
    let b = LogBudget::default();
    assert_eq!(report["log_streams_found"], 20);
    assert_eq!(report["log_streams_read"], b.max_hosts);
    assert!(
        report["log_bytes_read"].as_u64().unwrap() <= b.max_bytes as u64,
        "{}",
        report["log_bytes_read"]
    );
    assert!(report["log_events_read"].as_u64().unwrap() <= b.max_events as u64);
    assert_eq!(report["log_truncated"], true);
    assert_eq!(
        f.calls.counts().get("GetLogEvents"),
        Some(&b.max_hosts),
        "{:?}",
        f.calls.counts()
    );
    assert_eq!(f.calls.total(), 1 + 1 + b.max_hosts + 1);
    f.inbox.drain().await;
}

#[tokio::test]
async fn a_claim_whose_answer_was_lost_still_reports() {
    // Issue #11 item 1: DynamoDB commits the claim, the answer is lost, the SDK retries the
    // same put and meets its own write. Before, that was a "duplicate": no report, nothing
    // in the DLQ.
    let f = fixture().await;
    let config = f.emu.sdk_config().await;
    let table = unique_name("lost");
    create_dedupe_table(&config, &table).await;
    let lose = LoseAnswers::new("PutItem", 1);
    let dynamo = ddb::Client::from_conf(
        ddb::config::Builder::from(&config)
            .interceptor(lose.clone())
            .build(),
    );
    let name = unique_name("lost");
    f.emu.seed_job(JobKind::Training, &name, json!({"TrainingJobStatus": "Failed", "FailureReason": "CapacityError: Unable to provision requested ML compute capacity."})).await;
    let e = f.enricher(DynamoClaims::new(dynamo, &table));
    let out = invoke(&e, failed_event(&name)).await.unwrap();
    assert_eq!(lose.left(), 0, "the answer was lost once");
    assert!(matches!(out, Outcome::Reported { .. }), "{out:?}");
    assert_eq!(f.inbox.drain().await.len(), 1);
    assert!(matches!(
        invoke(&e, failed_event(&name)).await.unwrap(),
        Outcome::Duplicate { .. }
    ));
    assert!(f.inbox.drain().await.is_empty());
}

#[tokio::test]
async fn duplicate_event_deliveries_publish_once_with_the_dynamodb_ledger() {
    let f = fixture().await;
    let config = f.emu.sdk_config().await;
    let table = unique_name("dedupe");
    create_dedupe_table(&config, &table).await;
    let dynamo = ddb::Client::new(&config);
    let name = unique_name("dup");
    f.emu.seed_job(JobKind::Training, &name, json!({"TrainingJobStatus": "Failed", "FailureReason": "CapacityError: Unable to provision requested ML compute capacity. Please retry using a different ML instance type."})).await;
    let e = f.enricher(DynamoClaims::new(dynamo, &table));
    let event = failed_event(&name);
    let mut outcomes = Vec::new();
    for _ in 0..5 {
        outcomes.push(invoke(&e, event.clone()).await.unwrap());
    }
    assert!(
        matches!(outcomes[0], Outcome::Reported { ref report } if report["category"] == "capacity_or_limit"),
        "{:?}",
        outcomes[0]
    );
    assert!(outcomes[1..]
        .iter()
        .all(|o| matches!(o, Outcome::Duplicate { .. })));
    assert_eq!(f.inbox.drain().await.len(), 1);
    let key = format!("failure-enricher#{ACCOUNT_ID}#training#{name}");
    let item = ddb::Client::new(&config)
        .get_item()
        .table_name(&table)
        .key(schema::KEY, ddb::types::AttributeValue::S(key))
        .send()
        .await
        .unwrap();
    let item = item.item().unwrap();
    assert_eq!(item[schema::STATE].as_s().unwrap(), schema::DONE);
    assert!(item[schema::OWNER]
        .as_s()
        .unwrap()
        .starts_with("failure-enricher:"));
    assert!(item.contains_key(schema::EXPIRES_AT));

    // A claim left pending by another attempt: while its owner may still run (its deadline
    // ahead) the delivery fails for a retry — never a silent duplicate, which would lose the
    // report if that owner died; once its deadline has passed, it is taken over and reported.
    let claims = DynamoClaims::new(ddb::Client::new(&config), &table);
    let now_ms = chrono::Utc::now().timestamp_millis();
    for (lease_until_ms, reported) in [(now_ms + 60_000, false), (now_ms - 1_000, true)] {
        let job = unique_name("pend");
        f.emu.seed_job(JobKind::Training, &job, json!({"TrainingJobStatus": "Failed", "FailureReason": "CapacityError: Unable to provision requested ML compute capacity."})).await;
        use ddb::types::AttributeValue as A;
        ddb::Client::new(&config)
            .put_item()
            .table_name(&table)
            .item(
                schema::KEY,
                A::S(format!("failure-enricher#{ACCOUNT_ID}#training#{job}")),
            )
            .item(schema::STATE, A::S(schema::PENDING.into()))
            .item(
                schema::OWNER,
                A::S("failure-enricher:crashed-attempt".into()),
            )
            .item(schema::LEASE_UNTIL_MS, A::N(lease_until_ms.to_string()))
            .item(schema::CLAIMED_AT, A::N((now_ms / 1000 - 60).to_string()))
            .send()
            .await
            .unwrap();
        let e = f.enricher(&claims);
        let out = invoke(&e, failed_event(&job)).await;
        if reported {
            assert!(
                matches!(out, Ok(Outcome::Reported { .. })),
                "lease passed: {out:?}"
            );
        } else {
            let err = out.expect_err("a live claim of another attempt is retried later");
            assert!(err.to_string().contains("being sent by"), "{err}");
        }
        assert_eq!(f.inbox.drain().await.len(), usize::from(reported));
    }

    // The table unreachable: retryable, and nothing published.
    let down = ddb::Client::from_conf(
        ddb::config::Builder::from(&config)
            .endpoint_url("http://127.0.0.1:9")
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build(),
    );
    let e = f.enricher(DynamoClaims::new(down, "t"));
    let other = unique_name("dup");
    f.emu.seed_job(JobKind::Training, &other, json!({"TrainingJobStatus": "Failed", "FailureReason": "CapacityError: Unable to provision requested ML compute capacity."})).await;
    assert!(invoke(&e, failed_event(&other)).await.is_err());
    assert!(f.inbox.drain().await.is_empty());
}

/// A training job SageMaker stopped at MaxRuntimeInSeconds: seeded `Stopped` with
/// SecondaryStatus `MaxRuntimeExceeded`, reported once as a timeout with the time it ran
/// against its limit; the same event again is a duplicate (the claim store in DynamoDB).
#[tokio::test]
async fn a_job_stopped_at_max_runtime_is_reported_once_as_a_timeout() {
    let f = fixture().await;
    let name = unique_name("timeout");
    let start = chrono::Utc::now().timestamp() - 7300;
    f.emu
        .seed_job(
            JobKind::Training,
            &name,
            json!({
                "TrainingJobStatus": "Stopped",
                "SecondaryStatus": "MaxRuntimeExceeded",
                "StoppingCondition": {"MaxRuntimeInSeconds": 7200},
                "TrainingStartTime": start,
                "TrainingEndTime": start + 7200,
                "TrainingTimeInSeconds": 7200,
            }),
        )
        .await;
    let group = "/aws/sagemaker/TrainingJobs";
    f.group(group).await;
    f.stream(
        group,
        &format!("{name}/algo-1-1763719200"),
        &["epoch 41/100 loss 0.21".to_owned()],
    )
    .await;
    let config = f.emu.sdk_config().await;
    let table = unique_name("timeout");
    create_dedupe_table(&config, &table).await;
    let claims = DynamoClaims::new(ddb::Client::new(&config), &table);
    let e = f.enricher(claims);
    let mut event = failed_event(&name);
    event["detail"]["TrainingJobStatus"] = json!("Stopped");
    event["detail"]["SecondaryStatus"] = json!("MaxRuntimeExceeded");
    f.calls.reset();
    let out = invoke(&e, event.clone()).await.unwrap();
    let Outcome::Reported { report } = out else {
        panic!("{out:?}")
    };
    assert_eq!(report["category"], "timeout");
    assert_eq!(
        report["timeout"],
        json!({"reason": "MaxRuntimeExceeded", "ran_seconds": 7200, "limit_seconds": 7200})
    );
    let counts = f.calls.counts();
    assert_eq!(counts.get("DescribeTrainingJob"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("DescribeLogStreams"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("GetLogEvents"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("Publish"), Some(&1), "{counts:?}");
    let again = invoke(&e, event).await.unwrap();
    assert!(matches!(again, Outcome::Duplicate { .. }), "{again:?}");
    assert_eq!(f.calls.counts().get("Publish"), Some(&1));
    let received = f.inbox.drain().await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body["timeout"]["reason"], "MaxRuntimeExceeded");
}

/// Seeds an endpoint in a state moto cannot reach by itself (it creates them InService):
/// the control route `/_sagewatch/sagemaker/endpoints/<name>/state`.
async fn seed_endpoint(f: &Fixture, name: &str, patch: Value) -> Value {
    f.emu
        .control(
            "POST",
            &format!("/_sagewatch/sagemaker/endpoints/{name}/state"),
            Some(&patch),
        )
        .await
        .unwrap_or_else(|e| panic!("seed endpoint {name}: {e}"))
}

fn endpoint_event(name: &str, status: &str, last_modified_ms: i64) -> Value {
    json!({
        "version": "0", "id": unique_name("evt"), "detail-type": "SageMaker Endpoint State Change",
        "source": "aws.sagemaker", "account": ACCOUNT_ID, "region": "us-east-1", "time": "2026-11-21T10:00:00Z",
        "resources": [format!("arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}:endpoint/{}", name.to_lowercase())],
        "detail": {"EndpointName": name, "EndpointStatus": status, "LastModifiedTime": last_modified_ms,
                   "FailureReason": "The primary container for production variant AllTraffic did not pass the ping health check."}
    })
}

/// An endpoint whose creation failed: DescribeEndpoint's FailureReason and the tail of its
/// variant's instance stream, classified, reported once (the redelivery a duplicate against
/// the DynamoDB claims); another endpoint's and another variant's streams are not read.
#[tokio::test]
async fn a_failed_endpoint_is_reported_once_from_describe_and_its_instance_logs() {
    let f = fixture().await;
    let name = unique_name("ep");
    let described = seed_endpoint(
        &f,
        &name,
        json!({
            "EndpointStatus": "Failed",
            "FailureReason": "The primary container for production variant AllTraffic did not pass the ping health check. Please check CloudWatch logs for this endpoint.",
            "LastModifiedTime": 1_763_719_200,
        }),
    )
    .await;
    assert_eq!(described["EndpointStatus"], "Failed");
    let group = format!("/aws/sagemaker/Endpoints/{name}");
    f.group(&group).await;
    f.stream(
        &group,
        "AllTraffic/i-0abc123def4567890",
        &[
            "Starting the inference server with 1 workers.".to_owned(),
            "ModuleNotFoundError: No module named 'transformers'".to_owned(),
            format!("HF_TOKEN={SECRET_HP} worker exited"),
        ],
    )
    .await;
    f.stream(
        &group,
        "Shadow/i-0fff",
        &["CUDA out of memory DECOY".to_owned()],
    )
    .await;
    let config = f.emu.sdk_config().await;
    let table = unique_name("ep");
    create_dedupe_table(&config, &table).await;
    let e = f.enricher(DynamoClaims::new(ddb::Client::new(&config), &table));
    let event = endpoint_event(&name, "FAILED", 1_763_719_200_000);
    f.calls.reset();
    let out = invoke(&e, event.clone()).await.unwrap();
    let Outcome::Reported { report } = out else {
        panic!("{out:?}")
    };
    assert_eq!(report["resource_type"], "Endpoint");
    assert_eq!(report["outcome"], "failed");
    assert_eq!(report["category"], "image_error", "{report:#}");
    assert_eq!(report["endpoint_config_name"], format!("{name}-config"));
    assert_eq!(report["log_group"], group.as_str());
    assert_eq!(
        (&report["log_streams_found"], &report["log_streams_read"]),
        (&json!(1), &json!(1))
    );
    let counts = f.calls.counts();
    assert_eq!(counts.get("DescribeEndpoint"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("DescribeLogStreams"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("GetLogEvents"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("Publish"), Some(&1), "{counts:?}");
    assert_eq!(f.calls.total(), 4, "{counts:?}");
    let body = report.to_string();
    assert!(
        !body.contains("DECOY") && !body.contains(SECRET_HP),
        "{body}"
    );

    let again = invoke(&e, event).await.unwrap();
    assert!(matches!(again, Outcome::Duplicate { .. }), "{again:?}");
    let received = f.inbox.drain().await;
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0]
            .attributes
            .get("resource_type")
            .map(String::as_str),
        Some("Endpoint")
    );
    assert!(!received[0].attributes.contains_key("job_type"));

    // The endpoint recovered before the (late) event was handled: nothing to report.
    let healed = unique_name("ep");
    seed_endpoint(&f, &healed, json!({"EndpointStatus": "InService"})).await;
    let out = invoke(&e, endpoint_event(&healed, "FAILED", 1_763_719_200_000))
        .await
        .unwrap();
    assert!(matches!(out, Outcome::Ignored { .. }), "{out:?}");
    assert!(f.inbox.drain().await.is_empty());
}

/// The end of a guarded deployment as SageMaker sends it (the documented shape, nothing
/// pending), now.
fn deployment_end_event(name: &str) -> Value {
    json!({
        "version": "0", "id": unique_name("evt"), "detail-type": "SageMaker Endpoint Deployment State Change",
        "source": "aws.sagemaker", "account": ACCOUNT_ID, "region": "us-east-1",
        "time": chrono::Utc::now().to_rfc3339(),
        "resources": [format!("arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}:endpoint/{}", name.to_lowercase())],
        "detail": {"EndpointName": name, "EndpointConfigName": format!("{name}-config"),
                   "EndpointStatus": "IN_SERVICE", "Tags": {},
                   "ProductionVariants": [{"VariantName": "AllTraffic", "CurrentWeight": 1, "DesiredWeight": 1,
                                           "CurrentInstanceCount": 1, "DesiredInstanceCount": 1}]}
    })
}

/// A blue/green deployment guarded by two alarms (as UpdateEndpoint's DeploymentConfig).
fn guarded(alarms: &[&str]) -> Value {
    json!({
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": "CANARY", "WaitIntervalInSeconds": 600,
                                            "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1}},
            "TerminationWaitInSeconds": 600, "MaximumExecutionTimeoutInSeconds": 3600
        },
        "AutoRollbackConfiguration": {
            "Alarms": alarms.iter().map(|a| json!({"AlarmName": a})).collect::<Vec<_>>()
        }
    })
}

async fn put_alarm(cw: &cw::Client, name: &str, endpoint: &str) {
    cw.put_metric_alarm()
        .alarm_name(name)
        .namespace("AWS/SageMaker")
        .metric_name("Invocation5XXErrors")
        .dimensions(
            cw::types::Dimension::builder()
                .name("EndpointName")
                .value(endpoint)
                .build(),
        )
        .dimensions(
            cw::types::Dimension::builder()
                .name("VariantName")
                .value("AllTraffic")
                .build(),
        )
        .statistic(cw::types::Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(5.0)
        .comparison_operator(cw::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
}

/// A deployment rolled back by its guardrails: DescribeEndpoint names the auto-rollback
/// alarms, one DescribeAlarms finds the one in ALARM, the new fleet's log tail is read; one
/// report, the second event of the same rollback a duplicate. A deployment whose alarms all
/// stayed quiet reports nothing.
#[tokio::test]
async fn a_rolled_back_deployment_is_reported_once_with_the_alarm_that_tripped() {
    let f = fixture().await;
    let config = f.emu.sdk_config().await;
    let cloudwatch = cw::Client::new(&config);
    let name = unique_name("ep");
    let (tripped, quiet) = (format!("{name}-5xx"), format!("{name}-latency"));
    for a in [&tripped, &quiet] {
        put_alarm(&cloudwatch, a, &name).await;
    }
    cloudwatch
        .set_alarm_state()
        .alarm_name(&tripped)
        .state_value(cw::types::StateValue::Alarm)
        .state_reason("Threshold Crossed: 1 out of the last 1 datapoints [12.0] was greater than the threshold (5.0).")
        .send()
        .await
        .unwrap();
    let described = seed_endpoint(
        &f,
        &name,
        json!({"EndpointStatus": "InService", "LastDeploymentConfig": guarded(&[&tripped, &quiet])}),
    )
    .await;
    assert_eq!(
        described["LastDeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"][0]["AlarmName"],
        tripped.as_str()
    );
    let group = format!("/aws/sagemaker/Endpoints/{name}");
    f.group(&group).await;
    f.stream(
        &group,
        "AllTraffic/i-0new0000000000001",
        &[
            "Traceback (most recent call last):".to_owned(),
            "ValueError: expected 784 features, got 785".to_owned(),
        ],
    )
    .await;
    let table = unique_name("rb");
    create_dedupe_table(&config, &table).await;
    let e = f.enricher(DynamoClaims::new(ddb::Client::new(&config), &table));
    let event = deployment_end_event(&name);
    f.calls.reset();
    let out = invoke(&e, event.clone()).await.unwrap();
    let Outcome::Reported { report } = out else {
        panic!("{out:?}")
    };
    assert_eq!(report["outcome"], "rolled_back", "{report:#}");
    let r = &report["rollback"];
    assert_eq!(r["triggered_by"][0]["alarm"], tripped.as_str(), "{r:#}");
    assert_eq!(r["triggered_by"][0]["evidence"], "in_alarm");
    assert_eq!(r["triggered_by"][0]["state"], "ALARM");
    assert!(r["triggered_by"][0]["state_reason"]
        .as_str()
        .unwrap()
        .starts_with("Threshold Crossed"));
    // The quiet alarm was created a moment ago (INSUFFICIENT_DATA): a suspect, listed second.
    assert_eq!(
        r["triggered_by"][1]["evidence"],
        "changed_during_deployment"
    );
    assert_eq!(r["triggered_by"].as_array().unwrap().len(), 2);
    assert_eq!(report["category"], "user_code_error", "{report:#}");
    let counts = f.calls.counts();
    for (op, n) in [
        ("DescribeEndpoint", 1),
        ("DescribeAlarms", 1),
        ("DescribeLogStreams", 1),
        ("GetLogEvents", 1),
        ("Publish", 1),
    ] {
        assert_eq!(counts.get(op), Some(&n), "{op}: {counts:?}");
    }
    assert_eq!(f.calls.total(), 5, "{counts:?}");
    let received = f.inbox.drain().await;
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].body["rollback"]["triggered_by"][0]["alarm"],
        tripped.as_str()
    );

    // SageMaker's next event of the same rollback (another id): a duplicate.
    let mut second = event.clone();
    second["id"] = json!(unique_name("evt"));
    let again = invoke(&e, second).await.unwrap();
    assert!(matches!(again, Outcome::Duplicate { .. }), "{again:?}");
    assert!(f.inbox.drain().await.is_empty());

    // A good deployment: its alarms never left OK. Two calls, nothing sent.
    let good = unique_name("ep");
    let watch = format!("{good}-5xx");
    put_alarm(&cloudwatch, &watch, &good).await;
    cloudwatch
        .set_alarm_state()
        .alarm_name(&watch)
        .state_value(cw::types::StateValue::Ok)
        .state_reason("fine")
        .send()
        .await
        .unwrap();
    seed_endpoint(
        &f,
        &good,
        json!({"EndpointStatus": "InService", "LastDeploymentConfig": guarded(&[&watch])}),
    )
    .await;
    f.calls.reset();
    let out = invoke(&e, deployment_end_event(&good)).await.unwrap();
    assert!(matches!(out, Outcome::Ignored { .. }), "{out:?}");
    assert_eq!(f.calls.total(), 2, "{:?}", f.calls.counts());
    assert!(f.inbox.drain().await.is_empty());
}

fn pipeline_event(pipeline: &str, execution: &str) -> Value {
    let arn = format!(
        "arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}:pipeline/{pipeline}/execution/{execution}"
    );
    json!({
        "version": "0", "id": unique_name("evt"),
        "detail-type": "SageMaker Model Building Pipeline Execution Status Change",
        "source": "aws.sagemaker", "account": ACCOUNT_ID, "region": "us-east-1", "time": "2026-11-21T10:00:00Z",
        "resources": [format!("arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}:pipeline/{pipeline}"), arn],
        "detail": {"currentPipelineExecutionStatus": "Failed", "previousPipelineExecutionStatus": "Executing",
                   "pipelineArn": format!("arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}:pipeline/{pipeline}"),
                   "pipelineExecutionArn": arn, "pipelineExecutionDisplayName": "nightly"}
    })
}

/// A pipeline execution that failed in its training step, among 130 steps (two pages of
/// ListPipelineExecutionSteps): one report for the execution, carrying the training job's
/// own report (Describe + its host's log tail); the redelivery a duplicate.
#[tokio::test]
async fn a_pipeline_that_failed_in_its_training_step_gets_one_report_with_the_job_report() {
    let f = fixture().await;
    let pipeline = unique_name("pipe");
    let execution = unique_name("x").replace('-', "");
    let job = unique_name("pipelines-train");
    f.emu
        .seed_job(
            JobKind::Training,
            &job,
            json!({"TrainingJobStatus": "Failed", "FailureReason": "AlgorithmError: ExecuteUserScriptError: see logs",
                   "ResourceConfig": {"InstanceType": "ml.g5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50}}),
        )
        .await;
    let group = "/aws/sagemaker/TrainingJobs";
    f.group(group).await;
    f.stream(
        group,
        &format!("{job}/algo-1-1763719200"),
        &[
            "epoch 1 step 10 loss 1.2".to_owned(),
            "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"
                .to_owned(),
        ],
    )
    .await;
    let t0 = 1_763_719_200;
    let mut steps: Vec<Value> = (0..129)
        .map(|i| json!({"StepName": format!("Shard{i}"), "StepStatus": "Succeeded", "StartTime": t0 + i}))
        .collect();
    steps.push(json!({
        "StepName": "Train", "StepStatus": "Failed", "StartTime": t0 + 200,
        "FailureReason": format!("ClientError: Failed to invoke sagemaker:CreateTrainingJob. Job {job} failed."),
        "Metadata": {"TrainingJob": {"Arn": format!("arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}:training-job/{job}")}},
    }));
    let seeded = f
        .emu
        .control(
            "POST",
            &format!("/_sagewatch/sagemaker/pipelines/{pipeline}/executions/{execution}"),
            Some(&json!({"PipelineExecutionStatus": "Failed", "Steps": steps})),
        )
        .await
        .unwrap();
    assert_eq!(seeded["Steps"], 130);
    let config = f.emu.sdk_config().await;
    let table = unique_name("pipe");
    create_dedupe_table(&config, &table).await;
    let e = f.enricher(DynamoClaims::new(ddb::Client::new(&config), &table));
    let event = pipeline_event(&pipeline, &execution);
    f.calls.reset();
    let out = invoke(&e, event.clone()).await.unwrap();
    let Outcome::Reported { report } = out else {
        panic!("{out:?}")
    };
    assert_eq!(report["resource_type"], "PipelineExecution");
    assert_eq!(report["pipeline_name"], pipeline.as_str());
    assert_eq!(report["failed_step"], "Train");
    assert_eq!(report["category"], "out_of_memory", "{report:#}");
    assert_eq!(report["steps_listed"], 130);
    assert_eq!(report["steps_listing_complete"], true);
    let step = &report["failed_steps"][0];
    assert_eq!(step["job_name"], job.as_str());
    assert_eq!(step["job_report"]["job_name"], job.as_str());
    assert_eq!(step["job_report"]["log_streams_read"], 1);
    let counts = f.calls.counts();
    assert_eq!(
        counts.get("ListPipelineExecutionSteps"),
        Some(&2),
        "{counts:?}"
    );
    assert_eq!(counts.get("DescribeTrainingJob"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("DescribeLogStreams"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("GetLogEvents"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("Publish"), Some(&1), "{counts:?}");

    let again = invoke(&e, event).await.unwrap();
    assert!(matches!(again, Outcome::Duplicate { .. }), "{again:?}");
    let received = f.inbox.drain().await;
    assert_eq!(received.len(), 1, "one notification per execution");
    assert_eq!(
        received[0]
            .attributes
            .get("resource_type")
            .map(String::as_str),
        Some("PipelineExecution")
    );

    // An execution that does not exist: counted, not retried, nothing sent.
    let out = invoke(&e, pipeline_event(&pipeline, "nosuchexecution"))
        .await
        .unwrap();
    assert!(
        matches!(out, Outcome::Rejected { ref reason, .. } if reason == "pipeline_execution_not_found"),
        "{out:?}"
    );
    assert!(f.inbox.drain().await.is_empty());
}

fn tuning_event(name: &str, status: &str, failed: i64) -> Value {
    json!({
        "version": "0", "id": unique_name("evt"), "detail-type": "SageMaker HyperParameter Tuning Job State Change",
        "source": "aws.sagemaker", "account": ACCOUNT_ID, "region": "us-east-1", "time": "2026-11-21T10:00:00Z",
        "resources": [format!("arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}:hyper-parameter-tuning-job/{name}")],
        "detail": {"HyperParameterTuningJobName": name, "HyperParameterTuningJobStatus": status,
                   "TrainingJobStatusCounters": {"Completed": 1, "NonRetryableError": failed}}
    })
}

/// A tuning job whose children failed, most for one reason: the most common signature is
/// the report's category, the children are listed once, at most 5 are described (named in
/// the report); the redelivery is a duplicate.
#[tokio::test]
async fn a_tuning_job_with_failed_children_reports_the_most_common_signature_bounded() {
    let f = fixture().await;
    let name = unique_name("hpo").chars().take(32).collect::<String>();
    let mut children = Vec::new();
    for i in 0..6 {
        let child = format!("{name}-{i:03}-oom");
        f.emu.seed_job(JobKind::Training, &child, json!({"TrainingJobStatus": "Failed",
            "FailureReason": "AlgorithmError: torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"})).await;
        children.push(child);
    }
    for i in 0..2 {
        let child = format!("{name}-{i:03}-hp");
        f.emu.seed_job(JobKind::Training, &child, json!({"TrainingJobStatus": "Failed",
            "FailureReason": "ClientError: Additional properties are not allowed ('lr' was unexpected)"})).await;
        children.push(child);
    }
    let ok = format!("{name}-ok");
    f.emu
        .seed_job(
            JobKind::Training,
            &ok,
            json!({"TrainingJobStatus": "Completed"}),
        )
        .await;
    children.push(ok);
    f.emu
        .control(
            "POST",
            &format!("/_sagewatch/sagemaker/hyper-parameter-tuning-jobs/{name}"),
            Some(&json!({
                "HyperParameterTuningJobStatus": "Completed",
                "TrainingJobStatusCounters": {"Completed": 1, "NonRetryableError": 8, "RetryableError": 0, "InProgress": 0, "Stopped": 0},
                "TrainingJobs": children,
            })),
        )
        .await
        .unwrap();
    let config = f.emu.sdk_config().await;
    let table = unique_name("hpo");
    create_dedupe_table(&config, &table).await;
    let e = f.enricher(DynamoClaims::new(ddb::Client::new(&config), &table));
    let event = tuning_event(&name, "Completed", 8);
    f.calls.reset();
    let out = invoke(&e, event.clone()).await.unwrap();
    let Outcome::Reported { report } = out else {
        panic!("{out:?}")
    };
    assert_eq!(report["resource_type"], "HyperParameterTuningJob");
    assert_eq!(report["category"], "out_of_memory", "{report:#}");
    assert_eq!(report["failed_training_jobs"], 8);
    assert_eq!(report["failed_children_listed"], 8);
    assert_eq!(report["signatures"][0]["count"], 6);
    assert_eq!(report["signatures"][1]["count"], 2);
    assert_eq!(
        report["signatures"][1]["category"],
        "invalid_hyperparameter"
    );
    let sampled = report["failed_children_sampled"].as_array().unwrap();
    assert_eq!(sampled.len(), 5, "{report:#}");
    let counts = f.calls.counts();
    assert_eq!(
        counts.get("DescribeHyperParameterTuningJob"),
        Some(&1),
        "{counts:?}"
    );
    assert_eq!(
        counts.get("ListTrainingJobsForHyperParameterTuningJob"),
        Some(&1),
        "{counts:?}"
    );
    assert_eq!(counts.get("DescribeTrainingJob"), Some(&5), "{counts:?}");
    assert_eq!(counts.get("Publish"), Some(&1), "{counts:?}");
    assert_eq!(f.calls.total(), 8, "{counts:?}");

    let again = invoke(&e, event).await.unwrap();
    assert!(matches!(again, Outcome::Duplicate { .. }), "{again:?}");
    assert_eq!(f.inbox.drain().await.len(), 1);
}

/// The chat topic through real SNS: the report goes to the alerts topic, the custom
/// notification to the chat topic, each once; the notification has the chat shape.
#[tokio::test]
async fn a_report_also_reaches_the_chat_topic_as_a_custom_notification() {
    let f = fixture().await;
    let config = f.emu.sdk_config().await;
    let chat_inbox = Inbox::new(&config, "chat").await;
    let name = unique_name("epchat");
    seed_endpoint(
        &f,
        &name,
        json!({"EndpointStatus": "Failed", "FailureReason": "The primary container for production variant AllTraffic did not pass the ping health check."}),
    )
    .await;
    let mut e = f.enricher(NoClaims);
    e.chat = Some(SnsNotifier::new(
        sns::Client::new(&config),
        chat_inbox.topic_arn.clone(),
    ));
    let out = invoke(&e, json!({"endpoint_name": name})).await.unwrap();
    assert!(matches!(out, Outcome::Reported { .. }), "{out:?}");
    assert_eq!(f.inbox.drain().await.len(), 1);
    let chat = chat_inbox.drain().await;
    assert_eq!(chat.len(), 1);
    sagewatch::chat::check(&chat[0].body).unwrap_or_else(|err| panic!("{err}: {}", chat[0].body));
    assert_eq!(
        chat[0].body["metadata"]["threadId"],
        format!("sagewatch/Endpoint/{ACCOUNT_ID}/{name}")
    );
    assert_eq!(
        chat[0].attributes.get("resource_type").map(String::as_str),
        Some("Endpoint")
    );
}

/// A failure whose SageMaker event was lost, re-emitted by event-augmenter's sweep (source
/// `sagewatch.sweep`, `events/training-job-state-change-reconciled-failed.json`): reported
/// once, marked `reconciled`, counted as `ReconciledEvents`; SageMaker's own event arriving
/// late, and the re-emission delivered again, are duplicates.
#[tokio::test]
async fn a_failure_re_emitted_by_the_sweep_is_reported_once_and_the_late_event_is_a_duplicate() {
    let f = fixture().await;
    let config = f.emu.sdk_config().await;
    let table = unique_name("dedupe");
    create_dedupe_table(&config, &table).await;
    let name = unique_name("lost");
    f.emu.seed_job(JobKind::Training, &name, json!({"TrainingJobStatus": "Failed", "FailureReason": "CapacityError: Unable to provision requested ML compute capacity. Please retry using a different ML instance type."})).await;
    let claims = DynamoClaims::new(ddb::Client::new(&config), &table);
    let e = f.enricher(&claims);
    let mut reemitted =
        sagewatch::testing::sample("training-job-state-change-reconciled-failed.json");
    reemitted["detail"]["TrainingJobName"] = json!(name);
    reemitted["detail"]["SagewatchReconciled"]["account"] = json!(ACCOUNT_ID);
    // PutEvents stamps the sender's account; the job's own is in the detail.
    reemitted["account"] = json!("999999999999");

    let out = invoke(&e, reemitted.clone()).await.unwrap();
    let Outcome::Reported { report } = out else {
        panic!("not reported: {out:?}");
    };
    assert_eq!(report["reconciled"], json!(true), "{report}");
    assert_eq!(report["account"], json!(ACCOUNT_ID), "{report}");
    assert_eq!(report["category"], json!("capacity_or_limit"), "{report}");
    let counted: Vec<Value> = e
        .sink
        .json()
        .into_iter()
        .filter(|l| l["ReconciledEvents"] == json!(1.0))
        .collect();
    assert_eq!(counted.len(), 1, "{counted:?}");
    assert_eq!(counted[0]["Function"], json!("failure-enricher"));
    assert_eq!(counted[0]["Kind"], json!("TrainingJob"));
    assert_eq!(f.inbox.drain().await.len(), 1);

    for late in [failed_event(&name), reemitted] {
        let out = invoke(&e, late).await.unwrap();
        assert!(matches!(out, Outcome::Duplicate { .. }), "{out:?}");
    }
    assert!(f.inbox.drain().await.is_empty());
}
