//! Guard alarms (issue #17): the CloudWatch alarms that follow an opted-in training job, as
//! data. [`RULES`] is the table (rule → alarm shape, defaults beside SageMaker Debugger's),
//! [`alarms_for`] turns it into the exact PutMetricAlarm inputs for one job. Pure: the handler
//! puts and deletes, `tests/template.rs` compares the overfit and loss-not-decreasing rows with
//! `infra/overfit-alarm.yaml`.
//!
//! Names: `<prefix><job>-<rule key>` (prefix `sagewatch-guard-`, at most 64 characters; job
//! names at most 63: always within CloudWatch's 255). Every alarm is metric math, so one shape
//! is written and read back.

use crate::resolve::TRAINING_NAMESPACE;
use chrono::{DateTime, Utc};
use regex::Regex;
use sagewatch::instance_types::lookup;
use sagewatch::status::Status;
use serde::Serialize;
use std::collections::BTreeMap;

/// The rules, in table order.
/// Serialized as its tag key (`overfit`, `loss-not-decreasing`, `stall`, `low-gpu`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    Overfit,
    LossNotDecreasing,
    Stalled,
    LowGpu,
}

/// What a rule needs from the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// A training-loss metric definition.
    TrainLoss,
    /// Training and validation loss metric definitions.
    TrainAndValidationLoss,
    /// A GPU instance type (host metrics `GPUUtilization` per `Host=<job>/algo-<i>`).
    Gpu,
}

/// One row: a rule and the alarm it becomes. `value` is the rule's one tunable number (the
/// ratio, the minimum fall, the minutes, the percent), set per job by the guard tag.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RuleDef {
    pub rule: Rule,
    /// In the guard tag, the alarm name and the `sagewatch:stop-rule` tag.
    pub key: &'static str,
    /// Other spellings accepted in the guard tag.
    pub aliases: &'static [&'static str],
    pub what: &'static str,
    /// The SageMaker Debugger rule it stands in for, and that rule's defaults.
    pub debugger: &'static str,
    pub value: f64,
    pub value_means: &'static str,
    pub needs: Needs,
    pub comparison: &'static str,
    pub treat_missing_data: &'static str,
    pub statistic: &'static str,
    /// Put only once the job has trained for the warm-up: before its first logged loss (data
    /// download, container start) a stall or an idle GPU means nothing.
    pub after_warmup: bool,
}

pub const GT: &str = "GreaterThanThreshold";
pub const GE: &str = "GreaterThanOrEqualToThreshold";
pub const LT: &str = "LessThanThreshold";

#[rustfmt::skip]
pub const RULES: &[RuleDef] = &[
    RuleDef {
        rule: Rule::Overfit, key: "overfit", aliases: &[],
        what: "validation loss exceeds training loss by more than the ratio of the training loss",
        debugger: "Overfit (ratio_threshold 0.1, patience 1 step)",
        value: 0.1, value_means: "ratio", needs: Needs::TrainAndValidationLoss,
        comparison: GT, treat_missing_data: "notBreaching", statistic: "Average",
        after_warmup: false,
    },
    RuleDef {
        rule: Rule::LossNotDecreasing, key: "loss-not-decreasing", aliases: &["loss"],
        what: "training loss fell by no more than the minimum per period",
        debugger: "LossNotDecreasing (num_steps 10, diff_percent 0.1)",
        value: 0.0, value_means: "minimum fall per period", needs: Needs::TrainLoss,
        comparison: GE, treat_missing_data: "notBreaching", statistic: "Average",
        after_warmup: false,
    },
    RuleDef {
        rule: Rule::Stalled, key: "stall", aliases: &["stalled", "stalled-training"],
        what: "no new training-loss datapoint",
        debugger: "StalledTrainingRule (threshold 1800 s)",
        value: 30.0, value_means: "minutes without a datapoint", needs: Needs::TrainLoss,
        comparison: LT, treat_missing_data: "breaching", statistic: "SampleCount",
        after_warmup: true,
    },
    RuleDef {
        rule: Rule::LowGpu, key: "low-gpu", aliases: &["lowgpu", "low-gpu-utilization"],
        what: "GPU utilization of every host below the percent (per GPU)",
        debugger: "LowGPUUtilization (threshold_p95 70, threshold_p5 10)",
        value: 10.0, value_means: "percent per GPU", needs: Needs::Gpu,
        comparison: LT, treat_missing_data: "notBreaching", statistic: "Average",
        after_warmup: true,
    },
];

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.key())
    }
}

