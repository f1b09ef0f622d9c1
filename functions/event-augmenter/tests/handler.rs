//! Handler logic with in-memory ports, over every sample in `events/` and the quirks.
//! (AWS behaviour itself is tested against the emulator in `emulator.rs`.)

use chrono::{DateTime, Utc};
use event_augmenter::ports::{
    ClaimReader, DiscoveredHosts, HostDiscovery, HostMetrics, MetricRequest, MetricValues, NoJobs,
};
use event_augmenter::{Augmenter, Config, Disposition, Response, Summary};
use lambda_runtime::{Context, LambdaEvent};
use sagewatch::claims::{Claim, ClaimStore, Claimed, MemoryClaims};
use sagewatch::error::{AwsError, ErrorKind};
use sagewatch::output::MemorySink;
use sagewatch::testing::sample;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

// ---- fakes ------------------------------------------------------------------------------

/// The shared in-memory claim store, with every claim recorded and failures on demand.
#[derive(Default)]
struct FakeDedupe {
    store: MemoryClaims,
    claims: Mutex<Vec<Claim>>,
    fail_with: Mutex<Option<ErrorKind>>,
    /// Fails (retryably) only the claims whose key contains this.
    fail_keys_containing: Mutex<Option<String>>,
}

impl FakeDedupe {
    fn claims(&self) -> Vec<Claim> {
        self.claims.lock().unwrap().clone()
    }
}

fn aws_error(operation: &'static str, code: &str, kind: ErrorKind) -> AwsError {
    AwsError::new(operation, kind, code, "test")
}

impl ClaimStore for FakeDedupe {
    async fn claim(&self, claim: &Claim) -> Result<Claimed, AwsError> {
        self.claims.lock().unwrap().push(claim.clone());
        if let Some(kind) = *self.fail_with.lock().unwrap() {
            return Err(aws_error("PutItem", "ResourceNotFoundException", kind));
        }
        if let Some(part) = self.fail_keys_containing.lock().unwrap().as_deref() {
            if claim.key.contains(part) {
                return Err(aws_error(
                    "PutItem",
                    "InternalServerError",
                    ErrorKind::Unavailable,
                ));
            }
        }
        self.store.claim(claim).await
    }
    async fn complete(&self, key: &str, owner: &str) -> Result<(), AwsError> {
        self.store.complete(key, owner).await
    }
    async fn release(&self, key: &str, owner: &str) -> Result<(), AwsError> {
        self.store.release(key, owner).await
    }
}

impl ClaimReader for FakeDedupe {
    async fn get(&self, key: &str) -> Result<Option<sagewatch::claims::ClaimItem>, AwsError> {
        self.store.get(key).await
    }
}

/// Per-period datapoints by (host, metric); `default` answers anything else with one
/// datapoint; `absent` never answers; `forbidden` is refused (StatusCode Forbidden).
#[derive(Default)]
struct FakeMetrics {
    values: BTreeMap<(String, String), Vec<f64>>,
    default: Option<f64>,
    absent: Vec<(String, String)>,
    forbidden: Vec<String>,
    transform_hosts: Vec<String>,
    transform_truncated: bool,
    fail_fetch: Mutex<Option<ErrorKind>>,
    requests: Mutex<Vec<MetricRequest>>,
    discoveries: Mutex<Vec<HostDiscovery>>,
}

impl FakeMetrics {
    fn uniform(v: f64) -> Self {
        FakeMetrics {
            default: Some(v),
            ..FakeMetrics::default()
        }
    }
    fn requests(&self) -> Vec<MetricRequest> {
        self.requests.lock().unwrap().clone()
    }
    fn discoveries(&self) -> Vec<HostDiscovery> {
        self.discoveries.lock().unwrap().clone()
    }
}

impl HostMetrics for FakeMetrics {
    async fn fetch(&self, request: &MetricRequest) -> Result<MetricValues, AwsError> {
        self.requests.lock().unwrap().push(request.clone());
        if let Some(retry) = *self.fail_fetch.lock().unwrap() {
            return Err(aws_error("GetMetricData", "Throttling", retry));
        }
        let mut out = MetricValues::default();
        for q in &request.queries {
            let pair = (q.host.clone(), q.metric_name.clone());
            if self.absent.contains(&pair) {
                continue;
            }
            if self.forbidden.contains(&q.host) {
                out.forbidden
                    .insert(q.id.clone(), "AccessDenied: no OAM link".into());
                continue;
            }
            let v = self
                .values
                .get(&pair)
                .cloned()
                .or(self.default.map(|v| vec![v]));
            if let Some(v) = v {
                out.series.insert(q.id.clone(), v);
            }
        }
        Ok(out)
    }

    async fn discover_hosts(&self, request: &HostDiscovery) -> Result<DiscoveredHosts, AwsError> {
        self.discoveries.lock().unwrap().push(request.clone());
        Ok(DiscoveredHosts {
            hosts: self
                .transform_hosts
                .iter()
                .filter(|h| h.starts_with(&format!("{}/", request.job_name)))
                .cloned()
                .collect(),
            truncated: self.transform_truncated,
        })
    }
}

type Fake = Augmenter<FakeDedupe, FakeMetrics, MemorySink>;

