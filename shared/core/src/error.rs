//! Errors that say whether a retry can help.
//!
//! Lambda retries an invocation that returns `Err` (and the DLQ keeps the event after the
//! last try). That is right for throttling, timeouts and 5xx, and wrong for a bad payload or a
//! job that does not exist: those are logged, counted, and the invocation succeeds.
//!
//! [`AwsError`] is the one vocabulary for a failed AWS call. Its [`ErrorKind`] is computed once,
//! from the SDK error, by the adapter crate (`sagewatch-aws`, the only place that reads error
//! codes and messages); everything else matches on the kind. Pure code and in-memory fakes
//! build errors with [`AwsError::new`].

use serde::Serialize;
use std::fmt;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {name} is not set")]
    Missing { name: String },
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    Invalid {
        name: String,
        value: String,
        reason: String,
    },
}

/// What a failed AWS call means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Slow down (throttling, rate limits, KMS throttling): retry.
    Throttled,
    /// The service or the network failed (5xx, timeouts, connection errors): retry.
    Unavailable,
    /// The resource (job, table, log group, topic) does not exist.
    NotFound,
    /// IAM or a resource policy refused the call.
    AccessDenied,
    /// A conditional write met a false condition (DynamoDB ConditionalCheckFailed).
    ConditionFailed,
    /// The resource exists but its state refuses the call (stopping a job that has ended).
    InvalidState,
    /// The request itself is invalid.
    Validation,
    /// Anything else the service said; retrying gives the same answer.
    Other,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Throttled => "throttled",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::NotFound => "not_found",
            ErrorKind::AccessDenied => "access_denied",
            ErrorKind::ConditionFailed => "condition_failed",
            ErrorKind::InvalidState => "invalid_state",
            ErrorKind::Validation => "validation",
            ErrorKind::Other => "other",
        }
    }

    /// Only passing faults are worth a retry.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::Throttled | ErrorKind::Unavailable)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A call whose "not found" is an answer, not an error (a job deleted between a listing and
/// its Describe, an endpoint already gone): `None`. Every adapter reads it through the one
/// not-found rule in `sagewatch_aws::error::from_sdk`.
pub fn found<T>(r: Result<T, AwsError>) -> Result<Option<T>, AwsError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind == ErrorKind::NotFound => {
            tracing::debug!(operation = e.operation, error = %e, "not found");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// An AWS call failed. `code` and `message` are the service's (redacted and bounded by the
/// adapter), for logs and reports only: decisions use `kind`.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{operation} failed ({kind}): {code}: {message}")]
pub struct AwsError {
    pub operation: &'static str,
    pub kind: ErrorKind,
    pub code: String,
    pub message: String,
    pub status: Option<u16>,
}

impl AwsError {
    /// An error of `kind` (fakes and tests; the SDK adapter fills in the HTTP status too).
    pub fn new(
        operation: &'static str,
        kind: ErrorKind,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        AwsError {
            operation,
            kind,
            code: code.into(),
            message: message.into(),
            status: None,
        }
    }

    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }
}

/// Why an invocation must be tried again later.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RetryLater {
    /// A passing AWS fault.
    #[error(transparent)]
    Aws(AwsError),
    /// A reason of ours: the data is not there yet (an index or a listing lags), or another
    /// live invocation holds the work.
    #[error("not ready: {0}")]
    NotReady(String),
}

impl From<AwsError> for RetryLater {
    fn from(e: AwsError) -> Self {
        RetryLater::Aws(e)
    }
}

/// The invocation's error when some of its work must be retried: Lambda retries the event
/// (or SQS redelivers the message) and, after the last try, the DLQ keeps it. Every side
/// effect is idempotent, so replaying the parts that already succeeded is safe.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{} part(s) must be retried: {}", .0.len(), join(.0))]
pub struct RetryableFailure(pub Vec<RetryLater>);

impl From<RetryLater> for RetryableFailure {
    fn from(r: RetryLater) -> Self {
        RetryableFailure(vec![r])
    }
}

impl From<AwsError> for RetryableFailure {
    fn from(e: AwsError) -> Self {
        RetryableFailure(vec![RetryLater::Aws(e)])
    }
}

fn join(reasons: &[RetryLater]) -> String {
    reasons
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_passing_faults_are_retryable() {
        for kind in [ErrorKind::Throttled, ErrorKind::Unavailable] {
            assert!(AwsError::new("Op", kind, "C", "m").is_retryable(), "{kind}");
        }
        for kind in [
            ErrorKind::NotFound,
            ErrorKind::AccessDenied,
            ErrorKind::ConditionFailed,
            ErrorKind::InvalidState,
            ErrorKind::Validation,
            ErrorKind::Other,
        ] {
            assert!(
                !AwsError::new("Op", kind, "C", "m").is_retryable(),
                "{kind}"
            );
        }
    }

    #[test]
    fn a_retryable_failure_names_every_reason() {
        let f = RetryableFailure(vec![
            AwsError::new("Publish", ErrorKind::Throttled, "Throttling", "slow down").into(),
            RetryLater::NotReady("job not indexed yet".into()),
        ]);
        let text = f.to_string();
        assert!(text.starts_with("2 part(s)"), "{text}");
        assert!(text.contains("Publish failed (throttled)"), "{text}");
        assert!(text.contains("not ready: job not indexed yet"), "{text}");
    }
}
