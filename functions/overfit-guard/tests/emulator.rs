//! overfit-guard against the local emulator with the real SDK clients: jobs seeded through the
//! emulator's control API, notifications received by an SQS subscriber, AWS calls counted.

use aws_sdk_cloudwatch as cw;
use aws_sdk_sagemaker as sm;
use aws_sdk_sns as sns;
use chrono::Utc;
use lambda_runtime::{Context, LambdaEvent};
use overfit_guard::adapter::{Clients, SageMakerJobs};
use overfit_guard::policy::{Decision, Policy};
use overfit_guard::{Config, Guard, Summary};
use sagewatch::config::Common;
use sagewatch::output::MemorySink;
use sagewatch_aws::sns::SnsNotifier;
use sagewatch_emulator::{
    unique_name, CallCounter, Emulator, FailCalls, Inbox, JobKind, ACCOUNT_ID,
};
use serde_json::{json, Value};

struct Fixture {
    emu: &'static Emulator,
    sagemaker: sm::Client,
    inbox: Inbox,
    calls: CallCounter,
    guard: Guard<SageMakerJobs, SnsNotifier, MemorySink>,
}

async fn fixture(policy: Policy) -> Fixture {
    let emu = Emulator::shared().await;
    let config = emu.sdk_config().await;
    let calls = CallCounter::default();
    let sagemaker = sm::Client::new(&config);
    let counted_sm = sm::Client::from_conf(
        sm::config::Builder::from(&config)
            .interceptor(calls.clone())
            .build(),
    );
    let counted_sns = sns::Client::from_conf(
        sns::config::Builder::from(&config)
            .interceptor(calls.clone())
            .build(),
    );
    let inbox = Inbox::new(&config, "alerts").await;

    let mut common = Common::new(overfit_guard::FUNCTION);
    common.home_account = Some(ACCOUNT_ID.into());
    let guard = Guard {
        jobs: SageMakerJobs::with_clients(
            config.clone(),
            Clients {
                sagemaker: counted_sm,
                cloudwatch: cw::Client::from_conf(
                    cw::config::Builder::from(&config)
                        .interceptor(calls.clone())
                        .build(),
                ),
            },
        ),
        notifier: SnsNotifier::new(counted_sns, inbox.topic_arn.clone()),
        sink: MemorySink::default(),
        config: Config {
            common,
            // Confirmation against a real alarm has its own test
            // (`only_a_real_alarm_in_alarm_now_stops_its_job`); the samples name no real alarm.
            policy: Policy {
                confirm_alarms: false,
                ..policy
            },
            alerts_topic_arn: inbox.topic_arn.clone(),
            stopped_by: "overfit-guard-test".into(),
        },
    };
    Fixture {
        emu,
        sagemaker,
        inbox,
        calls,
        guard,
    }
}

impl Fixture {
    async fn seed(&self, name: &str, status: &str, trained_secs: i64, opted_in: bool) {
        let tags = if opted_in {
            json!([{"Key": "sagewatch:auto-stop", "Value": "true"}])
        } else {
            json!([])
        };
        self.emu
            .seed_job(
                JobKind::Training,
                name,
                json!({
                    "TrainingJobStatus": status,
                    "TrainingStartTime": Utc::now().timestamp() - trained_secs,
                    "Tags": tags,
                }),
            )
            .await;
    }

    async fn status(&self, name: &str) -> String {
        let d = self
            .sagemaker
            .describe_training_job()
            .training_job_name(name)
            .send()
            .await
            .expect("Describe");
        d.training_job_status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default()
    }