fn augmenter(metrics: FakeMetrics) -> Fake {
    Augmenter {
        dedupe: FakeDedupe::default(),
        metrics,
        sink: MemorySink::default(),
        jobs: NoJobs,
        bus: event_augmenter::ports::NoBus,
        config: Config {
            common: sagewatch::config::Common {
                home_account: Some("123456789012".into()),
                ..Config::default().common
            },
            report_tag_keys: vec!["project".into()],
            ..Config::default()
        },
    }
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-06-11T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

async fn invoke(a: &Fake, payload: Value) -> Result<Response, String> {
    a.handle_at(LambdaEvent::new(payload, Context::default()), now())
        .await
        .map_err(|e| e.to_string())
}

async fn direct(a: &Fake, payload: Value) -> Summary {
    match invoke(a, payload).await.unwrap() {
        Response::Direct(s) => s,
        Response::Batch(b) => panic!("expected a direct summary, got {b:?}"),
        Response::Sweep(s) => panic!("expected a direct summary, got {s:?}"),
    }
}

/// The lines of one kind: `sagewatch_event` for reports, a metric name for EMF.
fn reports(sink: &MemorySink, kind: &str) -> Vec<Value> {
    sink.json()
        .into_iter()
        .filter(|v| v["sagewatch_event"] == kind)
        .collect()
}

fn emf_with(sink: &MemorySink, metric: &str) -> Vec<Value> {
    sink.json()
        .into_iter()
        .filter(|v| {
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .is_some_and(|ms| ms.iter().any(|m| m["Name"] == metric))
        })
        .collect()
}

// ---- every sample -------------------------------------------------------------------------

/// (file, disposition, metric that must be emitted, report kind that must be written)
const SAMPLES: &[(&str, Disposition, Option<&str>, Option<&str>)] = &[
    (
        "training-job-state-change.json",
        Disposition::Counted,
        Some("JobCount"),
        Some("job_summary"),
    ),
    (
        "training-job-state-change-failed.json",
        Disposition::Counted,
        Some("JobCount"),
        Some("job_summary"),
    ),
    (
        "training-job-state-change-stopping.json",
        Disposition::NotTerminal,
        None,
        None,
    ),
    (
        "training-job-state-change-doc-verbatim.json",
        Disposition::Counted,
        Some("JobCount"),
        Some("job_summary"),
    ),
    (
        "processing-job-state-change.json",
        Disposition::Counted,
        Some("JobCount"),
        Some("job_summary"),
    ),
    (
        "transform-job-state-change.json",
        Disposition::Counted,
        Some("JobCount"),
        Some("job_summary"),
    ),
    (
        "hyperparameter-tuning-job-state-change.json",
        Disposition::Counted,
        Some("TuningJobCount"),
        None,
    ),
    (
        "endpoint-state-change.json",
        Disposition::Counted,
        Some("EndpointTimeToInServiceSeconds"),
        None,
    ),
    (
        "endpoint-deployment-state-change.json",
        Disposition::Ignored,
        None,
        None,
    ),
    (
        "endpoint-deployment-state-change-rolled-back.json",
        Disposition::Ignored,
        None,
        None,
    ),
    (
        "pipeline-execution-status-change.json",
        Disposition::Counted,
        Some("PipelineExecutionDurationSeconds"),
        None,
    ),
    (
        "pipeline-step-status-change.json",
        Disposition::Counted,
        Some("PipelineStepCount"),
        None,
    ),
    (
        "model-package-state-change.json",
        Disposition::Ignored,
        None,
        None,
    ),
    (
        "cloudtrail-api-call.json",
        Disposition::Counted,
        Some("ApiCalls"),
        Some("api_audit"),
    ),
    (
        "cloudtrail-api-call-error.json",
        Disposition::Counted,
        Some("ApiCalls"),
        Some("api_audit"),
    ),
    ("unknown-detail-type.json", Disposition::Ignored, None, None),
    // Payloads meant for other functions: logged and counted as invalid, never retried.
    (
        "failure-direct-invoke.json",
        Disposition::Invalid,
        Some("InvalidEvents"),
        None,
    ),
    (
        "alarm-lambda-action.json",
        Disposition::Invalid,
        Some("InvalidEvents"),
        None,
    ),
    (
        "alarm-sns-single-metric.json",
        Disposition::Invalid,
        Some("InvalidEvents"),
        None,
    ),
    (
        "alarm-sns-ok.json",
        Disposition::Invalid,
        Some("InvalidEvents"),
        None,
    ),
    (
        "alarm-sns-host-dimension.json",
        Disposition::Invalid,
        Some("InvalidEvents"),
        None,
    ),
    (
        "alarm-sns-metric-math.json",
        Disposition::Invalid,
        Some("InvalidEvents"),
        None,
    ),
    (
        "alarm-sns-metric-math-legacy.json",
        Disposition::Invalid,
        Some("InvalidEvents"),
        None,
    ),
    (
        "alarm-sns-two-jobs.json",
        Disposition::Invalid,
        Some("InvalidEvents"),
        None,
    ),
];

#[tokio::test]
async fn every_sample_in_events() {
    let files = sagewatch::testing::sample_names();
    for file in &files {
        let a = augmenter(FakeMetrics {
            transform_hosts: vec!["sagewatch-demo-transform-1/i-0abc-us-east-1a".into()],
            ..FakeMetrics::uniform(42.0)
        });
        let response = invoke(&a, sample(file)).await;
        let Some((_, want, metric, kind)) = SAMPLES.iter().find(|(f, ..)| f == file) else {
            // A sample added after this test: it must at least be handled without an error.
            assert!(response.is_ok(), "{file}: {response:?}");
            continue;
        };
        let response = response.unwrap_or_else(|e| panic!("{file}: {e}"));
        let dispositions: Vec<Disposition> = match &response {
            Response::Direct(s) => s.outcomes.iter().map(|o| o.result).collect(),
            Response::Batch(b) => panic!("{file}: unexpected batch {b:?}"),
            Response::Sweep(s) => panic!("{file}: unexpected sweep {s:?}"),
        };
        assert_eq!(dispositions, vec![*want], "{file}");
        let lines = a.sink.json();
        if let Some(metric) = metric {
            assert_eq!(emf_with(&a.sink, metric).len(), 1, "{file}: {lines:?}");
        } else {
            assert!(lines.is_empty(), "{file}: nothing to write, got {lines:?}");
        }
        if let Some(kind) = kind {
            assert_eq!(reports(&a.sink, kind).len(), 1, "{file}");
        }
        let puts = a.dedupe.claims().len();
        // The first InService of an endpoint also claims its time to InService (once per
        // endpoint creation).
        let extra = usize::from(file.starts_with("endpoint-state-change"));
        assert_eq!(
            puts,
            usize::from(*want == Disposition::Counted) + extra,
            "{file}: PutItem calls"
        );
    }
    for (file, ..) in SAMPLES {
        assert!(
            files.contains(&file.to_string()),
            "{file} is no longer in events/"
        );
    }
}

#[tokio::test]
async fn completed_training_sample_report() {
    let a = augmenter(FakeMetrics {
        // Per-minute averages of summed cores: mean 200, highest 380.
        values: [(
            (
                "sagewatch-demo-train-1/algo-1".into(),
                "CPUUtilization".into(),
            ),
            vec![380.0, 20.0, 200.0],
        )]
        .into_iter()
        .collect(),
        ..FakeMetrics::uniform(12.5)
    });
    direct(&a, sample("training-job-state-change.json")).await;
    let [r] = reports(&a.sink, "job_summary").try_into().unwrap();
    assert_eq!(r["job_type"], "training");
    assert_eq!(r["job_name"], "sagewatch-demo-train-1");
    assert_eq!(r["status"], "Completed");
    assert_eq!(r["account"], "123456789012");
    assert_eq!(r["instance_type"], "ml.m5.xlarge");
    assert_eq!(r["instance_count"], 1);
    // TrainingStartTime 1718020931517, TrainingEndTime 1718022708204 (epoch-ms strings).
    assert_eq!(r["duration_seconds"], 1776);
    assert_eq!(r["billable_seconds"], 1776);
    assert_eq!(r["billable_seconds_source"], "duration");
    assert_eq!(r["instance_seconds"], 1776);
    // ml.m5.xlarge has 4 vCPUs: 200 % and 380 % of summed cores are 50 % and 95 %.
    assert_eq!(r["cpu_utilization_avg"], 50.0);
    assert_eq!(r["cpu_utilization_max"], 95.0);
    assert_eq!(r["memory_utilization_avg"], 12.5);
    assert!(
        r.get("gpu_utilization_avg").is_none(),
        "a CPU-only type has no GPU values"
    );
    assert_eq!(r["underutilized"], false);
    assert_eq!(r["missing"], json!([]));
    assert_eq!(r["tags"], json!({"project": "sagewatch"}));
    assert_eq!(r["hosts"][0]["host"], "sagewatch-demo-train-1/algo-1");
    // One GetMetricData request: 1 host × 3 metrics (no GPU on m5), exact Host.
    let reqs = a.metrics.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].queries.len(), 3);
    assert!(reqs[0]
        .queries
        .iter()
        .all(|q| q.host == "sagewatch-demo-train-1/algo-1"
            && q.namespace == "/aws/sagemaker/TrainingJobs"
            && q.account_id.is_none()));
    // Data from June 2024 read on 2024-06-11: minute granularity, one Average per minute.
    assert_eq!(reqs[0].queries[0].period, 60);
    assert_eq!(reqs[0].start.to_rfc3339(), "2024-06-10T12:02:00+00:00");
    assert_eq!(reqs[0].end.to_rfc3339(), "2024-06-10T12:32:00+00:00");
    assert_eq!(
        a.dedupe.claims()[0].key,
        "event-augmenter#123456789012#training#sagewatch-demo-train-1#Completed"
    );
    // The EMF line: contract dimension sets, never the job name as a dimension.
    let [emf] = emf_with(&a.sink, "JobCount").try_into().unwrap();
    assert_eq!(
        emf["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([
            ["JobType"],
            ["JobType", "Status"],
            ["Account", "JobType", "Status"],
            ["JobType", "InstanceType"]
        ])
    );
    assert_eq!(
        emf["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "SageWatch"
    );
    assert_eq!(emf["CPUUtilizationMaximum"], 95.0);
    assert_eq!(emf["InstanceSeconds"], 1776.0);
    assert_eq!(emf["Underutilized"], 0.0);
    assert_eq!(emf["job_name"], "sagewatch-demo-train-1");
    for line in a.sink.lines() {
        if line.contains("\"_aws\"") {
            sagewatch::emf::validate(&line).unwrap();
        }
    }
}

