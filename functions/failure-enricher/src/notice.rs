//! Opt-in completion notices: a job tagged `sagewatch:notify=always` gets a short notice when
//! it ends `Completed` or `Stopped` (by a person; a time limit is a failure report): how long
//! it ran, its billable time and instance-seconds. Built from the event alone (no AWS call
//! but the publish); event-augmenter's utilization report is not read here.

use crate::report::{self, Report};
use crate::request::Via;
use chrono::{DateTime, Utc};
use sagewatch::events::JobType;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The opt-in tag and the value that asks for a notice on every end.
pub const NOTIFY_TAG: &str = "sagewatch:notify";
pub const ALWAYS: &str = "always";
/// The statuses a notice is for (`Failed` gets a failure report instead).
const STATUSES: &[&str] = &["Completed", "Stopped"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeRequest {
    pub job_type: JobType,
    pub job_name: String,
    pub job_arn: Option<String>,
    /// `Completed` or `Stopped`, as the event says.
    pub status: &'static str,
    pub account: Option<String>,
    pub region: Option<String>,
    pub via: Via,
    pub event_id: Option<String>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub billable_seconds: Option<u64>,
    pub instance_type: Option<String>,
    pub instance_count: Option<u64>,
}

/// The notice status when the job opted in and ended in one of [`STATUSES`].
pub fn wanted(tags: &BTreeMap<String, String>, status: &str) -> Option<&'static str> {
    let opted_in = tags
        .get(NOTIFY_TAG)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(ALWAYS));
    if !opted_in {
        return None;
    }
    STATUSES
        .iter()
        .find(|s| s.eq_ignore_ascii_case(status))
        .copied()
}

/// `1h 02m 03s`, `4m 05s`, `7s`.
pub fn human(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s:02}s"),
        _ => format!("{h}h {m:02}m {s:02}s"),
    }
}

pub fn build(r: &NoticeRequest) -> Report {
    let duration = r
        .start_time
        .zip(r.end_time)
        .map(|(s, e)| u64::try_from((e - s).num_seconds()).unwrap_or(0));
    let count = r.instance_count.unwrap_or(1);
    let region = r.region.as_deref();
    let mut doc = json!({
        "resource_type": crate::job::resource_type(r.job_type),
        "report_kind": "notice",
        "job_type": r.job_type.as_str(),
        "job_name": r.job_name,
        "job_arn": r.job_arn,
        "account": r.account,
        "region": region,
        "status": r.status,
        "start_time": r.start_time,
        "end_time": r.end_time,
        "duration_seconds": duration,
        "billable_seconds": r.billable_seconds,
        "instance_type": r.instance_type,
        "instance_count": r.instance_count,
        "instance_seconds": duration.map(|d| d * count),
        "console_url": region.map(|reg| report::console_url(r.job_type, &r.job_name, reg)),
    });
    if let Value::Object(map) = &mut doc {
        map.retain(|_, v| !v.is_null());
    }
    report::redact_report(&mut doc, sagewatch::redact::redact_json);
    let verb = r.status.to_ascii_lowercase();
    let subject = match duration {
        Some(d) => format!("{} {verb} after {}", r.job_name, human(d)),
        None => format!("{} {verb}", r.job_name),
    };
    let text = text(&doc, &subject);
    Report {
        json: doc,
        subject,
        text,
    }
}

/// The one-line summary and the facts, from the (redacted) document.
pub fn summary(doc: &Value) -> String {
    let n = |k: &str| doc.get(k).and_then(Value::as_u64);
    let mut parts = Vec::new();
    if let Some(d) = n("duration_seconds") {
        parts.push(format!("ran {}", human(d)));
    }
    if let Some(b) = n("billable_seconds") {
        parts.push(format!("billable {}", human(b)));
    }
    if let (Some(i), Some(t)) = (
        n("instance_seconds"),
        doc.get("instance_type").and_then(Value::as_str),
    ) {
        parts.push(format!(
            "{} instance-seconds on {} x {t}",
            i,
            n("instance_count").unwrap_or(1)
        ));
    }
    parts.join(", ")
}

fn text(doc: &Value, subject: &str) -> String {
    let s = |k: &str| doc.get(k).and_then(Value::as_str).unwrap_or("");
    let mut out = String::new();
    let _ = writeln!(out, "{subject} ({} job)", s("job_type"));
    let line = summary(doc);
    if !line.is_empty() {
        let _ = writeln!(out, "\n{line}");
    }
    let _ = writeln!(
        out,
        "\nJob: {}\nAccount/region: {}/{}",
        if s("job_arn").is_empty() {
            s("job_name")
        } else {
            s("job_arn")
        },
        s("account"),
        s("region")
    );
    if !s("console_url").is_empty() {
        let _ = writeln!(out, "Console: {}", s("console_url"));
    }
    let _ = writeln!(
        out,
        "\n(You get this because the job is tagged {NOTIFY_TAG}={ALWAYS}.)"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_opted_in_jobs_that_ended_well_or_were_stopped() {
        let tags = |v: &str| BTreeMap::from([(NOTIFY_TAG.to_owned(), v.to_owned())]);
        assert_eq!(wanted(&tags("always"), "Completed"), Some("Completed"));
        assert_eq!(wanted(&tags(" Always "), "Stopped"), Some("Stopped"));
        assert_eq!(wanted(&tags("always"), "Failed"), None);
        assert_eq!(wanted(&tags("always"), "InProgress"), None);
        assert_eq!(wanted(&tags("on-failure"), "Completed"), None);
        assert_eq!(wanted(&BTreeMap::new(), "Completed"), None);
    }

    #[test]
    fn durations_read_like_a_clock() {
        assert_eq!(human(7), "7s");
        assert_eq!(human(245), "4m 05s");
        assert_eq!(human(3723), "1h 02m 03s");
    }
}
