//! Notifications: a short human text plus a machine-readable JSON report, published to SNS
//! with `MessageStructure=json` so e-mail subscribers get the text and queues, Lambda and
//! HTTPS subscribers get the JSON. Message attributes let teams filter subscriptions.

use crate::error::AwsError;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::future::Future;

/// SNS subjects: ASCII, no control characters, fewer than 100 characters.
pub const MAX_SUBJECT_CHARS: usize = 99;

#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub subject: String,
    pub text: String,
    pub report: Value,
    /// Filterable attributes (`category`, `job_type`, `decision`, `account`, `region`, …).
    pub attributes: BTreeMap<String, String>,
}

impl Notification {
    pub fn new(subject: &str, text: impl Into<String>, report: Value) -> Self {
        Notification {
            subject: clean_subject(subject),
            text: text.into(),
            report,
            attributes: BTreeMap::new(),
        }
    }

    pub fn attribute(mut self, key: &str, value: impl Into<String>) -> Self {
        let value = value.into();
        if !value.is_empty() {
            self.attributes.insert(key.to_owned(), value);
        }
        self
    }

    /// The `Message` for `MessageStructure=json`: one entry per protocol, `default` required.
    pub fn sns_message(&self) -> String {
        let report = self.report.to_string();
        json!({
            "default": self.text,
            "email": self.text,
            "email-json": report,
            "sqs": report,
            "lambda": report,
            "http": report,
            "https": report,
        })
        .to_string()
    }
}

/// ASCII, single line, at most [`MAX_SUBJECT_CHARS`], starting with a letter, digit or punctuation.
pub fn clean_subject(raw: &str) -> String {
    let mut s: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                ' '
            }
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if s.is_empty() {
        s = "sagewatch notification".to_owned();
    }
    if s.len() > MAX_SUBJECT_CHARS {
        s.truncate(MAX_SUBJECT_CHARS - 3);
        s.push_str("...");
    }
    s
}

/// Port: where notifications go. The SNS adapter is [`crate::aws::sns::SnsNotifier`].
pub trait Notifier: Send + Sync {
    fn publish(
        &self,
        notification: &Notification,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_is_sns_safe() {
        let s = clean_subject(&format!(
            "train-42 failed:\n out_of_memory é {}",
            "x".repeat(200)
        ));
        assert!(s.len() <= MAX_SUBJECT_CHARS);
        assert!(s.chars().all(|c| c.is_ascii_graphic() || c == ' '));
        assert!(s.starts_with("train-42 failed: out_of_memory"));
        assert_eq!(clean_subject("\n\t"), "sagewatch notification");
    }

    #[test]
    fn message_has_text_for_people_and_json_for_machines() {
        let n = Notification::new("s", "hello", json!({"a": 1}))
            .attribute("category", "oom")
            .attribute("empty", "");
        let m: Value = serde_json::from_str(&n.sns_message()).unwrap();
        assert_eq!(m["default"], "hello");
        assert_eq!(m["email"], "hello");
        let sqs: Value = serde_json::from_str(m["sqs"].as_str().unwrap()).unwrap();
        assert_eq!(sqs["a"], 1);
        assert_eq!(n.attributes.len(), 1);
    }
}
