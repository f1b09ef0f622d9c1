//! The safety policy and the decision it makes for one alarm. Pure: no AWS here.

use chrono::{DateTime, Utc};
use sagewatch::env::Env;
use sagewatch::error::ConfigError;
use sagewatch::status::Status;
use serde::Serialize;
use std::collections::BTreeMap;

/// Every outcome of one alarm record; the EMF `Decision` dimension and the report field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// StopTrainingJob called (or SageMaker said it was already stopping).
    Stopped,
    /// An earlier attempt of this function stopped the job (its tags say so) but its notice
    /// was never sent (a failed publish, a crash): the notice is sent now, once.
    StopNotice,
    /// Would have stopped; dry-run mode.
    DryRun,
    /// The job lacks the opt-in tag.
    NotOptedIn,
    /// The job has not trained for the minimum time yet.
    Grace,
    /// The job is not InProgress (Stopping, Stopped, Completed, Failed).
    AlreadyEnded,
    /// The alarm names several different jobs.
    Ambiguous,
    /// The alarm names no training job.
    NoJob,
    /// The job does not exist (in the alarm's account and region).
    JobNotFound,
    /// OK or INSUFFICIENT_DATA: never acted on.
    NotAlarm,
    /// The alarm's name is not in the allow-list.
    NotAllowed,
    /// Kill switch on: nothing is stopped.
    Disabled,
    /// The alarm is in another account and no cross-account role is configured.
    NoCrossAccountRole,
    /// The record is not a readable alarm notification.
    Invalid,
    /// CloudWatch has no such alarm in that account, or it does not watch this job: a forged
    /// or misdirected notification. Nothing is stopped; a person is told.
    Unconfirmed,
    /// A real alarm that is not in this ALARM any more (back to OK, or a later state change).
    Stale,
    /// An AWS call failed in a way a retry cannot fix (e.g. a validation error); job untouched.
    Failed,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Stopped => "stopped",
            Decision::StopNotice => "stop_notice",
            Decision::DryRun => "dry_run",
            Decision::NotOptedIn => "not_opted_in",
            Decision::Grace => "grace",
            Decision::AlreadyEnded => "already_ended",
            Decision::Ambiguous => "ambiguous",
            Decision::NoJob => "no_job",
            Decision::JobNotFound => "job_not_found",
            Decision::NotAlarm => "not_alarm",
            Decision::NotAllowed => "not_allowed",
            Decision::Disabled => "disabled",
            Decision::NoCrossAccountRole => "no_cross_account_role",
            Decision::Invalid => "invalid",
            Decision::Unconfirmed => "unconfirmed",
            Decision::Stale => "stale",
            Decision::Failed => "failed",
        }
    }

    /// Who hears about it. Duplicates (already ended), OK states and alarms we were told to
    /// ignore stay in logs and metrics; everything a person should look at is published.
    pub fn notifies(self) -> bool {
        matches!(
            self,
            Decision::Stopped
                | Decision::StopNotice
                | Decision::DryRun
                | Decision::NotOptedIn
                | Decision::Grace
                | Decision::Ambiguous
                | Decision::NoJob
                | Decision::JobNotFound
                | Decision::NoCrossAccountRole
                | Decision::Unconfirmed
                | Decision::Failed
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Tag a job must carry (`None`: opt-in not required).
    pub opt_in_tag: Option<(String, String)>,
    pub grace_seconds: i64,
    pub dry_run: bool,
    pub kill_switch: bool,
    /// Alarm-name prefixes allowed to stop jobs; empty: every alarm.
    pub alarm_prefixes: Vec<String>,
    /// Namespaces whose metrics name a training job: the training namespace, plus custom
    /// namespaces a team's scripts publish training metrics to.
    pub job_namespaces: Vec<String>,
    /// Read the alarm itself (DescribeAlarms) before acting on a notification of it.
    pub confirm_alarms: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            opt_in_tag: Some(("sagewatch:auto-stop".into(), "true".into())),
            grace_seconds: 900,
            dry_run: false,
            kill_switch: false,
            alarm_prefixes: Vec::new(),
            job_namespaces: vec![crate::resolve::TRAINING_NAMESPACE.to_owned()],
            confirm_alarms: true,
        }
    }
}

