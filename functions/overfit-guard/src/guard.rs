//! Guard alarms follow training jobs (issue #17): the second and third inputs of the handler.
//!
//! - **"SageMaker Training Job State Change"**: `InProgress` for an opted-in job →
//!   DescribeTrainingJob (metric definitions, instance type and count) → the job's alarms
//!   (`guard_alarms::alarms_for`) → DescribeAlarms of `<prefix><job>-` → PutMetricAlarm of
//!   each one not there yet, in the job's account. `Completed`, `Failed`, `Stopped` →
//!   the job's alarms that carry this function's tag are deleted; no other alarm is touched.
//! - **The sweep** (schedule input `{"action": "guard-sweep"}`, or a "Scheduled Event"):
//!   DescribeAlarms of the prefix → per job (at most `SAGEWATCH_GUARD_SWEEP_MAX_JOBS` per run)
//!   DescribeTrainingJob → alarms of jobs that ended or no longer exist are deleted (a lost
//!   event), a running job gets the alarms that wait for its warm-up (stall, low GPU).
//!
//! Every write is an upsert by name or a delete of what exists: a duplicate delivery changes
//! nothing. Retryable AWS errors fail the invocation (EventBridge's and Lambda's retries);
//! permanent ones are logged, counted and reported.

use crate::guard_alarms::{
    alarms_for, parse_alarm_name, parse_rules, selection, GuardAlarm, GuardSettings, JobFacts,
    Rule, Skipped, DEFAULT_TRAIN_PATTERN, DEFAULT_VALIDATION_PATTERN,
};
use crate::ports::{Guarding, ListedAlarm, Target, TrainingJobs};
use crate::Guard;
use chrono::Utc;
use lambda_runtime::Error;
use regex::Regex;
use sagewatch::emf::{MetricRecord, Unit};
use sagewatch::env::Env;
use sagewatch::error::{AwsError, ConfigError, RetryableFailure};
use sagewatch::events::{Detail, SageMakerEvent};
use sagewatch::notify::Notifier;
use sagewatch::output::Sink;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use tracing::{error, info, warn};

pub const TRAINING_STATE_CHANGE: &str = "SageMaker Training Job State Change";
/// The sweep schedule's input (infra/template.yaml, `events/training-job-guard-sweep.json`).
pub const SWEEP: &str = "guard-sweep";

/// Tags on every guard alarm: whose it is, its job and rule, and the job's selected rules
/// (the sweep reads them back to put the after-warm-up alarms).
pub mod alarm_tags {
    pub const MANAGED_BY: &str = "sagewatch:managed-by";
    pub const JOB: &str = "sagewatch:training-job";
    pub const RULE: &str = "sagewatch:rule";
    pub const RULES: &str = "sagewatch:guard-rules";
}

/// Which input a payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    JobState,
    Sweep,
    /// SNS records or a Lambda alarm action (anything else is invalid there).
    Alarms,
}

pub fn route(payload: &Value) -> Input {
    let detail_type = payload.get("detail-type").and_then(Value::as_str);
    if detail_type == Some(TRAINING_STATE_CHANGE) {
        Input::JobState
    } else if detail_type == Some("Scheduled Event")
        || payload.get("action").and_then(Value::as_str) == Some(SWEEP)
    {
        Input::Sweep
    } else {
        Input::Alarms
    }
}

#[derive(Debug, Clone)]
pub struct GuardConfig {
    pub settings: GuardSettings,
    /// The alarm topic overfit-guard subscribes to: every guard alarm's action. Unset: the
    /// function creates no alarms (state changes are counted as `disabled`).
    pub alarm_topic_arn: Option<String>,
    /// DescribeTrainingJob calls per sweep run, at most.
    pub sweep_max_jobs: usize,
    /// Accounts the sweep visits besides the home account (through the cross-account role).
    pub sweep_accounts: Vec<String>,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            settings: GuardSettings::default(),
            alarm_topic_arn: None,
            sweep_max_jobs: 50,
            sweep_accounts: Vec::new(),
        }
    }
}

fn invalid(name: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name: name.to_owned(),
        value: value.to_owned(),
        reason: reason.into(),
    }
}