#[tokio::test]
async fn failure_reason_is_redacted_and_reported() {
    let a = augmenter(FakeMetrics::uniform(1.0));
    let mut e = sample("training-job-state-change-failed.json");
    e["detail"]["FailureReason"] = json!("AlgorithmError: could not connect with password=hunter2");
    direct(&a, e).await;
    let [r] = reports(&a.sink, "job_summary").try_into().unwrap();
    assert_eq!(r["status"], "Failed");
    let reason = r["failure_reason"].as_str().unwrap();
    assert!(
        reason.contains("password=[REDACTED]") && !reason.contains("hunter2"),
        "{reason}"
    );
    assert!(!a.sink.lines().iter().any(|l| l.contains("hunter2")));
}

// ---- Stopping and other quirks --------------------------------------------------------------

#[tokio::test]
async fn stopping_is_never_terminal_for_any_job_kind() {
    let cases = [
        (
            "training-job-state-change-stopping.json",
            "TrainingJobStatus",
        ),
        ("processing-job-state-change.json", "ProcessingJobStatus"),
        ("transform-job-state-change.json", "TransformJobStatus"),
    ];
    for (file, field) in cases {
        for status in ["Stopping", "STOPPING", "InProgress", "IN_PROGRESS"] {
            let a = augmenter(FakeMetrics::uniform(1.0));
            let mut e = sample(file);
            e["detail"][field] = json!(status);
            let s = direct(&a, e).await;
            assert_eq!(
                s.outcomes[0].result,
                Disposition::NotTerminal,
                "{file} {status}"
            );
            assert!(a.dedupe.claims().is_empty() && a.metrics.requests().is_empty());
            assert!(a.sink.lines().is_empty(), "{file} {status}");
        }
    }
    // The same job's Stopped event afterwards is counted.
    let a = augmenter(FakeMetrics::uniform(1.0));
    let mut e = sample("training-job-state-change-stopping.json");
    e["detail"]["TrainingJobStatus"] = json!("Stopped");
    e["detail"]["TrainingEndTime"] = json!("1718029205300");
    assert_eq!(direct(&a, e).await.outcomes[0].result, Disposition::Counted);
}

#[tokio::test]
async fn doc_verbatim_sample_unknown_type_three_hosts_raw_values() {
    let a = augmenter(FakeMetrics::uniform(150.0));
    direct(&a, sample("training-job-state-change-doc-verbatim.json")).await;
    let [r] = reports(&a.sink, "job_summary").try_into().unwrap();
    // The doc's name and ARN disagree: the name is what Host dimensions use.
    assert_eq!(r["job_name"], "89c96cc8-dded-4739-afcc-6f1dc936701d");
    assert_eq!(r["instance_type"], "InstanceType");
    assert!(r["normalization_note"]
        .as_str()
        .unwrap()
        .contains("not in the vCPU/GPU table"));
    assert!(
        r.get("cpu_utilization_avg").is_none(),
        "raw sums are not reported as percent"
    );
    assert_eq!(r["memory_utilization_avg"], 150.0);
    assert_eq!(r["hosts"].as_array().unwrap().len(), 3);
    assert_eq!(
        r["hosts"][2]["host"],
        "89c96cc8-dded-4739-afcc-6f1dc936701d/algo-3"
    );
    assert_eq!(r["hosts"][0]["gpu_utilization_raw_max"], 150.0);
    assert!(r.get("underutilized").is_none(), "cannot tell from raw 150");
    // Unknown type: all five metrics asked for; start == end still gives one granule.
    let q = &a.metrics.requests()[0];
    assert_eq!(q.queries.len(), 3 * 5);
    assert_eq!(
        (q.end - q.start).num_seconds(),
        i64::from(q.queries[0].period)
    );
    let [emf] = emf_with(&a.sink, "JobCount").try_into().unwrap();
    assert!(emf.get("CPUUtilizationAverage").is_none());
    assert_eq!(emf["MemoryUtilizationAverage"], 150.0);
}

