//! failure-enricher: a failed SageMaker job → DescribeXJob + the tails of its hosts' logs →
//! classified failure with evidence and a fix → SNS (MessageStructure=json), EMF `FailedJobs`,
//! and one `job_failure` report line for Logs Insights.
//!
//! Errors: bad input, an unknown job or a job in an account we may not enter are logged,
//! counted (`InvalidEvents`) and the invocation succeeds (a retry cannot help). Throttling, 5xx
//! and network errors return `Err`: Lambda retries and the DLQ keeps the event.
//! Duplicates: EventBridge may deliver an event twice; with the claim store (DynamoDB)
//! configured, each failure is published once: the claim is `pending` from just before the
//! publish until it succeeded, owned by this invocation attempt. Another attempt that meets a
//! live pending claim fails for a retry (never "duplicate": that would lose the report if this
//! attempt died), takes it over once this attempt's deadline has passed, and meets `done` as a
//! duplicate. A direct request always answers.

pub mod adapter;
pub mod chat;
pub mod endpoint;
pub mod job;
pub mod logs;
pub mod notice;
pub mod pipeline;
pub mod ports;
pub mod report;
pub mod request;
pub mod rollback;
pub mod timeout;
pub mod tuning;

use chrono::Utc;
use endpoint::EndpointRequest;
use futures_util::stream::{self, StreamExt};
use lambda_runtime::{Context, Error, LambdaEvent};
use logs::{host_of_stream, LogBudget, Share, StreamInfo, StreamTail, MAX_PAGES_PER_HOST};
use pipeline::{FailedStep, PipelineRequest, MAX_JOBS_EXPLAINED};
use ports::{Jobs, Logs};
use report::{LogsRead, Report};
use request::{Input, Request, Via};
use sagewatch::claims::{self, Acquired, Attempt, ClaimStore, Claimed, Mode};
use sagewatch::classify::{classify, Classification, Line};
use sagewatch::config::{ClaimTable, Common};
use sagewatch::emf::{MetricRecord, Unit};
use sagewatch::env::Env;
use sagewatch::error::{AwsError, ConfigError, RetryLater, RetryableFailure};
use sagewatch::events::JobType;
use sagewatch::notify::{Notification, Notifier};
use sagewatch::output::Sink;
use sagewatch::report::Kind;
use sagewatch::status::Status;
use sagewatch::sweep;
use sagewatch::target::Target;
use serde::Serialize;
use serde_json::{json, Value};
use tracing::{debug, error, info, warn};
use tuning::TuningRequest;

pub const FUNCTION: &str = "failure-enricher";

/// How many log streams one invocation reads at once.
pub const STREAMS_IN_FLIGHT: usize = 4;

#[derive(Debug, Clone)]
pub struct Config {
    pub common: Common,
    pub budget: LogBudget,
    pub alerts_topic_arn: String,
    /// SAGEWATCH_CHAT_TOPIC_ARN: a second topic that gets each report as an AWS chat
    /// integration custom notification (Slack / Teams through Amazon Q Developer).
    pub chat_topic_arn: Option<String>,
    /// Without a table every delivery reports (documented); with one, each failure once.
    pub claims: Option<ClaimTable>,
}

/// What delivery needs to know about a finished report, whatever its kind.
struct Delivery {
    /// The claim key's parts after the function's name.
    key: Vec<String>,
    /// The job's or endpoint's name (logs, `Outcome::Duplicate`).
    name: String,
    via: Via,
    event_id: Option<String>,
    resource_type: &'static str,
    /// Jobs only: the legacy `FailedJobs` metric and the `job_type` attribute.
    job_type: Option<JobType>,
    account: Option<String>,
    region: Option<String>,
    /// The report's category (the `category` attribute and the metrics' dimension); a
    /// notice's is the job's status in lower case.
    category: &'static str,
    /// A completion notice (opt-in), not a failure: no `Failures`, no `job_failure` line.
    notice: bool,
    /// Its event was re-emitted by the sweep (SageMaker's never arrived): `ReconciledEvents`.
    reconciled: bool,
}

/// The invocation's answer (a direct request gets its report back).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Reported {
        report: Value,
    },
    /// `job_name` is the job's or the endpoint's name.
    Duplicate {
        job_name: String,
    },
    Ignored {
        reason: String,
    },
    Rejected {
        reason: String,
        detail: String,
    },
}

pub struct Enricher<J, L, N, C, W> {
    pub jobs: J,
    pub logs: L,
    pub notifier: N,
    /// The chat topic's publisher (`Config::chat_topic_arn`), when there is one.
    pub chat: Option<N>,
    pub claims: C,
    pub sink: W,
    pub config: Config,
}

