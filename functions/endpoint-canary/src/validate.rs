//! Does an answer meet the check's expectation? Pure: the body bytes and the latency in, the
//! first unmet condition out. The detail never quotes the body (it may hold personal data).

use crate::check::Expect;
use crate::kind::FailureKind;
use serde_json::Value;

/// `None` = passed; otherwise the kind and a detail that names the condition, not the data.
pub fn judge(expect: &Expect, body: &[u8], latency_ms: u64) -> Option<(FailureKind, String)> {
    if let Some(pointer) = &expect.json_pointer {
        let doc: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => {
                return Some((
                    FailureKind::ExpectationFailed,
                    format!(
                        "response is not JSON ({} bytes); json_pointer {pointer} cannot apply",
                        body.len()
                    ),
                ))
            }
        };
        match (doc.pointer(pointer), &expect.equals) {
            (None, _) => {
                return Some((
                    FailureKind::ExpectationFailed,
                    format!("json_pointer {pointer} not in the response"),
                ))
            }
            (Some(found), Some(want)) if found != want => {
                return Some((
                    FailureKind::ExpectationFailed,
                    format!(
                        "json_pointer {pointer} is not the expected value (a {})",
                        type_name(found)
                    ),
                ))
            }
            _ => {}
        }
    }
    if let Some(re) = &expect.body_regex {
        if !re.is_match(&String::from_utf8_lossy(body)) {
            return Some((
                FailureKind::ExpectationFailed,
                format!("body_regex {:?} does not match the response", re.as_str()),
            ));
        }
    }
    if let Some(budget) = expect.latency_budget_ms {
        if latency_ms > budget {
            return Some((
                FailureKind::LatencyBudgetExceeded,
                format!("{latency_ms} ms, budget {budget} ms"),
            ));
        }
    }
    None
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;
    use serde_json::json;

    fn expect(
        pointer: Option<&str>,
        equals: Option<Value>,
        re: Option<&str>,
        budget: Option<u64>,
    ) -> Expect {
        Expect {
            json_pointer: pointer.map(str::to_owned),
            equals,
            body_regex: re.map(|r| Regex::new(r).unwrap()),
            latency_budget_ms: budget,
        }
    }

    #[test]
    fn each_condition_can_fail_and_pass() {
        let body = br#"{"predictions":[{"label":"cat","score":0.9}]}"#;
        let ok = expect(
            Some("/predictions/0/label"),
            Some(json!("cat")),
            Some("score"),
            Some(100),
        );
        assert_eq!(judge(&ok, body, 50), None);
        let wrong = expect(Some("/predictions/0/label"), Some(json!("dog")), None, None);
        let (k, d) = judge(&wrong, body, 50).unwrap();
        assert_eq!(k, FailureKind::ExpectationFailed);
        assert!(!d.contains("cat"), "the detail never quotes the body: {d}");
        let missing = expect(Some("/nothing"), None, None, None);
        assert_eq!(
            judge(&missing, body, 1).unwrap().0,
            FailureKind::ExpectationFailed
        );
        let not_json = expect(Some("/a"), None, None, None);
        assert_eq!(
            judge(&not_json, b"plain", 1).unwrap().0,
            FailureKind::ExpectationFailed
        );
        let re = expect(None, None, Some("^dog"), None);
        assert_eq!(
            judge(&re, body, 1).unwrap().0,
            FailureKind::ExpectationFailed
        );
        let slow = expect(None, None, None, Some(100));
        assert_eq!(
            judge(&slow, body, 101).unwrap().0,
            FailureKind::LatencyBudgetExceeded
        );
        assert_eq!(judge(&slow, body, 100), None);
    }
}