    async fn tags(&self, name: &str) -> Vec<(String, String)> {
        let arn = format!("arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}:training-job/{name}");
        let out = self
            .sagemaker
            .list_tags()
            .resource_arn(arn)
            .send()
            .await
            .expect("ListTags");
        out.tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    async fn notifications(&self) -> Vec<Value> {
        self.inbox
            .drain()
            .await
            .into_iter()
            .map(|r| r.body)
            .collect()
    }

    async fn invoke(&self, payload: Value) -> Summary {
        self.guard
            .handle(LambdaEvent::new(payload, Context::default()))
            .await
            .expect("handler")
    }
}

fn alarm(file: &str, job: &str) -> Value {
    let text = sagewatch::testing::sample(file)
        .to_string()
        .replace("sagewatch-demo-train-1", job);
    serde_json::from_str(&text).expect("json")
}

#[tokio::test]
async fn opted_in_job_is_stopped_and_tagged_in_five_calls() {
    let f = fixture(Policy::default()).await;
    let job = unique_name("overfit");
    f.seed(&job, "InProgress", 3600, true).await;
    let s = f.invoke(alarm("alarm-sns-single-metric.json", &job)).await;
    assert_eq!(
        s.outcomes[0].decision,
        Decision::Stopped,
        "{:?}",
        s.outcomes
    );
    assert_eq!(f.status(&job).await, "Stopping");
    let tags = f.tags(&job).await;
    assert!(
        tags.iter()
            .any(|(k, v)| k == "sagewatch:stopped-by" && v == "overfit-guard-test"),
        "{tags:?}"
    );
    assert!(tags
        .iter()
        .any(|(k, v)| k == "sagewatch:stop-alarm" && *v == format!("{job}-validation-loss")));
    // Search, StopTrainingJob, AddTags (who and why), Publish, AddTags (the notice went out:
    // what makes the notice exactly-once across retries).
    let counts = f.calls.counts();
    assert_eq!(f.calls.total(), 5, "{counts:?}");
    for op in ["Search", "StopTrainingJob", "Publish"] {
        assert_eq!(counts.get(op), Some(&1), "{op}: {counts:?}");
    }
    assert_eq!(counts.get("AddTags"), Some(&2), "{counts:?}");
    assert!(f
        .tags(&job)
        .await
        .iter()
        .any(|(k, _)| k == "sagewatch:stop-notified"));
    let notes = f.notifications().await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["decision"], "stopped");
    assert_eq!(notes[0]["training_job_name"], job.as_str());
}

#[tokio::test]
async fn a_stop_whose_notice_failed_is_announced_once_on_the_retry() {
    // Issue #11 item 3: StopTrainingJob and AddTags succeed, Publish fails; the retry finds
    // the job Stopping. Before, it concluded `already_ended` and nobody heard of the stop.
    let mut f = fixture(Policy::default()).await;
    let config = f.emu.sdk_config().await;
    let fail = FailCalls::new("Publish", 1);
    f.guard.notifier = SnsNotifier::new(
        sns::Client::from_conf(
            sns::config::Builder::from(&config)
                .interceptor(fail.clone())
                .build(),
        ),
        f.inbox.topic_arn.clone(),
    );
    let job = unique_name("notice");
    f.seed(&job, "InProgress", 3600, true).await;
    let event = alarm("alarm-sns-single-metric.json", &job);
    let err = f
        .guard
        .handle(LambdaEvent::new(event.clone(), Context::default()))
        .await
        .expect_err("the publish failed: retry");
    assert!(err.to_string().contains("Publish"), "{err}");
    assert_eq!(fail.left(), 0);
    assert_eq!(f.status(&job).await, "Stopping");
    assert!(f.notifications().await.is_empty());
    // Lambda's retry, then a duplicate delivery.
    let s = f.invoke(event.clone()).await;
    assert_eq!(
        s.outcomes[0].decision,
        Decision::StopNotice,
        "{:?}",
        s.outcomes
    );
    let s = f.invoke(event).await;
    assert_eq!(s.outcomes[0].decision, Decision::AlreadyEnded);
    let notes = f.notifications().await;
    assert_eq!(notes.len(), 1, "exactly one notice: {notes:?}");
    assert_eq!(notes[0]["decision"], "stop_notice");
    // The stop is counted once, by the attempt that made it.
    let stopped = f
        .guard
        .sink
        .json()
        .iter()
        .filter(|l| l["Decision"] == "stopped")
        .count();
    assert_eq!(stopped, 1);
}

#[tokio::test]
async fn metric_math_alarm_stops_too() {
    let f = fixture(Policy::default()).await;
    let job = unique_name("overfit-math");
    f.seed(&job, "InProgress", 3600, true).await;
    let s = f.invoke(alarm("alarm-sns-metric-math.json", &job)).await;
    assert_eq!(s.outcomes[0].decision, Decision::Stopped);
    assert_eq!(f.status(&job).await, "Stopping");
}

#[tokio::test]
async fn not_opted_in_and_grace_leave_the_job_running() {
    let f = fixture(Policy::default()).await;
    let untagged = unique_name("untagged");
    f.seed(&untagged, "InProgress", 3600, false).await;
    let young = unique_name("young");
    f.seed(&young, "InProgress", 60, true).await;
    let s = f
        .invoke(alarm("alarm-sns-single-metric.json", &untagged))
        .await;
    assert_eq!(s.outcomes[0].decision, Decision::NotOptedIn);
    let s = f
        .invoke(alarm("alarm-sns-single-metric.json", &young))
        .await;
    assert_eq!(s.outcomes[0].decision, Decision::Grace);
    assert_eq!(f.status(&untagged).await, "InProgress");
    assert_eq!(f.status(&young).await, "InProgress");
    assert_eq!(f.calls.counts().get("StopTrainingJob"), None);
}

