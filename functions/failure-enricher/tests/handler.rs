//! Handler logic with in-memory fakes behind the ports: every `events/` sample, bad input,
//! error handling, duplicates, budget and odd logs. AWS behaviour itself is in emulator.rs.

use failure_enricher::endpoint::{EndpointFacts, Variant};
use failure_enricher::job::JobFacts;
use failure_enricher::logs::{LogBudget, LogEvent, StreamInfo};
use failure_enricher::pipeline::{StepFacts, StepList};
use failure_enricher::ports::{Jobs, LogPage, Logs};
use failure_enricher::rollback::AlarmState;
use failure_enricher::tuning::{Child, ChildList, TuningFacts};
use failure_enricher::{Config, Enricher, Outcome};
use lambda_runtime::{Context, LambdaEvent};
use sagewatch::claims::{ClaimStore, MemoryClaims, NoClaims, State};
use sagewatch::config::Common;
use sagewatch::error::{AwsError, ErrorKind};
use sagewatch::events::JobType;
use sagewatch::notify::MemoryNotifier;
use sagewatch::output::MemorySink;
use sagewatch::target::Target;
use sagewatch::testing::{sample, sample_names};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Throttled (a retry helps) or access denied (it does not).
fn aws_error(op: &'static str, kind: ErrorKind) -> AwsError {
    AwsError::new(op, kind, "Fake", "fake")
}

#[derive(Default)]
struct FakeJobs {
    jobs: BTreeMap<String, JobFacts>,
    endpoints: BTreeMap<String, EndpointFacts>,
    pipelines: BTreeMap<String, StepList>,
    tunings: BTreeMap<String, (TuningFacts, ChildList)>,
    alarms: Mutex<Vec<AlarmState>>,
    /// DescribeAlarms fails this way.
    alarms_fail: Option<ErrorKind>,
    fail: Option<ErrorKind>,
    calls: Mutex<Vec<(Target, JobType, String)>>,
    /// Other calls than Describe*Job, by operation.
    other_calls: Mutex<Vec<&'static str>>,
    /// DescribeEndpoint calls (apart: the other tests count `other_calls`).
    endpoint_calls: Mutex<usize>,
}

impl Jobs for FakeJobs {
    async fn describe(
        &self,
        target: &Target,
        job_type: JobType,
        name: &str,
    ) -> Result<Option<JobFacts>, AwsError> {
        self.calls
            .lock()
            .unwrap()
            .push((target.clone(), job_type, name.to_owned()));
        if let Some(r) = self.fail {
            return Err(aws_error("DescribeTrainingJob", r));
        }
        Ok(self.jobs.get(name).cloned())
    }

    async fn describe_endpoint(
        &self,
        _target: &Target,
        name: &str,
    ) -> Result<Option<EndpointFacts>, AwsError> {
        *self.endpoint_calls.lock().unwrap() += 1;
        if let Some(r) = self.fail {
            return Err(aws_error("DescribeEndpoint", r));
        }
        Ok(self.endpoints.get(name).cloned())
    }

    async fn pipeline_steps(
        &self,
        _target: &Target,
        execution_arn: &str,
    ) -> Result<Option<StepList>, AwsError> {
        self.other_calls
            .lock()
            .unwrap()
            .push("ListPipelineExecutionSteps");
        if let Some(r) = self.fail {
            return Err(aws_error("ListPipelineExecutionSteps", r));
        }
        Ok(self.pipelines.get(execution_arn).cloned())
    }

    async fn tuning_job(
        &self,
        _target: &Target,
        name: &str,
    ) -> Result<Option<TuningFacts>, AwsError> {
        self.other_calls
            .lock()
            .unwrap()
            .push("DescribeHyperParameterTuningJob");
        if let Some(r) = self.fail {
            return Err(aws_error("DescribeHyperParameterTuningJob", r));
        }
        Ok(self.tunings.get(name).map(|(t, _)| t.clone()))
    }

    async fn alarms(
        &self,
        _target: &Target,
        names: &[String],
    ) -> Result<Vec<AlarmState>, AwsError> {
        self.other_calls.lock().unwrap().push("DescribeAlarms");
        if let Some(r) = self.alarms_fail {
            return Err(aws_error("DescribeAlarms", r));
        }
        Ok(self
            .alarms
            .lock()
            .unwrap()
            .iter()
            .filter(|a| names.contains(&a.name))
            .cloned()
            .collect())
    }

    async fn failed_children(
        &self,
        _target: &Target,
        tuning_job: &str,
        limit: usize,
    ) -> Result<ChildList, AwsError> {
        self.other_calls
            .lock()
            .unwrap()
            .push("ListTrainingJobsForHyperParameterTuningJob");
        let mut list = self
            .tunings
            .get(tuning_job)
            .map(|(_, c)| c.clone())
            .unwrap_or_default();
        if list.children.len() > limit {
            list.children.truncate(limit);
            list.more = true;
        }
        Ok(list)
    }
}

/// Streams: name → events (oldest first). Pages of at most `limit`, newest first, by token.
#[derive(Default)]
struct FakeLogs {
    streams: BTreeMap<String, Vec<LogEvent>>,
    fail_page: Option<ErrorKind>,
    calls: Mutex<usize>,
    /// GetLogEvents calls in flight now, and the most there ever were.
    in_flight: Mutex<(usize, usize)>,
}

impl Logs for FakeLogs {
    async fn streams(
        &self,
        _t: &Target,
        _g: &str,
        prefix: &str,
    ) -> Result<Vec<StreamInfo>, AwsError> {
        *self.calls.lock().unwrap() += 1;
        Ok(self
            .streams
            .iter()
            .filter(|(n, _)| n.starts_with(prefix))
            .map(|(n, ev)| StreamInfo {
                name: n.clone(),
                last_event_ms: ev.last().and_then(|e| e.timestamp),
            })
            .collect())
    }

    async fn page(
        &self,
        _t: &Target,
        _g: &str,
        stream: &str,
        limit: usize,
        older: Option<String>,
    ) -> Result<LogPage, AwsError> {
        *self.calls.lock().unwrap() += 1;
        {
            let mut f = self.in_flight.lock().unwrap();
            f.0 += 1;
            f.1 = f.1.max(f.0);
        }
        // Let the other reads start (a real call waits on the network here).
        tokio::task::yield_now().await;
        self.in_flight.lock().unwrap().0 -= 1;
        if let Some(r) = self.fail_page {
            return Err(aws_error("GetLogEvents", r));
        }
        let events = self.streams.get(stream).cloned().unwrap_or_default();
        let end: usize = older
            .as_deref()
            .map_or(events.len(), |t| t.parse().unwrap());
        let start = end.saturating_sub(limit);
        Ok(LogPage {
            events: events[start..end].to_vec(),
            older: Some(start.to_string()),
        })
    }
}

fn config() -> Config {
    let mut common = Common::new(failure_enricher::FUNCTION);
    common.home_account = Some("123456789012".into());
    Config {
        common,
        budget: LogBudget::default(),
        alerts_topic_arn: "arn:aws:sns:us-east-1:123456789012:alerts".into(),
        chat_topic_arn: None,
        claims: None,
    }
}

type Fake<C> = Enricher<FakeJobs, FakeLogs, MemoryNotifier, C, MemorySink>;

fn enricher(jobs: FakeJobs, logs: FakeLogs) -> Fake<MemoryClaims> {
    Enricher {
        jobs,
        logs,
        notifier: MemoryNotifier::default(),
        chat: None,
        claims: MemoryClaims::default(),
        sink: MemorySink::default(),
        config: config(),
    }
}

fn job(name: &str, reason: &str) -> JobFacts {
    JobFacts {
        name: name.into(),
        arn: Some(format!(
            "arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}"
        )),
        status: Some("Failed".into()),
        failure_reason: Some(reason.into()),
        instance_type: Some("ml.g5.xlarge".into()),
        instance_count: Some(2),
        parameters: BTreeMap::from([
            ("epochs".into(), "3".into()),
            ("hf_token".into(), "hf_abcdefsecret".into()),
        ]),
        ..JobFacts::default()
    }
}