impl Rule {
    pub fn def(self) -> &'static RuleDef {
        // Every variant has its row (tested).
        RULES.iter().find(|d| d.rule == self).unwrap_or(&RULES[0])
    }

    pub fn key(self) -> &'static str {
        self.def().key
    }

    pub fn parse(raw: &str) -> Option<Rule> {
        let raw = raw.trim().to_ascii_lowercase();
        RULES
            .iter()
            .find(|d| d.key == raw || d.aliases.contains(&raw.as_str()))
            .map(|d| d.rule)
    }
}

/// The metric-math expressions (also what `infra/overfit-alarm.yaml` says).
pub const OVERFIT_EXPRESSION: &str = "(m_val - m_train) / m_train";
/// `+ <min delta>` is appended: RATE × PERIOD is the change per period, also across periods
/// without a datapoint (see `infra/overfit-alarm.yaml`).
pub const LOSS_CHANGE_EXPRESSION: &str = "RATE(m_train) * PERIOD(m_train)";

/// Settings of the guard (the function's configuration; see `Config::from_env`).
#[derive(Debug, Clone)]
pub struct GuardSettings {
    /// Every alarm the function owns starts with it (IAM allows writes under it only).
    pub prefix: String,
    /// `sagewatch:guard`: its value names the rules (`overfit stall=45 low-gpu=15`).
    pub guard_tag: String,
    /// Rules for a job opted in by the auto-stop tag alone.
    pub default_rules: Vec<Rule>,
    /// Per-rule values overriding the table's defaults.
    pub values: BTreeMap<Rule, f64>,
    /// Metric-definition names of the training and validation loss.
    pub train_pattern: Regex,
    pub validation_pattern: Regex,
    /// Seconds per evaluation period (training metrics: 60).
    pub period: i32,
    /// Datapoints in a row for overfit and loss-not-decreasing (the template's 3 of 3).
    pub patience: i32,
    /// Periods of low GPU utilization before the alarm.
    pub low_gpu_periods: i32,
    /// Training time before the after-warm-up rules are put.
    pub warmup_seconds: i64,
}

impl Default for GuardSettings {
    fn default() -> Self {
        GuardSettings {
            prefix: "sagewatch-guard-".into(),
            guard_tag: "sagewatch:guard".into(),
            default_rules: vec![Rule::Overfit, Rule::Stalled, Rule::LowGpu],
            values: BTreeMap::new(),
            // Constants (a unit test compiles them): not an input path.
            train_pattern: Regex::new(DEFAULT_TRAIN_PATTERN).expect("constant pattern"),
            validation_pattern: Regex::new(DEFAULT_VALIDATION_PATTERN).expect("constant pattern"),
            period: 60,
            patience: 3,
            low_gpu_periods: 15,
            warmup_seconds: 900,
        }
    }
}

pub const DEFAULT_TRAIN_PATTERN: &str = "(?i)train.*loss";
pub const DEFAULT_VALIDATION_PATTERN: &str = "(?i)(val|valid|validation|eval|test).*loss";

/// What the guard knows of the job (DescribeTrainingJob).
#[derive(Debug, Clone, PartialEq)]
pub struct JobFacts {
    pub name: String,
    pub arn: Option<String>,
    pub status: Status,
    pub secondary_status: Option<Status>,
    pub training_start_time: Option<DateTime<Utc>>,
    /// `AlgorithmSpecification.MetricDefinitions[].Name`.
    pub metric_names: Vec<String>,
    pub instance_type: Option<String>,
    pub instance_count: u32,
    /// Heterogeneous cluster (instance groups): hosts differ, no per-host GPU count.
    pub instance_groups: bool,
}

