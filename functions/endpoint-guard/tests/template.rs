//! The function's alarm table and `infra/endpoint-monitoring.yaml` define the same alarms:
//! same names, metrics, statistics, operators, missing-data treatment and default
//! thresholds, periods and datapoints. A change to one without the other fails here.

use endpoint_guard::alarms::{Applies, Measure, Stat, DEFINITIONS, RATE_EXPRESSION};
use endpoint_guard::Config;
use sagewatch_emulator::template::to_json;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use yaml_serde::Value as Yaml;

fn template() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../infra/endpoint-monitoring.yaml"
    );
    let text = std::fs::read_to_string(path).expect("template");
    to_json(&yaml_serde::from_str::<Yaml>(&text).expect("YAML"))
}

/// The default of the parameter a property `!Ref`s, as a number.
fn default_of(t: &Value, property: &Value) -> f64 {
    let name = property["Ref"]
        .as_str()
        .unwrap_or_else(|| panic!("not a Ref: {property}"));
    let d = &t["Parameters"][name]["Default"];
    d.as_f64()
        .or_else(|| d.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("{name} has no numeric default"))
}

#[test]
fn the_table_and_the_template_define_the_same_alarms() {
    let t = template();
    let config = Config::new("arn:aws:sns:us-east-1:123456789012:t");
    assert_eq!(
        t["Parameters"]["AlarmNamePrefix"]["Default"],
        json!(config.alarm_prefix)
    );
    assert_eq!(
        t["Parameters"]["LatencyStatistic"]["Default"],
        json!(config.latency_statistic)
    );
    let mut in_template = BTreeSet::new();
    for (id, r) in t["Resources"].as_object().expect("Resources") {
        if r["Type"] != "AWS::CloudWatch::Alarm" || id == "DriftAlarm" {
            continue;
        }
        let p = &r["Properties"];
        let name = p["AlarmName"]["Fn::Sub"].as_str().expect("AlarmName !Sub");
        let suffix = name
            .strip_prefix("${AlarmNamePrefix}${EndpointName}-${VariantName}-")
            .unwrap_or_else(|| {
                panic!("{id}: name {name} is not <prefix><endpoint>-<variant>-<suffix>")
            });
        in_template.insert(suffix.to_owned());
        let d = DEFINITIONS
            .iter()
            .find(|d| d.suffix == suffix)
            .unwrap_or_else(|| panic!("{id}: no row {suffix} in the function's table"));
        let stem = d.template_stem;
        assert_eq!(
            p["Threshold"],
            json!({"Ref": format!("{stem}Threshold")}),
            "{id}"
        );
        assert_eq!(
            default_of(&t, &p["Threshold"]),
            d.threshold,
            "{id} threshold"
        );
        assert_eq!(
            default_of(&t, &p["EvaluationPeriods"]),
            f64::from(d.evaluation_periods),
            "{id}"
        );
        assert_eq!(
            default_of(&t, &p["DatapointsToAlarm"]),
            f64::from(d.datapoints_to_alarm),
            "{id}"
        );
        assert_eq!(p["ComparisonOperator"], json!(d.comparison), "{id}");
        assert_eq!(p["TreatMissingData"], json!(d.treat_missing_data), "{id}");
        match d.measure {
            Measure::Metric {
                namespace,
                metric,
                statistic,
            } => {
                assert_eq!(p["Namespace"], json!(namespace), "{id}");
                assert_eq!(p["MetricName"], json!(metric), "{id}");
                assert_eq!(
                    default_of(&t, &p["Period"]),
                    f64::from(d.period),
                    "{id} period"
                );
                match statistic {
                    Stat::Average => assert_eq!(p["Statistic"], json!("Average"), "{id}"),
                    Stat::Sum => assert_eq!(p["Statistic"], json!("Sum"), "{id}"),
                    // The template picks Statistic or ExtendedStatistic by LatencyStatistic.
                    Stat::Latency => assert!(p["ExtendedStatistic"].is_object(), "{id}"),
                }
            }
            Measure::RatePercent { errors } => {
                let q = p["Metrics"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{id}: no Metrics"));
                let ids: Vec<&str> = q.iter().filter_map(|m| m["Id"].as_str()).collect();
                assert_eq!(ids, ["m1", "m2", "e1"], "{id}");
                assert_eq!(
                    q[0]["MetricStat"]["Metric"]["MetricName"],
                    json!(errors),
                    "{id}"
                );
                assert_eq!(
                    q[1]["MetricStat"]["Metric"]["MetricName"],
                    json!("Invocations"),
                    "{id}"
                );
                assert_eq!(q[0]["MetricStat"]["Stat"], json!("Sum"), "{id}");
                assert_eq!(
                    default_of(&t, &q[0]["MetricStat"]["Period"]),
                    f64::from(d.period),
                    "{id}"
                );
                assert_eq!(q[2]["Expression"], json!(RATE_EXPRESSION), "{id}");
            }
        }
    }
    // Every instance-variant row is in the template (serverless-only rows are the function's).
    let rows: BTreeSet<String> = DEFINITIONS
        .iter()
        .filter(|d| d.applies != Applies::Serverless)
        .map(|d| d.suffix.to_owned())
        .collect();
    assert_eq!(in_template, rows);
}
