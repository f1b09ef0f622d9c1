//! The alarm set of one production variant, as data: [`DEFINITIONS`] is the same list of
//! alarms, names and defaults as `infra/endpoint-monitoring.yaml` (a test reads the template
//! and compares), [`alarms_for`] turns it into concrete alarms for one variant. Pure.
//!
//! Names: `<prefix><endpoint>-<variant>-<suffix>`, the template's `AlarmName`s.

use crate::overrides::Overrides;
use sagewatch::instance_types::InstanceSpec;
use serde::Serialize;

pub const HOST_NAMESPACE: &str = "/aws/sagemaker/Endpoints";
pub const INVOCATION_NAMESPACE: &str = "AWS/SageMaker";

/// Which variants an alarm applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    /// Instance-backed variants (host metrics exist).
    Instance,
    /// Instance-backed variants whose instance has GPUs.
    Gpu,
    /// Every variant, instance-backed or serverless.
    Every,
    /// Serverless variants only.
    Serverless,
}

/// How the threshold becomes the alarm's `Threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// As is.
    None,
    /// × vCPUs: the metric is summed over the instance's cores (0 … n × 100).
    Vcpus,
    /// × GPUs: summed over the instance's GPUs.
    Gpus,
}

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// One metric with a statistic (`Latency`: the configured latency statistic).
    Metric {
        namespace: &'static str,
        metric: &'static str,
        statistic: Stat,
    },
    /// 100 × Sum(errors) / Sum(Invocations) (metric math; 0 without invocations).
    RatePercent { errors: &'static str },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    Average,
    Sum,
    /// The latency statistic (default p90; `sagewatch:latency-<stat>-ms` overrides).
    Latency,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Definition {
    pub suffix: &'static str,
    /// The template's parameter name stem (`<stem>Threshold`, `<stem>Period`, …).
    pub template_stem: &'static str,
    pub what: &'static str,
    pub measure: Measure,
    pub applies: Applies,
    pub scale: Scale,
    pub threshold: f64,
    pub period: i32,
    pub evaluation_periods: i32,
    pub datapoints_to_alarm: i32,
    pub comparison: &'static str,
    pub treat_missing_data: &'static str,
    /// Off unless configured (the template's `EnableInvocationsLowAlarm`).
    pub optional: bool,
}

const GT: &str = "GreaterThanThreshold";
const LT: &str = "LessThanThreshold";

const fn host(metric: &'static str) -> Measure {
    Measure::Metric {
        namespace: HOST_NAMESPACE,
        metric,
        statistic: Stat::Average,
    }
}

const fn invocations(metric: &'static str, statistic: Stat) -> Measure {
    Measure::Metric {
        namespace: INVOCATION_NAMESPACE,
        metric,
        statistic,
    }
}

#[allow(clippy::too_many_arguments)]
const fn def(
    suffix: &'static str,
    template_stem: &'static str,
    what: &'static str,
    measure: Measure,
    applies: Applies,
    scale: Scale,
    threshold: f64,
    (period, evaluation_periods, datapoints_to_alarm): (i32, i32, i32),
    comparison: &'static str,
    treat_missing_data: &'static str,
) -> Definition {
    Definition {
        suffix,
        template_stem,
        what,
        measure,
        applies,
        scale,
        threshold,
        period,
        evaluation_periods,
        datapoints_to_alarm,
        comparison,
        treat_missing_data,
        optional: false,
    }
}

/// The alarms, with the template's defaults. Thresholds of scaled rows are percent of ONE
/// core/GPU (the template's parameter is the raw, already-scaled value).
#[rustfmt::skip]
pub const DEFINITIONS: &[Definition] = &[
    def("cpu", "CPUUtilization", "CPU utilization (%, summed over vCPUs)", host("CPUUtilization"),
        Applies::Instance, Scale::Vcpus, 80.0, (300, 3, 3), GT, "notBreaching"),
    def("memory", "MemoryUtilization", "memory utilization (%)", host("MemoryUtilization"),
        Applies::Instance, Scale::None, 80.0, (300, 3, 3), GT, "notBreaching"),
    def("disk", "DiskUtilization", "disk utilization (%)", host("DiskUtilization"),
        Applies::Instance, Scale::None, 80.0, (300, 1, 1), GT, "notBreaching"),
    def("gpu", "GPUUtilization", "GPU utilization (%, summed over GPUs)", host("GPUUtilization"),
        Applies::Gpu, Scale::Gpus, 80.0, (300, 3, 3), GT, "notBreaching"),
    def("gpu-memory", "GPUMemoryUtilization", "GPU memory utilization (%, summed over GPUs)",
        host("GPUMemoryUtilization"), Applies::Gpu, Scale::Gpus, 80.0, (300, 3, 3), GT,
        "notBreaching"),
    def("invocations-high", "InvocationsHigh", "too many invocations (requests per period)",
        invocations("Invocations", Stat::Sum), Applies::Every, Scale::None, 100000.0,
        (300, 1, 1), GT, "notBreaching"),
    Definition {
        optional: true,
        ..def("invocations-low", "InvocationsLow", "too few invocations (requests per period)",
            invocations("Invocations", Stat::Sum), Applies::Every, Scale::None, 1.0,
            (900, 4, 4), LT, "breaching")
    },
    def("4xx", "Invocation4XXErrors", "client error rate (% of invocations answered 4XX)",
        Measure::RatePercent { errors: "Invocation4XXErrors" }, Applies::Every, Scale::None,
        5.0, (300, 1, 1), GT, "notBreaching"),
    def("5xx", "Invocation5XXErrors", "model error rate (% of invocations answered 5XX)",
        Measure::RatePercent { errors: "Invocation5XXErrors" }, Applies::Every, Scale::None,
        1.0, (300, 1, 1), GT, "notBreaching"),
    def("invocations-per-instance", "InvocationsPerInstance",
        "load per instance (requests per instance per period)",
        invocations("InvocationsPerInstance", Stat::Sum), Applies::Instance, Scale::None,
        10000.0, (300, 3, 3), GT, "notBreaching"),
    def("model-latency", "ModelLatency", "model latency (microseconds)",
        invocations("ModelLatency", Stat::Latency), Applies::Every, Scale::None, 1_000_000.0,
        (300, 3, 3), GT, "notBreaching"),
    def("overhead-latency", "OverheadLatency", "SageMaker overhead latency (microseconds)",
        invocations("OverheadLatency", Stat::Latency), Applies::Every, Scale::None, 100_000.0,
        (300, 3, 3), GT, "notBreaching"),
    // Serverless only: cold starts (no such alarm in the instance template).
    def("model-setup-time", "ModelSetupTime", "serverless model setup time (microseconds)",
        invocations("ModelSetupTime", Stat::Latency), Applies::Serverless, Scale::None,
        30_000_000.0, (300, 1, 1), GT, "notBreaching"),
];

/// What the function knows of one production variant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Variant {
    pub name: String,
    /// `None` for serverless variants.
    pub instance_type: Option<String>,
    pub instance_count: i32,
    pub serverless: bool,
}

