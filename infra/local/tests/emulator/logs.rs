use aws_sdk_cloudwatchlogs as logs;
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use sagewatch_emulator::{unique_name, Emulator};

async fn put(client: &logs::Client, group: &str, stream: &str, lines: usize) {
    client
        .create_log_stream()
        .log_group_name(group)
        .log_stream_name(stream)
        .send()
        .await
        .expect("CreateLogStream");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let mut req = client
        .put_log_events()
        .log_group_name(group)
        .log_stream_name(stream);
    for i in 0..lines {
        let event = InputLogEvent::builder()
            .timestamp(now - 10_000 + i as i64)
            .message(format!("{stream} line {i}"))
            .build()
            .expect("InputLogEvent");
        req = req.log_events(event);
    }
    req.send().await.expect("PutLogEvents");
}

#[tokio::test]
async fn log_streams_by_prefix_and_tail_of_a_stream() {
    let client = logs::Client::new(&Emulator::shared().await.sdk_config().await);
    let group = format!("/aws/sagemaker/TrainingJobs/{}", unique_name("logs"));
    client
        .create_log_group()
        .log_group_name(&group)
        .send()
        .await
        .expect("CreateLogGroup");
    put(&client, &group, "job/algo-1-123", 5).await;
    put(&client, &group, "job-2/algo-1-456", 3).await;

    let streams = client
        .describe_log_streams()
        .log_group_name(&group)
        .log_stream_name_prefix("job/")
        .send()
        .await
        .expect("DescribeLogStreams");
    let names: Vec<&str> = streams
        .log_streams()
        .iter()
        .filter_map(|s| s.log_stream_name())
        .collect();
    assert_eq!(names, vec!["job/algo-1-123"]);

    let tail = client
        .get_log_events()
        .log_group_name(&group)
        .log_stream_name("job/algo-1-123")
        .start_from_head(false)
        .limit(2)
        .send()
        .await
        .expect("GetLogEvents");
    let messages: Vec<&str> = tail.events().iter().filter_map(|e| e.message()).collect();
    assert_eq!(
        messages,
        vec!["job/algo-1-123 line 3", "job/algo-1-123 line 4"]
    );
    assert!(tail.next_backward_token().is_some());
}
