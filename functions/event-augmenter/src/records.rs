//! EMF and report lines. Dimension sets are low-cardinality by construction: job type, status,
//! account, instance type, event name, error code — never a job, endpoint or pipeline name
//! (those are properties, searchable in Logs Insights, not billed as metrics).

use crate::ports::Stat;
use crate::utilization::{round3, HostUtilization, HOST_METRICS};
use chrono::{DateTime, Duration, Utc};
use sagewatch::emf::{MetricRecord, Unit};
use sagewatch::events::JobType;
use sagewatch::report::{self, Kind};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// `Function` dimension of InvalidEvents / DuplicateEvents (stable, not the deployed name).
pub const FUNCTION: &str = "event-augmenter";

/// CloudWatch drops EMF datapoints older than two weeks: a replayed old event is stamped now.
const MAX_EMF_AGE_DAYS: i64 = 13;

/// The event's time when CloudWatch will still accept it, otherwise `now`.
pub fn emf_timestamp(event_time: Option<DateTime<Utc>>, now: DateTime<Utc>) -> DateTime<Utc> {
    match event_time {
        Some(t)
            if t <= now + Duration::minutes(5) && now - t < Duration::days(MAX_EMF_AGE_DAYS) =>
        {
            t
        }
        _ => now,
    }
}

/// Renders a record; invalid parts are dropped by the EMF writer and logged.
pub fn render(record: &MetricRecord) -> Vec<String> {
    record.render_logged()
}

/// One count by [Status] (tuning, endpoints, pipelines), extra metrics and properties.
pub fn status_counter(
    namespace: &str,
    at: DateTime<Utc>,
    status: &str,
    metrics: &[(&str, f64, Unit)],
    props: Map<String, Value>,
) -> Vec<String> {
    let mut m = MetricRecord::new(namespace, at);
    m.dimension("Status", status).dimension_set(&["Status"]);
    for (name, value, unit) in metrics {
        m.metric(*name, *value, *unit);
    }
    for (k, v) in props {
        if !v.is_null() {
            m.property(k, v);
        }
    }
    render(&m)
}

/// `ApiCalls` by [EventName] and [EventName, ErrorCode] (`None` when the call succeeded).
pub fn api_call_counter(
    namespace: &str,
    at: DateTime<Utc>,
    event_name: &str,
    error_code: Option<&str>,
) -> Vec<String> {
    let mut m = MetricRecord::new(namespace, at);
    m.dimension("EventName", event_name)
        .dimension("ErrorCode", error_code.unwrap_or("None"))
        .dimension_set(&["EventName"])
        .dimension_set(&["EventName", "ErrorCode"])
        .metric("ApiCalls", 1.0, Unit::Count);
    render(&m)
}

/// The `job_summary` report (field names are the cross-function contract).
#[derive(Debug, Clone, Serialize)]
pub struct JobReport {
    pub job_type: JobType,
    pub job_name: String,
    pub job_arn: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub status: String,
    /// Redacted.
    pub failure_reason: Option<String>,
    pub instance_type: String,
    pub instance_count: Option<u64>,
    pub duration_seconds: Option<i64>,
    pub billable_seconds: Option<i64>,
    /// `BillableTimeInSeconds` when SageMaker sent it, otherwise `duration`.
    pub billable_seconds_source: Option<&'static str>,
    pub instance_seconds: Option<i64>,
    /// `cpu_utilization_avg` … `disk_utilization_max`, normalised 0–100 %.
    #[serde(flatten)]
    pub utilization: BTreeMap<String, f64>,
    pub underutilized: Option<bool>,
    pub missing: Vec<String>,
    pub hosts: Vec<HostUtilization>,
    pub tags: BTreeMap<String, String>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    /// Why CPU/GPU values are raw (unknown or mixed instance types).
    pub normalization_note: Option<String>,
    /// Why nothing was measured (never ran, no hosts, metrics unreadable).
    pub utilization_note: Option<String>,
    pub event_id: Option<String>,
    /// `true` when the sweep found the job (its event did not arrive); absent otherwise.
    pub reconciled: Option<bool>,
}

impl JobReport {
    /// Fleet values in report-field form, from `fleet` (prefix → avg/max).
    pub fn utilization_fields(
        fleet: &BTreeMap<&'static str, crate::utilization::FleetValue>,
    ) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for metric in HOST_METRICS {
            if let Some(v) = fleet.get(metric.field) {
                out.insert(metric.field_name(Stat::Average), round3(v.avg));
                out.insert(metric.field_name(Stat::Maximum), round3(v.max));
            }
        }
        out
    }

    /// The EMF line(s) and the report line for this job.
    pub fn lines(&self, namespace: &str, at: DateTime<Utc>) -> Vec<String> {
        let mut lines = render(&self.record(namespace, at));
        lines.push(self.report_line());
        lines
    }

    fn record(&self, namespace: &str, at: DateTime<Utc>) -> MetricRecord {
        let mut m = MetricRecord::new(namespace, at);
        m.dimension("JobType", self.job_type.as_str())
            .dimension("Status", &self.status)
            .dimension("Account", self.account.as_deref().unwrap_or("unknown"))
            .dimension("InstanceType", &self.instance_type)
            .dimension_set(&["JobType"])
            .dimension_set(&["JobType", "Status"])
            .dimension_set(&["Account", "JobType", "Status"])
            .dimension_set(&["JobType", "InstanceType"])
            .metric("JobCount", 1.0, Unit::Count);
        for (name, value) in [
            ("DurationSeconds", self.duration_seconds),
            ("BillableSeconds", self.billable_seconds),
            ("InstanceSeconds", self.instance_seconds),
        ] {
            if let Some(v) = value {
                m.metric(name, v as f64, Unit::Seconds);
            }
        }
        for metric in HOST_METRICS {
            for stat in Stat::ALL {
                if let Some(v) = self.utilization.get(&metric.field_name(stat)) {
                    m.metric(metric.emf_name(stat), *v, Unit::Percent);
                }
            }
        }
        if let Some(u) = self.underutilized {
            m.metric("Underutilized", if u { 1.0 } else { 0.0 }, Unit::Count);
        }
        m.property("job_name", &self.job_name)
            .property("instance_count", self.instance_count)
            .property("hosts", &self.hosts)
            .property("missing", &self.missing);
        for (k, v) in [
            ("job_arn", &self.job_arn),
            ("failure_reason", &self.failure_reason),
            ("normalization_note", &self.normalization_note),
            ("utilization_note", &self.utilization_note),
        ] {
            if let Some(v) = v {
                m.property(k, v);
            }
        }
        if !self.tags.is_empty() {
            m.property("tags", &self.tags);
        }
        m
    }

    /// One JSON line; the per-host breakdown is dropped (and counted) first if the line would
    /// pass the report cap (which would otherwise drop the largest field by its own rule).
    pub fn report_line(&self) -> String {
        let value = serde_json::to_value(self).unwrap_or(Value::Null);
        // `sagewatch_event` and the braces add well under 64 bytes to the fields' JSON.
        if value.to_string().len() + 64 <= report::MAX_REPORT_BYTES {
            return report::render(Kind::JobSummary, value);
        }
        let mut value = value;
        if let Value::Object(map) = &mut value {
            map.remove("hosts");
            map.insert("hosts_omitted".into(), Value::from(self.hosts.len()));
        }
        report::render(Kind::JobSummary, value)
    }
}