impl Config {
    /// The shared settings (namespace, home account, cross-account role), the claim table
    /// (SAGEWATCH_DEDUPE_TABLE, optional; SAGEWATCH_DEDUPE_TTL_DAYS), SAGEWATCH_ALERTS_TOPIC_ARN,
    /// SAGEWATCH_LOG_MAX_HOSTS / _MAX_BYTES / _MAX_EVENTS (each at least 1).
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let d = LogBudget::default();
        let size = |name: &str, default: usize| -> Result<usize, ConfigError> {
            let v = env.positive(name, default as u64)?;
            Ok(usize::try_from(v).unwrap_or(usize::MAX))
        };
        Ok(Config {
            common: Common::from_env(env, FUNCTION)?,
            alerts_topic_arn: env.required("SAGEWATCH_ALERTS_TOPIC_ARN")?,
            chat_topic_arn: env
                .optional("SAGEWATCH_CHAT_TOPIC_ARN")
                .filter(|a| !a.trim().is_empty()),
            claims: ClaimTable::from_env(env)?,
            budget: LogBudget {
                max_hosts: size("SAGEWATCH_LOG_MAX_HOSTS", d.max_hosts)?,
                max_bytes: size("SAGEWATCH_LOG_MAX_BYTES", d.max_bytes)?,
                max_events: size("SAGEWATCH_LOG_MAX_EVENTS", d.max_events)?,
            },
        })
    }
}

impl<J: Jobs, L: Logs, N: Notifier, C: ClaimStore, W: Sink> Enricher<J, L, N, C, W> {
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Outcome, Error> {
        let (payload, context) = event.into_parts();
        let home = self
            .config
            .common
            .home_account(&context.invoked_function_arn);
        let (name, result) = match request::parse(payload) {
            Err(e) => return Ok(self.reject("invalid_input", e.to_string(), None)),
            Ok(Input::Ignore { reason }) => {
                debug!(%reason, "ignored");
                return Ok(Outcome::Ignored { reason });
            }
            Ok(Input::Endpoint(mut req)) => {
                req.account = req.account.or_else(|| home.clone());
                let name = req.name.clone();
                (
                    name,
                    self.triage_endpoint(req, home.as_deref(), &context).await,
                )
            }
            Ok(Input::Triage(mut req)) => {
                req.account = req.account.or_else(|| home.clone());
                let name = req.job_name.clone();
                (name, self.triage(req, home.as_deref(), &context).await)
            }
            Ok(Input::Pipeline(mut req)) => {
                req.account = req.account.or_else(|| home.clone());
                let name = req.pipeline_name.clone();
                (
                    name,
                    self.triage_pipeline(req, home.as_deref(), &context).await,
                )
            }
            Ok(Input::Tuning(mut req)) => {
                req.account = req.account.or_else(|| home.clone());
                let name = req.name.clone();
                (
                    name,
                    self.triage_tuning(req, home.as_deref(), &context).await,
                )
            }
            Ok(Input::Notice(mut req)) => {
                req.account = req.account.or_else(|| home.clone());
                let name = req.job_name.clone();
                (name, self.send_notice(req, &context).await)
            }
        };
        match result {
            Ok(outcome) => Ok(outcome),
            // Access denied, validation, a topic that does not exist: a retry gives the
            // same answer. Logged and counted; the event is not retried.
            Err(RetryLater::Aws(e)) if !e.is_retryable() => {
                Ok(self.reject("aws_permanent_error", e.to_string(), Some(&name)))
            }
            Err(later) => Err(Box::new(RetryableFailure::from(later))),
        }
    }

    /// Where the resource is reached from here, or the counted refusal when it is in another
    /// account and no cross-account role is configured.
    fn target(
        &self,
        account: Option<&str>,
        region: Option<&str>,
        home: Option<&str>,
        name: &str,
    ) -> Result<Target, Outcome> {
        self.config
            .common
            .target(account, region, home)
            .map_err(|e| self.reject("no_cross_account_role", e.to_string(), Some(name)))
    }

