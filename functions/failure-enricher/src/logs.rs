//! Which log streams to read and how much: a hard budget that holds whatever the log size.
//!
//! SageMaker writes one stream per host, `<job-name>/algo-<n>-<epoch>` (training),
//! `<job-name>/<host>` (processing, transform), plus `<job-name>/…/data-log` streams for
//! transform input/output records, which are data, not diagnostics.

/// Hard limits per failed job. Each host gets an equal share of events and bytes, so the total
/// never exceeds the budget however many hosts or lines there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogBudget {
    pub max_hosts: usize,
    pub max_bytes: usize,
    pub max_events: usize,
}

impl Default for LogBudget {
    fn default() -> Self {
        LogBudget {
            max_hosts: 16,
            max_bytes: 1024 * 1024,
            max_events: 10_000,
        }
    }
}

impl LogBudget {
    /// One of `n` equal parts (an endpoint's variants, a pipeline's failed jobs): the parts
    /// together never exceed the whole.
    pub fn split(self, n: usize) -> LogBudget {
        let n = n.max(1);
        LogBudget {
            max_hosts: (self.max_hosts / n).max(1),
            max_bytes: (self.max_bytes / n).max(1),
            max_events: (self.max_events / n).max(1),
        }
    }
}

/// A log line longer than this is cut (a 1 MB line must not eat a host's whole share).
pub const MAX_LINE_BYTES: usize = 8 * 1024;
/// DescribeLogStreams pages (50 streams each) we read at most to find a job's streams.
pub const MAX_STREAM_PAGES: usize = 4;
/// GetLogEvents pages per host (each up to 1 MB / 10 000 events, newest first).
pub const MAX_PAGES_PER_HOST: usize = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    pub name: String,
    pub last_event_ms: Option<i64>,
}

/// What one host gets to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    pub events: usize,
    pub bytes: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    pub timestamp: Option<i64>,
    pub message: String,
}

/// The tail of one stream, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamTail {
    pub stream: String,
    pub events: Vec<LogEvent>,
    pub bytes: usize,
    /// The budget stopped us before the start of the stream.
    pub truncated: bool,
}

impl LogBudget {
    /// Streams of exactly this job (the prefix `<job>/` — `job` must not match `job-2`),
    /// without data-log streams, most recently written first (the failing host usually logs
    /// last), at most `max_hosts`. Ties keep name order.
    pub fn select(&self, job_name: &str, streams: Vec<StreamInfo>) -> Vec<StreamInfo> {
        let prefix = format!("{job_name}/");
        let mut mine: Vec<StreamInfo> = streams
            .into_iter()
            .filter(|s| s.name.starts_with(&prefix) && !s.name.ends_with("/data-log"))
            .collect();
        mine.sort_by(|a, b| {
            b.last_event_ms
                .cmp(&a.last_event_ms)
                .then_with(|| a.name.cmp(&b.name))
        });
        mine.truncate(self.max_hosts);
        mine
    }

    /// How many streams of this job there are (before the host limit), for the report.
    pub fn select_all(&self, job_name: &str, streams: Vec<StreamInfo>) -> usize {
        LogBudget {
            max_hosts: usize::MAX,
            ..*self
        }
        .select(job_name, streams)
        .len()
    }

    /// Equal shares for `hosts` hosts (at least one event and one line's worth each).
    pub fn share(&self, hosts: usize) -> Share {
        let hosts = hosts.max(1);
        Share {
            events: (self.max_events / hosts).max(1),
            bytes: (self.max_bytes / hosts).max(1),
        }
    }
}

impl Share {
    /// Keeps the newest events of `page` (oldest first, as GetLogEvents returns them) that fit
    /// in what is left of this share; cuts over-long lines. Returns the kept events, oldest
    /// first, and whether the share is now used up.
    pub fn take_newest(&self, tail: &mut StreamTail, page: Vec<LogEvent>) -> bool {
        let mut kept = Vec::new();
        let mut full = false;
        for mut event in page.into_iter().rev() {
            if tail.events.len() + kept.len() >= self.events {
                full = true;
                break;
            }
            cut_line(&mut event.message, MAX_LINE_BYTES);
            let size = event.message.len();
            if tail.bytes + size > self.bytes {
                full = true;
                break;
            }
            tail.bytes += size;
            kept.push(event);
        }
        kept.reverse();
        kept.append(&mut tail.events);
        tail.events = kept;
        full
    }
}