impl GuardConfig {
    /// SAGEWATCH_GUARD_ALARM_TOPIC_ARN (unset: no guard alarms), SAGEWATCH_GUARD_ALARM_PREFIX
    /// (`sagewatch-guard-`), SAGEWATCH_GUARD_TAG (`sagewatch:guard`),
    /// SAGEWATCH_GUARD_DEFAULT_RULES (`overfit stall low-gpu`), SAGEWATCH_GUARD_VALUES
    /// (`rule=value …`, the table's defaults otherwise), SAGEWATCH_GUARD_TRAIN_METRIC_PATTERN,
    /// SAGEWATCH_GUARD_VALIDATION_METRIC_PATTERN, SAGEWATCH_GUARD_PERIOD_SECONDS (60),
    /// SAGEWATCH_GUARD_PATIENCE (3), SAGEWATCH_GUARD_LOW_GPU_PERIODS (15),
    /// SAGEWATCH_GUARD_WARMUP_SECONDS (SAGEWATCH_GRACE_PERIOD_SECONDS, else 900),
    /// SAGEWATCH_GUARD_SWEEP_MAX_JOBS (50), SAGEWATCH_GUARD_SWEEP_ACCOUNTS (none).
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let mut s = GuardSettings::default();
        let prefix = env.or("SAGEWATCH_GUARD_ALARM_PREFIX", &s.prefix);
        let prefix_ok = prefix.starts_with("sagewatch-")
            && prefix.len() <= 64
            && prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !prefix_ok {
            return Err(invalid(
                "SAGEWATCH_GUARD_ALARM_PREFIX",
                &prefix,
                "sagewatch-…, at most 64 letters, digits, '-', '_', '.' (IAM is scoped to it)",
            ));
        }
        s.prefix = prefix;
        s.guard_tag = env.or("SAGEWATCH_GUARD_TAG", &s.guard_tag);
        let values = env.or("SAGEWATCH_GUARD_VALUES", "");
        let (parsed, ignored) = parse_rules(&values, &s);
        if !ignored.is_empty() {
            return Err(invalid(
                "SAGEWATCH_GUARD_VALUES",
                &values,
                ignored.join("; "),
            ));
        }
        // parse_rules checked each value (check_value).
        s.values.extend(parsed);
        let defaults = env.or("SAGEWATCH_GUARD_DEFAULT_RULES", "overfit stall low-gpu");
        let (rules, ignored) = parse_rules(&defaults, &s);
        if !ignored.is_empty() {
            return Err(invalid(
                "SAGEWATCH_GUARD_DEFAULT_RULES",
                &defaults,
                ignored.join("; "),
            ));
        }
        s.default_rules = rules.into_iter().map(|(r, _)| r).collect();
        for (name, default, slot) in [
            (
                "SAGEWATCH_GUARD_TRAIN_METRIC_PATTERN",
                DEFAULT_TRAIN_PATTERN,
                &mut s.train_pattern,
            ),
            (
                "SAGEWATCH_GUARD_VALIDATION_METRIC_PATTERN",
                DEFAULT_VALIDATION_PATTERN,
                &mut s.validation_pattern,
            ),
        ] {
            let raw = env.or(name, default);
            *slot = Regex::new(&raw).map_err(|e| invalid(name, &raw, e.to_string()))?;
        }
        let period = env.parse_or("SAGEWATCH_GUARD_PERIOD_SECONDS", s.period)?;
        if !(period == 10 || period == 30 || (period >= 60 && period % 60 == 0)) {
            return Err(invalid(
                "SAGEWATCH_GUARD_PERIOD_SECONDS",
                &period.to_string(),
                "10, 30 or a multiple of 60 (CloudWatch alarm periods)",
            ));
        }
        s.period = period;
        for (name, slot) in [
            ("SAGEWATCH_GUARD_PATIENCE", &mut s.patience),
            ("SAGEWATCH_GUARD_LOW_GPU_PERIODS", &mut s.low_gpu_periods),
        ] {
            let n = env.positive(name, u64::try_from(*slot).unwrap_or(1))?;
            *slot = i32::try_from(n)
                .ok()
                .filter(|n| i64::from(*n) * i64::from(period) <= 86_400)
                .ok_or_else(|| invalid(name, &n.to_string(), "at most one day of periods"))?;
        }
        let grace = env.parse_or("SAGEWATCH_GRACE_PERIOD_SECONDS", s.warmup_seconds)?;
        s.warmup_seconds = env
            .parse_or("SAGEWATCH_GUARD_WARMUP_SECONDS", grace)?
            .max(0);
        let max_jobs = env.positive("SAGEWATCH_GUARD_SWEEP_MAX_JOBS", 50)?;
        Ok(GuardConfig {
            settings: s,
            alarm_topic_arn: env.optional("SAGEWATCH_GUARD_ALARM_TOPIC_ARN"),
            sweep_max_jobs: usize::try_from(max_jobs).unwrap_or(usize::MAX),
            sweep_accounts: env.list("SAGEWATCH_GUARD_SWEEP_ACCOUNTS"),
        })
    }
}

