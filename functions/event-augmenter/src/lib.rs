//! event-augmenter: SageMaker events → fleet metrics (EMF) and report lines, each counted once.
//!
//! Input: an EventBridge event (direct invoke) or an SQS batch of them (EventBridge → SQS with a
//! delivery delay → Lambda with `ReportBatchItemFailures`).
//!
//! Per terminal job event (Completed, Failed, Stopped; never `Stopping`):
//! host metrics (GetMetricData, exact `Host` values; ListMetrics first for transform jobs) →
//! conditional PutItem on `account#job_type#job_name#status` → EMF + `job_summary` line.
//! Metrics are read *before* the put: a retry after a failed read must not find the key taken
//! and swallow the job as a duplicate. After the put only stdout writes remain.
//! Tuning, endpoint, pipeline and CloudTrail events: conditional PutItem → EMF (and an
//! `api_audit` line for destructive or security-relevant calls).

pub mod adapter;
pub mod audit;
pub mod ports;
pub mod records;
pub mod utilization;
pub mod window;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Duration, Utc};
use ports::{Claimed, DedupeClaim, DedupeStore, HostDiscovery, HostMetrics, Sink};
use records::{emf_timestamp, JobReport};
use sagewatch::emf::{spec::valid_namespace, Unit};
use sagewatch::error::{AwsError, ConfigError, Retry};
use sagewatch::events::{
    CloudTrailApiCall, Detail, Endpoint, HyperParameterTuningJob, JobSummary, JobType,
    PipelineExecution, PipelineStep, SageMakerEvent,
};
use sagewatch::instance_types;
use sagewatch::lambda_runtime::{Error, LambdaEvent};
use sagewatch::redact::{redact, redact_json};
use sagewatch::report::{self, Kind};
use sagewatch::runtime::Env;
use sagewatch::tracing::{error, info, warn};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use utilization::{algo_hosts, metrics_for, Normalization, Plan, Utilization, DISCOVERY_METRIC};

pub use records::FUNCTION;

/// DynamoDB allows 2048 bytes of partition key; longer keys are shortened with a hash.
const MAX_KEY_BYTES: usize = 1024;

/// "After you create a metric, allow up to 15 minutes for the metric to appear" (ListMetrics
/// API reference): a transform job that ended more recently may just not be listed yet.
fn listing_lag() -> Duration {
    Duration::minutes(15)
}

/// `RecentlyActive=PT3H` lists metrics with data in the last 3 hours; a 15-minute margin
/// covers the time between planning and the call and a host's last datapoint being a little
/// before the job's end time.
fn recently_active_limit() -> Duration {
    Duration::hours(3) - Duration::minutes(15)
}

#[derive(Debug, Clone)]
pub struct Config {
    pub metrics_namespace: String,
    /// The function's own account; metrics of other accounts are read through CloudWatch
    /// cross-account observability (`MetricDataQuery.AccountId`).
    pub home_account: Option<String>,
    pub dedupe_ttl_days: u32,
    /// Underutilized when the main resource's maximum stays below this percentage.
    pub underutilized_percent: f64,
    /// Tags copied into reports (values redacted); none when empty.
    pub report_tag_keys: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            metrics_namespace: "SageWatch".into(),
            home_account: None,
            dedupe_ttl_days: 30,
            underutilized_percent: 20.0,
            report_tag_keys: Vec::new(),
        }
    }
}

impl Config {
    /// SAGEWATCH_METRICS_NAMESPACE, SAGEWATCH_HOME_ACCOUNT, SAGEWATCH_DEDUPE_TTL_DAYS,
    /// SAGEWATCH_UNDERUTILIZED_PERCENT, SAGEWATCH_REPORT_TAG_KEYS (the table name is the adapter's).
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let d = Config::default();
        let namespace = env.or("SAGEWATCH_METRICS_NAMESPACE", &d.metrics_namespace);
        let invalid = |name: &str, value: String, reason: &str| ConfigError::Invalid {
            name: name.to_owned(),
            value,
            reason: reason.to_owned(),
        };
        if !valid_namespace(&namespace) {
            return Err(invalid(
                "SAGEWATCH_METRICS_NAMESPACE",
                namespace,
                "not a valid CloudWatch namespace",
            ));
        }
        let ttl: u32 = env.parse_or("SAGEWATCH_DEDUPE_TTL_DAYS", d.dedupe_ttl_days)?;
        if ttl == 0 {
            return Err(invalid(
                "SAGEWATCH_DEDUPE_TTL_DAYS",
                "0".into(),
                "must be ≥ 1",
            ));
        }
        let pct: f64 = env.parse_or("SAGEWATCH_UNDERUTILIZED_PERCENT", d.underutilized_percent)?;
        if !(0.0..=100.0).contains(&pct) {
            return Err(invalid(
                "SAGEWATCH_UNDERUTILIZED_PERCENT",
                pct.to_string(),
                "must be within 0..=100",
            ));
        }
        Ok(Config {
            metrics_namespace: namespace,
            home_account: env.optional("SAGEWATCH_HOME_ACCOUNT"),
            dedupe_ttl_days: ttl,
            underutilized_percent: pct,
            report_tag_keys: env.list("SAGEWATCH_REPORT_TAG_KEYS"),
        })
    }
}

