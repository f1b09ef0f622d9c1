//! Deployment guardrails that rolled an endpoint update back ("SageMaker Endpoint Deployment
//! State Change"): was it rolled back, and which of the endpoint's auto-rollback alarms
//! triggered it.
//!
//! AWS documents no rollback example of that event, so nothing here depends on a field that
//! would name the alarm. What is documented: the alarms SageMaker watches
//! (DescribeEndpoint `LastDeploymentConfig.AutoRollbackConfiguration.Alarms`, at most 10),
//! their states (DescribeAlarms, one call), the endpoint's status and `FailureReason`, and the
//! event's own `StatusMessage`s. An alarm that one of those texts names is the trigger first;
//! then an alarm in `ALARM`; an alarm that only changed state during the deployment is listed
//! as a suspect, never as the proof of a rollback (a new variant's alarm moves from
//! `INSUFFICIENT_DATA` to `OK` in every good deployment).

use chrono::{DateTime, Duration, Utc};
use sagewatch::status::Status;
use serde::Serialize;

/// What the deployment event said (the report quotes it; the verdict reads it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploymentEvent {
    /// `EndpointStatus` as sent (`IN_SERVICE`, `ROLLING_BACK`, …).
    pub status: Option<String>,
    /// The config the deployment was rolling out (`PendingDeploymentSummary`), when named.
    pub pending_config: Option<String>,
    pub started: Option<DateTime<Utc>>,
    pub messages: Vec<String>,
    pub failure_reason: Option<String>,
    /// The envelope's time: the end of the lookback when the start is not known.
    pub time: Option<DateTime<Utc>>,
}

/// One auto-rollback alarm as DescribeAlarms tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmState {
    pub name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    pub reason: Option<String>,
    /// When its StateValue last changed: StateTransitionedTimestamp, else
    /// StateUpdatedTimestamp (which also moves with EvaluationState).
    pub updated: Option<DateTime<Utc>>,
}

/// Why an alarm is named in the report, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    /// The event's status message or the endpoint's FailureReason names it.
    NamedBySagemaker,
    /// It is in ALARM now.
    InAlarm,
    /// Not in ALARM now, but its state changed while the deployment ran.
    ChangedDuringDeployment,
}

/// How the report's text and chat notice say an [`Evidence`] (they read the report JSON, where
/// it is snake_case).
pub fn evidence_label(serialized: &str) -> &'static str {
    const LABELS: &[(&str, &str)] = &[
        ("named_by_sagemaker", "named by SageMaker"),
        ("in_alarm", "in ALARM"),
        (
            "changed_during_deployment",
            "changed state during the deployment",
        ),
    ];
    LABELS
        .iter()
        .find(|(k, _)| *k == serialized)
        .map_or("named", |(_, label)| label)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Triggered {
    pub alarm: AlarmState,
    pub evidence: Evidence,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Rolled back, or rolling back now: why, and the alarms to name (the caller adds what it
    /// knows of the alarms it could not read or that were not answered).
    RolledBack(Judged),
    /// Nothing to report, and why.
    NotRolledBack(String),
}

/// A rollback established, with what the report says about its alarms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    pub because: &'static str,
    pub in_progress: bool,
    pub triggered: Vec<Triggered>,
    /// DescribeAlarms failed for good (the error): the alarms' states are unknown.
    pub alarms_unreadable: Option<String>,
    /// Auto-rollback alarms DescribeAlarms did not answer (deleted, or composite).
    pub undescribed: Vec<String>,
}

/// What the verdict looks at.
pub struct Facts<'a> {
    pub event: &'a DeploymentEvent,
    /// DescribeEndpoint, now.
    pub status_now: Option<&'a str>,
    pub failure_reason_now: Option<&'a str>,
    pub alarms: &'a [AlarmState],
}

impl Facts<'_> {
    /// Since when a change of an alarm belongs to this deployment: its start when the event
    /// says it, else [`LOOKBACK`] before the event.
    fn since(&self) -> Option<DateTime<Utc>> {
        self.event
            .started
            .or_else(|| self.event.time.map(|t| t - LOOKBACK))
    }

    /// An alarm that went into ALARM during this deployment (one in ALARM since before it, or
    /// of unknown age against an unknown start, counts too: nothing says it is older).
    fn tripped(&self, a: &AlarmState) -> bool {
        a.state == "ALARM"
            && match (self.since(), a.updated) {
                (Some(since), Some(at)) => at >= since,
                _ => true,
            }
    }

    /// Back in service or rolling back: a FailureReason then describes this deployment's
    /// end, not a stage of one still running.
    fn ended(&self) -> bool {
        self.status_now
            .map(Status::new)
            .is_some_and(|s| s.is("InService") || s.is("RollingBack"))
    }
}

