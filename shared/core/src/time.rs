//! Timestamps as SageMaker, EventBridge and CloudWatch really send them.
//!
//! The same field arrives as epoch milliseconds (number or string), epoch seconds, a float,
//! RFC 3339 (`2019-05-04T00:00:00Z`), or CloudWatch's `2017-10-30T13:20:35.831+0000`.
//!
//! Only sane instants are accepted: from 2000-01-01 to one day ahead of our clock. A start
//! time in the year 262000 is a poison value (adding a window to it overflows chrono and
//! panics), so it is rejected here, where it is parsed, and nothing downstream has to guard
//! its arithmetic. A rejected or unparseable value becomes `None` in the typed events instead
//! of rejecting the whole event: one odd field must not cost us the event.

use chrono::{DateTime, NaiveDateTime, TimeDelta, TimeZone, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Epoch numbers at or above this are milliseconds (1e11 s would be the year 5138;
/// 1e11 ms is March 1973, before any AWS event).
const MILLIS_THRESHOLD: f64 = 1e11;

/// 2000-01-01T00:00:00Z: nothing SageMaker, EventBridge or CloudWatch sends is older.
pub const EARLIEST_EPOCH_SECONDS: i64 = 946_684_800;

/// How far ahead of our clock a timestamp may be (clock skew between AWS and Lambda is
/// seconds; a day is generous and still keeps every `t + window` far from chrono's limits).
pub const MAX_AHEAD_SECONDS: i64 = 86_400;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error("not a timestamp")]
    Unrecognised,
    #[error("timestamp {0} is outside the accepted range (2000-01-01 to one day from now)")]
    OutOfRange(String),
}

/// The accepted range at `now`: `[2000-01-01, now + 1 day]`.
pub fn accepted_range(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let earliest =
        DateTime::from_timestamp(EARLIEST_EPOCH_SECONDS, 0).unwrap_or(DateTime::UNIX_EPOCH);
    let latest = now
        .checked_add_signed(TimeDelta::seconds(MAX_AHEAD_SECONDS))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    (earliest, latest)
}

fn in_range(t: DateTime<Utc>, now: DateTime<Utc>) -> Result<DateTime<Utc>, TimestampError> {
    let (earliest, latest) = accepted_range(now);
    if t < earliest || t > latest {
        return Err(TimestampError::OutOfRange(t.to_rfc3339()));
    }
    Ok(t)
}

/// Parses any of the accepted shapes and checks the range against `now`.
pub fn parse_timestamp_at(
    value: &Value,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, TimestampError> {
    match value {
        Value::Number(n) => n
            .as_f64()
            .ok_or(TimestampError::Unrecognised)
            .and_then(|n| from_epoch_number(n, now)),
        Value::String(s) => parse_timestamp_str_at(s, now),
        _ => Err(TimestampError::Unrecognised),
    }
}

/// Parses a textual timestamp (epoch digits or one of the ISO-8601 spellings seen in
/// payloads) and checks the range against `now`.
pub fn parse_timestamp_str_at(
    raw: &str,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, TimestampError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(TimestampError::Unrecognised);
    }
    if let Ok(n) = s.parse::<f64>() {
        return from_epoch_number(n, now);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return in_range(t.with_timezone(&Utc), now);
    }
    // `+0000` (no colon) as in CloudWatch alarm notifications.
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return in_range(t.with_timezone(&Utc), now);
        }
    }
    // No zone at all: AWS means UTC.
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return in_range(Utc.from_utc_datetime(&t), now);
        }
    }
    Err(TimestampError::Unrecognised)
}

/// [`parse_timestamp_at`] against the clock; `None` when the value is null, unrecognisable
/// or out of range.
pub fn parse_timestamp(value: &Value) -> Option<DateTime<Utc>> {
    parse_timestamp_at(value, Utc::now()).ok()
}

/// [`parse_timestamp_str_at`] against the clock.
pub fn parse_timestamp_str(raw: &str) -> Option<DateTime<Utc>> {
    parse_timestamp_str_at(raw, Utc::now()).ok()
}