    /// `Err` carries retryable failures, and permanent AWS errors for the caller to count.
    async fn triage(
        &self,
        req: Request,
        home: Option<&str>,
        context: &Context,
    ) -> Result<Outcome, RetryLater> {
        let target = match self.target(
            req.account.as_deref(),
            req.region.as_deref(),
            home,
            &req.job_name,
        ) {
            Ok(t) => t,
            Err(rejected) => return Ok(rejected),
        };
        let Some((report, classification)) =
            self.explain_job(&target, &req, self.config.budget).await?
        else {
            let detail = format!(
                "{} job {} does not exist",
                req.job_type.as_str(),
                req.job_name
            );
            return Ok(self.reject("job_not_found", detail, Some(&req.job_name)));
        };
        let mut key = vec![
            req.account.clone().unwrap_or_else(|| "-".into()),
            req.job_type.as_str().to_owned(),
            req.job_name.clone(),
        ];
        if let Some(reason) = &req.timeout {
            key.push(reason.clone());
        }
        let delivery = Delivery {
            key,
            name: req.job_name.clone(),
            via: req.via,
            event_id: req.event_id.clone(),
            resource_type: job::resource_type(req.job_type),
            job_type: Some(req.job_type),
            account: req.account.clone(),
            region: req.region.clone(),
            category: classification.category.as_str(),
            notice: false,
            reconciled: req.reconciled,
        };
        let mut report = report;
        if req.reconciled {
            if let Value::Object(fields) = &mut report.json {
                fields.insert("reconciled".into(), json!(true));
            }
        }
        self.deliver(delivery, report, context).await
    }

    /// Describe*Job, the tails of its hosts' logs within `budget`, the classification and the
    /// job report; `None` when there is no such job.
    async fn explain_job(
        &self,
        target: &Target,
        req: &Request,
        budget: LogBudget,
    ) -> Result<Option<(Report, Classification)>, AwsError> {
        let Some(job) = self
            .jobs
            .describe(target, req.job_type, &req.job_name)
            .await?
        else {
            return Ok(None);
        };
        let (read, tails) = self
            .read_logs(target, &req.job_type.log_group(), &req.job_name, budget)
            .await?;
        let mut classification = explain(&job, &tails, job.instance_type.as_deref());
        if let Some(reason) = &req.timeout {
            timeout::override_classification(&mut classification, reason);
        }
        let report = report::build(req, &job, &read, &classification);
        Ok(Some((report, classification)))
    }

    /// A failed pipeline execution: its failed steps (ListPipelineExecutionSteps), the job
    /// report of the first few failed job steps (one log budget shared by them), one report.
    async fn triage_pipeline(
        &self,
        req: PipelineRequest,
        home: Option<&str>,
        context: &Context,
    ) -> Result<Outcome, RetryLater> {
        let target = match self.target(
            req.account.as_deref(),
            req.region.as_deref(),
            home,
            &req.pipeline_name,
        ) {
            Ok(t) => t,
            Err(rejected) => return Ok(rejected),
        };
        let Some(list) = self
            .jobs
            .pipeline_steps(&target, &req.execution_arn)
            .await?
        else {
            let detail = format!("pipeline execution {} does not exist", req.execution_arn);
            return Ok(self.reject(
                "pipeline_execution_not_found",
                detail,
                Some(&req.pipeline_name),
            ));
        };
        let failed = pipeline::failed_steps(&list);
        let with_jobs = failed.iter().filter(|s| s.job.is_some()).count();
        let share = self.config.budget.split(with_jobs.min(MAX_JOBS_EXPLAINED));
        let mut steps = Vec::new();
        let mut lead: Option<Classification> = None;
        let mut explained = 0;
        for step in failed {
            let mut f = FailedStep {
                step: step.clone(),
                job_report: None,
                job_missing: false,
            };
            if let (Some((job_type, job_name)), true) = (&step.job, explained < MAX_JOBS_EXPLAINED)
            {
                explained += 1;
                let job_req = Request {
                    job_type: *job_type,
                    job_name: job_name.clone(),
                    account: req.account.clone(),
                    region: req.region.clone(),
                    via: req.via,
                    event_id: None,
                    timeout: None,
                    reconciled: false,
                };
                match self.explain_job(&target, &job_req, share).await? {
                    Some((report, c)) => {
                        lead.get_or_insert(c);
                        f.job_report = Some(report);
                    }
                    None => f.job_missing = true,
                }
            }
            steps.push(f);
        }
        // No job explained (a Condition, Fail or Lambda step, or a job gone): the steps' and
        // the execution's own FailureReasons.
        let classification = lead.unwrap_or_else(|| {
            let reasons: Vec<&str> = steps
                .iter()
                .filter_map(|f| f.step.failure_reason.as_deref())
                .chain(req.failure_reason.as_deref())
                .collect();
            let facts = job::JobFacts {
                failure_reason: Some(reasons.join("\n")),
                ..job::JobFacts::default()
            };
            explain(&facts, &[], None)
        });
        let report = pipeline::build(&req, &list, &steps, &classification);
        let delivery = Delivery {
            key: vec![
                req.account.clone().unwrap_or_else(|| "-".into()),
                "pipeline".into(),
                req.pipeline_name.clone(),
                req.execution_id.clone(),
            ],
            name: req.pipeline_name.clone(),
            via: req.via,
            event_id: req.event_id.clone(),
            resource_type: "PipelineExecution",
            job_type: None,
            account: req.account.clone(),
            region: req.region.clone(),
            category: classification.category.as_str(),
            notice: false,
            reconciled: false,
        };
        self.deliver(delivery, report, context).await
    }