/// A metric in an alarm (single metric or one query of metric math).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricRef {
    pub namespace: String,
    pub metric: String,
    pub dimensions: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Statistic {
    Simple(String),
    /// A percentile such as `p90`.
    Extended(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum AlarmMetric {
    Single {
        metric: MetricRef,
        statistic: Statistic,
    },
    /// `e1 = IF(m2 > 0, 100 * m1 / m2, 0)` with m1 the errors and m2 Invocations, both Sum.
    Rate {
        errors: MetricRef,
        invocations: MetricRef,
    },
}

/// One concrete alarm, exactly what PutMetricAlarm receives.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alarm {
    pub name: String,
    pub description: String,
    pub metric: AlarmMetric,
    pub period: i32,
    pub evaluation_periods: i32,
    pub datapoints_to_alarm: i32,
    pub threshold: f64,
    pub comparison: String,
    pub treat_missing_data: String,
}

impl Alarm {
    /// The same alarm with dimensions in one order (CloudWatch may answer in another).
    pub fn normalized(mut self) -> Alarm {
        let sort = |m: &mut MetricRef| m.dimensions.sort();
        match &mut self.metric {
            AlarmMetric::Single { metric, .. } => sort(metric),
            AlarmMetric::Rate {
                errors,
                invocations,
            } => {
                sort(errors);
                sort(invocations);
            }
        }
        self
    }
}

/// The expression of a rate alarm (also what the template's alarm says).
pub const RATE_EXPRESSION: &str = "IF(m2 > 0, 100 * m1 / m2, 0)";

/// `<prefix><endpoint>-`: every alarm of the endpoint starts with it.
pub fn endpoint_prefix(prefix: &str, endpoint: &str) -> String {
    format!("{prefix}{endpoint}-")
}

pub fn alarm_name(prefix: &str, endpoint: &str, variant: &str, suffix: &str) -> String {
    format!("{prefix}{endpoint}-{variant}-{suffix}")
}

/// A variant's alarms that were left out, and why (reported, never guessed around).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub variant: String,
    pub suffix: &'static str,
    pub reason: String,
}

