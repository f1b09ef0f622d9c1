//! overfit-guard: a CloudWatch alarm on a training job's metrics fires → stop that job, safely.
//!
//! Per record: parse → only ALARM acts → kill switch / allow-list → resolve exactly one job
//! → find it (status + tags in one call) → policy decides → StopTrainingJob → AddTags (who and
//! why) → SNS notification → one EMF line that is both the StopDecisions metric and the report.
//! At most five AWS calls per ALARM record: Search, StopTrainingJob, AddTags, Publish, and an
//! AddTags that records the notice went out (so a retry after a failed publish sends it, once).
//! Unreadable records are counted as `InvalidEvents` by [Function] (the health counter every
//! function writes) as well as `StopDecisions{Decision=invalid}`.

pub mod adapter;
pub mod confirm;
pub mod guard;
pub mod guard_alarms;
pub mod policy;
pub mod ports;
pub mod resolve;

use chrono::Utc;
use lambda_runtime::{Error, LambdaEvent};
use policy::{decide, stop_tags, Asker, Decision, Policy};
use ports::{Guarding, StopOutcome, TrainingJobs};
use resolve::{resolve_job, Resolution};
use sagewatch::alarm::{alarms_from_payload, AlarmNotification, AlarmState};
use sagewatch::chat::ChatMessage;
use sagewatch::config::Common;
use sagewatch::emf::{MetricRecord, Unit};
use sagewatch::env::Env;
use sagewatch::error::{AwsError, ConfigError, ErrorKind, RetryLater, RetryableFailure};
use sagewatch::notify::{publish_chat, Notification, Notifier};
use sagewatch::output::Sink;
use serde::Serialize;
use serde_json::{json, Value};
use tracing::{error, info, warn};

/// The `Function` dimension of the health counters.
pub const FUNCTION: &str = "overfit-guard";

/// Tag values in SageMaker allow letters, digits, spaces and `_.:/=+-@`, up to 256 characters.
const MAX_TAG_VALUE: usize = 256;

pub struct Config {
    pub common: Common,
    pub policy: Policy,
    /// Where decisions a person should see are published.
    pub alerts_topic_arn: String,
    /// SAGEWATCH_CHAT_TOPIC_ARN: where stop notices go again as chat notices (optional).
    pub chat_topic_arn: Option<String>,
    /// Recorded in the `sagewatch:stopped-by` tag.
    pub stopped_by: String,
    /// The guard alarms that follow training jobs (issue #17; `guard.rs`).
    pub guard: guard::GuardConfig,
}

impl Config {
    /// The shared settings, the policy (see [`Policy::from_env`]), SAGEWATCH_ALERTS_TOPIC_ARN
    /// and the function's name for the `sagewatch:stopped-by` tag.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Config {
            common: Common::from_env(env, FUNCTION)?,
            policy: Policy::from_env(env)?,
            alerts_topic_arn: env.required("SAGEWATCH_ALERTS_TOPIC_ARN")?,
            chat_topic_arn: env
                .optional("SAGEWATCH_CHAT_TOPIC_ARN")
                .filter(|a| !a.trim().is_empty()),
            stopped_by: env.or("AWS_LAMBDA_FUNCTION_NAME", "sagewatch-overfit-guard"),
            guard: guard::GuardConfig::from_env(env)?,
        })
    }
}

pub struct Guard<J, N, S> {
    pub jobs: J,
    pub notifier: N,
    /// The optional chat topic (SAGEWATCH_CHAT_TOPIC_ARN): stop notices as AWS chat custom
    /// notifications, best effort after the notice went out.
    pub chat: Option<N>,
    pub sink: S,
    pub config: Config,
}

/// What happened to one record; the Lambda response lists them (handy with `cargo lambda invoke`).
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub record: usize,
    pub decision: Decision,
    pub alarm: Option<String>,
    pub job: Option<String>,
    pub detail: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    /// One per alarm record (empty for a job state change or the sweep).
    pub outcomes: Vec<Outcome>,
    /// What a training job state change did to the job's guard alarms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarms: Option<guard::GuardSync>,
    /// What the periodic sweep did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep: Option<guard::SweepRun>,
}

/// What the guard concluded about one alarm record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concluded {
    pub decision: Decision,
    pub job: Option<String>,
    pub detail: String,
    /// The notice was published.
    pub notified: bool,
}

