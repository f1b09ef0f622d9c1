//! AWS chat integration (AWS Chatbot, now Amazon Q Developer in chat applications) "custom
//! notifications": the JSON an SNS message must be for Slack / Teams channels to show it.
//! A plain text or other JSON message is not rendered by the integration.
//!
//! Shape: `{"version": "1.0", "source": "custom", "content": {"textType": "client-markdown",
//! "title", "description", "nextSteps": [..], "keywords": [..]}, "metadata": {"threadId",
//! "summary", "eventType", "relatedResources": [..], "additionalContext": {..}}}`. Every
//! function's notices (failure reports, stop notices, digests) are rendered here so they look
//! and thread alike.

use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Content {
    pub text_type: &'static str,
    pub title: String,
    pub description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub next_steps: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// Notices with the same thread id are threaded together (one job's, one endpoint's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub related_resources: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub additional_context: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatMessage {
    pub version: &'static str,
    pub source: &'static str,
    pub content: Content,
    pub metadata: Metadata,
}

/// Our own bound on a description: chat clients fold long messages, and a failure's details
/// are in the report (SNS JSON, the log line); the chat notice is the headline and the why.
pub const MAX_DESCRIPTION_BYTES: usize = 4000;
/// At most this many next steps and keywords are kept.
pub const MAX_ITEMS: usize = 5;

impl ChatMessage {
    pub fn new(title: &str, description: &str) -> Self {
        ChatMessage {
            version: "1.0",
            source: "custom",
            content: Content {
                text_type: "client-markdown",
                title: crate::redact::bounded(title, 250),
                description: crate::redact::bounded(description, MAX_DESCRIPTION_BYTES),
                ..Content::default()
            },
            metadata: Metadata::default(),
        }
    }

    pub fn next_step(mut self, step: impl Into<String>) -> Self {
        if self.content.next_steps.len() < MAX_ITEMS {
            self.content.next_steps.push(step.into());
        }
        self
    }

    pub fn keyword(mut self, keyword: impl Into<String>) -> Self {
        let k = keyword.into();
        if !k.is_empty()
            && self.content.keywords.len() < MAX_ITEMS
            && !self.content.keywords.contains(&k)
        {
            self.content.keywords.push(k);
        }
        self
    }

    pub fn thread(mut self, id: impl Into<String>) -> Self {
        self.metadata.thread_id = Some(id.into());
        self
    }

    pub fn summary(mut self, s: impl Into<String>) -> Self {
        self.metadata.summary = Some(s.into());
        self
    }

    pub fn event_type(mut self, s: impl Into<String>) -> Self {
        self.metadata.event_type = Some(s.into());
        self
    }

    pub fn resource(mut self, arn: impl Into<String>) -> Self {
        self.metadata.related_resources.push(arn.into());
        self
    }

    pub fn context(mut self, key: &str, value: impl Into<String>) -> Self {
        self.metadata
            .additional_context
            .insert(key.to_owned(), value.into());
        self
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// Field-by-field check of a rendered message against the custom-notification shape: what
/// the tests of every notice kind run.
pub fn check(doc: &serde_json::Value) -> Result<(), String> {
    use serde_json::Value;
    let obj = doc.as_object().ok_or("not an object")?;
    let allowed = ["version", "source", "id", "content", "metadata"];
    if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!("unknown top-level field {k}"));
    }
    if doc["version"] != "1.0" {
        return Err("version must be \"1.0\"".into());
    }
    if doc["source"] != "custom" {
        return Err("source must be \"custom\"".into());
    }
    let c = doc["content"].as_object().ok_or("content missing")?;
    let content_fields = ["textType", "title", "description", "nextSteps", "keywords"];
    if let Some(k) = c.keys().find(|k| !content_fields.contains(&k.as_str())) {
        return Err(format!("unknown content field {k}"));
    }
    if c.get("textType").is_some_and(|t| t != "client-markdown") {
        return Err("content.textType must be client-markdown".into());
    }
    for k in ["title", "description"] {
        match c.get(k).and_then(Value::as_str) {
            Some(s) if !s.trim().is_empty() => {}
            _ => return Err(format!("content.{k} must be a non-empty string")),
        }
    }
    for k in ["nextSteps", "keywords"] {
        if let Some(v) = c.get(k) {
            let items = v
                .as_array()
                .ok_or(format!("content.{k} must be an array"))?;
            if !items.iter().all(Value::is_string) {
                return Err(format!("content.{k} must hold strings"));
            }
        }
    }
    if let Some(m) = doc.get("metadata") {
        let m = m.as_object().ok_or("metadata must be an object")?;
        let meta_fields = [
            "threadId",
            "summary",
            "eventType",
            "relatedResources",
            "additionalContext",
        ];
        if let Some(k) = m.keys().find(|k| !meta_fields.contains(&k.as_str())) {
            return Err(format!("unknown metadata field {k}"));
        }
        for k in ["threadId", "summary", "eventType"] {
            if m.get(k).is_some_and(|v| !v.is_string()) {
                return Err(format!("metadata.{k} must be a string"));
            }
        }
        if let Some(r) = m.get("relatedResources") {
            if !r.as_array().is_some_and(|a| a.iter().all(Value::is_string)) {
                return Err("metadata.relatedResources must be strings".into());
            }
        }
        if let Some(a) = m.get("additionalContext") {
            if !a
                .as_object()
                .is_some_and(|o| o.values().all(Value::is_string))
            {
                return Err("metadata.additionalContext must map strings to strings".into());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_message_has_the_custom_notification_shape() {
        let m = ChatMessage::new(
            "train-42 failed: out_of_memory",
            "**Why:** CUDA out of memory",
        )
        .next_step("Lower the batch size")
        .keyword("out_of_memory")
        .keyword("out_of_memory")
        .thread("training/train-42")
        .summary("train-42 failed")
        .event_type("job_failure")
        .resource("arn:aws:sagemaker:us-east-1:123456789012:training-job/train-42")
        .context("account", "123456789012")
        .to_json();
        check(&m).unwrap();
        assert_eq!(m["version"], "1.0");
        assert_eq!(m["source"], "custom");
        assert_eq!(m["content"]["textType"], "client-markdown");
        assert_eq!(m["content"]["keywords"], json!(["out_of_memory"]));
        assert_eq!(m["metadata"]["threadId"], "training/train-42");
        assert_eq!(
            m["metadata"]["additionalContext"]["account"],
            "123456789012"
        );
    }

    #[test]
    fn check_refuses_what_the_integration_would_not_render() {
        let good = ChatMessage::new("t", "d").keyword("k").to_json();
        for (field, bad) in [
            ("/version", json!("2")),
            ("/source", json!("aws.sagemaker")),
            ("/content/title", json!("")),
            ("/content/textType", json!("html")),
            ("/content/keywords", json!([1])),
        ] {
            let mut doc = good.clone();
            *doc.pointer_mut(field).unwrap() = bad;
            assert!(check(&doc).is_err(), "{field}");
        }
        let mut extra = good.clone();
        extra["content"]["body"] = json!("x");
        assert!(check(&extra).is_err());
        let long = ChatMessage::new("t", &"x".repeat(10_000)).to_json();
        assert!(long["content"]["description"].as_str().unwrap().len() <= MAX_DESCRIPTION_BYTES);
    }
}
