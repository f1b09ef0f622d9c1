use super::*;
use proptest::prelude::*;
use serde_json::json;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_700_000_000_000).unwrap()
}

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap()
}

#[test]
fn a_simple_record_is_valid_and_complete() {
    let mut r = MetricRecord::new("SageWatch", t0());
    r.dimension("JobType", "training")
        .dimension("Status", "Completed")
        .dimension_set(&["JobType"])
        .dimension_set(&["JobType", "Status"])
        .metric("JobCount", 1.0, Unit::Count)
        .metric_with_resolution("DurationSeconds", 12.5, Unit::Seconds, Resolution::High)
        .property("JobName", "train-42");
    let out = r.render().unwrap();
    assert_eq!(out.lines.len(), 1);
    assert!(out.dropped.is_empty(), "{:?}", out.dropped);
    validate(&out.lines[0]).unwrap();
    let doc = parse(&out.lines[0]);
    assert_eq!(doc["_aws"]["Timestamp"], json!(1_700_000_000_000_i64));
    assert_eq!(
        doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["JobType"], ["JobType", "Status"]])
    );
    assert_eq!(doc["JobCount"], json!(1.0));
    assert_eq!(doc["JobType"], json!("training"));
    assert_eq!(doc["JobName"], json!("train-42"));
    assert_eq!(
        doc["_aws"]["CloudWatchMetrics"][0]["Metrics"][1]["StorageResolution"],
        json!(1)
    );
}

#[test]
fn more_than_100_metrics_split_into_several_valid_lines() {
    let mut r = MetricRecord::new("SageWatch", t0());
    r.dimension("JobType", "training")
        .dimension_set(&["JobType"])
        .property("JobName", "x");
    for i in 0..250 {
        r.metric(format!("M{i}"), i as f64, Unit::Count);
    }
    let out = r.render().unwrap();
    assert_eq!(out.lines.len(), 3);
    let mut names = 0;
    for (i, line) in out.lines.iter().enumerate() {
        validate(line).unwrap();
        let doc = parse(line);
        names += doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(
            doc.get("JobName").is_some(),
            i == 0,
            "properties only on the first line"
        );
    }
    assert_eq!(names, 250);
}

#[test]
fn huge_properties_are_shed_not_emitted_invalid() {
    let mut r = MetricRecord::new("SageWatch", t0());
    r.metric("JobCount", 1.0, Unit::Count)
        .property("Small", "keep me")
        .property("Huge", "x".repeat(400_000));
    let out = r.render().unwrap();
    validate(&out.lines[0]).unwrap();
    let doc = parse(&out.lines[0]);
    assert!(doc.get("Huge").is_none());
    assert_eq!(doc["Small"], json!("keep me"));
    assert_eq!(doc["ShedProperties"], json!(["Huge"]));
    assert!(out.dropped.iter().any(|d| d.contains("Huge")));
}

#[test]
fn invalid_pieces_are_dropped_and_reported() {
    let mut r = MetricRecord::new("SageWatch", t0());
    r.dimension("JobType", "")
        .dimension("Bad\u{7f}Key", "v")
        .dimension_set(&["JobType"])
        .dimension_set(&["Bad\u{7f}Key"])
        .dimension_set(&["Missing"])
        .metric("NaN", f64::NAN, Unit::Count)
        .metric("Inf", f64::INFINITY, Unit::Count)
        .metric("JobType", 1.0, Unit::Count)
        .metric("Ok", 2.0, Unit::Count)
        .property("Ok", "clash");
    let out = r.render().unwrap();
    validate(&out.lines[0]).unwrap();
    let doc = parse(&out.lines[0]);
    assert_eq!(
        doc["JobType"],
        json!("unknown"),
        "blank dimension value replaced"
    );
    assert_eq!(doc["Ok"], json!(2.0));
    assert_eq!(out.dropped.len(), 7, "{:?}", out.dropped);
}

#[test]
fn bad_namespace_is_an_error_and_no_metrics_is_no_line() {
    assert!(matches!(
        MetricRecord::new("AWS/SageMaker", t0())
            .metric("A", 1.0, Unit::Count)
            .render(),
        Err(EmfError::InvalidNamespace(_))
    ));
    assert!(MetricRecord::new("SageWatch", t0())
        .render()
        .unwrap()
        .lines
        .is_empty());
}