#[tokio::test]
async fn an_absurd_instance_count_is_capped_not_queried_host_by_host() {
    // Issue #11 item 11, reproduced before: 100 000 000 hosts were planned, one query each,
    // until the function died without an answer.
    let mut e = sample("training-job-state-change.json");
    e["detail"]["ResourceConfig"]["InstanceCount"] = json!(100_000_000);
    let a = augmenter(FakeMetrics::uniform(5.0));
    let s = direct(&a, e).await;
    assert_eq!(s.outcomes[0].result, Disposition::Counted);
    let hosts: BTreeSet<String> = a
        .metrics
        .requests()
        .iter()
        .flat_map(|r| r.queries.iter().map(|q| q.host.clone()))
        .collect();
    assert_eq!(hosts.len(), 1_000);
    let [r] = reports(&a.sink, "job_summary").try_into().unwrap();
    assert!(
        r["utilization_note"]
            .as_str()
            .is_some_and(|n| n.contains("InstanceCount 100000000 is past 1000 hosts")),
        "{r}"
    );
    // 1 000 hosts' breakdown does not fit one report line: it is left out and counted.
    assert_eq!(r["hosts_omitted"], 1000, "{}", r.to_string().len());
    assert!(r.get("hosts").is_none());
    assert!(r.to_string().len() <= sagewatch::report::MAX_REPORT_BYTES);
}

#[tokio::test]
async fn gpu_job_missing_series_and_underutilized() {
    let mut e = sample("training-job-state-change.json");
    e["detail"]["ResourceConfig"] = json!({"InstanceType": "ml.g5.12xlarge", "InstanceCount": "2"});
    e["detail"]["TrainingJobStatus"] = json!("COMPLETED");
    e["detail"]["BillableTimeInSeconds"] = json!(1000);
    let host2 = "sagewatch-demo-train-1/algo-2".to_owned();
    let a = augmenter(FakeMetrics {
        absent: vec![
            (host2.clone(), "GPUUtilization".into()),
            (host2, "GPUMemoryUtilization".into()),
        ],
        ..FakeMetrics::uniform(60.0) // 60 % of 4 GPUs = 15 % normalised
    });
    direct(&a, e).await;
    let [r] = reports(&a.sink, "job_summary").try_into().unwrap();
    assert_eq!(r["status"], "Completed");
    assert_eq!(r["instance_count"], 2);
    assert_eq!(r["billable_seconds"], 1000);
    assert_eq!(r["billable_seconds_source"], "BillableTimeInSeconds");
    assert_eq!(r["instance_seconds"], 2000);
    assert_eq!(r["gpu_utilization_max"], 15.0);
    assert_eq!(r["cpu_utilization_max"], 1.25, "60 % of 48 vCPUs");
    assert_eq!(r["memory_utilization_avg"], 60.0);
    assert_eq!(
        r["missing"],
        json!([
            "sagewatch-demo-train-1/algo-2/GPUUtilization",
            "sagewatch-demo-train-1/algo-2/GPUMemoryUtilization"
        ])
    );
    assert_eq!(
        r["hosts"][1]["missing"],
        json!(["GPUUtilization", "GPUMemoryUtilization"])
    );
    assert_eq!(r["underutilized"], true, "GPU max 15 % < 20 %");
    let [emf] = emf_with(&a.sink, "Underutilized").try_into().unwrap();
    assert_eq!(emf["Underutilized"], 1.0);
    assert_eq!(emf["InstanceType"], "ml.g5.12xlarge");
    assert_eq!(a.metrics.requests()[0].queries.len(), 2 * 5);
}

#[tokio::test]
async fn heterogeneous_cluster_is_mixed_and_raw() {
    let mut e = sample("training-job-state-change.json");
    e["detail"]["ResourceConfig"] = json!({"InstanceGroups": [
        {"InstanceGroupName": "a", "InstanceType": "ml.p4d.24xlarge", "InstanceCount": 1},
        {"InstanceGroupName": "b", "InstanceType": "ml.c5.18xlarge", "InstanceCount": 2}
    ]});
    let a = augmenter(FakeMetrics::uniform(50.0));
    direct(&a, e).await;
    let [r] = reports(&a.sink, "job_summary").try_into().unwrap();
    assert_eq!(r["instance_type"], "mixed");
    assert_eq!(r["instance_count"], 3);
    assert_eq!(r["hosts"].as_array().unwrap().len(), 3);
    assert!(r["normalization_note"]
        .as_str()
        .unwrap()
        .contains("heterogeneous"));
    assert!(r.get("cpu_utilization_avg").is_none());
}

#[tokio::test]
async fn a_job_that_never_started_is_counted_without_metric_calls() {
    let mut e = sample("training-job-state-change-failed.json");
    let detail = e["detail"].as_object_mut().unwrap();
    detail.remove("TrainingStartTime");
    detail.remove("TrainingEndTime");
    let a = augmenter(FakeMetrics::uniform(1.0));
    let s = direct(&a, e).await;
    assert_eq!(s.outcomes[0].result, Disposition::Counted);
    assert!(a.metrics.requests().is_empty());
    let [r] = reports(&a.sink, "job_summary").try_into().unwrap();
    assert_eq!(r["duration_seconds"], 0);
    assert_eq!(r["instance_seconds"], 0);
    assert!(r["utilization_note"]
        .as_str()
        .unwrap()
        .contains("never ran"));
}

#[tokio::test]
async fn transform_hosts_are_discovered_exactly() {
    let a = augmenter(FakeMetrics {
        transform_hosts: vec![
            "sagewatch-demo-transform-1/i-0aaa-us-east-1a".into(),
            "sagewatch-demo-transform-1/i-0bbb-us-east-1b".into(),
            "sagewatch-demo-transform-10/i-0ccc-us-east-1a".into(),
        ],
        ..FakeMetrics::uniform(10.0)
    });
    direct(&a, sample("transform-job-state-change.json")).await;
    let d = a.metrics.discoveries.lock().unwrap().clone();
    assert_eq!(d[0].namespace, "/aws/sagemaker/TransformJobs");
    let q = &a.metrics.requests()[0].queries;
    let hosts: BTreeSet<&str> = q.iter().map(|q| q.host.as_str()).collect();
    assert_eq!(hosts.len(), 2, "the -10 job's host is not ours: {hosts:?}");
    assert!(
        q.iter().all(|q| q.metric_name != "DiskUtilization"),
        "not published for transform"
    );
    let [r] = reports(&a.sink, "job_summary").try_into().unwrap();
    assert_eq!(r["job_type"], "transform");
    assert_eq!(r["status"], "Failed");
}

