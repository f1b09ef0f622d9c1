//! Property-based fuzzing of every parser of untrusted input in the core: EventBridge events
//! (`SageMakerEvent::from_slice` / `from_value`, also as SQS bodies), alarm payloads
//! (`alarms_from_payload`: SNS envelopes, CloudWatch's direct Lambda action, garbage),
//! timestamps, and what their output flows into (job summaries, redaction, report lines).
//! Inputs: arbitrary bytes, arbitrary JSON built from the real field names, and mutations of
//! the real samples in `events/`. Nothing may panic (with `panic = "abort"` a panic costs the
//! whole SQS batch).
//!
//! Cases per property: `PROPTEST_CASES` (default 256, so `make test` stays fast). A long run:
//! `PROPTEST_CASES=200000 cargo test --release -p sagewatch --test fuzz`.

use proptest::prelude::*;
use proptest::test_runner::Config;
use sagewatch::alarm::alarms_from_payload;
use sagewatch::events::{modelled_detail_types, Detail, SageMakerEvent};
use sagewatch::redact::{bounded, redact};
use sagewatch::report::{render_within, Kind};
use sagewatch::time::{accepted_range, parse_timestamp, parse_timestamp_str};
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::sync::LazyLock;

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    Config {
        cases,
        // Failures print the minimal input; no regression files in the source tree.
        failure_persistence: None,
        ..Config::default()
    }
}

/// (file name, parsed JSON) of every sample in `events/`.
static SAMPLES: LazyLock<Vec<(String, Value)>> = LazyLock::new(|| {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            out.push((name.unwrap_or_default(), v));
        }
    }
    assert!(
        out.len() >= 20,
        "only {} samples found in {}",
        out.len(),
        dir.display()
    );
    out
});

/// Every object key of the samples, and of the JSON strings inside them (SNS `Message`, SQS
/// `body`): arbitrary JSON built from these reaches the typed paths, not just the envelope.
static KEYS: LazyLock<Vec<String>> = LazyLock::new(|| {
    fn walk(v: &Value, keys: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    if !keys.contains(k) {
                        keys.push(k.clone());
                    }
                    walk(v, keys);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, keys)),
            Value::String(s) if s.starts_with('{') => {
                if let Ok(inner) = serde_json::from_str::<Value>(s) {
                    walk(&inner, keys);
                }
            }
            _ => {}
        }
    }
    let mut keys = Vec::new();
    for (_, v) in SAMPLES.iter() {
        walk(v, &mut keys);
    }
    keys
});

/// Values that broke or could break parsers: chrono's limits, epoch seconds vs milliseconds,
/// NaN spellings, odd offsets, huge and empty strings, wrong types.
fn edge_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(i64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(u64::MAX)),
        Just(json!(8_210_266_876_799_999_i64)),
        Just(json!(-8_334_601_228_800_000_i64)),
        Just(json!(1e308)),
        Just(json!(-1e308)),
        Just(json!(1e11)),
        Just(json!(99_999_999_999.999_f64)),
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(1_718_035_200_000_i64)),
        Just(json!("1718035200000")),
        Just(json!("+262143-12-31T23:59:59Z")),
        Just(json!("9999-12-31T23:59:59.999+0000")),
        Just(json!("2024-06-10T12:21:35.831+2400")),
        Just(json!("2024-02-30T00:00:00Z")),
        Just(json!("NaN")),
        Just(json!("-inf")),
        Just(json!("1e999")),
        Just(json!("")),
        Just(json!("x".repeat(70_000))),
        Just(json!("\u{0}\u{ffff}\u{10ffff}")),
        Just(json!("FAILED")),
        Just(json!("IN_SERVICE")),
        Just(json!("ALARM")),
        Just(json!(true)),
        Just(Value::Null),
        Just(json!([])),
        Just(json!({})),
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => edge_scalar(),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        2 => any::<String>().prop_map(Value::from),
        1 => "[0-9]{1,20}".prop_map(Value::from),
        1 => "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:?[0-9]{2})?".prop_map(Value::from),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(KEYS.clone()),
        1 => "[A-Za-z:_-]{0,12}",
    ]
}

/// Arbitrary JSON, mostly made of the samples' own keys.
fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner.clone()), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
            // An object as a JSON string: SNS `Message` and SQS `body` carry JSON that way.
            prop::collection::vec((key(), inner), 0..6).prop_map(|kv| {
                Value::String(Value::Object(kv.into_iter().collect::<Map<_, _>>()).to_string())
            }),
        ]
    })
}