/// The variant's alarms. `spec` is the instance's vCPU/GPU counts (`None`: unknown type, so
/// the scaled alarms are skipped rather than given a made-up threshold).
pub fn alarms_for(
    prefix: &str,
    endpoint: &str,
    variant: &Variant,
    spec: Option<InstanceSpec>,
    overrides: &Overrides,
    include_optional: bool,
) -> (Vec<Alarm>, Vec<Skipped>) {
    let mut alarms = Vec::new();
    let mut skipped = Vec::new();
    let dims = vec![
        ("EndpointName".to_owned(), endpoint.to_owned()),
        ("VariantName".to_owned(), variant.name.clone()),
    ];
    for d in DEFINITIONS {
        let applies = match d.applies {
            Applies::Every => true,
            Applies::Instance => !variant.serverless,
            Applies::Serverless => variant.serverless,
            Applies::Gpu => !variant.serverless && spec.is_some_and(|s| s.gpus > 0),
        };
        if !applies || (d.optional && !include_optional) {
            continue;
        }
        let factor = match (d.scale, spec) {
            (Scale::None, _) => Some(1.0),
            (Scale::Vcpus, Some(s)) => Some(f64::from(s.vcpus)),
            (Scale::Gpus, Some(s)) => Some(f64::from(s.gpus)),
            (_, None) => None,
        };
        let Some(factor) = factor else {
            skipped.push(Skipped {
                variant: variant.name.clone(),
                suffix: d.suffix,
                reason: format!(
                    "instance type {} is not in the instance table: its core count is unknown",
                    variant.instance_type.as_deref().unwrap_or("(none)")
                ),
            });
            continue;
        };
        let mut threshold = d.threshold * factor;
        let metric = match d.measure {
            Measure::Metric {
                namespace,
                metric,
                statistic,
            } => {
                let statistic = match statistic {
                    Stat::Average => Statistic::Simple("Average".into()),
                    Stat::Sum => Statistic::Simple("Sum".into()),
                    Stat::Latency => {
                        if metric == "ModelLatency" {
                            if let Some(us) = overrides.latency_threshold_us {
                                threshold = us;
                            }
                        }
                        latency_statistic(&overrides.latency_statistic)
                    }
                };
                AlarmMetric::Single {
                    metric: MetricRef {
                        namespace: namespace.into(),
                        metric: metric.into(),
                        dimensions: dims.clone(),
                    },
                    statistic,
                }
            }
            Measure::RatePercent { errors } => AlarmMetric::Rate {
                errors: MetricRef {
                    namespace: INVOCATION_NAMESPACE.into(),
                    metric: errors.into(),
                    dimensions: dims.clone(),
                },
                invocations: MetricRef {
                    namespace: INVOCATION_NAMESPACE.into(),
                    metric: "Invocations".into(),
                    dimensions: dims.clone(),
                },
            },
        };
        let cmp = if d.comparison == GT { ">" } else { "<" };
        alarms.push(Alarm {
            name: alarm_name(prefix, endpoint, &variant.name, d.suffix),
            description: format!(
                "{endpoint}/{}: {} {cmp} {threshold} in {} of {} periods of {} s. Managed by sagewatch endpoint-guard.",
                variant.name, d.what, d.datapoints_to_alarm, d.evaluation_periods, d.period
            ),
            metric,
            period: d.period,
            evaluation_periods: d.evaluation_periods,
            datapoints_to_alarm: d.datapoints_to_alarm,
            threshold,
            comparison: d.comparison.into(),
            treat_missing_data: d.treat_missing_data.into(),
        });
    }
    (alarms, skipped)
}