#[tokio::test]
async fn a_job_without_a_name_is_invalid_not_retried() {
    let a = augmenter(FakeMetrics::uniform(1.0));
    let mut e = sample("training-job-state-change.json");
    e["detail"]["TrainingJobName"] = json!("");
    let s = direct(&a, e).await;
    assert_eq!(s.outcomes[0].result, Disposition::Invalid);
    assert!(a.dedupe.claims().is_empty());
    assert_eq!(emf_with(&a.sink, "InvalidEvents").len(), 1);
    let mut e = sample("training-job-state-change.json");
    e["detail"]["ResourceConfig"] = json!("not an object");
    assert_eq!(direct(&a, e).await.outcomes[0].result, Disposition::Invalid);
}

// ---- counted once, retry semantics -----------------------------------------------------------

#[tokio::test]
async fn ten_deliveries_one_emission() {
    let a = augmenter(FakeMetrics::uniform(30.0));
    let mut results = Vec::new();
    for _ in 0..10 {
        results.push(
            direct(&a, sample("training-job-state-change.json"))
                .await
                .outcomes[0]
                .result,
        );
    }
    assert_eq!(results[0], Disposition::Counted);
    assert!(results[1..].iter().all(|r| *r == Disposition::Duplicate));
    assert_eq!(reports(&a.sink, "job_summary").len(), 1);
    assert_eq!(emf_with(&a.sink, "JobCount").len(), 1);
    let dups = emf_with(&a.sink, "DuplicateEvents");
    assert_eq!(dups.len(), 9);
    assert_eq!(dups[0]["Function"], "event-augmenter");
}

#[tokio::test]
async fn a_metrics_failure_is_retried_before_the_key_is_taken() {
    let a = augmenter(FakeMetrics::uniform(30.0));
    *a.metrics.fail_fetch.lock().unwrap() = Some(ErrorKind::Throttled);
    let err = invoke(&a, sample("training-job-state-change.json"))
        .await
        .unwrap_err();
    assert!(err.contains("must be retried"), "{err}");
    assert!(
        a.dedupe.claims().is_empty(),
        "no PutItem before the metrics were read"
    );
    assert!(a.sink.lines().is_empty());
    // The retry finds the key free and counts the job.
    *a.metrics.fail_fetch.lock().unwrap() = None;
    let s = direct(&a, sample("training-job-state-change.json")).await;
    assert_eq!(s.outcomes[0].result, Disposition::Counted);
    assert_eq!(reports(&a.sink, "job_summary").len(), 1);
}

#[tokio::test]
async fn a_permanent_metrics_failure_still_counts_the_job() {
    let a = augmenter(FakeMetrics::uniform(30.0));
    *a.metrics.fail_fetch.lock().unwrap() = Some(ErrorKind::AccessDenied);
    let s = direct(&a, sample("training-job-state-change.json")).await;
    assert_eq!(s.outcomes[0].result, Disposition::Counted);
    let [r] = reports(&a.sink, "job_summary").try_into().unwrap();
    assert_eq!(r["missing"].as_array().unwrap().len(), 3);
    assert!(r["utilization_note"]
        .as_str()
        .unwrap()
        .starts_with("GetMetricData failed"));
}

#[tokio::test]
async fn the_dedupe_table_failing_is_an_error_never_a_skip() {
    for retry in [ErrorKind::Throttled, ErrorKind::AccessDenied] {
        let a = augmenter(FakeMetrics::uniform(30.0));
        *a.dedupe.fail_with.lock().unwrap() = Some(retry);
        for file in [
            "training-job-state-change.json",
            "cloudtrail-api-call.json",
            "endpoint-state-change.json",
        ] {
            let err = invoke(&a, sample(file)).await.unwrap_err();
            assert!(err.contains("PutItem"), "{file}: {err}");
        }
        assert!(
            a.sink.lines().is_empty(),
            "nothing emitted without the claim"
        );
    }
}

// ---- SQS ---------------------------------------------------------------------------------

fn sqs_batch() -> Value {
    sample("sqs-batch-training-job-state-change.json")
}

#[tokio::test]
async fn sqs_batch_of_good_events_has_no_failures() {
    let a = augmenter(FakeMetrics::uniform(5.0));
    let Response::Batch(b) = invoke(&a, sqs_batch()).await.unwrap() else {
        panic!("batch")
    };
    assert!(b.batch_item_failures.is_empty());
    assert_eq!(reports(&a.sink, "job_summary").len(), 2);
    let out = serde_json::to_value(&b).unwrap();
    assert_eq!(out, json!({"batchItemFailures": []}));
}

#[tokio::test]
async fn the_same_event_twice_in_one_batch_is_counted_once() {
    // One invocation, one request id: each record is still its own attempt, so the second
    // copy meets the first copy's claim as someone else's (a duplicate), not as its own write.
    let a = augmenter(FakeMetrics::uniform(5.0));
    let mut batch = sqs_batch();
    let first = batch["Records"][0].clone();
    let mut copy = first.clone();
    copy["messageId"] = json!("copy-of-first");
    batch["Records"] = json!([first, copy]);
    let mut ctx = Context::default();
    ctx.request_id = "req-1".into();
    let Response::Batch(b) = a
        .handle_at(LambdaEvent::new(batch, ctx), now())
        .await
        .unwrap()
    else {
        panic!("batch")
    };
    assert!(b.batch_item_failures.is_empty());
    assert_eq!(reports(&a.sink, "job_summary").len(), 1);
    assert_eq!(emf_with(&a.sink, "DuplicateEvents").len(), 1);
}

