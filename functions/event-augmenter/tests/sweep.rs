//! The sweep (issue #18) with in-memory ports: what it lists, which jobs it hands to the event
//! path, its bounds and its failures. (The real SDK against the emulator: `emulator.rs`.)

use chrono::{DateTime, Duration, Utc};
use event_augmenter::ports::{
    ClaimReader, DiscoveredHosts, HostDiscovery, HostMetrics, Jobs, ListPage, ListRequest,
    MemoryBus, MetricRequest, MetricValues,
};
use event_augmenter::{Augmenter, Config, Disposition, Response, SweepSummary};
use lambda_runtime::{Context, LambdaEvent};
use sagewatch::claims::{Claim, ClaimItem, ClaimStore, Claimed, MemoryClaims, State};
use sagewatch::error::{AwsError, ErrorKind};
use sagewatch::events::JobType;
use sagewatch::output::MemorySink;
use sagewatch::status::Status;
use sagewatch::sweep::{Bound, JobView, Listed, Resources};
use sagewatch::target::Target;
use sagewatch::testing::sample;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Mutex;

const HOME: &str = "123456789012";
const OTHER: &str = "444455556666";

fn now() -> DateTime<Utc> {
    "2026-12-01T12:00:00Z".parse().unwrap()
}

fn job(job_type: JobType, name: &str, status: &str, ended_min_ago: i64) -> JobView {
    let end = now() - Duration::minutes(ended_min_ago);
    JobView {
        job_type,
        name: name.to_owned(),
        arn: Some(format!(
            "arn:aws:sagemaker:us-east-1:{HOME}:{}-job/{name}",
            job_type.as_str()
        )),
        status: Status::new(status),
        failure_reason: (status == "Failed").then(|| "AlgorithmError: exit 1".to_owned()),
        exit_message: None,
        resources: Resources {
            instance_type: Some("ml.m5.xlarge".into()),
            instance_count: Some(1),
            instance_groups: Vec::new(),
        },
        creation_time: Some(end - Duration::minutes(30)),
        start_time: Some(end - Duration::minutes(25)),
        end_time: Some(end),
        last_modified_time: Some(end),
        billable_seconds: None,
        secondary_status: None,
        tags: BTreeMap::new(),
    }
}

/// SageMaker's jobs per account, listed newest first in pages; every call recorded.
#[derive(Default)]
struct FakeJobs {
    /// account → jobs.
    jobs: BTreeMap<String, Vec<JobView>>,
    /// What Describe*Job says when it differs from the listing (`None`: deleted).
    described: BTreeMap<String, Option<JobView>>,
    /// ListTags by ARN.
    tags: BTreeMap<String, BTreeMap<String, String>>,
    fail_list: Mutex<Vec<(JobType, ErrorKind)>>,
    calls: Mutex<Vec<String>>,
    targets: Mutex<Vec<Target>>,
    requests: Mutex<Vec<ListRequest>>,
}

impl FakeJobs {
    fn with(jobs: Vec<JobView>) -> Self {
        FakeJobs {
            jobs: [(HOME.to_owned(), jobs)].into_iter().collect(),
            ..FakeJobs::default()
        }
    }
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
    fn count(&self, prefix: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.starts_with(prefix))
            .count()
    }
}

fn account_of(target: &Target) -> String {
    target.account.clone().unwrap_or_else(|| HOME.to_owned())
}

impl Jobs for FakeJobs {
    async fn list(&self, target: &Target, request: &ListRequest) -> Result<ListPage, AwsError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("list {}", request.job_type.as_str()));
        self.targets.lock().unwrap().push(target.clone());
        self.requests.lock().unwrap().push(request.clone());
        let fail = self
            .fail_list
            .lock()
            .unwrap()
            .iter()
            .find(|(t, _)| *t == request.job_type)
            .map(|(_, k)| *k);
        if let Some(kind) = fail {
            return Err(AwsError::new("ListTrainingJobs", kind, "Test", "injected"));
        }
        let all: Vec<Listed> = self
            .jobs
            .get(&account_of(target))
            .into_iter()
            .flatten()
            .filter(|j| j.job_type == request.job_type)
            .map(|j| Listed {
                name: j.name.clone(),
                status: j.status.clone(),
                last_modified: j.last_modified_time,
            })
            .collect();
        let start: usize = request
            .next_token
            .as_deref()
            .map(|t| t.parse().unwrap())
            .unwrap_or(0);
        let end = (start + request.page_size as usize).min(all.len());
        Ok(ListPage {
            jobs: all[start..end].to_vec(),
            next_token: (end < all.len()).then(|| end.to_string()),
        })
    }

    async fn describe(
        &self,
        target: &Target,
        job_type: JobType,
        name: &str,
    ) -> Result<Option<JobView>, AwsError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("describe {} {name}", job_type.as_str()));
        if let Some(d) = self.described.get(name) {
            return Ok(d.clone());
        }
        Ok(self
            .jobs
            .get(&account_of(target))
            .into_iter()
            .flatten()
            .find(|j| j.name == name && j.job_type == job_type)
            .cloned())
    }

    async fn tags(
        &self,
        _target: &Target,
        arn: &str,
    ) -> Result<BTreeMap<String, String>, AwsError> {
        self.calls.lock().unwrap().push(format!("tags {arn}"));
        Ok(self.tags.get(arn).cloned().unwrap_or_default())
    }
}