/// A job's rules and values, and what in the tag was not understood.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Selection {
    pub rules: Vec<(Rule, f64)>,
    pub ignored: Vec<String>,
    /// `guard-tag` or `opt-in-tag`.
    pub source: &'static str,
}

impl Selection {
    /// The rules as the `sagewatch:guard-rules` alarm tag keeps them (`overfit=0.1 stall=30`):
    /// the sweep reads them back to put the after-warm-up alarms.
    pub fn tag_value(&self) -> String {
        self.rules
            .iter()
            .map(|(r, v)| format!("{}={v}", r.key()))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Which rules a job asked for: the guard tag (its value names rules, empty means the
/// defaults), else the auto-stop opt-in tag (the defaults), else none.
pub fn selection(
    settings: &GuardSettings,
    tags: &BTreeMap<String, String>,
    opt_in: Option<&(String, String)>,
) -> Option<Selection> {
    if let Some(raw) = tags.get(&settings.guard_tag) {
        let (mut rules, ignored) = parse_rules(raw, settings);
        if rules.is_empty() && ignored.is_empty() {
            rules = defaults(settings);
        }
        return Some(Selection {
            rules,
            ignored,
            source: "guard-tag",
        });
    }
    let (key, value) = opt_in?;
    let opted_in = tags
        .get(key)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(value));
    opted_in.then(|| Selection {
        rules: defaults(settings),
        ignored: Vec::new(),
        source: "opt-in-tag",
    })
}

fn defaults(settings: &GuardSettings) -> Vec<(Rule, f64)> {
    settings
        .default_rules
        .iter()
        .map(|r| (*r, value_of(settings, *r)))
        .collect()
}

pub fn value_of(settings: &GuardSettings, rule: Rule) -> f64 {
    settings
        .values
        .get(&rule)
        .copied()
        .unwrap_or(rule.def().value)
}

/// The longest stall CloudWatch can evaluate at 1-minute periods (EvaluationPeriods ×
/// Period ≤ one day).
const MAX_STALL_MINUTES: f64 = 1440.0;

/// Checks one rule's value: finite, not negative, a ratio or percent in range.
pub fn check_value(rule: Rule, value: f64) -> Result<f64, String> {
    let ok = value.is_finite()
        && value >= 0.0
        && match rule {
            Rule::Overfit | Rule::LossNotDecreasing => true,
            Rule::Stalled => (1.0..=MAX_STALL_MINUTES).contains(&value),
            Rule::LowGpu => value <= 100.0,
        };
    ok.then_some(value).ok_or_else(|| {
        format!(
            "{}={value}: not a valid {}",
            rule.key(),
            rule.def().value_means
        )
    })
}

/// `overfit stall=45 low-gpu:15` (SageMaker tag values allow no commas, so spaces, `+` and
/// `/` separate too; commas are accepted from other sources). Unknown rules and bad values are
/// returned to be reported, never guessed around; a rule named twice keeps its last value.
pub fn parse_rules(raw: &str, settings: &GuardSettings) -> (Vec<(Rule, f64)>, Vec<String>) {
    let mut rules: Vec<(Rule, f64)> = Vec::new();
    let mut ignored = Vec::new();
    for token in raw
        .split([' ', ',', '+', '/', ';'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        let (name, value) = match token.split_once(['=', ':']) {
            Some((n, v)) => (n, Some(v)),
            None => (token, None),
        };
        let Some(rule) = Rule::parse(name) else {
            ignored.push(format!("{token}: no such rule"));
            continue;
        };
        let value = match value.map(|v| v.trim().parse::<f64>()) {
            None => Ok(value_of(settings, rule)),
            Some(Ok(v)) => check_value(rule, v),
            Some(Err(_)) => Err(format!("{token}: not a number")),
        };
        match value {
            Ok(v) => {
                rules.retain(|(r, _)| *r != rule);
                rules.push((rule, v));
            }
            Err(e) => ignored.push(e),
        }
    }
    rules.sort_by_key(|(r, _)| *r);
    (rules, ignored)
}

/// A metric of an alarm query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricRef {
    pub namespace: String,
    pub metric: String,
    pub dimensions: Vec<(String, String)>,
}

/// One entry of the alarm's `Metrics`: a MetricStat or an expression.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Query {
    pub id: String,
    pub metric: Option<MetricRef>,
    pub stat: Option<String>,
    pub expression: Option<String>,
    pub label: Option<String>,
    pub return_data: bool,
}

/// One alarm, exactly what PutMetricAlarm receives (besides actions and tags).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuardAlarm {
    pub name: String,
    pub rule: Rule,
    pub job: String,
    pub description: String,
    pub queries: Vec<Query>,
    pub period: i32,
    pub evaluation_periods: i32,
    pub datapoints_to_alarm: i32,
    pub threshold: f64,
    pub comparison: &'static str,
    pub treat_missing_data: &'static str,
}