#[tokio::test]
async fn sqs_malformed_message_alone_in_batch_item_failures() {
    let a = augmenter(FakeMetrics::uniform(5.0));
    let mut batch = sqs_batch();
    batch["Records"][1]["body"] = json!("{\"detail-type\": 5, oops");
    batch["Records"][1]["messageId"] = json!("bad-1");
    let Response::Batch(b) = invoke(&a, batch).await.unwrap() else {
        panic!("batch")
    };
    let ids: Vec<&str> = b
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    // Malformed is not retryable, but reporting it lets SQS move it to the DLQ after
    // maxReceiveCount: it stays visible instead of being deleted unseen.
    assert_eq!(ids, vec!["bad-1"]);
    assert_eq!(
        reports(&a.sink, "job_summary").len(),
        1,
        "the good message was processed"
    );
    assert_eq!(emf_with(&a.sink, "InvalidEvents").len(), 1);
}

#[tokio::test]
async fn sqs_retryable_failure_returns_only_that_message() {
    let a = augmenter(FakeMetrics::uniform(5.0));
    *a.metrics.fail_fetch.lock().unwrap() = Some(ErrorKind::Throttled);
    let mut batch = sqs_batch();
    // Second message: a CloudTrail call needs no metrics and succeeds.
    let ct = serde_json::to_string(&sample("cloudtrail-api-call.json")).unwrap();
    batch["Records"][1]["body"] = json!(ct);
    let Response::Batch(b) = invoke(&a, batch).await.unwrap() else {
        panic!("batch")
    };
    let ids: Vec<&str> = b
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(ids, vec!["059f36b4-87a3-44ab-83d2-661975830a7d"]);
    assert_eq!(reports(&a.sink, "api_audit").len(), 1);
}

#[tokio::test]
async fn sqs_failure_without_message_id_fails_the_whole_batch() {
    let a = augmenter(FakeMetrics::uniform(5.0));
    let mut batch = sqs_batch();
    batch["Records"][0]["body"] = json!("not json");
    batch["Records"][0]
        .as_object_mut()
        .unwrap()
        .remove("messageId");
    assert!(invoke(&a, batch).await.unwrap_err().contains("messageId"));
}

// ---- other event kinds -----------------------------------------------------------------------

#[tokio::test]
async fn tuning_counts_end_states_with_best_objective() {
    let a = augmenter(FakeMetrics::default());
    let mut e = sample("hyperparameter-tuning-job-state-change.json");
    e["detail"]["BestTrainingJob"] = json!({
        "TrainingJobName": "sagewatch-demo-hpo-1-003-abc",
        "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": "validation:logloss", "Value": "0.0912"}
    });
    direct(&a, e.clone()).await;
    let [emf] = emf_with(&a.sink, "TuningJobCount").try_into().unwrap();
    assert_eq!(emf["Status"], "Completed");
    assert_eq!(emf["best_objective_value"], 0.0912);
    assert_eq!(emf["training_job_status_counters"]["Completed"], 4);
    e["detail"]["HyperParameterTuningJobStatus"] = json!("InProgress");
    assert_eq!(
        direct(&a, e).await.outcomes[0].result,
        Disposition::NotTerminal
    );
}

#[tokio::test]
async fn endpoint_in_service_time_once_per_creation() {
    let a = augmenter(FakeMetrics::default());
    direct(&a, sample("endpoint-state-change.json")).await;
    let [emf] = emf_with(&a.sink, "EndpointStatusChanges")
        .try_into()
        .unwrap();
    assert_eq!(emf["Status"], "InService", "IN_SERVICE normalised");
    // CreationTime 1718038921203.0, LastModifiedTime 1718039430287.0 (float epoch-ms).
    let [time] = emf_with(&a.sink, "EndpointTimeToInServiceSeconds")
        .try_into()
        .unwrap();
    assert_eq!(time["EndpointTimeToInServiceSeconds"], 509.084);
    assert_eq!(time["Status"], "InService");
    assert!(a
        .dedupe
        .claims()
        .iter()
        .any(|c| c.key
            == "event-augmenter#123456789012#endpoint#SagewatchDemoEndpoint#1718038921203#first_in_service"));

    // An UpdateEndpoint back to InService days later: a new status change, counted, but not a
    // time to InService (LastModifiedTime − CreationTime would be the endpoint's age).
    let mut later = sample("endpoint-state-change.json");
    later["detail"]["LastModifiedTime"] = json!(1718038921203.0_f64 + 3.0 * 86_400_000.0);
    assert_eq!(
        direct(&a, later).await.outcomes[0].result,
        Disposition::Counted
    );
    assert_eq!(emf_with(&a.sink, "EndpointStatusChanges").len(), 2);
    assert_eq!(emf_with(&a.sink, "EndpointTimeToInServiceSeconds").len(), 1);

    // The first event delivered again: nothing new.
    assert_eq!(
        direct(&a, sample("endpoint-state-change.json"))
            .await
            .outcomes[0]
            .result,
        Disposition::Duplicate
    );
    assert_eq!(emf_with(&a.sink, "EndpointTimeToInServiceSeconds").len(), 1);

    // Deleted and created again under the same name: a new creation, a new time.
    let mut recreated = sample("endpoint-state-change.json");
    recreated["detail"]["CreationTime"] = json!(1718100000000.0_f64);
    recreated["detail"]["LastModifiedTime"] = json!(1718100300000.0_f64);
    direct(&a, recreated).await;
    let times = emf_with(&a.sink, "EndpointTimeToInServiceSeconds");
    assert_eq!(times.len(), 2);
    assert_eq!(times[1]["EndpointTimeToInServiceSeconds"], 300.0);
}

#[tokio::test]
async fn endpoint_time_and_count_each_once_across_a_failed_put() {
    let a = augmenter(FakeMetrics::default());
    // The time's claim succeeds, the status change's fails: retry.
    *a.dedupe.fail_keys_containing.lock().unwrap() = Some("#InService#".into());
    let err = invoke(&a, sample("endpoint-state-change.json"))
        .await
        .expect_err("retryable");
    assert!(err.contains("must be retried"), "{err}");
    assert!(emf_with(&a.sink, "EndpointStatusChanges").is_empty());
    *a.dedupe.fail_keys_containing.lock().unwrap() = None;
    assert_eq!(
        direct(&a, sample("endpoint-state-change.json"))
            .await
            .outcomes[0]
            .result,
        Disposition::Counted
    );
    assert_eq!(emf_with(&a.sink, "EndpointStatusChanges").len(), 1);
    assert_eq!(emf_with(&a.sink, "EndpointTimeToInServiceSeconds").len(), 1);
}