pub struct Augmenter<D, M, S> {
    pub dedupe: D,
    pub metrics: M,
    pub sink: S,
    pub config: Config,
}

/// What happened to one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// Counted now: EMF (and report) lines written.
    Counted,
    /// Counted before: nothing written but `DuplicateEvents`.
    Duplicate,
    /// A job state that is not an end state (InProgress, Stopping): nothing to count.
    NotTerminal,
    /// A detail-type without metrics (model packages, deployments, unknown types).
    Ignored,
    /// Unreadable: `InvalidEvents` counted, nothing else done.
    Invalid,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub record: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    pub result: Disposition,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub detail: String,
}

/// Response to a direct invoke: one outcome per event (handy with `cargo lambda invoke`).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub outcomes: Vec<Outcome>,
}

/// An SQS batch gets exactly the shape Lambda reads; a direct invoke gets the summary.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Response {
    Batch(SqsBatchResponse),
    Direct(Summary),
}

/// A retryable failure of a direct invoke: Lambda retries the event, then its on-failure
/// destination keeps it. Every side effect is idempotent (the dedupe key), so that is safe.
#[derive(Debug, thiserror::Error)]
#[error("retryable failure: {0}")]
pub struct RetryableFailure(pub AwsError);

/// An SQS failure Lambda cannot attribute to a message (no messageId): the whole batch retries.
#[derive(Debug, thiserror::Error)]
#[error("{0} failed SQS record(s) have no messageId; the whole batch is retried")]
pub struct UnattributableFailure(usize);

enum Failure {
    /// Never becomes valid by retrying.
    Invalid(String),
    Retry(AwsError),
}

struct Processed {
    result: Disposition,
    key: Option<String>,
    detail: String,
}

impl Processed {
    fn new(result: Disposition, detail: impl Into<String>) -> Self {
        Processed {
            result,
            key: None,
            detail: detail.into(),
        }
    }
}

/// Instance type label, normalisation and count of a job, from its detail.
struct Shape {
    label: String,
    norm: Normalization,
}

fn shape_of(detail: &Detail, job: &JobSummary<'_>) -> Shape {
    // Heterogeneous training clusters: hosts do not say which group they belong to.
    if let Detail::TrainingJob(t) = detail {
        let mut types: Vec<&str> = t
            .resource_config
            .instance_groups
            .iter()
            .filter_map(|g| g.instance_type.as_deref())
            .collect();
        types.sort_unstable();
        types.dedup();
        if types.len() > 1 {
            return Shape {
                label: "mixed".into(),
                norm: Normalization {
                    spec: None,
                    note: Some(format!(
                        "heterogeneous cluster ({}): CPU/GPU values left raw in hosts[]",
                        types.join(", ")
                    )),
                },
            };
        }
    }
    match job.instance_type.map(str::trim).filter(|t| !t.is_empty()) {
        None => Shape {
            label: "unknown".into(),
            norm: Normalization {
                spec: None,
                note: Some("no instance type in the event: CPU/GPU values left raw".into()),
            },
        },
        Some(t) => {
            let spec = instance_types::lookup(t);
            Shape {
                label: t.to_owned(),
                norm: Normalization {
                    spec,
                    note: spec.is_none().then(|| {
                        format!("instance type {t} is not in the vCPU/GPU table: CPU/GPU values left raw in hosts[]")
                    }),
                },
            }
        }
    }
}

/// `a#b#c`, shortened with a stable hash past [`MAX_KEY_BYTES`].
pub fn dedupe_key(parts: &[&str]) -> String {
    let key = parts.join("#");
    if key.len() <= MAX_KEY_BYTES {
        return key;
    }
    // FNV-1a: stable across builds and platforms (std's hasher is not).
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut cut = MAX_KEY_BYTES - 17;
    while !key.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}#{hash:016x}", &key[..cut])
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