/// A rule the job asked for that got no alarm, and why (reported).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub rule: Rule,
    pub reason: String,
}

pub fn alarm_name(prefix: &str, job: &str, rule: Rule) -> String {
    format!("{prefix}{job}-{}", rule.key())
}

/// `<prefix><job>-<rule>` → (job, rule); anything else is not a guard alarm.
pub fn parse_alarm_name(prefix: &str, name: &str) -> Option<(String, Rule)> {
    let rest = name.strip_prefix(prefix)?;
    RULES.iter().find_map(|d| {
        let job = rest.strip_suffix(d.key)?.strip_suffix('-')?;
        (!job.is_empty()).then(|| (job.to_owned(), d.rule))
    })
}

/// The rule an alarm that fired stands for: a guard alarm's name, or a per-job stack alarm
/// of `infra/overfit-alarm.yaml` (`<prefix>overfit-<job>`, `<prefix>loss-not-decreasing-<job>`).
pub fn rule_of_alarm(prefix: &str, alarm: &str, job: &str) -> Option<Rule> {
    if let Some((j, rule)) = parse_alarm_name(prefix, alarm) {
        return (j == job).then_some(rule);
    }
    [Rule::Overfit, Rule::LossNotDecreasing]
        .into_iter()
        .find(|r| alarm.ends_with(&format!("{}-{job}", r.key())))
}

fn train_metric<'a>(settings: &GuardSettings, names: &'a [String]) -> Option<&'a String> {
    names
        .iter()
        .find(|n| settings.train_pattern.is_match(n) && !settings.validation_pattern.is_match(n))
}

fn validation_metric<'a>(settings: &GuardSettings, names: &'a [String]) -> Option<&'a String> {
    names
        .iter()
        .find(|n| settings.validation_pattern.is_match(n))
}

/// At most 10 entries in an alarm's Metrics: 9 hosts and the expression.
pub const MAX_LOW_GPU_HOSTS: u32 = 9;

/// A number as CloudWatch math writes it (`0.1`, `0`, `-0.05`).
fn number(v: f64) -> String {
    format!("{v}")
}

