//! Notifications: a short human text plus a machine-readable JSON report, published to SNS
//! with `MessageStructure=json` so e-mail subscribers get the text and queues, Lambda and
//! HTTPS subscribers get the JSON. Message attributes let teams filter subscriptions.

use crate::chat::ChatMessage;
use crate::emf::{MetricRecord, Unit};
use crate::error::AwsError;
use crate::output::Sink;
use chrono::Utc;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;

/// SNS subjects: ASCII, no control characters, fewer than 100 characters.
pub const MAX_SUBJECT_CHARS: usize = 99;

/// SNS rejects a message above 256 KiB (message, subject and attributes together; a
/// permanent error). We keep the message under this, leaving room for the rest.
pub const MAX_MESSAGE_BYTES: usize = 240 * 1024;

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
    /// The report appears once per protocol; when that would exceed [`MAX_MESSAGE_BYTES`], the
    /// largest fields of the report are left out (named in `truncated_fields`) until it fits,
    /// so an oversized report is still delivered instead of failing on every retry.
    pub fn sns_message(&self) -> String {
        let mut report = self.report.clone();
        let mut dropped: Vec<String> = Vec::new();
        loop {
            let message = self.message_with(&report);
            if message.len() <= MAX_MESSAGE_BYTES {
                return message;
            }
            let Value::Object(map) = &mut report else {
                report = json!({"truncated": true});
                continue;
            };
            let largest = map
                .iter()
                .filter(|(k, _)| k.as_str() != "truncated_fields")
                .max_by_key(|(_, v)| v.to_string().len())
                .map(|(k, _)| k.clone());
            let Some(key) = largest else {
                // Nothing left to drop: only the text is too long.
                return json!({"default": crate::classify::truncate(&self.text, 4096)}).to_string();
            };
            map.remove(&key);
            dropped.push(key);
            map.insert("truncated_fields".into(), json!(dropped));
        }
    }

    fn message_with(&self, report: &Value) -> String {
        let report = report.to_string();
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

impl Notification {
    /// A notice for the chat topic: the AWS chat integration subscribes over HTTPS and shows
    /// the message only when it is a custom notification ([`crate::chat`]), so that JSON is
    /// what every protocol gets (`default` and e-mail as its text).
    pub fn chat(subject: &str, message: &ChatMessage) -> Self {
        let json = message.to_json();
        Notification::new(subject, json.to_string(), json)
    }
}

/// Publishes to the optional chat topic, best effort, after the main notice went out: a
/// failure is logged and counted (`ChatNoticeFailures` by [Function]) and never fails the
/// invocation, since a retry would repeat the main notice. `true` when it was published.
pub async fn publish_chat<N: Notifier, S: Sink>(
    chat: Option<&N>,
    note: &Notification,
    sink: &S,
    namespace: &str,
    function: &str,
) -> bool {
    let Some(chat) = chat else {
        return false;
    };
    match chat.publish(note).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(function, error = %e, "chat notice not sent (the main notice was)");
            let mut m = MetricRecord::new(namespace, Utc::now());
            m.dimension("Function", function)
                .dimension_set(&["Function"])
                .metric("ChatNoticeFailures", 1.0, Unit::Count);
            sink.write(m.render_logged());
            false
        }
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

/// Port: where notifications go. The SNS adapter is `sagewatch_aws::sns::SnsNotifier`.
pub trait Notifier: Send + Sync {
    fn publish(
        &self,
        notification: &Notification,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

impl<T: Notifier> Notifier for &T {
    fn publish(
        &self,
        notification: &Notification,
    ) -> impl Future<Output = Result<(), AwsError>> + Send {
        (**self).publish(notification)
    }
}

/// Keeps what was published (handler tests, local tools). Queued errors fail the next
/// publishes, in order, and publish nothing.
#[derive(Debug, Default)]
pub struct MemoryNotifier {
    sent: Mutex<Vec<Notification>>,
    failures: Mutex<Vec<AwsError>>,
}

impl MemoryNotifier {
    pub fn sent(&self) -> Vec<Notification> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn fail_next(&self, error: AwsError) {
        if let Ok(mut f) = self.failures.lock() {
            f.push(error);
        }
    }
}

impl Notifier for MemoryNotifier {
    async fn publish(&self, notification: &Notification) -> Result<(), AwsError> {
        if let Ok(mut f) = self.failures.lock() {
            if !f.is_empty() {
                return Err(f.remove(0));
            }
        }
        if let Ok(mut s) = self.sent.lock() {
            s.push(notification.clone());
        }
        Ok(())
    }
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

    #[test]
    fn a_chat_notice_is_the_custom_notification_for_every_protocol() {
        let n = Notification::chat("s", &ChatMessage::new("title", "why"));
        let m: Value = serde_json::from_str(&n.sns_message()).unwrap();
        for protocol in ["default", "https", "sqs"] {
            let doc: Value = serde_json::from_str(m[protocol].as_str().unwrap()).unwrap();
            crate::chat::check(&doc).unwrap_or_else(|e| panic!("{protocol}: {e}"));
        }
    }

    #[tokio::test]
    async fn a_failed_chat_notice_is_counted_not_raised() {
        let chat = MemoryNotifier::default();
        chat.fail_next(AwsError::new(
            "Publish",
            crate::error::ErrorKind::Throttled,
            "Throttling",
            "slow down",
        ));
        let sink = crate::output::MemorySink::default();
        let note = Notification::chat("s", &ChatMessage::new("t", "d"));
        let sent = publish_chat(Some(&chat), &note, &sink, "ns", "f").await;
        assert!(!sent);
        assert_eq!(sink.json()[0]["ChatNoticeFailures"], json!(1.0));
        assert!(publish_chat(Some(&chat), &note, &sink, "ns", "f").await);
        assert_eq!(chat.sent().len(), 1);
        let none: Option<&MemoryNotifier> = None;
        assert!(!publish_chat(none, &note, &sink, "ns", "f").await);
    }

    #[test]
    fn oversized_reports_lose_their_largest_fields_not_the_message() {
        let big = "x".repeat(100 * 1024);
        let n = Notification::new(
            "s",
            "hello",
            json!({"category": "oom", "hyperparameters": {"a": big}, "evidence": ["e"]}),
        );
        let m = n.sns_message();
        assert!(m.len() <= MAX_MESSAGE_BYTES, "{}", m.len());
        let m: Value = serde_json::from_str(&m).unwrap();
        let sqs: Value = serde_json::from_str(m["sqs"].as_str().unwrap()).unwrap();
        assert_eq!(sqs["category"], "oom");
        assert_eq!(sqs["evidence"][0], "e");
        assert_eq!(sqs["truncated_fields"], json!(["hyperparameters"]));
        let small = Notification::new("s", "t", json!({"a": 1})).sns_message();
        assert!(!small.contains("truncated"));
    }
}