/// No host data: every series missing (the report still counts the job).
#[derive(Default)]
struct NoMetrics(Mutex<usize>);

impl HostMetrics for NoMetrics {
    async fn fetch(&self, _: &MetricRequest) -> Result<MetricValues, AwsError> {
        *self.0.lock().unwrap() += 1;
        Ok(MetricValues::default())
    }
    async fn discover_hosts(&self, _: &HostDiscovery) -> Result<DiscoveredHosts, AwsError> {
        Ok(DiscoveredHosts::default())
    }
}

/// The shared in-memory claims; `blind` reads see nothing (a claim written between the
/// sweep's read and its put, by the job's late event).
#[derive(Default)]
struct Claims {
    store: MemoryClaims,
    blind: bool,
    reads: Mutex<usize>,
}

impl ClaimStore for Claims {
    async fn claim(&self, claim: &Claim) -> Result<Claimed, AwsError> {
        self.store.claim(claim).await
    }
    async fn complete(&self, key: &str, owner: &str) -> Result<(), AwsError> {
        self.store.complete(key, owner).await
    }
    async fn release(&self, key: &str, owner: &str) -> Result<(), AwsError> {
        self.store.release(key, owner).await
    }
}

impl ClaimReader for Claims {
    async fn get(&self, key: &str) -> Result<Option<ClaimItem>, AwsError> {
        *self.reads.lock().unwrap() += 1;
        if self.blind {
            return Ok(None);
        }
        self.store.get(key).await
    }
}

type Fake = Augmenter<Claims, NoMetrics, MemorySink, FakeJobs, MemoryBus>;

fn augmenter(jobs: FakeJobs) -> Fake {
    Augmenter {
        dedupe: Claims::default(),
        metrics: NoMetrics::default(),
        sink: MemorySink::default(),
        jobs,
        bus: MemoryBus::default(),
        config: Config {
            common: sagewatch::config::Common {
                home_account: Some(HOME.into()),
                ..Config::default().common
            },
            ..Config::default()
        },
    }
}

fn context(deadline: u64) -> Context {
    let mut ctx = Context::default();
    ctx.request_id = "req-1".into();
    ctx.deadline = deadline;
    ctx.invoked_function_arn = format!("arn:aws:lambda:us-east-1:{HOME}:function:event-augmenter");
    ctx
}

async fn run(a: &Fake, payload: Value) -> Result<Response, String> {
    a.handle_at(LambdaEvent::new(payload, context(0)), now())
        .await
        .map_err(|e| e.to_string())
}

async fn sweep(a: &Fake) -> SweepSummary {
    match run(a, sample("sweep-schedule.json")).await.expect("sweep") {
        Response::Sweep(s) => s.sweep,
        other => panic!("expected a sweep summary, got {other:?}"),
    }
}

fn emf(a: &Fake, metric: &str) -> Vec<Value> {
    a.sink
        .json()
        .into_iter()
        .filter(|v| {
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .is_some_and(|ms| ms.iter().any(|m| m["Name"] == metric))
        })
        .collect()
}

fn reports(a: &Fake) -> Vec<Value> {
    a.sink
        .json()
        .into_iter()
        .filter(|v| v["sagewatch_event"] == "job_summary")
        .collect()
}

fn done_claim() -> ClaimItem {
    ClaimItem {
        state: State::Done,
        owner: "event-augmenter:the-event".into(),
        lease_until_ms: 0,
        claimed_at: 0,
        expires_at: i64::MAX,
        event_id: Some("event".into()),
    }
}