    /// An opted-in job's completion notice: from the event alone, once per job and status.
    async fn send_notice(
        &self,
        req: notice::NoticeRequest,
        context: &Context,
    ) -> Result<Outcome, RetryLater> {
        let report = notice::build(&req);
        let delivery = Delivery {
            key: vec![
                req.account.clone().unwrap_or_else(|| "-".into()),
                req.job_type.as_str().to_owned(),
                req.job_name.clone(),
                "notice".into(),
                req.status.to_owned(),
            ],
            name: req.job_name.clone(),
            via: req.via,
            event_id: req.event_id.clone(),
            resource_type: job::resource_type(req.job_type),
            job_type: Some(req.job_type),
            account: req.account.clone(),
            region: req.region.clone(),
            category: if req.status == "Stopped" {
                "stopped"
            } else {
                "completed"
            },
            notice: true,
            reconciled: false,
        };
        self.deliver(delivery, report, context).await
    }

    /// A tuning job that failed or finished with failed children: its counters, its failed
    /// children grouped by signature, at most `tuning::MAX_DESCRIBED` of them described.
    async fn triage_tuning(
        &self,
        req: TuningRequest,
        home: Option<&str>,
        context: &Context,
    ) -> Result<Outcome, RetryLater> {
        let target = match self.target(
            req.account.as_deref(),
            req.region.as_deref(),
            home,
            &req.name,
        ) {
            Ok(t) => t,
            Err(rejected) => return Ok(rejected),
        };
        let Some(t) = self.jobs.tuning_job(&target, &req.name).await? else {
            let detail = format!("tuning job {} does not exist", req.name);
            return Ok(self.reject("tuning_job_not_found", detail, Some(&req.name)));
        };
        let status = t.status.as_deref().map(Status::new);
        if !tuning::is_failure(status.as_ref(), &t.counters) {
            return Ok(Outcome::Ignored {
                reason: format!(
                    "tuning job {} is {} without failed training jobs",
                    req.name,
                    t.status.as_deref().unwrap_or("(no status)")
                ),
            });
        }
        let listed = if tuning::failed_count(&t.counters) > 0 {
            self.jobs
                .failed_children(&target, &req.name, tuning::MAX_LISTED)
                .await?
        } else {
            tuning::ChildList::default()
        };
        let mut groups = tuning::group(&listed.children);
        for (i, name) in tuning::sample(&groups, tuning::MAX_DESCRIBED) {
            let Some(job) = self
                .jobs
                .describe(&target, JobType::Training, &name)
                .await?
            else {
                continue;
            };
            let g = &mut groups[i];
            if g.sampled.is_empty() {
                // The full FailureReason and the instance type; the group keeps its key.
                let mut c = explain(&job, &[], job.instance_type.as_deref());
                c.signature = g.classification.signature.clone();
                g.classification = c;
            }
            g.sampled.push(name);
        }
        let classification = match groups.first() {
            Some(g) => g.classification.clone(),
            None => {
                let facts = job::JobFacts {
                    failure_reason: t.failure_reason.clone(),
                    ..job::JobFacts::default()
                };
                explain(&facts, &[], None)
            }
        };
        let report = tuning::build(&req, &t, &listed, &groups, &classification);
        let delivery = Delivery {
            key: vec![
                req.account.clone().unwrap_or_else(|| "-".into()),
                "tuning".into(),
                req.name.clone(),
            ],
            name: req.name.clone(),
            via: req.via,
            event_id: req.event_id.clone(),
            resource_type: "HyperParameterTuningJob",
            job_type: None,
            account: req.account.clone(),
            region: req.region.clone(),
            category: classification.category.as_str(),
            notice: false,
            reconciled: false,
        };
        self.deliver(delivery, report, context).await
    }