impl<J: TrainingJobs + Guarding, N: Notifier, S: Sink> Guard<J, N, S> {
    /// One handler for the three inputs, routed by shape: a training job state change (its
    /// guard alarms), the scheduled sweep, or alarm notifications (the stop path).
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Summary, Error> {
        let home_account = self
            .config
            .common
            .home_account(&event.context.invoked_function_arn);
        match guard::route(&event.payload) {
            guard::Input::JobState => {
                let sync = self
                    .job_state(event.payload, home_account.as_deref())
                    .await?;
                return Ok(Summary {
                    alarms: Some(sync),
                    ..Summary::default()
                });
            }
            guard::Input::Sweep => {
                let run = self.sweep(home_account.as_deref()).await?;
                return Ok(Summary {
                    sweep: Some(run),
                    ..Summary::default()
                });
            }
            guard::Input::Alarms => {}
        }
        let alarms = match alarms_from_payload(&event.payload) {
            Ok(a) => a,
            // Not something a retry can fix: log, count, succeed.
            Err(e) => {
                return Ok(Summary {
                    outcomes: vec![self.invalid(0, "unrecognised_payload", &e.to_string())],
                    ..Summary::default()
                })
            }
        };
        let mut outcomes = Vec::with_capacity(alarms.len());
        let mut retryable = Vec::new();
        for (index, parsed) in alarms.into_iter().enumerate() {
            match parsed {
                Err(e) => outcomes.push(self.invalid(index, "malformed_record", &e.to_string())),
                Ok(alarm) => match self.handle_alarm(&alarm, home_account.as_deref()).await {
                    Ok(c) => outcomes.push(Outcome {
                        record: index,
                        decision: c.decision,
                        alarm: Some(alarm.alarm_name.clone()),
                        job: c.job,
                        detail: c.detail,
                    }),
                    Err(e) => {
                        warn!(record = index, alarm = %alarm.alarm_name, error = %e, "retryable failure");
                        retryable.push(e);
                    }
                },
            }
        }
        if !retryable.is_empty() {
            return Err(Box::new(RetryableFailure(retryable)));
        }
        Ok(Summary {
            outcomes,
            ..Summary::default()
        })
    }

    /// A record we cannot read: counted (`InvalidEvents` and `StopDecisions{invalid}`),
    /// never acted on.
    fn invalid(&self, record: usize, reason: &str, detail: &str) -> Outcome {
        let detail = self.config.common.health().invalid(
            &self.sink,
            Utc::now(),
            reason,
            detail,
            &[("record", json!(record))],
        );
        self.record(
            Decision::Invalid,
            json!({"record": record, "detail": detail}),
        );
        Outcome {
            record,
            decision: Decision::Invalid,
            alarm: None,
            job: None,
            detail,
        }
    }

