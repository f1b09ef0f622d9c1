//! The reconciliation sweep (issue #18), the pure part: EventBridge delivers SageMaker's
//! events on a best-effort basis, so a scheduled sweep lists the jobs that ended recently and
//! hands each one whose claim is missing to the code path its event would have taken.
//!
//! What is here, for every function that owns an event path (event-augmenter today;
//! failure-enricher can take the same input):
//! - [`Request::from_payload`]: is this invocation a sweep? (a scheduled "Scheduled Event"
//!   from `aws.events`, or a direct invoke `{"sagewatch": "sweep", "lookback_minutes": N}`);
//! - [`Settings`] (look-back, settle time, bounds, accounts; `SAGEWATCH_SWEEP_*`) and the
//!   [`Window`] a run lists;
//! - [`Listed`] (one List*Jobs summary) and [`Listed::candidate`], the end-state filter;
//! - [`JobView`] (what Describe*Job says) and [`JobView::to_event`], which builds the same
//!   [`SageMakerEvent`] the job's state-change event parses into, so the event path runs
//!   unchanged on it;
//! - the metrics: [`reconciled`] (`ReconciledEvents` by [Function, Kind]) and
//!   [`bound_reached`] (`SweepBoundReached` by [Function]).
//!
//! What is not here: the AWS calls (each function's adapter), the claim check (each
//! function's own claim key, so that a late real event is a duplicate of the sweep and a late
//! sweep finds the event's claim).

use crate::emf::{MetricRecord, Unit};
use crate::env::Env;
use crate::error::ConfigError;
use crate::events::{
    Detail, InstanceGroup, JobType, ProcessingJob, ProcessingResources, ResourceConfig,
    SageMakerEvent, TrainingJob, TransformJob, REEMIT_MARKER, REEMIT_SOURCE, SAGEMAKER_SOURCE,
};
use crate::status::Status;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// `source` of the events an EventBridge schedule rule sends.
pub const SCHEDULE_SOURCE: &str = "aws.events";
/// `detail-type` of those events.
pub const SCHEDULE_DETAIL_TYPE: &str = "Scheduled Event";
/// `{"action": "sweep"}`: the direct-invoke (and EventBridge Scheduler input) form, the
/// `action` convention of every function's scheduled work (endpoint-guard's `idle-check` and
/// `reconcile`, overfit-guard's `guard-sweep`).
pub const SWEEP_INPUT: &str = "sweep";

/// The input keys that name a scheduled action: `action`, and `sagewatch`, the sweep's first
/// spelling, still accepted.
const ACTION_KEYS: [&str; 2] = ["action", "sagewatch"];

/// The job kinds a sweep lists, in the order it lists them.
pub const JOB_TYPES: [JobType; 3] = [JobType::Training, JobType::Processing, JobType::Transform];

/// The `Kind` dimension of `ReconciledEvents` for a job type.
pub fn kind(job_type: JobType) -> &'static str {
    match job_type {
        JobType::Training => "TrainingJob",
        JobType::Processing => "ProcessingJob",
        JobType::Transform => "TransformJob",
    }
}

/// The state-change detail-type of a job type (what its EventBridge event carries).
pub fn detail_type(job_type: JobType) -> &'static str {
    match job_type {
        JobType::Training => "SageMaker Training Job State Change",
        JobType::Processing => "SageMaker Processing Job State Change",
        JobType::Transform => "SageMaker Transform Job State Change",
    }
}

// ---- Settings ---------------------------------------------------------------------------

/// How a function sweeps. Read once per cold start ([`Settings::from_env`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Jobs last modified this long ago or later are listed (a run overlaps the previous
    /// ones, so what one run leaves is found by the next).
    pub lookback: Duration,
    /// Jobs modified more recently than this are left to their events: the event path
    /// delays events (SQS `DelaySeconds`) and retries them, and a sweep that went first
    /// would count a late event as a lost one.
    pub settle: Duration,
    /// List*Jobs pages per job type and account (each up to [`Settings::page_size`] jobs).
    pub max_pages: u32,
    /// `MaxResults` of one List*Jobs call (1..=100).
    pub page_size: u32,
    /// Jobs handed to the event path per run (each a Describe*Job and the event's own work).
    pub max_jobs: u32,
    /// Accounts to sweep; empty: the function's own (home) account.
    pub accounts: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            lookback: Duration::minutes(Self::DEFAULT_LOOKBACK_MINUTES),
            settle: Duration::minutes(Self::DEFAULT_SETTLE_MINUTES),
            max_pages: 5,
            page_size: 100,
            max_jobs: 50,
            accounts: Vec::new(),
        }
    }
}

