//! event-augmenter against the local emulator with the real SDK clients: host metrics put with
//! PutMetricData, the dedupe table in DynamoDB, SQS batches received from a real queue, AWS
//! calls counted per operation.

use aws_sdk_cloudwatch as cw;
use aws_sdk_dynamodb as ddb;
use aws_sdk_eventbridge as eb;
use aws_sdk_sqs as sqs;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextMut,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use chrono::Utc;
use event_augmenter::adapter::{CloudWatchMetrics, EventBridgeBus, SageMakerJobs, TableClaims};
use event_augmenter::{Augmenter, Config, Disposition, Response, Summary};
use lambda_runtime::{Context, LambdaEvent};
use sagewatch::output::MemorySink;
use sagewatch_emulator::{
    create_dedupe_table, unique_name, CallCounter, Emulator, LoseAnswers, Queue, ACCOUNT_ID,
};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

type Live =
    Augmenter<TableClaims, CloudWatchMetrics, Arc<MemorySink>, SageMakerJobs, EventBridgeBus>;

struct Fixture {
    cw: cw::Client,
    calls: CallCounter,
    sink: Arc<MemorySink>,
    augmenter: Live,
    table: String,
}

async fn fixture() -> Fixture {
    let emu = Emulator::shared().await;
    let config = emu.sdk_config().await;
    let calls = CallCounter::default();
    let counted_cw = cw::Client::from_conf(
        cw::config::Builder::from(&config)
            .interceptor(calls.clone())
            .build(),
    );
    let counted_ddb = ddb::Client::from_conf(
        ddb::config::Builder::from(&config)
            .interceptor(calls.clone())
            .build(),
    );
    let counted_sm = aws_sdk_sagemaker::Client::from_conf(
        aws_sdk_sagemaker::config::Builder::from(&config)
            .interceptor(calls.clone())
            .build(),
    );
    let table = unique_name("aug-dedupe");
    create_dedupe_table(&config, &table).await;
    let sink = Arc::new(MemorySink::default());
    let augmenter = Augmenter {
        dedupe: TableClaims::new(counted_ddb, &table),
        metrics: CloudWatchMetrics::new(counted_cw),
        sink: sink.clone(),
        jobs: SageMakerJobs::with_client(config.clone(), counted_sm),
        // No bus unless a test gives one (`with_bus`): nothing is re-emitted.
        bus: EventBridgeBus::new(
            eb::Client::from_conf(
                eb::config::Builder::from(&config)
                    .interceptor(calls.clone())
                    .build(),
            ),
            None,
        ),
        config: Config {
            common: sagewatch::config::Common {
                home_account: Some(ACCOUNT_ID.into()),
                ..Config::default().common
            },
            dedupe_table: table.clone(),
            report_tag_keys: vec!["project".into()],
            ..Config::default()
        },
    };
    Fixture {
        cw: cw::Client::new(&config),
        calls,
        sink,
        augmenter,
        table,
    }
}

fn minute_now() -> i64 {
    let now = Utc::now().timestamp();
    now - now % 60
}

use sagewatch::testing::sample;

/// The Completed training sample, renamed, on `count` × `instance_type`, running `start..end`.
fn training_event(job: &str, instance_type: &str, count: u64, start: i64, end: i64) -> Value {
    let mut e = sample("training-job-state-change.json");
    let arn = format!("arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}:training-job/{job}");
    e["time"] = json!(chrono::DateTime::from_timestamp(end + 5, 0)
        .expect("time")
        .to_rfc3339());
    e["resources"] = json!([arn]);
    let d = &mut e["detail"];
    d["TrainingJobName"] = json!(job);
    d["TrainingJobArn"] = json!(arn);
    d["ResourceConfig"] =
        json!({"InstanceType": instance_type, "InstanceCount": count, "VolumeSizeInGB": 30});
    // Epoch-ms strings, as SageMaker sends them.
    d["TrainingStartTime"] = json!((start * 1000).to_string());
    d["TrainingEndTime"] = json!((end * 1000).to_string());
    e
}

async fn put(
    client: &cw::Client,
    namespace: &str,
    host: &str,
    metric: &str,
    points: &[(i64, f64)],
) {
    use cw::types::{Dimension, MetricDatum, StandardUnit};
    let mut req = client.put_metric_data().namespace(namespace);
    for (at, v) in points {
        req = req.metric_data(
            MetricDatum::builder()
                .metric_name(metric)
                .dimensions(Dimension::builder().name("Host").value(host).build())
                .timestamp(aws_smithy_types::DateTime::from_secs(*at))
                .value(*v)
                .unit(StandardUnit::Percent)
                .build(),
        );
    }
    req.send().await.expect("PutMetricData");
}

impl Fixture {
    async fn direct(&self, payload: Value) -> Summary {
        match self.invoke(payload).await.expect("handler") {
            Response::Direct(s) => s,
            Response::Batch(b) => panic!("expected a summary, got {b:?}"),
            Response::Sweep(s) => panic!("expected a summary, got {s:?}"),
        }
    }

    async fn invoke(&self, payload: Value) -> Result<Response, String> {
        self.augmenter
            .handle(LambdaEvent::new(payload, Context::default()))
            .await
            .map_err(|e| e.to_string())
    }

    fn lines_of(&self, kind: &str) -> Vec<Value> {
        self.sink
            .json()
            .into_iter()
            .filter(|v| v["sagewatch_event"] == kind)
            .collect()
    }

    fn emf_with(&self, metric: &str) -> Vec<Value> {
        self.sink
            .json()
            .into_iter()
            .filter(|v| {
                v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                    .as_array()
                    .is_some_and(|ms| ms.iter().any(|m| m["Name"] == metric))
            })
            .collect()
    }
}

const TRAINING_NS: &str = "/aws/sagemaker/TrainingJobs";