#[tokio::test]
async fn ended_jobs_without_a_claim_take_the_event_path_once_each_kind_counted() {
    let a = augmenter(FakeJobs::with(vec![
        job(JobType::Training, "t-done", "Completed", 60),
        job(JobType::Training, "t-failed", "Failed", 70),
        job(JobType::Training, "t-running", "InProgress", 60),
        job(JobType::Training, "t-stopping", "Stopping", 60),
        job(JobType::Processing, "p-stopped", "Stopped", 80),
        job(JobType::Transform, "x-done", "Completed", 90),
        // Too recent: its event may still be on its way (settle time).
        job(JobType::Training, "t-recent", "Completed", 5),
        // Counted by its event already.
        job(JobType::Training, "t-counted", "Completed", 65),
    ]));
    a.dedupe.store.insert(
        &format!("event-augmenter#{HOME}#training#t-counted#Completed"),
        done_claim(),
    );
    let s = sweep(&a).await;
    assert_eq!(
        s.reconciled,
        [
            ("ProcessingJob", 1),
            ("TrainingJob", 2),
            ("TransformJob", 1)
        ]
        .into_iter()
        .collect(),
        "{s:?}"
    );
    assert_eq!(
        (s.ended, s.already_claimed, s.described),
        (5, 1, 4),
        "{s:?}"
    );
    assert_eq!(a.jobs.count("list"), 3);
    assert_eq!(a.jobs.count("describe"), 4, "{:?}", a.jobs.calls());
    let r = reports(&a);
    assert_eq!(r.len(), 4);
    assert!(r.iter().all(|l| l["reconciled"] == true), "{r:?}");
    let failed = r.iter().find(|l| l["job_name"] == "t-failed").unwrap();
    assert_eq!(failed["failure_reason"], "AlgorithmError: exit 1");
    assert_eq!(failed["region"], "us-east-1");
    let rec = emf(&a, "ReconciledEvents");
    assert_eq!(rec.len(), 4);
    let kinds: Vec<&str> = rec.iter().map(|l| l["Kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "TrainingJob").count(), 2);
    // The claims are the event path's own keys.
    let keys = a.dedupe.store.items();
    for k in [
        "training#t-done#Completed",
        "training#t-failed#Failed",
        "processing#p-stopped#Stopped",
        "transform#x-done#Completed",
    ] {
        assert!(
            keys.contains_key(&format!("event-augmenter#{HOME}#{k}")),
            "{k}"
        );
    }
    // Each lost state change is put on the bus again, once, for the other consumers: the
    // event's own detail-type and detail, the sweep's source, the job's account named.
    let put = a.bus.0.lock().unwrap().clone();
    assert_eq!(put.len(), 4, "{put:?}");
    assert_eq!(s.reemitted, 4);
    let failed = put
        .iter()
        .find(|e| e.detail["TrainingJobName"] == "t-failed")
        .unwrap();
    assert_eq!(failed.source, "sagewatch.sweep");
    assert_eq!(failed.detail_type, "SageMaker Training Job State Change");
    assert_eq!(failed.detail["TrainingJobStatus"], "Failed");
    assert_eq!(failed.detail["FailureReason"], "AlgorithmError: exit 1");
    assert_eq!(failed.detail["SagewatchReconciled"]["account"], HOME);
    let stopped = put
        .iter()
        .find(|e| e.detail["ProcessingJobName"] == "p-stopped")
        .unwrap();
    assert_eq!(stopped.detail_type, "SageMaker Processing Job State Change");

    // The window: 180 minutes back, ending 30 minutes ago.
    let req = a.jobs.requests.lock().unwrap()[0].clone();
    assert_eq!(req.window.after, now() - Duration::minutes(180));
    assert_eq!(req.window.before, now() - Duration::minutes(30));
    assert_eq!(req.page_size, 100);

    // The same job's real event afterwards: a duplicate, nothing more written.
    let mut late = sample("training-job-state-change.json");
    late["account"] = json!(HOME);
    late["detail"]["TrainingJobName"] = json!("t-done");
    let before = reports(&a).len();
    match run(&a, late).await.unwrap() {
        Response::Direct(d) => assert_eq!(d.outcomes[0].result, Disposition::Duplicate),
        other => panic!("{other:?}"),
    }
    assert_eq!(reports(&a).len(), before);

    // A second sweep: claims found, nothing described.
    let again = sweep(&a).await;
    assert_eq!(again.reconciled_total(), 0, "{again:?}");
    assert_eq!(again.already_claimed, 5, "{again:?}");
    assert_eq!(a.jobs.count("describe"), 4);
    assert_eq!(a.bus.0.lock().unwrap().len(), 4, "nothing put again");
}

/// Describe*Job has no tags: they are read (ListTags) only when reports copy some.
#[tokio::test]
async fn tags_are_read_only_when_reports_copy_them() {
    let view = job(JobType::Training, "t-tagged", "Completed", 60);
    let arn = view.arn.clone().unwrap();
    let mut jobs = FakeJobs::with(vec![view]);
    jobs.tags.insert(
        arn.clone(),
        [("project", "vision"), ("secret-ish", "x")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    );
    let a = augmenter(jobs);
    sweep(&a).await;
    assert_eq!(a.jobs.count("tags"), 0, "{:?}", a.jobs.calls());
    let [report] = reports(&a).try_into().unwrap();
    assert!(
        report.get("tags").is_none_or(|t| t == &json!({})),
        "{report}"
    );

    let mut jobs = FakeJobs::with(vec![job(JobType::Training, "t-tagged", "Completed", 60)]);
    jobs.tags.insert(
        arn.clone(),
        [("project".to_owned(), "vision".to_owned())]
            .into_iter()
            .collect(),
    );
    let mut a = augmenter(jobs);
    a.config.report_tag_keys = vec!["project".into()];
    sweep(&a).await;
    assert_eq!(a.jobs.count("tags"), 1);
    let [report] = reports(&a).try_into().unwrap();
    assert_eq!(report["tags"], json!({"project": "vision"}), "{report}");
}

#[tokio::test]
async fn a_late_event_that_wins_the_race_makes_the_sweep_a_duplicate() {
    let mut a = augmenter(FakeJobs::with(vec![job(
        JobType::Training,
        "t-race",
        "Completed",
        60,
    )]));
    a.dedupe.blind = true;
    a.dedupe.store.insert(
        &format!("event-augmenter#{HOME}#training#t-race#Completed"),
        done_claim(),
    );
    let s = sweep(&a).await;
    assert_eq!((s.duplicates, s.reconciled_total()), (1, 0), "{s:?}");
    assert!(reports(&a).is_empty());
    assert!(emf(&a, "ReconciledEvents").is_empty());
    assert_eq!(emf(&a, "DuplicateEvents").len(), 1);
}

#[tokio::test]
async fn direct_invoke_sets_the_look_back_and_bad_requests_are_invalid() {
    let a = augmenter(FakeJobs::default());
    let r = run(&a, json!({"action": "sweep", "lookback_minutes": 60}))
        .await
        .unwrap();
    assert!(matches!(r, Response::Sweep(_)), "{r:?}");
    let req = a.jobs.requests.lock().unwrap()[0].clone();
    assert_eq!(req.window.after, now() - Duration::minutes(60));

    let a = augmenter(FakeJobs::default());
    for bad in [
        json!({"sagewatch": "sweep", "lookback_minutes": -5}),
        json!({"sagewatch": "reconcile"}),
    ] {
        match run(&a, bad.clone()).await.unwrap() {
            Response::Direct(d) => assert_eq!(d.outcomes[0].result, Disposition::Invalid, "{bad}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
    // Longer than the claims live (30 days by default would allow a week; 1 day does not).
    let mut a = augmenter(FakeJobs::default());
    a.config.dedupe_ttl_days = 1;
    let r = run(&a, json!({"sagewatch": "sweep", "lookback_minutes": 1440}))
        .await
        .unwrap();
    let Response::Sweep(s) = r else {
        panic!("{r:?}")
    };
    assert_eq!(s.sweep.errors.len(), 1, "{s:?}");
    assert!(a.jobs.calls().is_empty());
    assert_eq!(emf(&a, "InvalidEvents").len(), 1);
}

#[tokio::test]
async fn other_accounts_are_swept_through_the_role_or_refused_without_one() {
    let mut jobs = FakeJobs::default();
    jobs.jobs.insert(
        OTHER.into(),
        vec![job(JobType::Training, "t-other", "Completed", 60)],
    );
    let mut a = augmenter(jobs);
    a.config.sweep.accounts = vec![OTHER.into()];
    let s = sweep(&a).await;
    assert_eq!(s.errors.len(), 1, "{s:?}");
    assert!(a.jobs.calls().is_empty(), "no role: no call");

    a.config.common.cross_account_role = Some("sagewatch-cross-account".into());
    let s = sweep(&a).await;
    assert_eq!(s.reconciled_total(), 1, "{s:?}");
    let target = a.jobs.targets.lock().unwrap()[0].clone();
    assert_eq!(
        target.role_arn.as_deref(),
        Some("arn:aws:iam::444455556666:role/sagewatch-cross-account")
    );
    assert_eq!(target.region.as_deref(), Some("us-east-1"));
    assert!(a
        .dedupe
        .store
        .items()
        .contains_key("event-augmenter#444455556666#training#t-other#Completed"));
    let [report] = reports(&a).try_into().unwrap();
    assert_eq!(report["account"], OTHER);
}

#[tokio::test]
async fn a_retryable_listing_error_fails_the_run_after_the_other_kinds_were_swept() {
    let a = augmenter(FakeJobs::with(vec![job(
        JobType::Processing,
        "p-done",
        "Completed",
        60,
    )]));
    a.jobs
        .fail_list
        .lock()
        .unwrap()
        .push((JobType::Training, ErrorKind::Throttled));
    let e = run(&a, sample("sweep-schedule.json")).await.unwrap_err();
    assert!(e.contains("injected"), "{e}");
    assert_eq!(a.jobs.count("list"), 3);
    assert_eq!(reports(&a).len(), 1, "the processing job still counted");

    // A permanent one (access denied) is logged and counted in the summary; the run succeeds.
    let a = augmenter(FakeJobs::default());
    a.jobs
        .fail_list
        .lock()
        .unwrap()
        .push((JobType::Transform, ErrorKind::AccessDenied));
    let s = sweep(&a).await;
    assert_eq!(s.errors.len(), 1, "{s:?}");
}

#[tokio::test]
async fn jobs_gone_or_not_ended_when_described_are_left_alone() {
    let mut jobs = FakeJobs::with(vec![
        job(JobType::Training, "t-deleted", "Completed", 60),
        job(JobType::Training, "t-odd", "Completed", 60),
    ]);
    jobs.described.insert("t-deleted".into(), None);
    jobs.described.insert(
        "t-odd".into(),
        Some(job(JobType::Training, "t-odd", "InProgress", 60)),
    );
    let a = augmenter(jobs);
    let s = sweep(&a).await;
    assert_eq!((s.gone, s.reconciled_total()), (2, 0), "{s:?}");
    assert!(a.dedupe.store.items().is_empty());
}

#[tokio::test]
async fn bounds_end_the_run_and_say_so() {
    let jobs: Vec<JobView> = (0..5)
        .map(|i| job(JobType::Training, &format!("t-{i}"), "Completed", 60 + i))
        .collect();
    let mut a = augmenter(FakeJobs::with(jobs));
    a.config.sweep.page_size = 2;
    a.config.sweep.max_jobs = 3;
    let s = sweep(&a).await;
    assert_eq!(s.bound, Some(Bound::Jobs), "{s:?}");
    assert_eq!(s.reconciled_total(), 3);
    assert_eq!(a.jobs.count("list"), 2, "{:?}", a.jobs.calls());
    let [b] = emf(&a, "SweepBoundReached").try_into().unwrap();
    assert_eq!(b["bound"], "jobs");
    let s = sweep(&a).await;
    assert_eq!((s.bound, s.reconciled_total()), (None, 2), "{s:?}");

    a.config.sweep.max_pages = 1;
    let s = sweep(&a).await;
    assert_eq!(s.bound, Some(Bound::Pages), "{s:?}");
    assert_eq!(s.pages, 3, "one page per kind: {s:?}");

    // The deadline: nothing started within 10 s of it.
    let a = augmenter(FakeJobs::with(vec![job(
        JobType::Training,
        "t-late",
        "Completed",
        60,
    )]));
    let soon = (Utc::now().timestamp_millis() + 2_000) as u64;
    let r = a
        .handle_at(
            LambdaEvent::new(sample("sweep-schedule.json"), context(soon)),
            now(),
        )
        .await
        .unwrap();
    let Response::Sweep(s) = r else {
        panic!("{r:?}")
    };
    assert_eq!(s.sweep.bound, Some(Bound::Time), "{s:?}");
    assert!(a.jobs.calls().is_empty());
}