/// The job's alarms for the selected rules. `now` decides the after-warm-up rules (put once
/// the job has trained `warmup_seconds` since TrainingStartTime).
pub fn alarms_for(
    settings: &GuardSettings,
    job: &JobFacts,
    selected: &[(Rule, f64)],
    now: DateTime<Utc>,
) -> (Vec<GuardAlarm>, Vec<Skipped>) {
    let mut alarms = Vec::new();
    let mut skipped = Vec::new();
    let by_job = vec![("TrainingJobName".to_owned(), job.name.clone())];
    let stat = |id: &str, metric: &str, statistic: &str, dims: Vec<(String, String)>| Query {
        id: id.to_owned(),
        metric: Some(MetricRef {
            namespace: TRAINING_NAMESPACE.to_owned(),
            metric: metric.to_owned(),
            dimensions: dims,
        }),
        stat: Some(statistic.to_owned()),
        expression: None,
        label: None,
        return_data: false,
    };
    let expression = |id: &str, expr: String, label: &str| Query {
        id: id.to_owned(),
        metric: None,
        stat: None,
        expression: Some(expr),
        label: Some(label.to_owned()),
        return_data: true,
    };
    let warmed_up = job
        .training_start_time
        .is_some_and(|t| (now - t).num_seconds() >= settings.warmup_seconds);
    let train = train_metric(settings, &job.metric_names);
    let validation = validation_metric(settings, &job.metric_names);
    for &(rule, value) in selected {
        let d = rule.def();
        let mut skip = |reason: String| skipped.push(Skipped { rule, reason });
        if d.after_warmup && !warmed_up {
            skip(format!(
                "put once the job has trained {} s (the sweep puts it)",
                settings.warmup_seconds
            ));
            continue;
        }
        let (queries, threshold, periods, datapoints, detail) = match (d.needs, train, validation) {
            (Needs::TrainAndValidationLoss, Some(t), Some(v)) => (
                vec![
                    stat("m_train", t, d.statistic, by_job.clone()),
                    stat("m_val", v, d.statistic, by_job.clone()),
                    expression(
                        "overfit_ratio",
                        OVERFIT_EXPRESSION.to_owned(),
                        "(validation - train) / train",
                    ),
                ],
                value,
                settings.patience,
                settings.patience,
                format!("{v} vs {t}: ratio > {value}"),
            ),
            (Needs::TrainLoss, Some(t), _) if rule == Rule::LossNotDecreasing => (
                vec![
                    stat("m_train", t, d.statistic, by_job.clone()),
                    expression(
                        "loss_change",
                        format!("{LOSS_CHANGE_EXPRESSION} + {}", number(value)),
                        "training-loss change per period + minimum fall",
                    ),
                ],
                0.0,
                settings.patience,
                settings.patience,
                format!("{t} fell by no more than {value} per period"),
            ),
            (Needs::TrainLoss, Some(t), _) => {
                // Whole periods covering the minutes (at least one).
                let minutes = value.max(1.0);
                let periods = ((minutes * 60.0) / f64::from(settings.period)).ceil();
                let periods = periods.clamp(1.0, f64::from(i32::MAX)) as i32;
                let mut count = stat("m_train", t, d.statistic, by_job.clone());
                count.return_data = true;
                count.label = Some("training-loss datapoints per period".into());
                (
                    vec![count],
                    1.0,
                    periods,
                    periods,
                    format!("no {t} datapoint for {minutes} min"),
                )
            }
            (Needs::Gpu, _, _) => match gpu_hosts(job) {
                Err(reason) => {
                    skip(reason);
                    continue;
                }
                Ok((hosts, gpus)) => {
                    let mut queries: Vec<Query> = (1..=hosts)
                        .map(|i| {
                            stat(
                                &format!("gpu{i}"),
                                "GPUUtilization",
                                d.statistic,
                                vec![("Host".to_owned(), format!("{}/algo-{i}", job.name))],
                            )
                        })
                        .collect();
                    let ids: Vec<String> = queries.iter().map(|q| q.id.clone()).collect();
                    queries.push(expression(
                        "busiest_gpu",
                        format!("MAX([{}]) / {gpus}", ids.join(", ")),
                        "GPU utilization of the busiest host, per GPU (%)",
                    ));
                    (
                        queries,
                        value,
                        settings.low_gpu_periods,
                        settings.low_gpu_periods,
                        format!("every host's GPUs below {value} % ({hosts} hosts x {gpus} GPUs)"),
                    )
                }
            },
            (Needs::TrainAndValidationLoss, None, _) | (Needs::TrainLoss, None, _) => {
                skip(format!(
                    "no metric definition matches the training loss ({})",
                    settings.train_pattern.as_str()
                ));
                continue;
            }
            (Needs::TrainAndValidationLoss, Some(_), None) => {
                skip(format!(
                    "no metric definition matches the validation loss ({})",
                    settings.validation_pattern.as_str()
                ));
                continue;
            }
        };
        alarms.push(GuardAlarm {
            name: alarm_name(&settings.prefix, &job.name, rule),
            rule,
            job: job.name.clone(),
            description: format!(
                "{}: {} ({detail}) in {datapoints} of {periods} periods of {} s. Managed by sagewatch overfit-guard (stands in for Debugger's {}).",
                job.name, d.what, settings.period, d.debugger
            ),
            queries,
            period: settings.period,
            evaluation_periods: periods,
            datapoints_to_alarm: datapoints,
            threshold,
            comparison: d.comparison,
            treat_missing_data: d.treat_missing_data,
        });
    }
    (alarms, skipped)
}

