//! event-augmenter: SageMaker events → fleet metrics (EMF) and report lines, each counted once.
//!
//! Input: an EventBridge event (direct invoke) or an SQS batch of them (EventBridge → SQS with a
//! delivery delay → Lambda with `ReportBatchItemFailures`).
//!
//! Per terminal job event (Completed, Failed, Stopped; never `Stopping`):
//! host metrics (GetMetricData, exact `Host` values; ListMetrics first for transform jobs) →
//! conditional PutItem on `account#job_type#job_name#status` → EMF + `job_summary` line.
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
pub mod records;
pub mod utilization;
pub mod window;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Duration, Utc};
use ports::{Claimed, DedupeClaim, DedupeStore, HostMetrics, Sink};
use sagewatch::error::AwsError;
use sagewatch::events::{Detail, SageMakerEvent};
use sagewatch::lambda_runtime::{Error, LambdaEvent};
use sagewatch::redact::redact;
use sagewatch::tracing::{error, info, warn};
use serde::Serialize;
use serde_json::Value;

pub use config::Config;
pub use records::FUNCTION;

/// DynamoDB allows 2048 bytes of partition key; longer keys are shortened with a hash.
const MAX_KEY_BYTES: usize = 1024;

pub struct Augmenter<D, M, S> {
    pub dedupe: D,
    pub metrics: M,
    pub sink: S,
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
}

/// A retryable failure of a direct invoke: Lambda retries the event, then its on-failure
/// destination keeps it. Every side effect is idempotent (the dedupe key), so that is safe.
#[derive(Debug, thiserror::Error)]
#[error("retryable failure: {0}")]
pub struct RetryableFailure(pub AwsError);

/// An SQS failure Lambda cannot attribute to a message (no messageId): the whole batch retries.
#[derive(Debug, thiserror::Error)]
#[error("{0} failed SQS record(s) have no messageId; the whole batch is retried")]
pub struct UnattributableFailure(usize);

enum Failure {
    /// Never becomes valid by retrying.
    Invalid(String),
    Retry(AwsError),
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

/// `a#b#c`, shortened with a stable hash past [`MAX_KEY_BYTES`].
pub fn dedupe_key(parts: &[&str]) -> String {
    let key = parts.join("#");
    if key.len() <= MAX_KEY_BYTES {
        return key;
    }
    // FNV-1a: stable across builds and platforms (std's hasher is not).
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut cut = MAX_KEY_BYTES - 17;
    while !key.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}#{hash:016x}", &key[..cut])
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

fn redacted(s: Option<&str>) -> Option<String> {
    s.map(|s| redact(s).into_owned())
}

impl<D: DedupeStore, M: HostMetrics, S: Sink> Augmenter<D, M, S> {
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Response, Error> {
        self.handle_at(event, Utc::now()).await
    }

    /// [`Self::handle`] with a fixed "now" (tests; the data-age rules depend on it).
    pub async fn handle_at(
        &self,
        event: LambdaEvent<Value>,
        now: DateTime<Utc>,
    ) -> Result<Response, Error> {
        let home = self.config.home_account.clone().or_else(|| {
            sagewatch::aws::target::account_of_arn(&event.context.invoked_function_arn)
        });
        let payload = event.payload;
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
                Ok(batch) => self.batch(batch, home.as_deref(), now).await,
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
            Ok(ev) => match Box::pin(self.process(&ev, home.as_deref(), now)).await {
                Ok(p) => outcome(0, None, p),
                Err(Failure::Invalid(reason)) => self.invalid(0, ev.id.clone(), reason, now),
                Err(Failure::Retry(e)) => {
                    warn!(error = %e, event_id = ev.id.as_deref().unwrap_or("-"), "retryable failure");
                    return Err(Box::new(RetryableFailure(e)));
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
                Ok(ev) => Box::pin(self.process(&ev, home, now)).await,
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
        // serde messages quote the offending value, which may be a secret.
        let reason = redact(&reason).into_owned();
        error!(record, id = id.as_deref().unwrap_or("-"), reason = %reason, "invalid event; nothing done");
        self.sink.write(records::function_counter(
            &self.config.metrics_namespace,
            now,
            "InvalidEvents",
            &[("reason", Value::from(reason.as_str()))],
        ));
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
    ) -> Result<Processed, Failure> {
        match &event.detail {
            Detail::TrainingJob(_) | Detail::ProcessingJob(_) | Detail::TransformJob(_) => {
                self.job(event, home, now).await
            }
            Detail::HyperParameterTuningJob(t) => self.tuning(event, t, now).await,
            Detail::Endpoint(e) => self.endpoint(event, e, now).await,
            Detail::PipelineExecution(p) => self.pipeline_execution(event, p, now).await,
            Detail::PipelineStep(s) => self.pipeline_step(event, s, now).await,
            Detail::ApiCall(c) => self.api_call(event, c, now).await,
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

    /// The conditional put, then the lines. A duplicate writes only `DuplicateEvents`.
    async fn count_once(
        &self,
        key: String,
        event: &SageMakerEvent,
        lines: Vec<String>,
        now: DateTime<Utc>,
        detail: String,
    ) -> Result<Processed, Failure> {
        match self.claim(&key, event, now).await? {
            Claimed::First => {
                self.sink.write(lines);
                info!(key = %key, "counted");
                Ok(Processed {
                    result: Disposition::Counted,
                    key: Some(key),
                    detail,
                })
            }
            Claimed::Duplicate => {
                info!(key = %key, "duplicate delivery; nothing emitted");
                self.sink.write(records::function_counter(
                    &self.config.metrics_namespace,
                    now,
                    "DuplicateEvents",
                    &[("dedupe_key", Value::from(key.as_str()))],
                ));
                Ok(Processed {
                    result: Disposition::Duplicate,
                    key: Some(key),
                    detail: "already counted".into(),
                })
            }
        }
    }

    /// The conditional put alone. Every error is retryable here, even "table not found":
    /// skipping would lose the count silently and guessing "new" would double it.
    async fn claim(
        &self,
        key: &str,
        event: &SageMakerEvent,
        now: DateTime<Utc>,
    ) -> Result<Claimed, Failure> {
        let claim = DedupeClaim {
            key: key.to_owned(),
            expires_at: (now + self.dedupe_ttl()).timestamp(),
            event_id: event.id.clone(),
        };
        self.dedupe.claim(&claim).await.map_err(Failure::Retry)
    }

    fn dedupe_ttl(&self) -> Duration {
        Duration::days(i64::from(self.config.dedupe_ttl_days))
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