impl Settings {
    pub const DEFAULT_LOOKBACK_MINUTES: i64 = 180;
    pub const DEFAULT_SETTLE_MINUTES: i64 = 30;
    /// One week: longer look-backs list ever more jobs for nothing, and must stay inside the
    /// claims' TTL (a job whose claim expired would be counted again).
    pub const MAX_LOOKBACK_MINUTES: i64 = 7 * 24 * 60;

    /// SAGEWATCH_SWEEP_LOOKBACK_MINUTES (180), SAGEWATCH_SWEEP_SETTLE_MINUTES (30, below the
    /// look-back), SAGEWATCH_SWEEP_MAX_PAGES (5), SAGEWATCH_SWEEP_PAGE_SIZE (100, at most
    /// 100), SAGEWATCH_SWEEP_MAX_JOBS (50), SAGEWATCH_SWEEP_ACCOUNTS (comma-separated
    /// 12-digit ids; empty: the home account).
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let d = Settings::default();
        let invalid = |name: &str, value: String, reason: &str| ConfigError::Invalid {
            name: name.to_owned(),
            value,
            reason: reason.to_owned(),
        };
        let lookback = env.positive(
            "SAGEWATCH_SWEEP_LOOKBACK_MINUTES",
            Self::DEFAULT_LOOKBACK_MINUTES as u64,
        )?;
        let lookback = i64::try_from(lookback)
            .ok()
            .filter(|m| *m <= Self::MAX_LOOKBACK_MINUTES)
            .ok_or_else(|| {
                invalid(
                    "SAGEWATCH_SWEEP_LOOKBACK_MINUTES",
                    lookback.to_string(),
                    "at most one week (10080)",
                )
            })?;
        let settle: u64 = env.parse_or(
            "SAGEWATCH_SWEEP_SETTLE_MINUTES",
            Self::DEFAULT_SETTLE_MINUTES as u64,
        )?;
        let settle = i64::try_from(settle)
            .ok()
            .filter(|s| *s < lookback)
            .ok_or_else(|| {
                invalid(
                    "SAGEWATCH_SWEEP_SETTLE_MINUTES",
                    settle.to_string(),
                    "must be below SAGEWATCH_SWEEP_LOOKBACK_MINUTES",
                )
            })?;
        let bounded = |name: &str, default: u32, max: u64| -> Result<u32, ConfigError> {
            let v = env.positive(name, u64::from(default))?;
            u32::try_from(v)
                .ok()
                .filter(|v| u64::from(*v) <= max)
                .ok_or_else(|| invalid(name, v.to_string(), &format!("at most {max}")))
        };
        let accounts = env.list("SAGEWATCH_SWEEP_ACCOUNTS");
        if let Some(bad) = accounts
            .iter()
            .find(|a| a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(invalid(
                "SAGEWATCH_SWEEP_ACCOUNTS",
                bad.clone(),
                "not a 12-digit account id",
            ));
        }
        Ok(Settings {
            lookback: Duration::minutes(lookback),
            settle: Duration::minutes(settle),
            max_pages: bounded("SAGEWATCH_SWEEP_MAX_PAGES", d.max_pages, 100)?,
            page_size: bounded("SAGEWATCH_SWEEP_PAGE_SIZE", d.page_size, 100)?,
            max_jobs: bounded("SAGEWATCH_SWEEP_MAX_JOBS", d.max_jobs, 1000)?,
            accounts,
        })
    }

    /// The accounts a run sweeps: the configured ones, else the home account (none when
    /// the home account is unknown too).
    pub fn accounts(&self, home: Option<&str>) -> Vec<String> {
        if self.accounts.is_empty() {
            home.map(|h| vec![h.to_owned()]).unwrap_or_default()
        } else {
            self.accounts.clone()
        }
    }
}

// ---- The request ------------------------------------------------------------------------

/// One sweep invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The direct invoke's `lookback_minutes`; `None`: [`Settings::lookback`].
    pub lookback: Option<Duration>,
}