impl Policy {
    /// Environment variables (documented in the README):
    /// `SAGEWATCH_REQUIRE_OPT_IN` (true), `SAGEWATCH_OPT_IN_TAG` (`sagewatch:auto-stop=true`),
    /// `SAGEWATCH_GRACE_PERIOD_SECONDS` (900), `SAGEWATCH_DRY_RUN` (false),
    /// `SAGEWATCH_KILL_SWITCH` (false), `SAGEWATCH_ALARM_NAME_PREFIXES` (empty: all),
    /// `SAGEWATCH_CUSTOM_METRIC_NAMESPACES` (namespaces besides `/aws/sagemaker/TrainingJobs`
    /// whose `TrainingJobName` dimension names a job; empty by default),
    /// `SAGEWATCH_CONFIRM_ALARMS` (true: DescribeAlarms before acting).
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let default = Policy::default();
        let opt_in_tag = if env.flag("SAGEWATCH_REQUIRE_OPT_IN", true)? {
            let raw = env.or("SAGEWATCH_OPT_IN_TAG", "sagewatch:auto-stop=true");
            let (k, v) = raw.split_once('=').ok_or_else(|| ConfigError::Invalid {
                name: "SAGEWATCH_OPT_IN_TAG".into(),
                value: raw.clone(),
                reason: "expected key=value".into(),
            })?;
            Some((k.trim().to_owned(), v.trim().to_owned()))
        } else {
            None
        };
        let grace_seconds =
            env.parse_or("SAGEWATCH_GRACE_PERIOD_SECONDS", default.grace_seconds)?;
        if grace_seconds < 0 {
            return Err(ConfigError::Invalid {
                name: "SAGEWATCH_GRACE_PERIOD_SECONDS".into(),
                value: grace_seconds.to_string(),
                reason: "must not be negative".into(),
            });
        }
        Ok(Policy {
            opt_in_tag,
            grace_seconds,
            dry_run: env.flag("SAGEWATCH_DRY_RUN", false)?,
            kill_switch: env.flag("SAGEWATCH_KILL_SWITCH", false)?,
            alarm_prefixes: env.list("SAGEWATCH_ALARM_NAME_PREFIXES"),
            confirm_alarms: env.flag("SAGEWATCH_CONFIRM_ALARMS", default.confirm_alarms)?,
            job_namespaces: default
                .job_namespaces
                .into_iter()
                .chain(env.list("SAGEWATCH_CUSTOM_METRIC_NAMESPACES"))
                .collect(),
        })
    }

    pub fn alarm_allowed(&self, alarm_name: &str) -> bool {
        self.alarm_prefixes.is_empty()
            || self
                .alarm_prefixes
                .iter()
                .any(|p| alarm_name.starts_with(p.as_str()))
    }
}

/// What the guard knows of the job at decision time.
#[derive(Debug, Clone, PartialEq)]
pub struct JobView {
    pub name: String,
    pub arn: Option<String>,
    pub status: Status,
    pub secondary_status: Option<Status>,
    pub training_start_time: Option<DateTime<Utc>>,
    pub creation_time: Option<DateTime<Utc>>,
    pub tags: BTreeMap<String, String>,
}

/// Tags this function writes on a job it stopped (values sanitised for SageMaker).
pub mod stop_tags {
    pub const STOPPED_BY: &str = "sagewatch:stopped-by";
    pub const STOPPED_AT: &str = "sagewatch:stopped-at";
    pub const ALARM: &str = "sagewatch:stop-alarm";
    pub const REASON: &str = "sagewatch:stop-reason";
    /// Written after the stop notice was published: a later delivery sends no second one.
    pub const NOTIFIED: &str = "sagewatch:stop-notified";
    /// The guard rule whose alarm fired (`overfit`, `stall`, …), when the alarm is one.
    pub const RULE: &str = "sagewatch:stop-rule";
}

/// Who asks: this function's recorded name and the alarm, both as the stop tags hold them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asker<'a> {
    pub stopped_by: &'a str,
    pub alarm: &'a str,
}