#[tokio::test]
async fn dry_run_leaves_the_job_running_but_notifies() {
    let f = fixture(Policy {
        dry_run: true,
        ..Policy::default()
    })
    .await;
    let job = unique_name("dry");
    f.seed(&job, "InProgress", 3600, true).await;
    let s = f.invoke(alarm("alarm-sns-single-metric.json", &job)).await;
    assert_eq!(s.outcomes[0].decision, Decision::DryRun);
    assert_eq!(f.status(&job).await, "InProgress");
    let notes = f.notifications().await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["decision"], "dry_run");
}

#[tokio::test]
async fn ten_deliveries_one_stop() {
    let f = fixture(Policy::default()).await;
    let job = unique_name("repeat");
    f.seed(&job, "InProgress", 3600, true).await;
    let payload = alarm("alarm-sns-single-metric.json", &job);
    let mut decisions = Vec::new();
    for _ in 0..10 {
        decisions.push(f.invoke(payload.clone()).await.outcomes[0].decision);
    }
    assert_eq!(
        f.calls.counts().get("StopTrainingJob"),
        Some(&1),
        "{:?}",
        f.calls.counts()
    );
    assert_eq!(decisions[0], Decision::Stopped);
    assert!(
        decisions[1..].iter().all(|d| *d == Decision::AlreadyEnded),
        "{decisions:?}"
    );
    assert_eq!(
        f.notifications().await.len(),
        1,
        "duplicates are not re-notified"
    );
}

#[tokio::test]
async fn ended_jobs_succeed_without_a_stop() {
    let f = fixture(Policy::default()).await;
    for status in ["Completed", "Failed", "Stopped", "Stopping"] {
        let job = unique_name(&status.to_lowercase());
        f.seed(&job, status, 3600, true).await;
        let s = f.invoke(alarm("alarm-sns-single-metric.json", &job)).await;
        assert_eq!(s.outcomes[0].decision, Decision::AlreadyEnded, "{status}");
        assert_eq!(f.status(&job).await, status);
    }
    assert_eq!(f.calls.counts().get("StopTrainingJob"), None);
}

#[tokio::test]
async fn a_malformed_record_beside_a_good_one() {
    let f = fixture(Policy::default()).await;
    let job = unique_name("mixed");
    f.seed(&job, "InProgress", 3600, true).await;
    let mut payload = alarm("alarm-sns-single-metric.json", &job);
    let good = payload["Records"][0].clone();
    let mut bad = good.clone();
    bad["Sns"]["Message"] = json!("{not json");
    payload["Records"] = json!([bad, good]);
    let s = f.invoke(payload).await;
    assert_eq!(s.outcomes[0].decision, Decision::Invalid);
    assert_eq!(s.outcomes[1].decision, Decision::Stopped);
    assert_eq!(f.status(&job).await, "Stopping");
}

#[tokio::test]
async fn a_processing_job_alarm_never_stops_a_training_job_of_the_same_name() {
    // Issue #11 item 7, reproduced before: Host=<name>/algo-1 was accepted from any namespace.
    let f = fixture(Policy::default()).await;
    let job = unique_name("same-name");
    f.seed(&job, "InProgress", 3600, true).await;
    let text = alarm("alarm-sns-host-dimension.json", &job)
        .to_string()
        .replace(
            "/aws/sagemaker/TrainingJobs",
            "/aws/sagemaker/ProcessingJobs",
        );
    let s = f.invoke(serde_json::from_str(&text).expect("json")).await;
    assert_eq!(s.outcomes[0].decision, Decision::NoJob, "{:?}", s.outcomes);
    assert_eq!(f.status(&job).await, "InProgress");
    assert_eq!(f.calls.counts().get("StopTrainingJob"), None);
}