fn redacted(s: Option<&str>) -> Option<String> {
    s.map(|s| redact(s).into_owned())
}

impl<D: DedupeStore, M: HostMetrics, S: Sink> Augmenter<D, M, S> {
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Response, Error> {
        self.handle_at(event, Utc::now()).await
    }

    /// [`Self::handle`] with a fixed "now" (tests; the data-age rules depend on it).
    pub async fn handle_at(
        &self,
        event: LambdaEvent<Value>,
        now: DateTime<Utc>,
    ) -> Result<Response, Error> {
        let home = self.config.home_account.clone().or_else(|| {
            sagewatch::aws::target::account_of_arn(&event.context.invoked_function_arn)
        });
        let payload = event.payload;
        if let Some(records) = payload.get("Records") {
            // Only SQS batches; an SNS or S3 notification sent here is a wiring mistake.
            let is_sqs = records.as_array().is_some_and(|r| {
                r.iter()
                    .all(|m| m.get("eventSource").and_then(Value::as_str) == Some("aws:sqs"))
            });
            let batch = if is_sqs {
                serde_json::from_value::<SqsEvent>(payload).map_err(|e| e.to_string())
            } else {
                Err("`Records` that are not SQS messages (eventSource aws:sqs)".to_owned())
            };
            return match batch {
                Ok(batch) => self.batch(batch, home.as_deref(), now).await,
                Err(e) => {
                    let outcome = self.invalid(0, None, format!("not an SQS batch: {e}"), now);
                    Ok(Response::Direct(Summary {
                        outcomes: vec![outcome],
                    }))
                }
            };
        }
        let outcome = match SageMakerEvent::from_value(payload) {
            Err(e) => self.invalid(0, None, e.to_string(), now),
            // Boxed: keeps the handler's future shallow enough for rustc's layout recursion limit.
            Ok(ev) => match Box::pin(self.process(&ev, home.as_deref(), now)).await {
                Ok(p) => outcome(0, None, p),
                Err(Failure::Invalid(reason)) => self.invalid(0, ev.id.clone(), reason, now),
                Err(Failure::Retry(e)) => {
                    warn!(error = %e, event_id = ev.id.as_deref().unwrap_or("-"), "retryable failure");
                    return Err(Box::new(RetryableFailure(e)));
                }
            },
        };
        Ok(Response::Direct(Summary {
            outcomes: vec![outcome],
        }))
    }