impl Request {
    /// `None`: not a sweep (an event, an SQS batch: the function's other inputs).
    /// `Some(Err)`: meant as a sweep but unreadable (a bad `lookback_minutes`, an unknown
    /// action) — invalid input, never a sweep with a guessed window.
    ///
    /// Accepted: an EventBridge schedule rule's event (`source` `aws.events`, `detail-type`
    /// `Scheduled Event`), and `{"action": "sweep"}` (or `{"sagewatch": "sweep"}`) with an
    /// optional `"lookback_minutes": 1..=10080` (direct invoke, EventBridge Scheduler's input).
    pub fn from_payload(payload: &Value) -> Option<Result<Request, String>> {
        let field = |k: &str| payload.get(k).and_then(Value::as_str);
        if field("source") == Some(SCHEDULE_SOURCE)
            && field("detail-type") == Some(SCHEDULE_DETAIL_TYPE)
        {
            return Some(Ok(Request { lookback: None }));
        }
        let command = ACTION_KEYS.iter().find_map(|k| payload.get(*k))?;
        if command.as_str() != Some(SWEEP_INPUT) {
            return Some(Err(format!(
                "unknown action {command}; the only one here is \"{SWEEP_INPUT}\""
            )));
        }
        let lookback = match payload.get("lookback_minutes") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_i64() {
                Some(m) if (1..=Settings::MAX_LOOKBACK_MINUTES).contains(&m) => {
                    Some(Duration::minutes(m))
                }
                _ => {
                    return Some(Err(format!(
                        "lookback_minutes must be a whole number of minutes in 1..={}, not {v}",
                        Settings::MAX_LOOKBACK_MINUTES
                    )))
                }
            },
        };
        Some(Ok(Request { lookback }))
    }

    /// The window this run lists, at `now`.
    pub fn window(&self, settings: &Settings, now: DateTime<Utc>) -> Window {
        let lookback = self.lookback.unwrap_or(settings.lookback);
        Window {
            after: now - lookback,
            // A look-back shorter than the settle time lists nothing (an empty window).
            before: (now - settings.settle).max(now - lookback),
        }
    }
}

/// `LastModifiedTimeAfter` / `LastModifiedTimeBefore` of a run's listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    pub after: DateTime<Utc>,
    pub before: DateTime<Utc>,
}

impl Window {
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.after < t && t < self.before
    }

    pub fn is_empty(&self) -> bool {
        self.before <= self.after
    }
}

// ---- Listing and describing -------------------------------------------------------------

/// One job of a List*Jobs page (its summary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub status: Status,
    pub last_modified: Option<DateTime<Utc>>,
}

impl Listed {
    /// Worth a claim check: an end state (Completed, Failed, Stopped — never Stopping),
    /// modified inside the window (the listing asks for it; this holds even when a
    /// service or an emulator ignores the filter).
    pub fn candidate(&self, window: &Window) -> bool {
        self.status.is_terminal_job_status()
            && self.last_modified.is_some_and(|t| window.contains(t))
    }
}

/// What Describe*Job says about a job, in the terms of its state-change event.
#[derive(Debug, Clone, PartialEq)]
pub struct JobView {
    pub job_type: JobType,
    pub name: String,
    pub arn: Option<String>,
    pub status: Status,
    pub failure_reason: Option<String>,
    /// Processing jobs only.
    pub exit_message: Option<String>,
    /// Training: `ResourceConfig` (with instance groups); processing:
    /// `ProcessingResources.ClusterConfig`; transform: `TransformResources`.
    pub resources: Resources,
    pub creation_time: Option<DateTime<Utc>>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub last_modified_time: Option<DateTime<Utc>>,
    /// Training jobs only.
    pub billable_seconds: Option<u64>,
    /// Training jobs only: `MaxRuntimeExceeded` on a Stopped job is a timeout to report.
    pub secondary_status: Option<Status>,
    /// Describe*Job carries no tags (ListTags does); empty unless the caller read them.
    pub tags: BTreeMap<String, String>,
}

/// The instances of a job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    pub instance_type: Option<String>,
    pub instance_count: Option<u64>,
    /// Heterogeneous training clusters: (group name, type, count).
    pub instance_groups: Vec<(Option<String>, Option<String>, Option<u64>)>,
}

impl Resources {
    fn config(&self) -> ResourceConfig {
        ResourceConfig {
            instance_type: self.instance_type.clone(),
            instance_count: self.instance_count,
            volume_size_in_gb: None,
            instance_groups: self
                .instance_groups
                .iter()
                .map(|(name, t, n)| InstanceGroup {
                    instance_group_name: name.clone(),
                    instance_type: t.clone(),
                    instance_count: *n,
                })
                .collect(),
        }
    }
}

impl JobView {
    /// The id the reconciled event carries (and its claim records): deterministic, so the
    /// claim table tells a sweep's claim from an event's.
    pub fn event_id(&self) -> String {
        format!(
            "sagewatch-sweep:{}:{}:{}",
            self.job_type.as_str(),
            self.name,
            self.status
        )
    }