#[test]
fn validator_rejects_broken_documents() {
    let good = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["D"]],"Metrics":[{"Name":"M","Unit":"Count"}]}]},"D":"x","M":1}"#;
    validate(good).unwrap();
    for bad in [
        r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["D"]],"Metrics":[{"Name":"M","Unit":"Count"}]}]},"M":1}"#,
        r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["D"]],"Metrics":[{"Name":"M","Unit":"Parsecs"}]}]},"D":"x","M":1}"#,
        r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["D"]],"Metrics":[{"Name":"M"}]}]},"D":"x","M":"1"}"#,
        r#"{"_aws":{"Timestamp":"1","CloudWatchMetrics":[{"Namespace":"N","Dimensions":[],"Metrics":[{"Name":"M"}]}]},"M":1}"#,
        r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"AWS/X","Dimensions":[],"Metrics":[{"Name":"M"}]}]},"M":1}"#,
        r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[],"Metrics":[{"Name":"M","StorageResolution":5}]}]},"M":1}"#,
        r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[]},"M":1}"#,
        r#"[1]"#,
    ] {
        assert!(validate(bad).is_err(), "accepted: {bad}");
    }
    let thirty_one: Vec<String> = (0..31).map(|i| format!("D{i}")).collect();
    let mut doc = json!({"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [thirty_one.clone()], "Metrics": [{"Name": "M"}]}]}, "M": 1});
    for k in &thirty_one {
        doc[k] = json!("v");
    }
    assert!(validate(&doc.to_string()).is_err());
}

fn any_unit() -> impl Strategy<Value = Unit> {
    (0..Unit::ALL.len()).prop_map(|i| Unit::ALL[i])
}

fn any_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(1e-200),
        Just(1e200),
        -1e6..1e6f64,
    ]
}

fn any_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z][A-Za-z0-9_]{0,20}",
        ".{0,12}",
        Just(String::new()),
        Just("_aws".to_owned()),
        Just(":colon".to_owned()),
        "[a-z]{250,260}",
    ]
}

#[derive(Debug, Clone)]
struct Input {
    namespace: String,
    dims: Vec<(String, String)>,
    sets: Vec<Vec<usize>>,
    metrics: Vec<(String, f64, Unit, bool)>,
    props: Vec<(String, usize)>,
}

fn any_input() -> impl Strategy<Value = Input> {
    (
        prop_oneof![
            "[A-Za-z0-9/_.#: -]{1,40}",
            ".{0,10}",
            Just("SageWatch".to_owned())
        ],
        prop::collection::vec(
            (any_name(), prop_oneof![".{0,30}", "[a-z]{1000,1100}"]),
            0..40,
        ),
        prop::collection::vec(prop::collection::vec(0usize..40, 0..35), 0..5),
        prop::collection::vec((any_name(), any_value(), any_unit(), any::<bool>()), 0..230),
        prop::collection::vec((any_name(), 0usize..120_000), 0..6),
    )
        .prop_map(|(namespace, dims, sets, metrics, props)| Input {
            namespace,
            dims,
            sets,
            metrics,
            props,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    /// Whatever goes in, every line that comes out passes the spec validator, and every
    /// valid metric that went in comes out exactly once.
    #[test]
    fn every_emitted_document_is_valid(input in any_input()) {
        let mut r = MetricRecord::new(input.namespace.clone(), t0());
        for (k, v) in &input.dims {
            r.dimension(k.clone(), v);
        }
        for set in &input.sets {
            let keys: Vec<&str> = set.iter().filter_map(|i| input.dims.get(*i).map(|(k, _)| k.as_str())).collect();
            r.dimension_set(&keys);
        }
        for (name, value, unit, high) in &input.metrics {
            let res = if *high { Resolution::High } else { Resolution::Standard };
            r.metric_with_resolution(name.clone(), *value, *unit, res);
        }
        for (k, size) in &input.props {
            r.property(k.clone(), "p".repeat(*size));
        }
        match r.render() {
            Err(EmfError::InvalidNamespace(_)) => prop_assert!(!spec::valid_namespace(&input.namespace)),
            Err(e) => prop_assert!(false, "unexpected error {e}"),
            Ok(out) => {
                let mut emitted = 0usize;
                for line in &out.lines {
                    if let Err(errors) = validate(line) {
                        prop_assert!(false, "invalid line: {errors:?}");
                    }
                    emitted += parse(line)["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().map_or(0, Vec::len);
                }
                prop_assert_eq!(emitted + out.dropped.iter().filter(|d| d.starts_with("metric ")).count(), r.metric_count());
            }
        }
    }
}