#[tokio::test]
async fn two_host_gpu_job_values_equal_the_seeded_data_in_one_get_metric_data() {
    let f = fixture().await;
    let job = unique_name("aug-train");
    let t0 = minute_now() - 40 * 60;
    let (h1, h2) = (format!("{job}/algo-1"), format!("{job}/algo-2"));
    // algo-1 reports everything; algo-2 has no GPU data at all.
    for (host, metric, points) in [
        (
            &h1,
            "CPUUtilization",
            vec![(t0 + 60, 200.0), (t0 + 120, 600.0), (t0 + 180, 400.0)],
        ),
        (
            &h1,
            "MemoryUtilization",
            vec![(t0 + 60, 30.0), (t0 + 120, 50.0)],
        ),
        (
            &h1,
            "GPUUtilization",
            vec![(t0 + 60, 80.0), (t0 + 120, 100.0)],
        ),
        (
            &h1,
            "GPUMemoryUtilization",
            vec![(t0 + 60, 60.0), (t0 + 120, 70.0)],
        ),
        (&h1, "DiskUtilization", vec![(t0 + 60, 10.0)]),
        (
            &h2,
            "CPUUtilization",
            vec![(t0 + 60, 100.0), (t0 + 120, 300.0)],
        ),
        (&h2, "MemoryUtilization", vec![(t0 + 60, 20.0)]),
        (&h2, "DiskUtilization", vec![(t0 + 60, 20.0)]),
    ] {
        put(&f.cw, TRAINING_NS, host, metric, &points).await;
    }
    // Decoys a fuzzy search would pick up: a job whose name extends ours, the same Host in the
    // processing namespace, and algo-1 data before the job started and after it ended.
    put(
        &f.cw,
        TRAINING_NS,
        &format!("{job}x/algo-1"),
        "CPUUtilization",
        &[(t0 + 60, 9999.0)],
    )
    .await;
    put(
        &f.cw,
        "/aws/sagemaker/ProcessingJobs",
        &h1,
        "CPUUtilization",
        &[(t0 + 60, 7777.0)],
    )
    .await;
    put(
        &f.cw,
        TRAINING_NS,
        &h1,
        "CPUUtilization",
        &[(t0 - 120, 5000.0), (t0 + 30 * 60, 5000.0)],
    )
    .await;

    f.calls.reset();
    // ml.g5.2xlarge: 8 vCPUs, 1 GPU.
    let s = f
        .direct(training_event(
            &job,
            "ml.g5.2xlarge",
            2,
            t0 + 15,
            t0 + 20 * 60 + 10,
        ))
        .await;
    assert_eq!(
        s.outcomes[0].result,
        Disposition::Counted,
        "{:?}",
        s.outcomes
    );
    let counts = f.calls.counts();
    assert_eq!(f.calls.total(), 2, "{counts:?}");
    assert_eq!(counts.get("PutItem"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("GetMetricData"), Some(&1), "{counts:?}");

    let [emf] = f.emf_with("JobCount").try_into().expect("one EMF record");
    sagewatch::emf::validate(&emf.to_string()).expect("valid EMF");
    // CPU: algo-1 avg 400 / max 600, algo-2 avg 200 / max 300 (sums over 8 vCPUs).
    for (metric, want) in [
        ("CPUUtilizationAverage", (400.0 / 8.0 + 200.0 / 8.0) / 2.0),
        ("CPUUtilizationMaximum", 600.0 / 8.0),
        ("MemoryUtilizationAverage", (40.0 + 20.0) / 2.0),
        ("MemoryUtilizationMaximum", 50.0),
        ("GPUUtilizationAverage", 90.0),
        ("GPUUtilizationMaximum", 100.0),
        ("GPUMemoryUtilizationAverage", 65.0),
        ("GPUMemoryUtilizationMaximum", 70.0),
        ("DiskUtilizationAverage", 15.0),
        ("DiskUtilizationMaximum", 20.0),
        ("Underutilized", 0.0),
        ("JobCount", 1.0),
        ("DurationSeconds", 1195.0),
        ("InstanceSeconds", 2390.0),
    ] {
        assert_eq!(emf[metric], want, "{metric}: {emf}");
    }
    assert_eq!(emf["JobType"], "training");
    assert_eq!(emf["InstanceType"], "ml.g5.2xlarge");
    assert_eq!(emf["Account"], ACCOUNT_ID);
    let missing = json!([
        format!("{h2}/GPUUtilization"),
        format!("{h2}/GPUMemoryUtilization")
    ]);
    assert_eq!(emf["missing"], missing);

    let [report] = f.lines_of("job_summary").try_into().expect("one report");
    assert_eq!(report["job_name"], job.as_str());
    assert_eq!(report["missing"], missing);
    assert_eq!(report["cpu_utilization_max"], 75.0);
    assert_eq!(report["gpu_utilization_avg"], 90.0);
    assert_eq!(report["underutilized"], false);
    assert_eq!(report["hosts"][0]["cpu_utilization_avg"], 50.0);
    assert_eq!(report["hosts"][1]["cpu_utilization_max"], 37.5);
    assert_eq!(
        report["hosts"][1]["missing"],
        json!(["GPUUtilization", "GPUMemoryUtilization"])
    );
    assert_eq!(report["tags"], json!({"project": "sagewatch"}));
}

#[tokio::test]
async fn the_same_event_ten_times_is_emitted_once() {
    let f = fixture().await;
    let job = unique_name("aug-repeat");
    let t0 = minute_now() - 30 * 60;
    put(
        &f.cw,
        TRAINING_NS,
        &format!("{job}/algo-1"),
        "CPUUtilization",
        &[(t0 + 60, 100.0)],
    )
    .await;
    let event = training_event(&job, "ml.m5.xlarge", 1, t0, t0 + 600);
    let mut results = Vec::new();
    for _ in 0..10 {
        results.push(f.direct(event.clone()).await.outcomes[0].result);
    }
    assert_eq!(results[0], Disposition::Counted);
    assert!(
        results[1..].iter().all(|r| *r == Disposition::Duplicate),
        "{results:?}"
    );
    assert_eq!(f.lines_of("job_summary").len(), 1);
    assert_eq!(f.emf_with("JobCount").len(), 1);
    assert_eq!(f.emf_with("DuplicateEvents").len(), 9);
    // Metrics are read before each claim, so a failed read never leaves the key taken.
    assert_eq!(f.calls.counts().get("PutItem"), Some(&10));
    let [report] = f.lines_of("job_summary").try_into().expect("one report");
    assert_eq!(report["cpu_utilization_avg"], 25.0, "100 % over 4 vCPUs");
}

#[tokio::test]
async fn a_claim_whose_answer_was_lost_is_met_as_our_own_and_counted() {
    // Issue #11 item 2: DynamoDB commits the conditional PutItem, the answer is lost, the SDK
    // retries the same put and meets its own write. Before, that was a "duplicate" and the
    // job was never counted.
    let emu = Emulator::shared().await;
    let config = emu.sdk_config().await;
    let mut f = fixture().await;
    let lose = LoseAnswers::new("PutItem", 1);
    f.augmenter.dedupe = TableClaims::new(
        ddb::Client::from_conf(
            ddb::config::Builder::from(&config)
                .interceptor(lose.clone())
                .interceptor(f.calls.clone())
                .build(),
        ),
        &f.table,
    );
    let job = unique_name("lost-answer");
    let t0 = minute_now() - 3600;
    let event = training_event(&job, "ml.m5.xlarge", 1, t0, t0 + 600);
    let first = f.direct(event.clone()).await.outcomes[0].result;
    assert_eq!(lose.left(), 0, "the answer was lost once");
    assert_eq!(first, Disposition::Counted);
    assert_eq!(f.lines_of("job_summary").len(), 1);
    // A real second delivery (another attempt) is still a duplicate.
    assert_eq!(
        f.direct(event).await.outcomes[0].result,
        Disposition::Duplicate
    );
    assert_eq!(f.lines_of("job_summary").len(), 1);
}

/// Receives up to 10 messages and wraps them the way Lambda's SQS event source does.
async fn receive_as_lambda_event(client: &sqs::Client, url: &str, queue_arn: &str) -> Value {
    let out = client
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .send()
        .await
        .expect("ReceiveMessage");
    let records: Vec<Value> = out
        .messages()
        .iter()
        .map(|m| {
            json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": m.md5_of_body(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    json!({ "Records": records })
}

#[tokio::test]
async fn sqs_batch_with_one_malformed_message_reports_only_that_one_and_it_reaches_the_dlq() {
    let f = fixture().await;
    let config = Emulator::shared().await.sdk_config().await;
    let q = sqs::Client::new(&config);
    let dlq_name = unique_name("aug-dlq");
    let dlq_url = q
        .create_queue()
        .queue_name(&dlq_name)
        .send()
        .await
        .expect("dlq")
        .queue_url()
        .expect("url")
        .to_owned();
    let dlq_arn = format!("arn:aws:sqs:us-east-1:{ACCOUNT_ID}:{dlq_name}");
    let name = unique_name("aug-events");
    let url = q
        .create_queue()
        .queue_name(&name)
        .attributes(
            sqs::types::QueueAttributeName::RedrivePolicy,
            json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}).to_string(),
        )
        .send()
        .await
        .expect("queue")
        .queue_url()
        .expect("url")
        .to_owned();
    let arn = format!("arn:aws:sqs:us-east-1:{ACCOUNT_ID}:{name}");
    let t0 = minute_now() - 30 * 60;
    let good1 = training_event(&unique_name("aug-sqs-a"), "ml.m5.xlarge", 1, t0, t0 + 600);
    let good2 = sample("cloudtrail-api-call.json");
    let mut good2 = good2;
    good2["detail"]["eventID"] = json!(unique_name("evt"));
    let malformed = "{\"detail-type\": \"SageMaker Training Job State Change\", \"detail\": {\"ResourceConfig\": 7}";
    for body in [good1.to_string(), malformed.to_owned(), good2.to_string()] {
        q.send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .expect("SendMessage");
    }

    let batch = receive_as_lambda_event(&q, &url, &arn).await;
    let ids: Vec<String> = batch["Records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["messageId"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids.len(), 3);
    let bad_id = batch["Records"]
        .as_array()
        .expect("records")
        .iter()
        .find(|r| r["body"] == malformed)
        .and_then(|r| r["messageId"].as_str())
        .expect("malformed message received")
        .to_owned();
    let Response::Batch(response) = f.invoke(batch.clone()).await.expect("handler") else {
        panic!("batch response expected")
    };
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|b| b.item_identifier.as_str())
        .collect();
    assert_eq!(failed, vec![bad_id.as_str()]);
    assert_eq!(
        serde_json::to_value(&response).expect("json"),
        json!({"batchItemFailures": [{"itemIdentifier": bad_id}]})
    );
    assert_eq!(f.lines_of("job_summary").len(), 1);
    assert_eq!(f.lines_of("api_audit").len(), 1);
    assert_eq!(f.emf_with("InvalidEvents").len(), 1);

    // What Lambda does next: delete the successes; the failure comes back and, past
    // maxReceiveCount, lands in the DLQ. Nothing is lost silently.
    for r in batch["Records"].as_array().expect("records") {
        if r["messageId"] != bad_id.as_str() {
            q.delete_message()
                .queue_url(&url)
                .receipt_handle(r["receiptHandle"].as_str().expect("handle"))
                .send()
                .await
                .expect("DeleteMessage");
        }
    }
    let again = receive_as_lambda_event(&q, &url, &arn).await;
    assert_eq!(
        again["Records"],
        json!([]),
        "moved to the DLQ on the next receive"
    );
    let dead = receive_as_lambda_event(&q, &dlq_url, &dlq_arn).await;
    assert_eq!(dead["Records"].as_array().expect("records").len(), 1);
    assert_eq!(dead["Records"][0]["body"], malformed);
}

#[tokio::test]
async fn dynamodb_down_or_table_missing_is_a_retryable_error_and_nothing_is_emitted() {
    let mut f = fixture().await;
    let config = Emulator::shared().await.sdk_config().await;
    let t0 = minute_now() - 30 * 60;
    let event = training_event(&unique_name("aug-down"), "ml.m5.xlarge", 1, t0, t0 + 600);

    // Down: nothing listens on the discard port of loopback (connection refused).
    let down = ddb::Client::from_conf(
        ddb::config::Builder::from(&config)
            .endpoint_url("http://127.0.0.1:9")
            .build(),
    );
    f.augmenter.dedupe = TableClaims::new(down, &f.table);
    let err = f
        .invoke(event.clone())
        .await
        .expect_err("table unreachable");
    assert!(
        err.contains("must be retried") && err.contains("PutItem"),
        "{err}"
    );
    assert!(err.contains("DispatchFailure"), "{err}");
    assert!(f.sink.lines().is_empty(), "no emission without the claim");

    // In an SQS batch the same failure returns that message to the queue.
    let batch = json!({"Records": [{
        "messageId": "m-1", "receiptHandle": "r", "body": event.to_string(),
        "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"
    }]});
    let Response::Batch(b) = f.invoke(batch).await.expect("batch answer") else {
        panic!("batch")
    };
    assert_eq!(b.batch_item_failures.len(), 1);
    assert_eq!(b.batch_item_failures[0].item_identifier, "m-1");

    // Missing table (deployment mistake): also an error, never a silent skip or double count.
    f.augmenter.dedupe = TableClaims::new(ddb::Client::new(&config), unique_name("no-such-table"));
    let err = f.invoke(event.clone()).await.expect_err("table missing");
    assert!(err.contains("ResourceNotFoundException"), "{err}");
    assert!(f.sink.lines().is_empty());

    // Back up: the same event is counted (the failed attempts took no key).
    f.augmenter.dedupe = TableClaims::new(ddb::Client::new(&config), &f.table);
    assert_eq!(
        f.direct(event).await.outcomes[0].result,
        Disposition::Counted
    );
}

#[tokio::test]
async fn a_hundred_gpu_hosts_take_one_get_metric_data_request() {
    let f = fixture().await;
    let t0 = minute_now() - 30 * 60;
    // ml.g5.2xlarge: 5 metrics, one Average query each = 5 queries per host; 500 per request.
    // A 10-minute job: 500 series × 10 datapoints, far under the 100,800 datapoints of one page,
    // so one request is one HTTP call (NextToken pages would each be a call of their own).
    for (hosts, calls) in [(100_u64, 1_usize), (101, 2)] {
        let job = unique_name("aug-wide");
        let last = format!("{job}/algo-{hosts}");
        put(
            &f.cw,
            TRAINING_NS,
            &format!("{job}/algo-1"),
            "MemoryUtilization",
            &[(t0 + 60, 10.0), (t0 + 120, 14.0)],
        )
        .await;
        put(
            &f.cw,
            TRAINING_NS,
            &last,
            "MemoryUtilization",
            &[(t0 + 60, 30.0)],
        )
        .await;
        f.calls.reset();
        f.direct(training_event(&job, "ml.g5.2xlarge", hosts, t0, t0 + 600))
            .await;
        let counts = f.calls.counts();
        assert_eq!(
            counts.get("GetMetricData"),
            Some(&calls),
            "{hosts} hosts: {counts:?}"
        );
        assert_eq!(counts.get("PutItem"), Some(&1));
        assert_eq!(f.calls.total(), calls + 1, "{counts:?}");
        let reports = f.lines_of("job_summary");
        let report = reports.last().expect("report");
        assert_eq!(report["job_name"], job.as_str());
        // The first and the last host (in the second chunk when there is one) both answered.
        assert_eq!(report["hosts"][0]["memory_utilization_avg"], 12.0);
        assert_eq!(report["hosts"][0]["memory_utilization_max"], 14.0);
        assert_eq!(
            report["hosts"][hosts as usize - 1]["memory_utilization_max"],
            30.0
        );
        assert_eq!(report["memory_utilization_avg"], 21.0);
        assert_eq!(
            report["missing"].as_array().expect("missing").len() as u64,
            hosts * 5 - 2
        );
    }
}

/// Rewrites GetMetricData answers after the SDK parsed them, the way CloudWatch marks single
/// series: moto never sets a per-query StatusCode other than Complete.
#[derive(Debug, Clone)]
struct MarkSeries {
    /// Query ids to mark, with the status.
    marks: Arc<Mutex<Vec<(String, cw::types::StatusCode)>>>,
}

impl Intercept for MarkSeries {
    fn name(&self) -> &'static str {
        "MarkSeries"
    }

    fn modify_before_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use cw::operation::get_metric_data::GetMetricDataOutput;
        let marks = self.marks.lock().map_err(|e| e.to_string())?.clone();
        let Some(Ok(output)) = context.output_or_error_mut() else {
            return Ok(());
        };
        let Some(out) = output.downcast_mut::<GetMetricDataOutput>() else {
            return Ok(());
        };
        out.messages = Some(vec![cw::types::MessageData::builder()
            .code("Info")
            .value("top-level message from the test")
            .build()]);
        for r in out.metric_data_results.iter_mut().flatten() {
            if let Some((_, status)) = marks.iter().find(|(id, _)| r.id.as_deref() == Some(id)) {
                r.status_code = Some(status.clone());
                r.values = Some(Vec::new());
                r.timestamps = Some(Vec::new());
                r.messages = Some(vec![cw::types::MessageData::builder()
                    .code("Forbidden")
                    .value(format!("marked {}", status.as_str()))
                    .build()]);
            }
        }
        Ok(())
    }
}