/// `p90` and other percentiles are extended statistics; `Average`/`Maximum` are simple.
fn latency_statistic(stat: &str) -> Statistic {
    if stat.starts_with('p') {
        Statistic::Extended(stat.to_owned())
    } else {
        Statistic::Simple(stat.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sagewatch::instance_types::lookup;

    fn variant(name: &str, ty: Option<&str>) -> Variant {
        Variant {
            name: name.into(),
            instance_type: ty.map(str::to_owned),
            instance_count: 1,
            serverless: ty.is_none(),
        }
    }

    fn suffixes(alarms: &[Alarm]) -> Vec<&str> {
        alarms
            .iter()
            .map(|a| a.name.rsplit_once("-v-").map_or("", |(_, s)| s))
            .collect()
    }

    #[test]
    fn cpu_and_gpu_thresholds_scale_with_the_instance() {
        let o = Overrides::default();
        let g = variant("v", Some("ml.g5.12xlarge"));
        let (alarms, skipped) = alarms_for("p-", "e", &g, lookup("ml.g5.12xlarge"), &o, false);
        assert!(skipped.is_empty());
        let spec = lookup("ml.g5.12xlarge").unwrap();
        let by = |s: &str| {
            alarms
                .iter()
                .find(|a| a.name == format!("p-e-v-{s}"))
                .unwrap()
        };
        assert_eq!(by("cpu").threshold, 80.0 * f64::from(spec.vcpus));
        assert_eq!(by("gpu").threshold, 80.0 * f64::from(spec.gpus));
        assert_eq!(by("memory").threshold, 80.0);
        let c = variant("v", Some("ml.m5.xlarge"));
        let (cpu_only, _) = alarms_for("p-", "e", &c, lookup("ml.m5.xlarge"), &o, false);
        assert!(!suffixes(&cpu_only).contains(&"gpu"));
        assert_eq!(suffixes(&alarms).len(), suffixes(&cpu_only).len() + 2);
    }

    #[test]
    fn serverless_gets_no_host_alarms_and_unknown_types_no_scaled_ones() {
        let o = Overrides::default();
        let (s, _) = alarms_for("p-", "e", &variant("v", None), None, &o, false);
        let names = suffixes(&s);
        assert!(names.contains(&"model-setup-time"), "{names:?}");
        assert!(!names.contains(&"cpu") && !names.contains(&"invocations-per-instance"));
        let (u, skipped) = alarms_for(
            "p-",
            "e",
            &variant("v", Some("ml.zz.huge")),
            None,
            &o,
            false,
        );
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert_eq!(skipped[0].suffix, "cpu");
        assert!(suffixes(&u).contains(&"memory"));
    }

    #[test]
    fn the_latency_override_sets_statistic_and_threshold() {
        let o = Overrides {
            latency_statistic: "p99".into(),
            latency_threshold_us: Some(800_000.0),
            ..Overrides::default()
        };
        let (a, _) = alarms_for(
            "p-",
            "e",
            &variant("v", Some("ml.m5.large")),
            lookup("ml.m5.large"),
            &o,
            false,
        );
        let m = a
            .iter()
            .find(|a| a.name.ends_with("-model-latency"))
            .unwrap();
        assert_eq!(m.threshold, 800_000.0);
        match &m.metric {
            AlarmMetric::Single { statistic, .. } => {
                assert_eq!(statistic, &Statistic::Extended("p99".into()))
            }
            other => panic!("{other:?}"),
        }
    }
}