    /// An endpoint that failed or whose update was rolled back (by its deployment guardrails'
    /// alarms: DescribeAlarms of those), DescribeEndpoint, the tails of its instances' logs,
    /// the same classifier.
    async fn triage_endpoint(
        &self,
        req: EndpointRequest,
        home: Option<&str>,
        context: &Context,
    ) -> Result<Outcome, RetryLater> {
        let target = match self.target(
            req.account.as_deref(),
            req.region.as_deref(),
            home,
            &req.name,
        ) {
            Ok(t) => t,
            Err(rejected) => return Ok(rejected),
        };
        let Some(facts) = self.jobs.describe_endpoint(&target, &req.name).await? else {
            let detail = format!("endpoint {} does not exist", req.name);
            return Ok(self.reject("endpoint_not_found", detail, Some(&req.name)));
        };
        // A deployment event asks whether the deployment was rolled back; the rest whether the
        // endpoint (still) failed.
        let judged = match &req.deployment {
            Some(event) => match self
                .judge_deployment(&target, &req.name, event, &facts)
                .await?
            {
                Ok(judged) => Some(judged),
                Err(why) => {
                    debug!(endpoint = %req.name, %why, "deployment not rolled back");
                    return Ok(Outcome::Ignored {
                        reason: format!("endpoint {}: {why}", req.name),
                    });
                }
            },
            None => {
                let status = facts.status.as_deref().map(Status::new);
                let reason = facts.failure_reason.as_deref();
                if endpoint::failure_kind(status.as_ref(), reason).is_none() {
                    // The event was late: the endpoint recovered (or is being updated again).
                    return Ok(Outcome::Ignored {
                        reason: format!(
                            "endpoint {} is {} now, not failed",
                            req.name,
                            facts.status.as_deref().unwrap_or("(no status)")
                        ),
                    });
                }
                None
            }
        };
        let group = endpoint::log_group(&req.name);
        // One budget for the whole endpoint, shared by its variants.
        let mut variants: Vec<&str> = facts.variants.iter().map(|v| v.name.as_str()).collect();
        variants.sort_unstable();
        variants.dedup();
        variants.truncate(self.config.budget.max_hosts);
        let share = self.config.budget.split(variants.len());
        let mut read = LogsRead {
            log_group: group.clone(),
            ..LogsRead::default()
        };
        let mut tails = Vec::new();
        for variant in variants {
            let (r, t) = self.read_logs(&target, &group, variant, share).await?;
            read.streams_found += r.streams_found;
            read.streams_read += r.streams_read;
            read.events += r.events;
            read.bytes += r.bytes;
            read.truncated |= r.truncated;
            tails.extend(t);
        }
        let as_job = job::JobFacts {
            name: facts.name.clone(),
            failure_reason: facts.failure_reason.clone(),
            ..job::JobFacts::default()
        };
        let instance_type = facts
            .variants
            .iter()
            .find_map(|v| v.instance_type.as_deref());
        let classification = explain(&as_job, &tails, instance_type);
        let rollback = judged
            .as_ref()
            .zip(req.deployment.as_ref())
            .map(|(judged, event)| endpoint::Rollback { judged, event });
        let report = endpoint::build(&req, &facts, &read, &classification, rollback.as_ref());
        // One report per rollback (rollback::occurrence says what tells two apart).
        let (kind, attempt) = match &rollback {
            Some(r) => (
                "endpoint-rollback",
                rollback::occurrence(
                    r.judged.because,
                    facts.failure_reason.as_deref(),
                    facts.last_modified_time,
                ),
            ),
            None => (
                "endpoint",
                req.attempt
                    .clone()
                    .or_else(|| {
                        facts
                            .last_modified_time
                            .map(|t| t.timestamp_millis().to_string())
                    })
                    .unwrap_or_else(|| "-".into()),
            ),
        };
        let delivery = Delivery {
            key: vec![
                req.account.clone().unwrap_or_else(|| "-".into()),
                kind.into(),
                req.name.clone(),
                attempt,
            ],
            name: req.name.clone(),
            via: req.via,
            event_id: req.event_id.clone(),
            resource_type: "Endpoint",
            job_type: None,
            account: req.account.clone(),
            region: req.region.clone(),
            category: classification.category.as_str(),
            notice: false,
            reconciled: false,
        };
        self.deliver(delivery, report, context).await
    }