#[tokio::test]
async fn forbidden_series_are_missing_with_the_reason_and_the_job_counted() {
    let mut e = sample("training-job-state-change.json");
    e["detail"]["ResourceConfig"]["InstanceCount"] = json!(2);
    let a = augmenter(FakeMetrics {
        forbidden: vec!["sagewatch-demo-train-1/algo-2".into()],
        ..FakeMetrics::uniform(40.0)
    });
    assert_eq!(direct(&a, e).await.outcomes[0].result, Disposition::Counted);
    let [r] = reports(&a.sink, "job_summary").try_into().unwrap();
    assert_eq!(
        r["missing"],
        json!([
            "sagewatch-demo-train-1/algo-2/CPUUtilization",
            "sagewatch-demo-train-1/algo-2/MemoryUtilization",
            "sagewatch-demo-train-1/algo-2/DiskUtilization"
        ])
    );
    assert_eq!(
        r["utilization_note"],
        "GetMetricData refused 3 series (Forbidden: AccessDenied: no OAM link)"
    );
    assert_eq!(r["memory_utilization_avg"], 40.0, "algo-1 still counts");
}

fn transform_event(end: &str) -> Value {
    let mut e = sample("transform-job-state-change.json");
    e["detail"]["TransformEndTime"] = json!(end);
    e["time"] = json!(end);
    e
}

#[tokio::test]
async fn transform_hosts_not_listed_yet_is_retried_then_missing() {
    let a = augmenter(FakeMetrics::uniform(10.0));
    // Ended 10 minutes before "now" (2024-06-11T00:00Z): ListMetrics may not list it yet.
    let err = invoke(&a, transform_event("2024-06-10T23:50:00Z"))
        .await
        .expect_err("retryable");
    assert!(err.contains("not ready: no host of"), "{err}");
    assert!(a.dedupe.claims().is_empty(), "the key is not taken");
    assert!(a.sink.lines().is_empty());
    // Ended 20 minutes ago: none listed means none; counted with the hosts missing.
    let s = direct(&a, transform_event("2024-06-10T23:40:00Z")).await;
    assert_eq!(s.outcomes[0].result, Disposition::Counted);
    let [r] = reports(&a.sink, "job_summary").try_into().unwrap();
    assert_eq!(r["missing"], json!(["sagewatch-demo-transform-1/*"]));
}

#[tokio::test]
async fn transform_discovery_uses_recently_active_and_says_when_truncated() {
    let host = "sagewatch-demo-transform-1/i-0aaa-us-east-1a".to_owned();
    let a = augmenter(FakeMetrics {
        transform_hosts: vec![host.clone()],
        transform_truncated: true,
        ..FakeMetrics::uniform(10.0)
    });
    // Ended 1 hour ago: RecentlyActive=PT3H.
    direct(&a, transform_event("2024-06-10T23:00:00Z")).await;
    // Ended 4 hours ago (sample key differs by end time? no: by status; use another job name).
    let mut old = transform_event("2024-06-10T20:00:00Z");
    old["detail"]["TransformJobName"] = json!("sagewatch-demo-transform-1");
    old["detail"]["TransformJobStatus"] = json!("Completed");
    direct(&a, old).await;
    let d = a.metrics.discoveries();
    assert_eq!(
        d.iter().map(|d| d.recently_active).collect::<Vec<_>>(),
        vec![true, false]
    );
    let reports = reports(&a.sink, "job_summary");
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0]["hosts"][0]["host"], host.as_str());
    assert!(
        reports[0]["utilization_note"]
            .as_str()
            .is_some_and(|n| n.contains("host list truncated")),
        "{}",
        reports[0]
    );
}

#[tokio::test]
async fn neuron_instances_are_not_judged_underutilized_on_cpu() {
    for t in ["ml.trn1.32xlarge", "ml.inf2.24xlarge"] {
        let mut e = sample("training-job-state-change.json");
        e["detail"]["ResourceConfig"]["InstanceType"] = json!(t);
        let a = augmenter(FakeMetrics::uniform(1.0)); // CPU nearly idle
        direct(&a, e).await;
        let [r] = reports(&a.sink, "job_summary").try_into().unwrap();
        assert!(r.get("underutilized").is_none(), "{t}: {r}");
        assert!(
            r["cpu_utilization_max"].as_f64().is_some(),
            "CPU still reported"
        );
        let [emf] = emf_with(&a.sink, "JobCount").try_into().unwrap();
        assert!(emf.get("Underutilized").is_none(), "{t}");
    }
}

#[tokio::test]
async fn invalid_event_reasons_are_redacted() {
    let secret = "AKIAIOSFODNN7EXAMPLE";
    let mut e = sample("training-job-state-change.json");
    e["detail"]["ResourceConfig"] = json!(secret);
    let a = augmenter(FakeMetrics::uniform(1.0));
    let s = direct(&a, e.clone()).await;
    assert_eq!(s.outcomes[0].result, Disposition::Invalid);
    // The same body in an SQS message.
    let batch = json!({"Records": [{
        "messageId": "m-1", "receiptHandle": "r", "body": e.to_string(),
        "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"
    }]});
    invoke(&a, batch).await.unwrap();
    let invalid = emf_with(&a.sink, "InvalidEvents");
    assert_eq!(invalid.len(), 2);
    for line in a.sink.lines() {
        assert!(!line.contains(secret), "{line}");
    }
    assert!(
        !s.outcomes[0].detail.contains(secret),
        "{}",
        s.outcomes[0].detail
    );
    // One vocabulary for every function: a reason code, and the redacted detail.
    assert_eq!(invalid[0]["reason"], "invalid_event");
    assert!(
        invalid[0]["detail"].as_str().unwrap().contains("[REDACTED"),
        "{}",
        invalid[0]
    );
}

#[tokio::test]
async fn pipeline_execution_and_step() {
    let a = augmenter(FakeMetrics::default());
    direct(&a, sample("pipeline-execution-status-change.json")).await;
    let [emf] = emf_with(&a.sink, "PipelineExecutionCount")
        .try_into()
        .unwrap();
    assert_eq!(emf["Status"], "Succeeded");
    assert_eq!(emf["PipelineExecutionDurationSeconds"], 417.0);
    assert_eq!(emf["pipeline_name"], "sagewatch-demo-pipeline");
    direct(&a, sample("pipeline-step-status-change.json")).await;
    let [step] = emf_with(&a.sink, "PipelineStepCount").try_into().unwrap();
    assert_eq!(step["step_name"], "myprocessingstep1");
    assert_eq!(step["Status"], "Succeeded");
}