    /// The state-change event SageMaker would have sent for this job in `account`/`region`:
    /// the same envelope and typed detail that the event parses into, `time` the job's
    /// LastModifiedTime (else its end time), `id` [`JobView::event_id`].
    pub fn to_event(&self, account: &str, region: Option<&str>) -> SageMakerEvent {
        let resources = self.resources.config();
        let detail = match self.job_type {
            JobType::Training => Detail::TrainingJob(Box::new(TrainingJob {
                training_job_name: Some(self.name.clone()),
                training_job_arn: self.arn.clone(),
                training_job_status: Some(self.status.clone()),
                failure_reason: self.failure_reason.clone(),
                resource_config: resources,
                creation_time: self.creation_time,
                training_start_time: self.start_time,
                training_end_time: self.end_time,
                last_modified_time: self.last_modified_time,
                billable_time_in_seconds: self.billable_seconds,
                secondary_status: self.secondary_status.clone(),
                tags: self.tags.clone(),
                ..TrainingJob::default()
            })),
            JobType::Processing => Detail::ProcessingJob(Box::new(ProcessingJob {
                processing_job_name: Some(self.name.clone()),
                processing_job_arn: self.arn.clone(),
                processing_job_status: Some(self.status.clone()),
                exit_message: self.exit_message.clone(),
                failure_reason: self.failure_reason.clone(),
                processing_resources: ProcessingResources {
                    cluster_config: resources,
                },
                creation_time: self.creation_time,
                processing_start_time: self.start_time,
                processing_end_time: self.end_time,
                last_modified_time: self.last_modified_time,
                tags: self.tags.clone(),
                ..ProcessingJob::default()
            })),
            JobType::Transform => Detail::TransformJob(Box::new(TransformJob {
                transform_job_name: Some(self.name.clone()),
                transform_job_arn: self.arn.clone(),
                transform_job_status: Some(self.status.clone()),
                failure_reason: self.failure_reason.clone(),
                transform_resources: resources,
                creation_time: self.creation_time,
                transform_start_time: self.start_time,
                transform_end_time: self.end_time,
                tags: self.tags.clone(),
                ..TransformJob::default()
            })),
        };
        SageMakerEvent {
            id: Some(self.event_id()),
            detail_type: detail_type(self.job_type).to_owned(),
            source: SAGEMAKER_SOURCE.to_owned(),
            account: Some(account.to_owned()),
            region: region.map(str::to_owned),
            time: self.last_modified_time.or(self.end_time),
            resources: self.arn.iter().cloned().collect(),
            detail,
        }
    }
}

// ---- Re-emission --------------------------------------------------------------------------

/// A lost job state change, to be put on the event bus again (PutEvents) so that every rule
/// that would have routed SageMaker's event routes this one — failure-enricher's report,
/// overfit-guard's guard-alarm clean-up — each deduplicated by its own claims as it would a
/// redelivery. Source [`REEMIT_SOURCE`] (an `aws.` source cannot be put); the detail is the
/// event's own shape, plus [`REEMIT_MARKER`] naming the job's account and the event id.
#[derive(Debug, Clone, PartialEq)]
pub struct Reemitted {
    pub source: &'static str,
    pub detail_type: &'static str,
    pub detail: Value,
    pub resources: Vec<String>,
    pub time: Option<DateTime<Utc>>,
}