/// Parses `value` every way the functions do and walks the results.
fn exercise(value: &Value) {
    if let Ok(event) = SageMakerEvent::from_value(value.clone()) {
        touch_event(&event);
    }
    if let Ok(bytes) = serde_json::to_vec(value) {
        let _ = SageMakerEvent::from_slice(&bytes);
    }
    if let Ok(results) = alarms_from_payload(value) {
        for alarm in results.into_iter().flatten() {
            let _ = serde_json::to_string(&alarm);
            for m in &alarm.metrics {
                let _ = m.dimension("TrainingJobName");
                let _ = m.dimension("Host");
            }
            check_time(alarm.state_change_time);
        }
    }
    // SQS batches: each body is an event.
    if let Some(records) = value.get("Records").and_then(Value::as_array) {
        for body in records.iter().filter_map(|r| r.get("body")?.as_str()) {
            if let Ok(event) = SageMakerEvent::from_slice(body.as_bytes()) {
                touch_event(&event);
            }
        }
    }
}

fn touch_event(event: &SageMakerEvent) {
    check_time(event.time);
    if let Some(job) = event.detail.job() {
        check_time(job.start_time);
        check_time(job.end_time);
        check_time(job.creation_time);
        // What the functions do with parsed times: durations and windows.
        if let (Some(s), Some(e)) = (job.start_time, job.end_time) {
            let _ = e.signed_duration_since(s);
            assert!(s
                .checked_add_signed(chrono::TimeDelta::days(3650))
                .is_some());
        }
        if let Some(reason) = job.failure_reason {
            let _ = bounded(reason, 4096);
        }
    }
    if let Detail::EndpointDeployment(d) = &event.detail {
        let _ = d.pending_variant_stages();
    }
    if let Detail::TrainingJob(t) = &event.detail {
        let _ = sagewatch::redact::redact_map(&t.hyper_parameters);
        for tr in &t.secondary_status_transitions {
            check_time(tr.start_time);
            check_time(tr.end_time);
        }
    }
}

/// Every accepted time is in the sane range (checked against a clock read after parsing).
fn check_time(t: Option<chrono::DateTime<chrono::Utc>>) {
    if let Some(t) = t {
        let (earliest, latest) = accepted_range(chrono::Utc::now());
        assert!(t >= earliest && t <= latest, "{t} accepted");
    }
}

/// One edit of a JSON tree: the node at `index` (in pre-order) is replaced, removed, or
/// wrapped; strings holding JSON are mutated inside.
fn mutate(value: &mut Value, index: usize, op: u8, replacement: &Value) {
    fn count(v: &Value) -> usize {
        1 + match v {
            Value::Array(a) => a.iter().map(count).sum(),
            Value::Object(m) => m.values().map(count).sum(),
            _ => 0,
        }
    }
    fn visit(v: &mut Value, target: &mut usize, op: u8, replacement: &Value) -> bool {
        if *target == 0 {
            match op % 6 {
                0 | 1 => *v = replacement.clone(),
                2 => *v = Value::Null,
                3 => *v = json!([v.clone()]),
                4 => {
                    // Edit the JSON inside a string (SNS Message, SQS body) and put it back.
                    if let Value::String(s) = v {
                        if let Ok(mut inner) = serde_json::from_str::<Value>(s) {
                            let n = count(&inner);
                            mutate(&mut inner, usize::from(op) % n.max(1), op / 6, replacement);
                            *s = inner.to_string();
                        }
                    }
                }
                _ => {
                    if let Value::Object(m) = v {
                        let first = m.keys().next().cloned();
                        if let Some(k) = first {
                            m.remove(&k);
                        }
                    }
                }
            }
            return true;
        }
        *target -= 1;
        match v {
            Value::Array(a) => a.iter_mut().any(|c| visit(c, target, op, replacement)),
            Value::Object(m) => m.values_mut().any(|c| visit(c, target, op, replacement)),
            _ => false,
        }
    }
    let n = count(value);
    let mut target = index % n.max(1);
    visit(value, &mut target, op, replacement);
}

