//! SNS adapter for the [`Notifier`] port.

use crate::error::{classify, AwsError};
use crate::notify::{Notification, Notifier};
use aws_sdk_sns::types::MessageAttributeValue;

#[derive(Debug, Clone)]
pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsNotifier {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        SnsNotifier {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

impl Notifier for SnsNotifier {
    async fn publish(&self, n: &Notification) -> Result<(), AwsError> {
        let mut req = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(&n.subject)
            .message_structure("json")
            .message(n.sns_message());
        for (k, v) in &n.attributes {
            let attr = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
                .map_err(|e| AwsError {
                    operation: "Publish",
                    code: "InvalidAttribute".into(),
                    message: e.to_string(),
                    status: None,
                    retry: crate::error::Retry::Permanent,
                })?;
            req = req.message_attributes(k, attr);
        }
        req.send()
            .await
            .map(|_| ())
            .map_err(|e| classify("Publish", &e))
    }
}