fn events(lines: &[&str]) -> Vec<LogEvent> {
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| LogEvent {
            timestamp: Some(1_700_000_000_000 + i as i64),
            message: (*l).to_owned(),
        })
        .collect()
}

async fn run<C: ClaimStore>(
    e: &Enricher<FakeJobs, FakeLogs, MemoryNotifier, C, MemorySink>,
    payload: Value,
) -> Result<Outcome, String> {
    e.handle(LambdaEvent::new(payload, Context::default()))
        .await
        .map_err(|e| e.to_string())
}

fn direct(name: &str) -> Value {
    json!({"job_type": "training", "job_name": name})
}

#[tokio::test]
async fn oom_on_one_host_is_explained_with_evidence_from_that_host() {
    let mut logs = FakeLogs::default();
    logs.streams.insert(
        "train-42/algo-1-1700000000".into(),
        events(&["epoch 1", "epoch 2 loss 0.3"]),
    );
    logs.streams.insert(
        "train-42/algo-2-1700000000".into(),
        events(&["epoch 1", "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 22.20 GiB total capacity)"]),
    );
    logs.streams.insert(
        "train-42-2/algo-1-1700000000".into(),
        events(&["OSError: [Errno 28] No space left on device DECOY"]),
    );
    let jobs = FakeJobs { jobs: BTreeMap::from([("train-42".into(), job("train-42", "AlgorithmError: ExecuteUserScriptError:\nExitCode 1\nErrorMessage \"\"\nCommand \"python train.py --api_key=sk-live-0123456789abcdef\""))]), ..FakeJobs::default() };
    let e = enricher(jobs, logs);
    let out = run(
        &e,
        sample("training-job-state-change-failed.json").tap_name("train-42"),
    )
    .await
    .unwrap();
    let Outcome::Reported { report } = out else {
        panic!("{out:?}")
    };
    assert_eq!(report["category"], "out_of_memory");
    assert_eq!(report["log_streams_found"], 2);
    let hosts: Vec<&str> = report["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["host"].as_str().unwrap())
        .collect();
    assert!(hosts.contains(&"algo-2"), "{hosts:?}");
    let body = report.to_string();
    assert!(!body.contains("DECOY"));
    assert!(!body.contains("sk-live"), "{body}");
    assert!(!body.contains("hf_abcdefsecret"));
    assert_eq!(report["hyperparameters"]["epochs"], "3");

    let sent = e.notifier.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].subject, "train-42 failed: out_of_memory");
    assert_eq!(sent[0].attributes["category"], "out_of_memory");
    assert_eq!(sent[0].attributes["job_type"], "training");
    assert_eq!(sent[0].attributes["account"], "123456789012");
    assert_eq!(sent[0].attributes["region"], "us-east-1");
    assert!(sent[0].text.contains("algo-2"));
    assert!(!sent[0].text.contains("sk-live"));

    let docs = e.sink.json();
    let emf = docs.iter().find(|d| d.get("FailedJobs").is_some()).unwrap();
    assert_eq!(emf["FailedJobs"], 1.0);
    assert_eq!(emf["Category"], "out_of_memory");
    let failures = docs.iter().find(|d| d.get("Failures").is_some()).unwrap();
    assert_eq!(
        (&failures["ResourceType"], &failures["Category"]),
        (&json!("TrainingJob"), &json!("out_of_memory"))
    );
    assert_eq!(
        failures["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["ResourceType", "Category"]])
    );
    for line in e.sink.lines().iter().filter(|l| l.contains("_aws")) {
        sagewatch::emf::spec::validate(line).unwrap();
    }
    let line = docs
        .iter()
        .find(|d| d["sagewatch_event"] == "job_failure")
        .unwrap();
    assert_eq!(line["category"], "out_of_memory");
}

/// Renames the job in a sample event (detail name, ARN) so one fixture serves several tests.
trait TapName {
    fn tap_name(self, name: &str) -> Value;
}
impl TapName for Value {
    fn tap_name(mut self, name: &str) -> Value {
        let d = &mut self["detail"];
        d["TrainingJobName"] = json!(name);
        d["TrainingJobArn"] = json!(format!(
            "arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}"
        ));
        self
    }
}

#[tokio::test]
async fn every_sample_is_handled_without_panic_and_only_failed_jobs_are_triaged() {
    let mut triaged = Vec::new();
    let mut noticed = Vec::new();
    for file in sample_names() {
        let payload = sample(&file);
        let jobs = FakeJobs::default(); // no job exists: a triage attempt is Rejected(job_not_found)
        let e = enricher(jobs, FakeLogs::default());
        let out = run(&e, payload)
            .await
            .unwrap_or_else(|err| panic!("{file}: {err}"));
        match out {
            Outcome::Rejected { reason, .. } if reason.ends_with("_not_found") => {
                triaged.push(file)
            }
            Outcome::Ignored { .. } | Outcome::Rejected { .. } => {
                assert!(
                    e.jobs.calls.lock().unwrap().is_empty()
                        && e.jobs.other_calls.lock().unwrap().is_empty(),
                    "{file}: ignored/invalid but AWS was called"
                );
            }
            // An opted-in completion notice: from the event alone, no Describe.
            Outcome::Reported { report } if report["report_kind"] == "notice" => {
                assert!(e.jobs.calls.lock().unwrap().is_empty(), "{file}");
                noticed.push(file);
                continue;
            }
            other => panic!("{file}: {other:?}"),
        }
        assert!(e.notifier.sent().is_empty());
    }
    assert_eq!(noticed, ["training-job-state-change-notify.json"]);
    triaged.sort();
    assert_eq!(
        triaged,
        [
            // The end of a deployment: DescribeEndpoint tells whether it was rolled back.
            "endpoint-deployment-state-change-rolled-back.json",
            "endpoint-state-change-failed.json",
            "failure-direct-invoke.json",
            "hyperparameter-tuning-job-state-change-failed-children.json",
            "hyperparameter-tuning-job-state-change-failed.json",
            "pipeline-execution-status-change-failed.json",
            "processing-job-state-change.json",
            "training-job-state-change-failed.json",
            "training-job-state-change-max-runtime.json",
            // event-augmenter's sweep re-emits a lost Failed event: the same path.
            "training-job-state-change-reconciled-failed.json",
            "transform-job-state-change.json",
        ]
    );
}

#[tokio::test]
async fn a_job_a_pipeline_step_started_is_left_to_the_pipelines_report() {
    let mut event = sample("training-job-state-change-failed.json").tap_name("j");
    event["detail"]["Tags"]["sagemaker:pipeline-execution-arn"] =
        json!("arn:aws:sagemaker:us-east-1:123456789012:pipeline/p/execution/k7x2m9q4w1ab");
    let jobs = FakeJobs {
        jobs: BTreeMap::from([("j".into(), job("j", "AlgorithmError: see logs"))]),
        ..FakeJobs::default()
    };
    let e = enricher(jobs, FakeLogs::default());
    let out = run(&e, event).await.unwrap();
    let Outcome::Ignored { reason } = out else {
        panic!("{out:?}")
    };
    assert!(reason.contains("pipeline execution"), "{reason}");
    assert!(e.jobs.calls.lock().unwrap().is_empty());
    assert!(e.notifier.sent().is_empty());
    // A tag that is not an execution ARN (user code may set sagemaker: tags): reported.
    let mut odd = sample("training-job-state-change-failed.json").tap_name("j");
    odd["detail"]["Tags"]["sagemaker:pipeline-execution-arn"] = json!("nightly");
    let out = run(&e, odd).await.unwrap();
    assert!(matches!(out, Outcome::Reported { .. }), "{out:?}");
    // Asked for by name, it is explained all the same.
    let out = run(&e, json!({"job_type": "training", "job_name": "j"}))
        .await
        .unwrap();
    assert!(matches!(out, Outcome::Reported { .. }), "{out:?}");
}

