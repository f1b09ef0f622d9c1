//! Timestamps as SageMaker, EventBridge and CloudWatch really send them.
//!
//! The same field arrives as epoch milliseconds (number or string), epoch seconds, a float,
//! RFC 3339 (`2019-05-04T00:00:00Z`), or CloudWatch's `2017-10-30T13:20:35.831+0000`.
//! An unparseable value becomes `None` instead of rejecting the whole event: one odd field
//! must not cost us the event.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Epoch numbers at or above this are milliseconds (1e11 s would be the year 5138;
/// 1e11 ms is March 1973, before any AWS event).
const MILLIS_THRESHOLD: f64 = 1e11;

/// Parses any of the accepted shapes. `None` when the value is null or unrecognisable.
pub fn parse_timestamp(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::Number(n) => n.as_f64().and_then(from_epoch_number),
        Value::String(s) => parse_timestamp_str(s),
        _ => None,
    }
}

/// Parses a textual timestamp: epoch digits or one of the ISO-8601 spellings seen in payloads.
pub fn parse_timestamp_str(raw: &str) -> Option<DateTime<Utc>> {
    let s = raw.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(n) = s.parse::<f64>() {
        return from_epoch_number(n);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    // `+0000` (no colon) as in CloudWatch alarm notifications.
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.with_timezone(&Utc));
        }
    }
    // No zone at all: AWS means UTC.
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(Utc.from_utc_datetime(&t));
        }
    }
    None
}

fn from_epoch_number(n: f64) -> Option<DateTime<Utc>> {
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    let millis = if n >= MILLIS_THRESHOLD { n } else { n * 1000.0 };
    if millis > i64::MAX as f64 {
        return None;
    }
    DateTime::from_timestamp_millis(millis.round() as i64)
}

/// `#[serde(default, deserialize_with = "crate::time::flexible")]` for `Option<DateTime<Utc>>`.
pub fn flexible<'de, D>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error>
where
    D: Deserializer<'de>,
{
    let value = Option::<Value>::deserialize(deserializer)?;
    Ok(value.as_ref().and_then(parse_timestamp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap()
    }

    #[test]
    fn accepts_every_shape_seen_in_payloads() {
        let expected = at("2019-05-04T00:00:00.123Z");
        for v in [
            json!(1556928000123_i64),
            json!("1556928000123"),
            json!(1556928000123.0),
            json!(1556928000.123),
            json!("2019-05-04T00:00:00.123Z"),
            json!("2019-05-04T00:00:00.123+0000"),
            json!("2019-05-04T02:00:00.123+02:00"),
            json!("2019-05-04T00:00:00.123"),
        ] {
            assert_eq!(parse_timestamp(&v), Some(expected), "{v}");
        }
    }

    #[test]
    fn cloudwatch_alarm_time_with_plus_0000() {
        assert_eq!(
            parse_timestamp_str("2017-10-30T13:20:35.831+0000"),
            Some(at("2017-10-30T13:20:35.831Z"))
        );
    }

    #[test]
    fn garbage_is_none_not_a_panic() {
        for v in [
            json!(null),
            json!(""),
            json!("yesterday"),
            json!(-5),
            json!(true),
            json!({"a": 1}),
            json!(1e300),
            json!("NaN"),
            json!("inf"),
        ] {
            assert_eq!(parse_timestamp(&v), None, "{v}");
        }
    }
}