/// What one state change did to the job's guard alarms.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GuardSync {
    pub job: Option<String>,
    pub account: Option<String>,
    pub status: Option<String>,
    /// `ensured`, `deleted`, `not_opted_in`, `ignored`, `job_not_found`, `disabled`,
    /// `no_cross_account_role`, `invalid`, `failed`.
    pub decision: &'static str,
    pub rules: Vec<Rule>,
    pub created: Vec<String>,
    /// Wanted alarms that exist already (not written again).
    pub unchanged: usize,
    pub deleted: Vec<String>,
    /// Alarms under the job's names without this function's tag: a user's, left alone.
    pub kept: Vec<String>,
    pub skipped: Vec<Skipped>,
    /// What the guard tag said that is not a rule or value.
    pub ignored: Vec<String>,
    pub detail: String,
}

/// What one sweep run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SweepRun {
    pub jobs_checked: usize,
    /// Jobs with alarms left for the next run (over `SAGEWATCH_GUARD_SWEEP_MAX_JOBS`).
    pub jobs_left: usize,
    pub created: Vec<String>,
    pub deleted: Vec<String>,
    pub kept: Vec<String>,
    pub failed: Vec<String>,
}

fn retry(e: AwsError) -> Error {
    Box::new(RetryableFailure::from(e))
}

impl<J: TrainingJobs + Guarding, N: Notifier, S: Sink> Guard<J, N, S> {
    /// A training job state change: put or delete the job's guard alarms.
    pub(crate) async fn job_state(
        &self,
        payload: Value,
        home: Option<&str>,
    ) -> Result<GuardSync, Error> {
        let mut sync = GuardSync::default();
        let event = SageMakerEvent::from_value(payload);
        let (job, account, region) = match event {
            Ok(SageMakerEvent {
                detail: Detail::TrainingJob(job),
                account,
                region,
                ..
            }) => (job, account, region),
            Ok(_) => return Ok(self.guard_invalid(sync, "not a training job detail")),
            Err(e) => return Ok(self.guard_invalid(sync, &e.to_string())),
        };
        let name = job.training_job_name.clone().filter(|n| valid_job_name(n));
        let Some(name) = name else {
            return Ok(self.guard_invalid(sync, "no valid TrainingJobName"));
        };
        sync.job = Some(name.clone());
        sync.account = account.clone();
        sync.status = job.training_job_status.as_ref().map(|s| s.to_string());
        let Some(topic) = self.config.guard.alarm_topic_arn.clone() else {
            sync.decision = "disabled";
            sync.detail = "SAGEWATCH_GUARD_ALARM_TOPIC_ARN is not set".into();
            return Ok(self.guard_record(sync));
        };
        let target = match self
            .config
            .common
            .target(account.as_deref(), region.as_deref(), home)
        {
            Ok(t) => t,
            Err(e) => {
                sync.decision = "no_cross_account_role";
                sync.detail = e.to_string();
                return Ok(self.guard_record(sync));
            }
        };
        let status = job.training_job_status.clone();
        let selected = selection(
            &self.config.guard.settings,
            &job.tags,
            self.config.policy.opt_in_tag.as_ref(),
        );
        let watched =
            matches!(&status, Some(s) if s.is_terminal_job_status() || s.is("InProgress"));
        if watched && selected.is_none() {
            // Most jobs: no call at all. (A job that lost its tags mid-run keeps its alarms
            // until the sweep finds it ended.)
            sync.decision = "not_opted_in";
            sync.detail = format!(
                "no {} tag and no opt-in tag",
                self.config.guard.settings.guard_tag
            );
            return Ok(self.guard_record(sync));
        }
        let result = match (status, selected) {
            (Some(s), _) if s.is_terminal_job_status() => {
                self.remove(&target, &name, &mut sync).await
            }
            (Some(s), Some(selected)) if s.is("InProgress") => {
                sync.rules = selected.rules.iter().map(|(r, _)| *r).collect();
                sync.ignored = selected.ignored.clone();
                self.ensure(&target, &name, &selected, &topic, &mut sync)
                    .await
            }
            (other, _) => {
                sync.decision = "ignored";
                sync.detail = format!(
                    "status {} changes no alarm",
                    other.map_or("(none)".to_owned(), |s| s.to_string())
                );
                Ok(())
            }
        };
        match result {
            Ok(()) => Ok(self.guard_record(sync)),
            Err(e) if e.is_retryable() => {
                // Count what was done before the failure; the retry finishes it.
                warn!(job = %name, error = %e, "guard alarms: retryable failure");
                self.guard_record(sync);
                Err(retry(e))
            }
            Err(e) => {
                error!(job = %name, error = %e, "guard alarms: permanent AWS error");
                sync.decision = "failed";
                sync.detail = format!("{}: {}: {}", e.operation, e.code, e.message);
                Ok(self.guard_record(sync))
            }
        }
    }