/// The host part of a stream name: `job/algo-1-1718024560` → `algo-1`,
/// `job/i-0abc…-1718024560` → `i-0abc…`, `job/ip-10-0-1-2.ec2.internal` → that. SageMaker
/// appends the host's start time (epoch seconds) only to make names unique; evidence lines
/// name their host without it.
pub fn host_of_stream(job_name: &str, stream: &str) -> String {
    let rest = stream
        .strip_prefix(job_name)
        .and_then(|r| r.strip_prefix('/'))
        .unwrap_or(stream);
    let first = rest.split('/').next().unwrap_or(rest);
    match first.rsplit_once('-') {
        Some((host, epoch))
            if !host.is_empty()
                && epoch.len() == 10
                && epoch.bytes().all(|b| b.is_ascii_digit()) =>
        {
            host.to_owned()
        }
        _ => first.to_owned(),
    }
}

/// Cuts `s` to at most `max` bytes at a character boundary, marking the cut.
fn cut_line(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut cut = max.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    s.push('…');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(name: &str, last: i64) -> StreamInfo {
        StreamInfo {
            name: name.into(),
            last_event_ms: Some(last),
        }
    }

    #[test]
    fn only_this_jobs_streams_without_data_logs_newest_first() {
        let b = LogBudget {
            max_hosts: 2,
            ..LogBudget::default()
        };
        let picked = b.select(
            "job",
            vec![
                stream("job/algo-1-1", 10),
                stream("job-2/algo-1-1", 99),
                stream("job/algo-2-1", 30),
                stream("job/algo-3-1", 20),
                stream("job/i-1/data-log", 50),
                stream("jobx/algo-1-1", 50),
            ],
        );
        let names: Vec<&str> = picked.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["job/algo-2-1", "job/algo-3-1"]);
    }

    #[test]
    fn shares_never_exceed_the_budget() {
        let b = LogBudget::default();
        for hosts in 1..=16 {
            let s = b.share(hosts);
            assert!(s.events * hosts <= b.max_events);
            assert!(s.bytes * hosts <= b.max_bytes);
        }
    }

    #[test]
    fn newest_events_kept_within_events_and_bytes() {
        let share = Share {
            events: 3,
            bytes: 1000,
        };
        let page: Vec<LogEvent> = (0..10)
            .map(|i| LogEvent {
                timestamp: Some(i),
                message: format!("line {i}"),
            })
            .collect();
        let mut tail = StreamTail::default();
        assert!(share.take_newest(&mut tail, page));
        let ts: Vec<i64> = tail.events.iter().filter_map(|e| e.timestamp).collect();
        assert_eq!(ts, [7, 8, 9]);

        let share = Share {
            events: 100,
            bytes: 20_000,
        };
        let mut tail = StreamTail::default();
        let huge = LogEvent {
            timestamp: Some(1),
            message: "é".repeat(600_000),
        };
        let small = LogEvent {
            timestamp: Some(2),
            message: "ok".into(),
        };
        assert!(!share.take_newest(&mut tail, vec![huge, small]));
        assert_eq!(tail.events.len(), 2);
        assert!(tail.events[0].message.len() <= MAX_LINE_BYTES);
        assert!(tail.events[0].message.ends_with('…'));
        assert!(tail.bytes <= share.bytes);
    }

    #[test]
    fn hosts_from_stream_names() {
        assert_eq!(host_of_stream("job", "job/algo-1-1718024560"), "algo-1");
        assert_eq!(host_of_stream("job", "job/algo-12-1718024560"), "algo-12");
        assert_eq!(
            host_of_stream("p", "p/ip-10-0-1-2.ec2.internal"),
            "ip-10-0-1-2.ec2.internal"
        );
        assert_eq!(host_of_stream("j", "other"), "other");
        assert_eq!(
            host_of_stream("t", "t/i-0a1b2c3d4e5f60718-1718024400/data-log"),
            "i-0a1b2c3d4e5f60718"
        );
    }
}