    /// The decision for one alarm; `Err` only for failures a retry can fix.
    async fn handle_alarm(
        &self,
        alarm: &AlarmNotification,
        home_account: Option<&str>,
    ) -> Result<Concluded, RetryLater> {
        let policy = &self.config.policy;
        let early = if alarm.new_state != AlarmState::Alarm {
            Some((
                Decision::NotAlarm,
                format!("state {} is never acted on", alarm.new_state.as_str()),
            ))
        } else if policy.kill_switch {
            Some((
                Decision::Disabled,
                "kill switch is on (SAGEWATCH_KILL_SWITCH)".to_owned(),
            ))
        } else if !policy.alarm_allowed(&alarm.alarm_name)
            // The function's own guard alarms are always allowed: it created them.
            && !alarm
                .alarm_name
                .starts_with(&self.config.guard.settings.prefix)
        {
            Some((
                Decision::NotAllowed,
                "alarm name matches no allowed prefix".to_owned(),
            ))
        } else {
            None
        };
        if let Some((decision, detail)) = early {
            return self.conclude(alarm, None, None, decision, detail).await;
        }

        let job = match resolve_job(alarm, &policy.job_namespaces) {
            Resolution::Job(job) => job,
            Resolution::NoJob => {
                let detail = format!(
                    "the alarm has no TrainingJobName or Host=<job>/algo-<n> dimension in {}",
                    policy.job_namespaces.join(", ")
                );
                return self
                    .conclude(alarm, None, None, Decision::NoJob, detail)
                    .await;
            }
            Resolution::Ambiguous(jobs) => {
                let detail = format!(
                    "the alarm names {} different jobs: {}",
                    jobs.len(),
                    jobs.join(", ")
                );
                return self
                    .conclude(alarm, None, None, Decision::Ambiguous, detail)
                    .await;
            }
        };

        // A cross-account observability alarm reads the job's metrics in another account
        // (`AccountId` of its queries): the job is looked up and stopped there, while the
        // alarm itself is read where it lives.
        let job_account = match resolve::job_account(
            &alarm.metrics,
            &policy.job_namespaces,
            &job,
            alarm.account.as_deref(),
        ) {
            Ok(account) => account,
            Err(accounts) => {
                let detail = format!(
                    "the metrics naming {job} are read from {} different accounts: {}",
                    accounts.len(),
                    accounts.join(", ")
                );
                return self
                    .conclude(alarm, Some(&job), None, Decision::Ambiguous, detail)
                    .await;
            }
        };
        let targets = self
            .config
            .common
            .target(
                alarm.account.as_deref(),
                alarm.region.as_deref(),
                home_account,
            )
            .and_then(|alarm_target| {
                let job_target = self.config.common.target(
                    job_account.as_deref(),
                    alarm.region.as_deref(),
                    home_account,
                )?;
                Ok((alarm_target, job_target))
            });
        let (alarm_target, target) = match targets {
            Ok(t) => t,
            Err(e) => {
                return self
                    .conclude(
                        alarm,
                        Some(&job),
                        None,
                        Decision::NoCrossAccountRole,
                        e.to_string(),
                    )
                    .await;
            }
        };

        if policy.confirm_alarms {
            let facts = match self.jobs.alarm(&alarm_target, &alarm.alarm_name).await {
                Ok(facts) => facts,
                Err(e) => return self.permanent_or_retry(alarm, &job, e).await,
            };
            let confirmation = confirm::confirm(
                alarm,
                facts.as_ref(),
                &job,
                job_account.as_deref(),
                &policy.job_namespaces,
            );
            let refused = match confirmation {
                confirm::Confirmation::Confirmed => None,
                confirm::Confirmation::Forged(why) => Some((Decision::Unconfirmed, why)),
                confirm::Confirmation::Stale(why) => Some((Decision::Stale, why)),
            };
            if let Some((decision, detail)) = refused {
                warn!(alarm = %alarm.alarm_name, job = %job, %detail, "notification not confirmed by CloudWatch");
                return self
                    .conclude(alarm, Some(&job), None, decision, detail)
                    .await;
            }
        }

        let view = match self.jobs.find(&target, &job).await {
            Ok(Some(view)) => view,
            Ok(None) => {
                // Search is eventually consistent; only DescribeTrainingJob can say "no such job".
                return match self.jobs.exists(&target, &job).await {
                    Ok(false) => {
                        let detail =
                            "no such training job in the alarm's account and region".to_owned();
                        self.conclude(alarm, Some(&job), None, Decision::JobNotFound, detail)
                            .await
                    }
                    Ok(true) => Err(RetryLater::NotReady(format!(
                        "{job} exists but Search does not find it yet"
                    ))),
                    Err(e) => self.permanent_or_retry(alarm, &job, e).await,
                };
            }
            Err(e) => return self.permanent_or_retry(alarm, &job, e).await,
        };

        let stopped_by = tag_value(&self.config.stopped_by);
        let alarm_tag = tag_value(&alarm.alarm_name);
        let asker = Asker {
            stopped_by: &stopped_by,
            alarm: &alarm_tag,
        };
        let mut decision = decide(policy, &view, asker, Utc::now());
        let mut detail = match decision {
            Decision::AlreadyEnded => format!("job is {}", view.status),
            Decision::StopNotice => format!(
                "stopped by an earlier attempt of {stopped_by} (job is {}); its notice was not sent then",
                view.status
            ),
            Decision::NotOptedIn => match &policy.opt_in_tag {
                Some((k, v)) => format!("job lacks the opt-in tag {k}={v}"),
                None => String::new(),
            },
            Decision::Grace => format!("job has trained less than {} s", policy.grace_seconds),
            Decision::DryRun => "dry run: would stop".to_owned(),
            _ => String::new(),
        };
        if decision == Decision::Stopped {
            match self.jobs.stop(&target, &job).await {
                Ok(StopOutcome::Stopping) => {
                    detail = "StopTrainingJob accepted".to_owned();
                    if let Some(arn) = &view.arn {
                        let tags = self.stop_tags(alarm, &job);
                        if let Err(e) = self.jobs.tag(&target, arn, &tags).await {
                            // The stop happened; a missing audit tag must not undo or repeat it.
                            warn!(job = %job, error = %e, "job stopped but AddTags failed");
                            detail.push_str(&format!("; tagging failed: {}", e.kind));
                        }
                    }
                }
                Ok(StopOutcome::AlreadyInStatus(msg)) => {
                    decision = Decision::AlreadyEnded;
                    detail = msg;
                }
                Err(e) => return self.permanent_or_retry(alarm, &job, e).await,
            }
        }
        let concluded = self
            .conclude(alarm, Some(&job), Some(&view), decision, detail)
            .await?;
        if concluded.notified && matches!(decision, Decision::Stopped | Decision::StopNotice) {
            if let Some(arn) = &view.arn {
                let notified = vec![(
                    stop_tags::NOTIFIED.to_owned(),
                    tag_value(&Utc::now().to_rfc3339()),
                )];
                if let Err(e) = self.jobs.tag(&target, arn, &notified).await {
                    // The notice went out; only a redelivery could send it a second time.
                    warn!(job = %job, error = %e, "stop notice sent but not recorded on the job");
                }
            }
        }
        Ok(concluded)
    }