#[tokio::test]
async fn bad_input_is_counted_and_never_acts() {
    for payload in [
        json!(null),
        json!("train-42"),
        json!({"job_type": "training", "job_name": "../../etc"}),
        json!({"job_type": "notebook", "job_name": "x"}),
        json!({"detail-type": 7}),
        json!({"detail-type": "SageMaker Training Job State Change", "detail": {"TrainingJobStatus": "Failed"}}),
        json!({"Records": []}),
    ] {
        let e = enricher(FakeJobs::default(), FakeLogs::default());
        let out = run(&e, payload.clone()).await.unwrap();
        assert!(
            matches!(out, Outcome::Rejected { ref reason, .. } if reason == "invalid_input"),
            "{payload}: {out:?}"
        );
        assert!(e.jobs.calls.lock().unwrap().is_empty());
        let docs = e.sink.json();
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0]["InvalidEvents"], 1.0);
        assert_eq!(docs[0]["Function"], "failure-enricher");
    }
}

#[tokio::test]
async fn stopping_and_completed_jobs_are_ignored() {
    for file in [
        "training-job-state-change-stopping.json",
        "training-job-state-change.json",
    ] {
        let e = enricher(FakeJobs::default(), FakeLogs::default());
        let out = run(&e, sample(file)).await.unwrap();
        assert!(matches!(out, Outcome::Ignored { .. }), "{file}: {out:?}");
        assert!(e.sink.json().is_empty());
    }
}

#[tokio::test]
async fn throttling_is_retried_by_lambda_and_access_denied_on_logs_still_reports() {
    let jobs = || {
        FakeJobs { jobs: BTreeMap::from([("j".into(), job("j", "ClientError: No S3 objects found under S3 URL \"s3://bucket/train/\" given in input data source."))]), ..FakeJobs::default() }
    };
    let throttled = Enricher {
        jobs: FakeJobs {
            fail: Some(ErrorKind::Throttled),
            ..jobs()
        },
        ..enricher(FakeJobs::default(), FakeLogs::default())
    };
    assert!(run(&throttled, direct("j")).await.is_err());
    assert!(throttled.notifier.sent().is_empty());

    let mut logs = FakeLogs {
        fail_page: Some(ErrorKind::Throttled),
        ..FakeLogs::default()
    };
    logs.streams.insert("j/algo-1-1".into(), events(&["x"]));
    let e = enricher(jobs(), logs);
    assert!(
        run(&e, direct("j")).await.is_err(),
        "a throttled log read is retried"
    );

    let mut logs = FakeLogs {
        fail_page: Some(ErrorKind::AccessDenied),
        ..FakeLogs::default()
    };
    logs.streams.insert("j/algo-1-1".into(), events(&["x"]));
    let e = enricher(jobs(), logs);
    let Outcome::Reported { report } = run(&e, direct("j")).await.unwrap() else {
        panic!()
    };
    assert_eq!(report["category"], "data_missing_or_access");
    assert_eq!(report["log_streams_read"], 0);
    assert_eq!(report["log_streams_found"], 1);
}

#[tokio::test]
async fn duplicate_deliveries_report_once_and_a_failed_publish_gives_the_claim_back() {
    let jobs = || FakeJobs {
        jobs: BTreeMap::from([(
            "train-42".into(),
            job(
                "train-42",
                "CapacityError: Unable to provision requested ML compute capacity.",
            ),
        )]),
        ..FakeJobs::default()
    };
    let event = sample("training-job-state-change-failed.json").tap_name("train-42");
    let e = enricher(jobs(), FakeLogs::default());
    for _ in 0..3 {
        run(&e, event.clone()).await.unwrap();
    }
    assert_eq!(e.notifier.sent().len(), 1);
    let dupes = e
        .sink
        .json()
        .iter()
        .filter(|d| d.get("DuplicateEvents").is_some())
        .count();
    assert_eq!(dupes, 2);
    // A direct request is an explicit ask: always answered.
    run(&e, direct("train-42")).await.unwrap();
    assert_eq!(e.notifier.sent().len(), 2);

    let failing = enricher(jobs(), FakeLogs::default());
    failing
        .notifier
        .fail_next(aws_error("Publish", ErrorKind::Throttled));
    assert!(run(&failing, event.clone()).await.is_err());
    assert!(failing
        .claims
        .calls()
        .iter()
        .any(|c| c.starts_with("release ")));
    assert!(
        failing.claims.items().is_empty(),
        "the retry can claim again"
    );
    run(&failing, event.clone()).await.unwrap();
    assert_eq!(failing.notifier.sent().len(), 1, "the retry reports");
}

#[tokio::test]
async fn a_jobs_own_secret_values_are_redacted_even_bare() {
    // #11 item 4: the value of a secret-named hyperparameter, quoted with nothing around it
    // that looks like a secret, in the FailureReason and in a log line.
    let secret = "Tr0ub4dor-and-3";
    let mut j = job(
        "j",
        &format!("AlgorithmError: could not connect to the database as admin/{secret}"),
    );
    j.parameters.insert("db_pass".into(), secret.into());
    let jobs = FakeJobs {
        jobs: BTreeMap::from([("j".into(), j)]),
        ..FakeJobs::default()
    };
    let mut logs = FakeLogs::default();
    logs.streams.insert(
        "j/algo-1-1700000000".into(),
        events(&[&format!(
            "psycopg2.OperationalError: auth failed ({secret})"
        )]),
    );
    let e = enricher(jobs, logs);
    let Outcome::Reported { report } = run(&e, direct("j")).await.unwrap() else {
        panic!()
    };
    assert!(!report.to_string().contains(secret), "{report}");
    let sent = e.notifier.sent();
    assert!(!sent[0].sns_message().contains(secret));
    assert!(!sent[0].subject.contains(secret));
}

#[tokio::test]
async fn other_accounts_need_the_cross_account_role() {
    let mut event = sample("training-job-state-change-failed.json");
    event["account"] = json!("111122223333");
    let e = enricher(FakeJobs::default(), FakeLogs::default());
    let out = run(&e, event.clone()).await.unwrap();
    assert!(
        matches!(out, Outcome::Rejected { ref reason, .. } if reason == "no_cross_account_role"),
        "{out:?}"
    );
    assert!(e.jobs.calls.lock().unwrap().is_empty());

    let mut e = enricher(FakeJobs::default(), FakeLogs::default());
    e.config.common.cross_account_role = Some("sagewatch-guard".into());
    run(&e, event).await.unwrap();
    let calls = e.jobs.calls.lock().unwrap();
    assert_eq!(
        calls[0].0.role_arn.as_deref(),
        Some("arn:aws:iam::111122223333:role/sagewatch-guard")
    );
}