    /// Was this deployment rolled back? Its auto-rollback alarms (one DescribeAlarms) and
    /// [`rollback::judge`]; `Ok(Err(why))` when it was not. Alarms we may not read (a role
    /// without DescribeAlarms) leave the other signs, logged and counted
    /// (`RollbackAlarmsUnreadable`); a retryable error fails the invocation.
    async fn judge_deployment(
        &self,
        target: &Target,
        name: &str,
        event: &rollback::DeploymentEvent,
        facts: &endpoint::EndpointFacts,
    ) -> Result<Result<rollback::Judged, String>, RetryLater> {
        let mut unreadable = None;
        let alarms = if facts.rollback_alarms.is_empty() {
            Vec::new()
        } else {
            match self.jobs.alarms(target, &facts.rollback_alarms).await {
                Ok(a) => a,
                Err(e) if !e.is_retryable() => {
                    warn!(endpoint = %name, error = %e,
                        "cannot read the auto-rollback alarms; judging without them");
                    let mut m =
                        MetricRecord::new(&self.config.common.metrics_namespace, Utc::now());
                    m.dimension("Function", FUNCTION)
                        .dimension_set(&["Function"])
                        .metric("RollbackAlarmsUnreadable", 1.0, Unit::Count)
                        .property("endpoint_name", name);
                    self.sink.write(m.render_logged());
                    unreadable = Some(e.to_string());
                    Vec::new()
                }
                Err(e) => return Err(e.into()),
            }
        };
        let verdict = rollback::judge(&rollback::Facts {
            event,
            status_now: facts.status.as_deref(),
            failure_reason_now: facts.failure_reason.as_deref(),
            alarms: &alarms,
        });
        Ok(match verdict {
            rollback::Verdict::NotRolledBack(why) => Err(match unreadable {
                Some(e) => format!("{why}; the alarms could not be read: {e}"),
                None => why,
            }),
            rollback::Verdict::RolledBack(mut judged) => {
                // Named in the deployment config, not answered (deleted, or composite).
                if unreadable.is_none() {
                    judged.undescribed = facts
                        .rollback_alarms
                        .iter()
                        .filter(|n| !alarms.iter().any(|a| &a.name == *n))
                        .cloned()
                        .collect();
                }
                judged.alarms_unreadable = unreadable;
                Ok(judged)
            }
        })
    }

    /// The same for every report kind: claim just before publishing (a failure earlier needs
    /// no undo), publish, mark done; a failed publish gives the claim back so the retry
    /// reports; a claim left pending by a crash or a timeout is taken over once this
    /// attempt's deadline has passed.
    async fn deliver(
        &self,
        d: Delivery,
        report: Report,
        context: &Context,
    ) -> Result<Outcome, RetryLater> {
        let parts: Vec<&str> = d.key.iter().map(String::as_str).collect();
        let key = claims::key(FUNCTION, &parts);
        let now = Utc::now();
        let attempt = Attempt::new(FUNCTION, &context.request_id, context.deadline, now);
        if d.via == Via::Event {
            let ttl = self
                .config
                .claims
                .as_ref()
                .map_or(ClaimTable::DEFAULT_TTL_DAYS, |t| t.ttl_days);
            let claim = attempt.claim(key.clone(), Mode::Pending, now, ttl, d.event_id.clone());
            match self.claims.claim(&claim).await? {
                Claimed::Acquired(how) => {
                    if let Acquired::TakenOver { from } = &how {
                        warn!(name = %d.name, previous = %from, "took over a claim its owner left pending");
                    }
                }
                Claimed::Done { by_me } => {
                    info!(name = %d.name, by_me, "duplicate delivery: already reported");
                    self.config.common.health().duplicate(
                        &self.sink,
                        now,
                        &[("job_name", json!(d.name))],
                    );
                    return Ok(Outcome::Duplicate { job_name: d.name });
                }
                Claimed::InProgress { owner, .. } => {
                    return Err(RetryLater::NotReady(format!(
                        "the report of {} is being sent by {owner}",
                        d.name
                    )));
                }
            }
        }
        if let Err(e) = self.publish(&d, &report).await {
            if d.via == Via::Event {
                if let Err(undo) = self.claims.release(&key, &attempt.owner).await {
                    error!(name = %d.name, error = %undo, key = %key,
                        "cannot release the report claim: a retry waits until this attempt's deadline");
                }
            }
            // Permanent or not, the report is kept in the function's log.
            self.record(&d, &report);
            return Err(e.into());
        }
        self.publish_chat(&d, &report).await;
        if d.reconciled {
            let mut m = sweep::reconciled_record(
                &self.config.common.metrics_namespace,
                Utc::now(),
                FUNCTION,
                d.resource_type,
            );
            m.property("job_name", &d.name);
            self.sink.write(m.render_logged());
        }
        if d.via == Via::Event {
            if let Err(e) = self.claims.complete(&key, &attempt.owner).await {
                // Sent; only a redelivery after this attempt's deadline could send it again.
                warn!(name = %d.name, error = %e, key = %key, "cannot mark the report as sent");
            }
        }
        self.record(&d, &report);
        info!(name = %d.name, resource = d.resource_type, category = d.category,
            notice = d.notice, "reported");
        Ok(Outcome::Reported {
            report: report.json,
        })
    }