    /// Each message on its own: a malformed one and a retryable failure both go to
    /// `batchItemFailures`, the others are done. A malformed message comes back until the
    /// queue's maxReceiveCount moves it to the DLQ, where it stays visible (never dropped).
    async fn batch(
        &self,
        batch: SqsEvent,
        home: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Response, Error> {
        let mut response = SqsBatchResponse::default();
        let mut unattributable = 0;
        for (index, message) in batch.records.into_iter().enumerate() {
            let id = message.message_id.clone().filter(|m| !m.is_empty());
            let parsed = match message.body.as_deref() {
                None => Err(Failure::Invalid("SQS message has no body".into())),
                Some(body) => SageMakerEvent::from_slice(body.as_bytes())
                    .map_err(|e| Failure::Invalid(e.to_string())),
            };
            let result = match parsed {
                Ok(ev) => Box::pin(self.process(&ev, home, now)).await,
                Err(f) => Err(f),
            };
            let failed = match result {
                Ok(p) => {
                    info!(record = index, message_id = id.as_deref().unwrap_or("-"), result = ?p.result, detail = %p.detail, "message done");
                    false
                }
                Err(Failure::Invalid(reason)) => {
                    self.invalid(index, id.clone(), reason, now);
                    true
                }
                Err(Failure::Retry(e)) => {
                    warn!(record = index, message_id = id.as_deref().unwrap_or("-"), error = %e, "retryable failure; message returned to the queue");
                    true
                }
            };
            if failed {
                match id {
                    Some(id) => response.add_failure(id),
                    None => unattributable += 1,
                }
            }
        }
        if unattributable > 0 {
            return Err(Box::new(UnattributableFailure(unattributable)));
        }
        Ok(Response::Batch(response))
    }

    /// Unreadable input: logged and counted, no AWS call.
    fn invalid(
        &self,
        record: usize,
        id: Option<String>,
        reason: String,
        now: DateTime<Utc>,
    ) -> Outcome {
        // serde messages quote the offending value, which may be a secret.
        let reason = redact(&reason).into_owned();
        error!(record, id = id.as_deref().unwrap_or("-"), reason = %reason, "invalid event; nothing done");
        self.sink.write(records::function_counter(
            &self.config.metrics_namespace,
            now,
            "InvalidEvents",
            &[("reason", Value::from(reason.as_str()))],
        ));
        Outcome {
            record,
            message_id: id,
            result: Disposition::Invalid,
            key: None,
            detail: reason,
        }
    }

    async fn process(
        &self,
        event: &SageMakerEvent,
        home: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Processed, Failure> {
        match &event.detail {
            Detail::TrainingJob(_) | Detail::ProcessingJob(_) | Detail::TransformJob(_) => {
                self.job(event, home, now).await
            }
            Detail::HyperParameterTuningJob(t) => self.tuning(event, t, now).await,
            Detail::Endpoint(e) => self.endpoint(event, e, now).await,
            Detail::PipelineExecution(p) => self.pipeline_execution(event, p, now).await,
            Detail::PipelineStep(s) => self.pipeline_step(event, s, now).await,
            Detail::ApiCall(c) => self.api_call(event, c, now).await,
            Detail::EndpointDeployment(_) | Detail::ModelPackage(_) => Ok(Processed::new(
                Disposition::Ignored,
                format!("{}: no metric for this detail-type", event.detail_type),
            )),
            Detail::Other(_) => Ok(Processed::new(
                Disposition::Ignored,
                format!("{}: detail-type not modelled", event.detail_type),
            )),
        }
    }

    /// The conditional put, then the lines. A duplicate writes only `DuplicateEvents`.
    async fn count_once(
        &self,
        key: String,
        event: &SageMakerEvent,
        lines: Vec<String>,
        now: DateTime<Utc>,
        detail: String,
    ) -> Result<Processed, Failure> {
        match self.claim(&key, event, now).await? {
            Claimed::First => {
                self.sink.write(lines);
                info!(key = %key, "counted");
                Ok(Processed {
                    result: Disposition::Counted,
                    key: Some(key),
                    detail,
                })
            }
            Claimed::Duplicate => {
                info!(key = %key, "duplicate delivery; nothing emitted");
                self.sink.write(records::function_counter(
                    &self.config.metrics_namespace,
                    now,
                    "DuplicateEvents",
                    &[("dedupe_key", Value::from(key.as_str()))],
                ));
                Ok(Processed {
                    result: Disposition::Duplicate,
                    key: Some(key),
                    detail: "already counted".into(),
                })
            }
        }
    }

    /// The conditional put alone. Every error is retryable here, even "table not found":
    /// skipping would lose the count silently and guessing "new" would double it.
    async fn claim(
        &self,
        key: &str,
        event: &SageMakerEvent,
        now: DateTime<Utc>,
    ) -> Result<Claimed, Failure> {
        let claim = DedupeClaim {
            key: key.to_owned(),
            expires_at: (now + self.dedupe_ttl()).timestamp(),
            event_id: event.id.clone(),
        };
        self.dedupe.claim(&claim).await.map_err(Failure::Retry)
    }

    fn dedupe_ttl(&self) -> Duration {
        Duration::days(i64::from(self.config.dedupe_ttl_days))
    }

    async fn job(
        &self,
        event: &SageMakerEvent,
        home: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Processed, Failure> {
        let Some(job) = event.detail.job() else {
            return Err(Failure::Invalid("not a job detail".into()));
        };
        let Some(status) = job.status.filter(|s| !s.as_str().is_empty()) else {
            return Err(Failure::Invalid(format!(
                "{} without a job status",
                event.detail_type
            )));
        };
        if !status.is_terminal_job_status() {
            return Ok(Processed::new(
                Disposition::NotTerminal,
                format!("status {status} is not an end state"),
            ));
        }
        let Some(name) = non_empty(job.name) else {
            return Err(Failure::Invalid(format!(
                "{} without a job name",
                event.detail_type
            )));
        };
        let account = event.account.as_deref().unwrap_or("unknown");
        let key = dedupe_key(&[account, job.job_type.as_str(), name, status.as_str()]);
        let shape = shape_of(&event.detail, &job);
        let utilization = self
            .utilization(event, &job, name, &shape, home, now)
            .await?;

        let duration = match (job.start_time, job.end_time) {
            (Some(s), Some(e)) if e >= s => Some((e - s).num_seconds()),
            (None, _) => Some(0),
            _ => None,
        };
        let (billable, source) = match (job.billable_seconds, duration) {
            (Some(b), _) => (
                Some(i64::try_from(b).unwrap_or(i64::MAX)),
                Some("BillableTimeInSeconds"),
            ),
            (None, Some(d)) => (Some(d), Some("duration")),
            (None, None) => (None, None),
        };
        let instance_seconds = match (billable, job.instance_count) {
            (Some(b), Some(n)) => Some(b.saturating_mul(i64::try_from(n).unwrap_or(i64::MAX))),
            _ => None,
        };
        let underutilized =
            utilization.underutilized(&shape.norm, self.config.underutilized_percent);
        let report = JobReport {
            job_type: job.job_type,
            job_name: name.to_owned(),
            job_arn: job.arn.map(str::to_owned),
            account: event.account.clone(),
            region: event.region.clone(),
            status: status.as_str().to_owned(),
            failure_reason: redacted(non_empty(job.failure_reason)),
            instance_type: shape.label.clone(),
            instance_count: job.instance_count,
            duration_seconds: duration,
            billable_seconds: billable,
            billable_seconds_source: source,
            instance_seconds,
            utilization: JobReport::utilization_fields(&utilization.fleet),
            underutilized,
            missing: utilization.missing.clone(),
            hosts: utilization.hosts.clone(),
            tags: self.selected_tags(job.tags),
            start_time: job.start_time,
            end_time: job.end_time,
            normalization_note: shape.norm.note.clone(),
            utilization_note: utilization.note.clone(),
            event_id: event.id.clone(),
        };
        let lines = report.lines(
            &self.config.metrics_namespace,
            emf_timestamp(event.time.or(job.end_time), now),
        );
        let detail = format!(
            "{} {name} {status}: {} host(s), {} missing series",
            job.job_type.as_str(),
            utilization.hosts.len(),
            utilization.missing.len()
        );
        self.count_once(key, event, lines, now, detail).await
    }

    /// Reads host metrics. Err only for retryable failures; a permanent one (access denied,
    /// validation) is reported in the summary and the job is still counted.
    async fn utilization(
        &self,
        event: &SageMakerEvent,
        job: &JobSummary<'_>,
        name: &str,
        shape: &Shape,
        home: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Utilization, Failure> {
        let Some(start) = job.start_time else {
            return Ok(Utilization::unavailable(
                Vec::new(),
                "the job has no start time: it never ran on instances",
            ));
        };
        let end = job.end_time.or(event.time).unwrap_or(now);
        let namespace = job.job_type.metrics_namespace();
        let account_id = match (event.account.as_deref(), home) {
            (Some(a), Some(h)) if a != h => Some(a.to_owned()),
            _ => None,
        };
        let mut discovery_note = None;
        let hosts = match job.job_type {
            JobType::Transform => {
                let ended_ago = now - end;
                let request = HostDiscovery {
                    namespace: namespace.clone(),
                    metric_name: DISCOVERY_METRIC.to_owned(),
                    job_name: name.to_owned(),
                    account_id: account_id.clone(),
                    recently_active: ended_ago < recently_active_limit(),
                };
                let found = match self.metrics.discover_hosts(&request).await {
                    Ok(found) => found,
                    Err(e) if e.is_retryable() => return Err(Failure::Retry(e)),
                    Err(e) => {
                        error!(job = name, error = %e, "cannot list transform hosts");
                        return Ok(Utilization::unavailable(
                            vec![format!("{name}/*")],
                            format!("ListMetrics failed: {}: {}", e.code, e.message),
                        ));
                    }
                };
                if found.hosts.is_empty() && ended_ago < listing_lag() {
                    // ListMetrics can take up to 15 minutes to list a new metric: "none yet"
                    // is not "none". Retry (the SQS message comes back after its visibility
                    // timeout) rather than count the job without hosts forever.
                    return Err(Failure::Retry(AwsError {
                        operation: "ListMetrics",
                        code: "HostsNotListedYet".into(),
                        message: format!(
                            "no host of {name} listed yet; the job ended {} s ago and ListMetrics can lag 15 minutes",
                            ended_ago.num_seconds()
                        ),
                        status: None,
                        retry: Retry::Retryable,
                    }));
                }
                if found.truncated {
                    discovery_note = Some("host list truncated (ListMetrics page cap)".to_owned());
                }
                found.hosts
            }
            _ => match job.instance_count {
                Some(n) if n > 0 => algo_hosts(name, n),
                _ => {
                    return Ok(Utilization::unavailable(
                        vec![format!("{name}/*")],
                        "no instance count in the event",
                    ))
                }
            },
        };
        if hosts.is_empty() {
            return Ok(Utilization::unavailable(
                vec![format!("{name}/*")],
                "no host of this job has metrics (ListMetrics found none)",
            ));
        }
        let plan = Plan {
            namespace,
            hosts,
            metrics: metrics_for(job.job_type, shape.norm.spec),
            window: window::query_window(start, end, now),
            account_id,
        };
        let request = plan.request();
        match self.metrics.fetch(&request).await {
            Ok(values) => {
                let mut u = plan.summarize(&values, &shape.norm);
                if let Some(d) = discovery_note {
                    u.note = Some(match u.note {
                        Some(n) => format!("{d}; {n}"),
                        None => d,
                    });
                }
                Ok(u)
            }
            Err(e) if e.is_retryable() => Err(Failure::Retry(e)),
            Err(e) => {
                error!(job = name, error = %e, "cannot read host metrics; counting the job without them");
                let missing = plan
                    .hosts
                    .iter()
                    .flat_map(|h| {
                        plan.metrics
                            .iter()
                            .map(move |m| format!("{h}/{}", m.metric))
                    })
                    .collect();
                Ok(Utilization::unavailable(
                    missing,
                    format!("GetMetricData failed: {}: {}", e.code, e.message),
                ))
            }
        }
    }

    fn selected_tags(&self, tags: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        self.config
            .report_tag_keys
            .iter()
            .filter_map(|k| Some((k.clone(), redact(tags.get(k)?).into_owned())))
            .collect()
    }

    async fn tuning(
        &self,
        event: &SageMakerEvent,
        t: &HyperParameterTuningJob,
        now: DateTime<Utc>,
    ) -> Result<Processed, Failure> {
        let Some(status) = t.hyper_parameter_tuning_job_status.as_ref() else {
            return Err(Failure::Invalid("tuning job without a status".into()));
        };
        // Tuning jobs also emit InProgress events as their children progress: count end states.
        if !status.is_terminal_job_status() {
            return Ok(Processed::new(
                Disposition::NotTerminal,
                format!("tuning status {status} is not an end state"),
            ));
        }
        let Some(name) = non_empty(t.hyper_parameter_tuning_job_name.as_deref()) else {
            return Err(Failure::Invalid("tuning job without a name".into()));
        };
        let account = event.account.as_deref().unwrap_or("unknown");
        let key = dedupe_key(&[account, "hyper_parameter_tuning", name, status.as_str()]);
        let best = t.best_training_job.as_ref();
        let objective =
            best.and_then(|b| b.final_hyper_parameter_tuning_job_objective_metric.as_ref());
        let mut props = Map::new();
        props.insert("tuning_job_name".into(), json!(name));
        props.insert(
            "tuning_job_arn".into(),
            json!(t.hyper_parameter_tuning_job_arn),
        );
        props.insert("account".into(), json!(event.account));
        props.insert("region".into(), json!(event.region));
        props.insert(
            "training_job_status_counters".into(),
            json!(t.training_job_status_counters),
        );
        props.insert(
            "objective_status_counters".into(),
            json!(t.objective_status_counters),
        );
        props.insert(
            "best_training_job".into(),
            json!(best.and_then(|b| b.training_job_name.clone())),
        );
        props.insert(
            "best_objective_metric".into(),
            json!(objective.and_then(|o| o.metric_name.clone())),
        );
        props.insert(
            "best_objective_value".into(),
            json!(objective.and_then(|o| o.value)),
        );
        props.insert(
            "failure_reason".into(),
            json!(redacted(non_empty(t.failure_reason.as_deref()))),
        );
        if let (Some(c), Some(e)) = (t.creation_time, t.hyper_parameter_tuning_end_time) {
            props.insert("duration_seconds".into(), json!((e - c).num_seconds()));
        }
        let lines = records::status_counter(
            &self.config.metrics_namespace,
            emf_timestamp(event.time, now),
            status.as_str(),
            &[("TuningJobCount", 1.0, Unit::Count)],
            props,
        );
        let detail = format!("tuning job {name} {status}");
        self.count_once(key, event, lines, now, detail).await
    }

    async fn endpoint(
        &self,
        event: &SageMakerEvent,
        e: &Endpoint,
        now: DateTime<Utc>,
    ) -> Result<Processed, Failure> {
        let (Some(name), Some(status)) = (
            non_empty(e.endpoint_name.as_deref()),
            e.endpoint_status.as_ref(),
        ) else {
            return Err(Failure::Invalid(
                "endpoint event without a name or status".into(),
            ));
        };
        // An endpoint goes through the same status many times (every update): the change is
        // identified by its LastModifiedTime, else by the event id.
        let Some(discriminator) = e
            .last_modified_time
            .map(|t| t.timestamp_millis().to_string())
            .or_else(|| event.id.clone())
        else {
            return Err(Failure::Invalid(
                "endpoint event without LastModifiedTime or event id".into(),
            ));
        };
        let account = event.account.as_deref().unwrap_or("unknown");
        let key = dedupe_key(&[account, "endpoint", name, status.as_str(), &discriminator]);
        let failure = redacted(non_empty(e.failure_reason.as_deref()));
        if status.is("Failed") {
            warn!(
                endpoint = name,
                reason = failure.as_deref().unwrap_or("-"),
                "endpoint failed"
            );
        }
        let mut props = Map::new();
        props.insert("endpoint_name".into(), json!(name));
        props.insert("endpoint_arn".into(), json!(e.endpoint_arn));
        props.insert("endpoint_config_name".into(), json!(e.endpoint_config_name));
        props.insert("account".into(), json!(event.account));
        props.insert("region".into(), json!(event.region));
        props.insert("failure_reason".into(), json!(failure));
        let at = emf_timestamp(event.time, now);
        if status.is("InService") {
            self.time_to_in_service(event, e, name, account, at, &props, now)
                .await?;
        }
        let lines = records::status_counter(
            &self.config.metrics_namespace,
            at,
            status.as_str(),
            &[("EndpointStatusChanges", 1.0, Unit::Count)],
            props,
        );
        let detail = format!("endpoint {name} {status}");
        self.count_once(key, event, lines, now, detail).await
    }

    /// `EndpointTimeToInServiceSeconds` once per endpoint creation: the first InService after
    /// CreateEndpoint. Every later InService (after UpdateEndpoint) has the same CreationTime
    /// and a LastModifiedTime that can be days later; its own claim
    /// `account#endpoint#name#CreationTime-ms#first_in_service` is then taken. A claim of its
    /// own (not shared with the status change) keeps both emissions exactly-once: a failure
    /// between the two puts is retried, and the retry skips whichever is already written.
    #[allow(clippy::too_many_arguments)]
    async fn time_to_in_service(
        &self,
        event: &SageMakerEvent,
        e: &Endpoint,
        name: &str,
        account: &str,
        at: DateTime<Utc>,
        props: &Map<String, Value>,
        now: DateTime<Utc>,
    ) -> Result<(), Failure> {
        let (Some(c), Some(m)) = (e.creation_time, e.last_modified_time) else {
            return Ok(());
        };
        // Past the dedupe TTL the first claim may have expired: an "InService" that late is an
        // update, never the creation.
        if m < c || m - c >= self.dedupe_ttl() {
            return Ok(());
        }
        let created = c.timestamp_millis().to_string();
        let key = dedupe_key(&[account, "endpoint", name, &created, "first_in_service"]);
        match self.claim(&key, event, now).await? {
            Claimed::First => {
                let secs = (m - c).num_milliseconds() as f64 / 1000.0;
                self.sink.write(records::status_counter(
                    &self.config.metrics_namespace,
                    at,
                    "InService",
                    &[("EndpointTimeToInServiceSeconds", secs, Unit::Seconds)],
                    props.clone(),
                ));
            }
            Claimed::Duplicate => {
                info!(key = %key, "not the first InService of this endpoint creation; no time-to-InService");
            }
        }
        Ok(())
    }

    async fn pipeline_execution(
        &self,
        event: &SageMakerEvent,
        p: &PipelineExecution,
        now: DateTime<Utc>,
    ) -> Result<Processed, Failure> {
        let Some(status) = p.current_pipeline_execution_status.as_ref() else {
            return Err(Failure::Invalid(
                "pipeline execution without a status".into(),
            ));
        };
        let Some(execution) = non_empty(p.pipeline_execution_arn.as_deref()) else {
            return Err(Failure::Invalid(
                "pipeline execution without an execution ARN".into(),
            ));
        };
        let account = event.account.as_deref().unwrap_or("unknown");
        let key = dedupe_key(&[account, "pipeline_execution", execution, status.as_str()]);
        let mut metrics = vec![("PipelineExecutionCount", 1.0, Unit::Count)];
        if let (Some(s), Some(e)) = (p.execution_start_time, p.execution_end_time) {
            if e >= s {
                metrics.push((
                    "PipelineExecutionDurationSeconds",
                    (e - s).num_milliseconds() as f64 / 1000.0,
                    Unit::Seconds,
                ));
            }
        }
        let mut props = Map::new();
        props.insert("pipeline_arn".into(), json!(p.pipeline_arn));
        props.insert(
            "pipeline_name".into(),
            json!(p.pipeline_arn.as_deref().and_then(|a| a.rsplit('/').next())),
        );
        props.insert("pipeline_execution_arn".into(), json!(execution));
        props.insert(
            "pipeline_execution_display_name".into(),
            json!(p.pipeline_execution_display_name),
        );
        props.insert("account".into(), json!(event.account));
        props.insert("region".into(), json!(event.region));
        props.insert(
            "failure_reason".into(),
            json!(redacted(non_empty(p.failure_reason.as_deref()))),
        );
        let lines = records::status_counter(
            &self.config.metrics_namespace,
            emf_timestamp(event.time, now),
            status.as_str(),
            &metrics,
            props,
        );
        let detail = format!("pipeline execution {status}");
        self.count_once(key, event, lines, now, detail).await
    }

    async fn pipeline_step(
        &self,
        event: &SageMakerEvent,
        s: &PipelineStep,
        now: DateTime<Utc>,
    ) -> Result<Processed, Failure> {
        let (Some(status), Some(step), Some(execution)) = (
            s.current_step_status.as_ref(),
            non_empty(s.step_name.as_deref()),
            non_empty(s.pipeline_execution_arn.as_deref()),
        ) else {
            return Err(Failure::Invalid(
                "pipeline step without a status, step name or execution ARN".into(),
            ));
        };
        let account = event.account.as_deref().unwrap_or("unknown");
        let key = dedupe_key(&[account, "pipeline_step", execution, step, status.as_str()]);
        let mut props = Map::new();
        props.insert("step_name".into(), json!(step));
        props.insert("step_type".into(), json!(s.step_type));
        props.insert("pipeline_arn".into(), json!(s.pipeline_arn));
        props.insert("pipeline_execution_arn".into(), json!(execution));
        props.insert("account".into(), json!(event.account));
        props.insert("region".into(), json!(event.region));
        if let (Some(a), Some(b)) = (s.step_start_time, s.step_end_time) {
            props.insert(
                "step_duration_seconds".into(),
                json!((b - a).num_milliseconds() as f64 / 1000.0),
            );
        }
        props.insert(
            "failure_reason".into(),
            json!(redacted(non_empty(s.failure_reason.as_deref()))),
        );
        let lines = records::status_counter(
            &self.config.metrics_namespace,
            emf_timestamp(event.time, now),
            status.as_str(),
            &[("PipelineStepCount", 1.0, Unit::Count)],
            props,
        );
        let detail = format!("pipeline step {step} {status}");
        self.count_once(key, event, lines, now, detail).await
    }

    async fn api_call(
        &self,
        event: &SageMakerEvent,
        c: &CloudTrailApiCall,
        now: DateTime<Utc>,
    ) -> Result<Processed, Failure> {
        let Some(name) = non_empty(c.event_name.as_deref()) else {
            return Err(Failure::Invalid(
                "CloudTrail record without eventName".into(),
            ));
        };
        let Some(id) = non_empty(c.event_id.as_deref()).or(non_empty(event.id.as_deref())) else {
            return Err(Failure::Invalid(
                "CloudTrail record without eventID or event id".into(),
            ));
        };
        let account = event
            .account
            .as_deref()
            .or(c.recipient_account_id.as_deref())
            .unwrap_or("unknown");
        let key = dedupe_key(&[account, "api_call", id]);
        let error_code = non_empty(c.error_code.as_deref());
        let at = emf_timestamp(c.event_time.or(event.time), now);
        let mut lines =
            records::api_call_counter(&self.config.metrics_namespace, at, name, error_code);
        if let Some(reason) = audit::audit_reason(name, error_code) {
            let mut params = c.request_parameters.clone().unwrap_or(Value::Null);
            redact_json(&mut params);
            lines.push(report::render(
                Kind::ApiAudit,
                json!({
                    "event_name": name,
                    "event_source": c.event_source,
                    "event_time": c.event_time,
                    "error_code": error_code,
                    "error_message": redacted(non_empty(c.error_message.as_deref())),
                    "user_arn": c.user_identity.arn,
                    "user_type": c.user_identity.kind,
                    "source_ip": c.source_ip_address,
                    "user_agent": c.user_agent,
                    "request_parameters": params,
                    "account": account,
                    "region": c.aws_region.as_deref().or(event.region.as_deref()),
                    "audit_reason": reason,
                    "event_id": id,
                }),
            ));
        }
        let detail = format!("{name} {}", error_code.unwrap_or("ok"));
        self.count_once(key, event, lines, now, detail).await
    }
}

fn outcome(record: usize, message_id: Option<String>, p: Processed) -> Outcome {
    Outcome {
        record,
        message_id,
        result: p.result,
        key: p.key,
        detail: p.detail,
    }
}
