//! The one place where AWS error codes and messages are read: any SDK error becomes an
//! [`AwsError`] whose [`ErrorKind`] is decided here, once, from two tables. Callers match on
//! the kind, never on text.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use sagewatch::error::{AwsError, ErrorKind};

/// Error text that leaves the function (logs, reports, notifications) is redacted and at most
/// this long: an SDK error can quote a request or a response body.
pub const MAX_MESSAGE_CHARS: usize = 1024;

/// Error codes of the services we call, and what they mean.
const CODE_KINDS: &[(&str, ErrorKind)] = &[
    // Slow down.
    ("Throttling", ErrorKind::Throttled),
    ("ThrottlingException", ErrorKind::Throttled),
    ("ThrottledException", ErrorKind::Throttled),
    ("TooManyRequestsException", ErrorKind::Throttled),
    ("RequestLimitExceeded", ErrorKind::Throttled),
    ("RequestThrottled", ErrorKind::Throttled),
    ("RequestThrottledException", ErrorKind::Throttled),
    (
        "ProvisionedThroughputExceededException",
        ErrorKind::Throttled,
    ),
    // DynamoDB: too many control-plane operations at once (a rate, not a quota).
    ("LimitExceededException", ErrorKind::Throttled),
    ("TransactionInProgressException", ErrorKind::Throttled),
    // SNS with an encrypted topic: KMS's rate, passing like any throttle.
    ("KMSThrottling", ErrorKind::Throttled),
    ("KMSThrottlingException", ErrorKind::Throttled),
    // Their side failed.
    ("ServiceUnavailable", ErrorKind::Unavailable),
    ("ServiceUnavailableException", ErrorKind::Unavailable),
    ("InternalFailure", ErrorKind::Unavailable),
    ("InternalServerError", ErrorKind::Unavailable),
    ("InternalServerException", ErrorKind::Unavailable),
    ("InternalError", ErrorKind::Unavailable),
    ("InternalErrorException", ErrorKind::Unavailable),
    ("RequestTimeout", ErrorKind::Unavailable),
    ("RequestTimeoutException", ErrorKind::Unavailable),
    // Conditional writes.
    (
        "ConditionalCheckFailedException",
        ErrorKind::ConditionFailed,
    ),
    // Refused.
    ("AccessDenied", ErrorKind::AccessDenied),
    ("AccessDeniedException", ErrorKind::AccessDenied),
    ("AuthorizationError", ErrorKind::AccessDenied),
    ("UnauthorizedOperation", ErrorKind::AccessDenied),
    ("UnrecognizedClientException", ErrorKind::AccessDenied),
    ("InvalidClientTokenId", ErrorKind::AccessDenied),
    ("ExpiredToken", ErrorKind::AccessDenied),
    ("ExpiredTokenException", ErrorKind::AccessDenied),
    ("KMSAccessDenied", ErrorKind::AccessDenied),
    ("KMSAccessDeniedException", ErrorKind::AccessDenied),
    // Missing.
    ("ResourceNotFound", ErrorKind::NotFound),
    ("ResourceNotFoundException", ErrorKind::NotFound),
    ("NotFound", ErrorKind::NotFound),
    ("NotFoundException", ErrorKind::NotFound),
    ("ResourceNotFoundFault", ErrorKind::NotFound),
    // SNS: the topic does not exist.
    ("NotFoundError", ErrorKind::NotFound),
    // Wrong state.
    ("ConflictException", ErrorKind::InvalidState),
    ("ResourceInUse", ErrorKind::InvalidState),
    ("ResourceInUseException", ErrorKind::InvalidState),
    ("KMSInvalidState", ErrorKind::InvalidState),
    ("KMSDisabled", ErrorKind::InvalidState),
    // Invalid requests.
    ("ValidationException", ErrorKind::Validation),
    ("ValidationError", ErrorKind::Validation),
    ("InvalidParameter", ErrorKind::Validation),
    ("InvalidParameterValue", ErrorKind::Validation),
    ("InvalidParameterCombination", ErrorKind::Validation),
    ("InvalidParameterException", ErrorKind::Validation),
    ("InvalidParameterValueException", ErrorKind::Validation),
    ("MissingParameter", ErrorKind::Validation),
    ("SerializationException", ErrorKind::Validation),
];

