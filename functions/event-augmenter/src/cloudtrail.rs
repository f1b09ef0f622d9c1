//! CloudTrail "AWS API Call via CloudTrail" events from SageMaker: `ApiCalls` by [EventName]
//! and [EventName, ErrorCode], and an `api_audit` line for destructive or security-relevant
//! calls and any call that was denied. One table; the first matching rule gives the reason.

use crate::ports::{HostMetrics, Sink};
use crate::records::{self, emf_timestamp};
use crate::FUNCTION;
use crate::{non_empty, redacted, Augmenter, Failure, Processed};
use chrono::{DateTime, Utc};
use sagewatch::claims::{self, Attempt, ClaimStore};
use sagewatch::events::{CloudTrailApiCall, SageMakerEvent};
use sagewatch::redact::redact_json;
use sagewatch::report::{self, Kind};
use serde_json::{json, Value};

/// How a rule matches the CloudTrail `eventName`.
#[derive(Debug, Clone, Copy)]
enum Match {
    Prefix(&'static str),
    Exact(&'static str),
}

const RULES: &[(Match, &str)] = &[
    (Match::Prefix("Delete"), "destructive"),
    (Match::Prefix("Stop"), "destructive"),
    (Match::Prefix("Update"), "configuration change"),
    // Presigned URLs open Studio, notebooks, MLflow or partner apps as the caller: a session.
    (Match::Exact("CreatePresignedDomainUrl"), "console access"),
    (
        Match::Exact("CreatePresignedNotebookInstanceUrl"),
        "console access",
    ),
    (
        Match::Exact("CreatePresignedMlflowTrackingServerUrl"),
        "console access",
    ),
    (
        Match::Exact("CreatePresignedMlflowAppUrl"),
        "console access",
    ),
    (
        Match::Exact("CreatePartnerAppPresignedUrl"),
        "console access",
    ),
    // Resource policies grant other principals access.
    (
        Match::Exact("PutModelPackageGroupPolicy"),
        "resource policy",
    ),
    (Match::Exact("PutEndpointPolicy"), "resource policy"),
    // Tags drive tag-based access control and sagewatch's own opt-in (sagewatch:auto-stop).
    (Match::Exact("AddTags"), "tag change"),
    (Match::Exact("CreateDomain"), "identity and access"),
    (Match::Exact("CreateUserProfile"), "identity and access"),
    (
        Match::Exact("EnableSagemakerServicecatalogPortfolio"),
        "configuration change",
    ),
    (
        Match::Exact("DisableSagemakerServicecatalogPortfolio"),
        "configuration change",
    ),
];

/// Error codes that mean the caller was refused: worth a line whatever the call.
const DENIED_CODES: &[&str] = &["AccessDenied", "UnauthorizedOperation", "Unauthorized"];

/// Why this call is audited, or `None` when it is only counted.
pub fn audit_reason(event_name: &str, error_code: Option<&str>) -> Option<&'static str> {
    if error_code.is_some_and(|c| DENIED_CODES.iter().any(|d| c.starts_with(d))) {
        return Some("access denied");
    }
    RULES
        .iter()
        .find(|(m, _)| match m {
            Match::Prefix(p) => event_name.starts_with(p),
            Match::Exact(e) => event_name == *e,
        })
        .map(|(_, reason)| *reason)
}

impl<D: ClaimStore, M: HostMetrics, S: Sink, J, B> Augmenter<D, M, S, J, B> {
    pub(crate) async fn api_call(
        &self,
        event: &SageMakerEvent,
        c: &CloudTrailApiCall,
        now: DateTime<Utc>,
        attempt: &Attempt,
    ) -> Result<Processed, Failure> {
        let Some(name) = non_empty(c.event_name.as_deref()) else {
            return Err(Failure::Invalid(
                "CloudTrail record without eventName".into(),
            ));
        };
        let Some(id) = non_empty(c.event_id.as_deref()).or(non_empty(event.id.as_deref())) else {
            return Err(Failure::Invalid(
                "CloudTrail record without eventID or event id".into(),
            ));
        };
        let account = event
            .account
            .as_deref()
            .or(c.recipient_account_id.as_deref())
            .unwrap_or("unknown");
        let key = claims::key(FUNCTION, &[account, "api_call", id]);
        let error_code = non_empty(c.error_code.as_deref());
        let at = emf_timestamp(c.event_time.or(event.time), now);
        let mut lines =
            records::api_call_counter(&self.config.common.metrics_namespace, at, name, error_code);
        if let Some(reason) = audit_reason(name, error_code) {
            let mut params = c.request_parameters.clone().unwrap_or(Value::Null);
            redact_json(&mut params);
            lines.push(report::render(
                Kind::ApiAudit,
                json!({
                    "event_name": name,
                    "event_source": c.event_source,
                    "event_time": c.event_time,
                    "error_code": error_code,
                    "error_message": redacted(non_empty(c.error_message.as_deref())),
                    "user_arn": c.user_identity.arn,
                    "user_type": c.user_identity.kind,
                    "source_ip": c.source_ip_address,
                    "user_agent": c.user_agent,
                    "request_parameters": params,
                    "account": account,
                    "region": c.aws_region.as_deref().or(event.region.as_deref()),
                    "audit_reason": reason,
                    "event_id": id,
                }),
            ));
        }
        let detail = format!("{name} {}", error_code.unwrap_or("ok"));
        self.count_once(key, event, lines, now, attempt, detail)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destructive_security_relevant_and_denied_calls() {
        for (name, code, want) in [
            ("StopTrainingJob", None, Some("destructive")),
            ("DeleteEndpoint", None, Some("destructive")),
            ("UpdateDomain", None, Some("configuration change")),
            ("CreatePresignedDomainUrl", None, Some("console access")),
            ("AddTags", None, Some("tag change")),
            ("CreateTrainingJob", None, None),
            (
                "CreateTrainingJob",
                Some("AccessDenied"),
                Some("access denied"),
            ),
            (
                "CreateTrainingJob",
                Some("AccessDeniedException"),
                Some("access denied"),
            ),
            ("CreateTrainingJob", Some("ValidationException"), None),
            ("DescribeTrainingJob", None, None),
        ] {
            assert_eq!(audit_reason(name, code), want, "{name} {code:?}");
        }
    }
}