    /// The job's wanted alarms that do not exist yet are put; the rest is left as it is.
    async fn ensure(
        &self,
        target: &Target,
        name: &str,
        selected: &crate::guard_alarms::Selection,
        topic: &str,
        sync: &mut GuardSync,
    ) -> Result<(), AwsError> {
        let Some(facts) = self.jobs.describe_job(target, name).await? else {
            sync.decision = "job_not_found";
            sync.detail = "DescribeTrainingJob: no such job in the event's account".into();
            return Ok(());
        };
        if facts.status.is_terminal_job_status() {
            // Delivered late: the job ended meanwhile.
            return self.remove(target, name, sync).await;
        }
        let (wanted, skipped) = alarms_for(
            &self.config.guard.settings,
            &facts,
            &selected.rules,
            Utc::now(),
        );
        sync.skipped = skipped;
        let existing = self.job_alarms(target, name).await?;
        self.put_missing(target, &wanted, &existing, selected, topic, sync)
            .await?;
        sync.decision = "ensured";
        Ok(())
    }

    async fn put_missing(
        &self,
        target: &Target,
        wanted: &[GuardAlarm],
        existing: &[ListedAlarm],
        selected: &crate::guard_alarms::Selection,
        topic: &str,
        created: &mut impl Created,
    ) -> Result<(), AwsError> {
        let have: BTreeSet<&str> = existing.iter().map(|a| a.name.as_str()).collect();
        for alarm in wanted {
            if have.contains(alarm.name.as_str()) {
                created.unchanged();
                continue;
            }
            let tags = vec![
                (
                    alarm_tags::MANAGED_BY.to_owned(),
                    crate::FUNCTION.to_owned(),
                ),
                (alarm_tags::JOB.to_owned(), alarm.job.clone()),
                (alarm_tags::RULE.to_owned(), alarm.rule.key().to_owned()),
                (alarm_tags::RULES.to_owned(), selected.tag_value()),
            ];
            self.jobs
                .put_alarm(target, alarm, &[topic.to_owned()], &tags)
                .await?;
            info!(alarm = %alarm.name, job = %alarm.job, rule = alarm.rule.key(), "guard alarm created");
            created.created(alarm.name.clone());
        }
        Ok(())
    }

    /// The alarms named exactly `<prefix><job>-<rule>` (`<prefix><job>-` also lists the
    /// alarms of `<job>-2`: those are not this job's).
    async fn job_alarms(&self, target: &Target, job: &str) -> Result<Vec<ListedAlarm>, AwsError> {
        let prefix = &self.config.guard.settings.prefix;
        let listed = self
            .jobs
            .list_alarms(target, &format!("{prefix}{job}-"))
            .await?;
        Ok(listed
            .into_iter()
            .filter(|a| parse_alarm_name(prefix, &a.name).is_some_and(|(j, _)| j == job))
            .collect())
    }

    /// Deletes the job's alarms that carry this function's tags; others are kept.
    async fn remove(
        &self,
        target: &Target,
        job: &str,
        sync: &mut GuardSync,
    ) -> Result<(), AwsError> {
        let alarms = self.job_alarms(target, job).await?;
        let Ownership { owned, kept, .. } = self.owned(target, job, alarms).await?;
        if !owned.is_empty() {
            self.jobs.delete_alarms(target, &owned).await?;
        }
        sync.deleted = owned;
        sync.kept = kept;
        sync.decision = "deleted";
        Ok(())
    }