/// Codes that say too little on their own: SageMaker answers "no such job" and "the job has
/// ended" with a ValidationException. The message, lower-cased, refines the kind (first
/// matching row wins). Phrases as SageMaker and moto word them.
const MESSAGE_KINDS: &[(&[&str], &[&str], ErrorKind)] = &[
    (
        &["ValidationException", "ResourceNotFound", "ValidationError"],
        &[
            "not found",
            "could not find",
            "does not exist",
            "cannot be found",
            "no such",
        ],
        ErrorKind::NotFound,
    ),
    (
        &["ValidationException"],
        &[
            "is in status",
            "in status:",
            "is not in progress",
            "already stopped",
            "already stopping",
        ],
        ErrorKind::InvalidState,
    ),
];

/// The kind of a service error with this code, message and HTTP status.
pub fn kind_of(code: &str, message: &str, status: Option<u16>) -> ErrorKind {
    let lower = message.to_ascii_lowercase();
    for (codes, phrases, kind) in MESSAGE_KINDS {
        if codes.contains(&code) && phrases.iter().any(|p| lower.contains(p)) {
            return *kind;
        }
    }
    if let Some((_, kind)) = CODE_KINDS.iter().find(|(c, _)| *c == code) {
        return *kind;
    }
    match status {
        Some(429) => ErrorKind::Throttled,
        Some(s) if s >= 500 => ErrorKind::Unavailable,
        Some(403) => ErrorKind::AccessDenied,
        Some(404) => ErrorKind::NotFound,
        _ => ErrorKind::Other,
    }
}

/// Redacted and bounded: safe to log, report and publish.
pub fn safe_text(text: &str) -> String {
    sagewatch::classify::truncate(&sagewatch::redact::redact(text), MAX_MESSAGE_CHARS)
}

/// Any SDK error as an [`AwsError`]: transport problems, timeouts, throttling and 5xx are
/// retryable kinds; the rest (validation, not found, access denied, …) are not.
pub fn from_sdk<E>(operation: &'static str, err: &SdkError<E, Response>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let code = service.err().code().unwrap_or("Unknown");
            let message = service.err().message().unwrap_or_default();
            AwsError {
                operation,
                kind: kind_of(code, message, Some(status)),
                code: code.to_owned(),
                message: safe_text(message),
                status: Some(status),
            }
        }
        // A response we could not read. Its Debug form quotes the raw body (hyperparameters,
        // log lines): only the status is kept.
        SdkError::ResponseError(r) => {
            let status = r.raw().status().as_u16();
            AwsError {
                operation,
                kind: kind_of("ResponseError", "", Some(status)),
                code: "ResponseError".to_owned(),
                message: format!("unreadable response (HTTP {status})"),
                status: Some(status),
            }
        }
        SdkError::TimeoutError(_) => transport(operation, "Timeout", err, ErrorKind::Unavailable),
        SdkError::DispatchFailure(_) => {
            let kind = credentials_refusal(err).unwrap_or(ErrorKind::Unavailable);
            transport(operation, "DispatchFailure", err, kind)
        }
        // A request we could not even build is our bug (or a bad region), not a passing fault.
        SdkError::ConstructionFailure(_) => {
            transport(operation, "ConstructionFailure", err, ErrorKind::Validation)
        }
        _ => transport(operation, "Unknown", err, ErrorKind::Unavailable),
    }
}

