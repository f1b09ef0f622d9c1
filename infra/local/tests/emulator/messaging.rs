use aws_sdk_sns as sns;
use aws_sdk_sqs as sqs;
use aws_sdk_sqs::types::QueueAttributeName;
use sagewatch_emulator::{unique_name, Emulator};
use serde_json::Value;

async fn queue(client: &sqs::Client, name: &str) -> (String, String) {
    let url = client
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("CreateQueue")
        .queue_url()
        .expect("QueueUrl")
        .to_owned();
    let attrs = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("GetQueueAttributes");
    let arn = attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .expect("QueueArn")
        .clone();
    (url, arn)
}

async fn receive_one(client: &sqs::Client, url: &str) -> sqs::types::Message {
    let out = client
        .receive_message()
        .queue_url(url)
        .message_attribute_names("All")
        .wait_time_seconds(2)
        .send()
        .await
        .expect("ReceiveMessage");
    let [message] = out.messages() else {
        panic!("exactly one message expected: {:?}", out.messages());
    };
    message.clone()
}

#[tokio::test]
async fn sns_publish_reaches_sqs_envelope_and_raw() {
    let config = Emulator::shared().await.sdk_config().await;
    let (sns, sqs) = (sns::Client::new(&config), sqs::Client::new(&config));
    let topic = sns
        .create_topic()
        .name(unique_name("alerts"))
        .send()
        .await
        .expect("CreateTopic")
        .topic_arn()
        .expect("TopicArn")
        .to_owned();
    let (envelope_url, envelope_arn) = queue(&sqs, &unique_name("q-envelope")).await;
    let (raw_url, raw_arn) = queue(&sqs, &unique_name("q-raw")).await;
    for (arn, raw) in [(&envelope_arn, "false"), (&raw_arn, "true")] {
        sns.subscribe()
            .topic_arn(&topic)
            .protocol("sqs")
            .endpoint(arn)
            .attributes("RawMessageDelivery", raw)
            .send()
            .await
            .expect("Subscribe");
    }

    let message = serde_json::json!({"default": "plain text", "sqs": "{\"job\":\"j-1\"}"});
    sns.publish()
        .topic_arn(&topic)
        .subject("sagewatch alert")
        .message_structure("json")
        .message(message.to_string())
        .message_attributes(
            "severity",
            sns::types::MessageAttributeValue::builder()
                .data_type("String")
                .string_value("critical")
                .build()
                .expect("MessageAttributeValue"),
        )
        .send()
        .await
        .expect("Publish");

    // RawMessageDelivery=false: the SNS JSON envelope, attributes inside it.
    let m = receive_one(&sqs, &envelope_url).await;
    let envelope: Value = serde_json::from_str(m.body().expect("body")).expect("envelope JSON");
    assert_eq!(envelope["Type"], "Notification");
    assert_eq!(envelope["TopicArn"], topic.as_str());
    assert_eq!(envelope["Subject"], "sagewatch alert");
    assert_eq!(envelope["Message"], "{\"job\":\"j-1\"}");
    assert_eq!(
        envelope["MessageAttributes"]["severity"]["Value"],
        "critical"
    );

    // RawMessageDelivery=true: just the message, attributes as SQS attributes.
    let m = receive_one(&sqs, &raw_url).await;
    assert_eq!(m.body(), Some("{\"job\":\"j-1\"}"));
    let severity = m
        .message_attributes()
        .and_then(|a| a.get("severity"))
        .expect("severity attribute");
    assert_eq!(severity.string_value(), Some("critical"));
    assert_eq!(severity.data_type(), "String");
}

/// The extension makes SetAlarmState invoke SNS actions, as AWS does on a state change.
#[tokio::test]
async fn set_alarm_state_notifies_the_alarm_topic() {
    use aws_sdk_cloudwatch as cw;
    use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};

    let config = Emulator::shared().await.sdk_config().await;
    let (sns, sqs, cw) = (
        sns::Client::new(&config),
        sqs::Client::new(&config),
        cw::Client::new(&config),
    );
    let topic = sns
        .create_topic()
        .name(unique_name("alarm-topic"))
        .send()
        .await
        .expect("CreateTopic")
        .topic_arn()
        .expect("TopicArn")
        .to_owned();
    let (url, arn) = queue(&sqs, &unique_name("q-alarm")).await;
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .expect("Subscribe");
    let alarm = unique_name("gpu-idle");
    cw.put_metric_alarm()
        .alarm_name(&alarm)
        .namespace("/aws/sagemaker/TrainingJobs")
        .metric_name("GPUUtilization")
        .statistic(Statistic::Average)
        .period(300)
        .evaluation_periods(1)
        .threshold(5.0)
        .comparison_operator(ComparisonOperator::LessThanThreshold)
        .alarm_actions(&topic)
        .send()
        .await
        .expect("PutMetricAlarm");
    cw.set_alarm_state()
        .alarm_name(&alarm)
        .state_value(StateValue::Alarm)
        .state_reason("GPU idle for 5 minutes")
        .send()
        .await
        .expect("SetAlarmState");

    let m = receive_one(&sqs, &url).await;
    let note: Value = serde_json::from_str(m.body().expect("body")).expect("alarm JSON");
    assert_eq!(note["AlarmName"], alarm.as_str());
    assert_eq!(note["NewStateValue"], "ALARM");
    assert_eq!(note["OldStateValue"], "INSUFFICIENT_DATA");
    assert_eq!(note["NewStateReason"], "GPU idle for 5 minutes");
    assert_eq!(note["Trigger"]["MetricName"], "GPUUtilization");
    assert_eq!(note["Trigger"]["Threshold"], 5.0);
}
