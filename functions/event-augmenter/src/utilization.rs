//! Host utilization of one job: which queries to send (exact hosts, exact metrics) and what
//! the answers mean (per host and for the fleet, normalised to 0–100 %). Pure.

use crate::ports::{MetricQuery, MetricRequest, MetricValues, Stat};
use crate::window::QueryWindow;
use sagewatch::events::JobType;
use sagewatch::instance_types::InstanceSpec;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// How a SageMaker host metric is scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// 0–100 × vCPUs.
    PerVcpu,
    /// 0–100 × GPUs.
    PerGpu,
    /// Already 0–100.
    Percent,
}

#[derive(Debug)]
pub struct HostMetric {
    /// CloudWatch metric name in `/aws/sagemaker/<Kind>Jobs`.
    pub metric: &'static str,
    /// Report field prefix (`cpu_utilization` → `cpu_utilization_avg`, `_max`).
    pub field: &'static str,
    pub scale: Scale,
    /// SageMaker does not publish it for batch transform jobs.
    pub transform: bool,
}

impl HostMetric {
    pub fn emf_name(&self, stat: Stat) -> String {
        format!("{}{}", self.metric, stat.as_str())
    }

    pub fn field_name(&self, stat: Stat) -> String {
        match stat {
            Stat::Average => format!("{}_avg", self.field),
            Stat::Maximum => format!("{}_max", self.field),
        }
    }
}

/// The five instance metrics SageMaker publishes per host (SageMaker DG, job instance metrics).
pub const HOST_METRICS: &[HostMetric] = &[
    HostMetric {
        metric: "CPUUtilization",
        field: "cpu_utilization",
        scale: Scale::PerVcpu,
        transform: true,
    },
    HostMetric {
        metric: "MemoryUtilization",
        field: "memory_utilization",
        scale: Scale::Percent,
        transform: true,
    },
    HostMetric {
        metric: "GPUUtilization",
        field: "gpu_utilization",
        scale: Scale::PerGpu,
        transform: true,
    },
    HostMetric {
        metric: "GPUMemoryUtilization",
        field: "gpu_memory_utilization",
        scale: Scale::PerGpu,
        transform: true,
    },
    HostMetric {
        metric: "DiskUtilization",
        field: "disk_utilization",
        scale: Scale::Percent,
        transform: false,
    },
];

/// The metric that every host of every job kind reports (used to discover transform hosts).
pub const DISCOVERY_METRIC: &str = "CPUUtilization";

/// The metrics worth asking for: a known GPU-less type has no GPU metrics, transform jobs no
/// disk metric. An unknown type gets everything (and whatever is absent is reported missing).
pub fn metrics_for(job_type: JobType, spec: Option<InstanceSpec>) -> Vec<&'static HostMetric> {
    HOST_METRICS
        .iter()
        .filter(|m| job_type != JobType::Transform || m.transform)
        .filter(|m| m.scale != Scale::PerGpu || spec.is_none_or(|s| s.gpus > 0))
        .collect()
}

/// At most this many hosts are queried per job. SageMaker's instance-count quotas are in the
/// hundreds; past this an `InstanceCount` is a malformed or hostile event, and querying it would
/// allocate and send one query per host (100 000 000 of them once made the function die).
/// 1 000 hosts × 5 metrics are 10 GetMetricData calls at most.
pub const MAX_HOSTS: u64 = 1_000;

/// `<job>/algo-<i>` for i in 1..=min(count, [`MAX_HOSTS`]): the exact Host values of training
/// and processing jobs, and whether the count was cut.
pub fn algo_hosts(job_name: &str, count: u64) -> (Vec<String>, bool) {
    let hosts = (1..=count.min(MAX_HOSTS))
        .map(|i| format!("{job_name}/algo-{i}"))
        .collect();
    (hosts, count > MAX_HOSTS)
}

/// Everything needed to query and then interpret one job's host metrics.
///
/// One query per (host, metric): `Average` per period, the period being the storage
/// granularity (60 s for recent data). The window average is the mean of those datapoints and
/// the window maximum is their maximum. SageMaker publishes one sample per host and metric per
/// minute, so a 1-minute `Average` is that sample and the two equal CloudWatch's `Average` and
/// `Maximum` statistics over the window (README, "Why this equals …"). Half the queries of
/// asking for both statistics: 100 GPU hosts fit one GetMetricData request.
#[derive(Debug, Clone)]
pub struct Plan {
    pub namespace: String,
    pub hosts: Vec<String>,
    pub metrics: Vec<&'static HostMetric>,
    pub window: QueryWindow,
    pub account_id: Option<String>,
}

impl Plan {
    fn id(host: usize, metric: usize) -> String {
        format!("h{host}_m{metric}")
    }