    /// Splits alarms into this function's (its tag, this job) and anyone else's; also the
    /// job's selected rules as its alarms' tags keep them.
    async fn owned(
        &self,
        target: &Target,
        job: &str,
        alarms: Vec<ListedAlarm>,
    ) -> Result<Ownership, AwsError> {
        let mut found = Ownership::default();
        for a in alarms {
            let tags = match &a.arn {
                Some(arn) => self.jobs.alarm_tags(target, arn).await?,
                None => BTreeMap::new(),
            };
            let ours = tags.get(alarm_tags::MANAGED_BY).map(String::as_str)
                == Some(crate::FUNCTION)
                && tags.get(alarm_tags::JOB).map(String::as_str) == Some(job);
            if ours {
                found.owned.push(a.name);
                if let Some(rules) = tags.get(alarm_tags::RULES) {
                    found.rules = Some(rules.clone());
                }
            } else {
                found.kept.push(a.name);
            }
        }
        Ok(found)
    }

    /// The periodic sweep: alarms of jobs that ended (or vanished) go, running jobs get the
    /// alarms that waited for their warm-up.
    pub(crate) async fn sweep(&self, home: Option<&str>) -> Result<SweepRun, Error> {
        let mut run = SweepRun::default();
        let Some(topic) = self.config.guard.alarm_topic_arn.clone() else {
            return Ok(self.sweep_record(run));
        };
        let mut targets = vec![Target {
            account: home.map(str::to_owned),
            ..Target::default()
        }];
        for account in &self.config.guard.sweep_accounts {
            match self.config.common.target(Some(account), None, home) {
                Ok(t) => targets.push(t),
                Err(e) => run.failed.push(format!("{account}: {e}")),
            }
        }
        let mut budget = self.config.guard.sweep_max_jobs;
        for target in targets {
            if let Err(e) = self
                .sweep_target(&target, &topic, &mut budget, &mut run)
                .await
            {
                if e.is_retryable() {
                    self.sweep_record(run);
                    return Err(retry(e));
                }
                error!(account = ?target.account, error = %e, "sweep: permanent AWS error");
                run.failed.push(format!(
                    "{}: {}: {}",
                    target.account.as_deref().unwrap_or("-"),
                    e.operation,
                    e.code
                ));
            }
        }
        Ok(self.sweep_record(run))
    }

    async fn sweep_target(
        &self,
        target: &Target,
        topic: &str,
        budget: &mut usize,
        run: &mut SweepRun,
    ) -> Result<(), AwsError> {
        let prefix = &self.config.guard.settings.prefix;
        let mut by_job: BTreeMap<String, Vec<ListedAlarm>> = BTreeMap::new();
        for a in self.jobs.list_alarms(target, prefix).await? {
            if let Some((job, _)) = parse_alarm_name(prefix, &a.name) {
                by_job.entry(job).or_default().push(a);
            }
        }
        for (job, alarms) in by_job {
            if *budget == 0 {
                run.jobs_left += 1;
                continue;
            }
            *budget -= 1;
            run.jobs_checked += 1;
            let facts = self.jobs.describe_job(target, &job).await?;
            let Ownership { owned, kept, rules } = self.owned(target, &job, alarms.clone()).await?;
            run.kept.extend(kept);
            match facts {
                Some(f) if !f.status.is_terminal_job_status() => {
                    if let Some(rules) = rules {
                        self.sweep_running(target, &f, &alarms, &rules, topic, run)
                            .await?;
                    }
                }
                _ => {
                    if !owned.is_empty() {
                        self.jobs.delete_alarms(target, &owned).await?;
                        info!(job = %job, alarms = owned.len(), "sweep: alarms of an ended job deleted");
                    }
                    run.deleted.extend(owned);
                }
            }
        }
        Ok(())
    }

    /// A running job: the alarms its selection (kept in its alarms' tags) still lacks.
    async fn sweep_running(
        &self,
        target: &Target,
        facts: &JobFacts,
        alarms: &[ListedAlarm],
        rules: &str,
        topic: &str,
        run: &mut SweepRun,
    ) -> Result<(), AwsError> {
        let (rules, _) = parse_rules(rules, &self.config.guard.settings);
        let selected = crate::guard_alarms::Selection {
            rules,
            ignored: Vec::new(),
            source: "guard-tag",
        };
        let (wanted, _) = alarms_for(
            &self.config.guard.settings,
            facts,
            &selected.rules,
            Utc::now(),
        );
        self.put_missing(target, &wanted, alarms, &selected, topic, run)
            .await
    }