/// A real alarm on `<job>/algo-1` in the emulator, set to ALARM: the notification CloudWatch
/// itself published to the alarm's topic, delivered the way SNS invokes the function.
async fn real_alarm_notification(f: &Fixture, job: &str) -> (cw::Client, String, Value) {
    use cw::types::{ComparisonOperator, Dimension, StateValue, Statistic};
    let config = f.emu.sdk_config().await;
    let cloudwatch = cw::Client::new(&config);
    let topic = Inbox::new(&config, "alarm-topic").await;
    let name = format!("{job}-cpu");
    cloudwatch
        .put_metric_alarm()
        .alarm_name(&name)
        .namespace("/aws/sagemaker/TrainingJobs")
        .metric_name("CPUUtilization")
        .dimensions(
            Dimension::builder()
                .name("Host")
                .value(format!("{job}/algo-1"))
                .build(),
        )
        .statistic(Statistic::Average)
        .period(60)
        .evaluation_periods(1)
        .threshold(90.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .alarm_actions(&topic.topic_arn)
        .send()
        .await
        .expect("PutMetricAlarm");
    cloudwatch
        .set_alarm_state()
        .alarm_name(&name)
        .state_value(StateValue::Alarm)
        .state_reason("Threshold Crossed: test")
        .send()
        .await
        .expect("SetAlarmState");
    let published = topic.drain().await;
    assert_eq!(published.len(), 1, "CloudWatch published the state change");
    let mut payload = sagewatch::testing::sample("alarm-sns-single-metric.json");
    payload["Records"][0]["Sns"]["Message"] = Value::from(published[0].body.to_string());
    (cloudwatch, name, payload)
}

#[tokio::test]
async fn only_a_real_alarm_in_alarm_now_stops_its_job() {
    // #11 item 8: the notification is checked against the alarm itself (DescribeAlarms).
    let mut f = fixture(Policy::default()).await;
    f.guard.config.policy.confirm_alarms = true;
    let job = unique_name("confirmed");
    f.seed(&job, "InProgress", 3600, true).await;

    // Forged: a well-formed notification naming the job, but no such alarm exists.
    let s = f.invoke(alarm("alarm-sns-single-metric.json", &job)).await;
    assert_eq!(
        s.outcomes[0].decision,
        Decision::Unconfirmed,
        "{:?}",
        s.outcomes
    );
    assert_eq!(f.status(&job).await, "InProgress");
    assert_eq!(
        f.notifications().await.len(),
        1,
        "a forged alarm is worth a look"
    );

    // Real and in ALARM now: stopped.
    let (cloudwatch, name, payload) = real_alarm_notification(&f, &job).await;
    f.calls.reset();
    let s = f.invoke(payload.clone()).await;
    assert_eq!(
        s.outcomes[0].decision,
        Decision::Stopped,
        "{:?}",
        s.outcomes
    );
    assert_eq!(f.status(&job).await, "Stopping");
    assert_eq!(f.calls.counts().get("DescribeAlarms"), Some(&1));

    // Stale: the same notification after the alarm went back to OK.
    let other = unique_name("stale");
    f.seed(&other, "InProgress", 3600, true).await;
    let (_, other_name, stale) = real_alarm_notification(&f, &other).await;
    cloudwatch
        .set_alarm_state()
        .alarm_name(&other_name)
        .state_value(cw::types::StateValue::Ok)
        .state_reason("back to normal")
        .send()
        .await
        .expect("SetAlarmState");
    let s = f.invoke(stale).await;
    assert_eq!(s.outcomes[0].decision, Decision::Stale, "{:?}", s.outcomes);
    assert_eq!(f.status(&other).await, "InProgress");
    assert_ne!(name, other_name);
}

#[tokio::test]
async fn unknown_job_is_not_found_not_retried() {
    let f = fixture(Policy::default()).await;
    let s = f
        .invoke(alarm("alarm-sns-single-metric.json", &unique_name("ghost")))
        .await;
    assert_eq!(s.outcomes[0].decision, Decision::JobNotFound);
}

#[tokio::test]
async fn another_account_is_reached_through_an_assumed_role() {
    let emu = Emulator::shared().await;
    let config = emu.sdk_config().await;
    let job = unique_name("xacct");
    let workload = "111122223333";
    emu.seed_job(
        JobKind::Training,
        &job,
        json!({"AccountId": workload, "TrainingJobStatus": "InProgress",
               "TrainingStartTime": Utc::now().timestamp() - 3600,
               "Tags": [{"Key": "sagewatch:auto-stop", "Value": "true"}]}),
    )
    .await;
    let mut f = fixture(Policy::default()).await;
    f.guard.jobs = SageMakerJobs::new(config);
    f.guard.config.common.cross_account_role = Some("sagewatch-overfit-guard".into());
    let text = serde_json::to_string(&alarm("alarm-sns-single-metric.json", &job))
        .expect("json")
        .replace(ACCOUNT_ID, workload);
    let s = f.invoke(serde_json::from_str(&text).expect("json")).await;
    assert_eq!(
        s.outcomes[0].decision,
        Decision::Stopped,
        "{:?}",
        s.outcomes
    );
    let seen = emu
        .control(
            "GET",
            &format!("/_sagewatch/sagemaker/training-jobs/{job}?AccountId={workload}"),
            None,
        )
        .await
        .expect("job in the workload account");
    assert_eq!(seen["TrainingJobStatus"], "Stopping");
}

#[tokio::test]
async fn a_cross_account_metric_math_alarm_stops_the_job_in_its_metrics_account() {
    // #11: a monitoring-account alarm (cross-account observability) whose queries read the
    // job's metrics in the workload account. DescribeAlarms in the alarm's account (home
    // clients, counted); Search/Stop/AddTags in the job's account (assumed role).
    use cw::types::{ComparisonOperator, Dimension, Metric, MetricDataQuery, MetricStat};
    let emu = Emulator::shared().await;
    let config = emu.sdk_config().await;
    let workload = "111122223333";
    let job = unique_name("xacct-math");
    emu.seed_job(
        JobKind::Training,
        &job,
        json!({"AccountId": workload, "TrainingJobStatus": "InProgress",
               "TrainingStartTime": Utc::now().timestamp() - 3600,
               "Tags": [{"Key": "sagewatch:auto-stop", "Value": "true"}]}),
    )
    .await;
    let cloudwatch = cw::Client::new(&config);
    let topic = Inbox::new(&config, "xacct-alarm-topic").await;
    let stat = |id: &str, metric: &str| {
        MetricDataQuery::builder()
            .id(id)
            .account_id(workload)
            .return_data(false)
            .metric_stat(
                MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .namespace("/aws/sagemaker/TrainingJobs")
                            .metric_name(metric)
                            .dimensions(
                                Dimension::builder()
                                    .name("TrainingJobName")
                                    .value(&job)
                                    .build(),
                            )
                            .build(),
                    )
                    .period(60)
                    .stat("Average")
                    .build(),
            )
            .build()
    };
    let name = format!("{job}-overfit");
    cloudwatch
        .put_metric_alarm()
        .alarm_name(&name)
        .metrics(stat("m_train", "train:loss"))
        .metrics(stat("m_val", "validation:loss"))
        .metrics(
            MetricDataQuery::builder()
                .id("e1")
                .expression("(m_val - m_train) / m_train")
                .return_data(true)
                .build(),
        )
        .evaluation_periods(1)
        .threshold(0.1)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .alarm_actions(&topic.topic_arn)
        .send()
        .await
        .expect("PutMetricAlarm");
    // The emulator keeps each query's AccountId (cloudwatch_ext.py).
    let read = cloudwatch
        .describe_alarms()
        .alarm_names(&name)
        .send()
        .await
        .expect("DescribeAlarms");
    let accounts: Vec<Option<&str>> = read.metric_alarms()[0]
        .metrics()
        .iter()
        .map(|q| q.account_id())
        .collect();
    assert_eq!(accounts, [Some(workload), Some(workload), None]);
    cloudwatch
        .set_alarm_state()
        .alarm_name(&name)
        .state_value(cw::types::StateValue::Alarm)
        .state_reason("Threshold Crossed: test")
        .send()
        .await
        .expect("SetAlarmState");
    let published = topic.drain().await;
    assert_eq!(published.len(), 1);
    let mut payload = sagewatch::testing::sample("alarm-sns-metric-math.json");
    payload["Records"][0]["Sns"]["Message"] = Value::from(published[0].body.to_string());

    let mut f = fixture(Policy::default()).await;
    f.guard.config.policy.confirm_alarms = true;
    f.guard.config.common.cross_account_role = Some("sagewatch-overfit-guard".into());
    let s = f.invoke(payload).await;
    assert_eq!(
        s.outcomes[0].decision,
        Decision::Stopped,
        "{:?}",
        s.outcomes
    );
    let counts = f.calls.counts();
    assert_eq!(counts.get("DescribeAlarms"), Some(&1), "{counts:?}");
    for op in ["Search", "StopTrainingJob", "AddTags"] {
        assert_eq!(
            counts.get(op),
            None,
            "{op} ran in the home account: {counts:?}"
        );
    }
    let seen = emu
        .control(
            "GET",
            &format!("/_sagewatch/sagemaker/training-jobs/{job}?AccountId={workload}"),
            None,
        )
        .await
        .expect("job in the workload account");
    assert_eq!(seen["TrainingJobStatus"], "Stopping");
}
