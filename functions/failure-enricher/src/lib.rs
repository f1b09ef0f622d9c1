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
pub mod job;
pub mod logs;
pub mod ports;
pub mod report;
pub mod request;

use chrono::Utc;
use futures_util::future::join_all;
use lambda_runtime::{Context, Error, LambdaEvent};
use logs::{host_of_stream, LogBudget, Share, StreamInfo, StreamTail, MAX_PAGES_PER_HOST};
use ports::{Jobs, Logs};
use report::{LogsRead, Report};
use request::{Input, Request, Via};
use sagewatch::claims::{self, Acquired, Attempt, ClaimStore, Claimed, Mode};
use sagewatch::classify::{classify, Classification, Line};
use sagewatch::config::{ClaimTable, Common};
use sagewatch::emf::{MetricRecord, Unit};
use sagewatch::env::Env;
use sagewatch::error::{AwsError, ConfigError, RetryLater, RetryableFailure};
use sagewatch::notify::{Notification, Notifier};
use sagewatch::output::Sink;
use sagewatch::report::Kind;
use sagewatch::target::Target;
use serde::Serialize;
use serde_json::{json, Value};
use tracing::{debug, error, info, warn};

pub const FUNCTION: &str = "failure-enricher";

#[derive(Debug, Clone)]
pub struct Config {
    pub common: Common,
    pub budget: LogBudget,
    pub alerts_topic_arn: String,
    /// Without a table every delivery reports (documented); with one, each failure once.
    pub claims: Option<ClaimTable>,
}

/// The invocation's answer (a direct request gets its report back).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Reported { report: Value },
    Duplicate { job_name: String },
    Ignored { reason: String },
    Rejected { reason: String, detail: String },
}