    async fn permanent_or_retry(
        &self,
        alarm: &AlarmNotification,
        job: &str,
        e: AwsError,
    ) -> Result<Concluded, RetryLater> {
        if e.is_retryable() {
            return Err(e.into());
        }
        error!(job, error = %e, "permanent AWS error; job left as it is");
        // With the template's IAM policy, StopTrainingJob on a job without the opt-in tag is
        // denied by an `aws:ResourceTag` condition: that is the opt-in check, enforced by IAM.
        // Any other refusal (Search, DescribeTrainingJob) is a failure to look into.
        let decision = if e.kind == ErrorKind::AccessDenied && e.operation == "StopTrainingJob" {
            Decision::NotOptedIn
        } else {
            Decision::Failed
        };
        let detail = format!("{}: {}: {}", e.operation, e.code, e.message);
        self.conclude(alarm, Some(job), None, decision, detail)
            .await
    }

    /// The rule an alarm stands for: a guard alarm, or a stack alarm of overfit-alarm.yaml.
    fn rule_of(&self, alarm: &AlarmNotification, job: &str) -> Option<guard_alarms::Rule> {
        guard_alarms::rule_of_alarm(&self.config.guard.settings.prefix, &alarm.alarm_name, job)
    }

    fn stop_tags(&self, alarm: &AlarmNotification, job: &str) -> Vec<(String, String)> {
        let mut tags = vec![
            (
                stop_tags::STOPPED_BY.into(),
                tag_value(&self.config.stopped_by),
            ),
            (
                stop_tags::STOPPED_AT.into(),
                tag_value(&Utc::now().to_rfc3339()),
            ),
            (stop_tags::ALARM.into(), tag_value(&alarm.alarm_name)),
            (
                stop_tags::REASON.into(),
                tag_value(alarm.reason.as_deref().unwrap_or("")),
            ),
        ];
        if let Some(rule) = self.rule_of(alarm, job) {
            tags.push((stop_tags::RULE.into(), rule.key().into()));
        }
        tags
    }

    /// Log, count, and (when the decision calls for it) notify. A passing publish failure is
    /// retried (after a stop, the retry finds the job stopped by us and sends the notice as
    /// `stop_notice`); a permanent one is logged and the decision stands.
    async fn conclude(
        &self,
        alarm: &AlarmNotification,
        job: Option<&str>,
        view: Option<&policy::JobView>,
        decision: Decision,
        detail: String,
    ) -> Result<Concluded, RetryLater> {
        let rule = job.and_then(|j| self.rule_of(alarm, j)).map(|r| r.key());
        let report = json!({
            "decision": decision,
            "detail": detail,
            "rule": rule,
            "alarm_name": alarm.alarm_name,
            "alarm_arn": alarm.alarm_arn,
            "alarm_reason": alarm.reason,
            "alarm_state": alarm.new_state.as_str(),
            "state_change_time": alarm.state_change_time,
            "account": alarm.account,
            "region": alarm.region,
            "training_job_name": job,
            "training_job_arn": view.and_then(|v| v.arn.clone()),
            "job_status": view.map(|v| v.status.as_str().to_owned()),
            "dry_run": self.config.policy.dry_run,
        });
        info!(decision = decision.as_str(), alarm = %alarm.alarm_name, job = job.unwrap_or("-"), detail = %detail, "stop decision");
        let mut notified = false;
        if decision.notifies() {
            let job_text = job.unwrap_or("(no job)");
            let subject = format!(
                "sagewatch: {} {} (alarm {})",
                decision.as_str(),
                job_text,
                alarm.alarm_name
            );
            let text = format!(
                "sagewatch overfit-guard: {}\n\nJob: {}\nAlarm: {} ({})\nRule: {}\nReason: {}\nDecision: {} - {}\nAccount/region: {}/{}\n",
                decision.as_str(),
                job_text,
                alarm.alarm_name,
                alarm.new_state.as_str(),
                rule.unwrap_or("-"),
                alarm.reason.as_deref().unwrap_or("-"),
                decision.as_str(),
                detail,
                alarm.account.as_deref().unwrap_or("-"),
                alarm.region.as_deref().unwrap_or("-"),
            );
            let note = Notification::new(&subject, text, report.clone())
                .attribute("source", "overfit-guard")
                .attribute("decision", decision.as_str())
                .attribute("account", alarm.account.clone().unwrap_or_default())
                .attribute("region", alarm.region.clone().unwrap_or_default());
            match self.notifier.publish(&note).await {
                Ok(()) => {
                    notified = true;
                    let chat = self.chat_notice(alarm, job_text, rule, decision, &detail);
                    publish_chat(
                        self.chat.as_ref(),
                        &Notification::chat(&subject, &chat),
                        &self.sink,
                        &self.config.common.metrics_namespace,
                        FUNCTION,
                    )
                    .await;
                }
                Err(e) if e.is_retryable() => {
                    // The stop happened whatever the notice does: count it now, once.
                    if decision == Decision::Stopped {
                        self.record(decision, report);
                    }
                    return Err(e.into());
                }
                // A retry gets the same refusal: the decision stays in the log and the metric.
                Err(e) => error!(error = %e, decision = decision.as_str(), "notification refused"),
            }
        }
        self.record(decision, report);
        Ok(Concluded {
            decision,
            job: job.map(str::to_owned),
            detail,
            notified,
        })
    }