impl JobView {
    /// The event to re-emit for this job of `account`.
    pub fn reemitted(&self, account: &str) -> Reemitted {
        let prefix = match self.job_type {
            JobType::Training => "TrainingJob",
            JobType::Processing => "ProcessingJob",
            JobType::Transform => "TransformJob",
        };
        let millis = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp_millis());
        let r = &self.resources;
        let groups: Vec<Value> = r
            .instance_groups
            .iter()
            .map(|(name, t, n)| {
                serde_json::json!({"InstanceGroupName": name, "InstanceType": t, "InstanceCount": n})
            })
            .collect();
        let resources = serde_json::json!({
            "InstanceType": r.instance_type,
            "InstanceCount": r.instance_count,
            "InstanceGroups": groups,
        });
        let (start, end) = match self.job_type {
            JobType::Training => ("TrainingStartTime", "TrainingEndTime"),
            JobType::Processing => ("ProcessingStartTime", "ProcessingEndTime"),
            JobType::Transform => ("TransformStartTime", "TransformEndTime"),
        };
        let mut detail = serde_json::Map::new();
        let mut put = |k: &str, v: Value| {
            if !v.is_null() {
                detail.insert(k.to_owned(), v);
            }
        };
        put(&format!("{prefix}Name"), Value::from(self.name.clone()));
        put(&format!("{prefix}Arn"), serde_json::json!(self.arn));
        put(
            &format!("{prefix}Status"),
            Value::from(self.status.as_str()),
        );
        put("FailureReason", serde_json::json!(self.failure_reason));
        put("ExitMessage", serde_json::json!(self.exit_message));
        put(
            "CreationTime",
            serde_json::json!(millis(self.creation_time)),
        );
        put(start, serde_json::json!(millis(self.start_time)));
        put(end, serde_json::json!(millis(self.end_time)));
        put(
            "LastModifiedTime",
            serde_json::json!(millis(self.last_modified_time)),
        );
        if let Some(secondary) = &self.secondary_status {
            put("SecondaryStatus", Value::from(secondary.as_str()));
        }
        put(
            "BillableTimeInSeconds",
            serde_json::json!(self.billable_seconds),
        );
        match self.job_type {
            JobType::Training => put("ResourceConfig", resources),
            JobType::Processing => put(
                "ProcessingResources",
                serde_json::json!({"ClusterConfig": resources}),
            ),
            JobType::Transform => put("TransformResources", resources),
        }
        if !self.tags.is_empty() {
            put("Tags", serde_json::json!(self.tags));
        }
        put(
            REEMIT_MARKER,
            serde_json::json!({"account": account, "event_id": self.event_id()}),
        );
        Reemitted {
            source: REEMIT_SOURCE,
            detail_type: detail_type(self.job_type),
            detail: Value::Object(detail),
            resources: self.arn.iter().cloned().collect(),
            time: self.last_modified_time.or(self.end_time),
        }
    }
}

// ---- Metrics ----------------------------------------------------------------------------

/// `ReconciledEvents` by [Function, Kind]: one job whose end SageMaker's event did not
/// deliver in time, handled by the sweep. Properties: the job's name and status.
pub fn reconciled(
    namespace: &str,
    at: DateTime<Utc>,
    function: &str,
    view: &JobView,
) -> MetricRecord {
    let mut m = reconciled_record(namespace, at, function, kind(view.job_type));
    m.property("job_name", &view.name)
        .property("status", view.status.as_str());
    m
}

/// `ReconciledEvents` by [Function, Kind] for any resource (`Kind`: `TrainingJob`,
/// `Endpoint`, …): the one metric every function's reconciliation writes.
pub fn reconciled_record(
    namespace: &str,
    at: DateTime<Utc>,
    function: &str,
    kind: &str,
) -> MetricRecord {
    let mut m = MetricRecord::new(namespace, at);
    m.dimension("Function", function)
        .dimension("Kind", kind)
        .dimension_set(&["Function", "Kind"])
        .metric("ReconciledEvents", 1.0, Unit::Count)
        .property("reconciled", true);
    m
}

/// Which bound ended a run early (what is left is listed again by the next run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// [`Settings::max_pages`] of one listing.
    Pages,
    /// [`Settings::max_jobs`] of the run.
    Jobs,
    /// The invocation's deadline came near.
    Time,
}

impl Bound {
    pub fn as_str(self) -> &'static str {
        match self {
            Bound::Pages => "pages",
            Bound::Jobs => "jobs",
            Bound::Time => "time",
        }
    }
}