#[tokio::test]
async fn cloudtrail_counts_and_audits_with_redaction() {
    let a = augmenter(FakeMetrics::default());
    direct(&a, sample("cloudtrail-api-call.json")).await;
    let [emf] = emf_with(&a.sink, "ApiCalls").try_into().unwrap();
    assert_eq!(emf["EventName"], "StopTrainingJob");
    assert_eq!(emf["ErrorCode"], "None");
    assert_eq!(
        emf["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["EventName"], ["EventName", "ErrorCode"]])
    );
    let [audit] = reports(&a.sink, "api_audit").try_into().unwrap();
    assert_eq!(
        audit["user_arn"],
        "arn:aws:sts::123456789012:assumed-role/SagewatchOperator/alice"
    );
    assert_eq!(audit["user_type"], "AssumedRole");
    assert_eq!(audit["source_ip"], "203.0.113.10");
    assert_eq!(audit["audit_reason"], "destructive");
    assert_eq!(
        audit["request_parameters"]["trainingJobName"],
        "sagewatch-demo-stopping-1"
    );

    let a = augmenter(FakeMetrics::default());
    let mut e = sample("cloudtrail-api-call-error.json");
    e["detail"]["requestParameters"]["hyperParameters"] =
        json!({"wandb_api_key": "k-123", "epochs": "3"});
    direct(&a, e).await;
    let [emf] = emf_with(&a.sink, "ApiCalls").try_into().unwrap();
    assert_eq!(emf["ErrorCode"], "AccessDenied");
    let [audit] = reports(&a.sink, "api_audit").try_into().unwrap();
    assert_eq!(audit["audit_reason"], "access denied");
    assert_eq!(
        audit["request_parameters"]["hyperParameters"]["wandb_api_key"],
        "[REDACTED]"
    );
    assert_eq!(
        audit["request_parameters"]["hyperParameters"]["epochs"],
        "3"
    );

    // A read-only call is counted, not audited.
    let a = augmenter(FakeMetrics::default());
    let mut e = sample("cloudtrail-api-call.json");
    e["detail"]["eventName"] = json!("CreateTrainingJob");
    direct(&a, e).await;
    assert_eq!(emf_with(&a.sink, "ApiCalls").len(), 1);
    assert!(reports(&a.sink, "api_audit").is_empty());
}

// ---- accounts, configuration -------------------------------------------------------------------

#[tokio::test]
async fn another_accounts_metrics_are_read_with_account_id() {
    let mut e = sample("training-job-state-change.json");
    e["account"] = json!("111122223333");
    let a = augmenter(FakeMetrics::uniform(5.0));
    direct(&a, e).await;
    let q = &a.metrics.requests()[0].queries;
    assert!(q
        .iter()
        .all(|q| q.account_id.as_deref() == Some("111122223333")));
    assert!(a.dedupe.claims()[0]
        .key
        .starts_with("event-augmenter#111122223333#training#"));
    let [emf] = emf_with(&a.sink, "JobCount").try_into().unwrap();
    assert_eq!(emf["Account"], "111122223333");
}

#[tokio::test]
async fn home_account_falls_back_to_the_function_arn() {
    let mut a = augmenter(FakeMetrics::uniform(5.0));
    a.config.common.home_account = None;
    let mut ctx = Context::default();
    ctx.invoked_function_arn =
        "arn:aws:lambda:us-east-1:123456789012:function:event-augmenter".into();
    a.handle_at(
        LambdaEvent::new(sample("training-job-state-change.json"), ctx),
        now(),
    )
    .await
    .unwrap();
    assert!(a.metrics.requests()[0]
        .queries
        .iter()
        .all(|q| q.account_id.is_none()));
}

#[test]
fn config_from_env_validates() {
    use sagewatch::env::Env;
    // One process: each case sets and clears its own variables in sequence.
    let vars = [
        "SAGEWATCH_METRICS_NAMESPACE",
        "SAGEWATCH_DEDUPE_TTL_DAYS",
        "SAGEWATCH_UNDERUTILIZED_PERCENT",
        "SAGEWATCH_REPORT_TAG_KEYS",
    ];
    let clear = || vars.iter().for_each(|v| std::env::remove_var(v));
    clear();
    std::env::remove_var("SAGEWATCH_DEDUPE_TABLE");
    let err = Config::from_env(&Env).unwrap_err().to_string();
    assert!(err.contains("SAGEWATCH_DEDUPE_TABLE"), "{err}");
    std::env::set_var("SAGEWATCH_DEDUPE_TABLE", "sagewatch-dedupe");
    let c = Config::from_env(&Env).unwrap();
    assert_eq!(c.dedupe_table, "sagewatch-dedupe");
    assert_eq!(
        (
            c.common.metrics_namespace.as_str(),
            c.dedupe_ttl_days,
            c.underutilized_percent
        ),
        ("SageWatch", 30, 20.0)
    );
    std::env::set_var("SAGEWATCH_REPORT_TAG_KEYS", "team, project");
    assert_eq!(
        Config::from_env(&Env).unwrap().report_tag_keys,
        vec!["team", "project"]
    );
    for (var, value) in [
        ("SAGEWATCH_METRICS_NAMESPACE", "AWS/Nope"),
        ("SAGEWATCH_DEDUPE_TTL_DAYS", "0"),
        ("SAGEWATCH_UNDERUTILIZED_PERCENT", "150"),
        ("SAGEWATCH_UNDERUTILIZED_PERCENT", "lots"),
    ] {
        clear();
        std::env::set_var(var, value);
        let err = Config::from_env(&Env).unwrap_err().to_string();
        assert!(err.contains(var), "{var}={value}: {err}");
    }
    clear();
}

#[tokio::test]
async fn demo_sample_two_gpu_hosts() {
    let path = format!(
        "{}/../../events/training-job-state-change-gpu-2-hosts.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let a = augmenter(FakeMetrics::uniform(8.0));
    assert_eq!(
        direct(&a, event).await.outcomes[0].result,
        Disposition::Counted
    );
    let [r] = reports(&a.sink, "job_summary").try_into().unwrap();
    assert_eq!(r["job_name"], "sagewatch-demo-gpu-1");
    assert_eq!(r["instance_type"], "ml.g5.2xlarge");
    assert_eq!(r["duration_seconds"], 2700);
    assert_eq!(r["instance_seconds"], 5400);
    assert_eq!(r["cpu_utilization_max"], 1.0, "8 % summed over 8 vCPUs");
    assert_eq!(r["underutilized"], true, "GPU max 8 % < 20 %");
    assert_eq!(a.metrics.requests()[0].queries.len(), 2 * 5);
}
