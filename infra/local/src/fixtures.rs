//! Resources several functions' tests need, created the one way: the de-duplication table
//! (the template's schema) and an SNS topic with an SQS subscriber that receives what a
//! function publishes.

use crate::{unique_name, ACCOUNT_ID, REGION};
use aws_config::SdkConfig;
use aws_sdk_dynamodb as ddb;
use aws_sdk_sns as sns;
use aws_sdk_sqs as sqs;
use serde_json::Value;
use std::collections::BTreeMap;

/// A table like infra/template.yaml's: the claim store's partition key
/// ([`sagewatch::claims::schema::KEY`], S), on demand. Panics on failure (test setup).
pub async fn create_dedupe_table(config: &SdkConfig, table: &str) {
    use ddb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    ddb::Client::new(config)
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(sagewatch::claims::schema::KEY)
                .key_type(KeyType::Hash)
                .build()
                .expect("key schema"),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(sagewatch::claims::schema::KEY)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute"),
        )
        .send()
        .await
        .expect("CreateTable");
}

/// A new SQS queue (a rule's or a topic's target) and what arrives on it.
pub struct Queue {
    pub url: String,
    pub arn: String,
    sqs: sqs::Client,
}

impl Queue {
    pub async fn new(config: &SdkConfig, prefix: &str) -> Queue {
        let sqs = sqs::Client::new(config);
        let url = sqs
            .create_queue()
            .queue_name(unique_name(prefix))
            .send()
            .await
            .expect("CreateQueue")
            .queue_url()
            .expect("queue url")
            .to_owned();
        let name = url.rsplit('/').next().unwrap_or_default();
        let arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}");
        Queue { url, arn, sqs }
    }

    /// Everything delivered so far (received and deleted). Bodies that are not JSON panic.
    pub async fn drain(&self) -> Vec<Received> {
        let mut out = Vec::new();
        loop {
            let r = self
                .sqs
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .send()
                .await
                .expect("ReceiveMessage");
            if r.messages().is_empty() {
                return out;
            }
            for m in r.messages() {
                let attributes = m
                    .message_attributes()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| {
                                (k.clone(), v.string_value().unwrap_or_default().to_owned())
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let body = serde_json::from_str(m.body().unwrap_or("null")).expect("JSON body");
                out.push(Received { body, attributes });
                if let Some(handle) = m.receipt_handle() {
                    self.sqs
                        .delete_message()
                        .queue_url(&self.url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .expect("DeleteMessage");
                }
            }
        }
    }
}

/// A new SNS topic with an SQS queue subscribed (raw delivery: the queue receives the
/// `sqs` entry of a `MessageStructure=json` message, and the message attributes).
pub struct Inbox {
    pub topic_arn: String,
    pub queue_url: String,
    queue: Queue,
}

/// One received message: its body parsed as JSON, and its string message attributes.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: Value,
    pub attributes: BTreeMap<String, String>,
}

impl Inbox {
    pub async fn new(config: &SdkConfig, prefix: &str) -> Inbox {
        let sns = sns::Client::new(config);
        let topic_arn = sns
            .create_topic()
            .name(unique_name(prefix))
            .send()
            .await
            .expect("CreateTopic")
            .topic_arn()
            .expect("topic arn")
            .to_owned();
        let queue = Queue::new(config, &format!("{prefix}-q")).await;
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(&queue.arn)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .expect("Subscribe");
        Inbox {
            topic_arn,
            queue_url: queue.url.clone(),
            queue,
        }
    }

    /// Everything delivered so far (received and deleted). Bodies that are not JSON panic.
    pub async fn drain(&self) -> Vec<Received> {
        self.queue.drain().await
    }
}