/// `SweepBoundReached` by [Function], property `bound`: the run stopped at a bound.
pub fn bound_reached(
    namespace: &str,
    at: DateTime<Utc>,
    function: &str,
    bound: Bound,
) -> MetricRecord {
    let mut m = MetricRecord::new(namespace, at);
    m.dimension("Function", function)
        .dimension_set(&["Function"])
        .metric("SweepBoundReached", 1.0, Unit::Count)
        .property("bound", bound.as_str());
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_reemitted_event_parses_back_into_the_same_job_in_its_own_account() {
        let view = JobView {
            job_type: JobType::Training,
            name: "train-7".into(),
            arn: Some("arn:aws:sagemaker:us-east-1:222233334444:training-job/train-7".into()),
            status: Status::new("Failed"),
            failure_reason: Some("AlgorithmError: out of memory".into()),
            exit_message: None,
            resources: Resources {
                instance_type: Some("ml.g5.2xlarge".into()),
                instance_count: Some(2),
                instance_groups: Vec::new(),
            },
            creation_time: Some(at("2026-12-01T10:00:00Z")),
            start_time: Some(at("2026-12-01T10:05:00Z")),
            end_time: Some(at("2026-12-01T11:00:00Z")),
            last_modified_time: Some(at("2026-12-01T11:00:01Z")),
            billable_seconds: Some(3300),
            secondary_status: Some(Status::new("Failed")),
            tags: [("team".to_owned(), "nlp".to_owned())].into(),
        };
        let r = view.reemitted("222233334444");
        assert_eq!(r.source, "sagewatch.sweep");
        assert_eq!(r.detail_type, "SageMaker Training Job State Change");
        // As EventBridge delivers it: the sender's (home) account on the envelope.
        let delivered = json!({
            "version": "0", "id": "x", "detail-type": r.detail_type, "source": r.source,
            "account": "111122223333", "region": "us-east-1", "time": "2026-12-01T11:00:01Z",
            "resources": r.resources, "detail": r.detail,
        });
        let e = SageMakerEvent::from_value(delivered.clone()).unwrap();
        assert!(e.is_reconciled());
        assert_eq!(
            e.account.as_deref(),
            Some("222233334444"),
            "the job's account"
        );
        let Detail::TrainingJob(t) = e.detail else {
            panic!("not a training job")
        };
        assert_eq!(t.training_job_name.as_deref(), Some("train-7"));
        assert_eq!(
            t.training_job_status.as_ref().map(|s| s.as_str()),
            Some("Failed")
        );
        assert_eq!(
            t.failure_reason.as_deref(),
            Some("AlgorithmError: out of memory")
        );
        assert_eq!(t.resource_config.instance_count, Some(2));
        assert_eq!(t.training_end_time, view.end_time);
        assert_eq!(t.billable_time_in_seconds, Some(3300));
        assert_eq!(
            t.secondary_status.as_ref().map(|s| s.as_str()),
            Some("Failed"),
            "a time-limit stop stays recognisable"
        );
        assert_eq!(t.tags.get("team").map(String::as_str), Some("nlp"));
        // Only the sweep's source may name another account; SageMaker's envelope is kept.
        let mut spoofed = delivered;
        spoofed["source"] = json!("aws.sagemaker");
        let e = SageMakerEvent::from_value(spoofed.clone()).unwrap();
        assert_eq!(e.account.as_deref(), Some("111122223333"));
        spoofed["source"] = json!("sagewatch.sweep");
        spoofed["detail"]["SagewatchReconciled"]["account"] = json!("not-an-account");
        let e = SageMakerEvent::from_value(spoofed).unwrap();
        assert_eq!(e.account.as_deref(), Some("111122223333"));
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_sweep_is_a_schedule_or_the_sweep_command_and_nothing_else() {
        let scheduled = json!({"source": "aws.events", "detail-type": "Scheduled Event",
            "detail": {}, "resources": ["arn:aws:events:us-east-1:1:rule/r"]});
        assert_eq!(
            Request::from_payload(&scheduled),
            Some(Ok(Request { lookback: None }))
        );
        let direct = json!({"sagewatch": "sweep", "lookback_minutes": 60});
        assert_eq!(
            Request::from_payload(&direct),
            Some(Ok(Request {
                lookback: Some(Duration::minutes(60))
            }))
        );
        for direct in [json!({"sagewatch": "sweep"}), json!({"action": "sweep"})] {
            assert_eq!(
                Request::from_payload(&direct),
                Some(Ok(Request { lookback: None })),
                "{direct}"
            );
        }
        for bad in [
            json!({"sagewatch": "sweep", "lookback_minutes": 0}),
            json!({"sagewatch": "sweep", "lookback_minutes": 10081}),
            json!({"sagewatch": "sweep", "lookback_minutes": "60"}),
            json!({"sagewatch": "sweep", "lookback_minutes": 1.5}),
            json!({"sagewatch": "swept"}),
            json!({"sagewatch": 1}),
            json!({"action": "reconcile"}),
        ] {
            assert!(matches!(Request::from_payload(&bad), Some(Err(_))), "{bad}");
        }
        // Events and batches are the functions' other inputs.
        for other in [
            json!({"source": "aws.sagemaker", "detail-type": "SageMaker Training Job State Change"}),
            json!({"source": "aws.events", "detail-type": "Something Else"}),
            json!({"Records": []}),
            json!("sweep"),
        ] {
            assert_eq!(Request::from_payload(&other), None, "{other}");
        }
    }

    #[test]
    fn the_window_ends_a_settle_time_before_now() {
        let s = Settings::default();
        let now = at("2024-03-01T12:00:00Z");
        let w = Request { lookback: None }.window(&s, now);
        assert_eq!(w.after, at("2024-03-01T09:00:00Z"));
        assert_eq!(w.before, at("2024-03-01T11:30:00Z"));
        let short = Request {
            lookback: Some(Duration::minutes(10)),
        }
        .window(&s, now);
        assert!(short.is_empty(), "{short:?}");
        assert!(!short.contains(at("2024-03-01T11:55:00Z")));
    }

    #[test]
    fn only_end_states_inside_the_window_are_candidates() {
        let w = Window {
            after: at("2024-03-01T09:00:00Z"),
            before: at("2024-03-01T11:30:00Z"),
        };
        let listed = |status: &str, t: Option<&str>| Listed {
            name: "j".into(),
            status: Status::new(status),
            last_modified: t.map(at),
        };
        for s in ["Completed", "Failed", "Stopped", "COMPLETED"] {
            assert!(listed(s, Some("2024-03-01T10:00:00Z")).candidate(&w), "{s}");
        }
        for s in ["InProgress", "Stopping", ""] {
            assert!(
                !listed(s, Some("2024-03-01T10:00:00Z")).candidate(&w),
                "{s}"
            );
        }
        assert!(!listed("Completed", Some("2024-03-01T08:59:59Z")).candidate(&w));
        assert!(!listed("Completed", Some("2024-03-01T11:31:00Z")).candidate(&w));
        assert!(!listed("Completed", None).candidate(&w));
    }

    fn view(job_type: JobType, status: &str) -> JobView {
        JobView {
            job_type,
            name: "sweep-job".into(),
            arn: Some(format!(
                "arn:aws:sagemaker:eu-west-1:111122223333:{}-job/sweep-job",
                job_type.as_str()
            )),
            status: Status::new(status),
            failure_reason: Some("AlgorithmError: boom".into()),
            exit_message: None,
            resources: Resources {
                instance_type: Some("ml.g5.2xlarge".into()),
                instance_count: Some(2),
                instance_groups: Vec::new(),
            },
            creation_time: Some(at("2024-03-01T09:00:00Z")),
            start_time: Some(at("2024-03-01T09:05:00Z")),
            end_time: Some(at("2024-03-01T10:00:00Z")),
            last_modified_time: Some(at("2024-03-01T10:01:00Z")),
            billable_seconds: Some(3300),
            secondary_status: None,
            tags: BTreeMap::new(),
        }
    }

    /// The view's event reads, through the shared job summary, as the real event would.
    #[test]
    fn a_described_job_becomes_the_event_it_would_have_sent() {
        for job_type in JOB_TYPES {
            let v = view(job_type, "Failed");
            let ev = v.to_event("111122223333", Some("eu-west-1"));
            assert_eq!(ev.detail_type, detail_type(job_type));
            assert_eq!(ev.source, "aws.sagemaker");
            assert_eq!(ev.account.as_deref(), Some("111122223333"));
            assert_eq!(ev.region.as_deref(), Some("eu-west-1"));
            assert_eq!(ev.time, v.last_modified_time);
            assert_eq!(ev.id.as_deref(), Some(v.event_id().as_str()));
            let job = ev.detail.job().expect("a job detail");
            assert_eq!(job.job_type, job_type);
            assert_eq!(job.name, Some("sweep-job"));
            assert_eq!(job.status.map(Status::as_str), Some("Failed"));
            assert_eq!(job.failure_reason, Some("AlgorithmError: boom"));
            assert_eq!(job.instance_type, Some("ml.g5.2xlarge"));
            assert_eq!(job.instance_count, Some(2));
            assert_eq!(job.start_time, v.start_time);
            assert_eq!(job.end_time, v.end_time);
            let billable = (job_type == JobType::Training).then_some(3300);
            assert_eq!(job.billable_seconds, billable);
        }
    }

    /// The same job as the event JSON that SageMaker sends parses to the same summary.
    #[test]
    fn the_view_and_the_parsed_event_agree() {
        let parsed = SageMakerEvent::from_value(json!({
            "id": "e", "detail-type": "SageMaker Training Job State Change",
            "source": "aws.sagemaker", "account": "111122223333", "region": "eu-west-1",
            "time": "2024-03-01T10:01:00Z",
            "detail": {
                "TrainingJobName": "sweep-job",
                "TrainingJobArn": "arn:aws:sagemaker:eu-west-1:111122223333:training-job/sweep-job",
                "TrainingJobStatus": "Failed", "FailureReason": "AlgorithmError: boom",
                "ResourceConfig": {"InstanceType": "ml.g5.2xlarge", "InstanceCount": 2},
                "CreationTime": 1709283600000_i64, "TrainingStartTime": 1709283900000_i64,
                "TrainingEndTime": 1709287200000_i64, "BillableTimeInSeconds": 3300
            }
        }))
        .unwrap();
        let built = view(JobType::Training, "Failed").to_event("111122223333", Some("eu-west-1"));
        let (a, b) = (parsed.detail.job().unwrap(), built.detail.job().unwrap());
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }

    #[test]
    fn heterogeneous_clusters_keep_their_groups() {
        let mut v = view(JobType::Training, "Completed");
        v.resources = Resources {
            instance_type: None,
            instance_count: None,
            instance_groups: vec![
                (Some("a".into()), Some("ml.c5.xlarge".into()), Some(1)),
                (Some("b".into()), Some("ml.g5.xlarge".into()), Some(2)),
            ],
        };
        let ev = v.to_event("1", None);
        let job = ev.detail.job().unwrap();
        assert_eq!(job.instance_count, Some(3));
        assert_eq!(job.instance_type, Some("ml.c5.xlarge"));
    }

    #[test]
    fn metrics_are_valid_emf_with_their_dimensions() {
        let now = at("2024-03-01T12:00:00Z");
        let lines = reconciled(
            "SageWatch",
            now,
            "event-augmenter",
            &view(JobType::Processing, "Stopped"),
        )
        .render_logged();
        assert_eq!(lines.len(), 1);
        crate::emf::spec::validate(&lines[0]).unwrap();
        let v: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(v["Function"], "event-augmenter");
        assert_eq!(v["Kind"], "ProcessingJob");
        assert_eq!(v["ReconciledEvents"], 1.0);
        assert_eq!(v["reconciled"], true);
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Function", "Kind"]])
        );
        let lines = bound_reached("SageWatch", now, "event-augmenter", Bound::Jobs).render_logged();
        crate::emf::spec::validate(&lines[0]).unwrap();
        let v: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(v["SweepBoundReached"], 1.0);
        assert_eq!(v["bound"], "jobs");
    }

    #[test]
    fn accounts_default_to_home() {
        let s = Settings::default();
        assert_eq!(s.accounts(Some("111122223333")), vec!["111122223333"]);
        assert!(s.accounts(None).is_empty());
        let s = Settings {
            accounts: vec!["444455556666".into()],
            ..Settings::default()
        };
        assert_eq!(s.accounts(Some("111122223333")), vec!["444455556666"]);
    }

    // The only test that sets SAGEWATCH_SWEEP_* (tests in one binary share the environment).
    #[test]
    fn settings_are_read_and_checked() {
        let vars = [
            "SAGEWATCH_SWEEP_LOOKBACK_MINUTES",
            "SAGEWATCH_SWEEP_SETTLE_MINUTES",
            "SAGEWATCH_SWEEP_MAX_PAGES",
            "SAGEWATCH_SWEEP_PAGE_SIZE",
            "SAGEWATCH_SWEEP_MAX_JOBS",
            "SAGEWATCH_SWEEP_ACCOUNTS",
        ];
        let clear = || vars.iter().for_each(|v| std::env::remove_var(v));
        clear();
        assert_eq!(Settings::from_env(&Env), Ok(Settings::default()));
        for (var, value) in [
            ("SAGEWATCH_SWEEP_LOOKBACK_MINUTES", "10081"),
            ("SAGEWATCH_SWEEP_LOOKBACK_MINUTES", "0"),
            ("SAGEWATCH_SWEEP_SETTLE_MINUTES", "180"),
            ("SAGEWATCH_SWEEP_PAGE_SIZE", "101"),
            ("SAGEWATCH_SWEEP_MAX_PAGES", "0"),
            ("SAGEWATCH_SWEEP_ACCOUNTS", "12345"),
        ] {
            clear();
            std::env::set_var(var, value);
            assert!(Settings::from_env(&Env).is_err(), "{var}={value}");
        }
        clear();
        std::env::set_var("SAGEWATCH_SWEEP_LOOKBACK_MINUTES", "60");
        std::env::set_var("SAGEWATCH_SWEEP_SETTLE_MINUTES", "0");
        std::env::set_var("SAGEWATCH_SWEEP_MAX_JOBS", "7");
        std::env::set_var("SAGEWATCH_SWEEP_ACCOUNTS", "111122223333, 444455556666");
        let s = Settings::from_env(&Env).unwrap();
        assert_eq!(s.lookback, Duration::minutes(60));
        assert_eq!(s.settle, Duration::zero());
        assert_eq!(s.max_jobs, 7);
        assert_eq!(s.accounts, vec!["111122223333", "444455556666"]);
        clear();
    }
}
