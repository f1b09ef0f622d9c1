//! The handler on hostile input (arbitrary JSON, mutated samples, byte-mutated samples): it
//! never panics, and a payload it cannot read touches nothing (no SageMaker call, no notice).
//! `PROPTEST_CASES` sets the count (default 256); `make fuzz` runs many more.

use chrono::{Duration, Utc};
use lambda_runtime::{Context, LambdaEvent};
use overfit_guard::confirm::AlarmFacts;
use overfit_guard::guard::GuardConfig;
use overfit_guard::guard_alarms::{GuardAlarm, JobFacts};
use overfit_guard::policy::{Decision, JobView, Policy};
use overfit_guard::ports::{Guarding, ListedAlarm, StopOutcome, Target, TrainingJobs};
use overfit_guard::{Config, Guard};
use proptest::prelude::*;
use sagewatch::config::Common;
use sagewatch::error::AwsError;
use sagewatch::notify::MemoryNotifier;
use sagewatch::output::MemorySink;
use sagewatch::status::Status;
use sagewatch::testing::fuzz::block_on;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Every job exists, opted in, training for an hour: the most an input can make it do.
#[derive(Default)]
struct AnyJob(Mutex<Vec<String>>);

impl TrainingJobs for AnyJob {
    async fn find(&self, _: &Target, name: &str) -> Result<Option<JobView>, AwsError> {
        self.0.lock().unwrap().push(format!("find {name}"));
        Ok(Some(JobView {
            name: name.into(),
            arn: Some(format!(
                "arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}"
            )),
            status: Status::new("InProgress"),
            secondary_status: None,
            training_start_time: Some(Utc::now() - Duration::hours(1)),
            creation_time: None,
            tags: [("sagewatch:auto-stop".to_owned(), "true".to_owned())].into(),
        }))
    }
    async fn exists(&self, _: &Target, _: &str) -> Result<bool, AwsError> {
        Ok(true)
    }
    async fn stop(&self, _: &Target, name: &str) -> Result<StopOutcome, AwsError> {
        self.0.lock().unwrap().push(format!("stop {name}"));
        Ok(StopOutcome::Stopping)
    }
    async fn tag(&self, _: &Target, _: &str, _: &[(String, String)]) -> Result<(), AwsError> {
        Ok(())
    }
    async fn alarm(&self, _: &Target, name: &str) -> Result<Option<AlarmFacts>, AwsError> {
        self.0.lock().unwrap().push(format!("alarm {name}"));
        Ok(None)
    }
}

impl Guarding for AnyJob {
    async fn describe_job(&self, _: &Target, name: &str) -> Result<Option<JobFacts>, AwsError> {
        self.0.lock().unwrap().push(format!("describe_job {name}"));
        Ok(None)
    }
    async fn list_alarms(&self, _: &Target, prefix: &str) -> Result<Vec<ListedAlarm>, AwsError> {
        self.0.lock().unwrap().push(format!("list_alarms {prefix}"));
        Ok(Vec::new())
    }
    async fn alarm_tags(&self, _: &Target, _: &str) -> Result<BTreeMap<String, String>, AwsError> {
        Ok(BTreeMap::new())
    }
    async fn put_alarm(
        &self,
        _: &Target,
        alarm: &GuardAlarm,
        _: &[String],
        _: &[(String, String)],
    ) -> Result<(), AwsError> {
        self.0
            .lock()
            .unwrap()
            .push(format!("put_alarm {}", alarm.name));
        Ok(())
    }
    async fn delete_alarms(&self, _: &Target, names: &[String]) -> Result<(), AwsError> {
        self.0
            .lock()
            .unwrap()
            .push(format!("delete_alarms {}", names.len()));
        Ok(())
    }
}

fn check(payload: Value) -> Result<(), TestCaseError> {
    let mut common = Common::new(overfit_guard::FUNCTION);
    common.home_account = Some("123456789012".into());
    let g = Guard {
        jobs: AnyJob::default(),
        notifier: MemoryNotifier::default(),
        chat: None,
        sink: MemorySink::default(),
        config: Config {
            common,
            // Unconfirmed alarms would stop every case before the stop path: fuzz it too.
            policy: Policy {
                confirm_alarms: false,
                ..Policy::default()
            },
            alerts_topic_arn: String::new(),
            chat_topic_arn: None,
            stopped_by: "fuzz".into(),
            guard: GuardConfig {
                alarm_topic_arn: Some("arn:aws:sns:us-east-1:123456789012:alarms".into()),
                ..GuardConfig::default()
            },
        },
    };
    let out = block_on(g.handle(LambdaEvent::new(payload, Context::default())));
    if let Ok(summary) = out {
        let invalid_alarms = summary.alarms.is_none()
            && summary.sweep.is_none()
            && summary
                .outcomes
                .iter()
                .all(|o| o.decision == Decision::Invalid);
        let invalid_state = summary
            .alarms
            .as_ref()
            .is_some_and(|a| a.decision == "invalid");
        if invalid_alarms || invalid_state {
            prop_assert!(g.jobs.0.lock().unwrap().is_empty());
            prop_assert!(g.notifier.sent().is_empty());
        }
    }
    Ok(())
}

sagewatch::fuzz_handler!(check);
