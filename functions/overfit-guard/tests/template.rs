//! The guard's rule table and `infra/overfit-alarm.yaml` (the per-job stack for teams that
//! want one) define the same overfit and loss-not-decreasing alarms: the alarms the function
//! puts for a job are compared, query by query, with the template's at its defaults
//! (metrics, namespace, dimension, statistic, period, expression, threshold, operator,
//! datapoints, missing data). A change to one without the other fails here.

use chrono::{Duration, Utc};
use overfit_guard::guard_alarms::{alarms_for, GuardAlarm, GuardSettings, JobFacts, Rule};
use sagewatch::status::Status;
use sagewatch_emulator::template::to_json;
use serde_json::{json, Value};
use yaml_serde::Value as Yaml;

fn template() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../infra/overfit-alarm.yaml"
    );
    let text = std::fs::read_to_string(path).expect("template");
    to_json(&yaml_serde::from_str::<Yaml>(&text).expect("YAML"))
}

/// The job the function's alarms are made for; the template's TrainingJobName has no
/// default, so a `!Ref` to it stands for this job.
const JOB: &str = "my-training-job";

/// A parameter's default as text (numbers and strings alike); TrainingJobName is [`JOB`].
fn default_of(t: &Value, name: &str) -> Option<String> {
    if name == "TrainingJobName" {
        return Some(JOB.to_owned());
    }
    match &t["Parameters"][name]["Default"] {
        Value::String(s) => Some(s.clone()),
        // As CloudWatch math (and the function) writes numbers: 0, 0.1, 60.
        Value::Number(n) => n.as_f64().map(|v| format!("{v}")),
        _ => None,
    }
}

fn default(t: &Value, name: &str) -> String {
    default_of(t, name).unwrap_or_else(|| panic!("{name}: no default"))
}

/// A property that is a `!Ref` to a parameter, resolved to the parameter's default; a
/// `!Sub` with parameters, substituted; anything else as it is.
fn resolve(t: &Value, v: &Value) -> Value {
    if let Some(name) = v.get("Ref").and_then(Value::as_str) {
        return json!(default(t, name));
    }
    if let Some(text) = v.get("Fn::Sub").and_then(Value::as_str) {
        let mut out = text.to_owned();
        for name in t["Parameters"].as_object().expect("Parameters").keys() {
            if let Some(value) = default_of(t, name) {
                out = out.replace(&format!("${{{name}}}"), &value);
            }
        }
        return json!(out);
    }
    match v {
        Value::Number(n) => json!(n.to_string()),
        other => other.clone(),
    }
}

fn number(v: &Value) -> f64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a number: {v}"))
}

/// The function's alarms for a job named like the template's default, with its metrics.
fn function_alarms(t: &Value) -> Vec<GuardAlarm> {
    let facts = JobFacts {
        name: JOB.into(),
        arn: None,
        status: Status::new("InProgress"),
        secondary_status: None,
        training_start_time: Some(Utc::now() - Duration::hours(1)),
        metric_names: vec![
            default(t, "TrainMetricName"),
            default(t, "ValidationMetricName"),
        ],
        instance_type: Some("ml.m5.xlarge".into()),
        instance_count: 1,
        instance_groups: false,
    };
    let settings = GuardSettings::default();
    let rules = [
        (Rule::Overfit, Rule::Overfit.def().value),
        (Rule::LossNotDecreasing, Rule::LossNotDecreasing.def().value),
    ];
    let (alarms, skipped) = alarms_for(&settings, &facts, &rules, Utc::now());
    assert!(skipped.is_empty(), "{skipped:?}");
    alarms
}

fn compare(t: &Value, resource: &str, alarm: &GuardAlarm) {
    let p = &t["Resources"][resource]["Properties"];
    let r = |v: &Value| resolve(t, v);
    assert_eq!(
        number(&r(&p["Threshold"])),
        alarm.threshold,
        "{resource}: threshold"
    );
    assert_eq!(
        r(&p["ComparisonOperator"]),
        json!(alarm.comparison),
        "{resource}"
    );
    assert_eq!(
        r(&p["TreatMissingData"]),
        json!(alarm.treat_missing_data),
        "{resource}"
    );
    assert_eq!(
        number(&r(&p["EvaluationPeriods"])),
        f64::from(alarm.evaluation_periods),
        "{resource}: evaluation periods"
    );
    assert_eq!(
        number(&r(&p["DatapointsToAlarm"])),
        f64::from(alarm.datapoints_to_alarm),
        "{resource}: datapoints"
    );
    let queries = p["Metrics"].as_array().expect("Metrics");
    assert_eq!(queries.len(), alarm.queries.len(), "{resource}: queries");
    for (q, mine) in queries.iter().zip(&alarm.queries) {
        assert_eq!(q["Id"], json!(mine.id), "{resource}");
        assert_eq!(
            q["ReturnData"],
            json!(mine.return_data),
            "{resource} {}",
            mine.id
        );
        match (&mine.expression, &mine.metric) {
            (Some(expr), _) => {
                assert_eq!(r(&q["Expression"]), json!(expr), "{resource} {}", mine.id)
            }
            (None, Some(m)) => {
                let stat = &q["MetricStat"];
                let metric = &stat["Metric"];
                assert_eq!(metric["Namespace"], json!(m.namespace), "{resource}");
                assert_eq!(r(&metric["MetricName"]), json!(m.metric), "{resource}");
                let dims: Vec<(String, String)> = metric["Dimensions"]
                    .as_array()
                    .expect("Dimensions")
                    .iter()
                    .map(|d| {
                        let value = r(&d["Value"]);
                        let value = value.as_str().unwrap_or_default();
                        // The template's job parameter has no default: the function's job.
                        let value = if d["Value"]["Ref"] == "TrainingJobName" {
                            "my-training-job"
                        } else {
                            value
                        };
                        (
                            d["Name"].as_str().unwrap_or_default().to_owned(),
                            value.to_owned(),
                        )
                    })
                    .collect();
                assert_eq!(dims, m.dimensions, "{resource} {}", mine.id);
                assert_eq!(r(&stat["Stat"]), json!(mine.stat), "{resource} {}", mine.id);
                assert_eq!(
                    number(&r(&stat["Period"])),
                    f64::from(alarm.period),
                    "{resource} {}: period",
                    mine.id
                );
            }
            (None, None) => panic!("{resource} {}: neither metric nor expression", mine.id),
        }
    }
}

#[test]
fn the_function_and_the_per_job_stack_define_the_same_alarms() {
    let t = template();
    let alarms = function_alarms(&t);
    compare(&t, "OverfitAlarm", &alarms[0]);
    compare(&t, "LossNotDecreasingAlarm", &alarms[1]);
    // The defaults documented beside Debugger's: ratio 0.1, patience 3 periods of 60 s.
    assert_eq!(number(&json!(default(&t, "RatioThreshold"))), 0.1);
    assert_eq!(Rule::Overfit.def().value, 0.1);
}

#[test]
fn the_default_metric_names_match_the_default_patterns() {
    let t = template();
    let s = GuardSettings::default();
    let train = default(&t, "TrainMetricName");
    let validation = default(&t, "ValidationMetricName");
    assert!(s.train_pattern.is_match(&train) && !s.validation_pattern.is_match(&train));
    assert!(s.validation_pattern.is_match(&validation));
    // XGBoost's built-in names too.
    assert!(s.train_pattern.is_match("train:logloss"));
    assert!(s.validation_pattern.is_match("validation:logloss"));
}
