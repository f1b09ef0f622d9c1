//! Is this notification what CloudWatch says now? Anyone allowed to publish to the alarm topic
//! or to invoke the function can send a notification naming any alarm, account and job. Before
//! stopping, the guard reads the alarm itself (DescribeAlarms, in the alarm's account) and acts
//! only when the alarm exists, is in ALARM now, watches this very job in a training namespace,
//! and entered ALARM at the time the notification says (a stale ALARM delivered after the alarm
//! went back to OK, or a replay of an old one, does not stop a job). Pure: the adapter reads.

use crate::resolve::{job_account, resolve_metrics, Resolution};
use chrono::{DateTime, Utc};
use sagewatch::alarm::{AlarmMetric, AlarmNotification, AlarmState};

/// What DescribeAlarms says of the alarm.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmFacts {
    pub state: AlarmState,
    pub state_updated: Option<DateTime<Utc>>,
    /// The metrics it watches (single metric, or every `MetricStat` of its metric math).
    pub metrics: Vec<AlarmMetric>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    Confirmed,
    /// The alarm does not exist, or does not watch this job: not a CloudWatch notification.
    Forged(String),
    /// A real alarm, but not in this ALARM any more (or not yet at the time given).
    Stale(String),
}

/// How far apart the notification's StateChangeTime and the alarm's StateUpdatedTimestamp may
/// be: both are the same instant, written with millisecond precision.
const SAME_INSTANT_MS: i64 = 1_000;

/// `account` is the account the notification places the job in (see
/// [`crate::resolve::job_account`]); the alarm must read the job's metrics from that account too.
pub fn confirm(
    notification: &AlarmNotification,
    facts: Option<&AlarmFacts>,
    job: &str,
    account: Option<&str>,
    namespaces: &[String],
) -> Confirmation {
    let Some(facts) = facts else {
        return Confirmation::Forged(format!(
            "no alarm named {} in the alarm's account and region",
            notification.alarm_name
        ));
    };
    match resolve_metrics(&facts.metrics, namespaces) {
        Resolution::Job(j) if j == job => {}
        other => {
            return Confirmation::Forged(format!(
                "the alarm {} does not watch training job {job} ({other:?})",
                notification.alarm_name
            ))
        }
    }
    let watched = job_account(
        &facts.metrics,
        namespaces,
        job,
        notification.account.as_deref(),
    );
    if watched.as_ref().map(Option::as_deref) != Ok(account) {
        return Confirmation::Forged(format!(
            "the alarm {} reads {job}'s metrics from {watched:?}, not from account {}",
            notification.alarm_name,
            account.unwrap_or("-")
        ));
    }
    if facts.state != AlarmState::Alarm {
        return Confirmation::Stale(format!("the alarm is {} now", facts.state.as_str()));
    }
    match (notification.state_change_time, facts.state_updated) {
        (Some(said), Some(is)) if (said - is).num_milliseconds().abs() <= SAME_INSTANT_MS => {
            Confirmation::Confirmed
        }
        (said, is) => Confirmation::Stale(format!(
            "the notification's state change ({}) is not the alarm's current one ({})",
            said.map_or("-".into(), |t| t.to_rfc3339()),
            is.map_or("-".into(), |t| t.to_rfc3339())
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::TRAINING_NAMESPACE;
    use chrono::Duration;

    fn notification() -> AlarmNotification {
        let payload = sagewatch::testing::sample("alarm-sns-host-dimension.json");
        sagewatch::alarm::alarms_from_payload(&payload)
            .unwrap()
            .remove(0)
            .unwrap()
    }

    fn facts(n: &AlarmNotification) -> AlarmFacts {
        AlarmFacts {
            state: AlarmState::Alarm,
            state_updated: n.state_change_time,
            metrics: n.metrics.clone(),
        }
    }

    #[test]
    fn only_the_alarm_as_it_is_now_confirms() {
        let ns = vec![TRAINING_NAMESPACE.to_owned()];
        let n = notification();
        let job = "sagewatch-demo-train-1";
        let acct = n.account.as_deref();
        assert_eq!(
            confirm(&n, Some(&facts(&n)), job, acct, &ns),
            Confirmation::Confirmed
        );
        assert!(matches!(
            confirm(&n, None, job, acct, &ns),
            Confirmation::Forged(_)
        ));
        // A real alarm on another job, named in a forged notification.
        assert!(matches!(
            confirm(&n, Some(&facts(&n)), "someone-elses-job", acct, &ns),
            Confirmation::Forged(_)
        ));
        let mut ok = facts(&n);
        ok.state = AlarmState::Ok;
        assert!(matches!(
            confirm(&n, Some(&ok), job, acct, &ns),
            Confirmation::Stale(_)
        ));
        // In ALARM again, but since a later state change: this delivery is an old one.
        let mut later = facts(&n);
        later.state_updated = n.state_change_time.map(|t| t + Duration::minutes(10));
        assert!(matches!(
            confirm(&n, Some(&later), job, acct, &ns),
            Confirmation::Stale(_)
        ));
        let mut close = facts(&n);
        close.state_updated = n.state_change_time.map(|t| t + Duration::milliseconds(400));
        assert_eq!(
            confirm(&n, Some(&close), job, acct, &ns),
            Confirmation::Confirmed
        );
    }

    #[test]
    fn the_alarm_must_read_the_job_from_the_account_the_notification_names() {
        let ns = vec![TRAINING_NAMESPACE.to_owned()];
        let n = notification();
        let job = "sagewatch-demo-train-1";
        let mut elsewhere = facts(&n);
        for m in &mut elsewhere.metrics {
            m.account_id = Some("111122223333".into());
        }
        assert_eq!(
            confirm(&n, Some(&elsewhere), job, Some("111122223333"), &ns),
            Confirmation::Confirmed
        );
        // The real alarm watches the job in its own account; the notification says another.
        assert!(matches!(
            confirm(&n, Some(&facts(&n)), job, Some("111122223333"), &ns),
            Confirmation::Forged(_)
        ));
    }
}