    /// Seconds per datapoint: the granularity unless the request would be too large.
    pub fn period(&self) -> i32 {
        self.window
            .period_for(self.hosts.len() * self.metrics.len())
    }

    pub fn request(&self) -> MetricRequest {
        let period = self.period();
        let mut queries = Vec::with_capacity(self.hosts.len() * self.metrics.len());
        for (h, host) in self.hosts.iter().enumerate() {
            for (m, metric) in self.metrics.iter().enumerate() {
                queries.push(MetricQuery {
                    id: Self::id(h, m),
                    namespace: self.namespace.clone(),
                    metric_name: metric.metric.to_owned(),
                    host: host.clone(),
                    period,
                    account_id: self.account_id.clone(),
                });
            }
        }
        MetricRequest {
            queries,
            start: self.window.start,
            end: self.window.end,
        }
    }

    /// Reads the answers. Missing series (no datapoint, or refused with `Forbidden`) are
    /// listed as `host/metric`; the reason for refused ones goes to the note.
    pub fn summarize(&self, values: &MetricValues, norm: &Normalization) -> Utilization {
        let mut hosts = Vec::with_capacity(self.hosts.len());
        let mut missing = Vec::new();
        let mut forbidden: Vec<&str> = Vec::new();
        let mut fleet: BTreeMap<&'static str, Vec<(f64, f64)>> = BTreeMap::new();
        for (h, host) in self.hosts.iter().enumerate() {
            let mut entry = HostUtilization {
                host: host.clone(),
                values: Map::new(),
                missing: Vec::new(),
            };
            for (m, metric) in self.metrics.iter().enumerate() {
                let id = Self::id(h, m);
                if let Some(reason) = values.forbidden.get(&id) {
                    forbidden.push(reason);
                }
                let Some(points) = values.series.get(&id).filter(|v| !v.is_empty()) else {
                    missing.push(format!("{host}/{}", metric.metric));
                    entry.missing.push(metric.metric.to_owned());
                    continue;
                };
                let raw_avg = points.iter().sum::<f64>() / points.len() as f64;
                let raw_max = points.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                match norm.divisor(metric.scale) {
                    Some(d) => {
                        let (a, x) = (raw_avg / d, raw_max / d);
                        entry.put(&metric.field_name(Stat::Average), a);
                        entry.put(&metric.field_name(Stat::Maximum), x);
                        fleet.entry(metric.field).or_default().push((a, x));
                    }
                    None => {
                        entry.put(&format!("{}_raw_avg", metric.field), raw_avg);
                        entry.put(&format!("{}_raw_max", metric.field), raw_max);
                    }
                }
            }
            hosts.push(entry);
        }
        let fleet = fleet
            .into_iter()
            .map(|(field, v)| {
                let avg = v.iter().map(|(a, _)| a).sum::<f64>() / v.len() as f64;
                let max = v.iter().map(|(_, x)| *x).fold(f64::NEG_INFINITY, f64::max);
                (field, FleetValue { avg, max })
            })
            .collect();
        let mut notes = Vec::new();
        if let Some(first) = forbidden.first() {
            notes.push(format!(
                "GetMetricData refused {} series (Forbidden: {first})",
                forbidden.len()
            ));
        }
        let period = i64::from(self.period());
        if period > self.window.granularity {
            notes.push(format!(
                "maxima are the highest {period}-s averages (job too long for {}-s datapoints)",
                self.window.granularity
            ));
        }
        Utilization {
            hosts,
            fleet,
            missing,
            note: (!notes.is_empty()).then(|| notes.join("; ")),
        }
    }
}

/// What to divide CPU and GPU sums by, from the instance type table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalization {
    pub spec: Option<InstanceSpec>,
    /// Why values are left raw (unknown or mixed instance types).
    pub note: Option<String>,
}