/// A byte-level edit of serialised JSON: flip, insert, delete, truncate, duplicate.
fn mutate_bytes(bytes: &mut Vec<u8>, at: usize, op: u8, byte: u8) {
    if bytes.is_empty() {
        bytes.push(byte);
        return;
    }
    let at = at % bytes.len();
    match op % 5 {
        0 => bytes[at] ^= byte | 1,
        1 => bytes.insert(at, byte),
        2 => {
            bytes.remove(at);
        }
        3 => bytes.truncate(at),
        _ => {
            let tail = bytes[at..].to_vec();
            bytes.extend_from_slice(&tail[..tail.len().min(64)]);
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = SageMakerEvent::from_slice(&bytes);
        if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
            exercise(&v);
        }
    }

    #[test]
    fn arbitrary_json(v in json_value()) {
        exercise(&v);
    }

    #[test]
    fn event_shaped_json(
        detail_type in proptest::sample::select(modelled_detail_types().map(str::to_owned).collect::<Vec<_>>()),
        time in scalar(),
        detail in json_value(),
        fields in prop::collection::vec((key(), json_value()), 0..10),
    ) {
        // The detail is an object of real field names with arbitrary values.
        let mut d = match detail { Value::Object(m) => m, other => Map::from_iter([("X".to_owned(), other)]) };
        d.extend(fields);
        let v = json!({"version": "0", "id": "x", "detail-type": detail_type, "source": "aws.sagemaker",
            "account": "123456789012", "time": time, "region": "us-east-1", "resources": [], "detail": d});
        exercise(&v);
    }

    #[test]
    fn alarm_shaped_json(message in json_value(), raw in any::<String>(), data in json_value(), lambda in any::<bool>()) {
        let message_text = match &message { Value::Object(_) => message.to_string(), _ => raw };
        let sns = json!({"Records": [
            {"EventSource": "aws:sns", "Sns": {"MessageId": "m", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t", "Message": message_text}},
            {"Sns": {"Message": message}},
            {"Sns": data.clone()},
            data.clone(),
        ]});
        exercise(&sns);
        if lambda {
            exercise(&json!({"alarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:a", "alarmData": data}));
        }
    }

    #[test]
    fn mutated_samples(
        sample in 0usize..1000,
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), json_value()), 1..6),
    ) {
        let (_, original) = &SAMPLES[sample % SAMPLES.len()];
        let mut v = original.clone();
        for (index, op, replacement) in &edits {
            mutate(&mut v, *index, *op, replacement);
        }
        exercise(&v);
    }

    #[test]
    fn byte_mutated_samples(
        sample in 0usize..1000,
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8),
    ) {
        let (_, original) = &SAMPLES[sample % SAMPLES.len()];
        let mut bytes = serde_json::to_vec(original).unwrap_or_default();
        for (at, op, byte) in &edits {
            mutate_bytes(&mut bytes, *at, *op, *byte);
        }
        let _ = SageMakerEvent::from_slice(&bytes);
        if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
            exercise(&v);
        }
    }

    #[test]
    fn timestamps(v in scalar(), s in any::<String>()) {
        check_time(parse_timestamp(&v));
        check_time(parse_timestamp_str(&s));
    }

    #[test]
    fn redaction_and_bounding(s in any::<String>(), pieces in prop::collection::vec(
        proptest::sample::select(vec![
            "password=", "--hf_token ", "hf_", "ghp_", "://", "u:p@", "-----BEGIN PRIVATE KEY-----",
            "-----END PRIVATE KEY-----", "AKIA", "eyJ", ".", "\"", "'", "\\", "\n", " ", "=", ":",
            "sk-", "AccountKey=", "sig=", "Bearer ", "Authorization: ", "[REDACTED]", "é", "€",
        ]), 0..24), max in 0usize..512) {
        let text: String = pieces.concat() + &s;
        let once = redact(&text);
        let _ = redact(&once);
        let out = bounded(&text, max);
        prop_assert!(out.len() <= max, "{} > {max}", out.len());
    }

    #[test]
    fn report_lines_stay_one_valid_json_line(fields in json_value(), max in 0usize..4096) {
        let line = render_within(Kind::JobFailure, fields, max);
        prop_assert!(!line.contains('\n'));
        let v: Value = serde_json::from_str(&line).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&v["sagewatch_event"], "job_failure");
        // Over the cap only when even the smallest line does not fit.
        prop_assert!(line.len() <= max.max(4300), "{} bytes", line.len());
    }
}

/// The samples themselves parse (the fuzz targets above start from them).
#[test]
fn samples_load() {
    assert!(SAMPLES.iter().any(|(n, _)| n.starts_with("alarm-sns")));
    assert!(SAMPLES.iter().any(|(n, _)| n.starts_with("sqs-batch")));
    assert!(KEYS.iter().any(|k| k == "TrainingStartTime"));
    assert!(KEYS.iter().any(|k| k == "NewStateValue"));
}