#[tokio::test]
async fn per_series_status_codes_internal_error_retries_forbidden_is_missing() {
    use cw::types::StatusCode;
    let mut f = fixture().await;
    let config = Emulator::shared().await.sdk_config().await;
    let marks = MarkSeries {
        marks: Arc::default(),
    };
    f.augmenter.metrics = CloudWatchMetrics::new(cw::Client::from_conf(
        cw::config::Builder::from(&config)
            .interceptor(marks.clone())
            .interceptor(f.calls.clone())
            .build(),
    ));
    let job = unique_name("aug-status");
    let t0 = minute_now() - 30 * 60;
    for host in [format!("{job}/algo-1"), format!("{job}/algo-2")] {
        for metric in ["CPUUtilization", "MemoryUtilization", "DiskUtilization"] {
            put(&f.cw, TRAINING_NS, &host, metric, &[(t0 + 60, 40.0)]).await;
        }
    }
    let event = training_event(&job, "ml.m5.xlarge", 2, t0, t0 + 600);

    // One series with InternalError: retryable, nothing written, the key not taken.
    *marks.marks.lock().expect("lock") = vec![("h1_m1".into(), StatusCode::InternalError)];
    f.calls.reset();
    let err = f.invoke(event.clone()).await.expect_err("InternalError");
    assert!(
        err.contains("must be retried") && err.contains("InternalError"),
        "{err}"
    );
    assert_eq!(
        f.calls.counts().get("PutItem"),
        None,
        "{:?}",
        f.calls.counts()
    );
    assert!(f.sink.lines().is_empty());

    // algo-2 refused (Forbidden, e.g. no OAM link): its series missing, with the reason.
    *marks.marks.lock().expect("lock") = (0..3)
        .map(|m| (format!("h1_m{m}"), StatusCode::Forbidden))
        .collect();
    assert_eq!(
        f.direct(event).await.outcomes[0].result,
        Disposition::Counted
    );
    let [r] = f.lines_of("job_summary").try_into().expect("one report");
    assert_eq!(
        r["missing"],
        json!([
            format!("{job}/algo-2/CPUUtilization"),
            format!("{job}/algo-2/MemoryUtilization"),
            format!("{job}/algo-2/DiskUtilization"),
        ])
    );
    assert!(
        r["utilization_note"]
            .as_str()
            .is_some_and(|n| n.contains("refused 3 series") && n.contains("marked Forbidden")),
        "{r}"
    );
    assert_eq!(r["hosts"][0]["memory_utilization_avg"], 40.0);
}

