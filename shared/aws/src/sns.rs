//! SNS adapter for the [`Notifier`] port: `MessageStructure=json` (text for e-mail, the JSON
//! report for queues, Lambda and HTTPS) with filterable string attributes.

use crate::error::from_sdk;
use aws_sdk_sns::types::MessageAttributeValue;
use sagewatch::error::{AwsError, ErrorKind};
use sagewatch::notify::{Notification, Notifier};

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
                .map_err(|e| {
                    AwsError::new(
                        "Publish",
                        ErrorKind::Validation,
                        "InvalidAttribute",
                        e.to_string(),
                    )
                })?;
            req = req.message_attributes(k, attr);
        }
        req.send()
            .await
            .map(|_| ())
            .map_err(|e| from_sdk("Publish", &e))
    }
}
