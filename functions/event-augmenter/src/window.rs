//! The GetMetricData window and period for a job, valid for the data's age.
//!
//! CloudWatch keeps 1-minute data for 15 days, 5-minute data for 63 days and 1-hour data for
//! 455 days; a query whose StartTime is older than 15 (63) days must use a period that is a
//! multiple of 300 (3600) seconds or it returns nothing (GetMetricData API reference, Period).
//! We align the window to that granularity and ask for one `Average` per granule: the window
//! average and maximum are then computed from those datapoints (see `utilization.rs`). Only
//! when a request would return more than [`DATAPOINT_BUDGET`] datapoints is the period made a
//! larger multiple of the granularity.

use chrono::{DateTime, Duration, Utc};

const MINUTE: i64 = 60;
const FIVE_MINUTES: i64 = 300;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;
/// A query is planned a moment before it is sent; a margin keeps the granularity valid.
const AGE_MARGIN: i64 = HOUR;
/// GetMetricData returns at most 100,800 datapoints per call (page); past that it pages with
/// NextToken.
pub const DATAPOINTS_PER_PAGE: i64 = 100_800;
/// At most 10 pages per request: a 100-host GPU job (500 queries) keeps 1-minute datapoints for
/// 33.6 hours of run time, a 2-host one for 70 days.
pub const DATAPOINT_BUDGET: i64 = 10 * DATAPOINTS_PER_PAGE;

/// What to ask CloudWatch for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryWindow {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Seconds; equal to `granularity` (see [`QueryWindow::period_for`]).
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

/// The job's `[start, end]` widened to whole granules; one period per granule.
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
        period: i32::try_from(g).unwrap_or(i32::MAX),
        granularity: g,
    }
}

/// `a / b` rounded up, for non-negative `a` and positive `b` (i64::div_ceil is unstable).
fn ceil_div(a: i64, b: i64) -> i64 {
    let b = b.max(1);
    (a.max(0) + b - 1) / b
}

impl QueryWindow {
    pub fn span_seconds(&self) -> i64 {
        (self.end - self.start).num_seconds()
    }

    /// Datapoints per series at `period`.
    pub fn points(&self, period: i64) -> i64 {
        ceil_div(self.span_seconds(), period)
    }

    /// The period for `queries` series: the granularity, unless that would return more than
    /// [`DATAPOINT_BUDGET`] datapoints; then the smallest multiple of it that fits.
    pub fn period_for(&self, queries: usize) -> i32 {
        let queries = i64::try_from(queries.max(1)).unwrap_or(i64::MAX);
        let per_series = (DATAPOINT_BUDGET / queries).max(1);
        let needed = ceil_div(self.span_seconds(), per_series).max(1);
        let g = self.granularity;
        let period = ceil_div(needed, g) * g;
        i32::try_from(period.clamp(g, self.span_seconds().max(g))).unwrap_or(self.period)
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
        assert_eq!((w.period, w.granularity), (60, 60));
        assert_eq!(w.points(60), 30);
        assert_eq!(
            w.period_for(500),
            60,
            "500 × 30 points: far under the budget"
        );
    }

    #[test]
    fn older_data_needs_coarser_periods() {
        let start = at("2024-01-01T10:07:30Z");
        let end = at("2024-01-01T10:20:00Z");
        let w = query_window(start, end, start + Duration::days(20));
        assert_eq!((w.granularity, w.period), (300, 300));
        assert_eq!(w.span_seconds(), 900);
        assert_eq!(w.start, at("2024-01-01T10:05:00Z"));
        let w = query_window(start, end, start + Duration::days(100));
        assert_eq!(
            (w.granularity, w.period, w.span_seconds()),
            (3600, 3600, 3600)
        );
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
            for queries in [1, 10, 500] {
                let p = i64::from(w.period_for(queries));
                assert!(p >= 60 && p % w.granularity == 0, "{s}..{e}: {w:?}");
                assert!(w.points(p) * queries as i64 <= DATAPOINT_BUDGET.max(queries as i64));
            }
            assert!(w.span_seconds() >= w.granularity);
            assert_eq!(w.span_seconds() % w.granularity, 0);
            assert!(w.start <= at(s), "{s}");
            assert_eq!(w.start.timestamp() % w.granularity, 0);
        }
    }

    #[test]
    fn long_wide_jobs_get_a_coarser_period_within_the_budget() {
        let now = at("2024-06-10T13:00:00Z");
        // 30 hours, 500 series: 1,800 points each = 900,000 ≤ 1,008,000 → stays at 60 s.
        let w = query_window(at("2024-06-09T06:00:00Z"), at("2024-06-10T12:00:00Z"), now);
        assert_eq!(w.period_for(500), 60);
        // 3 days, 500 series at 60 s would be 2.16 M points: 180 s (1,440 each, 720,000).
        let w = query_window(at("2024-06-07T12:00:00Z"), at("2024-06-10T12:00:00Z"), now);
        assert_eq!(w.period_for(500), 180);
        assert!(w.points(180) * 500 <= DATAPOINT_BUDGET);
        assert_eq!(w.period_for(10), 60, "2 hosts: 43,200 points");
    }
}
