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
use sagewatch::alarm::alarms_from_payload;
use sagewatch::events::{modelled_detail_types, Detail, SageMakerEvent};
use sagewatch::redact::{bounded, redact};
use sagewatch::report::{render_within, Kind};
use sagewatch::testing::fuzz::{
    config, json_value, key, mutate, mutate_bytes, scalar, KEYS, SAMPLES,
};
use sagewatch::time::{accepted_range, parse_timestamp, parse_timestamp_str};
use serde_json::{json, Map, Value};

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
