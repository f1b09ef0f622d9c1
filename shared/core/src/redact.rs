//! Redaction: nothing secret leaves a function in a log line, notification or metric property.
//!
//! One table of (what, pattern, replacement), compiled once. Patterns keep the *name* of what
//! was removed (`password=[REDACTED]`) so a reader still sees what the line was about.

use regex::Regex;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::LazyLock;

pub const REDACTED: &str = "[REDACTED]";

/// (label, pattern, replacement). Order matters: specific shapes before the generic `key=value`.
const RULES: &[(&str, &str, &str)] = &[
    // Presigned S3 URLs: signature, credential scope and session token.
    (
        "presigned-url",
        r"(?i)\b(X-Amz-(?:Signature|Credential|Security-Token))=([^&\s\x22'<>]+)",
        "${1}=[REDACTED]",
    ),
    // HTTP authorization headers, also as quoted dict/JSON entries
    // (`'Authorization': 'Bearer …'`, `"Authorization": "Basic …"`).
    (
        "authorization",
        r#"(?i)\b(Authorization['"]?\s*[:=]\s*['"]?\s*(?:Bearer|Basic|Token|AWS4-HMAC-SHA256)?\s*)([^\s"',;]+(?:\s*,\s*[A-Za-z]+=[^\s"',;]+)*)"#,
        "${1}[REDACTED]",
    ),
    // A bearer token anywhere else (`headers = … Bearer eyJ…`).
    (
        "bearer-token",
        r"\b(Bearer\s+)([A-Za-z0-9._~+/=-]{8,})",
        "${1}[REDACTED]",
    ),
    // AWS access key ids (long-term AKIA…, temporary ASIA…).
    (
        "aws-access-key-id",
        r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b",
        "[REDACTED:access-key-id]",
    ),
    // `secret=…`, `password: …`, `"api_key": "…"`, `aws_secret_access_key = …`, and the
    // quoted forms Python prints: `Namespace(hf_token='…')`, `{'password': '…'}`,
    // `export WANDB_API_KEY='…'`.
    (
        "secret-assignment",
        r#"(?i)([\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential)s?[\w.-]*)(['"]?\s*[=:]\s*['"]?)([^\s"'&,;})]+)"#,
        "${1}${2}[REDACTED]",
    ),
];

static COMPILED: LazyLock<Vec<(&'static str, Regex, &'static str)>> = LazyLock::new(|| {
    RULES
        .iter()
        .filter_map(|(label, pattern, replacement)| match Regex::new(pattern) {
            Ok(re) => Some((*label, re, *replacement)),
            Err(e) => {
                // A broken pattern is a bug caught by the unit tests; never panic at run time.
                tracing::error!(rule = label, error = %e, "redaction pattern does not compile");
                None
            }
        })
        .collect()
});

/// Names that mark a hyperparameter or environment variable as secret.
static SECRET_NAME: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?i)(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential|auth)").ok()
});

/// Redacts every secret shape in free text (log lines, failure reasons, request parameters).
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    for (_, re, replacement) in COMPILED.iter() {
        if re.is_match(&out) {
            out = Cow::Owned(re.replace_all(&out, *replacement).into_owned());
        }
    }
    out
}

pub fn is_secret_name(name: &str) -> bool {
    SECRET_NAME.as_ref().is_some_and(|re| re.is_match(name))
}

/// Hyperparameters / environment: values of secret-looking names are replaced, the others are
/// still scanned for secret shapes.
pub fn redact_map(map: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    map.iter()
        .map(|(k, v)| {
            let value = if is_secret_name(k) {
                REDACTED.to_owned()
            } else {
                redact(v).into_owned()
            };
            (k.clone(), value)
        })
        .collect()
}

/// Redacts every string inside a JSON value (CloudTrail request parameters); values under
/// secret-looking keys are replaced whole.
pub fn redact_json(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) => {
            if let Cow::Owned(r) = redact(s) {
                *s = r;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if is_secret_name(k) && !v.is_object() && !v.is_array() && !v.is_null() {
                    *v = Value::from(REDACTED);
                } else {
                    redact_json(v);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_rule_compiles() {
        assert_eq!(COMPILED.len(), RULES.len());
        assert!(SECRET_NAME.is_some());
    }

    #[test]
    fn secrets_in_log_lines() {
        let cases = [
            ("key AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE"),
            ("temp ASIAY34FZKBOKMUTVV7A here", "ASIAY34FZKBOKMUTVV7A"),
            ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"),
            ("connecting with password=hunter2&user=bob", "hunter2"),
            ("db_password: s3cr3t!", "s3cr3t!"),
            ("{\"api_key\": \"abc123def\"}", "abc123def"),
            ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", "eyJhbGci"),
            ("HF_TOKEN=hf_abcdefghijklmnop", "hf_abcdefghijklmnop"),
            ("Namespace(epochs=3, hf_token='hf_quotedsecret1')", "hf_quotedsecret1"),
            ("{'password': 'quoted-pw-1', 'user': 'bob'}", "quoted-pw-1"),
            ("export WANDB_API_KEY='wandb-quoted-2'", "wandb-quoted-2"),
            (r#"{"Authorization": "Bearer eyJquotedjson.e30.sig"}"#, "eyJquotedjson"),
            ("headers={'Authorization': 'Bearer eyJdictform.e30.sig'}", "eyJdictform"),
            ("requests.get(url, headers=h) # Bearer abcdefghijklmnopq", "abcdefghijklmnopq"),
            (
                "GET https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20240101%2Fus-east-1&X-Amz-Signature=deadbeef00&X-Amz-Security-Token=FwoGZXIvYXdz",
                "deadbeef00",
            ),
        ];
        for (line, secret) in cases {
            let out = redact(line);
            assert!(!out.contains(secret), "{line} -> {out}");
            assert!(out.contains("REDACTED"), "{out}");
        }
        let url = redact(
            "https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA%2Fx&X-Amz-Security-Token=tok",
        );
        assert!(!url.contains("tok") && !url.contains("AKIA%2Fx"), "{url}");
    }

    #[test]
    fn ordinary_lines_are_untouched() {
        for line in [
            "Epoch 3: train_loss=0.41 val_loss=0.52",
            "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB",
            "s3://my-bucket/data/train.csv not found",
        ] {
            assert!(matches!(redact(line), Cow::Borrowed(_)), "{line}");
        }
    }

    #[test]
    fn secret_hyperparameters_and_json() {
        let hp: BTreeMap<String, String> = [
            ("learning_rate", "0.1"),
            ("wandb_api_key", "k-123"),
            ("db_password", "pw"),
            ("note", "token=abc"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let r = redact_map(&hp);
        assert_eq!(r["learning_rate"], "0.1");
        assert_eq!(r["wandb_api_key"], REDACTED);
        assert_eq!(r["db_password"], REDACTED);
        assert_eq!(r["note"], "token=[REDACTED]");
        let mut v = json!({"hyperParameters": {"hf_token": "x", "epochs": "3"}, "url": "u?X-Amz-Signature=abc"});
        redact_json(&mut v);
        assert_eq!(v["hyperParameters"]["hf_token"], REDACTED);
        assert_eq!(v["hyperParameters"]["epochs"], "3");
        assert_eq!(v["url"], "u?X-Amz-Signature=[REDACTED]");
    }
}