    fn guard_invalid(&self, mut sync: GuardSync, reason: &str) -> GuardSync {
        sync.detail = self.config.common.health().invalid(
            &self.sink,
            Utc::now(),
            "invalid_job_state_change",
            reason,
            &[],
        );
        sync.decision = "invalid";
        self.guard_record(sync)
    }

    /// `GuardDecisions{Decision}` with the report, and `GuardAlarms{Action}` per action.
    fn guard_record(&self, sync: GuardSync) -> GuardSync {
        let ns = &self.config.common.metrics_namespace;
        let mut m = MetricRecord::new(ns.clone(), Utc::now());
        m.dimension("Decision", sync.decision)
            .dimension_set(&["Decision"])
            .metric("GuardDecisions", 1.0, Unit::Count)
            .property("sagewatch_event", "guard_alarms");
        if let Value::Object(fields) = json!(sync) {
            for (k, v) in fields {
                if !v.is_null() {
                    m.property(k, v);
                }
            }
        }
        self.sink.write(m.render_logged());
        self.actions(&[
            ("created", sync.created.len()),
            ("deleted", sync.deleted.len()),
            ("skipped", sync.skipped.len()),
        ]);
        info!(
            decision = sync.decision,
            job = sync.job.as_deref().unwrap_or("-"),
            created = sync.created.len(),
            deleted = sync.deleted.len(),
            "guard alarms"
        );
        sync
    }

    fn sweep_record(&self, run: SweepRun) -> SweepRun {
        let ns = &self.config.common.metrics_namespace;
        let mut m = MetricRecord::new(ns.clone(), Utc::now());
        m.metric("GuardSweepJobs", run.jobs_checked as f64, Unit::Count)
            .property("sagewatch_event", "guard_sweep");
        if let Value::Object(fields) = json!(run) {
            for (k, v) in fields {
                m.property(k, v);
            }
        }
        self.sink.write(m.render_logged());
        self.actions(&[
            ("created", run.created.len()),
            ("deleted", run.deleted.len()),
        ]);
        run
    }

    fn actions(&self, counts: &[(&str, usize)]) {
        for (action, n) in counts.iter().filter(|(_, n)| *n > 0) {
            let mut m = MetricRecord::new(self.config.common.metrics_namespace.clone(), Utc::now());
            m.dimension("Action", action)
                .dimension_set(&["Action"])
                .metric("GuardAlarms", *n as f64, Unit::Count);
            self.sink.write(m.render_logged());
        }
    }
}

#[derive(Default)]
struct Ownership {
    owned: Vec<String>,
    kept: Vec<String>,
    /// The `sagewatch:guard-rules` tag of the owned alarms.
    rules: Option<String>,
}

/// Where the alarms a call created are counted.
trait Created {
    fn created(&mut self, name: String);
    fn unchanged(&mut self) {}
}

impl Created for GuardSync {
    fn created(&mut self, name: String) {
        self.created.push(name);
    }
    fn unchanged(&mut self) {
        self.unchanged += 1;
    }
}

impl Created for SweepRun {
    fn created(&mut self, name: String) {
        self.created.push(name);
    }
}

/// SageMaker's training job names: 1-63 letters, digits and hyphens (so alarm names fit).
fn valid_job_name(name: &str) -> bool {
    let b = name.as_bytes();
    (1..=63).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inputs_are_told_apart_by_shape() {
        let sample = sagewatch::testing::sample;
        assert_eq!(
            route(&sample("training-job-state-change.json")),
            Input::JobState
        );
        assert_eq!(
            route(&sample("alarm-sns-single-metric.json")),
            Input::Alarms
        );
        assert_eq!(route(&json!({"action": SWEEP})), Input::Sweep);
        assert_eq!(
            route(&json!({"detail-type": "Scheduled Event", "source": "aws.events"})),
            Input::Sweep
        );
        assert_eq!(route(&json!({"hello": 1})), Input::Alarms);
    }

    #[test]
    fn job_names_are_sagemakers() {
        assert!(valid_job_name("train-1"));
        assert!(!valid_job_name("-x"));
        assert!(!valid_job_name(&"a".repeat(64)));
        assert!(!valid_job_name("a/b"));
    }
}