impl Normalization {
    pub fn divisor(&self, scale: Scale) -> Option<f64> {
        match scale {
            Scale::Percent => Some(1.0),
            Scale::PerVcpu => self.spec.map(|s| f64::from(s.vcpus.max(1))),
            Scale::PerGpu => self.spec.filter(|s| s.gpus > 0).map(|s| f64::from(s.gpus)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FleetValue {
    pub avg: f64,
    pub max: f64,
}

/// One host's values: normalised `<field>_avg/_max`, or `<field>_raw_avg/_raw_max` when the
/// instance type is unknown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostUtilization {
    pub host: String,
    #[serde(flatten)]
    pub values: Map<String, Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

impl HostUtilization {
    fn put(&mut self, key: &str, v: f64) {
        self.values.insert(key.to_owned(), Value::from(round3(v)));
    }
}

/// A job's utilization: per host, for the fleet (normalised only), and what is missing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Utilization {
    pub hosts: Vec<HostUtilization>,
    /// By report field prefix (`cpu_utilization`, …): mean of host averages, max of host maxima.
    pub fleet: BTreeMap<&'static str, FleetValue>,
    pub missing: Vec<String>,
    /// Why there are no values at all (never ran, no hosts found, metrics not readable).
    pub note: Option<String>,
}

impl Utilization {
    /// Nothing could be measured; `missing` says what was expected.
    pub fn unavailable(missing: Vec<String>, note: impl Into<String>) -> Self {
        Utilization {
            missing,
            note: Some(note.into()),
            ..Utilization::default()
        }
    }

    /// Underutilized: the job's main resource (GPU when the type has GPUs, otherwise CPU)
    /// never went above `threshold` % on any host. `None` when that cannot be told, which
    /// includes Trainium / Inferentia types: their Neuron devices are not in the host metrics,
    /// and an idle CPU says nothing about them.
    pub fn underutilized(&self, norm: &Normalization, threshold: f64) -> Option<bool> {
        if norm.spec.is_some_and(|s| s.has_unmeasured_accelerators()) {
            return None;
        }
        let has_gpus = norm.spec.map(|s| s.gpus > 0);
        let gpu_field = HOST_METRICS[2].field;
        let cpu_field = HOST_METRICS[0].field;
        let field = match has_gpus {
            Some(true) => gpu_field,
            Some(false) => cpu_field,
            None => {
                // Unknown type: raw sums only. A raw maximum under the threshold is under it
                // normalised too (the divisor is ≥ 1); anything else cannot be told.
                let raw_max = |field: &str| {
                    self.hosts
                        .iter()
                        .filter_map(|h| h.values.get(&format!("{field}_raw_max"))?.as_f64())
                        .fold(None, |acc: Option<f64>, v| {
                            Some(acc.map_or(v, |a| a.max(v)))
                        })
                };
                let max = raw_max(gpu_field).or_else(|| raw_max(cpu_field))?;
                return (max < threshold).then_some(true);
            }
        };
        self.fleet.get(field).map(|v| v.max < threshold)
    }
}

/// Three decimals: enough for percentages, short lines.
pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use sagewatch::instance_types::lookup;

    fn plan(hosts: u64, spec: Option<InstanceSpec>) -> Plan {
        let start = DateTime::<Utc>::from_timestamp(1_718_020_920, 0).unwrap();
        Plan {
            namespace: JobType::Training.metrics_namespace(),
            hosts: algo_hosts("job", hosts).0,
            metrics: metrics_for(JobType::Training, spec),
            window: crate::window::query_window(
                start,
                start + chrono::Duration::minutes(10),
                start,
            ),
            account_id: None,
        }
    }

    /// The same `points` for every query, except the (host, metric) pairs in `skip`.
    fn answer(p: &Plan, f: impl Fn(&MetricQuery) -> Option<Vec<f64>>) -> MetricValues {
        let mut values = MetricValues::default();
        for q in p.request().queries {
            if let Some(points) = f(&q) {
                values.series.insert(q.id, points);
            }
        }
        values
    }

    #[test]
    fn one_query_per_host_and_metric_at_the_granularity() {
        let p = plan(2, lookup("ml.g5.2xlarge"));
        let r = p.request();
        assert_eq!(r.queries.len(), 2 * 5);
        assert!(r
            .queries
            .iter()
            .all(|q| q.host == "job/algo-1" || q.host == "job/algo-2"));
        assert!(r.queries.iter().all(|q| q.period == 60));
        let ids: std::collections::BTreeSet<_> = r.queries.iter().map(|q| &q.id).collect();
        assert_eq!(ids.len(), r.queries.len(), "ids are unique");
        assert!(r.queries.iter().all(|q| q.id.starts_with('h')));
        // 100 GPU hosts: 500 queries, one GetMetricData request.
        assert_eq!(
            plan(100, lookup("ml.g5.2xlarge")).request().queries.len(),
            500
        );
        // A CPU-only type is not asked for GPU metrics; transform jobs not for disk.
        let m5 = lookup("ml.m5.xlarge");
        assert_eq!(plan(1, m5).request().queries.len(), 3);
        assert_eq!(metrics_for(JobType::Transform, m5).len(), 2);
        assert_eq!(metrics_for(JobType::Training, None).len(), 5);
    }

    #[test]
    fn normalised_per_core_and_gpu_and_missing_listed() {
        let spec = lookup("ml.g5.12xlarge"); // 48 vCPU, 4 GPU
        let p = plan(2, spec);
        let values = answer(&p, |q| {
            Some(match (q.metric_name.as_str(), q.host.as_str()) {
                ("GPUUtilization", "job/algo-2") => return None,
                // Per-minute averages: mean 960, max 4800.
                ("CPUUtilization", _) => vec![480.0, 4800.0, 480.0, 0.0, 0.0, 0.0],
                ("GPUUtilization", _) => vec![0.0, 400.0, 200.0, 200.0],
                (_, "job/algo-1") => vec![10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 50.0, -30.0],
                _ => vec![30.0, 10.0, 50.0],
            })
        });
        let norm = Normalization { spec, note: None };
        let u = p.summarize(&values, &norm);
        assert_eq!(u.missing, vec!["job/algo-2/GPUUtilization"]);
        assert_eq!(u.note, None);
        assert_eq!(
            u.fleet["cpu_utilization"],
            FleetValue {
                avg: 20.0,
                max: 100.0
            }
        );
        assert_eq!(
            u.fleet["gpu_utilization"],
            FleetValue {
                avg: 50.0,
                max: 100.0
            }
        );
        assert_eq!(
            u.fleet["memory_utilization"],
            FleetValue {
                avg: 20.0,
                max: 50.0
            }
        );
        assert_eq!(u.hosts[1].missing, vec!["GPUUtilization"]);
        assert_eq!(u.underutilized(&norm, 20.0), Some(false));
    }

    #[test]
    fn forbidden_series_are_missing_with_the_reason() {
        let spec = lookup("ml.m5.xlarge");
        let p = plan(2, spec);
        let mut values = answer(&p, |q| (q.host == "job/algo-1").then(|| vec![40.0]));
        for q in p
            .request()
            .queries
            .iter()
            .filter(|q| q.host == "job/algo-2")
        {
            values
                .forbidden
                .insert(q.id.clone(), "no OAM link to 111122223333".into());
        }
        let u = p.summarize(&values, &Normalization { spec, note: None });
        assert_eq!(u.missing.len(), 3, "{:?}", u.missing);
        assert!(u.missing.iter().all(|m| m.starts_with("job/algo-2/")));
        assert_eq!(
            u.note.as_deref(),
            Some("GetMetricData refused 3 series (Forbidden: no OAM link to 111122223333)")
        );
        assert_eq!(u.fleet["memory_utilization"].avg, 40.0);
    }

    #[test]
    fn unknown_type_stays_raw() {
        let p = plan(1, None);
        let values = answer(&p, |q| {
            Some(vec![if q.metric_name == "GPUUtilization" {
                12.0
            } else {
                150.0
            }])
        });
        let norm = Normalization {
            spec: None,
            note: Some("unknown".into()),
        };
        let u = p.summarize(&values, &norm);
        assert!(!u.fleet.contains_key("cpu_utilization"));
        assert!(u.fleet.contains_key("memory_utilization"));
        assert_eq!(u.hosts[0].values["cpu_utilization_raw_max"], 150.0);
        assert_eq!(
            u.underutilized(&norm, 20.0),
            Some(true),
            "raw GPU max 12 < 20"
        );
        assert_eq!(
            u.underutilized(&norm, 10.0),
            None,
            "12 raw could be anything normalised"
        );
    }

    #[test]
    fn neuron_instances_are_never_judged_on_cpu() {
        for t in ["ml.trn1.32xlarge", "ml.inf2.xlarge"] {
            let spec = lookup(t);
            let p = plan(1, spec);
            assert!(
                p.metrics.iter().all(|m| m.scale != Scale::PerGpu),
                "no GPU metrics asked for {t}"
            );
            // A nearly idle CPU: on a CPU type that would be "underutilized".
            let u = p.summarize(
                &answer(&p, |_| Some(vec![1.0])),
                &Normalization { spec, note: None },
            );
            assert!(
                u.fleet.contains_key("cpu_utilization"),
                "{t}: CPU still reported"
            );
            assert_eq!(
                u.underutilized(&Normalization { spec, note: None }, 20.0),
                None,
                "{t}"
            );
        }
        let m5 = lookup("ml.m5.xlarge");
        let p = plan(1, m5);
        let u = p.summarize(
            &answer(&p, |_| Some(vec![1.0])),
            &Normalization {
                spec: m5,
                note: None,
            },
        );
        assert_eq!(
            u.underutilized(
                &Normalization {
                    spec: m5,
                    note: None
                },
                20.0
            ),
            Some(true)
        );
    }

    #[test]
    fn coarser_periods_are_said() {
        let spec = lookup("ml.g5.2xlarge");
        let start = DateTime::<Utc>::from_timestamp(1_718_020_920, 0).unwrap();
        let mut p = plan(100, spec);
        p.window = crate::window::query_window(start, start + chrono::Duration::days(3), start);
        assert_eq!(p.period(), 180);
        assert!(p.request().queries.iter().all(|q| q.period == 180));
        let u = p.summarize(
            &MetricValues::default(),
            &Normalization { spec, note: None },
        );
        assert!(
            u.note
                .as_deref()
                .is_some_and(|n| n.contains("highest 180-s averages")),
            "{:?}",
            u.note
        );
    }
}
