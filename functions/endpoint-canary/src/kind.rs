//! What went wrong with a check, as a closed set of kinds: the `ErrorKind` dimension of
//! `CanaryErrors`, the alert's attribute, and the README's table come from [`KINDS`].

use sagewatch::error::ErrorKind;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The container answered with an error (InvokeEndpoint's ModelError).
    ModelError,
    /// SageMaker refused the request (content type, payload, variant or component name).
    ValidationError,
    /// InvokeEndpoint was throttled.
    Throttled,
    /// No answer within the check's client timeout.
    ClientTimeout,
    /// The endpoint does not exist or is not InService.
    EndpointUnavailable,
    /// IAM refused InvokeEndpoint (the endpoint is not among the role's named ones).
    AccessDenied,
    /// SageMaker itself failed (5xx, network) or said something else.
    ServiceError,
    /// The answer did not meet the check's expectation (pointer, value or regex).
    ExpectationFailed,
    /// The answer was right but slower than the check's latency budget.
    LatencyBudgetExceeded,
}

/// kind → (dimension value, what to look at first).
pub const KINDS: &[(FailureKind, &str, &str)] = &[
    (
        FailureKind::ModelError,
        "model_error",
        "the container's logs (LogStreamArn) and its original status and message",
    ),
    (
        FailureKind::ValidationError,
        "validation_error",
        "the check's content type, payload, variant and inference component",
    ),
    (
        FailureKind::Throttled,
        "throttled",
        "InvokeEndpoint quotas and the endpoint's other traffic",
    ),
    (
        FailureKind::ClientTimeout,
        "client_timeout",
        "the model's latency (ModelLatency) against the check's timeout_ms",
    ),
    (
        FailureKind::EndpointUnavailable,
        "endpoint_unavailable",
        "whether the endpoint exists and is InService",
    ),
    (
        FailureKind::AccessDenied,
        "access_denied",
        "the canary role's InvokeEndpoint resources (CanaryEndpointNames)",
    ),
    (
        FailureKind::ServiceError,
        "service_error",
        "the SageMaker service health; the next run usually passes",
    ),
    (
        FailureKind::ExpectationFailed,
        "expectation_failed",
        "the model's answer against the check's expect block",
    ),
    (
        FailureKind::LatencyBudgetExceeded,
        "latency_budget_exceeded",
        "the endpoint's ModelLatency and OverheadLatency, instance count",
    ),
];

/// AWS error kind (decided by `sagewatch_aws::error::from_sdk`) → failure kind. ModelError
/// and timeouts are told apart before this (typed variant, client timer).
const FROM_AWS: &[(ErrorKind, FailureKind)] = &[
    (ErrorKind::Throttled, FailureKind::Throttled),
    (ErrorKind::NotFound, FailureKind::EndpointUnavailable),
    (ErrorKind::InvalidState, FailureKind::EndpointUnavailable),
    (ErrorKind::Validation, FailureKind::ValidationError),
    (ErrorKind::AccessDenied, FailureKind::AccessDenied),
    (ErrorKind::Unavailable, FailureKind::ServiceError),
    (ErrorKind::ConditionFailed, FailureKind::ServiceError),
    (ErrorKind::Other, FailureKind::ServiceError),
];

impl FailureKind {
    fn row(self) -> &'static (FailureKind, &'static str, &'static str) {
        // Every kind has a row (a test checks it); the first row is never used as a fallback.
        KINDS.iter().find(|(k, ..)| *k == self).unwrap_or(&KINDS[0])
    }

    pub fn as_str(self) -> &'static str {
        self.row().1
    }

    pub fn look_at(self) -> &'static str {
        self.row().2
    }

    pub fn from_aws(kind: ErrorKind) -> Self {
        FROM_AWS
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(FailureKind::ServiceError, |(_, f)| *f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_row() {
        let all = [
            FailureKind::ModelError,
            FailureKind::ValidationError,
            FailureKind::Throttled,
            FailureKind::ClientTimeout,
            FailureKind::EndpointUnavailable,
            FailureKind::AccessDenied,
            FailureKind::ServiceError,
            FailureKind::ExpectationFailed,
            FailureKind::LatencyBudgetExceeded,
        ];
        assert_eq!(all.len(), KINDS.len());
        for k in all {
            assert_eq!(KINDS.iter().filter(|(r, ..)| *r == k).count(), 1, "{k:?}");
            let json = serde_json::to_value(k).unwrap();
            assert_eq!(json, k.as_str(), "serde name and dimension agree");
        }
    }

    #[test]
    fn aws_kinds_map() {
        assert_eq!(
            FailureKind::from_aws(ErrorKind::NotFound),
            FailureKind::EndpointUnavailable
        );
        assert_eq!(
            FailureKind::from_aws(ErrorKind::Throttled),
            FailureKind::Throttled
        );
        assert_eq!(
            FailureKind::from_aws(ErrorKind::Validation),
            FailureKind::ValidationError
        );
    }
}