pub struct Enricher<J, L, N, C, W> {
    pub jobs: J,
    pub logs: L,
    pub notifier: N,
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
        match request::parse(payload) {
            Err(e) => Ok(self.reject("invalid_input", e.to_string(), None)),
            Ok(Input::Ignore { reason }) => {
                debug!(%reason, "ignored");
                Ok(Outcome::Ignored { reason })
            }
            Ok(Input::Triage(mut req)) => {
                if req.account.is_none() {
                    req.account = home.clone();
                }
                let job_name = req.job_name.clone();
                match self.triage(req, home.as_deref(), &context).await {
                    Ok(outcome) => Ok(outcome),
                    // Access denied, validation, a topic that does not exist: a retry gives the
                    // same answer. Logged and counted; the event is not retried.
                    Err(RetryLater::Aws(e)) if !e.is_retryable() => {
                        Ok(self.reject("aws_permanent_error", e.to_string(), Some(&job_name)))
                    }
                    Err(later) => Err(Box::new(RetryableFailure::from(later))),
                }
            }
        }
    }

    /// `Err` carries retryable failures, and permanent AWS errors for the caller to count.
    async fn triage(
        &self,
        req: Request,
        home: Option<&str>,
        context: &Context,
    ) -> Result<Outcome, RetryLater> {
        let target =
            match self
                .config
                .common
                .target(req.account.as_deref(), req.region.as_deref(), home)
            {
                Ok(t) => t,
                Err(e) => {
                    return Ok(self.reject(
                        "no_cross_account_role",
                        e.to_string(),
                        Some(&req.job_name),
                    ))
                }
            };
        let Some(job) = self
            .jobs
            .describe(&target, req.job_type, &req.job_name)
            .await?
        else {
            let detail = format!(
                "{} job {} does not exist",
                req.job_type.as_str(),
                req.job_name
            );
            return Ok(self.reject("job_not_found", detail, Some(&req.job_name)));
        };
        let logs = self.read_logs(&target, &req).await?;
        let classification = explain(&job, &logs.1, job.instance_type.as_deref());
        let report = report::build(&req, &job, &logs.0, &classification);

        // Claim just before publishing: a failure earlier needs no undo; a failed publish gives
        // the claim back so the retry reports; a claim left pending by a crash or a timeout is
        // taken over once this attempt's deadline has passed.
        let key = claims::key(
            FUNCTION,
            &[
                req.account.as_deref().unwrap_or("-"),
                req.job_type.as_str(),
                &req.job_name,
            ],
        );
        let now = Utc::now();
        let attempt = Attempt::new(FUNCTION, &context.request_id, context.deadline, now);
        if req.via == Via::Event {
            let ttl = self
                .config
                .claims
                .as_ref()
                .map_or(ClaimTable::DEFAULT_TTL_DAYS, |t| t.ttl_days);
            let claim = attempt.claim(key.clone(), Mode::Pending, now, ttl, req.event_id.clone());
            match self.claims.claim(&claim).await? {
                Claimed::Acquired(how) => {
                    if let Acquired::TakenOver { from } = &how {
                        warn!(job = %req.job_name, previous = %from, "took over a claim its owner left pending");
                    }
                }
                Claimed::Done { by_me } => {
                    info!(job = %req.job_name, by_me, "duplicate delivery: already reported");
                    self.config.common.health().duplicate(
                        &self.sink,
                        now,
                        &[("job_name", json!(req.job_name))],
                    );
                    return Ok(Outcome::Duplicate {
                        job_name: req.job_name,
                    });
                }
                Claimed::InProgress { owner, .. } => {
                    return Err(RetryLater::NotReady(format!(
                        "the report of {} is being sent by {owner}",
                        req.job_name
                    )));
                }
            }
        }
        if let Err(e) = self.publish(&req, &report, &classification).await {
            if req.via == Via::Event {
                if let Err(undo) = self.claims.release(&key, &attempt.owner).await {
                    error!(job = %req.job_name, error = %undo, key = %key,
                        "cannot release the report claim: a retry waits until this attempt's deadline");
                }
            }
            // Permanent or not, the report is kept in the function's log.
            self.record(&req, &report, &classification);
            return Err(e.into());
        }
        if req.via == Via::Event {
            if let Err(e) = self.claims.complete(&key, &attempt.owner).await {
                // Sent; only a redelivery after this attempt's deadline could send it again.
                warn!(job = %req.job_name, error = %e, key = %key, "cannot mark the report as sent");
            }
        }
        self.record(&req, &report, &classification);
        info!(job = %req.job_name, category = classification.category.as_str(), "failure reported");
        Ok(Outcome::Reported {
            report: report.json,
        })
    }

    /// The job's host streams within the budget, hosts read concurrently.
    async fn read_logs(
        &self,
        target: &Target,
        req: &Request,
    ) -> Result<(LogsRead, Vec<(String, StreamTail)>), AwsError> {
        let group = req.job_type.log_group();
        let mut read = LogsRead {
            log_group: group.clone(),
            ..LogsRead::default()
        };
        let prefix = format!("{}/", req.job_name);
        let streams = self.logs.streams(target, &group, &prefix).await?;
        let picked = self.config.budget.select(&req.job_name, streams.clone());
        read.streams_found = self.config.budget.select_all(&req.job_name, streams);
        let share = self.config.budget.share(picked.len());
        let tails = join_all(
            picked
                .iter()
                .map(|s| self.read_tail(target, &group, s, share)),
        )
        .await;
        let mut out = Vec::new();
        for (stream, tail) in picked.iter().zip(tails) {
            match tail {
                Ok(tail) => {
                    read.streams_read += 1;
                    read.events += tail.events.len();
                    read.bytes += tail.bytes;
                    read.truncated |= tail.truncated;
                    out.push((host_of_stream(&req.job_name, &stream.name), tail));
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

    async fn publish(
        &self,
        req: &Request,
        report: &Report,
        c: &Classification,
    ) -> Result<(), AwsError> {
        let note = Notification::new(&report.subject, report.text.clone(), report.json.clone())
            .attribute("source", FUNCTION)
            .attribute("category", c.category.as_str())
            .attribute("job_type", req.job_type.as_str())
            .attribute("account", req.account.clone().unwrap_or_default())
            .attribute("region", req.region.clone().unwrap_or_default());
        self.notifier.publish(&note).await
    }

    /// EMF `FailedJobs` by [JobType, Category] and [Category], then the report line.
    fn record(&self, req: &Request, report: &Report, c: &Classification) {
        let mut m = MetricRecord::new(self.config.common.metrics_namespace.clone(), Utc::now());
        m.dimension("JobType", req.job_type.as_str())
            .dimension("Category", c.category.as_str())
            .dimension_set(&["JobType", "Category"])
            .dimension_set(&["Category"])
            .metric("FailedJobs", 1.0, Unit::Count);
        for key in [
            "job_name",
            "job_arn",
            "account",
            "region",
            "signature_hash",
            "confidence",
        ] {
            if let Some(v) = report.json.get(key) {
                m.property(key, v.clone());
            }
        }
        let mut lines = m.render_logged();
        lines.push(sagewatch::report::render(
            Kind::JobFailure,
            report.json.clone(),
        ));
        self.sink.write(lines);
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