    /// The streams `<owner>/…` of `group` (a job's hosts, an endpoint variant's instances)
    /// within the budget, read [`STREAMS_IN_FLIGHT`] at a time.
    async fn read_logs(
        &self,
        target: &Target,
        group: &str,
        owner: &str,
        budget: LogBudget,
    ) -> Result<(LogsRead, Vec<(String, StreamTail)>), AwsError> {
        let group = group.to_owned();
        let mut read = LogsRead {
            log_group: group.clone(),
            ..LogsRead::default()
        };
        let prefix = format!("{owner}/");
        let streams = self.logs.streams(target, &group, &prefix).await?;
        let picked = budget.select(owner, streams.clone());
        read.streams_found = budget.select_all(owner, streams);
        let share = budget.share(picked.len());
        // At most STREAMS_IN_FLIGHT at a time, in order: 16 at once would spend most of the
        // account's GetLogEvents quota (25 TPS) on one failure and hold 16 responses in memory.
        let tails: Vec<_> = stream::iter(
            picked
                .iter()
                .map(|s| self.read_tail(target, &group, s, share)),
        )
        .buffered(STREAMS_IN_FLIGHT)
        .collect()
        .await;
        let mut out = Vec::new();
        for (stream, tail) in picked.iter().zip(tails) {
            match tail {
                Ok(tail) => {
                    read.streams_read += 1;
                    read.events += tail.events.len();
                    read.bytes += tail.bytes;
                    read.truncated |= tail.truncated;
                    out.push((host_of_stream(owner, &stream.name), tail));
                }
                Err(e) if e.is_retryable() => return Err(e),
                // A stream that vanished or that we may not read: report without it.
                Err(e) => warn!(stream = %stream.name, error = %e, "log stream skipped"),
            }
        }
        Ok((read, out))
    }

    async fn read_tail(
        &self,
        target: &Target,
        group: &str,
        stream: &StreamInfo,
        share: Share,
    ) -> Result<StreamTail, AwsError> {
        let mut tail = StreamTail {
            stream: stream.name.clone(),
            ..StreamTail::default()
        };
        let mut older: Option<String> = None;
        for page_no in 0..MAX_PAGES_PER_HOST {
            let limit = (share.events - tail.events.len()).clamp(1, 10_000);
            let page = self
                .logs
                .page(target, group, &stream.name, limit, older.clone())
                .await?;
            let n = page.events.len();
            let page_bytes: usize = page.events.iter().map(|e| e.message.len() + 26).sum();
            let same_token = page.older.is_some() && page.older == older;
            if n == 0 {
                // GetLogEvents can return an empty page before older events; only the same
                // token again marks the start of the stream.
                if same_token || page.older.is_none() {
                    break;
                }
                older = page.older;
                continue;
            }
            if share.take_newest(&mut tail, page.events) || tail.events.len() >= share.events {
                tail.truncated = true;
                break;
            }
            // Fewer events than asked for in a page well under GetLogEvents' 1 MB cap: that
            // was the start of the stream (saves the empty call that would confirm it).
            let at_start = n < limit && page_bytes < 768 * 1024;
            if at_start || same_token || page.older.is_none() {
                break;
            }
            if page_no + 1 == MAX_PAGES_PER_HOST {
                tail.truncated = true;
            }
            older = page.older;
        }
        Ok(tail)
    }

    async fn publish(&self, d: &Delivery, report: &Report) -> Result<(), AwsError> {
        let mut note = Notification::new(&report.subject, report.text.clone(), report.json.clone())
            .attribute("source", FUNCTION)
            .attribute("category", d.category)
            .attribute("resource_type", d.resource_type)
            .attribute("account", d.account.clone().unwrap_or_default())
            .attribute("region", d.region.clone().unwrap_or_default());
        if let Some(t) = d.job_type {
            note = note.attribute("job_type", t.as_str());
        }
        self.notifier.publish(&note).await
    }

