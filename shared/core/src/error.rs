//! Errors that say whether a retry can help.
//!
//! Lambda retries an invocation that returns `Err` (and the DLQ keeps the event after the
//! last try). That is right for throttling, timeouts and 5xx, and wrong for a bad payload or a
//! job that does not exist: those are logged, counted, and the invocation succeeds.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Retry {
    /// Try again later: Lambda retries, the DLQ keeps the event.
    Retryable,
    /// Retrying will not help: log, count, succeed.
    Permanent,
}

/// An AWS call failed; carries the service's error code and whether to retry.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed ({retry:?}): {code}: {message}")]
pub struct AwsError {
    pub operation: &'static str,
    pub code: String,
    pub message: String,
    pub status: Option<u16>,
    pub retry: Retry,
}

impl AwsError {
    pub fn is_retryable(&self) -> bool {
        self.retry == Retry::Retryable
    }

    pub fn is_code(&self, code: &str) -> bool {
        self.code == code
    }
}

/// Error codes that mean "slow down" or "our side failed": retry.
const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "ProvisionedThroughputExceededException",
    "LimitExceededException",
    "TransactionInProgressException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalServerError",
    "InternalServerException",
    "InternalError",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Classifies any SDK error: transport problems, timeouts, throttling and 5xx are retryable;
/// other service errors (validation, not found, access denied) are permanent.
pub fn classify<E>(operation: &'static str, err: &SdkError<E, Response>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (code, message, status, retry) = match err {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let code = service.err().code().unwrap_or("Unknown").to_owned();
            let message = service.err().message().unwrap_or_default().to_owned();
            let retry =
                if status >= 500 || status == 429 || RETRYABLE_CODES.contains(&code.as_str()) {
                    Retry::Retryable
                } else {
                    Retry::Permanent
                };
            (code, message, Some(status), retry)
        }
        SdkError::ResponseError(r) => {
            let status = r.raw().status().as_u16();
            let retry = if status >= 500 || status == 429 {
                Retry::Retryable
            } else {
                Retry::Permanent
            };
            (
                "ResponseError".to_owned(),
                format!("{err:?}"),
                Some(status),
                retry,
            )
        }
        SdkError::TimeoutError(_) => (
            "Timeout".to_owned(),
            format!("{err:?}"),
            None,
            Retry::Retryable,
        ),
        SdkError::DispatchFailure(_) => (
            "DispatchFailure".to_owned(),
            format!("{err:?}"),
            None,
            Retry::Retryable,
        ),
        // A request we could not even build is our bug, not a passing fault.
        SdkError::ConstructionFailure(_) => (
            "ConstructionFailure".to_owned(),
            format!("{err:?}"),
            None,
            Retry::Permanent,
        ),
        _ => (
            "Unknown".to_owned(),
            format!("{err:?}"),
            None,
            Retry::Retryable,
        ),
    };
    AwsError {
        operation,
        code,
        message,
        status,
        retry,
    }
}
