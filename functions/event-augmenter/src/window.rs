//! The GetMetricData window and period for a job: one datapoint per series, valid for the
//! data's age.
//!
//! CloudWatch keeps 1-minute data for 15 days, 5-minute data for 63 days and 1-hour data for
//! 455 days; a query whose StartTime is older than 15 (63) days must use a period that is a
//! multiple of 300 (3600) seconds or it returns nothing (GetMetricData API reference, Period).
//! We align the window to that granularity and make the period the whole window, so each
//! (host, metric, statistic) comes back as one value: 10 datapoints per host, far inside the
//! 100,800 datapoints one call may return.

use chrono::{DateTime, Duration, Utc};

const MINUTE: i64 = 60;
const FIVE_MINUTES: i64 = 300;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;
/// A query is planned a moment before it is sent; a margin keeps the granularity valid.
const AGE_MARGIN: i64 = HOUR;

/// What to ask CloudWatch for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryWindow {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Seconds; a multiple of `granularity`, equal to `end - start`.
    pub period: i32,
    /// 60, 300 or 3600 seconds, from the data's age.
    pub granularity: i64,
}

/// The storage granularity CloudWatch still has for data that started at `start`.
pub fn granularity(start: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    let age = (now - start).num_seconds();
    if age >= 63 * DAY - AGE_MARGIN {
        HOUR
    } else if age >= 15 * DAY - AGE_MARGIN {
        FIVE_MINUTES
    } else {
        MINUTE
    }
}

/// The job's `[start, end]` widened to whole granules; the period covers all of it.
pub fn query_window(start: DateTime<Utc>, end: DateTime<Utc>, now: DateTime<Utc>) -> QueryWindow {
    let g = granularity(start, now);
    let s = start.timestamp().div_euclid(g) * g;
    // At least one granule, also when the end is missing, equal or (bad data) before the start.
    let e_raw = end.timestamp().max(start.timestamp() + 1);
    let e = (e_raw + g - 1).div_euclid(g) * g;
    let span = (e - s).clamp(g, i64::from(i32::MAX) / g * g);
    let start = DateTime::from_timestamp(s, 0).unwrap_or(start);
    QueryWindow {
        start,
        end: start + Duration::seconds(span),
        period: i32::try_from(span).unwrap_or(i32::MAX),
        granularity: g,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn recent_job_is_minute_aligned_one_period() {
        let now = at("2024-06-10T13:00:00Z");
        let w = query_window(at("2024-06-10T12:02:11Z"), at("2024-06-10T12:31:48Z"), now);
        assert_eq!(w.start, at("2024-06-10T12:02:00Z"));
        assert_eq!(w.end, at("2024-06-10T12:32:00Z"));
        assert_eq!(w.period, 1800);
        assert_eq!(w.granularity, 60);
    }

    #[test]
    fn older_data_needs_coarser_periods() {
        let start = at("2024-01-01T10:07:30Z");
        let end = at("2024-01-01T10:20:00Z");
        let w = query_window(start, end, start + Duration::days(20));
        assert_eq!((w.granularity, w.period), (300, 900));
        assert_eq!(w.start, at("2024-01-01T10:05:00Z"));
        let w = query_window(start, end, start + Duration::days(100));
        assert_eq!((w.granularity, w.period), (3600, 3600));
        assert_eq!(w.start, at("2024-01-01T10:00:00Z"));
        // Just under 15 days, but inside the margin: already 5-minute.
        let w = query_window(
            start,
            end,
            start + Duration::days(15) - Duration::minutes(30),
        );
        assert_eq!(w.granularity, 300);
    }

    #[test]
    fn periods_are_valid_whatever_the_input() {
        let now = at("2024-06-10T13:00:00Z");
        for (s, e) in [
            ("2024-06-10T12:00:00Z", "2024-06-10T12:00:00Z"),
            ("2024-06-10T12:00:10Z", "2024-06-10T12:00:20Z"),
            ("2024-06-10T12:00:00Z", "2024-06-10T11:00:00Z"),
            ("2024-03-01T00:00:01Z", "2024-03-29T23:59:59Z"),
            ("2020-01-01T00:00:00Z", "2020-01-01T00:00:01Z"),
        ] {
            let w = query_window(at(s), at(e), now);
            assert!(
                w.period >= 60 && i64::from(w.period) % w.granularity == 0,
                "{s}..{e}: {w:?}"
            );
            assert_eq!((w.end - w.start).num_seconds(), i64::from(w.period));
            assert!(w.start <= at(s), "{s}");
            assert_eq!(w.start.timestamp() % w.granularity, 0);
        }
    }
}
