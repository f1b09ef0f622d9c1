//! overfit-guard against the local emulator with the real SDK clients: jobs seeded through the
//! emulator's control API, notifications received by an SQS subscriber, AWS calls counted.

use aws_sdk_cloudwatch as cw;
use aws_sdk_sagemaker as sm;
use aws_sdk_sns as sns;
use chrono::Utc;
use lambda_runtime::{Context, LambdaEvent};
use overfit_guard::adapter::{Clients, SageMakerJobs};
use overfit_guard::guard::GuardConfig;
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
        chat: None,
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
            chat_topic_arn: None,
            stopped_by: "overfit-guard-test".into(),
            guard: GuardConfig::default(),
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

// ---- Guard alarms follow training jobs (#17) -----------------------------------------

/// Metric definitions of the guard samples' script (train and validation loss, an epoch).
fn metric_definitions() -> Value {
    json!([
        {"Name": "train:loss", "Regex": "train_loss=([0-9.]+)"},
        {"Name": "validation:loss", "Regex": "val_loss=([0-9.]+)"},
        {"Name": "epoch", "Regex": "epoch=([0-9]+)"}
    ])
}

impl Fixture {
    /// The guard on: alarms under a prefix of this test's own, actions to `topic`.
    fn guard_on(&mut self, topic: &str) -> String {
        let prefix = format!("{}-", unique_name("sagewatch-guard"));
        self.guard.config.guard.settings.prefix = prefix.clone();
        self.guard.config.guard.alarm_topic_arn = Some(topic.to_owned());
        prefix
    }

    async fn seed_guarded(&self, name: &str, instance_type: &str, hosts: i64, tags: Value) {
        self.emu
            .seed_job(
                JobKind::Training,
                name,
                json!({
                    "TrainingJobStatus": "InProgress",
                    "TrainingStartTime": Utc::now().timestamp() - 3600,
                    "AlgorithmSpecification": {
                        "TrainingImage": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.3.0-gpu-py311",
                        "TrainingInputMode": "File",
                        "MetricDefinitions": metric_definitions(),
                    },
                    "ResourceConfig": {"InstanceType": instance_type, "InstanceCount": hosts,
                                       "VolumeSizeInGB": 100},
                    "Tags": tags,
                }),
            )
            .await;
    }

    async fn alarms_under(&self, prefix: &str) -> Vec<cw::types::MetricAlarm> {
        let config = self.emu.sdk_config().await;
        cw::Client::new(&config)
            .describe_alarms()
            .alarm_name_prefix(prefix)
            .send()
            .await
            .expect("DescribeAlarms")
            .metric_alarms()
            .to_vec()
    }
}

fn state_change(job: &str, status: &str, tags: Value) -> Value {
    let mut event = sagewatch::testing::sample("training-job-state-change-guard-in-progress.json");
    let text = event.to_string().replace("sagewatch-demo-guard-1", job);
    event = serde_json::from_str(&text).expect("json");
    event["detail"]["TrainingJobStatus"] = json!(status);
    event["detail"]["Tags"] = tags;
    event
}

fn guard_tags() -> Value {
    json!([{"Key": "sagewatch:auto-stop", "Value": "true"},
           {"Key": "sagewatch:guard", "Value": "overfit stall low-gpu"}])
}

fn guard_tag_map() -> Value {
    json!({"sagewatch:auto-stop": "true", "sagewatch:guard": "overfit stall low-gpu"})
}