#[tokio::test]
async fn a_transform_job_that_just_ended_without_listed_hosts_is_retried() {
    let f = fixture().await;
    let job = unique_name("aug-xnew");
    let now = Utc::now().timestamp();
    let mut e = sample("transform-job-state-change.json");
    e["detail"]["TransformJobName"] = json!(job);
    e["detail"]["TransformJobStatus"] = json!("Completed");
    e["detail"]["TransformStartTime"] = json!(chrono::DateTime::from_timestamp(now - 600, 0)
        .expect("t")
        .to_rfc3339());
    e["detail"]["TransformEndTime"] = json!(chrono::DateTime::from_timestamp(now - 60, 0)
        .expect("t")
        .to_rfc3339());
    f.calls.reset();
    let err = f.invoke(e).await.expect_err("hosts not listed yet");
    assert!(
        err.contains("not ready: no host of") && err.contains("listed yet"),
        "{err}"
    );
    let counts = f.calls.counts();
    assert_eq!(counts.get("ListMetrics"), Some(&1), "{counts:?}");
    assert_eq!(
        counts.get("PutItem"),
        None,
        "the key is not taken: {counts:?}"
    );
    assert!(f.sink.lines().is_empty());
}

#[tokio::test]
async fn transform_hosts_are_found_with_list_metrics() {
    let f = fixture().await;
    let job = unique_name("aug-xform");
    let t0 = minute_now() - 30 * 60;
    let ns = "/aws/sagemaker/TransformJobs";
    for (host, cpu) in [
        (format!("{job}/i-0aaa111122223333a-us-east-1a"), 100.0),
        (format!("{job}/i-0bbb111122223333b-us-east-1b"), 300.0),
        (format!("{job}0/i-0ccc111122223333c-us-east-1a"), 9999.0),
    ] {
        put(&f.cw, ns, &host, "CPUUtilization", &[(t0 + 60, cpu)]).await;
        put(&f.cw, ns, &host, "MemoryUtilization", &[(t0 + 60, 40.0)]).await;
    }
    let mut e = sample("transform-job-state-change.json");
    e["detail"]["TransformJobName"] = json!(job);
    e["detail"]["TransformJobStatus"] = json!("Completed");
    e["detail"]["TransformStartTime"] = json!(chrono::DateTime::from_timestamp(t0, 0)
        .expect("t")
        .to_rfc3339());
    e["detail"]["TransformEndTime"] = json!(chrono::DateTime::from_timestamp(t0 + 300, 0)
        .expect("t")
        .to_rfc3339());
    e["detail"]["TransformResources"] = json!({"InstanceType": "ml.m5.xlarge", "InstanceCount": 2});
    f.calls.reset();
    f.direct(e).await;
    let counts = f.calls.counts();
    assert_eq!(counts.get("ListMetrics"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("GetMetricData"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("PutItem"), Some(&1), "{counts:?}");
    let [r] = f.lines_of("job_summary").try_into().expect("one report");
    assert_eq!(r["hosts"].as_array().expect("hosts").len(), 2, "{r}");
    assert_eq!(
        r["cpu_utilization_avg"], 50.0,
        "(100 + 300) / 2 over 4 vCPUs"
    );
    assert_eq!(r["cpu_utilization_max"], 75.0);
    assert_eq!(r["memory_utilization_avg"], 40.0);
    assert_eq!(
        r["missing"],
        json!([]),
        "no disk metric is expected for transform jobs"
    );
}

/// Records the AccountId of every GetMetricData query as the SDK sends it.
#[derive(Debug, Clone, Default)]
struct AccountIds(Arc<Mutex<Vec<Option<String>>>>);

impl Intercept for AccountIds {
    fn name(&self) -> &'static str {
        "AccountIds"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use cw::operation::get_metric_data::GetMetricDataInput;
        if let Some(input) = context.input().downcast_ref::<GetMetricDataInput>() {
            let mut seen = self.0.lock().map_err(|e| e.to_string())?;
            seen.extend(
                input
                    .metric_data_queries()
                    .iter()
                    .map(|q| q.account_id().map(str::to_owned)),
            );
        }
        Ok(())
    }
}

#[tokio::test]
async fn another_accounts_job_is_queried_with_account_id() {
    let mut f = fixture().await;
    let config = Emulator::shared().await.sdk_config().await;
    let ids = AccountIds::default();
    let client = cw::Client::from_conf(
        cw::config::Builder::from(&config)
            .interceptor(ids.clone())
            .build(),
    );
    f.augmenter.metrics = CloudWatchMetrics::new(client);
    let t0 = minute_now() - 30 * 60;
    for (account, want) in [("111122223333", Some("111122223333")), (ACCOUNT_ID, None)] {
        let mut e = training_event(&unique_name("aug-xacct"), "ml.m5.xlarge", 2, t0, t0 + 600);
        e["account"] = json!(account);
        f.direct(e).await;
        let seen = std::mem::take(&mut *ids.0.lock().expect("lock"));
        assert_eq!(seen.len(), 2 * 3, "one query per host and metric");
        assert!(
            seen.iter().all(|a| a.as_deref() == want),
            "{account}: {seen:?}"
        );
    }
}

// ---- the sweep (issue #18) ---------------------------------------------------------------

/// Seeds jobs that ended without their event (the control API's `finished-jobs` route).
async fn seed_finished(jobs: Value) -> Value {
    let emu = Emulator::shared().await;
    emu.control(
        "POST",
        "/_sagewatch/sagemaker/finished-jobs",
        Some(&json!({ "Jobs": jobs })),
    )
    .await
    .expect("seed finished jobs")
}

fn at(s: &str) -> chrono::DateTime<Utc> {
    s.parse().expect("time")
}

fn epoch(s: &str) -> i64 {
    at(s).timestamp()
}

impl Fixture {
    /// A scheduled sweep at `now` (the function's ARN gives the region).
    async fn sweep_at(&self, now: chrono::DateTime<Utc>) -> event_augmenter::SweepSummary {
        let mut ctx = Context::default();
        ctx.request_id = unique_name("sweep-req");
        ctx.invoked_function_arn =
            format!("arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:event-augmenter");
        let scheduled = json!({
            "version": "0", "id": unique_name("sched"), "detail-type": "Scheduled Event",
            "source": "aws.events", "account": ACCOUNT_ID, "time": now.to_rfc3339(),
            "region": "us-east-1", "resources": [], "detail": {}
        });
        match self
            .augmenter
            .handle_at(LambdaEvent::new(scheduled, ctx), now)
            .await
            .expect("sweep")
        {
            Response::Sweep(s) => s.sweep,
            other => panic!("expected a sweep summary, got {other:?}"),
        }
    }

    fn reports_of(&self, job: &str) -> Vec<Value> {
        self.lines_of("job_summary")
            .into_iter()
            .filter(|l| l["job_name"] == job)
            .collect()
    }
}

fn count(counts: &std::collections::BTreeMap<String, usize>, op: &str) -> usize {
    counts.get(op).copied().unwrap_or(0)
}

/// Three jobs ended and SageMaker's events never came (one Completed, one Failed, one
/// Stopped): the sweep counts each once, marked `reconciled`; the real event that arrives
/// afterwards is a duplicate; a second sweep finds every claim and does nothing else.
#[tokio::test]
async fn the_sweep_counts_jobs_whose_events_were_lost_once_and_a_late_event_is_a_duplicate() {
    let f = fixture().await;
    // A window of its own, far in the past: no other test's job is listed in it.
    let now = at("2024-03-01T11:00:00Z");
    let (done, failed, stopped) = (
        unique_name("sw-done"),
        unique_name("sw-failed"),
        unique_name("sw-stopped"),
    );
    seed_finished(json!([
        {"Kind": "training", "Name": done, "Status": "Completed", "InstanceType": "ml.g5.2xlarge",
         "InstanceCount": 2, "StartTime": epoch("2024-03-01T08:10:00Z"), "EndTime": epoch("2024-03-01T08:40:00Z"),
         "Tags": [{"Key": "project", "Value": "vision"}, {"Key": "owner", "Value": "not-copied"}]},
        {"Kind": "training", "Name": failed, "Status": "Failed",
         "FailureReason": "AlgorithmError: CUDA out of memory",
         "StartTime": epoch("2024-03-01T08:12:00Z"), "EndTime": epoch("2024-03-01T08:50:00Z")},
        {"Kind": "processing", "Name": stopped, "Status": "Stopped",
         "StartTime": epoch("2024-03-01T08:15:00Z"), "EndTime": epoch("2024-03-01T09:00:00Z")},
    ]))
    .await;

    f.calls.reset();
    let first = f.sweep_at(now).await;
    assert_eq!(first.reconciled.get("TrainingJob"), Some(&2), "{first:?}");
    assert_eq!(first.reconciled.get("ProcessingJob"), Some(&1), "{first:?}");
    assert_eq!(first.reconciled_total(), 3, "{first:?}");
    assert_eq!(first.bound, None, "{first:?}");
    assert!(first.errors.is_empty(), "{first:?}");
    let counts = f.calls.counts();
    // One page per kind, one claim read, Describe, ListTags (the fixture copies the tag
    // `project`), GetMetricData and put per job.
    for (op, n) in [
        ("ListTrainingJobs", 1),
        ("ListProcessingJobs", 1),
        ("ListTransformJobs", 1),
        ("GetItem", 3),
        ("DescribeTrainingJob", 2),
        ("DescribeProcessingJob", 1),
        ("ListTags", 3),
        ("GetMetricData", 3),
        ("PutItem", 3),
    ] {
        assert_eq!(count(&counts, op), n, "{op}: {counts:?}");
    }
    assert_eq!(f.calls.total(), 18, "{counts:?}");

    for (job, status) in [
        (&done, "Completed"),
        (&failed, "Failed"),
        (&stopped, "Stopped"),
    ] {
        let [report] = f
            .reports_of(job)
            .try_into()
            .expect("one job_summary per job");
        assert_eq!(report["status"], status, "{report}");
        assert_eq!(report["reconciled"], true, "{report}");
        assert_eq!(report["account"], ACCOUNT_ID);
        assert_eq!(report["region"], "us-east-1");
    }
    let [failed_report] = f.reports_of(&failed).try_into().expect("one report");
    assert_eq!(
        failed_report["failure_reason"],
        "AlgorithmError: CUDA out of memory"
    );
    let [done_report] = f.reports_of(&done).try_into().expect("one report");
    assert_eq!(done_report["instance_type"], "ml.g5.2xlarge");
    assert_eq!(done_report["instance_count"], 2);
    assert_eq!(done_report["duration_seconds"], 30 * 60);
    assert_eq!(done_report["tags"], json!({"project": "vision"}));
    let reconciled = f.emf_with("ReconciledEvents");
    assert_eq!(reconciled.len(), 3);
    for line in &reconciled {
        sagewatch::emf::validate(&line.to_string()).expect("valid EMF");
        assert_eq!(line["Function"], "event-augmenter");
    }
    assert_eq!(f.emf_with("JobCount").len(), 3);

    // The Completed job's real event, delivered late: the sweep's claim makes it a duplicate.
    let mut late = training_event(
        &done,
        "ml.g5.2xlarge",
        2,
        epoch("2024-03-01T08:10:00Z"),
        epoch("2024-03-01T08:40:00Z"),
    );
    late["account"] = json!(ACCOUNT_ID);
    let s = f.direct(late).await;
    assert_eq!(s.outcomes[0].result, Disposition::Duplicate, "{s:?}");
    assert_eq!(f.reports_of(&done).len(), 1);
    assert_eq!(f.emf_with("DuplicateEvents").len(), 1);

    // A second sweep: every claim is there; no Describe, no metrics, no put.
    f.calls.reset();
    let second = f.sweep_at(now + chrono::Duration::minutes(15)).await;
    assert_eq!(second.reconciled_total(), 0, "{second:?}");
    assert_eq!(second.already_claimed, 3, "{second:?}");
    let counts = f.calls.counts();
    assert_eq!(count(&counts, "GetItem"), 3, "{counts:?}");
    assert_eq!(f.calls.total(), 6, "3 listings + 3 claim reads: {counts:?}");
    assert_eq!(f.emf_with("ReconciledEvents").len(), 3);
    assert_eq!(f.lines_of("job_summary").len(), 3);
}

/// A job whose event was counted is never touched by a later sweep (the event's claim).
#[tokio::test]
async fn a_sweep_after_the_real_event_does_nothing() {
    let f = fixture().await;
    let now = at("2024-03-05T11:00:00Z");
    let job = unique_name("sw-event-first");
    let (start, end) = (epoch("2024-03-05T08:10:00Z"), epoch("2024-03-05T08:40:00Z"));
    seed_finished(
        json!([{"Kind": "training", "Name": job, "Status": "Completed",
        "InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "StartTime": start, "EndTime": end}]),
    )
    .await;
    let mut event = training_event(&job, "ml.m5.xlarge", 1, start, end);
    event["account"] = json!(ACCOUNT_ID);
    assert_eq!(
        f.direct(event).await.outcomes[0].result,
        Disposition::Counted
    );
    f.calls.reset();
    let s = f.sweep_at(now).await;
    assert_eq!(
        (s.ended, s.already_claimed, s.reconciled_total()),
        (1, 1, 0),
        "{s:?}"
    );
    let counts = f.calls.counts();
    assert_eq!(count(&counts, "DescribeTrainingJob"), 0, "{counts:?}");
    assert_eq!(count(&counts, "PutItem"), 0, "{counts:?}");
    assert_eq!(f.reports_of(&job).len(), 1);
}

/// Bounds: pages of 2, at most 3 jobs per run. Five lost jobs take two runs; the first stops
/// at the job bound (log and `SweepBoundReached`), the second finishes (its window overlaps);
/// a run limited to one page stops at the page bound. Every call is counted.
#[tokio::test]
async fn the_sweep_is_bounded_in_pages_and_jobs_and_the_next_run_picks_up_the_rest() {
    let mut f = fixture().await;
    let now = at("2024-03-10T11:00:00Z");
    let names: Vec<String> = (0..5).map(|_| unique_name("sw-bound")).collect();
    let jobs: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let start = epoch("2024-03-10T08:00:00Z") + 60 * i as i64;
            json!({"Kind": "training", "Name": name, "Status": "Completed",
                   "StartTime": start, "EndTime": start + 1800})
        })
        .collect();
    seed_finished(json!(jobs)).await;
    f.augmenter.config.sweep.page_size = 2;
    f.augmenter.config.sweep.max_pages = 10;
    f.augmenter.config.sweep.max_jobs = 3;

    f.calls.reset();
    let first = f.sweep_at(now).await;
    assert_eq!(first.reconciled_total(), 3, "{first:?}");
    assert_eq!(
        first.bound,
        Some(sagewatch::sweep::Bound::Jobs),
        "{first:?}"
    );
    let counts = f.calls.counts();
    assert_eq!(count(&counts, "ListTrainingJobs"), 2, "{counts:?}");
    // The 4th job's claim is read before the bound stops the run; the other kinds wait.
    assert_eq!(count(&counts, "GetItem"), 4, "{counts:?}");
    assert_eq!(count(&counts, "DescribeTrainingJob"), 3, "{counts:?}");
    assert_eq!(count(&counts, "PutItem"), 3, "{counts:?}");
    assert_eq!(count(&counts, "ListProcessingJobs"), 0, "{counts:?}");
    let [bound] = f
        .emf_with("SweepBoundReached")
        .try_into()
        .expect("one bound record");
    assert_eq!(bound["bound"], "jobs");

    f.calls.reset();
    let second = f.sweep_at(now + chrono::Duration::minutes(15)).await;
    assert_eq!(second.reconciled_total(), 2, "{second:?}");
    assert_eq!(second.already_claimed, 3, "{second:?}");
    assert_eq!(second.bound, None, "{second:?}");
    let counts = f.calls.counts();
    assert_eq!(count(&counts, "ListTrainingJobs"), 3, "{counts:?}");
    assert_eq!(count(&counts, "ListProcessingJobs"), 1, "{counts:?}");
    assert_eq!(count(&counts, "ListTransformJobs"), 1, "{counts:?}");
    assert_eq!(count(&counts, "DescribeTrainingJob"), 2, "{counts:?}");
    for name in &names {
        assert_eq!(f.reports_of(name).len(), 1, "{name}");
    }

    f.augmenter.config.sweep.max_pages = 1;
    f.calls.reset();
    let third = f.sweep_at(now + chrono::Duration::minutes(20)).await;
    assert_eq!(
        third.bound,
        Some(sagewatch::sweep::Bound::Pages),
        "{third:?}"
    );
    assert_eq!(third.reconciled_total(), 0, "{third:?}");
    let counts = f.calls.counts();
    assert_eq!(count(&counts, "ListTrainingJobs"), 1, "{counts:?}");
    // A page bound ends one listing, not the run.
    assert_eq!(count(&counts, "ListProcessingJobs"), 1, "{counts:?}");
    assert_eq!(count(&counts, "DescribeTrainingJob"), 0, "{counts:?}");
}

/// A bus of its own with one rule for the sweep's source, its target a queue: what the
/// sweep re-emits, as EventBridge delivers it.
async fn sweep_bus(f: &mut Fixture) -> Queue {
    let config = Emulator::shared().await.sdk_config().await;
    let events = eb::Client::new(&config);
    let bus = unique_name("sweep-bus");
    events
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .expect("CreateEventBus");
    let rule = unique_name("reemitted");
    events
        .put_rule()
        .name(&rule)
        .event_bus_name(&bus)
        .event_pattern(json!({"source": [sagewatch::events::REEMIT_SOURCE]}).to_string())
        .send()
        .await
        .expect("PutRule");
    let queue = Queue::new(&config, "reemitted").await;
    events
        .put_targets()
        .rule(&rule)
        .event_bus_name(&bus)
        .targets(
            eb::types::Target::builder()
                .id("queue")
                .arn(&queue.arn)
                .build()
                .expect("Target"),
        )
        .send()
        .await
        .expect("PutTargets");
    let counted = eb::Client::from_conf(
        eb::config::Builder::from(&config)
            .interceptor(f.calls.clone())
            .build(),
    );
    f.augmenter.bus = EventBridgeBus::new(counted, Some(bus));
    queue
}

async fn received(queue: &Queue) -> Vec<Value> {
    queue.drain().await.into_iter().map(|r| r.body).collect()
}

/// The lost state changes are put on the bus once each, as events every other consumer's
/// rule can route (failure-enricher explains the failed one: its tests take this shape).
#[tokio::test]
async fn the_sweep_re_emits_each_lost_state_change_once_for_the_other_consumers() {
    let mut f = fixture().await;
    let queue = sweep_bus(&mut f).await;
    let now = at("2024-04-01T11:00:00Z");
    let (done, failed) = (unique_name("re-done"), unique_name("re-failed"));
    seed_finished(json!([
        {"Kind": "training", "Name": done, "Status": "Completed",
         "StartTime": epoch("2024-04-01T08:10:00Z"), "EndTime": epoch("2024-04-01T08:40:00Z")},
        {"Kind": "training", "Name": failed, "Status": "Failed",
         "FailureReason": "AlgorithmError: CUDA out of memory",
         "StartTime": epoch("2024-04-01T08:12:00Z"), "EndTime": epoch("2024-04-01T08:50:00Z")},
    ]))
    .await;
    f.calls.reset();
    let first = f.sweep_at(now).await;
    assert_eq!(first.reconciled_total(), 2, "{first:?}");
    assert_eq!(first.reemitted, 2, "{first:?}");
    assert_eq!(count(&f.calls.counts(), "PutEvents"), 2);

    let got = received(&queue).await;
    assert_eq!(got.len(), 2, "{got:?}");
    let event = got
        .iter()
        .find(|e| e["detail"]["TrainingJobName"] == json!(failed))
        .expect("the failed job's state change");
    assert_eq!(event["source"], "sagewatch.sweep");
    assert_eq!(event["detail-type"], "SageMaker Training Job State Change");
    let parsed = sagewatch::events::SageMakerEvent::from_value(event.clone()).expect("parses");
    assert!(parsed.is_reconciled());
    assert_eq!(parsed.account.as_deref(), Some(ACCOUNT_ID));
    let sagewatch::events::Detail::TrainingJob(job) = parsed.detail else {
        panic!("not a training job: {event}");
    };
    assert_eq!(
        job.training_job_status.as_ref().map(|s| s.as_str()),
        Some("Failed")
    );
    assert_eq!(
        job.failure_reason.as_deref(),
        Some("AlgorithmError: CUDA out of memory")
    );

    // The next run finds the claims: nothing is put again.
    f.calls.reset();
    let second = f.sweep_at(now + chrono::Duration::minutes(15)).await;
    assert_eq!(second.reemitted, 0, "{second:?}");
    assert_eq!(count(&f.calls.counts(), "PutEvents"), 0);
    assert!(received(&queue).await.is_empty());
}
