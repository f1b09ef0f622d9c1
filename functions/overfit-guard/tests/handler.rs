//! Handler logic with in-memory ports, over the real-world alarm samples in `events/`.
//! (AWS behaviour itself is tested against the emulator in `emulator.rs`.)

use chrono::{Duration, Utc};
use lambda_runtime::{Context, LambdaEvent};
use overfit_guard::confirm::AlarmFacts;
use overfit_guard::guard::GuardConfig;
use overfit_guard::guard_alarms::{GuardAlarm, JobFacts};
use overfit_guard::policy::{Decision, JobView, Policy};
use overfit_guard::ports::{Guarding, ListedAlarm, StopOutcome, Target, TrainingJobs};
use overfit_guard::{Config, Guard, Summary};
use sagewatch::alarm::{alarms_from_payload, AlarmState};
use sagewatch::config::Common;
use sagewatch::error::{AwsError, ErrorKind};
use sagewatch::notify::MemoryNotifier;
use sagewatch::output::MemorySink;
use sagewatch::status::Status;
use sagewatch::testing::sample;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

#[derive(Default)]
struct FakeJobs {
    jobs: Mutex<HashMap<String, JobView>>,
    calls: Mutex<Vec<String>>,
    fail_find_with: Option<ErrorKind>,
    /// StopTrainingJob refused as IAM refuses it for a job without the opt-in tag.
    deny_stop: bool,
    /// What DescribeAlarms returns, by alarm name.
    alarms: Mutex<HashMap<String, AlarmFacts>>,
    /// (operation, account of the target) of every call.
    targets: Mutex<Vec<(&'static str, Option<String>)>>,
    /// What DescribeTrainingJob returns, by job name.
    facts: Mutex<HashMap<String, JobFacts>>,
    /// CloudWatch's alarms: what was put (None for a user's alarm), actions, tags.
    cw: Mutex<BTreeMap<String, Stored>>,
}

#[derive(Debug, Clone)]
struct Stored {
    alarm: Option<GuardAlarm>,
    actions: Vec<String>,
    tags: BTreeMap<String, String>,
}

impl FakeJobs {
    fn with(job: JobView) -> Self {
        let f = FakeJobs::default();
        f.jobs.lock().unwrap().insert(job.name.clone(), job);
        f
    }
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
    fn log(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }
    fn at(&self, op: &'static str, target: &Target) {
        self.targets
            .lock()
            .unwrap()
            .push((op, target.account.clone()));
    }
    fn targets(&self) -> Vec<(&'static str, Option<String>)> {
        self.targets.lock().unwrap().clone()
    }
}

const ARN: &str = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:";

impl Guarding for FakeJobs {
    async fn describe_job(
        &self,
        target: &Target,
        name: &str,
    ) -> Result<Option<JobFacts>, AwsError> {
        self.at("describe_job", target);
        self.log(format!("describe_job {name}"));
        Ok(self.facts.lock().unwrap().get(name).cloned())
    }
    async fn list_alarms(
        &self,
        target: &Target,
        prefix: &str,
    ) -> Result<Vec<ListedAlarm>, AwsError> {
        self.at("list_alarms", target);
        self.log(format!("list_alarms {prefix}"));
        Ok(self
            .cw
            .lock()
            .unwrap()
            .keys()
            .filter(|n| n.starts_with(prefix))
            .map(|n| ListedAlarm {
                name: n.clone(),
                arn: Some(format!("{ARN}{n}")),
            })
            .collect())
    }
    async fn alarm_tags(
        &self,
        target: &Target,
        arn: &str,
    ) -> Result<BTreeMap<String, String>, AwsError> {
        self.at("alarm_tags", target);
        self.log(format!("alarm_tags {arn}"));
        let name = arn.strip_prefix(ARN).unwrap_or(arn);
        Ok(self
            .cw
            .lock()
            .unwrap()
            .get(name)
            .map(|s| s.tags.clone())
            .unwrap_or_default())
    }
    async fn put_alarm(
        &self,
        target: &Target,
        alarm: &GuardAlarm,
        actions: &[String],
        tags: &[(String, String)],
    ) -> Result<(), AwsError> {
        self.at("put_alarm", target);
        self.log(format!("put_alarm {}", alarm.name));
        let mut cw = self.cw.lock().unwrap();
        // Tags only on creation, as PutMetricAlarm does.
        let tags = cw
            .get(&alarm.name)
            .map(|s| s.tags.clone())
            .unwrap_or_else(|| tags.iter().cloned().collect());
        cw.insert(
            alarm.name.clone(),
            Stored {
                alarm: Some(alarm.clone()),
                actions: actions.to_vec(),
                tags,
            },
        );
        Ok(())
    }
    async fn delete_alarms(&self, target: &Target, names: &[String]) -> Result<(), AwsError> {
        self.at("delete_alarms", target);
        self.log(format!("delete_alarms {}", names.join(",")));
        let mut cw = self.cw.lock().unwrap();
        for n in names {
            cw.remove(n);
        }
        Ok(())
    }
}

impl TrainingJobs for FakeJobs {
    async fn find(&self, target: &Target, name: &str) -> Result<Option<JobView>, AwsError> {
        self.at("find", target);
        self.log(format!(
            "find {name} {:?}/{:?}",
            target.account, target.region
        ));
        if let Some(kind) = self.fail_find_with {
            return Err(AwsError::new("Search", kind, "Fake", "fake"));
        }
        Ok(self.jobs.lock().unwrap().get(name).cloned())
    }
    async fn exists(&self, _: &Target, name: &str) -> Result<bool, AwsError> {
        self.log(format!("exists {name}"));
        Ok(self.jobs.lock().unwrap().contains_key(name))
    }
    async fn stop(&self, target: &Target, name: &str) -> Result<StopOutcome, AwsError> {
        self.at("stop", target);
        self.log(format!("stop {name}"));
        if self.deny_stop {
            return Err(AwsError::new(
                "StopTrainingJob",
                ErrorKind::AccessDenied,
                "AccessDeniedException",
                "not authorized",
            ));
        }
        let mut jobs = self.jobs.lock().unwrap();
        let job = jobs.get_mut(name).unwrap();
        if job.status.is("InProgress") {
            job.status = Status::new("Stopping");
            Ok(StopOutcome::Stopping)
        } else {
            Ok(StopOutcome::AlreadyInStatus(format!(
                "The request was rejected because the training job is in status {}.",
                job.status
            )))
        }
    }
    async fn tag(
        &self,
        target: &Target,
        arn: &str,
        tags: &[(String, String)],
    ) -> Result<(), AwsError> {
        self.at("tag", target);
        self.log(format!("tag {arn} {}", tags.len()));
        Ok(())
    }
    async fn alarm(&self, target: &Target, name: &str) -> Result<Option<AlarmFacts>, AwsError> {
        self.at("alarm", target);
        self.log(format!("alarm {name}"));
        Ok(self.alarms.lock().unwrap().get(name).cloned())
    }
}

fn job(name: &str, status: &str, trained_minutes: i64, opted_in: bool) -> JobView {
    let mut tags = std::collections::BTreeMap::new();
    if opted_in {
        tags.insert("sagewatch:auto-stop".to_owned(), "true".to_owned());
    }
    JobView {
        name: name.into(),
        arn: Some(format!(
            "arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}"
        )),
        status: Status::new(status),
        secondary_status: None,
        training_start_time: Some(Utc::now() - Duration::minutes(trained_minutes)),
        creation_time: None,
        tags,
    }
}

type Fake<J = FakeJobs> = Guard<J, MemoryNotifier, MemorySink>;

fn config(policy: Policy, home: &str) -> Config {
    let mut common = Common::new(overfit_guard::FUNCTION);
    common.home_account = Some(home.into());
    Config {
        common,
        policy,
        alerts_topic_arn: "arn:aws:sns:us-east-1:123456789012:alerts".into(),
        chat_topic_arn: None,
        stopped_by: "test".into(),
        guard: GuardConfig {
            alarm_topic_arn: Some(ALARM_TOPIC.into()),
            ..GuardConfig::default()
        },
    }
}

/// Alarm confirmation has its own tests (`forged_and_stale_alarms_stop_nothing`); the others
/// exercise what follows it.
fn guard(jobs: FakeJobs, policy: Policy) -> Fake {
    Guard {
        jobs,
        notifier: MemoryNotifier::default(),
        chat: None,
        sink: MemorySink::default(),
        config: config(
            Policy {
                confirm_alarms: false,
                ..policy
            },
            "123456789012",
        ),
    }
}

/// The `StopDecisions` lines by decision, and the health counters, from what the guard wrote.
fn metric_count(g: &Fake, metric: &str, dimension: Option<(&str, &str)>) -> usize {
    g.sink
        .json()
        .iter()
        .filter(|l| l.get(metric).is_some())
        .filter(|l| dimension.is_none_or(|(k, v)| l[k] == v))
        .count()
}

async fn run(g: &Fake, payload: Value) -> Summary {
    g.handle(LambdaEvent::new(payload, Context::default()))
        .await
        .unwrap()
}

const JOB: &str = "sagewatch-demo-train-1";
const ALARM_TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:alarm-topic";

#[tokio::test]
async fn single_metric_alarm_stops_an_opted_in_job_with_five_calls_at_most() {
    let g = guard(
        FakeJobs::with(job(JOB, "InProgress", 60, true)),
        Policy::default(),
    );
    let s = run(&g, sample("alarm-sns-single-metric.json")).await;
    assert_eq!(s.outcomes[0].decision, Decision::Stopped);
    let calls = g.jobs.calls();
    assert_eq!(
        calls,
        vec![
            format!("find {JOB} Some(\"123456789012\")/Some(\"us-east-1\")"),
            format!("stop {JOB}"),
            format!("tag arn:aws:sagemaker:us-east-1:123456789012:training-job/{JOB} 4"),
            // After the Publish: the notice went out (stop-notified).
            format!("tag arn:aws:sagemaker:us-east-1:123456789012:training-job/{JOB} 1"),
        ]
    );
    let notes = g.notifier.sent();
    assert_eq!(notes.len(), 1, "plus one Publish: 5 calls");
    assert!(notes[0].subject.contains("stopped") && notes[0].subject.contains(JOB));
    assert_eq!(notes[0].attributes["decision"], "stopped");
    assert_eq!(
        metric_count(&g, "StopDecisions", Some(("Decision", "stopped"))),
        1
    );
    assert_eq!(metric_count(&g, "InvalidEvents", None), 0);
}

#[tokio::test]
async fn the_stop_notice_also_goes_to_chat_in_the_jobs_thread_best_effort() {
    let mut g = guard(
        FakeJobs::with(job(JOB, "InProgress", 60, true)),
        Policy::default(),
    );
    g.chat = Some(MemoryNotifier::default());
    let s = run(&g, sample("alarm-sns-single-metric.json")).await;
    assert_eq!(s.outcomes[0].decision, Decision::Stopped);
    let chat = g.chat.as_ref().unwrap().sent();
    assert_eq!(chat.len(), 1);
    let doc = &chat[0].report;
    sagewatch::chat::check(doc).unwrap_or_else(|e| panic!("{e}: {doc}"));
    assert_eq!(
        doc["content"]["title"],
        json!(format!(
            ":octagonal_sign: sagewatch stopped training job {JOB}"
        ))
    );
    // The thread failure-enricher's notices for this training job use.
    assert_eq!(
        doc["metadata"]["threadId"],
        json!(format!("sagewatch/TrainingJob/123456789012/{JOB}"))
    );
    assert!(doc["content"]["nextSteps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n.as_str().unwrap_or("").contains("sagewatch:auto-stop")));

    // A refused chat publish changes nothing else: stopped, notified, counted.
    let mut g = guard(
        FakeJobs::with(job(JOB, "InProgress", 60, true)),
        Policy::default(),
    );
    let chat = MemoryNotifier::default();
    chat.fail_next(AwsError::new(
        "Publish",
        ErrorKind::Throttled,
        "Throttling",
        "slow down",
    ));
    g.chat = Some(chat);
    let s = run(&g, sample("alarm-sns-single-metric.json")).await;
    assert_eq!(s.outcomes[0].decision, Decision::Stopped);
    assert_eq!(g.notifier.sent().len(), 1);
    assert_eq!(metric_count(&g, "ChatNoticeFailures", None), 1);
}

#[tokio::test]
async fn metric_math_host_and_lambda_action_payloads_resolve_the_same_job() {
    for file in [
        "alarm-sns-metric-math.json",
        "alarm-sns-metric-math-legacy.json",
        "alarm-sns-host-dimension.json",
        "alarm-lambda-action.json",
    ] {
        let g = guard(
            FakeJobs::with(job(JOB, "InProgress", 60, true)),
            Policy::default(),
        );
        let s = run(&g, sample(file)).await;
        assert_eq!(s.outcomes[0].decision, Decision::Stopped, "{file}");
        assert_eq!(s.outcomes[0].job.as_deref(), Some(JOB), "{file}");
    }
}

#[tokio::test]
async fn ok_state_is_counted_never_acted_on() {
    let g = guard(
        FakeJobs::with(job(JOB, "InProgress", 60, true)),
        Policy::default(),
    );
    let s = run(&g, sample("alarm-sns-ok.json")).await;
    assert_eq!(s.outcomes[0].decision, Decision::NotAlarm);
    assert!(g.jobs.calls().is_empty());
    assert!(g.notifier.sent().is_empty());
    assert_eq!(
        metric_count(&g, "StopDecisions", Some(("Decision", "not_alarm"))),
        1
    );
}

#[tokio::test]
async fn two_jobs_are_refused_and_notified() {
    let g = guard(
        FakeJobs::with(job(JOB, "InProgress", 60, true)),
        Policy::default(),
    );
    let s = run(&g, sample("alarm-sns-two-jobs.json")).await;
    assert_eq!(s.outcomes[0].decision, Decision::Ambiguous);
    assert!(s.outcomes[0].detail.contains("sagewatch-demo-train-2"));
    assert!(
        g.jobs.calls().is_empty(),
        "no AWS call for an ambiguous alarm"
    );
    assert_eq!(g.notifier.sent().len(), 1);
}

#[tokio::test]
async fn policy_outcomes() {
    let cases = [
        (
            job(JOB, "InProgress", 60, false),
            Policy::default(),
            Decision::NotOptedIn,
        ),
        (
            job(JOB, "InProgress", 2, true),
            Policy::default(),
            Decision::Grace,
        ),
        (
            job(JOB, "InProgress", 60, true),
            Policy {
                dry_run: true,
                ..Policy::default()
            },
            Decision::DryRun,
        ),
        (
            job(JOB, "Completed", 60, true),
            Policy::default(),
            Decision::AlreadyEnded,
        ),
        (
            job(JOB, "InProgress", 60, true),
            Policy {
                kill_switch: true,
                ..Policy::default()
            },
            Decision::Disabled,
        ),
        (
            job(JOB, "InProgress", 60, true),
            Policy {
                alarm_prefixes: vec!["nope-".into()],
                ..Policy::default()
            },
            Decision::NotAllowed,
        ),
    ];
    for (j, policy, want) in cases {
        let g = guard(FakeJobs::with(j), policy);
        let s = run(&g, sample("alarm-sns-single-metric.json")).await;
        assert_eq!(s.outcomes[0].decision, want);
        assert!(
            !g.jobs.calls().iter().any(|c| c.starts_with("stop")),
            "{want:?} must not stop"
        );
    }
}

#[tokio::test]
async fn unknown_job_and_no_job() {
    let g = guard(FakeJobs::default(), Policy::default());
    let s = run(&g, sample("alarm-sns-single-metric.json")).await;
    assert_eq!(s.outcomes[0].decision, Decision::JobNotFound);
    let mut no_job = sample("alarm-sns-single-metric.json");
    let msg = no_job["Records"][0]["Sns"]["Message"]
        .as_str()
        .unwrap()
        .replace("TrainingJobName", "EndpointName");
    no_job["Records"][0]["Sns"]["Message"] = json!(msg);
    let s = run(&g, no_job).await;
    assert_eq!(s.outcomes[0].decision, Decision::NoJob);
}

#[tokio::test]
async fn a_malformed_record_beside_a_good_one() {
    let g = guard(
        FakeJobs::with(job(JOB, "InProgress", 60, true)),
        Policy::default(),
    );
    let mut payload = sample("alarm-sns-single-metric.json");
    let good = payload["Records"][0].clone();
    let mut bad = good.clone();
    bad["Sns"]["Message"] = json!("{\"AlarmName\": 5, oops");
    payload["Records"] = json!([bad, good]);
    let s = run(&g, payload).await;
    assert_eq!(s.outcomes[0].decision, Decision::Invalid);
    assert_eq!(s.outcomes[1].decision, Decision::Stopped);
    assert_eq!(metric_count(&g, "InvalidEvents", None), 1);
    assert_eq!(
        metric_count(&g, "StopDecisions", Some(("Decision", "stopped"))),
        1
    );
    assert_eq!(
        metric_count(&g, "StopDecisions", Some(("Decision", "invalid"))),
        1
    );
}

#[tokio::test]
async fn garbage_payload_is_logged_not_retried() {
    let g = guard(FakeJobs::default(), Policy::default());
    let s = run(&g, json!({"what": "ever"})).await;
    assert_eq!(s.outcomes[0].decision, Decision::Invalid);
    assert!(g.jobs.calls().is_empty());
    // The health counter every function writes, and the decision metric.
    assert_eq!(
        metric_count(&g, "InvalidEvents", Some(("Function", "overfit-guard"))),
        1
    );
    assert_eq!(
        metric_count(&g, "StopDecisions", Some(("Decision", "invalid"))),
        1
    );
    assert!(g.notifier.sent().is_empty());
}

#[tokio::test]
async fn throttling_fails_the_invocation_for_a_retry() {
    let jobs = FakeJobs {
        fail_find_with: Some(ErrorKind::Throttled),
        ..FakeJobs::default()
    };
    let g = guard(jobs, Policy::default());
    let err = g
        .handle(LambdaEvent::new(
            sample("alarm-sns-single-metric.json"),
            Context::default(),
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("must be retried"), "{err}");
    assert_eq!(
        metric_count(&g, "StopDecisions", None),
        0,
        "nothing decided yet"
    );
}

#[tokio::test]
async fn another_account_without_a_role_is_refused() {
    let mut g = guard(
        FakeJobs::with(job(JOB, "InProgress", 60, true)),
        Policy::default(),
    );
    g.config.common.home_account = Some("999999999999".into());
    let s = run(&g, sample("alarm-sns-single-metric.json")).await;
    assert_eq!(s.outcomes[0].decision, Decision::NoCrossAccountRole);
    assert!(g.jobs.calls().is_empty());
}

#[tokio::test]
async fn repeated_delivery_stops_once() {
    let g = guard(
        FakeJobs::with(job(JOB, "InProgress", 60, true)),
        Policy::default(),
    );
    for _ in 0..10 {
        run(&g, sample("alarm-sns-single-metric.json")).await;
    }
    assert_eq!(
        g.jobs
            .calls()
            .iter()
            .filter(|c| c.starts_with("stop"))
            .count(),
        1
    );
}

#[test]
fn tag_values_keep_only_what_sagemaker_allows() {
    let v = overfit_guard::tag_value(
        "Threshold Crossed: 1 datapoint [0.61 (30/10/17 13:19:00)] was greater than (0.5).",
    );
    assert!(
        v.chars()
            .all(|c| c.is_alphanumeric() || " _.:/=+-@".contains(c)),
        "{v}"
    );
    assert!(overfit_guard::tag_value(&"x".repeat(500)).len() == 256);
}

#[tokio::test]
async fn forged_and_stale_alarms_stop_nothing() {
    // #11 item 8: anyone who may publish to the topic or invoke the function can name any
    // alarm, account and job. The alarm itself, as CloudWatch has it, decides.
    let payload = sample("alarm-sns-single-metric.json");
    let notified = alarms_from_payload(&payload).unwrap().remove(0).unwrap();
    let real = AlarmFacts {
        state: AlarmState::Alarm,
        state_updated: notified.state_change_time,
        metrics: notified.metrics.clone(),
    };
    let cases = [
        (None, Decision::Unconfirmed, true),
        (
            Some(AlarmFacts {
                state: AlarmState::Ok,
                ..real.clone()
            }),
            Decision::Stale,
            false,
        ),
        (Some(real.clone()), Decision::Stopped, true),
    ];
    for (facts, want, notifies) in cases {
        let jobs = FakeJobs::with(job(JOB, "InProgress", 60, true));
        if let Some(f) = facts {
            jobs.alarms
                .lock()
                .unwrap()
                .insert(notified.alarm_name.clone(), f);
        }
        let mut g = guard(jobs, Policy::default());
        g.config.policy.confirm_alarms = true;
        let s = run(&g, payload.clone()).await;
        assert_eq!(s.outcomes[0].decision, want, "{:?}", s.outcomes);
        let stops = g
            .jobs
            .calls()
            .iter()
            .filter(|c| c.starts_with("stop"))
            .count();
        assert_eq!(stops, usize::from(want == Decision::Stopped));
        assert_eq!(g.notifier.sent().len(), usize::from(notifies));
    }
}

#[tokio::test]
async fn only_a_refused_stop_means_not_opted_in() {
    // The template's IAM denies StopTrainingJob on jobs without the opt-in tag; a refused
    // Search is a misconfiguration to look into, not an answer about the job.
    let jobs = FakeJobs {
        fail_find_with: Some(ErrorKind::AccessDenied),
        ..FakeJobs::default()
    };
    let g = guard(jobs, Policy::default());
    let s = run(&g, sample("alarm-sns-single-metric.json")).await;
    assert_eq!(s.outcomes[0].decision, Decision::Failed);
    let g = guard(
        FakeJobs {
            deny_stop: true,
            ..FakeJobs::with(job(JOB, "InProgress", 60, true))
        },
        Policy::default(),
    );
    let s = run(&g, sample("alarm-sns-single-metric.json")).await;
    assert_eq!(s.outcomes[0].decision, Decision::NotOptedIn);
}

#[tokio::test]
async fn a_permanent_aws_error_is_reported_not_retried() {
    let jobs = FakeJobs {
        fail_find_with: Some(ErrorKind::Validation),
        ..FakeJobs::default()
    };
    let g = guard(jobs, Policy::default());
    let s = run(&g, sample("alarm-sns-single-metric.json")).await;
    assert_eq!(s.outcomes[0].decision, Decision::Failed);
    assert_eq!(g.notifier.sent().len(), 1);
    assert_eq!(
        metric_count(&g, "StopDecisions", Some(("Decision", "failed"))),
        1
    );
}

#[tokio::test]
async fn the_role_is_assumed_only_for_another_account() {
    let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
    struct RoleSpy(FakeJobs, std::sync::Arc<Mutex<Vec<Option<String>>>>);
    impl TrainingJobs for RoleSpy {
        async fn find(&self, t: &Target, n: &str) -> Result<Option<JobView>, AwsError> {
            self.1.lock().unwrap().push(t.role_arn.clone());
            self.0.find(t, n).await
        }
        async fn exists(&self, t: &Target, n: &str) -> Result<bool, AwsError> {
            self.0.exists(t, n).await
        }
        async fn stop(&self, t: &Target, n: &str) -> Result<StopOutcome, AwsError> {
            self.0.stop(t, n).await
        }
        async fn tag(
            &self,
            t: &Target,
            a: &str,
            tags: &[(String, String)],
        ) -> Result<(), AwsError> {
            self.0.tag(t, a, tags).await
        }
        async fn alarm(&self, t: &Target, n: &str) -> Result<Option<AlarmFacts>, AwsError> {
            self.0.alarm(t, n).await
        }
    }
    impl Guarding for RoleSpy {
        async fn describe_job(&self, t: &Target, n: &str) -> Result<Option<JobFacts>, AwsError> {
            self.0.describe_job(t, n).await
        }
        async fn list_alarms(&self, t: &Target, p: &str) -> Result<Vec<ListedAlarm>, AwsError> {
            self.0.list_alarms(t, p).await
        }
        async fn alarm_tags(
            &self,
            t: &Target,
            a: &str,
        ) -> Result<BTreeMap<String, String>, AwsError> {
            self.0.alarm_tags(t, a).await
        }
        async fn put_alarm(
            &self,
            t: &Target,
            a: &GuardAlarm,
            actions: &[String],
            tags: &[(String, String)],
        ) -> Result<(), AwsError> {
            self.0.put_alarm(t, a, actions, tags).await
        }
        async fn delete_alarms(&self, t: &Target, n: &[String]) -> Result<(), AwsError> {
            self.0.delete_alarms(t, n).await
        }
    }
    for (home, want) in [
        ("123456789012", None),
        (
            "999999999999",
            Some("arn:aws:iam::123456789012:role/guard".to_owned()),
        ),
    ] {
        let mut config = config(
            Policy {
                confirm_alarms: false,
                ..Policy::default()
            },
            home,
        );
        config.common.cross_account_role = Some("guard".into());
        let g = Guard {
            jobs: RoleSpy(
                FakeJobs::with(job(JOB, "Completed", 60, true)),
                seen.clone(),
            ),
            notifier: MemoryNotifier::default(),
            chat: None,
            sink: MemorySink::default(),
            config,
        };
        g.handle(LambdaEvent::new(
            sample("alarm-sns-single-metric.json"),
            Context::default(),
        ))
        .await
        .unwrap();
        assert_eq!(
            seen.lock().unwrap().pop().unwrap(),
            want,
            "home account {home}"
        );
    }
}

#[test]
fn role_arns_carry_the_region_partition() {
    use sagewatch::target::partition_of_region;
    assert_eq!(partition_of_region("cn-north-1"), "aws-cn");
    assert_eq!(partition_of_region("us-gov-west-1"), "aws-us-gov");
    assert_eq!(partition_of_region("eu-west-1"), "aws");
}

/// The metric-math sample with `AccountId` on its queries (`None`: left out).
fn cross_account_math(train: Option<&str>, validation: Option<&str>) -> Value {
    let mut payload = sample("alarm-sns-metric-math.json");
    let raw = payload["Records"][0]["Sns"]["Message"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut message: Value = serde_json::from_str(&raw).unwrap();
    let mut stats = 0;
    for q in message["Trigger"]["Metrics"].as_array_mut().unwrap() {
        if q.get("MetricStat").is_none() {
            continue;
        }
        let account = if stats == 0 { train } else { validation };
        stats += 1;
        if let Some(a) = account {
            q["AccountId"] = json!(a);
        }
    }
    assert_eq!(stats, 2, "the sample has two MetricStat queries");
    payload["Records"][0]["Sns"]["Message"] = json!(message.to_string());
    payload
}

#[tokio::test]
async fn a_cross_account_metric_math_alarm_stops_the_job_in_the_metrics_account() {
    // #11: CloudWatch cross-account observability. The alarm lives in the monitoring
    // account (123456789012), its queries read the job's metrics in 111122223333.
    const WORKLOAD: &str = "111122223333";
    let payload = cross_account_math(Some(WORKLOAD), Some(WORKLOAD));
    let notified = alarms_from_payload(&payload).unwrap().remove(0).unwrap();
    let jobs = FakeJobs::with(job(JOB, "InProgress", 60, true));
    jobs.alarms.lock().unwrap().insert(
        notified.alarm_name.clone(),
        AlarmFacts {
            state: AlarmState::Alarm,
            state_updated: notified.state_change_time,
            metrics: notified.metrics.clone(),
        },
    );
    let mut g = guard(jobs, Policy::default());
    g.config.policy.confirm_alarms = true;
    g.config.common.cross_account_role = Some("guard".into());
    let s = run(&g, payload).await;
    assert_eq!(
        s.outcomes[0].decision,
        Decision::Stopped,
        "{:?}",
        s.outcomes
    );
    let home = Some("123456789012".to_owned());
    let workload = Some(WORKLOAD.to_owned());
    assert_eq!(
        g.jobs.targets(),
        vec![
            ("alarm", home),
            ("find", workload.clone()),
            ("stop", workload.clone()),
            ("tag", workload.clone()),
            ("tag", workload),
        ]
    );

    // Without a role the other account cannot be reached: refused before any call.
    let mut g = guard(
        FakeJobs::with(job(JOB, "InProgress", 60, true)),
        Policy::default(),
    );
    g.config.common.cross_account_role = None;
    let s = run(&g, cross_account_math(Some(WORKLOAD), Some(WORKLOAD))).await;
    assert_eq!(s.outcomes[0].decision, Decision::NoCrossAccountRole);
    assert!(g.jobs.calls().is_empty());
}

#[tokio::test]
async fn metrics_naming_the_job_in_two_accounts_are_ambiguous() {
    for payload in [
        cross_account_math(Some("111122223333"), None),
        cross_account_math(Some("111122223333"), Some("444455556666")),
    ] {
        let mut g = guard(
            FakeJobs::with(job(JOB, "InProgress", 60, true)),
            Policy::default(),
        );
        g.config.common.cross_account_role = Some("guard".into());
        let s = run(&g, payload).await;
        assert_eq!(
            s.outcomes[0].decision,
            Decision::Ambiguous,
            "{:?}",
            s.outcomes
        );
        assert!(s.outcomes[0].detail.contains("111122223333"));
        assert!(g.jobs.calls().is_empty(), "no lookup, no stop");
        assert_eq!(g.notifier.sent().len(), 1);
    }
    // The alarm's own account named explicitly is the same account: not ambiguous.
    let g = guard(
        FakeJobs::with(job(JOB, "InProgress", 60, true)),
        Policy::default(),
    );
    let s = run(&g, cross_account_math(Some("123456789012"), None)).await;
    assert_eq!(
        s.outcomes[0].decision,
        Decision::Stopped,
        "{:?}",
        s.outcomes
    );
}

// ---- Guard alarms follow training jobs (#17) -----------------------------------------

const GUARDED: &str = "sagewatch-demo-guard-1";
const PREFIX: &str = "sagewatch-guard-";

fn facts(name: &str, instance_type: &str, hosts: u32, trained_minutes: i64) -> JobFacts {
    JobFacts {
        name: name.into(),
        arn: Some(format!(
            "arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}"
        )),
        status: Status::new("InProgress"),
        secondary_status: Some(Status::new("Training")),
        training_start_time: Some(Utc::now() - Duration::minutes(trained_minutes)),
        metric_names: vec!["train:loss".into(), "validation:loss".into()],
        instance_type: Some(instance_type.into()),
        instance_count: hosts,
        instance_groups: false,
    }
}

fn with_facts(f: JobFacts) -> FakeJobs {
    let jobs = FakeJobs::default();
    jobs.facts.lock().unwrap().insert(f.name.clone(), f);
    jobs
}

fn stored(g: &Fake) -> BTreeMap<String, Stored> {
    g.jobs.cw.lock().unwrap().clone()
}

fn guard_count(g: &Fake, action: &str) -> f64 {
    g.sink
        .json()
        .iter()
        .filter(|l| l["Action"] == action)
        .filter_map(|l| l["GuardAlarms"].as_f64())
        .sum()
}

#[tokio::test]
async fn an_opted_in_two_host_gpu_job_gets_exactly_its_alarms_once() {
    let g = guard(
        with_facts(facts(GUARDED, "ml.g5.12xlarge", 2, 60)),
        Policy::default(),
    );
    let s = run(
        &g,
        sample("training-job-state-change-guard-in-progress.json"),
    )
    .await;
    let sync = s.alarms.expect("a state change answers with its alarms");
    assert_eq!(sync.decision, "ensured", "{sync:?}");
    let want: Vec<String> = ["overfit", "stall", "low-gpu"]
        .iter()
        .map(|r| format!("{PREFIX}{GUARDED}-{r}"))
        .collect();
    assert_eq!(sync.created, want);
    let cw = stored(&g);
    assert_eq!(cw.keys().cloned().collect::<Vec<_>>(), {
        let mut w = want.clone();
        w.sort();
        w
    });
    for s in cw.values() {
        assert_eq!(s.actions, [ALARM_TOPIC]);
        assert_eq!(s.tags["sagewatch:managed-by"], "overfit-guard");
        assert_eq!(s.tags["sagewatch:training-job"], GUARDED);
        assert_eq!(
            s.tags["sagewatch:guard-rules"],
            "overfit=0.1 stall=30 low-gpu=10"
        );
    }
    let overfit = cw[&want[0]].alarm.clone().unwrap();
    assert_eq!(
        overfit.queries[2].expression.as_deref(),
        Some("(m_val - m_train) / m_train")
    );
    assert_eq!(
        (overfit.threshold, overfit.comparison),
        (0.1, "GreaterThanThreshold")
    );
    let gpu = cw[&want[2]].alarm.clone().unwrap();
    // ml.g5.12xlarge: 4 GPUs per host; GPUUtilization is summed over them.
    assert_eq!(
        gpu.queries[2].expression.as_deref(),
        Some("MAX([gpu1, gpu2]) / 4")
    );
    assert_eq!(guard_count(&g, "created"), 3.0);

    // A duplicate delivery: one DescribeTrainingJob, one DescribeAlarms, nothing put.
    let before = g.jobs.calls().len();
    let s = run(
        &g,
        sample("training-job-state-change-guard-in-progress.json"),
    )
    .await;
    let sync = s.alarms.unwrap();
    assert!(sync.created.is_empty());
    assert_eq!(sync.unchanged, 3);
    assert_eq!(
        g.jobs.calls()[before..],
        [
            format!("describe_job {GUARDED}"),
            format!("list_alarms {PREFIX}{GUARDED}-")
        ]
    );
    assert_eq!(guard_count(&g, "created"), 3.0);
}

#[tokio::test]
async fn a_job_that_did_not_opt_in_gets_none_and_a_cpu_job_no_low_gpu_alarm() {
    let g = guard(
        with_facts(facts(GUARDED, "ml.g5.12xlarge", 2, 60)),
        Policy::default(),
    );
    let mut event = sample("training-job-state-change-guard-in-progress.json");
    event["detail"]["Tags"] = json!({"project": "sagewatch"});
    let sync = run(&g, event).await.alarms.unwrap();
    assert_eq!(sync.decision, "not_opted_in");
    assert!(g.jobs.calls().is_empty(), "no AWS call");
    // Nor when such a job ends (most jobs: the rule routes every training job's end here).
    let mut ended = sample("training-job-state-change-guard-completed.json");
    ended["detail"]["Tags"] = json!({"project": "sagewatch"});
    let sync = run(&g, ended).await.alarms.unwrap();
    assert_eq!(sync.decision, "not_opted_in");
    assert!(g.jobs.calls().is_empty(), "no AWS call");

    let g = guard(
        with_facts(facts(GUARDED, "ml.m5.xlarge", 2, 60)),
        Policy::default(),
    );
    let sync = run(
        &g,
        sample("training-job-state-change-guard-in-progress.json"),
    )
    .await
    .alarms
    .unwrap();
    assert_eq!(sync.created.len(), 2, "{sync:?}");
    assert!(sync.created.iter().all(|n| !n.ends_with("-low-gpu")));
    assert_eq!(sync.skipped.len(), 1);
    assert!(
        sync.skipped[0].reason.contains("no GPU"),
        "{:?}",
        sync.skipped
    );

    // The auto-stop tag alone: the configured default rules.
    let g = guard(
        with_facts(facts(GUARDED, "ml.g5.12xlarge", 2, 60)),
        Policy::default(),
    );
    let mut event = sample("training-job-state-change-guard-in-progress.json");
    event["detail"]["Tags"] = json!({"sagewatch:auto-stop": "true"});
    let sync = run(&g, event).await.alarms.unwrap();
    assert_eq!(sync.created.len(), 3, "{sync:?}");
}

#[tokio::test]
async fn completed_removes_the_jobs_alarms_and_touches_no_other() {
    let g = guard(
        with_facts(facts(GUARDED, "ml.g5.12xlarge", 2, 60)),
        Policy::default(),
    );
    run(
        &g,
        sample("training-job-state-change-guard-in-progress.json"),
    )
    .await;
    let user = format!("{PREFIX}{GUARDED}-loss-not-decreasing");
    let other_job = format!("{PREFIX}{GUARDED}-2-overfit");
    {
        let mut cw = g.jobs.cw.lock().unwrap();
        // A user's alarm under the job's names (no tag of ours), and another job's alarm
        // that `<prefix><job>-` also lists.
        cw.insert(
            user.clone(),
            Stored {
                alarm: None,
                actions: vec![],
                tags: BTreeMap::new(),
            },
        );
        cw.insert(
            other_job.clone(),
            Stored {
                alarm: None,
                actions: vec![],
                tags: [
                    (
                        "sagewatch:managed-by".to_owned(),
                        "overfit-guard".to_owned(),
                    ),
                    ("sagewatch:training-job".to_owned(), format!("{GUARDED}-2")),
                ]
                .into(),
            },
        );
    }
    let sync = run(&g, sample("training-job-state-change-guard-completed.json"))
        .await
        .alarms
        .unwrap();
    assert_eq!(sync.decision, "deleted");
    assert_eq!(sync.deleted.len(), 3, "{sync:?}");
    assert_eq!(sync.kept, std::slice::from_ref(&user));
    assert_eq!(
        stored(&g).keys().cloned().collect::<Vec<_>>(),
        [other_job, user],
        "sorted by name"
    );
    assert_eq!(guard_count(&g, "deleted"), 3.0);
    // Again: nothing left to delete, no DeleteAlarms call.
    let sync = run(&g, sample("training-job-state-change-guard-completed.json"))
        .await
        .alarms
        .unwrap();
    assert!(sync.deleted.is_empty());
    assert_eq!(
        g.jobs
            .calls()
            .iter()
            .filter(|c| c.starts_with("delete_alarms"))
            .count(),
        1
    );
}

#[tokio::test]
async fn the_sweep_removes_alarms_of_ended_jobs_and_adds_warmed_up_ones() {
    let jobs = with_facts(facts(GUARDED, "ml.g5.12xlarge", 2, 5));
    let g = guard(jobs, Policy::default());
    // Five minutes in: stall and low-gpu wait for the warm-up.
    let sync = run(
        &g,
        sample("training-job-state-change-guard-in-progress.json"),
    )
    .await
    .alarms
    .unwrap();
    assert_eq!(sync.created, [format!("{PREFIX}{GUARDED}-overfit")]);
    assert_eq!(sync.skipped.len(), 2);
    // An ended job whose Completed event was lost.
    let lost = "sagewatch-demo-lost-1";
    let mut ended = facts(lost, "ml.m5.xlarge", 1, 120);
    ended.status = Status::new("Completed");
    g.jobs
        .facts
        .lock()
        .unwrap()
        .insert(lost.into(), ended.clone());
    let mut event = sample("training-job-state-change-guard-in-progress.json");
    let text = event.to_string().replace(GUARDED, lost);
    event = serde_json::from_str(&text).unwrap();
    g.jobs.facts.lock().unwrap().get_mut(lost).unwrap().status = Status::new("InProgress");
    run(&g, event).await;
    g.jobs.facts.lock().unwrap().insert(lost.into(), ended);
    // The guarded job trains past the warm-up.
    g.jobs
        .facts
        .lock()
        .unwrap()
        .get_mut(GUARDED)
        .unwrap()
        .training_start_time = Some(Utc::now() - Duration::hours(1));

    let s = run(&g, sample("training-job-guard-sweep.json")).await;
    let sweep = s.sweep.expect("the sweep answers with its run");
    assert_eq!(sweep.jobs_checked, 2);
    assert_eq!(
        sweep.deleted,
        [
            format!("{PREFIX}{lost}-overfit"),
            format!("{PREFIX}{lost}-stall")
        ]
    );
    assert_eq!(
        sweep.created,
        [
            format!("{PREFIX}{GUARDED}-stall"),
            format!("{PREFIX}{GUARDED}-low-gpu")
        ]
    );
    let names: Vec<String> = stored(&g).keys().cloned().collect();
    assert_eq!(names.len(), 3);
    assert!(names.iter().all(|n| n.contains(GUARDED)));
    // A second run changes nothing.
    let again = run(&g, sample("training-job-guard-sweep.json"))
        .await
        .sweep
        .unwrap();
    assert!(
        again.created.is_empty() && again.deleted.is_empty(),
        "{again:?}"
    );
}

#[tokio::test]
async fn a_stop_by_a_guard_alarm_names_its_rule() {
    let g = guard(
        FakeJobs::with(job(JOB, "InProgress", 60, true)),
        Policy::default(),
    );
    let name = format!("{PREFIX}{JOB}-overfit");
    let text = sample("alarm-sns-single-metric.json")
        .to_string()
        .replace(&format!("{JOB}-validation-loss"), &name);
    let s = run(&g, serde_json::from_str(&text).unwrap()).await;
    assert_eq!(s.outcomes[0].decision, Decision::Stopped);
    // Who, when, which alarm, why, and the rule.
    assert!(g.jobs.calls().contains(&format!(
        "tag arn:aws:sagemaker:us-east-1:123456789012:training-job/{JOB} 5"
    )));
    let note = &g.notifier.sent()[0];
    assert!(note.text.contains("Rule: overfit"), "{}", note.text);
    assert_eq!(note.report["rule"], "overfit");

    // An allow-list that does not name the guard's prefix still admits the guard's alarms.
    let g = guard(
        FakeJobs::with(job(JOB, "InProgress", 60, true)),
        Policy {
            alarm_prefixes: vec!["team-".into()],
            ..Policy::default()
        },
    );
    let s = run(&g, serde_json::from_str(&text).unwrap()).await;
    assert_eq!(s.outcomes[0].decision, Decision::Stopped);
    let s = run(&g, sample("alarm-sns-single-metric.json")).await;
    assert_eq!(s.outcomes[0].decision, Decision::NotAllowed);
}

#[tokio::test]
async fn a_bad_state_change_is_counted_and_touches_nothing() {
    let g = guard(FakeJobs::default(), Policy::default());
    let mut event = sample("training-job-state-change-guard-in-progress.json");
    event["detail"]["TrainingJobName"] = json!("not/a job");
    let sync = run(&g, event).await.alarms.unwrap();
    assert_eq!(sync.decision, "invalid");
    assert!(g.jobs.calls().is_empty());
    assert_eq!(metric_count(&g, "InvalidEvents", None), 1);
}