    /// The chat notice, after the report went out. Best effort: a failure is logged and
    /// counted (`ChatNoticeFailures`), never retried, since a retry would send the report
    /// again.
    async fn publish_chat(&self, d: &Delivery, report: &Report) {
        let Some(chat) = &self.chat else {
            return;
        };
        let message = chat::render(&report.json, &report.subject).to_json();
        // The chat integration reads the message body (SNS's `default`/`https`) as the
        // custom notification; the same attributes as the report allow filter policies.
        let note = Notification::new(&report.subject, message.to_string(), message)
            .attribute("source", FUNCTION)
            .attribute("category", d.category)
            .attribute("resource_type", d.resource_type);
        if let Err(e) = chat.publish(&note).await {
            warn!(name = %d.name, error = %e, "chat notice not sent (the report was)");
            let mut m = MetricRecord::new(self.config.common.metrics_namespace.clone(), Utc::now());
            m.dimension("Function", FUNCTION)
                .dimension_set(&["Function"])
                .metric("ChatNoticeFailures", 1.0, Unit::Count);
            self.sink.write(m.render_logged());
        }
    }

    /// EMF `Failures` by [ResourceType, Category] for every kind; for jobs also `FailedJobs`
    /// by [JobType, Category] and [Category] (the dashboard's widget); then the report line.
    fn record(&self, d: &Delivery, report: &Report) {
        let mut lines = Vec::new();
        if d.notice {
            // Not a failure: its own count, by [JobType, Status], and no job_failure line.
            let mut m = MetricRecord::new(self.config.common.metrics_namespace.clone(), Utc::now());
            m.dimension("JobType", d.job_type.map_or("-", JobType::as_str))
                .dimension("Status", d.category)
                .dimension_set(&["JobType", "Status"])
                .metric("CompletionNotices", 1.0, Unit::Count);
            self.properties(&mut m, report);
            lines.extend(m.render_logged());
            self.sink.write(lines);
            return;
        }
        let mut m = MetricRecord::new(self.config.common.metrics_namespace.clone(), Utc::now());
        m.dimension("ResourceType", d.resource_type)
            .dimension("Category", d.category)
            .dimension_set(&["ResourceType", "Category"])
            .metric("Failures", 1.0, Unit::Count);
        self.properties(&mut m, report);
        lines.extend(m.render_logged());
        if let Some(job_type) = d.job_type {
            let mut m = MetricRecord::new(self.config.common.metrics_namespace.clone(), Utc::now());
            m.dimension("JobType", job_type.as_str())
                .dimension("Category", d.category)
                .dimension_set(&["JobType", "Category"])
                .dimension_set(&["Category"])
                .metric("FailedJobs", 1.0, Unit::Count);
            self.properties(&mut m, report);
            lines.extend(m.render_logged());
        }
        lines.push(sagewatch::report::render(
            Kind::JobFailure,
            report.json.clone(),
        ));
        self.sink.write(lines);
    }

    fn properties(&self, m: &mut MetricRecord, report: &Report) {
        for key in [
            "job_name",
            "job_arn",
            "endpoint_name",
            "endpoint_arn",
            "pipeline_name",
            "pipeline_execution_arn",
            "tuning_job_name",
            "tuning_job_arn",
            "account",
            "region",
            "signature_hash",
            "confidence",
            "reconciled",
        ] {
            if let Some(v) = report.json.get(key) {
                m.property(key, v.clone());
            }
        }
    }

    /// Logged, counted (`InvalidEvents`), and the invocation succeeds: retrying cannot help.
    fn reject(&self, reason: &str, detail: String, job_name: Option<&str>) -> Outcome {
        let detail = self.config.common.health().invalid(
            &self.sink,
            Utc::now(),
            reason,
            &detail,
            &[("job_name", json!(job_name))],
        );
        Outcome::Rejected {
            reason: reason.to_owned(),
            detail,
        }
    }
}

/// Classifier input: FailureReason and ExitMessage first, then every host's lines merged in
/// time order (a multi-line event becomes several lines of the same host and time).
pub fn explain(
    job: &job::JobFacts,
    tails: &[(String, StreamTail)],
    instance_type: Option<&str>,
) -> Classification {
    let mut lines: Vec<Line<'_>> = Vec::new();
    for (source, field) in [
        ("FailureReason", &job.failure_reason),
        ("ExitMessage", &job.exit_message),
    ] {
        for text in field.as_deref().unwrap_or("").lines() {
            lines.push(Line {
                source,
                timestamp: None,
                text,
            });
        }
    }
    let mut logged: Vec<Line<'_>> = Vec::new();
    for (host, tail) in tails {
        for e in &tail.events {
            for text in e.message.lines() {
                logged.push(Line {
                    source: host,
                    timestamp: e.timestamp,
                    text,
                });
            }
        }
    }
    logged.sort_by_key(|l| l.timestamp); // stable: a host's order is kept within a timestamp
    lines.extend(logged);
    classify(&lines, instance_type)
}