/// No credentials (a cross-account role that does not exist or may not be assumed, an expired
/// session) surfaces as a dispatch failure, because identity is resolved just before sending.
/// That is a refusal, not a network fault: retrying cannot help. A provider that timed out
/// is passing.
fn credentials_refusal(err: &(dyn std::error::Error + 'static)) -> Option<ErrorKind> {
    use aws_credential_types::provider::error::CredentialsError;
    let mut source = err.source();
    while let Some(e) = source {
        if let Some(c) = e.downcast_ref::<CredentialsError>() {
            return Some(match c {
                CredentialsError::ProviderTimedOut(_) => ErrorKind::Unavailable,
                _ => ErrorKind::AccessDenied,
            });
        }
        source = e.source();
    }
    None
}

fn transport<E>(
    operation: &'static str,
    code: &str,
    err: &SdkError<E, Response>,
    kind: ErrorKind,
) -> AwsError
where
    E: std::error::Error + 'static,
{
    AwsError {
        operation,
        kind,
        code: code.to_owned(),
        message: safe_text(&DisplayErrorContext(err).to_string()),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_is_one_rule_for_every_wording() {
        // Real SageMaker wording, moto's, and CloudWatch Logs' dedicated code.
        for (code, message) in [
            ("ValidationException", "Requested resource not found."),
            (
                "ValidationException",
                "Could not find requested job with name job-1",
            ),
            ("ValidationException", "Training job job-1 does not exist."),
            ("ResourceNotFound", "Could not find training job 'arn:…'."),
            (
                "ResourceNotFoundException",
                "The specified log group does not exist.",
            ),
        ] {
            assert_eq!(
                kind_of(code, message, Some(400)),
                ErrorKind::NotFound,
                "{message}"
            );
        }
        assert_eq!(
            kind_of(
                "ValidationException",
                "1 validation error detected",
                Some(400)
            ),
            ErrorKind::Validation
        );
    }

    #[test]
    fn every_kind_has_its_codes() {
        let cases = [
            ("ThrottlingException", ErrorKind::Throttled),
            ("KMSThrottling", ErrorKind::Throttled),
            ("InternalFailure", ErrorKind::Unavailable),
            ("AccessDeniedException", ErrorKind::AccessDenied),
            ("AuthorizationError", ErrorKind::AccessDenied),
            (
                "ConditionalCheckFailedException",
                ErrorKind::ConditionFailed,
            ),
            ("InvalidParameter", ErrorKind::Validation),
            ("Whatever", ErrorKind::Other),
        ];
        for (code, kind) in cases {
            assert_eq!(kind_of(code, "", Some(400)), kind, "{code}");
        }
        assert_eq!(kind_of("Whatever", "", Some(503)), ErrorKind::Unavailable);
        assert_eq!(kind_of("Whatever", "", Some(429)), ErrorKind::Throttled);
    }

    #[test]
    fn stopping_an_ended_job_is_a_wrong_state() {
        assert_eq!(
            kind_of(
                "ValidationException",
                "The request was rejected because the training job is in status Stopped.",
                Some(400)
            ),
            ErrorKind::InvalidState
        );
    }

    /// An operation error as the SDK generates them (service errors are not built here).
    #[derive(Debug)]
    struct OpError(aws_smithy_types::error::ErrorMetadata);

    impl std::fmt::Display for OpError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("op error")
        }
    }

    impl std::error::Error for OpError {}

    impl ProvideErrorMetadata for OpError {
        fn meta(&self) -> &aws_smithy_types::error::ErrorMetadata {
            &self.0
        }
    }

    fn kind(err: SdkError<OpError, Response>) -> ErrorKind {
        from_sdk("Op", &err).kind
    }

    #[test]
    fn transport_failures_are_told_apart_from_refusals() {
        use aws_credential_types::provider::error::CredentialsError;
        use aws_smithy_runtime_api::client::result::ConnectorError;
        use std::time::Duration;
        // A cross-account role that does not exist or may not be assumed: identity is resolved
        // just before sending, so it surfaces as a dispatch failure — a refusal, not a fault.
        let no_role = CredentialsError::provider_error(
            "AccessDenied: User is not authorized to perform: sts:AssumeRole",
        );
        assert_eq!(
            kind(SdkError::dispatch_failure(ConnectorError::other(
                Box::new(no_role),
                None
            ))),
            ErrorKind::AccessDenied
        );
        // The credentials provider itself timing out is passing.
        let slow = CredentialsError::provider_timed_out(Duration::from_secs(5));
        assert_eq!(
            kind(SdkError::dispatch_failure(ConnectorError::other(
                Box::new(slow),
                None
            ))),
            ErrorKind::Unavailable
        );
        let refused: Box<dyn std::error::Error + Send + Sync> = "connection refused".into();
        assert_eq!(
            kind(SdkError::dispatch_failure(ConnectorError::io(refused))),
            ErrorKind::Unavailable
        );
        // A request that cannot be built (an invalid region) is permanent: never retried into
        // the dead-letter queue.
        assert_eq!(
            kind(SdkError::construction_failure(
                "invalid region `not a region`"
            )),
            ErrorKind::Validation
        );
        assert_eq!(
            kind(SdkError::timeout_error("slow")),
            ErrorKind::Unavailable
        );
    }

    #[test]
    fn error_text_is_redacted_and_bounded() {
        let long = format!("password=hunter2 {}", "x".repeat(5000));
        let safe = safe_text(&long);
        assert!(!safe.contains("hunter2"), "{safe}");
        assert!(safe.chars().count() <= MAX_MESSAGE_CHARS + 1);
    }
}
