//! event-augmenter: SageMaker events → fleet metrics (EMF) and report lines, each counted once.
//!
//! Input: an EventBridge event (direct invoke) or an SQS batch of them (EventBridge → SQS with a
//! delivery delay → Lambda with `ReportBatchItemFailures`).
//!
//! Per terminal job event (Completed, Failed, Stopped; never `Stopping`):
//! host metrics (GetMetricData, exact `Host` values; ListMetrics first for transform jobs) →
//! claim of `event-augmenter#account#job_type#job_name#status` → EMF + `job_summary` line.
//! Metrics are read *before* the put: a retry after a failed read must not find the key taken
//! and swallow the job as a duplicate. After the put only stdout writes remain.
//! Tuning, endpoint, pipeline and CloudTrail events: conditional PutItem → EMF (and an
//! `api_audit` line for destructive or security-relevant calls).
//!
//! Layout: `config` (environment), this file (input shapes, batch handling, the claim),
//! `jobs` (terminal jobs), `lifecycle` (tuning, endpoint, pipeline), `cloudtrail` (API calls
//! and the audit table); `ports` and `adapter` for AWS; `window`, `utilization` and `records`
//! are pure.

pub mod adapter;
pub mod cloudtrail;
pub mod config;
mod jobs;
mod lifecycle;
pub mod ports;
mod reconcile;
pub mod records;
pub mod utilization;
pub mod window;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use lambda_runtime::{Error, LambdaEvent};
use ports::{ClaimReader, EventBus, HostMetrics, Jobs, NoBus, NoJobs, Sink};
use sagewatch::claims::{Attempt, ClaimStore, Claimed, Mode};
use sagewatch::error::{RetryLater, RetryableFailure};
use sagewatch::events::{Detail, SageMakerEvent};
use sagewatch::redact::redact;
use serde::Serialize;
use serde_json::Value;
use tracing::{info, warn};

pub use config::Config;
pub use reconcile::SweepSummary;
pub use records::FUNCTION;

pub struct Augmenter<D, M, S, J = NoJobs, B = NoBus> {
    /// Counts each event once ([`Mode::Once`] claims in the shared table); the sweep also
    /// reads it ([`ClaimReader`]).
    pub dedupe: D,
    pub metrics: M,
    pub sink: S,
    /// SageMaker's job listings, for the sweep (`reconcile.rs`).
    pub jobs: J,
    /// Where the sweep re-emits the state changes it found lost (`reconcile.rs`).
    pub bus: B,
    pub config: Config,
}

/// What happened to one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// Counted now: EMF (and report) lines written.
    Counted,
    /// Counted before: nothing written but `DuplicateEvents`.
    Duplicate,
    /// A job state that is not an end state (InProgress, Stopping): nothing to count.
    NotTerminal,
    /// A detail-type without metrics (model packages, deployments, unknown types).
    Ignored,
    /// Unreadable: `InvalidEvents` counted, nothing else done.
    Invalid,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub record: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    pub result: Disposition,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub detail: String,
}

/// Response to a direct invoke: one outcome per event (handy with `cargo lambda invoke`).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub outcomes: Vec<Outcome>,
}

/// An SQS batch gets exactly the shape Lambda reads; a direct invoke gets the summary.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Response {
    Batch(SqsBatchResponse),
    Direct(Summary),
    /// `{"sweep": {…}}`: what a sweep found and did.
    Sweep(SweepResponse),
}

#[derive(Debug, Clone, Serialize)]
pub struct SweepResponse {
    pub sweep: reconcile::SweepSummary,
}

/// An SQS failure Lambda cannot attribute to a message (no messageId): the whole batch retries.
#[derive(Debug, thiserror::Error)]
#[error("{0} failed SQS record(s) have no messageId; the whole batch is retried")]
pub struct UnattributableFailure(usize);

enum Failure {
    /// Never becomes valid by retrying.
    Invalid(String),
    Retry(RetryLater),
}

/// Whether this delivery counts the event.
pub(crate) enum Once {
    First,
    Duplicate,
}

struct Processed {
    result: Disposition,
    key: Option<String>,
    detail: String,
}