/// Hosts and GPUs per host of a GPU job, or why it gets no low-GPU alarm.
fn gpu_hosts(job: &JobFacts) -> Result<(u32, u32), String> {
    if job.instance_groups {
        return Err("heterogeneous cluster: hosts differ in GPU count".into());
    }
    let ty = job.instance_type.as_deref().unwrap_or("(none)");
    let spec = lookup(ty).ok_or_else(|| format!("instance type {ty} is not in the table"))?;
    if spec.gpus == 0 {
        return Err(format!("{ty} has no GPU"));
    }
    let hosts = job.instance_count.max(1);
    if hosts > MAX_LOW_GPU_HOSTS {
        return Err(format!(
            "{hosts} hosts: an alarm watches at most {MAX_LOW_GPU_HOSTS}"
        ));
    }
    Ok((hosts, spec.gpus))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn job(ty: &str, count: u32, metrics: &[&str], trained_s: i64) -> JobFacts {
        JobFacts {
            name: "j".into(),
            arn: None,
            status: Status::new("InProgress"),
            secondary_status: None,
            training_start_time: Some(Utc::now() - Duration::seconds(trained_s)),
            metric_names: metrics.iter().map(|m| (*m).to_owned()).collect(),
            instance_type: Some(ty.into()),
            instance_count: count,
            instance_groups: false,
        }
    }

    const ALL: &[(Rule, f64)] = &[
        (Rule::Overfit, 0.1),
        (Rule::LossNotDecreasing, 0.0),
        (Rule::Stalled, 30.0),
        (Rule::LowGpu, 10.0),
    ];

    #[test]
    fn every_rule_has_a_row_and_the_patterns_compile() {
        for r in [
            Rule::Overfit,
            Rule::LossNotDecreasing,
            Rule::Stalled,
            Rule::LowGpu,
        ] {
            assert_eq!(r.def().rule, r);
            assert_eq!(Rule::parse(r.key()), Some(r));
        }
        assert!(Regex::new(DEFAULT_TRAIN_PATTERN).is_ok());
        assert!(Regex::new(DEFAULT_VALIDATION_PATTERN).is_ok());
    }

    #[test]
    fn a_two_host_gpu_job_gets_every_alarm_after_warm_up() {
        let s = GuardSettings::default();
        let j = job(
            "ml.g5.12xlarge",
            2,
            &["train:loss", "validation:loss", "epoch"],
            3600,
        );
        let (alarms, skipped) = alarms_for(&s, &j, ALL, Utc::now());
        assert!(skipped.is_empty(), "{skipped:?}");
        let names: Vec<&str> = alarms.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "sagewatch-guard-j-overfit",
                "sagewatch-guard-j-loss-not-decreasing",
                "sagewatch-guard-j-stall",
                "sagewatch-guard-j-low-gpu"
            ]
        );
        let overfit = &alarms[0];
        assert_eq!(
            overfit.queries[2].expression.as_deref(),
            Some(OVERFIT_EXPRESSION)
        );
        let m = |q: &Query| q.metric.as_ref().unwrap().metric.clone();
        assert_eq!(m(&overfit.queries[0]), "train:loss");
        assert_eq!(m(&overfit.queries[1]), "validation:loss");
        let gpu = &alarms[3];
        assert_eq!(
            gpu.queries[2].expression.as_deref(),
            Some("MAX([gpu1, gpu2]) / 4")
        );
        assert_eq!(
            gpu.queries[1].metric.as_ref().unwrap().dimensions,
            [("Host".to_owned(), "j/algo-2".to_owned())]
        );
        let stall = &alarms[2];
        assert_eq!((stall.evaluation_periods, stall.threshold), (30, 1.0));
        assert_eq!(stall.treat_missing_data, "breaching");
        assert!(alarms.iter().all(|a| a.name.len() <= 255));
    }

    #[test]
    fn cpu_jobs_young_jobs_and_jobs_without_metrics_are_told_why() {
        let s = GuardSettings::default();
        let (a, skipped) = alarms_for(
            &s,
            &job("ml.m5.xlarge", 1, &["train:loss", "val:loss"], 3600),
            ALL,
            Utc::now(),
        );
        assert_eq!(a.len(), 3);
        assert_eq!(skipped[0].rule, Rule::LowGpu);
        let (a, skipped) = alarms_for(
            &s,
            &job("ml.g5.xlarge", 1, &["train:loss", "val:loss"], 60),
            ALL,
            Utc::now(),
        );
        assert_eq!(a.len(), 2, "stall and low-gpu wait for the warm-up");
        assert_eq!(skipped.len(), 2);
        let (a, skipped) = alarms_for(&s, &job("ml.g5.xlarge", 1, &[], 3600), ALL, Utc::now());
        assert_eq!(a.len(), 1, "only low-gpu without metric definitions");
        assert_eq!(skipped.len(), 3);
    }

    #[test]
    fn tag_values_name_rules_and_values() {
        let s = GuardSettings::default();
        let (rules, ignored) = parse_rules("overfit=0.2 stall:45 low-gpu bogus stall=x", &s);
        assert_eq!(
            rules,
            [
                (Rule::Overfit, 0.2),
                (Rule::Stalled, 45.0),
                (Rule::LowGpu, 10.0)
            ]
        );
        assert_eq!(ignored.len(), 2, "{ignored:?}");
        let (rules, _) = parse_rules("overfit,stall,low-gpu", &s);
        assert_eq!(rules.len(), 3);
        let (_, ignored) = parse_rules("low-gpu=150 stall=0 overfit=-1", &s);
        assert_eq!(ignored.len(), 3);
        let tags = |k: &str, v: &str| BTreeMap::from([(k.to_owned(), v.to_owned())]);
        let opt_in = ("sagewatch:auto-stop".to_owned(), "true".to_owned());
        let sel = selection(&s, &tags("sagewatch:guard", ""), Some(&opt_in)).unwrap();
        assert_eq!(sel.rules.len(), 3, "an empty guard tag means the defaults");
        let sel = selection(&s, &tags("sagewatch:auto-stop", "TRUE"), Some(&opt_in)).unwrap();
        assert_eq!(sel.source, "opt-in-tag");
        assert!(selection(&s, &tags("team", "x"), Some(&opt_in)).is_none());
        assert!(selection(&s, &tags("sagewatch:auto-stop", "false"), Some(&opt_in)).is_none());
    }

    #[test]
    fn names_parse_back_exactly() {
        let p = "sagewatch-guard-";
        assert_eq!(
            parse_alarm_name(p, "sagewatch-guard-a-overfit-stall"),
            Some(("a-overfit".into(), Rule::Stalled))
        );
        assert_eq!(
            parse_alarm_name(p, "sagewatch-guard-a-loss-not-decreasing"),
            Some(("a".into(), Rule::LossNotDecreasing))
        );
        assert_eq!(parse_alarm_name(p, "sagewatch-guard--overfit"), None);
        assert_eq!(parse_alarm_name(p, "sagewatch-guard-a-cpu"), None);
        assert_eq!(parse_alarm_name(p, "mine-a-overfit"), None);
        assert_eq!(
            rule_of_alarm(p, "sagewatch-overfit-train-1", "train-1"),
            Some(Rule::Overfit)
        );
        assert_eq!(rule_of_alarm(p, "sagewatch-guard-x-stall", "train-1"), None);
    }
}