/// How far back an alarm's change counts as "during the deployment" when the event does not
/// say when the deployment started (blue/green baking periods are minutes to a few hours).
pub const LOOKBACK: Duration = Duration::hours(3);

/// A sign of a rollback: what the report says, and whether it holds.
type Sign = (&'static str, fn(&Facts) -> bool);

/// The signs that an update was rolled back, checked in order; the first that holds is the
/// `because` of the report.
const SIGNS: &[Sign] = &[
    (
        "the deployment event's EndpointStatus is RollingBack",
        |f| {
            f.event
                .status
                .as_deref()
                .is_some_and(|s| Status::new(s).is("RollingBack"))
        },
    ),
    ("the endpoint is RollingBack", |f| {
        f.status_now
            .is_some_and(|s| Status::new(s).is("RollingBack"))
    }),
    (
        "SageMaker's status message says the update rolled back",
        |f| {
            f.event
                .messages
                .iter()
                .chain(&f.event.failure_reason)
                .any(|m| says_rollback(m))
        },
    ),
    (BY_FAILURE_REASON, |f| {
        f.ended() && f.failure_reason_now.is_some_and(|r| !r.trim().is_empty())
    }),
    (
        "an auto-rollback alarm of the deployment is in ALARM",
        |f| f.alarms.iter().any(|a| f.tripped(a)),
    ),
];

/// The `because` of a verdict that rests on DescribeEndpoint's FailureReason alone.
pub const BY_FAILURE_REASON: &str = "DescribeEndpoint has a FailureReason";

/// Endpoint states after which there is nothing for this report: a failed endpoint has its own
/// report (from its "SageMaker Endpoint State Change"), a deleted one none.
const NOT_HERE: &[(&str, &str)] = &[
    (
        "Failed",
        "its Endpoint State Change event reports the failure",
    ),
    (
        "UpdateRollbackFailed",
        "its Endpoint State Change event reports the failure",
    ),
    ("Deleting", "the endpoint is being deleted"),
    ("Creating", "the endpoint is still being created"),
];

/// `name` appears in `text` as a whole token (not inside a longer alarm name).
fn names(text: &str, name: &str) -> bool {
    let part = |c: char| c.is_ascii_alphanumeric() || "-_./#:".contains(c);
    !name.is_empty()
        && text.match_indices(name).any(|(i, _)| {
            let before = text[..i].chars().next_back();
            let after = text[i + name.len()..].chars().next();
            !before.is_some_and(part) && !after.is_some_and(part)
        })
}

fn says_rollback(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("rollback")
        || t.contains("roll back")
        || t.contains("rolled back")
        || t.contains("rolling back")
}

pub fn judge(f: &Facts) -> Verdict {
    let now = f.status_now.map(Status::new);
    if let Some((s, why)) = NOT_HERE
        .iter()
        .find(|(s, _)| now.as_ref().is_some_and(|n| n.is(s)))
    {
        return Verdict::NotRolledBack(format!("endpoint is {s}: {why}"));
    }
    let Some((because, _)) = SIGNS.iter().find(|(_, holds)| holds(f)) else {
        return Verdict::NotRolledBack(format!(
            "no sign of a rollback (endpoint {}, {} auto-rollback alarm(s), none in ALARM)",
            f.status_now.unwrap_or("(no status)"),
            f.alarms.len()
        ));
    };
    let in_service = now.as_ref().is_some_and(|n| n.is("InService"));
    Verdict::RolledBack(Judged {
        because,
        in_progress: !in_service,
        triggered: triggered(f),
        alarms_unreadable: None,
        undescribed: Vec::new(),
    })
}

/// The alarms worth naming, strongest evidence first, then the first to change first (the
/// trigger; later ones are often its consequences).
fn triggered(f: &Facts) -> Vec<Triggered> {
    let texts: Vec<&str> = f
        .event
        .messages
        .iter()
        .chain(&f.event.failure_reason)
        .map(String::as_str)
        .chain(f.failure_reason_now)
        .collect();
    let since = f.since();
    let mut out: Vec<Triggered> = f
        .alarms
        .iter()
        .filter_map(|a| {
            let evidence = if texts.iter().any(|t| names(t, &a.name)) {
                Evidence::NamedBySagemaker
            } else if f.tripped(a) {
                Evidence::InAlarm
            } else if since.is_some_and(|s| a.updated.is_some_and(|u| u >= s)) {
                Evidence::ChangedDuringDeployment
            } else {
                return None;
            };
            Some(Triggered {
                alarm: a.clone(),
                evidence,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        a.evidence
            .cmp(&b.evidence)
            .then(a.alarm.updated.cmp(&b.alarm.updated))
    });
    out
}

/// The part of the claim key that tells one rollback from the next. Not the alarms' state: it
/// moves between a delivery and its retry. The endpoint's LastModifiedTime (the same in every
/// event SageMaker sends for one change, and until the next update); a verdict that rests on
/// the FailureReason alone is keyed by that text, since SageMaker may keep it across later
/// deployments that would otherwise each report it again.
pub fn occurrence(
    because: &str,
    failure_reason: Option<&str>,
    last_modified: Option<DateTime<Utc>>,
) -> String {
    match failure_reason {
        Some(r) if because == BY_FAILURE_REASON => format!(
            "reason-{:016x}",
            sagewatch::classify::signature::fnv1a64(r.trim().as_bytes())
        ),
        _ => last_modified.map_or("-".into(), |t| t.timestamp_millis().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alarm(name: &str, state: &str, minutes_ago: i64) -> AlarmState {
        AlarmState {
            name: name.into(),
            state: state.into(),
            reason: Some(format!("{name} reason")),
            updated: Some(t0() - Duration::minutes(minutes_ago)),
        }
    }

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_718_043_700, 0).unwrap_or_default()
    }

    fn event(status: &str) -> DeploymentEvent {
        DeploymentEvent {
            status: Some(status.into()),
            time: Some(t0()),
            ..DeploymentEvent::default()
        }
    }

    fn facts<'a>(
        e: &'a DeploymentEvent,
        now: &'a str,
        reason: Option<&'a str>,
        alarms: &'a [AlarmState],
    ) -> Facts<'a> {
        Facts {
            event: e,
            status_now: Some(now),
            failure_reason_now: reason,
            alarms,
        }
    }

    #[test]
    fn an_alarm_in_alarm_after_the_deployment_is_the_trigger() {
        let e = event("IN_SERVICE");
        let alarms = [
            alarm("latency", "OK", 600),
            alarm("errors-5xx", "ALARM", 4),
            alarm("new-variant-invocations", "OK", 20),
        ];
        let Verdict::RolledBack(Judged {
            because,
            in_progress,
            triggered,
            ..
        }) = judge(&facts(&e, "InService", None, &alarms))
        else {
            panic!("not rolled back")
        };
        assert_eq!(
            because,
            "an auto-rollback alarm of the deployment is in ALARM"
        );
        assert!(!in_progress);
        let names: Vec<(&str, Evidence)> = triggered
            .iter()
            .map(|t| (t.alarm.name.as_str(), t.evidence))
            .collect();
        // The alarm that went OK 10 hours ago is not a suspect; the one that changed 20
        // minutes ago is, after the one in ALARM.
        assert_eq!(
            names,
            [
                ("errors-5xx", Evidence::InAlarm),
                ("new-variant-invocations", Evidence::ChangedDuringDeployment)
            ]
        );
        assert_eq!(occurrence(because, None, Some(t0())), "1718043700000");
    }

    #[test]
    fn a_good_deployment_is_not_a_rollback_even_if_an_alarm_changed() {
        let e = event("IN_SERVICE");
        let alarms = [alarm("errors-5xx", "OK", 5)];
        assert!(matches!(
            judge(&facts(&e, "InService", None, &alarms)),
            Verdict::NotRolledBack(_)
        ));
        assert!(matches!(
            judge(&facts(&e, "InService", Some("  "), &[])),
            Verdict::NotRolledBack(_)
        ));
    }

    #[test]
    fn sagemakers_own_words_come_first() {
        let mut e = event("UPDATING");
        e.messages = vec!["Rolling back: alarm errors-5xx is in ALARM state.".into()];
        let alarms = [alarm("latency", "ALARM", 1), alarm("errors-5xx", "OK", 2)];
        let Verdict::RolledBack(Judged {
            because,
            in_progress,
            triggered,
            ..
        }) = judge(&facts(&e, "Updating", None, &alarms))
        else {
            panic!("not rolled back")
        };
        assert_eq!(
            because,
            "SageMaker's status message says the update rolled back"
        );
        assert!(in_progress);
        assert_eq!(triggered[0].alarm.name, "errors-5xx");
        assert_eq!(triggered[0].evidence, Evidence::NamedBySagemaker);
        assert_eq!(triggered[1].evidence, Evidence::InAlarm);
    }

    #[test]
    fn status_signs_without_alarms_still_report_with_no_trigger() {
        let e = event("ROLLING_BACK");
        let Verdict::RolledBack(Judged {
            because, triggered, ..
        }) = judge(&facts(&e, "Updating", None, &[]))
        else {
            panic!("not rolled back")
        };
        assert_eq!(
            because,
            "the deployment event's EndpointStatus is RollingBack"
        );
        assert!(triggered.is_empty());
        let t = DateTime::from_timestamp(1_718_043_000, 0);
        assert_eq!(occurrence(because, None, t), "1718043000000");
        let e = event("IN_SERVICE");
        assert!(matches!(
            judge(&facts(
                &e,
                "InService",
                Some("Rolled back to the previous config"),
                &[]
            )),
            Verdict::RolledBack(Judged {
                because: "DescribeEndpoint has a FailureReason",
                ..
            })
        ));
    }

    #[test]
    fn failed_and_deleted_endpoints_are_left_to_their_own_events() {
        let e = event("ROLLING_BACK");
        let alarms = [alarm("errors-5xx", "ALARM", 1)];
        for now in ["UpdateRollbackFailed", "Failed", "Deleting"] {
            assert!(
                matches!(
                    judge(&facts(&e, now, None, &alarms)),
                    Verdict::NotRolledBack(_)
                ),
                "{now}"
            );
        }
    }

    #[test]
    fn what_does_not_belong_to_this_deployment_proves_nothing() {
        let e = event("IN_SERVICE");
        // In ALARM since a day before the event (auto scaling under a standing 5xx alarm).
        let old = [alarm("errors-5xx", "ALARM", 24 * 60)];
        assert!(matches!(
            judge(&facts(&e, "InService", None, &old)),
            Verdict::NotRolledBack(_)
        ));
        // A FailureReason while the endpoint is still updating (a stage, not the end).
        let mut baking = event("UPDATING");
        baking.failure_reason = Some("Canary instance failed to launch".into());
        assert!(matches!(
            judge(&facts(
                &baking,
                "Updating",
                Some("Canary instance failed"),
                &[]
            )),
            Verdict::NotRolledBack(_)
        ));
        // A name inside a longer alarm's name is not that alarm.
        let mut named = event("UPDATING");
        named.messages = vec!["Rolling back: alarm prod-errors-5xx-high is in ALARM".into()];
        let alarms = [alarm("errors-5xx", "OK", 600)];
        let Verdict::RolledBack(Judged { triggered, .. }) =
            judge(&facts(&named, "Updating", None, &alarms))
        else {
            panic!("not rolled back")
        };
        assert!(triggered.is_empty(), "{triggered:?}");
        assert!(names("alarm errors-5xx is in ALARM", "errors-5xx"));
        assert!(names("errors-5xx", "errors-5xx"));
        assert!(!names("errors-5xx-high", "errors-5xx"));
    }

    #[test]
    fn a_rollback_told_by_its_failure_reason_alone_is_keyed_by_that_text() {
        let e = event("IN_SERVICE");
        let reason = "Rolled back: alarm errors-5xx was triggered";
        let Verdict::RolledBack(Judged { because, .. }) =
            judge(&facts(&e, "InService", Some(reason), &[]))
        else {
            panic!("not rolled back")
        };
        // The text says "rolled back" but it is DescribeEndpoint's, not the event's.
        assert_eq!(because, BY_FAILURE_REASON);
        let a = occurrence(because, Some(reason), Some(t0()));
        let later = occurrence(because, Some(reason), Some(t0() + Duration::days(1)));
        assert_eq!(
            a, later,
            "the same stale FailureReason is the same rollback"
        );
        assert!(a.starts_with("reason-"));
    }

    #[test]
    fn the_first_alarm_to_trip_leads() {
        let e = event("IN_SERVICE");
        let alarms = [
            alarm("latency", "ALARM", 2),
            alarm("errors-5xx", "ALARM", 9),
        ];
        let Verdict::RolledBack(Judged { triggered, .. }) =
            judge(&facts(&e, "InService", None, &alarms))
        else {
            panic!("not rolled back")
        };
        assert_eq!(triggered[0].alarm.name, "errors-5xx");
    }

    #[test]
    fn every_evidence_has_a_label() {
        for e in [
            Evidence::NamedBySagemaker,
            Evidence::InAlarm,
            Evidence::ChangedDuringDeployment,
        ] {
            let json = serde_json::to_value(e).unwrap_or_default();
            assert_ne!(
                evidence_label(json.as_str().unwrap_or("")),
                "named",
                "{e:?}"
            );
        }
    }

    #[test]
    fn a_known_start_bounds_the_suspects() {
        let mut e = event("IN_SERVICE");
        e.started = Some(t0() - Duration::minutes(10));
        let alarms = [
            alarm("errors-5xx", "ALARM", 2),
            alarm("before-the-deployment", "OK", 30),
        ];
        let Verdict::RolledBack(Judged { triggered, .. }) =
            judge(&facts(&e, "InService", None, &alarms))
        else {
            panic!("not rolled back")
        };
        assert_eq!(triggered.len(), 1);
    }
}
