//! Terminal job events (training, processing, transform): host utilization first, then the
//! claim, then EMF and the `job_summary` line. Metrics are read *before* the put: a retry after
//! a failed read must not find the key taken and swallow the job as a duplicate.

use crate::ports::{HostDiscovery, HostMetrics, Sink};
use crate::records::{emf_timestamp, JobReport};
use crate::utilization::{
    algo_hosts, metrics_for, Normalization, Plan, Utilization, DISCOVERY_METRIC,
};
use crate::FUNCTION;
use crate::{non_empty, redacted, window, Augmenter, Disposition, Failure, Processed};
use chrono::{DateTime, Duration, Utc};
use sagewatch::claims::{self, Attempt, ClaimStore};
use sagewatch::error::RetryLater;
use sagewatch::events::{Detail, JobSummary, JobType, SageMakerEvent};
use sagewatch::instance_types;
use sagewatch::redact::redact;
use sagewatch::status::Status;
use std::collections::BTreeMap;
use tracing::error;

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

/// Where a job's end came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// SageMaker's state-change event.
    Event,
    /// The sweep: Describe*Job of a job whose event did not arrive (`reconciled: true`).
    Sweep,
}

/// The claim key of a job's end: the event path's and the sweep's, so that each finds the
/// other's claim (`event-augmenter#<account>#<job_type>#<job_name>#<status>`).
pub(crate) fn job_key(
    account: Option<&str>,
    job_type: JobType,
    name: &str,
    status: &Status,
) -> String {
    claims::key(
        FUNCTION,
        &[
            account.unwrap_or("unknown"),
            job_type.as_str(),
            name,
            status.as_str(),
        ],
    )
}

impl<D: ClaimStore, M: HostMetrics, S: Sink, J, B> Augmenter<D, M, S, J, B> {
    pub(crate) async fn job(
        &self,
        event: &SageMakerEvent,
        home: Option<&str>,
        now: DateTime<Utc>,
        attempt: &Attempt,
        origin: Origin,
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
        let key = job_key(event.account.as_deref(), job.job_type, name, status);
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
            reconciled: (origin == Origin::Sweep).then_some(true),
        };
        let lines = report.lines(
            &self.config.common.metrics_namespace,
            emf_timestamp(event.time.or(job.end_time), now),
        );
        let detail = format!(
            "{} {name} {status}: {} host(s), {} missing series",
            job.job_type.as_str(),
            utilization.hosts.len(),
            utilization.missing.len()
        );
        self.count_once(key, event, lines, now, attempt, detail)
            .await
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
                    Err(e) if e.is_retryable() => return Err(Failure::Retry(e.into())),
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
                    return Err(Failure::Retry(RetryLater::NotReady(format!(
                        "no host of {name} listed yet; the job ended {} s ago and ListMetrics can lag 15 minutes",
                        ended_ago.num_seconds()
                    ))));
                }
                if found.truncated {
                    discovery_note = Some("host list truncated (ListMetrics page cap)".to_owned());
                }
                found.hosts
            }
            _ => match job.instance_count {
                Some(n) if n > 0 => {
                    let (hosts, cut) = algo_hosts(name, n);
                    if cut {
                        discovery_note = Some(format!(
                            "InstanceCount {n} is past {} hosts: only the first {} were queried",
                            crate::utilization::MAX_HOSTS,
                            crate::utilization::MAX_HOSTS
                        ));
                    }
                    hosts
                }
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
            Err(e) if e.is_retryable() => Err(Failure::Retry(e.into())),
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
}
