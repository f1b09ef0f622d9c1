//! `make bench`: the failure-enricher handler on a worst-case job, against the local emulator
//! with the real SDK clients — wall time per invocation and the process's peak memory, to size
//! the Lambda (MemorySize, Timeout). The job has 16 hosts × 5 000 lines of ~230 bytes (18 MB
//! of logs), so every invocation reads the full budget (1 MiB, 10 000 events, 16 hosts).
//! Emulator latency is not AWS latency: the figures bound our own CPU and memory, not the
//! network; the report says so.

use aws_sdk_cloudwatchlogs as cwl;
use aws_sdk_sns as sns;
use failure_enricher::adapter::JobAccounts;
use failure_enricher::logs::LogBudget;
use failure_enricher::{Config, Enricher, Outcome};
use lambda_runtime::{Context, LambdaEvent};
use sagewatch::claims::NoClaims;
use sagewatch::config::Common;
use sagewatch::output::MemorySink;
use sagewatch_aws::sns::SnsNotifier;
use sagewatch_emulator::{unique_name, Emulator, JobKind, ACCOUNT_ID};
use serde_json::json;
use std::time::Instant;

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[tokio::main]
async fn main() {
    let emu = Emulator::shared().await;
    let config = emu.sdk_config().await;
    let logs = cwl::Client::new(&config);
    let name = unique_name("bench");
    emu.seed_job(
        JobKind::Training,
        &name,
        json!({"TrainingJobStatus": "Failed",
               "FailureReason": "AlgorithmError: ExecuteUserScriptError:\nExitCode 1\nErrorMessage \"\"",
               "ResourceConfig": {"InstanceType": "ml.p4d.24xlarge", "InstanceCount": 16, "VolumeSizeInGB": 100}}),
    )
    .await;
    let group = "/aws/sagemaker/TrainingJobs";
    let _ = logs.create_log_group().log_group_name(group).send().await;
    let filler = "x".repeat(180);
    let now = chrono::Utc::now().timestamp_millis() - 3_600_000;
    for h in 1..=16 {
        let stream = format!("{name}/algo-{h}-1763719200");
        logs.create_log_stream()
            .log_group_name(group)
            .log_stream_name(&stream)
            .send()
            .await
            .expect("CreateLogStream");
        let mut lines: Vec<String> = (0..5000)
            .map(|i| format!("[algo-{h}] epoch 3 step {i} loss 0.{i} {filler}"))
            .collect();
        if h == 7 {
            lines.push("torch.distributed.DistBackendError: NCCL error in: ProcessGroupNCCL.cpp:1269, unhandled cuda error, NCCL version 2.18.1".into());
        }
        for (c, chunk) in lines.chunks(5000).enumerate() {
            let events = chunk
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    cwl::types::InputLogEvent::builder()
                        .timestamp(now + (c * 5000 + i) as i64)
                        .message(l)
                        .build()
                        .expect("event")
                })
                .collect();
            logs.put_log_events()
                .log_group_name(group)
                .log_stream_name(&stream)
                .set_log_events(Some(events))
                .send()
                .await
                .expect("PutLogEvents");
        }
    }
    let topic = sns::Client::new(&config)
        .create_topic()
        .name(unique_name("bench"))
        .send()
        .await
        .expect("CreateTopic");
    let accounts = JobAccounts::new(config.clone());
    let enricher = Enricher {
        jobs: &accounts,
        logs: &accounts,
        notifier: SnsNotifier::new(
            sns::Client::new(&config),
            topic.topic_arn().unwrap_or_default(),
        ),
        chat: None,
        claims: NoClaims,
        sink: MemorySink::default(),
        config: Config {
            common: Common {
                home_account: Some(ACCOUNT_ID.into()),
                ..Common::new(failure_enricher::FUNCTION)
            },
            budget: LogBudget::default(),
            alerts_topic_arn: String::new(),
            chat_topic_arn: None,
            claims: None,
        },
    };

    // Peak memory of the invocations only: reset the high-water mark after seeding.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = status_kib("VmRSS:").unwrap_or(0);
    let mut times = Vec::new();
    let mut category = String::new();
    let mut bytes = 0;
    for _ in 0..20 {
        let start = Instant::now();
        let out = enricher
            .handle(LambdaEvent::new(
                json!({"job_type": "training", "job_name": name}),
                Context::default(),
            ))
            .await;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        match out {
            Ok(Outcome::Reported { report }) => {
                category = report["category"].as_str().unwrap_or_default().to_owned();
                bytes = report["log_bytes_read"].as_u64().unwrap_or(0);
            }
            other => panic!("unexpected outcome: {other:?}"),
        }
    }
    times.sort_by(f64::total_cmp);
    let peak = status_kib("VmHWM:").unwrap_or(0);
    println!(
        "failure-enricher handler, 16 hosts x 5000 lines (budget-bound: {bytes} bytes read per invocation, category {category}), 20 invocations against the local emulator:"
    );
    println!("  wall time per invocation: p50 {:.0} ms, max {:.0} ms (emulator on loopback; AWS latency differs)", times[times.len() / 2], times[times.len() - 1]);
    println!("  process RSS before {} MiB, peak during invocations {} MiB (tokio + SDK clients + one report)", rss_before / 1024, peak / 1024);
}