#[tokio::test]
async fn the_budget_holds_for_many_hosts_huge_lines_and_junk() {
    let mut logs = FakeLogs::default();
    let junk: String = (0u8..=255).map(char::from).cycle().take(5000).collect();
    let huge = "x".repeat(1_000_000);
    for h in 1..=40 {
        let lines: Vec<String> = (0..3000)
            .map(|i| match i % 1000 {
                7 => huge.clone(),
                8 => junk.clone(),
                _ => format!("host {h} step {i} loss 0.{i}"),
            })
            .collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        logs.streams
            .insert(format!("big/algo-{h}-1700000000"), events(&refs));
    }
    let jobs = FakeJobs {
        jobs: BTreeMap::from([("big".into(), job("big", "AlgorithmError: see logs"))]),
        ..FakeJobs::default()
    };
    let e = Enricher {
        jobs,
        logs,
        notifier: MemoryNotifier::default(),
        chat: None,
        claims: NoClaims,
        sink: MemorySink::default(),
        config: config(),
    };
    let Outcome::Reported { report } = run(&e, direct("big")).await.unwrap() else {
        panic!()
    };
    let b = LogBudget::default();
    assert_eq!(report["log_streams_found"], 40);
    assert_eq!(report["log_streams_read"], b.max_hosts);
    assert!(report["log_events_read"].as_u64().unwrap() <= b.max_events as u64);
    assert!(report["log_bytes_read"].as_u64().unwrap() <= b.max_bytes as u64);
    assert_eq!(report["log_truncated"], true);
    // 1 DescribeLogStreams + at most 3 GetLogEvents per host, a few hosts at a time.
    assert!(*e.logs.calls.lock().unwrap() <= 1 + 3 * b.max_hosts);
    assert_eq!(
        e.logs.in_flight.lock().unwrap().1,
        failure_enricher::STREAMS_IN_FLIGHT
    );
    assert!(
        e.notifier.sent()[0].sns_message().len() < 256 * 1024,
        "SNS messages are at most 256 KiB"
    );
}

#[tokio::test]
async fn permanent_aws_errors_are_counted_not_retried() {
    let e = enricher(
        FakeJobs {
            fail: Some(ErrorKind::AccessDenied),
            ..FakeJobs::default()
        },
        FakeLogs::default(),
    );
    let out = run(&e, direct("j")).await.unwrap();
    assert!(
        matches!(out, Outcome::Rejected { ref reason, .. } if reason == "aws_permanent_error"),
        "{out:?}"
    );
    assert!(e.notifier.sent().is_empty());
    assert_eq!(e.sink.json()[0]["InvalidEvents"], 1.0);

    // A permanent publish failure: counted, the claim given back, the report kept in the log.
    let jobs = FakeJobs {
        jobs: BTreeMap::from([(
            "j".into(),
            job(
                "j",
                "CapacityError: Unable to provision requested ML compute capacity.",
            ),
        )]),
        ..FakeJobs::default()
    };
    let e = enricher(jobs, FakeLogs::default());
    e.notifier
        .fail_next(aws_error("Publish", ErrorKind::AccessDenied));
    let event = sample("training-job-state-change-failed.json").tap_name("j");
    let out = run(&e, event).await.unwrap();
    assert!(matches!(out, Outcome::Rejected { .. }), "{out:?}");
    assert!(e.claims.items().is_empty(), "the claim was given back");
    let kinds: Vec<Value> = e
        .sink
        .json()
        .iter()
        .map(|d| d["sagewatch_event"].clone())
        .collect();
    assert!(kinds.contains(&json!("job_failure")), "{kinds:?}");
}

#[tokio::test]
async fn a_sent_report_is_marked_sent() {
    let jobs = FakeJobs {
        jobs: BTreeMap::from([(
            "j".into(),
            job(
                "j",
                "CapacityError: Unable to provision requested ML compute capacity.",
            ),
        )]),
        ..FakeJobs::default()
    };
    let e = enricher(jobs, FakeLogs::default());
    run(
        &e,
        sample("training-job-state-change-failed.json").tap_name("j"),
    )
    .await
    .unwrap();
    let items = e.claims.items();
    let item = &items["failure-enricher#123456789012#training#j"];
    assert_eq!(item.state, State::Done);
    assert!(
        item.owner.starts_with("failure-enricher:"),
        "{}",
        item.owner
    );
}

fn failed_endpoint(name: &str) -> EndpointFacts {
    EndpointFacts {
        name: name.into(),
        arn: Some(format!("arn:aws:sagemaker:us-east-1:123456789012:endpoint/{name}")),
        status: Some("Failed".into()),
        failure_reason: Some("The primary container for production variant AllTraffic did not pass the ping health check. Please check CloudWatch logs for this endpoint.".into()),
        config_name: Some(format!("{name}-config")),
        variants: vec![Variant { name: "AllTraffic".into(), instance_type: None, instance_count: Some(1) }],
        ..EndpointFacts::default()
    }
}