impl Processed {
    fn new(result: Disposition, detail: impl Into<String>) -> Self {
        Processed {
            result,
            key: None,
            detail: detail.into(),
        }
    }
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

fn redacted(s: Option<&str>) -> Option<String> {
    s.map(|s| redact(s).into_owned())
}

impl<D: ClaimStore + ClaimReader, M: HostMetrics, S: Sink, J: Jobs, B: EventBus>
    Augmenter<D, M, S, J, B>
{
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Response, Error> {
        self.handle_at(event, Utc::now()).await
    }

    /// [`Self::handle`] with a fixed "now" (tests; the data-age rules depend on it).
    pub async fn handle_at(
        &self,
        event: LambdaEvent<Value>,
        now: DateTime<Utc>,
    ) -> Result<Response, Error> {
        let home = self
            .config
            .common
            .home_account(&event.context.invoked_function_arn);
        let attempt = Attempt::new(
            FUNCTION,
            &event.context.request_id,
            event.context.deadline,
            now,
        );
        let payload = event.payload;
        // A scheduled run or `{"action": "sweep"}`: the third input (see `reconcile.rs`).
        if let Some(request) = sagewatch::sweep::Request::from_payload(&payload) {
            return match request {
                Ok(request) => {
                    let region = region_of_arn(&event.context.invoked_function_arn);
                    let sweep = Box::pin(self.sweep(
                        &request,
                        home.as_deref(),
                        region.as_deref(),
                        now,
                        &attempt,
                        event.context.deadline,
                    ))
                    .await?;
                    Ok(Response::Sweep(SweepResponse { sweep }))
                }
                Err(reason) => {
                    let outcome =
                        self.invalid(0, None, format!("not a sweep request: {reason}"), now);
                    Ok(Response::Direct(Summary {
                        outcomes: vec![outcome],
                    }))
                }
            };
        }
        self.route(payload, home.as_deref(), now, &attempt).await
    }
}

/// `arn:aws:lambda:<region>:…` → region (the sweep lists the function's own region).
fn region_of_arn(arn: &str) -> Option<String> {
    let region = arn.split(':').nth(3)?;
    (!region.is_empty()).then(|| region.to_owned())
}

impl<D: ClaimStore, M: HostMetrics, S: Sink, J, B> Augmenter<D, M, S, J, B> {
    /// The event inputs: an SQS batch or one EventBridge event.
    async fn route(
        &self,
        payload: Value,
        home: Option<&str>,
        now: DateTime<Utc>,
        attempt: &Attempt,
    ) -> Result<Response, Error> {
        if let Some(records) = payload.get("Records") {
            // Only SQS batches; an SNS or S3 notification sent here is a wiring mistake.
            let is_sqs = records.as_array().is_some_and(|r| {
                r.iter()
                    .all(|m| m.get("eventSource").and_then(Value::as_str) == Some("aws:sqs"))
            });
            let batch = if is_sqs {
                serde_json::from_value::<SqsEvent>(payload).map_err(|e| e.to_string())
            } else {
                Err("`Records` that are not SQS messages (eventSource aws:sqs)".to_owned())
            };
            return match batch {
                Ok(batch) => self.batch(batch, home, now, attempt).await,
                Err(e) => {
                    let outcome = self.invalid(0, None, format!("not an SQS batch: {e}"), now);
                    Ok(Response::Direct(Summary {
                        outcomes: vec![outcome],
                    }))
                }
            };
        }
        let outcome = match SageMakerEvent::from_value(payload) {
            Err(e) => self.invalid(0, None, e.to_string(), now),
            // Boxed: keeps the handler's future shallow enough for rustc's layout recursion limit.
            Ok(ev) => match Box::pin(self.process(&ev, home, now, attempt)).await {
                Ok(p) => outcome(0, None, p),
                Err(Failure::Invalid(reason)) => self.invalid(0, ev.id.clone(), reason, now),
                Err(Failure::Retry(e)) => {
                    warn!(error = %e, event_id = ev.id.as_deref().unwrap_or("-"), "retryable failure");
                    return Err(Box::new(RetryableFailure::from(e)));
                }
            },
        };
        Ok(Response::Direct(Summary {
            outcomes: vec![outcome],
        }))
    }

    /// Each message on its own: a malformed one and a retryable failure both go to
    /// `batchItemFailures`, the others are done. A malformed message comes back until the
    /// queue's maxReceiveCount moves it to the DLQ, where it stays visible (never dropped).
    async fn batch(
        &self,
        batch: SqsEvent,
        home: Option<&str>,
        now: DateTime<Utc>,
        attempt: &Attempt,
    ) -> Result<Response, Error> {
        let mut response = SqsBatchResponse::default();
        let mut unattributable = 0;
        for (index, message) in batch.records.into_iter().enumerate() {
            let id = message.message_id.clone().filter(|m| !m.is_empty());
            let parsed = match message.body.as_deref() {
                None => Err(Failure::Invalid("SQS message has no body".into())),
                Some(body) => SageMakerEvent::from_slice(body.as_bytes())
                    .map_err(|e| Failure::Invalid(e.to_string())),
            };
            let result = match parsed {
                Ok(ev) => Box::pin(self.process(&ev, home, now, &attempt.record(index))).await,
                Err(f) => Err(f),
            };
            let failed = match result {
                Ok(p) => {
                    info!(record = index, message_id = id.as_deref().unwrap_or("-"), result = ?p.result, detail = %p.detail, "message done");
                    false
                }
                Err(Failure::Invalid(reason)) => {
                    self.invalid(index, id.clone(), reason, now);
                    true
                }
                Err(Failure::Retry(e)) => {
                    warn!(record = index, message_id = id.as_deref().unwrap_or("-"), error = %e, "retryable failure; message returned to the queue");
                    true
                }
            };
            if failed {
                match id {
                    Some(id) => response.add_failure(id),
                    None => unattributable += 1,
                }
            }
        }
        if unattributable > 0 {
            return Err(Box::new(UnattributableFailure(unattributable)));
        }
        Ok(Response::Batch(response))
    }

