//! What a check is: the input format of the schedule (and of the check sets in the
//! configuration), parsed once into [`Check`]s with their payload bytes and compiled regex.
//! Every field is checked here, so the handler only meets valid checks.

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// InvokeEndpoint gives up after 60 s itself; a longer client timeout would only hide that.
pub const MAX_TIMEOUT_MS: u64 = 60_000;
/// One invocation runs at most this many checks (the Lambda timeout is sized for it).
pub const MAX_CHECKS: usize = 50;
/// InvokeEndpoint accepts at most 6 MB; a canary payload is far smaller.
pub const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;

/// One check as written in the schedule's input or a check set (field names in the README).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// Shown in logs, metrics properties and alerts; defaults to the endpoint (and variant).
    pub name: Option<String>,
    /// Required in a schedule; a check set's checks take the endpoint from the event.
    pub endpoint: Option<String>,
    pub variant: Option<String>,
    pub inference_component: Option<String>,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    /// The payload: exactly one of `body` (text), `body_json` (sent as JSON text) or
    /// `body_base64` (binary), or none for an empty body.
    pub body: Option<String>,
    pub body_json: Option<Value>,
    pub body_base64: Option<String>,
    #[serde(default)]
    pub expect: ExpectSpec,
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ExpectSpec {
    /// RFC 6901 pointer into the JSON response; alone it must exist, with `equals` it must
    /// equal that value.
    pub json_pointer: Option<String>,
    pub equals: Option<Value>,
    /// Must match somewhere in the response body (as UTF-8, lossy).
    pub body_regex: Option<String>,
    pub latency_budget_ms: Option<u64>,
}

/// The schedule's input: `{"checks": [...]}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    pub checks: Vec<CheckSpec>,
}

/// A validated check, ready to run.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub endpoint: String,
    pub variant: Option<String>,
    pub inference_component: Option<String>,
    pub content_type: String,
    pub accept: Option<String>,
    pub body: Vec<u8>,
    pub expect: Expect,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Expect {
    pub json_pointer: Option<String>,
    pub equals: Option<Value>,
    pub body_regex: Option<Regex>,
    pub latency_budget_ms: Option<u64>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CheckError {
    #[error("check {index}: no endpoint")]
    NoEndpoint { index: usize },
    #[error("check {index}: give at most one of body, body_json, body_base64")]
    TwoPayloads { index: usize },
    #[error("check {index}: body_base64 is not base64")]
    BadBase64 { index: usize },
    #[error("check {index}: payload over {MAX_PAYLOAD_BYTES} bytes")]
    PayloadTooLarge { index: usize },
    #[error("check {index}: json_pointer must be empty or start with '/'")]
    BadPointer { index: usize },
    #[error("check {index}: equals needs a json_pointer")]
    EqualsWithoutPointer { index: usize },
    #[error("check {index}: body_regex does not compile: {reason}")]
    BadRegex { index: usize, reason: String },
    #[error("check {index}: timeout_ms must be 1..={MAX_TIMEOUT_MS}")]
    BadTimeout { index: usize },
    #[error("no checks")]
    NoChecks,
    #[error("{count} checks, at most {MAX_CHECKS} per invocation")]
    TooMany { count: usize },
}

impl CheckSpec {
    /// A check set's template for one endpoint (and variant, unless it names its own).
    pub fn for_endpoint(&self, endpoint: &str, variant: Option<&str>) -> CheckSpec {
        let mut spec = self.clone();
        spec.endpoint = Some(endpoint.to_owned());
        if spec.variant.is_none() {
            spec.variant = variant.map(str::to_owned);
        }
        if let (Some(name), Some(v)) = (&self.name, variant) {
            if self.variant.is_none() {
                spec.name = Some(format!("{name}/{v}"));
            }
        }
        spec
    }

    pub fn validate(&self, index: usize, default_timeout_ms: u64) -> Result<Check, CheckError> {
        let endpoint = self
            .endpoint
            .clone()
            .filter(|e| !e.trim().is_empty())
            .ok_or(CheckError::NoEndpoint { index })?;
        let given = [
            self.body.is_some(),
            self.body_json.is_some(),
            self.body_base64.is_some(),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(CheckError::TwoPayloads { index });
        }
        let body = if let Some(text) = &self.body {
            text.clone().into_bytes()
        } else if let Some(json) = &self.body_json {
            json.to_string().into_bytes()
        } else if let Some(b64) = &self.body_base64 {
            aws_smithy_types::base64::decode(b64.trim())
                .map_err(|_| CheckError::BadBase64 { index })?
        } else {
            Vec::new()
        };
        if body.len() > MAX_PAYLOAD_BYTES {
            return Err(CheckError::PayloadTooLarge { index });
        }
        let e = &self.expect;
        if let Some(p) = &e.json_pointer {
            if !(p.is_empty() || p.starts_with('/')) {
                return Err(CheckError::BadPointer { index });
            }
        } else if e.equals.is_some() {
            return Err(CheckError::EqualsWithoutPointer { index });
        }
        let body_regex = match &e.body_regex {
            None => None,
            Some(r) => Some(
                regex::RegexBuilder::new(r)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|err| CheckError::BadRegex {
                        index,
                        reason: err.to_string(),
                    })?,
            ),
        };
        let timeout_ms = self.timeout_ms.unwrap_or(default_timeout_ms);
        if timeout_ms == 0 || timeout_ms > MAX_TIMEOUT_MS {
            return Err(CheckError::BadTimeout { index });
        }
        let content_type = self.content_type.clone().unwrap_or_else(|| {
            if self.body_json.is_some() {
                "application/json".to_owned()
            } else if self.body_base64.is_some() {
                "application/octet-stream".to_owned()
            } else {
                "text/plain".to_owned()
            }
        });
        let name = self.name.clone().unwrap_or_else(|| match &self.variant {
            Some(v) => format!("{endpoint}/{v}"),
            None => endpoint.clone(),
        });
        Ok(Check {
            name,
            endpoint,
            variant: self.variant.clone(),
            inference_component: self.inference_component.clone(),
            content_type,
            accept: self.accept.clone(),
            body,
            expect: Expect {
                json_pointer: e.json_pointer.clone(),
                equals: e.equals.clone(),
                body_regex,
                latency_budget_ms: e.latency_budget_ms,
            },
            timeout_ms,
        })
    }
}