#[tokio::test]
async fn a_failed_endpoint_is_explained_from_its_instance_logs_once() {
    let name = "SagewatchDemoEndpoint";
    let mut logs = FakeLogs::default();
    logs.streams.insert(
        "AllTraffic/i-0abc123def4567890".into(),
        events(&[
            "Starting the inference server with 1 workers.",
            "ModuleNotFoundError: No module named 'transformers' HF_TOKEN=hf_abcdefsecret0123456789",
        ]),
    );
    // Another variant's streams are not this endpoint's variant: not read.
    logs.streams
        .insert("Other/i-0fff".into(), events(&["CUDA out of memory"]));
    let jobs = FakeJobs {
        endpoints: BTreeMap::from([(name.into(), failed_endpoint(name))]),
        ..FakeJobs::default()
    };
    let e = enricher(jobs, logs);
    let event = sample("endpoint-state-change-failed.json");
    let out = run(&e, event.clone()).await.unwrap();
    let Outcome::Reported { report } = out else {
        panic!("{out:?}")
    };
    assert_eq!(report["resource_type"], "Endpoint");
    assert_eq!(report["endpoint_name"], name);
    assert_eq!(report["outcome"], "failed");
    // The ping-health-check FailureReason outranks the log line (the shared classifier).
    assert_eq!(report["category"], "image_error", "{report}");
    let hosts: Vec<&str> = report["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["host"].as_str().unwrap())
        .collect();
    assert!(hosts.contains(&"FailureReason"), "{hosts:?}");
    assert_eq!(
        report["log_group"],
        "/aws/sagemaker/Endpoints/SagewatchDemoEndpoint"
    );
    assert_eq!(
        (
            report["log_streams_found"].as_u64(),
            report["log_streams_read"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert!(!report.to_string().contains("hf_abcdefsecret"), "{report}");
    let sent = e.notifier.sent();
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0]
            .subject
            .starts_with("Endpoint SagewatchDemoEndpoint failed"),
        "{}",
        sent[0].subject
    );
    assert_eq!(sent[0].attributes["resource_type"], "Endpoint");
    assert!(!sent[0].attributes.contains_key("job_type"));
    let docs = e.sink.json();
    let emf: Vec<&Value> = docs.iter().filter(|d| d.get("_aws").is_some()).collect();
    assert_eq!(emf.len(), 1, "no FailedJobs for an endpoint");
    assert_eq!(
        (&emf[0]["Failures"], &emf[0]["ResourceType"]),
        (&json!(1.0), &json!("Endpoint"))
    );

    // The same event again: a duplicate, nothing sent.
    let again = run(&e, event).await.unwrap();
    assert!(matches!(again, Outcome::Duplicate { .. }), "{again:?}");
    assert_eq!(e.notifier.sent().len(), 1);
}

#[tokio::test]
async fn endpoint_events_that_are_no_failure_or_recovered_are_ignored() {
    let name = "SagewatchDemoEndpoint";
    let mut healthy = failed_endpoint(name);
    healthy.status = Some("InService".into());
    healthy.failure_reason = None;
    let e = enricher(
        FakeJobs {
            endpoints: BTreeMap::from([(name.into(), healthy)]),
            ..FakeJobs::default()
        },
        FakeLogs::default(),
    );
    let out = run(&e, sample("endpoint-state-change.json")).await.unwrap();
    assert!(matches!(out, Outcome::Ignored { .. }), "{out:?}");
    // The event says Failed, DescribeEndpoint says it recovered: ignored, nothing sent.
    let out = run(&e, sample("endpoint-state-change-failed.json"))
        .await
        .unwrap();
    assert!(matches!(out, Outcome::Ignored { .. }), "{out:?}");
    assert!(e.notifier.sent().is_empty());
    // Unknown endpoint: counted, not retried.
    let out = run(&e, json!({"endpoint_name": "nope"})).await.unwrap();
    assert!(
        matches!(out, Outcome::Rejected { ref reason, .. } if reason == "endpoint_not_found"),
        "{out:?}"
    );
    assert!(
        run(&e, json!({"endpoint_name": "a/b"})).await.unwrap()
            != Outcome::Ignored {
                reason: String::new()
            }
    );
}

#[tokio::test]
async fn a_job_stopped_at_max_runtime_is_a_timeout_and_a_person_stopping_one_is_not() {
    let name = "sagewatch-demo-timeout-1";
    let mut j = job(name, "");
    j.failure_reason = None;
    j.status = Some("Stopped".into());
    j.secondary_status = Some("MaxRuntimeExceeded".into());
    j.max_runtime_seconds = Some(3600);
    j.training_seconds = Some(3600);
    let mut logs = FakeLogs::default();
    logs.streams.insert(
        format!("{name}/algo-1-1700000000"),
        events(&["epoch 7/50 loss 0.41"]),
    );
    let e = enricher(
        FakeJobs {
            jobs: BTreeMap::from([(name.into(), j)]),
            ..FakeJobs::default()
        },
        logs,
    );
    let out = run(&e, sample("training-job-state-change-max-runtime.json"))
        .await
        .unwrap();
    let Outcome::Reported { report } = out else {
        panic!("{out:?}")
    };
    assert_eq!(report["category"], "timeout");
    assert_eq!(
        report["timeout"],
        json!({"reason": "MaxRuntimeExceeded", "ran_seconds": 3600, "limit_seconds": 3600})
    );
    let sent = e.notifier.sent();
    assert!(
        sent[0].subject.contains("stopped by its time limit"),
        "{}",
        sent[0].subject
    );
    assert!(
        sent[0].text.contains("3600 s of 3600 s allowed"),
        "{}",
        sent[0].text
    );
    assert!(sent[0].text.contains("MaxRuntimeInSeconds"));

    // Stopped by a person (SecondaryStatus Stopped): not a failure, no AWS call.
    let mut by_person = sample("training-job-state-change-max-runtime.json");
    by_person["detail"]["SecondaryStatus"] = json!("Stopped");
    let calls = e.jobs.calls.lock().unwrap().len();
    let out = run(&e, by_person).await.unwrap();
    assert!(matches!(out, Outcome::Ignored { .. }), "{out:?}");
    assert_eq!(e.jobs.calls.lock().unwrap().len(), calls);
}

/// The chat notice of every report kind (job failure, timeout, endpoint) has the custom
/// notification shape, threads by resource, and carries the why and the fix, no secret.
/// The sample's endpoint back on its old config after a guarded deployment, with two
/// auto-rollback alarms: the 5xx one tripped 4 minutes before the event, latency is quiet.
fn rolled_back_endpoint() -> (EndpointFacts, Vec<AlarmState>) {
    let name = "SagewatchDemoEndpoint";
    let mut e = failed_endpoint(name);
    e.status = Some("InService".into());
    e.failure_reason = None;
    e.config_name = Some("sagewatch-demo-endpoint-config-1".into());
    e.rollback_alarms = vec!["sagewatch-demo-5xx".into(), "sagewatch-demo-latency".into()];
    // The sample's event time is 2024-06-10T18:21:40Z.
    let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc();
    e.last_modified_time = Some(at("2024-06-10T18:21:40Z"));
    let alarms = vec![
        AlarmState {
            name: "sagewatch-demo-5xx".into(),
            state: "ALARM".into(),
            reason: Some("Threshold Crossed: 1 out of the last 1 datapoints [12.0 (10/06/24 18:16:00)] was greater than the threshold (5.0) (minimum 1 datapoint for OK -> ALARM transition).".into()),
            updated: Some(at("2024-06-10T18:17:40Z")),
        },
        AlarmState {
            name: "sagewatch-demo-latency".into(),
            state: "OK".into(),
            reason: None,
            updated: Some(at("2024-06-09T08:00:00Z")),
        },
    ];
    (e, alarms)
}

/// The sample of a deployment's end, which the rollback tests ask about.
const ROLLED_BACK: &str = "endpoint-deployment-state-change-rolled-back.json";

/// Fakes that know one endpoint (its facts' name) and the alarms DescribeAlarms answers.
fn endpoint_jobs(facts: EndpointFacts, alarms: Vec<AlarmState>) -> FakeJobs {
    FakeJobs {
        endpoints: BTreeMap::from([(facts.name.clone(), facts)]),
        alarms: Mutex::new(alarms),
        ..FakeJobs::default()
    }
}

#[tokio::test]
async fn a_rolled_back_deployment_names_the_alarm_that_tripped_once() {
    let (facts, alarms) = rolled_back_endpoint();
    let mut logs = FakeLogs::default();
    logs.streams.insert(
        "AllTraffic/i-0abc123def4567890".into(),
        events(&[
            "Invoked model with a 3 MB payload",
            "Responded 500 after 41 ms",
        ]),
    );
    let e = enricher(endpoint_jobs(facts, alarms), logs);
    let event = sample(ROLLED_BACK);
    let out = run(&e, event.clone()).await.unwrap();
    let Outcome::Reported { report } = out else {
        panic!("{out:?}")
    };
    assert_eq!(report["outcome"], "rolled_back", "{report}");
    let r = &report["rollback"];
    assert_eq!(
        r["because"],
        "an auto-rollback alarm of the deployment is in ALARM"
    );
    assert_eq!(r["triggered_by"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["triggered_by"][0]["alarm"], "sagewatch-demo-5xx");
    assert_eq!(r["triggered_by"][0]["evidence"], "in_alarm");
    assert!(r["triggered_by"][0]["state_reason"]
        .as_str()
        .unwrap()
        .starts_with("Threshold Crossed"));
    assert_eq!(
        r["auto_rollback_alarms"],
        json!(["sagewatch-demo-5xx", "sagewatch-demo-latency"])
    );
    // Nothing in the logs explains it: the hint is about the alarm.
    assert_eq!(report["category"], "unknown");
    assert!(report["hint"]
        .as_str()
        .unwrap()
        .contains("triggering alarm"));
    let sent = e.notifier.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].subject,
        "Endpoint SagewatchDemoEndpoint update rolled back by alarm sagewatch-demo-5xx: unknown"
    );
    assert!(
        sent[0].text.contains("alarm sagewatch-demo-5xx (in ALARM"),
        "{}",
        sent[0].text
    );
    assert_eq!(
        *e.jobs.other_calls.lock().unwrap(),
        ["DescribeAlarms"],
        "one DescribeAlarms for both alarms"
    );
    assert_eq!(*e.jobs.endpoint_calls.lock().unwrap(), 1);
    let chat = failure_enricher::chat::render(&report, &sent[0].subject).to_json();
    sagewatch::chat::check(&chat).unwrap_or_else(|err| panic!("{err}: {chat}"));
    assert_eq!(chat["metadata"]["eventType"], "rollback");
    assert_eq!(
        chat["metadata"]["threadId"],
        "sagewatch/Endpoint/123456789012/SagewatchDemoEndpoint"
    );
    let d = chat["content"]["description"].as_str().unwrap();
    assert!(
        d.contains("Triggered by alarm *sagewatch-demo-5xx* (in ALARM)"),
        "{d}"
    );

    // The same rollback again (a redelivery, or SageMaker's second event): one report, even
    // after the alarm went back to OK in between (the key is not the alarms' state).
    let mut second = event.clone();
    second["id"] = json!("another-event-of-the-same-rollback");
    for again in [event.clone(), second] {
        let out = run(&e, again).await.unwrap();
        assert!(matches!(out, Outcome::Duplicate { .. }), "{out:?}");
    }
    {
        let mut alarms = e.jobs.alarms.lock().unwrap();
        alarms[0].state = "OK".into();
        alarms[0].updated = alarms[0].updated.map(|t| t + chrono::Duration::minutes(3));
    }
    let keys: Vec<String> = e.claims.items().keys().cloned().collect();
    assert_eq!(
        keys,
        ["failure-enricher#123456789012#endpoint-rollback#SagewatchDemoEndpoint#1718043700000"]
    );
    let mut retried = event;
    retried["detail"]["EndpointStatus"] = json!("ROLLING_BACK");
    let out = run(&e, retried).await.unwrap();
    assert!(matches!(out, Outcome::Duplicate { .. }), "{out:?}");
    assert_eq!(e.notifier.sent().len(), 1);
}

#[tokio::test]
async fn deployments_that_completed_or_are_still_baking_are_not_rollbacks() {
    let (mut facts, mut alarms) = rolled_back_endpoint();
    // The same endpoint, now on the new config, every alarm OK for a day.
    facts.config_name = Some("sagewatch-demo-endpoint-config-2".into());
    alarms[0].state = "OK".into();
    alarms[0].updated = alarms[1].updated;
    let e = enricher(endpoint_jobs(facts.clone(), alarms), FakeLogs::default());
    let out = run(&e, sample(ROLLED_BACK)).await.unwrap();
    let Outcome::Ignored { reason } = out else {
        panic!("{out:?}")
    };
    assert!(reason.contains("no sign of a rollback"), "{reason}");
    assert_eq!(*e.jobs.other_calls.lock().unwrap(), ["DescribeAlarms"]);
    // A stage in between (Baking): ignored before any AWS call.
    let out = run(&e, sample("endpoint-deployment-state-change.json"))
        .await
        .unwrap();
    assert!(matches!(out, Outcome::Ignored { .. }), "{out:?}");
    assert_eq!(*e.jobs.endpoint_calls.lock().unwrap(), 1);
    assert!(e.notifier.sent().is_empty());
    assert!(e.sink.json().iter().all(|d| d.get("_aws").is_none()));

    // Alarms we may not read: judged without them (nothing to report here), not rejected;
    // a throttled DescribeAlarms is retried.
    let (facts_denied, alarms) = rolled_back_endpoint();
    for (kind, retried) in [
        (ErrorKind::AccessDenied, false),
        (ErrorKind::Throttled, true),
    ] {
        let jobs = FakeJobs {
            alarms_fail: Some(kind),
            ..endpoint_jobs(facts_denied.clone(), alarms.clone())
        };
        let e = enricher(jobs, FakeLogs::default());
        let out = run(&e, sample(ROLLED_BACK)).await;
        match out {
            Err(_) => assert!(retried, "{kind:?}"),
            Ok(Outcome::Ignored { reason }) => {
                assert!(!retried, "{kind:?}");
                assert!(reason.contains("could not be read"), "{reason}");
            }
            Ok(other) => panic!("{kind:?}: {other:?}"),
        }
        assert!(e.notifier.sent().is_empty());
    }

    // No auto-rollback alarms configured: no DescribeAlarms at all.
    facts.rollback_alarms.clear();
    let e = enricher(endpoint_jobs(facts, Vec::new()), FakeLogs::default());
    let out = run(&e, sample(ROLLED_BACK)).await.unwrap();
    assert!(matches!(out, Outcome::Ignored { .. }), "{out:?}");
    assert!(e.jobs.other_calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn every_report_kind_renders_a_valid_chat_notice() {
    let mut logs = FakeLogs::default();
    logs.streams.insert(
        "train-42/algo-1-1700000000".into(),
        events(&[
            "torch.cuda.OutOfMemoryError: CUDA out of memory. api_key=sk-live-0123456789abcdef",
        ]),
    );
    let mut timeout = job("sagewatch-demo-timeout-1", "");
    timeout.failure_reason = None;
    timeout.secondary_status = Some("MaxRuntimeExceeded".into());
    timeout.max_runtime_seconds = Some(3600);
    timeout.training_seconds = Some(3600);
    let jobs = FakeJobs {
        jobs: BTreeMap::from([
            (
                "train-42".into(),
                job("train-42", "AlgorithmError: see logs"),
            ),
            ("sagewatch-demo-timeout-1".into(), timeout),
        ]),
        endpoints: BTreeMap::from([(
            "SagewatchDemoEndpoint".into(),
            failed_endpoint("SagewatchDemoEndpoint"),
        )]),
        ..FakeJobs::default()
    };
    let e = enricher(jobs, logs);
    for (payload, thread, event_type, category) in [
        (
            sample("training-job-state-change-failed.json").tap_name("train-42"),
            "sagewatch/TrainingJob/123456789012/train-42",
            "failure",
            "out_of_memory",
        ),
        (
            sample("training-job-state-change-max-runtime.json"),
            "sagewatch/TrainingJob/123456789012/sagewatch-demo-timeout-1",
            "timeout",
            "timeout",
        ),
        (
            sample("endpoint-state-change-failed.json"),
            "sagewatch/Endpoint/123456789012/SagewatchDemoEndpoint",
            "failure",
            "image_error",
        ),
    ] {
        let Outcome::Reported { report } = run(&e, payload).await.unwrap() else {
            panic!("{thread}: not reported")
        };
        let subject = e.notifier.sent().last().unwrap().subject.clone();
        let chat = failure_enricher::chat::render(&report, &subject).to_json();
        sagewatch::chat::check(&chat).unwrap_or_else(|err| panic!("{thread}: {err}: {chat}"));
        assert_eq!(chat["version"], "1.0");
        assert_eq!(chat["source"], "custom");
        assert_eq!(chat["content"]["textType"], "client-markdown");
        assert_eq!(chat["content"]["title"], subject.as_str());
        assert_eq!(chat["content"]["keywords"][0], category, "{chat}");
        assert_eq!(chat["content"]["nextSteps"][0], report["hint"]);
        assert_eq!(chat["metadata"]["threadId"], thread);
        assert_eq!(chat["metadata"]["eventType"], event_type);
        assert_eq!(chat["metadata"]["additionalContext"]["region"], "us-east-1");
        assert!(chat["metadata"]["relatedResources"][0]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:sagemaker:"));
        let d = chat["content"]["description"].as_str().unwrap();
        assert!(d.contains(category), "{d}");
        assert!(!chat.to_string().contains("sk-live"), "{chat}");
        if event_type == "timeout" {
            assert!(d.contains("after 3600 s of 3600 s allowed"), "{d}");
        }
    }
}

const PIPELINE_EXECUTION: &str =
    "arn:aws:sagemaker:us-east-1:123456789012:pipeline/sagewatch-demo-pipeline/execution/k7x2m9q4w1ab";

fn step(
    name: &str,
    status: &str,
    start: i64,
    job: Option<&str>,
    reason: Option<&str>,
) -> StepFacts {
    StepFacts {
        name: name.into(),
        status: Some(status.into()),
        failure_reason: reason.map(str::to_owned),
        job: job.map(|j| (JobType::Training, j.to_owned())),
        kind: Some(if job.is_some() { "TrainingJob" } else { "Fail" }.into()),
        start_time: chrono::DateTime::from_timestamp(start, 0),
        end_time: None,
    }
}

/// The demo pipeline: Prep succeeded, Train failed (its job ran out of GPU memory), Gate
/// (a Fail step) failed after it. Newest first, as AWS lists them.
fn failed_pipeline() -> FakeJobs {
    let job_name = "pipelines-k7x2m9q4w1ab-Train-a1b2c3d4e5";
    let steps = StepList {
        steps: vec![
            step("Gate", "Failed", 300, None, Some("Training did not produce a model")),
            step(
                "Train",
                "Failed",
                200,
                Some(job_name),
                Some(&format!("ClientError: Failed to invoke sagemaker:CreateTrainingJob. Job {job_name} failed")),
            ),
            step("Prep", "Succeeded", 100, None, None),
        ],
        complete: true,
    };
    FakeJobs {
        jobs: BTreeMap::from([(
            job_name.to_owned(),
            job(job_name, "AlgorithmError: ExecuteUserScriptError: see logs"),
        )]),
        pipelines: BTreeMap::from([(PIPELINE_EXECUTION.to_owned(), steps)]),
        ..FakeJobs::default()
    }
}

fn pipeline_logs() -> FakeLogs {
    let mut logs = FakeLogs::default();
    logs.streams.insert(
        "pipelines-k7x2m9q4w1ab-Train-a1b2c3d4e5/algo-1-1700000000".into(),
        events(&["torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"]),
    );
    logs
}

#[tokio::test]
async fn a_failed_pipeline_is_one_report_with_its_failed_steps_and_the_job_report() {
    let e = enricher(failed_pipeline(), pipeline_logs());
    let event = sample("pipeline-execution-status-change-failed.json");
    let out = run(&e, event.clone()).await.unwrap();
    let Outcome::Reported { report } = out else {
        panic!("{out:?}")
    };
    assert_eq!(report["resource_type"], "PipelineExecution");
    assert_eq!(report["pipeline_name"], "sagewatch-demo-pipeline");
    assert_eq!(report["execution_id"], "k7x2m9q4w1ab");
    // The first step to fail leads; its job's report is the job path's own.
    assert_eq!(report["failed_step"], "Train");
    assert_eq!(report["category"], "out_of_memory", "{report:#}");
    let steps = report["failed_steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0]["job_report"]["category"], "out_of_memory");
    assert_eq!(
        steps[0]["job_report"]["hyperparameters"]["hf_token"],
        "[REDACTED]"
    );
    // The classifier's signature survives the redaction (`signature` is also a secret name)
    // at the top and in the nested job report, masked, not blanked.
    for sig in [&report["signature"], &steps[0]["job_report"]["signature"]] {
        let sig = sig.as_str().unwrap();
        assert!(sig.contains("OutOfMemoryError"), "{sig}");
        assert_ne!(sig, "[REDACTED]");
    }
    assert_eq!(steps[1]["step_name"], "Gate");
    assert!(steps[1].get("job_report").is_none());
    assert!(!report.to_string().contains("hf_abcdefsecret"));
    let sent = e.notifier.sent();
    assert_eq!(sent.len(), 1, "one notification per execution");
    assert_eq!(
        sent[0].subject,
        "Pipeline sagewatch-demo-pipeline failed at step Train: out_of_memory"
    );
    assert!(
        sent[0].text.contains("--- The failed step's job ---"),
        "{}",
        sent[0].text
    );
    assert!(sent[0]
        .text
        .contains("Gate: Training did not produce a model"));
    assert_eq!(sent[0].attributes["resource_type"], "PipelineExecution");
    let docs = e.sink.json();
    let emf: Vec<&Value> = docs.iter().filter(|d| d.get("_aws").is_some()).collect();
    assert_eq!(emf.len(), 1, "Failures only");
    assert_eq!(emf[0]["ResourceType"], "PipelineExecution");
    assert_eq!(emf[0]["Category"], "out_of_memory");
    assert_eq!(
        e.jobs.other_calls.lock().unwrap().as_slice(),
        ["ListPipelineExecutionSteps"]
    );
    assert_eq!(
        e.jobs.calls.lock().unwrap().len(),
        1,
        "one DescribeTrainingJob"
    );

    let again = run(&e, event).await.unwrap();
    assert!(matches!(again, Outcome::Duplicate { .. }), "{again:?}");
    assert_eq!(e.notifier.sent().len(), 1);

    // A Succeeded execution is not a failure: no AWS call.
    let calls = e.jobs.other_calls.lock().unwrap().len();
    let out = run(&e, sample("pipeline-execution-status-change.json"))
        .await
        .unwrap();
    assert!(matches!(out, Outcome::Ignored { .. }), "{out:?}");
    assert_eq!(e.jobs.other_calls.lock().unwrap().len(), calls);
}

#[tokio::test]
async fn a_pipeline_whose_failed_step_has_no_job_is_explained_from_the_step_reasons() {
    let mut jobs = FakeJobs::default();
    jobs.pipelines.insert(
        PIPELINE_EXECUTION.to_owned(),
        StepList {
            steps: vec![step(
                "Register",
                "Failed",
                10,
                None,
                Some("AccessDeniedException: User is not authorized to perform: sagemaker:CreateModelPackage"),
            )],
            complete: false,
        },
    );
    let e = enricher(jobs, FakeLogs::default());
    let out = run(&e, json!({"pipeline_execution_arn": PIPELINE_EXECUTION}))
        .await
        .unwrap();
    let Outcome::Reported { report } = out else {
        panic!("{out:?}")
    };
    assert_eq!(report["category"], "permission", "{report:#}");
    assert_eq!(report["steps_listing_complete"], false);
    assert_eq!(report["account"], "123456789012", "from the ARN");
    assert!(run(
        &e,
        json!({"pipeline_execution_arn": "arn:aws:sagemaker:us-east-1:1:pipeline/x"})
    )
    .await
    .is_ok_and(|o| matches!(o, Outcome::Rejected { ref reason, .. } if reason == "invalid_input")));
}

fn failed_tuning(name: &str, oom: usize, hp: usize) -> FakeJobs {
    let mut jobs = FakeJobs::default();
    let mut children = Vec::new();
    for i in 0..oom {
        let c = format!("{name}-{i:03}-oom");
        let reason = "AlgorithmError: torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB";
        jobs.jobs.insert(c.clone(), job(&c, reason));
        children.push(Child {
            name: c,
            failure_reason: Some(reason.into()),
        });
    }
    for i in 0..hp {
        let c = format!("{name}-{i:03}-hp");
        let reason = "ClientError: Additional properties are not allowed ('lr' was unexpected)";
        jobs.jobs.insert(c.clone(), job(&c, reason));
        children.push(Child {
            name: c,
            failure_reason: Some(reason.into()),
        });
    }
    let facts = TuningFacts {
        name: name.into(),
        arn: Some(format!(
            "arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/{name}"
        )),
        status: Some("Failed".into()),
        failure_reason: None,
        counters: BTreeMap::from([
            ("Completed".to_owned(), 0),
            ("NonRetryableError".to_owned(), (oom + hp) as i64),
        ]),
        ..TuningFacts::default()
    };
    jobs.tunings.insert(
        name.into(),
        (
            facts,
            ChildList {
                children,
                more: false,
            },
        ),
    );
    jobs
}

#[tokio::test]
async fn a_tuning_job_whose_children_failed_for_one_reason_says_so_with_bounded_describes() {
    let name = "sagewatch-demo-hpo-2";
    let e = enricher(failed_tuning(name, 47, 3), FakeLogs::default());
    let event = sample("hyperparameter-tuning-job-state-change-failed.json");
    let out = run(&e, event.clone()).await.unwrap();
    let Outcome::Reported { report } = out else {
        panic!("{out:?}")
    };
    assert_eq!(report["resource_type"], "HyperParameterTuningJob");
    assert_eq!(report["category"], "out_of_memory", "{report:#}");
    assert_eq!(report["failed_training_jobs"], 50);
    assert_eq!(report["signatures"][0]["count"], 47);
    assert_eq!(report["signatures"][1]["count"], 3);
    assert!(
        report["signatures"][0]["signature"]
            .as_str()
            .is_some_and(|s| s.contains("CUDA out of memory")),
        "{report:#}"
    );
    let sampled = report["failed_children_sampled"].as_array().unwrap();
    assert_eq!(sampled.len(), failure_enricher::tuning::MAX_DESCRIBED);
    assert_eq!(
        e.jobs.calls.lock().unwrap().len(),
        failure_enricher::tuning::MAX_DESCRIBED,
        "at most N DescribeTrainingJob"
    );
    // Both signatures were sampled (one of each first).
    assert!(report["signatures"][1]["sampled"]
        .as_array()
        .is_some_and(|s| !s.is_empty()));
    let sent = e.notifier.sent();
    assert_eq!(
        sent[0].subject,
        "Tuning job sagewatch-demo-hpo-2 failed: out_of_memory"
    );
    assert!(
        sent[0].text.contains("47 x out_of_memory"),
        "{}",
        sent[0].text
    );
    let again = run(&e, event).await.unwrap();
    assert!(matches!(again, Outcome::Duplicate { .. }), "{again:?}");

    // Completed with failed children: reported too; Completed without: ignored, no call.
    let e = enricher(
        failed_tuning("sagewatch-demo-hpo-3", 6, 0),
        FakeLogs::default(),
    );
    let out = run(
        &e,
        sample("hyperparameter-tuning-job-state-change-failed-children.json"),
    )
    .await
    .unwrap();
    assert!(matches!(out, Outcome::Reported { .. }), "{out:?}");
    let out = run(&e, sample("hyperparameter-tuning-job-state-change.json"))
        .await
        .unwrap();
    assert!(matches!(out, Outcome::Ignored { .. }), "{out:?}");
    assert_eq!(
        e.jobs.other_calls.lock().unwrap().len(),
        2,
        "nothing for the ignored one"
    );
}

/// The new kinds' chat notices: the same custom-notification shape, one thread per
/// pipeline execution and per tuning job.
#[tokio::test]
async fn pipeline_and_tuning_reports_render_valid_chat_notices() {
    let mut jobs = failed_pipeline();
    let tuning = failed_tuning("sagewatch-demo-hpo-2", 4, 1);
    jobs.jobs.extend(tuning.jobs);
    jobs.tunings = tuning.tunings;
    let e = enricher(jobs, pipeline_logs());
    for (payload, thread, kind) in [
        (
            sample("pipeline-execution-status-change-failed.json"),
            "sagewatch/PipelineExecution/123456789012/sagewatch-demo-pipeline/k7x2m9q4w1ab",
            "Failed step *Train*",
        ),
        (
            sample("hyperparameter-tuning-job-state-change-failed.json"),
            "sagewatch/HyperParameterTuningJob/123456789012/sagewatch-demo-hpo-2",
            "4 of 5 failed training jobs",
        ),
    ] {
        let Outcome::Reported { report } = run(&e, payload).await.unwrap() else {
            panic!("{thread}: not reported")
        };
        let subject = e.notifier.sent().last().unwrap().subject.clone();
        let chat = failure_enricher::chat::render(&report, &subject).to_json();
        sagewatch::chat::check(&chat).unwrap_or_else(|err| panic!("{thread}: {err}: {chat}"));
        assert_eq!(chat["metadata"]["threadId"], thread);
        assert_eq!(chat["content"]["keywords"][0], "out_of_memory");
        assert_eq!(chat["content"]["keywords"][1], report["resource_type"]);
        assert!(chat["metadata"]["relatedResources"][0]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:sagemaker:"));
        let d = chat["content"]["description"].as_str().unwrap();
        assert!(d.contains(kind), "{d}");
        assert!(!chat.to_string().contains("hf_abcdefsecret"), "{chat}");
    }
}

/// With a chat topic, each report goes there a second time as the chat custom notification
/// (the message body is the notification JSON); a failed chat publish is counted, and the
/// report still counts as sent (no retry that would send it twice).
#[tokio::test]
async fn the_chat_topic_gets_each_report_as_a_custom_notification_best_effort() {
    let mut e = enricher(failed_pipeline(), pipeline_logs());
    e.chat = Some(MemoryNotifier::default());
    let out = run(&e, sample("pipeline-execution-status-change-failed.json"))
        .await
        .unwrap();
    assert!(matches!(out, Outcome::Reported { .. }), "{out:?}");
    let chat = e.chat.as_ref().unwrap().sent();
    assert_eq!(chat.len(), 1);
    let body: Value = serde_json::from_str(&chat[0].text).unwrap();
    sagewatch::chat::check(&body).unwrap();
    assert_eq!(body, chat[0].report, "the body is the notification itself");
    assert_eq!(
        body["content"]["title"],
        e.notifier.sent()[0].subject.as_str()
    );
    assert_eq!(chat[0].attributes["resource_type"], "PipelineExecution");

    // The chat topic refuses: the report went out, the claim is done, the failure counted.
    let mut e = enricher(failed_pipeline(), pipeline_logs());
    let chat = MemoryNotifier::default();
    chat.fail_next(aws_error("Publish", ErrorKind::AccessDenied));
    e.chat = Some(chat);
    let event = sample("pipeline-execution-status-change-failed.json");
    assert!(matches!(
        run(&e, event.clone()).await.unwrap(),
        Outcome::Reported { .. }
    ));
    assert_eq!(e.notifier.sent().len(), 1);
    assert!(e.chat.as_ref().unwrap().sent().is_empty());
    let counted = e
        .sink
        .json()
        .iter()
        .any(|d| d.get("ChatNoticeFailures") == Some(&json!(1.0)));
    assert!(counted, "{:?}", e.sink.json());
    assert!(matches!(
        run(&e, event).await.unwrap(),
        Outcome::Duplicate { .. }
    ));
}

/// A job tagged sagewatch:notify=always gets a completion notice from the event alone (no
/// AWS call but the publish), once; it is no failure (no `Failures`, no job_failure line);
/// the same job without the tag gets nothing.
#[tokio::test]
async fn an_opted_in_job_gets_one_completion_notice_and_no_failure_metric() {
    let mut e = enricher(FakeJobs::default(), FakeLogs::default());
    e.chat = Some(MemoryNotifier::default());
    let event = sample("training-job-state-change-notify.json");
    let out = run(&e, event.clone()).await.unwrap();
    let Outcome::Reported { report } = out else {
        panic!("{out:?}")
    };
    assert_eq!(report["report_kind"], "notice");
    assert_eq!(report["status"], "Completed");
    // TrainingStartTime 1718020931517 → TrainingEndTime 1718022708204 (ms): 1776 s on 1 host.
    assert_eq!(report["duration_seconds"], 1776, "{report:#}");
    assert_eq!(report["instance_seconds"], 1776);
    let sent = e.notifier.sent();
    assert_eq!(
        sent[0].subject,
        "sagewatch-demo-notify-1 completed after 29m 36s"
    );
    assert!(
        sent[0]
            .text
            .contains("1776 instance-seconds on 1 x ml.m5.xlarge"),
        "{}",
        sent[0].text
    );
    assert_eq!(sent[0].attributes["category"], "completed");
    assert!(e.jobs.calls.lock().unwrap().is_empty(), "no Describe");
    assert!(e.logs.calls.lock().unwrap().eq(&0), "no logs read");
    let docs = e.sink.json();
    assert!(docs
        .iter()
        .all(|d| d.get("Failures").is_none() && d.get("FailedJobs").is_none()));
    assert!(docs
        .iter()
        .any(|d| d["CompletionNotices"] == json!(1.0) && d["Status"] == "completed"));
    assert!(!e.sink.lines().iter().any(|l| l.contains("job_failure")));
    let chat = e.chat.as_ref().unwrap().sent();
    sagewatch::chat::check(&chat[0].report).unwrap();
    assert_eq!(chat[0].report["metadata"]["eventType"], "completion");
    assert_eq!(
        chat[0].report["metadata"]["threadId"],
        "sagewatch/TrainingJob/123456789012/sagewatch-demo-notify-1"
    );
    let again = run(&e, event).await.unwrap();
    assert!(matches!(again, Outcome::Duplicate { .. }), "{again:?}");

    // Not opted in: the same Completed event is ignored.
    let out = run(&e, sample("training-job-state-change.json"))
        .await
        .unwrap();
    assert!(matches!(out, Outcome::Ignored { .. }), "{out:?}");
    assert_eq!(e.notifier.sent().len(), 1);
}