    /// Unreadable input: logged and counted, no AWS call.
    fn invalid(
        &self,
        record: usize,
        id: Option<String>,
        reason: String,
        now: DateTime<Utc>,
    ) -> Outcome {
        // serde messages quote the offending value, which may be a secret: the health
        // counter redacts it.
        let reason = self.config.common.health().invalid(
            &self.sink,
            now,
            "invalid_event",
            &reason,
            &[
                ("record", Value::from(record)),
                ("message_id", id.clone().map_or(Value::Null, Value::from)),
            ],
        );
        Outcome {
            record,
            message_id: id,
            result: Disposition::Invalid,
            key: None,
            detail: reason,
        }
    }

    async fn process(
        &self,
        event: &SageMakerEvent,
        home: Option<&str>,
        now: DateTime<Utc>,
        attempt: &Attempt,
    ) -> Result<Processed, Failure> {
        match &event.detail {
            Detail::TrainingJob(_) | Detail::ProcessingJob(_) | Detail::TransformJob(_) => {
                self.job(event, home, now, attempt, jobs::Origin::Event)
                    .await
            }
            Detail::HyperParameterTuningJob(t) => self.tuning(event, t, now, attempt).await,
            Detail::Endpoint(e) => self.endpoint(event, e, now, attempt).await,
            Detail::PipelineExecution(p) => self.pipeline_execution(event, p, now, attempt).await,
            Detail::PipelineStep(s) => self.pipeline_step(event, s, now, attempt).await,
            Detail::ApiCall(c) => self.api_call(event, c, now, attempt).await,
            Detail::EndpointDeployment(_) | Detail::ModelPackage(_) => Ok(Processed::new(
                Disposition::Ignored,
                format!("{}: no metric for this detail-type", event.detail_type),
            )),
            Detail::Other(_) => Ok(Processed::new(
                Disposition::Ignored,
                format!("{}: detail-type not modelled", event.detail_type),
            )),
        }
    }

    /// The claim, then the lines. A duplicate writes only `DuplicateEvents`.
    async fn count_once(
        &self,
        key: String,
        event: &SageMakerEvent,
        lines: Vec<String>,
        now: DateTime<Utc>,
        attempt: &Attempt,
        detail: String,
    ) -> Result<Processed, Failure> {
        match self.claim(&key, event, now, attempt).await? {
            Once::First => {
                self.sink.write(lines);
                info!(key = %key, "counted");
                Ok(Processed {
                    result: Disposition::Counted,
                    key: Some(key),
                    detail,
                })
            }
            Once::Duplicate => {
                self.config.common.health().duplicate(
                    &self.sink,
                    now,
                    &[("dedupe_key", Value::from(key.as_str()))],
                );
                Ok(Processed {
                    result: Disposition::Duplicate,
                    key: Some(key),
                    detail: "already counted".into(),
                })
            }
        }
    }

    /// The claim alone ([`Mode::Once`]: the put is the commit point). Our own earlier write
    /// whose answer was lost is ours, not a duplicate. Every error is retryable here, even
    /// "table not found": skipping would lose the count silently and guessing "new" would
    /// double it.
    async fn claim(
        &self,
        key: &str,
        event: &SageMakerEvent,
        now: DateTime<Utc>,
        attempt: &Attempt,
    ) -> Result<Once, Failure> {
        let claim = attempt.claim(
            key.to_owned(),
            Mode::Once,
            now,
            self.config.dedupe_ttl_days,
            event.id.clone(),
        );
        match self.dedupe.claim(&claim).await {
            Ok(Claimed::Acquired(_)) => Ok(Once::First),
            Ok(Claimed::Done { .. }) => Ok(Once::Duplicate),
            // Only pending claims can be in progress, and this function never leaves one; a
            // foreign item under our prefix is not ours to count or to skip.
            Ok(Claimed::InProgress { owner, .. }) => Err(Failure::Retry(RetryLater::NotReady(
                format!("{key} is held by {owner}"),
            ))),
            Err(e) => Err(Failure::Retry(RetryLater::Aws(e))),
        }
    }

    fn dedupe_ttl(&self) -> chrono::Duration {
        chrono::Duration::days(i64::from(self.config.dedupe_ttl_days))
    }
}

fn outcome(record: usize, message_id: Option<String>, p: Processed) -> Outcome {
    Outcome {
        record,
        message_id,
        result: p.result,
        key: p.key,
        detail: p.detail,
    }
}