/// Validates every spec; the first invalid one fails the whole list (a schedule's input is
/// one document: a typo in it must be seen, not half-run).
pub fn validate_all(
    specs: &[CheckSpec],
    default_timeout_ms: u64,
) -> Result<Vec<Check>, CheckError> {
    if specs.is_empty() {
        return Err(CheckError::NoChecks);
    }
    if specs.len() > MAX_CHECKS {
        return Err(CheckError::TooMany { count: specs.len() });
    }
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| s.validate(i, default_timeout_ms))
        .collect()
}

/// `SAGEWATCH_CANARY_CHECK_SETS`: `{"<set name>": [<check without endpoint>, ...], ...}`.
pub type CheckSets = BTreeMap<String, Vec<CheckSpec>>;

/// Parses and checks the sets at start-up (each template validated against a placeholder
/// endpoint), so a bad set fails the cold start instead of a deploy's smoke test.
pub fn parse_check_sets(text: &str, default_timeout_ms: u64) -> Result<CheckSets, String> {
    let sets: CheckSets = serde_json::from_str(text).map_err(|e| e.to_string())?;
    for (name, checks) in &sets {
        if checks.is_empty() {
            return Err(format!("check set {name:?} is empty"));
        }
        for (i, c) in checks.iter().enumerate() {
            c.for_endpoint("placeholder", None)
                .validate(i, default_timeout_ms)
                .map_err(|e| format!("check set {name:?}: {e}"))?;
        }
    }
    Ok(sets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: Value) -> CheckSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn payload_forms_and_defaults() {
        let c = spec(json!({"endpoint": "e", "body_json": {"a": 1}}))
            .validate(0, 5000)
            .unwrap();
        assert_eq!(c.body, br#"{"a":1}"#);
        assert_eq!(c.content_type, "application/json");
        assert_eq!(c.timeout_ms, 5000);
        assert_eq!(c.name, "e");
        let c = spec(json!({"endpoint": "e", "variant": "v", "body_base64": "AAEC"}))
            .validate(0, 5000)
            .unwrap();
        assert_eq!(c.body, vec![0, 1, 2]);
        assert_eq!(c.content_type, "application/octet-stream");
        assert_eq!(c.name, "e/v");
    }

    #[test]
    fn invalid_specs_are_named() {
        let cases = [
            (json!({"body": "x"}), CheckError::NoEndpoint { index: 3 }),
            (
                json!({"endpoint": "e", "body": "x", "body_json": 1}),
                CheckError::TwoPayloads { index: 3 },
            ),
            (
                json!({"endpoint": "e", "body_base64": "!!"}),
                CheckError::BadBase64 { index: 3 },
            ),
            (
                json!({"endpoint": "e", "expect": {"json_pointer": "a"}}),
                CheckError::BadPointer { index: 3 },
            ),
            (
                json!({"endpoint": "e", "expect": {"equals": 1}}),
                CheckError::EqualsWithoutPointer { index: 3 },
            ),
            (
                json!({"endpoint": "e", "timeout_ms": 0}),
                CheckError::BadTimeout { index: 3 },
            ),
            (
                json!({"endpoint": "e", "timeout_ms": 60001}),
                CheckError::BadTimeout { index: 3 },
            ),
        ];
        for (v, want) in cases {
            assert_eq!(spec(v.clone()).validate(3, 5000).unwrap_err(), want, "{v}");
        }
        let bad_regex = spec(json!({"endpoint": "e", "expect": {"body_regex": "("}}));
        assert!(matches!(
            bad_regex.validate(0, 5000),
            Err(CheckError::BadRegex { .. })
        ));
        assert_eq!(validate_all(&[], 5000).unwrap_err(), CheckError::NoChecks);
        let many = vec![spec(json!({"endpoint": "e"})); MAX_CHECKS + 1];
        assert!(matches!(
            validate_all(&many, 5000),
            Err(CheckError::TooMany { .. })
        ));
    }

    #[test]
    fn a_set_template_takes_the_endpoint_and_variant() {
        let t = spec(json!({"name": "ping", "body": "x"}));
        let c = t
            .for_endpoint("ep", Some("blue"))
            .validate(0, 1000)
            .unwrap();
        assert_eq!(
            (c.endpoint.as_str(), c.variant.as_deref()),
            ("ep", Some("blue"))
        );
        assert_eq!(c.name, "ping/blue");
        let pinned = spec(json!({"name": "ping", "variant": "green"}));
        let c = pinned
            .for_endpoint("ep", Some("blue"))
            .validate(0, 1000)
            .unwrap();
        assert_eq!(c.variant.as_deref(), Some("green"));
    }

    #[test]
    fn check_sets_are_checked_at_start_up() {
        assert!(parse_check_sets(r#"{"smoke": [{"body": "x"}]}"#, 1000).is_ok());
        assert!(parse_check_sets(r#"{"smoke": []}"#, 1000).is_err());
        assert!(parse_check_sets(r#"{"smoke": [{"bogus": 1}]}"#, 1000).is_err());
        assert!(parse_check_sets("not json", 1000).is_err());
    }
}