fn from_epoch_number(n: f64, now: DateTime<Utc>) -> Result<DateTime<Utc>, TimestampError> {
    if !n.is_finite() || n < 0.0 {
        return Err(TimestampError::Unrecognised);
    }
    let millis = if n >= MILLIS_THRESHOLD { n } else { n * 1000.0 };
    // The range check below bounds the value; this one only keeps the cast exact.
    if millis >= i64::MAX as f64 {
        return Err(TimestampError::OutOfRange(format!("{n} (epoch)")));
    }
    let t = DateTime::from_timestamp_millis(millis.round() as i64)
        .ok_or_else(|| TimestampError::OutOfRange(format!("{n} (epoch)")))?;
    in_range(t, now)
}

/// A timestamp from an AWS SDK response (`aws_smithy_types::DateTime::secs()` and
/// `subsec_nanos()`) through the same range check, for the adapters: Describe* responses
/// feed the same window arithmetic as events do.
pub fn from_epoch_parts(secs: i64, nanos: u32) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(secs, nanos).and_then(|t| in_range(t, Utc::now()).ok())
}

/// `#[serde(default, deserialize_with = "crate::time::flexible")]` for `Option<DateTime<Utc>>`.
/// Out-of-range and unparseable values become `None` (see the module documentation).
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

    #[test]
    fn out_of_range_is_an_error_not_a_panic() {
        let now = at("2026-12-01T21:00:00Z");
        for v in [
            json!(i64::MAX),
            json!(u64::MAX),
            json!(8_210_266_876_799_999_i64), // chrono's last millisecond (+262142-12-31)
            json!(9.2e18),
            json!("9999-12-31T23:59:59Z"),
            json!("1999-12-31T23:59:59Z"),
            json!("1970-01-01T00:00:00Z"),
            json!(0),
            json!(946_684_799),            // one second before 2000
            json!("2026-12-02T21:00:01Z"), // one day and a second ahead
            json!(99_999_999_999_i64),     // epoch seconds in the year 5138
        ] {
            assert!(
                matches!(
                    parse_timestamp_at(&v, now),
                    Err(TimestampError::OutOfRange(_))
                ),
                "{v}: {:?}",
                parse_timestamp_at(&v, now)
            );
        }
        for v in [
            json!(946_684_800),
            json!("2000-01-01T00:00:00Z"),
            json!("2026-12-02T20:59:59Z"),
            json!("2026-12-02T21:00:00Z"),
        ] {
            assert!(parse_timestamp_at(&v, now).is_ok(), "{v}");
        }
        // Years beyond four digits are not RFC 3339: rejected as unrecognised.
        for v in [json!("yesterday"), json!("+262142-12-31T23:59:59Z")] {
            assert_eq!(
                parse_timestamp_at(&v, now),
                Err(TimestampError::Unrecognised),
                "{v}"
            );
        }
    }

    #[test]
    fn sdk_timestamps_get_the_same_check() {
        assert_eq!(
            from_epoch_parts(1_718_035_200, 500_000_000).map(|t| t.timestamp_millis()),
            Some(1_718_035_200_500)
        );
        assert_eq!(from_epoch_parts(i64::MAX, 0), None);
        assert_eq!(from_epoch_parts(253_402_300_799, 0), None); // 9999-12-31
        assert_eq!(from_epoch_parts(-1, 0), None);
    }

    #[test]
    fn accepted_values_leave_room_for_window_arithmetic() {
        // Whatever is accepted, adding or subtracting years of windows cannot overflow.
        let now = Utc::now();
        let (earliest, latest) = accepted_range(now);
        let decade = TimeDelta::days(3650);
        assert!(earliest.checked_sub_signed(decade).is_some());
        assert!(latest.checked_add_signed(decade).is_some());
        assert!(accepted_range(DateTime::<Utc>::MAX_UTC).1 == DateTime::<Utc>::MAX_UTC);
    }
}
