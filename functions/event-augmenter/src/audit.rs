//! Which SageMaker API calls deserve an `api_audit` line: destructive or security-relevant
//! ones, and any call that was denied. One table; the first matching rule gives the reason.

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