    /// The notice for the chat topic (the shared rendering), in the job's thread — the one
    /// failure-enricher's notices for the same training job use.
    fn chat_notice(
        &self,
        alarm: &AlarmNotification,
        job: &str,
        rule: Option<&str>,
        decision: Decision,
        detail: &str,
    ) -> ChatMessage {
        let account = alarm.account.as_deref().unwrap_or("unknown");
        let title = match decision {
            Decision::Stopped | Decision::StopNotice => {
                format!(":octagonal_sign: sagewatch stopped training job {job}")
            }
            Decision::DryRun => format!(":mag: sagewatch would stop training job {job} (dry run)"),
            _ => format!("sagewatch overfit-guard: {} {job}", decision.as_str()),
        };
        let description = format!(
            "*Alarm* `{}` is {}{}.\n*Decision:* {} — {}\n{}",
            alarm.alarm_name,
            alarm.new_state.as_str(),
            rule.map(|r| format!(" (rule *{r}*)")).unwrap_or_default(),
            decision.as_str(),
            detail,
            alarm
                .reason
                .as_deref()
                .map(|r| format!("> {r}"))
                .unwrap_or_default(),
        );
        let opt_out = match &self.config.policy.opt_in_tag {
            Some((key, _)) => format!("No automatic stops for a job: remove its {key} tag; for all: SAGEWATCH_KILL_SWITCH=true"),
            None => "No automatic stops at all: SAGEWATCH_KILL_SWITCH=true".to_owned(),
        };
        let mut m = ChatMessage::new(&title, &description)
            .next_step("Look at the job's training and validation loss in CloudWatch (/aws/sagemaker/TrainingJobs) before you start it again")
            .next_step("Resume from the last checkpoint with a lower learning rate, more regularization or early stopping")
            .next_step(opt_out)
            .keyword("TrainingJob")
            .keyword(decision.as_str())
            .keyword(rule.unwrap_or("alarm"))
            .thread(format!("sagewatch/TrainingJob/{account}/{job}"))
            .summary(format!("{} {job}", decision.as_str()))
            .event_type("stop_decision")
            .context("account", account)
            .context("region", alarm.region.clone().unwrap_or_default());
        if let Some(arn) = &alarm.alarm_arn {
            m = m.resource(arn.clone());
        }
        m
    }

    /// One EMF line per record: `StopDecisions` by `[Decision]`, the report as properties.
    fn record(&self, decision: Decision, report: Value) {
        let mut m = MetricRecord::new(self.config.common.metrics_namespace.clone(), Utc::now());
        m.dimension("Decision", decision.as_str())
            .dimension_set(&["Decision"])
            .metric("StopDecisions", 1.0, Unit::Count)
            .property("sagewatch_event", "stop_decision");
        if let Value::Object(fields) = report {
            for (k, v) in fields {
                if !v.is_null() {
                    m.property(k, v);
                }
            }
        }
        self.sink.write(m.render_logged());
    }
}

/// Keeps the characters SageMaker allows in tag values, truncated to 256.
pub fn tag_value(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c) {
                if c.is_whitespace() {
                    ' '
                } else {
                    c
                }
            } else {
                ' '
            }
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(MAX_TAG_VALUE)
        .collect()
}