/// The decision for an ALARM on an existing job.
pub fn decide(policy: &Policy, job: &JobView, asker: Asker<'_>, now: DateTime<Utc>) -> Decision {
    if !job.status.is("InProgress") {
        let ours = job.tags.get(stop_tags::STOPPED_BY).map(String::as_str)
            == Some(asker.stopped_by)
            && job.tags.get(stop_tags::ALARM).map(String::as_str) == Some(asker.alarm);
        let stopping = job.status.is("Stopping") || job.status.is("Stopped");
        if ours && stopping && !job.tags.contains_key(stop_tags::NOTIFIED) {
            return Decision::StopNotice;
        }
        return Decision::AlreadyEnded;
    }
    if let Some((key, value)) = &policy.opt_in_tag {
        let opted_in = job
            .tags
            .get(key)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case(value));
        if !opted_in {
            return Decision::NotOptedIn;
        }
    }
    // Before TrainingStartTime the job is still provisioning: its grace has not begun.
    let trained = job
        .training_start_time
        .map(|start| (now - start).num_seconds());
    if trained.is_none_or(|s| s < policy.grace_seconds) {
        return Decision::Grace;
    }
    if policy.dry_run {
        return Decision::DryRun;
    }
    Decision::Stopped
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    const ME: Asker<'static> = Asker {
        stopped_by: "sagewatch-overfit-guard",
        alarm: "overfit-alarm",
    };

    #[test]
    fn a_stop_of_ours_without_its_notice_gets_the_notice_once() {
        let now = Utc::now();
        let mut j = job("Stopping", Some(3600), Some("true"), now);
        assert_eq!(
            decide(&Policy::default(), &j, ME, now),
            Decision::AlreadyEnded
        );
        j.tags
            .insert(stop_tags::STOPPED_BY.into(), ME.stopped_by.into());
        j.tags.insert(stop_tags::ALARM.into(), ME.alarm.into());
        assert_eq!(
            decide(&Policy::default(), &j, ME, now),
            Decision::StopNotice
        );
        // Another alarm, or another deployment of the guard, did not stop it.
        let other = Asker {
            alarm: "other",
            ..ME
        };
        assert_eq!(
            decide(&Policy::default(), &j, other, now),
            Decision::AlreadyEnded
        );
        j.tags
            .insert(stop_tags::NOTIFIED.into(), "2026-12-01T00:00:00Z".into());
        assert_eq!(
            decide(&Policy::default(), &j, ME, now),
            Decision::AlreadyEnded
        );
        j.tags.remove(stop_tags::NOTIFIED);
        j.status = Status::new("Completed");
        assert_eq!(
            decide(&Policy::default(), &j, ME, now),
            Decision::AlreadyEnded
        );
    }

    fn job(
        status: &str,
        trained_for: Option<i64>,
        tag: Option<&str>,
        now: DateTime<Utc>,
    ) -> JobView {
        JobView {
            name: "j".into(),
            arn: None,
            status: Status::new(status),
            secondary_status: None,
            training_start_time: trained_for.map(|s| now - Duration::seconds(s)),
            creation_time: None,
            tags: tag
                .map(|v| [("sagewatch:auto-stop".to_owned(), v.to_owned())].into())
                .unwrap_or_default(),
        }
    }

    #[test]
    fn decision_table() {
        let now = Utc::now();
        let p = Policy::default();
        let cases = [
            (
                job("InProgress", Some(3600), Some("true"), now),
                Decision::Stopped,
            ),
            (
                job("InProgress", Some(3600), Some("TRUE"), now),
                Decision::Stopped,
            ),
            (
                job("InProgress", Some(3600), Some("false"), now),
                Decision::NotOptedIn,
            ),
            (
                job("InProgress", Some(3600), None, now),
                Decision::NotOptedIn,
            ),
            (
                job("InProgress", Some(60), Some("true"), now),
                Decision::Grace,
            ),
            (job("InProgress", None, Some("true"), now), Decision::Grace),
            (
                job("Stopping", Some(3600), Some("true"), now),
                Decision::AlreadyEnded,
            ),
            (
                job("Completed", Some(3600), Some("true"), now),
                Decision::AlreadyEnded,
            ),
            (
                job("Failed", Some(3600), Some("true"), now),
                Decision::AlreadyEnded,
            ),
            (
                job("Stopped", Some(3600), Some("true"), now),
                Decision::AlreadyEnded,
            ),
        ];
        for (j, want) in cases {
            assert_eq!(decide(&p, &j, ME, now), want, "{j:?}");
        }
        let dry = Policy {
            dry_run: true,
            ..Policy::default()
        };
        assert_eq!(
            decide(
                &dry,
                &job("InProgress", Some(3600), Some("true"), now),
                ME,
                now
            ),
            Decision::DryRun
        );
        let open = Policy {
            opt_in_tag: None,
            ..Policy::default()
        };
        assert_eq!(
            decide(&open, &job("InProgress", Some(3600), None, now), ME, now),
            Decision::Stopped
        );
    }

    #[test]
    fn allow_list_is_by_prefix_of_the_alarm_name() {
        let p = Policy {
            alarm_prefixes: vec!["overfit-".into()],
            ..Policy::default()
        };
        assert!(p.alarm_allowed("overfit-train-1"));
        assert!(!p.alarm_allowed("cpu-train-1"));
        assert!(Policy::default().alarm_allowed("anything"));
    }
}