#[tokio::test]
async fn guard_alarms_follow_a_two_host_gpu_job_from_in_progress_to_completed() {
    let mut f = fixture(Policy::default()).await;
    let topic = Inbox::new(&f.emu.sdk_config().await, "guard-alarms").await;
    let prefix = f.guard_on(&topic.topic_arn);
    let job = unique_name("guarded");
    f.seed_guarded(&job, "ml.g5.12xlarge", 2, guard_tags())
        .await;

    let s = f
        .invoke(state_change(&job, "InProgress", guard_tag_map()))
        .await;
    let sync = s.alarms.expect("alarms");
    assert_eq!(sync.decision, "ensured", "{sync:?}");
    // DescribeTrainingJob, DescribeAlarms, one PutMetricAlarm per alarm.
    let counts = f.calls.counts();
    assert_eq!(counts.get("DescribeTrainingJob"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("DescribeAlarms"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("PutMetricAlarm"), Some(&3), "{counts:?}");
    assert_eq!(f.calls.total(), 5, "{counts:?}");

    let alarms = f.alarms_under(&prefix).await;
    let mut names: Vec<&str> = alarms.iter().filter_map(|a| a.alarm_name()).collect();
    names.sort_unstable();
    let name = |rule: &str| format!("{prefix}{job}-{rule}");
    assert_eq!(names, [name("low-gpu"), name("overfit"), name("stall")]);
    let by = |rule: &str| {
        alarms
            .iter()
            .find(|a| a.alarm_name() == Some(name(rule).as_str()))
            .expect("alarm")
    };
    for a in &alarms {
        assert_eq!(a.alarm_actions(), std::slice::from_ref(&topic.topic_arn));
        assert_eq!(a.actions_enabled(), Some(true));
    }
    let overfit = by("overfit");
    let queries = overfit.metrics();
    let ids: Vec<&str> = queries.iter().filter_map(|q| q.id()).collect();
    assert_eq!(ids, ["m_train", "m_val", "overfit_ratio"]);
    let metric = |i: usize| {
        queries[i]
            .metric_stat()
            .and_then(|s| s.metric())
            .expect("metric")
    };
    assert_eq!(metric(0).metric_name(), Some("train:loss"));
    assert_eq!(metric(1).metric_name(), Some("validation:loss"));
    assert_eq!(metric(0).namespace(), Some("/aws/sagemaker/TrainingJobs"));
    assert_eq!(metric(0).dimensions()[0].name(), Some("TrainingJobName"));
    assert_eq!(metric(0).dimensions()[0].value(), Some(job.as_str()));
    assert_eq!(queries[2].expression(), Some("(m_val - m_train) / m_train"));
    assert_eq!(overfit.threshold(), Some(0.1));
    assert_eq!(
        overfit.comparison_operator(),
        Some(&cw::types::ComparisonOperator::GreaterThanThreshold)
    );
    assert_eq!(
        (overfit.evaluation_periods(), overfit.datapoints_to_alarm()),
        (Some(3), Some(3))
    );
    let gpu = by("low-gpu");
    let hosts: Vec<&str> = gpu
        .metrics()
        .iter()
        .filter_map(|q| q.metric_stat()?.metric()?.dimensions().first()?.value())
        .collect();
    assert_eq!(hosts, [format!("{job}/algo-1"), format!("{job}/algo-2")]);
    assert_eq!(
        gpu.metrics()[2].expression(),
        Some("MAX([gpu1, gpu2]) / 4"),
        "ml.g5.12xlarge has 4 GPUs"
    );
    assert_eq!(gpu.threshold(), Some(10.0));
    let stall = by("stall");
    assert_eq!(stall.treat_missing_data(), Some("breaching"));
    assert_eq!(stall.evaluation_periods(), Some(30));
    let config = f.emu.sdk_config().await;
    let tags = cw::Client::new(&config)
        .list_tags_for_resource()
        .resource_arn(overfit.alarm_arn().expect("arn"))
        .send()
        .await
        .expect("ListTagsForResource");
    assert!(tags
        .tags()
        .iter()
        .any(|t| t.key() == Some("sagewatch:managed-by") && t.value() == Some("overfit-guard")));

    // A duplicate delivery changes nothing: no PutMetricAlarm.
    f.calls.reset();
    let sync = f
        .invoke(state_change(&job, "InProgress", guard_tag_map()))
        .await
        .alarms
        .expect("alarms");
    assert!(sync.created.is_empty());
    assert_eq!(sync.unchanged, 3);
    assert_eq!(f.calls.counts().get("PutMetricAlarm"), None);
    assert_eq!(f.alarms_under(&prefix).await.len(), 3);

    // A user's alarm that merely shares the prefix, and another job's guard alarm.
    let other = unique_name("guarded-other");
    f.seed_guarded(&other, "ml.g5.12xlarge", 1, guard_tags())
        .await;
    f.invoke(state_change(&other, "InProgress", guard_tag_map()))
        .await;
    let users = format!("{prefix}{job}-loss-not-decreasing");
    cw::Client::new(&config)
        .put_metric_alarm()
        .alarm_name(&users)
        .namespace("/aws/sagemaker/TrainingJobs")
        .metric_name("train:loss")
        .statistic(cw::types::Statistic::Average)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(cw::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .expect("a user's alarm");

    // Completed: the job's alarms are gone, nothing else is touched.
    f.calls.reset();
    let sync = f
        .invoke(state_change(&job, "Completed", guard_tag_map()))
        .await
        .alarms
        .expect("alarms");
    assert_eq!(sync.decision, "deleted", "{sync:?}");
    assert_eq!(sync.deleted.len(), 3);
    assert_eq!(sync.kept, std::slice::from_ref(&users));
    let counts = f.calls.counts();
    // DescribeAlarms, ListTagsForResource per candidate (3 ours + the user's), DeleteAlarms.
    assert_eq!(counts.get("DescribeAlarms"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("ListTagsForResource"), Some(&4), "{counts:?}");
    assert_eq!(counts.get("DeleteAlarms"), Some(&1), "{counts:?}");
    let mut left: Vec<String> = f
        .alarms_under(&prefix)
        .await
        .iter()
        .filter_map(|a| a.alarm_name().map(str::to_owned))
        .collect();
    left.sort();
    let mut want = vec![
        users,
        format!("{prefix}{other}-low-gpu"),
        format!("{prefix}{other}-overfit"),
        format!("{prefix}{other}-stall"),
    ];
    want.sort();
    assert_eq!(left, want);
}

#[tokio::test]
async fn no_opt_in_no_alarms_and_a_cpu_job_gets_no_low_gpu_alarm() {
    let mut f = fixture(Policy::default()).await;
    let topic = Inbox::new(&f.emu.sdk_config().await, "guard-alarms").await;
    let prefix = f.guard_on(&topic.topic_arn);
    let plain = unique_name("plain");
    f.seed_guarded(&plain, "ml.g5.12xlarge", 2, json!([])).await;
    let sync = f
        .invoke(state_change(
            &plain,
            "InProgress",
            json!({"team": "vision"}),
        ))
        .await
        .alarms
        .expect("alarms");
    assert_eq!(sync.decision, "not_opted_in");
    assert_eq!(f.calls.total(), 0, "{:?}", f.calls.counts());

    let cpu = unique_name("cpu");
    f.seed_guarded(&cpu, "ml.m5.xlarge", 2, guard_tags()).await;
    let sync = f
        .invoke(state_change(&cpu, "InProgress", guard_tag_map()))
        .await
        .alarms
        .expect("alarms");
    assert_eq!(sync.created.len(), 2, "{sync:?}");
    let names: Vec<String> = f
        .alarms_under(&prefix)
        .await
        .iter()
        .filter_map(|a| a.alarm_name().map(str::to_owned))
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().all(|n| !n.ends_with("-low-gpu")), "{names:?}");
    assert!(sync.skipped[0].reason.contains("no GPU"));
}

#[tokio::test]
async fn a_diverging_job_is_stopped_by_its_overfit_alarm_with_the_rule_named() {
    // End to end: the guard puts the alarm, the script's losses diverge, CloudWatch (here:
    // SetAlarmState, the emulator does not evaluate alarms) moves it to ALARM and publishes
    // to the alarm topic; that notification, confirmed, stops the job.
    use cw::types::{Dimension, MetricDatum, StateValue};
    let mut f = fixture(Policy::default()).await;
    f.guard.config.policy.confirm_alarms = true;
    let config = f.emu.sdk_config().await;
    let topic = Inbox::new(&config, "guard-alarm-topic").await;
    let prefix = f.guard_on(&topic.topic_arn);
    let job = unique_name("diverging");
    f.seed_guarded(&job, "ml.g5.2xlarge", 1, guard_tags()).await;
    f.invoke(state_change(&job, "InProgress", guard_tag_map()))
        .await;
    let name = format!("{prefix}{job}-overfit");

    let cloudwatch = cw::Client::new(&config);
    let now = Utc::now().timestamp();
    for (minute, train, validation) in [
        (5, 0.9, 0.95),
        (4, 0.7, 0.8),
        (3, 0.5, 0.7),
        (2, 0.4, 0.75),
        (1, 0.3, 0.8),
    ] {
        for (metric, value) in [("train:loss", train), ("validation:loss", validation)] {
            cloudwatch
                .put_metric_data()
                .namespace("/aws/sagemaker/TrainingJobs")
                .metric_data(
                    MetricDatum::builder()
                        .metric_name(metric)
                        .dimensions(
                            Dimension::builder()
                                .name("TrainingJobName")
                                .value(&job)
                                .build(),
                        )
                        .timestamp(cw::primitives::DateTime::from_secs(now - minute * 60))
                        .value(value)
                        .build(),
                )
                .send()
                .await
                .expect("PutMetricData");
        }
    }
    // What the alarm would compute over the last three minutes: all above 0.1.
    let ratios: Vec<f64> = [(0.5, 0.7), (0.4, 0.75), (0.3, 0.8)]
        .iter()
        .map(|(t, v)| (v - t) / t)
        .collect();
    assert!(ratios.iter().all(|r| *r > 0.1), "{ratios:?}");
    cloudwatch
        .set_alarm_state()
        .alarm_name(&name)
        .state_value(StateValue::Alarm)
        .state_reason("Threshold Crossed: 3 out of the last 3 datapoints were greater than the threshold (0.1).")
        .send()
        .await
        .expect("SetAlarmState");
    let published = topic.drain().await;
    assert_eq!(published.len(), 1, "CloudWatch published the ALARM");
    let mut payload = sagewatch::testing::sample("alarm-sns-metric-math.json");
    payload["Records"][0]["Sns"]["Message"] = Value::from(published[0].body.to_string());
    f.calls.reset();
    let s = f.invoke(payload).await;
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
            .any(|(k, v)| k == "sagewatch:stop-rule" && v == "overfit"),
        "{tags:?}"
    );
    assert!(tags
        .iter()
        .any(|(k, v)| k == "sagewatch:stop-alarm" && *v == name));
    let notes = f.notifications().await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["rule"], "overfit");
    // DescribeAlarms (confirmation), Search, StopTrainingJob, AddTags, Publish, AddTags.
    assert_eq!(f.calls.total(), 6, "{:?}", f.calls.counts());
}

#[tokio::test]
async fn the_sweep_removes_the_alarms_of_a_job_whose_end_event_was_lost() {
    let mut f = fixture(Policy::default()).await;
    let topic = Inbox::new(&f.emu.sdk_config().await, "guard-alarms").await;
    let prefix = f.guard_on(&topic.topic_arn);
    let lost = unique_name("lost-end");
    let running = unique_name("running");
    for job in [&lost, &running] {
        f.seed_guarded(job, "ml.g5.12xlarge", 1, guard_tags()).await;
        f.invoke(state_change(job, "InProgress", guard_tag_map()))
            .await;
    }
    assert_eq!(f.alarms_under(&prefix).await.len(), 6);
    // The job ends; its Completed event never arrives.
    f.emu
        .seed_job(
            JobKind::Training,
            &lost,
            json!({"TrainingJobStatus": "Completed"}),
        )
        .await;
    f.calls.reset();
    let s = f.invoke(json!({"action": "guard-sweep"})).await;
    let run = s.sweep.expect("sweep");
    assert_eq!(run.jobs_checked, 2, "{run:?}");
    assert_eq!(run.deleted.len(), 3, "{run:?}");
    assert!(run.deleted.iter().all(|n| n.contains(&lost)));
    assert!(run.created.is_empty(), "the running job has all its alarms");
    let counts = f.calls.counts();
    // One DescribeAlarms for the prefix, DescribeTrainingJob per job, the tags of each alarm,
    // one DeleteAlarms.
    assert_eq!(counts.get("DescribeAlarms"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("DescribeTrainingJob"), Some(&2), "{counts:?}");
    assert_eq!(counts.get("ListTagsForResource"), Some(&6), "{counts:?}");
    assert_eq!(counts.get("DeleteAlarms"), Some(&1), "{counts:?}");
    let left: Vec<String> = f
        .alarms_under(&prefix)
        .await
        .iter()
        .filter_map(|a| a.alarm_name().map(str::to_owned))
        .collect();
    assert_eq!(left.len(), 3);
    assert!(left.iter().all(|n| n.contains(&running)), "{left:?}");
    // A second run deletes nothing.
    let again = f
        .invoke(json!({"action": "guard-sweep"}))
        .await
        .sweep
        .expect("sweep");
    assert!(
        again.deleted.is_empty() && again.created.is_empty(),
        "{again:?}"
    );
}
